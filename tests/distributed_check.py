"""Equivalence of one-device and several-device training, run in a fresh process.

JAX and TensorFlow must be told how many CPU devices to make before they start, so
``tests/test_distribute.py`` runs this script as a subprocess:

    KERAS_BACKEND=jax python tests/distributed_check.py [KIND ...]

For every family trained on batches (`KINDS`), with its default networks, it trains one
epoch (4 steps) on one device with a global batch of 16, and again from the same initial
weights and data order on `DEVICES` devices (JAX: `kgen.distribute(4)`, 4 replicas of 4
samples; TensorFlow: `kgen.distribute(2)`, 2 replicas of 8), and prints one JSON line (on
JAX, also for a few kinds on a (2, 2) mesh with ``model_parallel=2``): the largest difference of every weight, batch-norm statistic,
codebook, image pool, seed state and optimizer slot between the two runs, the largest
difference between the replicas' copies (TensorFlow mirrors each variable on every
replica), and the logged losses of both runs.
"""

import contextlib
import io
import json
import os
import sys
import tempfile

BACKEND = os.environ.get("KERAS_BACKEND", "jax")
#: JAX: 4 devices, for the (2, 2) mesh of model parallelism. TensorFlow: 2, the same
#: cross-replica sums of MirroredStrategy at half the cost (it traces the training step
#: once per replica).
DEVICES = 4 if BACKEND == "jax" else 2
if BACKEND == "jax":
    # Four CPU devices, with the XLA flags of the test suite (its quicker compilation,
    # tests/conftest.py) when it starts this process.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={DEVICES}")
elif BACKEND == "tensorflow":
    import tensorflow as tf

    _cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        _cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kgen  # noqa: E402
from kgen import cli  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BATCH = 16
#: Every registered family trained with fit() on batches of data (texture synthesis, style
#: transfer and Deep Image Prior optimise one image: there is no batch to split), and
#: variants of them with other options: {kind: (family, build options over its tiny ones)}.
VARIANTS = {
    # Batch normalisation in the GAN and pix2pix, dropout in pix2pix (depth 3), image
    # pools in the CycleGAN, an EMA codebook in the VQ-VAE, label dropout in diffusion.
    "wgan_gp": ("gan", {"loss": "wasserstein", "gradient_penalty": "wgan-gp",
                        "discriminator_steps": 2}),
    "pix2pix": ("pix2pix", {"depth": 3}),
    "autoencoder": ("autoencoder", {"noise": "gaussian", "noise_level": 0.3}),
    "cyclegan": ("cyclegan", {"num_blocks": 1}),
    "diffusion": ("diffusion", {"label_dropout": 0.3}),
}
KINDS = tuple(f.name for f in kgen.models.registry.families() if f.trains_on_batches) + \
    tuple(kind for kind in VARIANTS if kind not in kgen.models.registry.names())
#: Also trained with model parallelism on JAX (a (2, 2) mesh): batch normalisation,
#: transposed convolutions, two optimizers, a codebook, label embeddings.
MODEL_PARALLEL_KINDS = ("gan", "conditional_gan", "pix2pix", "vqvae", "diffusion")


def family_of(kind):
    name, _ = VARIANTS.get(kind, (kind, {}))
    return kgen.models.registry.get(name)


def build(kind):
    """A small model of ``kind``: its family's tiny configuration (tests/harness.py), with
    the options of `VARIANTS`, with noise drawn in every training step but the
    autoregressive ones."""
    _, options = VARIANTS.get(kind, (kind, {}))
    model, _ = harness.build_tiny(family_of(kind), options=options,
                                  num_examples=4 * BATCH)
    return model


def training_data(kind):
    """``(x, y)`` of ``fit`` for ``kind``: 64 examples."""
    _, arrays = harness.family_data(family_of(kind), num_examples=4 * BATCH)
    return arrays


def compile_model(kind, model):
    # The Wasserstein critic's loss is not bounded: a smaller step keeps it finite. The
    # tiny text-diffusion U-Net, with its pooled text in the timestep embedding, takes
    # smaller steps than the others (its output layer moved 0.016 in 4 steps at 0.05 on
    # JAX): 0.1 makes it move as far as they do, far beyond the equality's tolerance.
    rate = {"wgan_gp": 0.002, "text_diffusion": 0.2}.get(kind, 0.05)
    if "generator" in model.optimizer_names:
        # SGD exposes a wrong gradient scale at once; Adam's moments must stay in sync.
        # Adam divides by sqrt(v) + epsilon: with the default 1e-7, a gradient that is
        # zero up to float32 rounding (summed in another order over 4 replicas) takes a
        # step of about the learning rate either way; epsilon 1e-4 keeps such a rounding
        # difference a rounding difference.
        model.compile(discriminator_optimizer=keras.optimizers.SGD(rate, momentum=0.5),
                      generator_optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-4))
    else:
        model.compile(optimizer=keras.optimizers.SGD(rate, momentum=0.5))


def train(kind, devices, initial, x, y, model_parallel=None):
    with kgen.distribute(devices, model_parallel=model_parallel) as scope:
        keras.utils.set_random_seed(0)
        model = build(kind)
        for variable, value in zip(model.weights, initial):
            variable.assign(value)
        compile_model(kind, model)
        history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    state = model.weights + model.optimizer.variables
    values = [np.asarray(keras.ops.convert_to_numpy(v)) for v in state]
    spread = 0.0
    for variable in state:  # a mirrored variable has one copy per replica
        copies = getattr(variable.value, "values", None)
        if copies is not None and len(copies) > 1:
            first = np.asarray(copies[0])
            spread = max(spread, *(float(np.abs(np.asarray(c) - first).max()) for c in copies))
    logs = {k: float(v[-1]) for k, v in history.history.items()}
    return values, [v.path for v in state], spread, logs, scope.num_replicas


def compare(kind, x, y, model_parallel=None, one_device=None):
    """Trains ``kind`` on one device and on `DEVICES`; the differences, as a dict.

    ``one_device``: the one-device run of an earlier comparison of ``kind`` (the same
    initial weights and data), reused rather than trained again."""
    keras.utils.set_random_seed(0)
    initial = [np.asarray(keras.ops.convert_to_numpy(v)) for v in build(kind).weights]
    if one_device is None:
        one_device = train(kind, 1, initial, x, y)
    one, paths, _, one_logs, _ = one_device
    many, _, spread, many_logs, replicas = train(kind, DEVICES, initial, x, y, model_parallel)
    diffs = {p: float(np.abs(a - b).max()) for p, a, b in zip(paths, one, many)}
    moved = max(float(np.abs(a - b).max()) for a, b in zip(one[:len(initial)], initial))
    return {"replicas": replicas, "max_weight_diff": max(diffs.values()),
            "worst": max(diffs, key=diffs.get), "replica_spread": spread,
            "weights_moved": moved, "logs_one": one_logs, "logs_many": many_logs,
            "num_state": len(paths)}, one_device


def main(kinds):
    report = {"backend": BACKEND, "devices": DEVICES}
    for kind in kinds:
        report[kind], one_device = compare(kind, *training_data(kind))
        print(kind, {k: report[kind][k] for k in ("max_weight_diff", "worst", "replica_spread")},
              file=sys.stderr, flush=True)
        if BACKEND == "jax" and kind in MODEL_PARALLEL_KINDS:
            run, _ = compare(kind, *training_data(kind), model_parallel=2,
                             one_device=one_device)
            report[f"{kind}/model_parallel"] = run
            print(f"{kind}/model_parallel", run["max_weight_diff"], run["worst"],
                  file=sys.stderr, flush=True)
    # The command line on every device (the VAE of 2-D points: a small MLP).
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()) as out:
        code = cli.main(["train", "vae", "--data", "ring", "--epochs", "1", "--devices", str(DEVICES),
                         "--batch-size", "128", "--out", folder])
        report["cli"] = {"code": code, "checkpoint": os.path.exists(
            os.path.join(folder, "last.keras")), "printed": out.getvalue()[-2000:]}
    print("RESULT " + json.dumps(report))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or KINDS))
