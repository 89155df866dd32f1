"""Every example in kgen's docstrings runs.

Each ```python block of a docstring of a kgen module, class, function or method is run in
a fresh namespace, in a temporary working folder: the examples are self-contained (their
imports included) and small, so that the documentation shows code that works.

The README's test command runs the suite once per backend; each example runs in one of
those runs: the examples of ``kgen.backend.<name>`` on their own backend, every other
example on the backend its name is assigned to (`backend_of`: a fixed hash of its name,
so that an example keeps its backend when others are added). PyTorch runs an example
eagerly, with nothing to trace or compile first, at a third of the others' cost: it runs
seven twelfths of them (`SHARES`), JAX a third and TensorFlow, whose run is the longest,
a twelfth. ``KGEN_ALL_EXAMPLES=1`` runs every example on the current backend.
"""

import importlib
import inspect
import os
import pathlib
import pkgutil
import re
import zlib

import keras
import pytest

import kgen
from harness import BACKENDS

BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _modules():
    names = ["kgen"]
    for info in pkgutil.walk_packages(kgen.__path__, prefix="kgen."):
        if ".backend." in info.name and not info.name.endswith(keras.backend.backend()):
            continue   # the other backends' training code imports their frameworks
        names.append(info.name)
    return [importlib.import_module(name) for name in sorted(names)]


def _documented(module):
    """``(qualified name, docstring)`` of the module and of what it defines."""
    yield module.__name__, module.__doc__ or ""
    for name, value in vars(module).items():
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(value):
            yield f"{module.__name__}.{name}", value.__doc__ or ""
            for attribute, member in vars(value).items():
                function = getattr(member, "__func__", member)
                if (inspect.isfunction(function) or isinstance(member, property)) \
                        and function.__doc__:
                    yield f"{module.__name__}.{name}.{attribute}", function.__doc__
        elif inspect.isfunction(value):
            yield f"{module.__name__}.{name}", value.__doc__ or ""


#: Each backend's share of the examples that are not of a backend's own training code,
#: in twelfths.
SHARES = {"tensorflow": 1, "jax": 4, "torch": 7}
_SLOTS = [backend for backend, share in SHARES.items() for _ in range(share)]


def backend_of(example_id):
    """The backend whose test run runs the example ``example_id`` (``"module.name[i]"``)."""
    module = example_id.split("[")[0]
    for backend in BACKENDS:
        if f".backend.{backend}" in module:
            return backend
    return _SLOTS[zlib.crc32(example_id.encode()) % len(_SLOTS)]


def _examples():
    found, seen = [], set()
    for module in _modules():
        for name, doc in _documented(module):
            for index, code in enumerate(BLOCK.findall(inspect.cleandoc(doc))):
                key = (name, code)
                if key not in seen:
                    seen.add(key)
                    found.append(pytest.param(code, id=f"{name}[{index}]"))
    return found


ALL_EXAMPLES = _examples()
EXAMPLES = [example for example in ALL_EXAMPLES
            if os.environ.get("KGEN_ALL_EXAMPLES") == "1"
            or backend_of(example.id) == keras.backend.backend()]


def test_examples_are_found():
    assert len(ALL_EXAMPLES) > 100


def test_every_backend_runs_a_share_of_the_examples():
    shares = {backend: sum(backend_of(e.id) == backend for e in ALL_EXAMPLES)
              for backend in BACKENDS}
    assert sum(shares.values()) == len(ALL_EXAMPLES)
    total = sum(SHARES.values())
    for backend, share in SHARES.items():   # within a tenth of the example count
        assert abs(shares[backend] / len(ALL_EXAMPLES) - share / total) < 0.1, shares


@pytest.mark.parametrize("code", EXAMPLES)
def test_docstring_example_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docstring_example__"}
    exec(compile(code, "<docstring example>", "exec"), namespace)   # noqa: S102


def test_the_finder_reads_methods_and_properties():
    names = {name for module in [importlib.import_module("kgen.models.registry")]
             for name, _ in _documented(module)}
    assert "kgen.models.registry" in names and "kgen.models.registry.Option" in names
    assert os.path.basename(pathlib.Path(kgen.__file__).parent) == "kgen"
