#!/usr/bin/env python
"""What `kgen.networks.Conv2DTranspose` changes: the DCGAN's fit() step with Keras's
transposed convolution beside kgen's, in one process, on the active backend.

Two `kgen.models.GAN` models are trained on the same batches from the same weights: the
DCGAN of ``GAN.from_shape((16, 16, 1), base_filters=32, seed=0)`` (batch 64), whose
generator upsamples with `kgen.networks.Conv2DTranspose`, and the same model with those
layers replaced by `keras.layers.Conv2DTranspose` (same configuration and weights). Their
fit() calls alternate, one epoch each, so that both see the same machine load; the first
``--warmup`` steps of each (compilation) are left out of the medians. It also times one
layer alone (the generator's first upsampling, 4x4x128 -> 8x8x64, batch 64): the forward
pass, and the forward pass with the gradients of the kernel and the input, and prints the
largest difference between the two layers' kernel gradients (float rounding only: both
compute the same function).

Usage::

    KERAS_BACKEND=jax python benchmarks/conv_transpose.py
    KERAS_BACKEND=tensorflow python benchmarks/conv_transpose.py --epochs 4 --batches 12
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kgen  # noqa: E402
from kgen import backend  # noqa: E402
from step_time import _block_logs, _StepTimer  # noqa: E402

SHAPE, BATCH = (16, 16, 1), 64


def _with_keras_layers(network):
    """``network`` with every kgen Conv2DTranspose replaced by Keras's, same weights."""
    def clone(layer):
        if isinstance(layer, kgen.networks.Conv2DTranspose):
            return keras.layers.Conv2DTranspose.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(network, clone_function=clone)
    copy.set_weights(network.get_weights())
    return copy


def _models():
    ours = kgen.models.GAN.from_shape(SHAPE, base_filters=32, seed=0)
    reference = kgen.models.GAN.from_shape(SHAPE, base_filters=32, seed=0)
    reference.generator = _with_keras_layers(ours.generator)
    reference.discriminator.set_weights(ours.discriminator.get_weights())
    for model in (ours, reference):
        model.compile()
    return {"kgen": ours, "keras": reference}


def _layer_times(repeats):
    """ms of one layer's forward pass, and of forward + kernel and input gradients, and
    the largest difference of its kernel gradient from Keras's layer's (same weights),
    relative to the largest gradient."""
    x = np.random.default_rng(0).normal(size=(BATCH, 4, 4, 128)).astype("float32")
    upstream = np.random.default_rng(1).normal(size=(BATCH, 8, 8, 64)).astype("float32")
    rows, kernel_gradients, weights = {}, {}, None
    for name, kind in (("kgen", kgen.networks.Conv2DTranspose),
                       ("keras", keras.layers.Conv2DTranspose)):
        layer = kind(64, 4, strides=2, padding="same", use_bias=False)
        layer.build(x.shape)
        if weights is None:
            weights = layer.get_weights()
        layer.set_weights(weights)
        forward = backend.compile_function(layer, layer.weights)

        def loss(inputs, grads):
            return keras.ops.sum(keras.ops.multiply(layer(inputs), grads)), None

        def both(inputs, grads):
            (_, _), kernel = backend.value_and_grad(loss, layer.trainable_variables)(
                inputs, grads)
            return kernel[0], backend.input_gradient(layer, inputs)

        gradients = backend.compile_function(both, layer.weights)
        rows[name] = {}
        for what, call in (("forward", lambda: forward(x)),
                           ("gradients", lambda: gradients(x, upstream))):
            times = []
            for _ in range(repeats + 2):
                start = time.perf_counter()
                result = keras.tree.flatten(call())
                keras.ops.convert_to_numpy(result[0])
                times.append(time.perf_counter() - start)
            rows[name][what] = 1000.0 * statistics.median(times[2:])
        kernel_gradients[name] = np.asarray(keras.ops.convert_to_numpy(
            gradients(x, upstream)[0]))
    scale = float(np.abs(kernel_gradients["keras"]).max())
    difference = float(np.abs(kernel_gradients["kgen"] - kernel_gradients["keras"]).max())
    return rows, difference / scale


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each model")
    parser.add_argument("--batches", type=int, default=10, help="batches per epoch")
    parser.add_argument("--warmup", type=int, default=3, help="first steps left out")
    parser.add_argument("--repeats", type=int, default=10, help="calls of the layer timed")
    args = parser.parse_args(argv)
    name = keras.backend.backend()
    x = np.random.default_rng(2).uniform(-1, 1, (BATCH * args.batches,) + SHAPE)
    x = x.astype("float32")
    models, times = _models(), {"kgen": [], "keras": []}
    load = [os.getloadavg()[0]]
    for epoch in range(args.epochs):
        for key, model in models.items():
            timer = _StepTimer(_block_logs(name))
            model.fit(x, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                      callbacks=[timer])
            steps = [end - begin for begin, end in zip(timer.begin, timer.end)]
            times[key] += steps[args.warmup:] if epoch == 0 else steps
    load.append(os.getloadavg()[0])
    median = {key: 1000.0 * statistics.median(value) for key, value in times.items()}
    layer, difference = _layer_times(args.repeats)
    print(f"backend {name}; {os.cpu_count()} CPUs; load average {load[0]:.1f} -> "
          f"{load[1]:.1f}")
    print("| layer | DCGAN fit() ms/step | one layer forward ms | forward + gradients ms |")
    print("|---|---:|---:|---:|")
    for key in ("keras", "kgen"):
        print(f"| {key} Conv2DTranspose | {median[key]:.1f} | {layer[key]['forward']:.2f} | "
              f"{layer[key]['gradients']:.2f} |")
    print(f"kgen / keras fit() step: {median['kgen'] / median['keras']:.2f}; the layer's "
          f"kernel gradients differ by at most {difference:.1e} of the largest")


if __name__ == "__main__":
    main()
