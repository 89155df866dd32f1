"""Mixed precision: the precision a model's networks compute in, and what stays in float32.

The rule, for every family:

- A model's networks compute in the Keras dtype policy their layers were created with.
  Set it before building them, ``keras.config.set_dtype_policy("mixed_bfloat16")`` and
  then ``from_shape(...)`` (or your own networks), and every family trains in it; the
  precision is read from the layers (`of_model`, ``model.precision``).
- ``compile(precision=...)`` (or ``dtype=`` given to the model's constructor or
  ``from_shape``, the ``dtype`` argument of `keras.Model`) asks for one of `POLICIES`.
  Networks built in float32 are switched to it, layer by layer (`apply`); networks
  built in another mixed policy are refused with a message that says how to build them.
- Variables stay in float32 under both mixed policies (so switching a built network
  changes no weight), and so do the losses, the logs and the numerically sensitive
  parts of a step: network outputs are cast to float32 (`float32`) before any loss,
  likelihood, KL term, gradient penalty or codebook distance is computed from them, and
  noise schedules are float32 tables.
- ``mixed_float16`` gets a loss scale per optimizer (each member of the model's
  `kgen.models.optimizer_group.OptimizerGroup` wrapped in a
  `keras.optimizers.LossScaleOptimizer`): the step differentiates the scaled loss, and
  an update whose gradients overflow is skipped and its scale halved. ``mixed_bfloat16``
  has float32's range and needs no scaling.

Example:

```python
import kgen
from kgen import precision

gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=4, base_filters=4)
precision.of_model(gan)                         # 'float32'
precision.check("mixed_bfloat16")               # 'mixed_bfloat16'
```
"""

import contextlib

import keras
from keras import ops

#: The precisions a model trains in: the names of Keras dtype policies.
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
#: The reduced compute dtype of each mixed policy.
COMPUTE_DTYPES = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
_REDUCED = {"bfloat16", "float16"}


def check(precision, name="precision"):
    """``precision`` as the name of one of `POLICIES` (None passes as None).

    Args:
        precision: a policy name or a `keras.DTypePolicy`.
        name: the argument's name, for the message.

    Raises:
        TypeError: not a string or a dtype policy.
        ValueError: another name (``"bfloat16"`` or ``"float16"``, whose variables would
            be in reduced precision, included).

    Example:

    ```python
    from kgen import precision
    precision.check(None), precision.check("mixed_float16")   # (None, 'mixed_float16')
    ```
    """
    if precision is None:
        return None
    if isinstance(precision, keras.DTypePolicy):
        precision = precision.name
    if not isinstance(precision, str):
        raise TypeError(f"{name} must be one of {list(POLICIES)} (a Keras dtype policy "
                        f"name); got {precision!r}.")
    if precision not in POLICIES:
        hint = ""
        if precision in _REDUCED:
            hint = (f" {precision!r} would keep the variables in {precision} too; kgen "
                    f"trains with float32 variables: use 'mixed_{precision}'.")
        raise ValueError(f"{name} must be one of {list(POLICIES)}; got {precision!r}."
                         + hint)
    return precision


def float32(x):
    """``x`` in float32 when it is a float tensor of another precision; else ``x`` itself.

    Network outputs go through this before a loss, a likelihood or a distance is
    computed from them, so that mixed-precision networks give float32 objectives.

    Example:

    ```python
    import numpy as np
    from kgen import precision
    precision.float32(np.ones(2, "float16")).dtype   # float32
    ```
    """
    if x is None:
        return x
    dtype = getattr(x, "dtype", None)
    if dtype is not None and keras.backend.standardize_dtype(dtype) in _REDUCED:
        return ops.cast(x, "float32")
    return x


def _layers(model):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)]


def of_layers(layers, owner="The model"):
    """The precision the ``layers`` compute in: one of `POLICIES`.

    ``"mixed_float16"`` when a layer computes in float16, ``"mixed_bfloat16"`` when one
    computes in bfloat16, else ``"float32"`` (layers of other policies, float64 say,
    count as float32).

    Raises:
        ValueError: a layer keeps its variables in float16 or bfloat16 (the ``"float16"``
            and ``"bfloat16"`` policies), or the layers mix float16 and bfloat16.
    """
    found = {}
    for layer in layers:
        policy = layer.dtype_policy
        variable = keras.backend.standardize_dtype(policy.variable_dtype)
        compute = keras.backend.standardize_dtype(policy.compute_dtype)
        if variable in _REDUCED:
            raise ValueError(
                f"{owner}'s layer {layer.name!r} has the dtype policy {policy.name!r}, which "
                f"keeps its variables in {variable}; kgen trains with float32 variables. "
                f"Build it under 'mixed_{variable}' (keras.config.set_dtype_policy"
                f"('mixed_{variable}') before building, or dtype='mixed_{variable}').")
        if compute in _REDUCED:
            found.setdefault(compute, layer.name)
    if len(found) > 1:
        raise ValueError(
            f"{owner} mixes float16 layers ({found['float16']!r}) and bfloat16 layers "
            f"({found['bfloat16']!r}): build every network under one policy.")
    if not found:
        return "float32"
    return "mixed_" + next(iter(found))


def of_model(model):
    """The precision of ``model``'s layers (`of_layers`): what its networks compute in."""
    return of_layers(_layers(model), type(model).__name__)


def apply(model, precision):
    """Makes ``model``'s networks compute in ``precision``; returns the precision.

    Networks built in float32 are switched to a mixed ``precision``: every layer of the
    ``"float32"`` policy gets that dtype policy (its variables stay float32, so no weight
    changes). Networks
    already in ``precision`` are left as they are, float32 layers among them included
    (a layer kept in float32 on purpose).

    Raises:
        ValueError: ``precision`` is not one of `POLICIES`, or the networks were built in
            another mixed policy (the message says how to build them).
    """
    precision = check(precision)
    current = of_model(model)
    if precision is None or precision == current:
        return current
    name = type(model).__name__
    if current != "float32":
        raise ValueError(
            f"{name}'s networks compute in {current!r} (the Keras dtype policy they were "
            f"built with, or an earlier compile() gave them), not {precision!r}. Build them "
            f"under {precision!r}: call "
            f"keras.config.set_dtype_policy({precision!r}) before from_shape() (or before "
            f"building your networks), or compile(precision={current!r}).")
    for layer in [model] + _layers(model):
        if layer.dtype_policy.name == "float32":
            layer.dtype_policy = precision
    return precision


@contextlib.contextmanager
def policy_scope(policy):
    """Sets the Keras global dtype policy to ``policy`` for the ``with`` block, then back.

    Feature extractors of the metrics are built in ``"float32"`` this way, so that a
    metric's value does not depend on the policy a model was trained in.

    Example:

    ```python
    import keras
    from kgen import precision

    with precision.policy_scope("mixed_bfloat16"):
        layer = keras.layers.Dense(2)
    layer.dtype_policy.name   # 'mixed_bfloat16'
    ```
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def loss_scaled(optimizer):
    """``optimizer`` wrapped in a `keras.optimizers.LossScaleOptimizer` (unless it is one)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer, name=f"{optimizer.name}_loss_scale")


def inner(optimizer):
    """The optimizer a `keras.optimizers.LossScaleOptimizer` wraps (else ``optimizer``)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


__all__ = ["POLICIES", "COMPUTE_DTYPES", "apply", "check", "float32", "inner",
           "loss_scaled", "of_layers", "of_model", "policy_scope"]
