"""Model code is backend-free: only kgen/backend/ imports tensorflow, jax or torch."""

import ast
import pathlib

import kgen

BACKEND_MODULES = {"tensorflow", "jax", "jaxlib", "torch"}
# The tf.data input pipeline is the one place outside kgen/backend/ allowed to use TensorFlow.
ALLOWED = {"data/pipeline.py", "export.py"}


def _imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno


def test_no_backend_imports_outside_kgen_backend():
    root = pathlib.Path(kgen.__file__).parent
    offenders = []
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        relative = path.relative_to(root).as_posix()
        if relative.startswith("backend/") or relative in ALLOWED:
            continue
        for module, line in _imported_modules(path):
            if module in BACKEND_MODULES:
                offenders.append(f"kgen/{relative}:{line} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_the_checker_catches_an_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    from torch import nn\n    import jax.numpy as jnp\n")
    assert {m for m, _ in _imported_modules(sample)} == {"os", "torch", "jax"}
