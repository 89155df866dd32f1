"""Equivalence of one-device and four-device training, run in a fresh process.

JAX and TensorFlow must be told how many CPU devices to make before they start, so
``tests/test_distribute.py`` runs this script as a subprocess:

    KERAS_BACKEND=jax python tests/distributed_check.py

For a GAN, a conditional GAN and a VAE, it trains one epoch (4 steps) on one device with
a global batch of 16, and again from the same initial weights and data order on four
devices (`kgen.distribute(4)`: 4 replicas of 4 samples), and prints one JSON line: the
largest difference of every weight, batch-norm statistic and optimizer slot between the
two runs, the largest difference between the replicas' copies (TensorFlow mirrors each
variable on every replica), and the logged losses of both runs.
"""

import contextlib
import io
import json
import os
import sys
import tempfile

BACKEND = os.environ.get("KERAS_BACKEND", "jax")
DEVICES = 4
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={DEVICES}"
elif BACKEND == "tensorflow":
    import tensorflow as tf

    _cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        _cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kgen  # noqa: E402
from kgen import cli  # noqa: E402

LATENT, CLASSES, BATCH = 4, 3, 16


def _dense_discriminator(conditional, synchronized):
    """A small critic with batch normalisation (synchronized across replicas on TF)."""
    image = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(image)
    inputs = [image]
    if conditional:
        label = keras.Input((), dtype="int32")
        inputs.append(label)
        h = keras.layers.Concatenate()([h, keras.layers.Embedding(CLASSES, 4)(label)])
    h = keras.layers.Dense(8)(h)
    h = keras.layers.BatchNormalization(synchronized=synchronized)(h)
    h = keras.layers.LeakyReLU(0.2)(keras.layers.Activation("linear")(h))
    return keras.Model(inputs if conditional else image, keras.layers.Dense(1)(h))


def _noise_free_generator(conditional):
    """A generator whose output does not depend on its latent input (see `build`)."""
    z = keras.Input((LATENT,))
    h = keras.layers.Dense(LATENT, kernel_initializer="zeros", use_bias=False,
                           trainable=False)(z)
    inputs = [z]
    if conditional:
        label = keras.Input((), dtype="int32")
        inputs.append(label)
        h = keras.layers.Concatenate()([h, keras.layers.Embedding(CLASSES, 4)(label)])
    h = keras.layers.Dense(64, activation="tanh")(keras.layers.Dense(8, "relu")(h))
    return keras.Model(inputs if conditional else z, keras.layers.Reshape((8, 8, 1))(h))


def _noise_free_vae():
    """A VAE whose posterior variance is exp(-40): its sampling noise is below float32."""
    x = keras.Input((8, 8, 1))
    h = keras.layers.Dense(8, "relu")(keras.layers.Flatten()(x))
    mean = keras.layers.Dense(LATENT)(h)
    log_var = keras.layers.Dense(LATENT, kernel_initializer="zeros",
                                 bias_initializer=keras.initializers.Constant(-40.0),
                                 trainable=False)(h)
    encoder = keras.Model(x, keras.layers.Concatenate()([mean, log_var]))
    z = keras.Input((LATENT,))
    out = keras.layers.Reshape((8, 8, 1))(keras.layers.Dense(64)(keras.layers.Dense(8, "relu")(z)))
    return kgen.models.VAE(encoder, keras.Model(z, out), latent_dim=LATENT, seed=0)


def build(kind):
    """The model of ``kind``.

    On JAX the default networks are used: a noise draw of the global batch's shape gives
    the same values however the batch is sharded. On TensorFlow every replica draws its
    own noise from the same seed state (keras#18426), so no replica's noise equals the
    corresponding slice of a one-device draw; the TensorFlow models are built so that the
    noise does not reach the outputs (a frozen zero layer on the latent; a posterior
    variance of exp(-40)), which isolates what data parallelism must keep equal.
    """
    if BACKEND == "jax":
        if kind == "vae":
            return kgen.models.VAE.from_shape((8, 8, 1), latent_dim=LATENT, base_filters=4,
                                              seed=0)
        if kind == "gan":
            return kgen.models.GAN.from_shape((8, 8, 1), latent_dim=LATENT, base_filters=4,
                                              seed=0)
        return kgen.models.ConditionalGAN.from_shape(
            (8, 8, 1), num_classes=CLASSES, latent_dim=LATENT, base_filters=4,
            embedding_dim=4, seed=0)
    if kind == "vae":
        return _noise_free_vae()
    conditional = kind == "cgan"
    model_class = kgen.models.ConditionalGAN if conditional else kgen.models.GAN
    extra = {"num_classes": CLASSES} if conditional else {}
    return model_class(_noise_free_generator(conditional),
                       _dense_discriminator(conditional, synchronized=True),
                       latent_dim=LATENT, seed=0, **extra)


def compile_model(model):
    if isinstance(model, kgen.models.GAN):
        # SGD exposes a wrong gradient scale at once; Adam's moments must stay in sync.
        # Adam divides by sqrt(v) + epsilon: with the default 1e-7, a gradient that is
        # zero up to float32 rounding (summed in another order over 4 replicas) takes a
        # step of about the learning rate either way; epsilon 1e-4 keeps such a rounding
        # difference a rounding difference.
        model.compile(discriminator_optimizer=keras.optimizers.SGD(0.05, momentum=0.5),
                      generator_optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-4))
    else:
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5))


def train(kind, devices, initial, x, y):
    with kgen.distribute(devices) as scope:
        keras.utils.set_random_seed(0)
        model = build(kind)
        for variable, value in zip(model.weights, initial):
            variable.assign(value)
        compile_model(model)
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


def compare(kind, x, y):
    """Trains ``kind`` on one device and on four; the differences, as a dict."""
    keras.utils.set_random_seed(0)
    initial = [np.asarray(keras.ops.convert_to_numpy(v)) for v in build(kind).weights]
    one, paths, _, one_logs, _ = train(kind, 1, initial, x, y)
    many, _, spread, many_logs, replicas = train(kind, DEVICES, initial, x, y)
    diffs = {p: float(np.abs(a - b).max()) for p, a, b in zip(paths, one, many)}
    moved = max(float(np.abs(a - b).max()) for a, b in zip(one[:len(initial)], initial))
    return {"replicas": replicas, "max_weight_diff": max(diffs.values()),
            "worst": max(diffs, key=diffs.get), "replica_spread": spread,
            "weights_moved": moved, "logs_one": one_logs, "logs_many": many_logs,
            "num_state": len(paths)}


def main():
    digits = kgen.data.load("digits", return_labels=True)
    x = kgen.data.to_data_space(digits[0][:64])
    labels = (digits[1][:64] % CLASSES).astype("int32")
    report = {"backend": BACKEND}
    for kind in ("gan", "cgan", "vae"):
        report[kind] = compare(kind, x, labels if kind == "cgan" else None)
    # The command line on 4 devices (the VAE of 2-D points: a small MLP).
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()) as out:
        code = cli.main(["train", "vae", "--data", "ring", "--epochs", "1", "--devices", "4",
                         "--batch-size", "128", "--out", folder])
        report["cli"] = {"code": code, "checkpoint": os.path.exists(
            os.path.join(folder, "model.keras")), "printed": out.getvalue()[-2000:]}
    print("RESULT " + json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
