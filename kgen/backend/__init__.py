"""Backend-specific training code: the only place that imports tensorflow, jax or torch.

Each module (``tensorflow.py``, ``jax.py``, ``torch.py``) implements the same small
interface, used by `kgen.models.GenerativeModel`:

- ``train_step(model, ...)`` / ``test_step(model, ...)``: the ``keras.Model`` hooks, with the
  backend's own signature (JAX's are pure functions of the model state). They run
  ``model.run_updates(data)`` / ``model.run_evaluation(data)``, which are written once,
  backend-free.
- ``value_and_grad(fn, variables)``: returns a function that calls ``fn(*args, **kwargs)``
  (which returns ``(loss, aux)``) and returns ``((loss, aux), gradients)``, the gradients of
  ``loss`` with respect to ``variables``, in order. State changed inside ``fn`` (BatchNorm
  statistics, random seed states) is kept.
- ``apply_gradients(optimizer, gradients, variables)``.
"""

import importlib

import keras

_SUPPORTED = ("tensorflow", "jax", "torch")


def _module():
    name = keras.backend.backend()
    if name not in _SUPPORTED:
        raise RuntimeError(
            f"kgen trains on the TensorFlow, JAX or PyTorch backend; the active Keras backend "
            f"is {name!r}. Set the environment variable KERAS_BACKEND to one of {_SUPPORTED} "
            "before importing keras."
        )
    return importlib.import_module(f"kgen.backend.{name}")


def train_step(model, *args):
    """Runs one training step of ``model`` (see module docstring)."""
    return _module().train_step(model, *args)


def test_step(model, *args):
    """Runs one evaluation step of ``model`` (see module docstring)."""
    return _module().test_step(model, *args)


def value_and_grad(fn, variables):
    """Returns ``g(*args, **kwargs) -> ((loss, aux), grads)`` for ``fn`` returning ``(loss, aux)``.

    Args:
        fn: a function of tensors returning a scalar loss and any auxiliary structure.
        variables: the `keras.Variable`s to differentiate with respect to.

    Example:

    ```python
    import keras
    from kgen import backend

    w = keras.Variable(3.0)
    (loss, _), (grad,) = backend.value_and_grad(lambda: (w * w, None), [w])()
    # loss == 9.0, grad == 6.0
    ```
    """
    return _module().value_and_grad(fn, list(variables))


def apply_gradients(optimizer, gradients, variables):
    """Applies ``gradients`` to ``variables`` with ``optimizer``."""
    return _module().apply_gradients(optimizer, gradients, list(variables))
