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
"""

import jax
import keras

# Variables known to the step being traced (a stack: steps do not nest in practice,
# but a stack keeps the bookkeeping correct if they do).
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
                loss, aux = fn(*args, **kwargs)
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
    optimizer.apply(gradients, variables)
