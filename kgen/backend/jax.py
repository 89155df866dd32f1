"""JAX implementation of the kgen training step.

Keras's JAX trainer calls ``train_step(state, data)`` as a pure function of the model
state ``(trainable, non_trainable, optimizer, metrics)``. Here the whole step runs inside
one `keras.StatelessScope` that maps *every* model variable (all optimizer slots of every
optimizer in the model's `OptimizerGroup`, BatchNorm statistics, ``SeedGenerator``
states, metric variables) to its value in ``state``; the family's step body is then
ordinary stateful Keras code, and the new state is read back from the scope at the end.

``value_and_grad`` differentiates a function of the variables with ``jax.value_and_grad``:
the function runs in an inner scope where the differentiated variables map to the traced
arguments and every other variable to its current value in the outer scope (nested
scopes do not inherit mappings); state the function changes (BatchNorm statistics, seeds)
is written back to the outer scope, so the next update sees it.

``input_gradient`` differentiates a function with respect to its *input* with
``jax.grad``, nested inside the ``jax.value_and_grad`` of the loss that calls it: the
function runs in its own scope where every variable the enclosing scope maps (the
step's variables, with the differentiated ones as traced values) is mapped to its
current value, so the Keras layers it calls see the traced weights and the input
gradient stays a function of them (second-order gradients flow). The state the function
changes comes out as an auxiliary output of ``jax.grad`` (never as a leaked tracer) and
is written back to the enclosing scope.
"""

import contextlib

import jax
import jax.numpy as jnp
import keras

from kgen.backend.jax_conv_transpose import conv_transpose  # noqa: F401

# The variables mapped by the innermost kgen scope: the step's, or those of a
# value_and_grad inside it (a stack, since value_and_grad and input_gradient nest).
_STEP_VARIABLES = []


def _run_stateless(references, values, body):
    mapping = list(zip(references, values))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        _STEP_VARIABLES.append(references)
        try:
            logs = body()
        finally:
            _STEP_VARIABLES.pop()
    new_values = [scope.get_current_value(v) for v in references]
    return logs, new_values


def _split(values, groups):
    out, start = [], 0
    for group in groups:
        out.append(values[start : start + len(group)])
        start += len(group)
    return tuple(out)


def train_step(model, state, data):
    groups = (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )
    references = [v for group in groups for v in group]
    values = [v for part in state for v in part]
    logs, new_values = _run_stateless(
        references, values, lambda: model.run_updates(data)
    )
    return logs, _split(new_values, groups)


def test_step(model, state, data):
    groups = (
        model.trainable_variables,
        model.non_trainable_variables,
        model.metrics_variables,
    )
    references = [v for group in groups for v in group]
    values = [v for part in state for v in part]
    logs, new_values = _run_stateless(
        references, values, lambda: model.run_evaluation(data)
    )
    return logs, _split(new_values, groups)


def value_and_grad(fn, variables):
    def wrapped(*args, **kwargs):
        differentiated = {id(v) for v in variables}
        known = _STEP_VARIABLES[-1] if _STEP_VARIABLES else []
        others = [v for v in known if id(v) not in differentiated]
        other_values = [v.value for v in others]

        def pure(values):
            mapping = list(zip(variables, values)) + list(zip(others, other_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                _STEP_VARIABLES.append(list(variables) + others)
                try:
                    loss, aux = fn(*args, **kwargs)
                finally:
                    _STEP_VARIABLES.pop()
            changed = [scope.get_current_value(v) for v in others]
            return loss, (aux, changed)

        (loss, (aux, changed)), grads = jax.value_and_grad(pure, has_aux=True)(
            [v.value for v in variables]
        )
        for variable, old, new in zip(others, other_values, changed):
            if new is not None and new is not old:
                variable.assign(new)
        return (loss, aux), grads

    return wrapped


def apply_gradients(optimizer, gradients, variables):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        # Its apply() chooses between the update and a skipped step with ops.cond over
        # assignments, which cannot run inside the step's StatelessScope on JAX; its
        # stateless_apply() (what Keras's own JAX trainer calls) returns the new values.
        new_variables, new_slots = optimizer.stateless_apply(
            [v.value for v in optimizer.variables], gradients, [v.value for v in variables])
        for variable, value in zip(list(variables) + list(optimizer.variables),
                                   list(new_variables) + list(new_slots)):
            variable.assign(value)
        return
    optimizer.apply(gradients, variables)


def run_if(condition, fn, variables):
    if not _STEP_VARIABLES:  # outside a training step: concrete values
        if bool(condition):
            fn()
        return
    before = [variable.value for variable in variables]
    fn()
    for variable, old in zip(variables, before):
        new = variable.value
        if new is not old:  # an assignment maps the variable to a new traced value
            variable.assign(jnp.where(condition, new, old))


def input_gradient(fn, x):
    known = list(_STEP_VARIABLES[-1]) if _STEP_VARIABLES else []
    current = [v.value for v in known]  # as mapped now: traced inside value_and_grad

    def pure(inputs):
        with keras.StatelessScope(state_mapping=list(zip(known, current))) as scope:
            _STEP_VARIABLES.append(known)
            try:
                total = jnp.sum(fn(inputs))
            finally:
                _STEP_VARIABLES.pop()
        changed = {}
        for index, (variable, old) in enumerate(zip(known, current)):
            new = scope.get_current_value(variable)
            if new is not None and new is not old:
                changed[index] = new
        return total, changed

    grad, changed = jax.grad(pure, has_aux=True)(x)
    for index, new in changed.items():
        known[index].assign(new)
    return grad


def compile_function(fn, variables):
    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn(*args)

    jitted = jax.jit(pure)

    def call(*args):
        return jitted([v.value for v in variables], *args)

    return call


class _ShardKernels(keras.distribution.ModelParallel):
    """Model parallel without a hand-written layout: every kernel (a variable named
    ``kernel`` of rank 2 or more: dense and convolution weights, and their optimizer
    slots) whose second-to-last axis divides evenly is split along that axis over the
    mesh's ``"model"`` axis; the rest is replicated.

    That axis is the input features of a dense kernel ``(in, out)`` and of a convolution
    kernel ``(h, w, in, out)``, and the filters of a transposed convolution's
    ``(h, w, filters, in)``: each device multiplies its slice of the inputs and an
    all-reduce sums the partial products (the row-parallel layout of Shoeybi et al.
    2019). Splitting the last axis instead gave wrong values on JAX 0.10 / XLA CPU: a
    DCGAN generator's projection ``(latent, 4 * 4 * C)`` split by columns, then reshaped
    to ``(4, 4, C)``, doubled the discriminator's first convolution of its output inside
    a training step, while the row-parallel split gives the one-device weights
    (``tests/test_distribute.py``).
    """

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        if any(axis is not None for axis in layout.axes):
            return layout
        size = self.device_mesh.shape[self.device_mesh.axis_names.index("model")]
        shape = tuple(variable.shape)
        if "kernel" in variable.path and len(shape) >= 2 and shape[-2] % size == 0:
            axes = [None] * len(shape)
            axes[-2] = "model"
            return keras.distribution.TensorLayout(axes, self.device_mesh)
        return layout


def distribution_scope(devices, model_parallel):
    """``(make_scope, description)`` for ``keras.distribution`` over ``devices`` JAX devices."""
    available = keras.distribution.list_devices()
    count = len(available) if devices == "all" else devices
    if count > len(available):
        raise ValueError(
            f"devices={devices} but JAX sees {len(available)} device(s). On CPU, set "
            "XLA_FLAGS=--xla_force_host_platform_device_count=N (or JAX_NUM_CPU_DEVICES=N) "
            "before JAX starts; on several hosts, call keras.distribution.initialize() "
            "first.")
    chosen = available[:count]
    if count == 1 and model_parallel is None:
        return contextlib.nullcontext, {"engine": "one device", "num_replicas": 1}
    if model_parallel is None:
        distribution = keras.distribution.DataParallel(devices=chosen)
        engine = "keras.distribution.DataParallel"
    else:
        if isinstance(model_parallel, keras.distribution.LayoutMap):
            layout_map = model_parallel
        else:
            size = int(model_parallel)
            if size < 1 or count % size:
                raise ValueError(
                    f"model_parallel={model_parallel} must divide devices={count} (the mesh "
                    f"is (devices // model_parallel, model_parallel) = (batch, model)).")
            mesh = keras.distribution.DeviceMesh(
                (count // size, size), ["batch", "model"], devices=chosen)
            layout_map = keras.distribution.LayoutMap(mesh)
        parallel = (keras.distribution.ModelParallel
                    if isinstance(model_parallel, keras.distribution.LayoutMap)
                    else _ShardKernels)
        distribution = parallel(
            layout_map=layout_map, batch_dim_name=layout_map.device_mesh.axis_names[0])
        engine = "keras.distribution.ModelParallel"
    return distribution.scope, {
        "distribution": distribution, "engine": engine,
        "num_replicas": distribution.device_mesh.shape[0]}


def initialize_processes(coordinator, num_processes, process_id, addresses):
    """Joins the JAX processes at ``coordinator`` (``keras.distribution.initialize``).

    On CPU, JAX's cross-process collectives need an implementation: Gloo (the default
    of JAX 0.10; set here where none is chosen). Keras then agrees on one random seed
    over the processes, unless one was set with ``keras.utils.set_random_seed``.
    Returns the engine's name.
    """
    del addresses
    if jax.config.jax_cpu_collectives_implementation in (None, "", "none"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        keras.distribution.initialize(coordinator, num_processes=num_processes,
                                      process_id=process_id)
    except RuntimeError as error:
        if "must be called before" in str(error):
            raise RuntimeError(
                "initialize_processes must run before JAX starts its devices (before any "
                "tensor, model or jax.devices() call): call it at the start of the "
                f"program, before anything else uses Keras. JAX said: {error}") from None
        raise
    return "keras.distribution"


def _this_process_copy(value):
    """A variable's value as an array of this process alone (the whole value), in buffers
    of its own: Keras's predict() donates the buffers of the values it runs with, which
    must not be those of the variable."""
    if not isinstance(value, jax.Array):
        return value
    if value.is_fully_addressable:
        return jnp.array(value, copy=True)
    if value.is_fully_replicated:
        return jnp.array(value.addressable_data(0), copy=True)
    from jax.experimental import multihost_utils   # sharded over processes: gathered

    return jnp.asarray(multihost_utils.process_allgather(value, tiled=True))


@contextlib.contextmanager
def local_scope(variables):
    """Every variable mapped to this process's copy, and no distribution (see
    `kgen.backend.local_scope`): only in a multi-process run."""
    distribution = keras.distribution.distribution()
    if distribution is None or jax.process_count() == 1:
        yield
        return
    originals = [(v, v.value) for v in variables]
    mapping = [(v, _this_process_copy(value)) for v, value in originals]
    keras.distribution.set_distribution(None)
    try:
        with keras.StatelessScope(state_mapping=mapping):
            yield
    finally:
        keras.distribution.set_distribution(distribution)
        # Keras's predict() takes the values out of the variables of the model it runs
        # and puts them back by assignment, which the stateless scope discards: without
        # this, a sampler that calls predict() (a VAE's decoder) would leave those
        # variables empty, and the next epoch of fit() would fail.
        for variable, value in originals:
            variable.assign(value)
