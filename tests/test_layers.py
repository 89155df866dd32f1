"""The package's layers hold: backend code only in kgen/backend/, and each layer imports only
the layers below it (networks and losses know no model, models know no SavedModel writer,
metrics know no model and no backend)."""

import ast
import pathlib

import kgen

ROOT = pathlib.Path(kgen.__file__).parent
BACKEND_MODULES = {"tensorflow", "jax", "jaxlib", "torch"}
# The tf.data input pipelines and the SavedModel writer are the places outside kgen/backend/
# allowed to use TensorFlow.
ALLOWED_BACKEND = ("data/", "export.py")
#: kgen modules that each layer (a folder or file of kgen/) must not import.
FORBIDDEN = {
    "networks/": ("kgen.backend", "kgen.models", "kgen.metrics", "kgen.export", "kgen.cli"),
    "losses/": ("kgen.backend", "kgen.models", "kgen.networks", "kgen.export", "kgen.cli"),
    "metrics/": ("kgen.backend", "kgen.models", "kgen.export", "kgen.cli"),
    "samplers/": ("kgen.backend", "kgen.models", "kgen.export", "kgen.cli"),
    "models/": ("kgen.export", "kgen.cli", "kgen.callbacks"),
    "data/": ("kgen.models", "kgen.backend", "kgen.cli"),
    "checks.py": ("kgen.",),
    "replica.py": ("kgen.",),
    "fast_ops.py": ("kgen.",),
    "pretrained.py": ("kgen.models", "kgen.backend", "kgen.metrics"),
}
#: The exceptions, each with its reason: (file, imported module).
EXCEPTIONS = {
    # GenerativeModel.export_generator is the model's shortcut to the writer; it imports
    # it when called, so importing a model never imports the writer.
    ("models/base.py", "kgen.export"),
}


def _imports(path):
    """``(module, line)`` of every import in ``path``, absolute (relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(("kgen",) + path.relative_to(ROOT).parent.parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield module, node.lineno
            if module == "kgen":   # from kgen import backend
                for alias in node.names:
                    yield f"kgen.{alias.name}", node.lineno


def _files():
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 30
    return [(path, path.relative_to(ROOT).as_posix()) for path in files]


def test_no_backend_imports_outside_kgen_backend():
    offenders = []
    for path, relative in _files():
        if relative.startswith("backend/") or relative.startswith(ALLOWED_BACKEND):
            continue
        for module, line in _imports(path):
            if module.split(".")[0] in BACKEND_MODULES:
                offenders.append(f"kgen/{relative}:{line} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_each_layer_imports_only_the_layers_below_it():
    offenders = []
    for path, relative in _files():
        for layer, forbidden in FORBIDDEN.items():
            if not (relative == layer or relative.startswith(layer)):
                continue
            for module, line in _imports(path):
                for name in forbidden:
                    hit = module.startswith(name) if name.endswith(".") else (
                        module == name or module.startswith(name + "."))
                    if hit and (relative, name) not in EXCEPTIONS:
                        offenders.append(f"kgen/{relative}:{line} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_the_checker_catches_an_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    from torch import nn\n    import jax.numpy as jnp\n"
                      "    from kgen import backend\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = {m for m, _ in _imports(sample)}
    finally:
        ROOT = saved
    assert {"os", "torch", "jax.numpy", "kgen", "kgen.backend"} <= found
