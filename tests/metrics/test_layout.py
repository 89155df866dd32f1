"""kgen.metrics depends on keras, numpy and kgen's backend-free modules only."""

import ast
import os

import kgen.metrics

FORBIDDEN = ("kgen.models", "kgen.backend", "tensorflow", "jax", "torch")


def _imports(path):
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            if node.module == "kgen":
                yield from (f"kgen.{alias.name}" for alias in node.names)


def test_metrics_import_no_model_and_no_backend():
    root = os.path.dirname(kgen.metrics.__file__)
    files = [os.path.join(folder, name) for folder, _, names in os.walk(root)
             for name in names if name.endswith(".py")]
    assert len(files) >= 12  # every module of the package, the extractors included
    bad = {os.path.relpath(path, root): module for path in files for module in _imports(path)
           if any(module == f or module.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, bad
