"""PyTorch implementation of the kgen training step (torch.autograd.grad).

Gradients are taken with ``torch.autograd.grad`` for the listed variables only, so
nothing accumulates in the ``.grad`` of another network's parameters.
"""

import contextlib

import keras
import torch
from keras import tree

from kgen.backend.torch_trace import traced as replayed_network


def replayed_method(network, name):
    return replayed_network(network).method(name)


def train_step(model, data):
    return model.run_updates(data)


def test_step(model, data):
    return model.run_evaluation(data)


def _detach(value):
    return value.detach() if isinstance(value, torch.Tensor) else value


def value_and_grad(fn, variables):
    def wrapped(*args, **kwargs):
        with torch.enable_grad():
            loss, aux = fn(*args, **kwargs)
            grads = torch.autograd.grad(
                loss, [v.value for v in variables], allow_unused=True
            )
        return (loss.detach(), tree.map_structure(_detach, aux)), list(grads)

    return wrapped


def apply_gradients(optimizer, gradients, variables):
    with torch.no_grad():
        optimizer.apply(gradients, variables)


def run_if(condition, fn, variables):
    del variables
    if bool(condition):
        fn()


def input_gradient(fn, x):
    with torch.enable_grad():  # also under the no_grad of Keras's evaluation step
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        total = fn(x).sum()
        if not total.requires_grad:
            return torch.zeros_like(x)
        # create_graph: the gradient is itself differentiable (second order).
        (grad,) = torch.autograd.grad(total, [x], create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad


def compile_function(fn, variables):
    del variables

    def call(*args):
        args = tree.map_structure(keras.ops.convert_to_tensor, args)
        with torch.no_grad():
            return fn(*args)

    return call


def distribution_scope(devices, model_parallel):
    """One device only: Keras 3's ``fit()`` on PyTorch has no data-parallel engine."""
    count = (torch.cuda.device_count() or 1) if devices == "all" else devices
    if count > 1 or model_parallel is not None:
        raise RuntimeError(
            f"Training on several devices (devices={devices!r}"
            f"{', model_parallel' if model_parallel is not None else ''}) is not available "
            "on the PyTorch backend: Keras 3's fit() has no DistributedDataParallel support. "
            "Use KERAS_BACKEND=jax (keras.distribution) or KERAS_BACKEND=tensorflow "
            "(tf.distribute); a .keras checkpoint trained there loads on PyTorch.")
    return contextlib.nullcontext, {"engine": "one device", "num_replicas": 1}


def initialize_processes(coordinator, num_processes, process_id, addresses):
    """Refuses: Keras 3's ``fit()`` on PyTorch has no multi-process engine."""
    raise RuntimeError(
        "Training with several processes is not available on the PyTorch backend: Keras "
        "3's fit() has no DistributedDataParallel (DDP) path. Use KERAS_BACKEND=jax "
        "(keras.distribution) or KERAS_BACKEND=tensorflow (MultiWorkerMirroredStrategy) "
        "with kgen.initialize_processes; a .keras checkpoint trained there loads on "
        "PyTorch. For DDP itself, write a torch training loop around the networks "
        "(model.generator, model.network, ...), which are torch modules on this backend.")
