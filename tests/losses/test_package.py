"""The losses package: its public names, and no backend or model import in its modules."""

import ast
import pathlib

import kgen
from kgen import losses

PACKAGE = pathlib.Path(kgen.__file__).parent
FORBIDDEN = ("kgen.backend", "kgen.models", "tensorflow", "jax", "torch")


def _imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def test_loss_modules_import_neither_a_backend_nor_the_models():
    files = sorted((PACKAGE / "losses").glob("*.py")) + [PACKAGE / "metrics" / "accuracy.py"]
    assert {f.name for f in files} >= {"__init__.py", "adversarial.py", "penalties.py",
                                       "likelihood.py", "perceptual.py", "accuracy.py"}
    for path in files:
        for module in _imported_modules(path):
            for name in FORBIDDEN:
                assert module != name and not module.startswith(name + "."), (
                    f"{path.name} imports {module}")


def test_every_public_name_is_exported():
    names = {
        "AdversarialLoss", "NonSaturatingLoss", "MinimaxLoss", "HingeLoss",
        "WassersteinLoss", "LeastSquaresLoss", "ADVERSARIAL_LOSSES", "get_adversarial_loss",
        "wgan_gradient_penalty", "r1_penalty", "interpolate", "squared_norms",
        "GRADIENT_PENALTIES", "gaussian_kl", "bernoulli_nll", "gaussian_nll",
        "sum_per_example", "binary_accuracy", "gram_matrix", "style_loss", "feature_loss",
        "perceptual_loss", "total_variation_loss",
    }
    missing = {name for name in names if not hasattr(losses, name)}
    assert not missing
    assert losses.gram_matrix is losses.perceptual.gram_matrix
    assert losses.HingeLoss is losses.adversarial.HingeLoss
    assert losses.r1_penalty is losses.penalties.r1_penalty
    assert losses.gaussian_kl is losses.likelihood.gaussian_kl
