#!/usr/bin/env python
"""Step time of a kgen GAN trained with ``fit()`` beside a hand-written loop, per backend.

The model is the DCGAN of ``kgen.models.GAN.from_shape((16, 16, 1), base_filters=32, seed=0)``
(16x16x1 images, latent 100, batch 64, Adam(2e-4, beta_1=0.5) for both networks,
non-saturating loss; each step updates the discriminator on real + fake, then the generator).
On each backend, in one process, the same Keras generator and discriminator objects, from the
same initial weights and on the same batches, are trained twice:

- ``fit()``: ``model.fit(x, batch_size=64, shuffle=False, epochs=E)``; a callback records
  ``time.perf_counter()`` at ``on_train_batch_begin`` / ``on_train_batch_end`` (on JAX it
  blocks on the logs and the new training state first; on TF it reads the loss).
- hand-written: the idiomatic loop of the backend, calling the Keras networks directly:
  TensorFlow: a ``tf.function`` with two ``tf.GradientTape``s and Keras ``Adam.apply``;
  JAX: a ``jax.jit`` step with ``stateless_call`` and ``optax.adam``, carrying the BatchNorm
  state, both optimizer states and the PRNG key explicitly;
  torch: an eager loop with ``torch.autograd.grad`` on the variables' tensors and
  ``torch.optim.Adam``.
  Each step is blocked on (TF: ``.numpy()`` of the loss; JAX: ``block_until_ready``).

The two alternate step by step: after fit()'s step i (from ``on_train_batch_end``) the
hand-written loop runs its step i on the same batch, so that both see the same machine load
(the TF / torch weights are swapped around it). The first ``--warmup`` steps of each (tracing,
compilation) are left out of the medians.

The hand-written loops draw their latent noise with the backend's own RNG from the same
(seed, counter) pairs that kgen's ``SeedGenerator`` uses, so that both loops see the same noise
and their first-step losses can be compared (printed as a sanity check; not asserted).

With ``--precision P [P ...]`` it measures something else: the step time of fit() alone in
each precision (``float32``, ``mixed_bfloat16``, ``mixed_float16``; `kgen.precision`), for
the same DCGAN and for a diffusion U-Net step (`DIFFUSION`: 16x16x1 images, batch 64). One
model per precision, from the same seed, is built and compiled with
``compile(precision=P)``; their fit() calls alternate, one epoch of ``steps / epochs``
batches each, so that every precision sees the same machine load, and the first
``--warmup`` steps of each model (compilation) are left out of the medians.

Usage::

    python benchmarks/step_time.py                    # every backend, one subprocess each
    python benchmarks/step_time.py --backend jax      # one backend, in this process
    python benchmarks/step_time.py --steps 100 --json
    python benchmarks/step_time.py --precision float32 mixed_bfloat16 --steps 24 --warmup 4

See ``benchmarks/README.md``.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
SHAPE = (16, 16, 1)
BASE_FILTERS = 32
BATCH = 64
LATENT = 100
LEARNING_RATE = 2e-4
BETA_1 = 0.5
BETA_2 = 0.999
EPSILON = 1e-7  # keras.optimizers.Adam's default; used for optax / torch too
SEED = 0  # the GAN's noise seed (kgen's SeedGenerator starts at [SEED, 0])
DATA_SEED = 1234
WEIGHT_SEED = 0

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The models of ``--precision``: the DCGAN above, and a small diffusion U-Net (its
#: default attention at the lowest resolution, 8x8) on the same images.
PRECISION_MODELS = ("dcgan", "diffusion")
DIFFUSION = {"base_filters": 16, "channel_multipliers": (1, 2), "num_res_blocks": 1}
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


# =====================================================================================
# One backend (runs in its own process: KERAS_BACKEND must be set before keras loads)
# =====================================================================================
def _median_ms(times, skip):
    kept = times[skip:]
    return 1000.0 * statistics.median(kept) if kept else float("nan")


def _quantiles_ms(times, skip):
    kept = sorted(times[skip:])
    if not kept:
        return None
    pick = lambda q: 1000.0 * kept[min(len(kept) - 1, int(q * len(kept)))]  # noqa: E731
    return {"p10": pick(0.10), "p90": pick(0.90), "min": 1000.0 * kept[0]}


def _noise_seed(step, which):
    """kgen's SeedGenerator draws key [SEED, 2*step] for the D update, [SEED, 2*step+1] for G."""
    return (SEED, 2 * step + which)


def _weights(networks):
    import numpy as np

    return [np.array(w, dtype="float64", copy=True) for net in networks for w in net.get_weights()]


def _max_diff(a, b):
    import numpy as np

    return max(float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(a, b))


def _relative_diff(a, b):
    import numpy as np

    num = math.sqrt(sum(float(np.sum((x - y) ** 2)) for x, y in zip(a, b)))
    den = math.sqrt(sum(float(np.sum(x**2)) for x in a)) or 1.0
    return num / den


class _StepTimer:
    """Builds a keras callback recording perf_counter at each train batch begin/end."""

    def __new__(cls, block):
        import keras

        class StepTimer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.begin, self.end, self.epoch_of_step = [], [], []
                self.first_logs = None
                self._epoch = 0

            def on_epoch_begin(self, epoch, logs=None):
                self._epoch = epoch

            def on_train_batch_begin(self, batch, logs=None):
                self.begin.append(time.perf_counter())
                self.epoch_of_step.append(self._epoch)

            def on_train_batch_end(self, batch, logs=None):
                block(logs, self.model)
                self.end.append(time.perf_counter())
                if self.first_logs is None:  # step 0: the metric means hold one value
                    self.first_logs = {k: float(v) for k, v in logs.items()}

        return StepTimer()


def _block_fit(backend_name):
    if backend_name == "jax":
        import jax

        def block(logs, model):
            # The logs, and the new state the trainer keeps for the next step.
            jax.block_until_ready((logs, getattr(model, "_jax_state", None)))

    elif backend_name == "tensorflow":

        def block(logs, model):
            float(logs["g_loss"])  # an EagerTensor (.numpy()) or, already, a float

    else:

        def block(logs, model):
            pass

    return block


# ------------------------------------------------------------------ hand-written loops
# Each returns a loop object: ``run(batches, start, count) -> (seconds per step, losses)`` runs
# steps ``start .. start+count-1`` (step i trains on batch ``i % len(batches)``);
# ``weights()`` gives its current weights in ``get_weights()`` order; ``live`` says whether it
# trains the Keras variables in place (TF, torch) or carries its own state (JAX).
class _Loop:
    live = True

    def __init__(self, generator, discriminator):
        self.G, self.D = generator, discriminator

    def weights(self):
        import numpy as np

        return [np.array(w, dtype="float64") for net in (self.G, self.D) for w in net.get_weights()]


class _TensorFlowLoop(_Loop):
    """tf.function, two GradientTapes, Keras Adam.apply; calls the Keras networks directly."""

    def __init__(self, generator, discriminator):
        super().__init__(generator, discriminator)
        import keras
        import tensorflow as tf

        G, D = generator, discriminator
        adam = dict(learning_rate=LEARNING_RATE, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON)
        d_opt, g_opt = keras.optimizers.Adam(**adam), keras.optimizers.Adam(**adam)
        d_opt.build(D.trainable_variables)
        g_opt.build(G.trainable_variables)

        @tf.function
        def step(real, seed_d, seed_g):
            # Discriminator update on real + fake.
            z = tf.random.stateless_normal((BATCH, LATENT), seed=seed_d)
            fake = G(z, training=True)
            with tf.GradientTape() as tape:
                real_logits = D(real, training=True)
                fake_logits = D(fake, training=True)
                d_loss = tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(
                    tf.nn.softplus(fake_logits)
                )
            grads = tape.gradient(d_loss, D.trainable_variables)
            d_opt.apply(grads, D.trainable_variables)
            # Generator update against the new discriminator.
            z = tf.random.stateless_normal((BATCH, LATENT), seed=seed_g)
            with tf.GradientTape() as tape:
                fake = G(z, training=True)
                g_loss = tf.reduce_mean(tf.nn.softplus(-D(fake, training=True)))
            grads = tape.gradient(g_loss, G.trainable_variables)
            g_opt.apply(grads, G.trainable_variables)
            return d_loss, g_loss

        self.step, self.tf = step, tf

    def run(self, batches, start, count):
        tf = self.tf
        times, losses = [], []
        for i in range(start, start + count):
            t0 = time.perf_counter()
            real = tf.convert_to_tensor(batches[i % len(batches)])
            seed_d = tf.constant(_noise_seed(i, 0), dtype=tf.int32)
            seed_g = tf.constant(_noise_seed(i, 1), dtype=tf.int32)
            d_loss, g_loss = self.step(real, seed_d, seed_g)
            d_loss, g_loss = d_loss.numpy(), g_loss.numpy()
            times.append(time.perf_counter() - t0)
            losses.append((float(d_loss), float(g_loss)))
        return times, losses


class _JaxLoop(_Loop):
    """jax.jit step: stateless_call + optax.adam, BatchNorm state, optimizer states and the
    PRNG key carried explicitly."""

    live = False

    def __init__(self, generator, discriminator):
        super().__init__(generator, discriminator)
        import functools

        import jax
        import jax.numpy as jnp
        import optax

        G, D = generator, discriminator
        tx = optax.adam(LEARNING_RATE, b1=BETA_1, b2=BETA_2, eps=EPSILON)

        def d_loss_fn(d_tv, d_nt, real, fake):
            real_logits, d_nt = D.stateless_call(d_tv, d_nt, real, training=True)
            fake_logits, d_nt = D.stateless_call(d_tv, d_nt, fake, training=True)
            loss = jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(
                jax.nn.softplus(fake_logits)
            )
            return loss, d_nt

        def g_loss_fn(g_tv, g_nt, d_tv, d_nt, z):
            fake, g_nt = G.stateless_call(g_tv, g_nt, z, training=True)
            logits, d_nt = D.stateless_call(d_tv, d_nt, fake, training=True)
            return jnp.mean(jax.nn.softplus(-logits)), (g_nt, d_nt)

        @functools.partial(jax.jit, donate_argnums=0)
        def step(state, real):
            g_tv, g_nt, d_tv, d_nt, g_os, d_os, key = state
            # Discriminator update on real + fake (the generator's output is a constant here).
            z = jax.random.normal(key, (BATCH, LATENT), dtype="float32")
            fake, g_nt = G.stateless_call(g_tv, g_nt, z, training=True)
            (d_loss, d_nt), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
                d_tv, d_nt, real, fake
            )
            updates, d_os = tx.update(grads, d_os, d_tv)
            d_tv = optax.apply_updates(d_tv, updates)
            # Generator update against the new discriminator.
            z = jax.random.normal(key + jnp.array([0, 1], "uint32"), (BATCH, LATENT),
                                  dtype="float32")
            (g_loss, (g_nt, d_nt)), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
                g_tv, g_nt, d_tv, d_nt, z
            )
            updates, g_os = tx.update(grads, g_os, g_tv)
            g_tv = optax.apply_updates(g_tv, updates)
            key = key + jnp.array([0, 2], "uint32")
            return (g_tv, g_nt, d_tv, d_nt, g_os, d_os, key), (d_loss, g_loss)

        g_tv = [jnp.array(v.value) for v in G.trainable_variables]
        g_nt = [jnp.array(v.value) for v in G.non_trainable_variables]
        d_tv = [jnp.array(v.value) for v in D.trainable_variables]
        d_nt = [jnp.array(v.value) for v in D.non_trainable_variables]
        key = jnp.array(_noise_seed(0, 0), dtype="uint32")
        self.state = (g_tv, g_nt, d_tv, d_nt, tx.init(g_tv), tx.init(d_tv), key)
        self.step, self.jax = step, jax

    def run(self, batches, start, count):
        jax = self.jax
        times, losses = [], []
        for i in range(start, start + count):
            t0 = time.perf_counter()
            self.state, (d_loss, g_loss) = self.step(self.state, batches[i % len(batches)])
            jax.block_until_ready((self.state, d_loss, g_loss))
            times.append(time.perf_counter() - t0)
            losses.append((float(d_loss), float(g_loss)))
        return times, losses

    def weights(self):
        import numpy as np

        g_tv, g_nt, d_tv, d_nt = self.state[:4]
        out = []
        for net, tv, nt in ((self.G, g_tv, g_nt), (self.D, d_tv, d_nt)):
            values = {id(v): x for v, x in zip(net.trainable_variables, tv)}
            values.update({id(v): x for v, x in zip(net.non_trainable_variables, nt)})
            out.extend(np.array(values[id(v)], dtype="float64") for v in net.weights)
        return out


class _TorchLoop(_Loop):
    """Eager loop: torch.autograd.grad on the variables' tensors, torch.optim.Adam."""

    def __init__(self, generator, discriminator):
        super().__init__(generator, discriminator)
        import torch
        import torch.nn.functional as F

        G, D = generator, discriminator
        g_params = [v.value for v in G.trainable_variables]
        d_params = [v.value for v in D.trainable_variables]
        adam = dict(lr=LEARNING_RATE, betas=(BETA_1, BETA_2), eps=EPSILON)
        d_opt, g_opt = torch.optim.Adam(d_params, **adam), torch.optim.Adam(g_params, **adam)

        def noise(seed_pair):
            # What keras.random.normal does on torch for a SeedGenerator state (a, b).
            gen = torch.Generator().manual_seed(int(sum(seed_pair)) & 0xFFFFFFFF)
            return torch.normal(0.0, 1.0, size=(BATCH, LATENT), generator=gen)

        def step(real, i):
            # Discriminator update on real + fake.
            with torch.no_grad():
                fake = G(noise(_noise_seed(i, 0)), training=True)
            d_loss = F.softplus(-D(real, training=True)).mean() + F.softplus(
                D(fake, training=True)
            ).mean()
            grads = torch.autograd.grad(d_loss, d_params)
            with torch.no_grad():
                for p, g in zip(d_params, grads):
                    p.grad = g
                d_opt.step()
            # Generator update against the new discriminator.
            fake = G(noise(_noise_seed(i, 1)), training=True)
            g_loss = F.softplus(-D(fake, training=True)).mean()
            grads = torch.autograd.grad(g_loss, g_params)
            with torch.no_grad():
                for p, g in zip(g_params, grads):
                    p.grad = g
                g_opt.step()
            for p in d_params + g_params:
                p.grad = None
            return d_loss.detach(), g_loss.detach()

        self.step, self.torch = step, torch

    def run(self, batches, start, count):
        times, losses = [], []
        for i in range(start, start + count):
            t0 = time.perf_counter()
            real = self.torch.from_numpy(batches[i % len(batches)])
            d_loss, g_loss = self.step(real, i)
            times.append(time.perf_counter() - t0)
            losses.append((float(d_loss), float(g_loss)))
        return times, losses


LOOPS = {"tensorflow": _TensorFlowLoop, "jax": _JaxLoop, "torch": _TorchLoop}


def _versions(backend_name):
    import keras
    import numpy as np

    versions = {"python": platform.python_version(), "keras": keras.__version__,
                "numpy": np.__version__}
    try:
        import kgen

        versions["kgen"] = getattr(kgen, "__version__", "?")
    except ImportError:
        pass
    if backend_name == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    elif backend_name == "jax":
        import jax
        import jaxlib
        import optax

        versions.update(jax=jax.__version__, jaxlib=jaxlib.__version__, optax=optax.__version__)
    elif backend_name == "torch":
        import torch

        versions["torch"] = torch.__version__
    return versions


def run_backend(backend_name, steps, warmup, epochs):
    """Times fit() and the hand-written loop on the active backend; returns a dict."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    if keras.backend.backend() != backend_name:
        raise SystemExit(
            f"The active Keras backend is {keras.backend.backend()!r}, not {backend_name!r}: "
            f"run with KERAS_BACKEND={backend_name}."
        )
    import kgen

    batches_per_epoch = math.ceil(steps / epochs)
    num_steps = batches_per_epoch * epochs  # == steps when epochs divides it
    rng = np.random.default_rng(DATA_SEED)
    x = rng.uniform(-1.0, 1.0, (BATCH * batches_per_epoch,) + SHAPE).astype("float32")
    batches = [x[i * BATCH : (i + 1) * BATCH] for i in range(batches_per_epoch)]

    keras.utils.set_random_seed(WEIGHT_SEED)
    model = kgen.models.GAN.from_shape(SHAPE, base_filters=BASE_FILTERS, seed=SEED)
    model.compile(
        discriminator_optimizer=keras.optimizers.Adam(
            LEARNING_RATE, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON),
        generator_optimizer=keras.optimizers.Adam(
            LEARNING_RATE, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON),
    )
    G, D = model.generator, model.discriminator
    initial = _weights((G, D))
    loop = LOOPS[backend_name](G, D)  # JAX: copies the initial weights into its state
    load_before = os.getloadavg()

    # The two contenders alternate step by step, so that both see the same machine load (on a
    # shared machine it changes within seconds): after fit()'s step i, from
    # on_train_batch_end (after the timer callback has recorded the step's end), the
    # hand-written loop runs its step i on the same batch. The TF / torch loops train the same
    # Keras variables as fit(): the two sets of weights (BatchNorm statistics included) are
    # swapped around each hand-written step. The JAX loop carries its own state.
    timer = _StepTimer(_block_fit(backend_name))
    hand = {"times": [], "losses": [], "weights": None, "start": None, "final": None,
            "callback_s": []}

    class Alternate(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            t0 = time.perf_counter()
            i = len(hand["times"])
            if loop.live:
                fit_weights = (G.get_weights(), D.get_weights())
                G.set_weights(hand["weights"][0])
                D.set_weights(hand["weights"][1])
            if i == 0:
                hand["start"] = loop.weights()
            times, losses = loop.run(batches, i, 1)
            hand["times"] += times
            hand["losses"] += losses
            if i == num_steps - 1:
                hand["final"] = loop.weights()
            if loop.live:
                hand["weights"] = (G.get_weights(), D.get_weights())
                G.set_weights(fit_weights[0])
                D.set_weights(fit_weights[1])
            hand["callback_s"].append(time.perf_counter() - t0)

    hand["weights"] = (G.get_weights(), D.get_weights())
    t0 = time.perf_counter()
    history = model.fit(x, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
                        callbacks=[timer, Alternate()])
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    fit_times = [e - b for b, e in zip(timer.begin, timer.end)]
    # fit()'s begin-to-begin time within an epoch, less the hand-written step run in between:
    # also counts the data fetch and the trainer's work between steps.
    cycles = [
        timer.begin[i + 1] - timer.begin[i] - hand["callback_s"][i]
        for i in range(warmup, len(timer.begin) - 1)
        if timer.epoch_of_step[i + 1] == timer.epoch_of_step[i]
    ]
    hand_times, hand_losses = hand["times"], hand["losses"]
    restored, hand_final = hand["start"], hand["final"]
    fit_final = _weights((G, D))
    fit_last_epoch = {k: float(v[-1]) for k, v in history.history.items()}

    last = hand_losses[-batches_per_epoch:]
    hand_last_epoch = {"d_loss": statistics.fmean(l[0] for l in last),
                       "g_loss": statistics.fmean(l[1] for l in last)}
    first_fit = {k: timer.first_logs[k] for k in ("d_loss", "g_loss")}
    first_hand = {"d_loss": hand_losses[0][0], "g_loss": hand_losses[0][1]}
    all_losses = list(first_fit.values()) + list(first_hand.values()) + \
        list(hand_last_epoch.values()) + [fit_last_epoch["d_loss"], fit_last_epoch["g_loss"]]
    finite = all(math.isfinite(v) for v in all_losses)
    first_close = all(
        abs(first_fit[k] - first_hand[k]) <= 0.05 * max(1.0, abs(first_fit[k])) for k in first_fit
    )
    last_close = all(
        abs(fit_last_epoch[k] - hand_last_epoch[k]) <= 0.5 * max(1.0, abs(fit_last_epoch[k]))
        for k in hand_last_epoch
    )

    fit_ms = _median_ms(fit_times, warmup)
    hand_ms = _median_ms(hand_times, warmup)
    return {
        "backend": backend_name,
        "fit_ms": fit_ms,
        "handwritten_ms": hand_ms,
        "ratio": fit_ms / hand_ms,
        "fit_cycle_ms": 1000.0 * statistics.median(cycles) if cycles else None,
        "fit_quantiles_ms": _quantiles_ms(fit_times, warmup),
        "handwritten_quantiles_ms": _quantiles_ms(hand_times, warmup),
        "fit_first_step_ms": 1000.0 * fit_times[0],
        "handwritten_first_step_ms": 1000.0 * hand_times[0],
        "wall_s": wall,
        "steps_run": num_steps,
        "steps_timed": num_steps - warmup,
        "warmup": warmup,
        "epochs": epochs,
        "batches_per_epoch": batches_per_epoch,
        "jit_compile": getattr(model, "jit_compile", None),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "sanity": {
            "initial_weights_max_abs_diff": _max_diff(initial, restored),
            "first_step_fit": first_fit,
            "first_step_handwritten": first_hand,
            "last_epoch_mean_fit": {k: fit_last_epoch[k] for k in ("d_loss", "g_loss")},
            "last_epoch_mean_handwritten": hand_last_epoch,
            "final_weights_relative_diff": _relative_diff(fit_final, hand_final),
            "trained_weights_relative_change": _relative_diff(initial, fit_final),
            "finite": finite,
            "first_step_close": first_close,
            "last_epoch_same_range": last_close,
            "ok": finite and first_close and last_close,
        },
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count()},
        "versions": _versions(backend_name),
    }


# =====================================================================================
# --precision: fit() alone, per precision
# =====================================================================================
def _precision_model(name, precision):
    import keras

    import kgen

    keras.utils.set_random_seed(WEIGHT_SEED)
    if name == "dcgan":
        model = kgen.models.GAN.from_shape(SHAPE, base_filters=BASE_FILTERS, seed=SEED)
    else:
        model = kgen.models.Diffusion.from_shape(SHAPE, seed=SEED, **DIFFUSION)
    model.compile(precision=precision)
    return model


def _block_logs(backend_name):
    """Waits for the step's results: the logs (and, on JAX, the new training state)."""
    if backend_name == "jax":
        import jax

        return lambda logs, model: jax.block_until_ready(
            (logs, getattr(model, "_jax_state", None)))
    return lambda logs, model: [float(value) for value in logs.values()]


def run_precision(backend_name, models, precisions, steps, warmup, epochs):
    """fit()'s step time of each model in each precision on the active backend; a dict."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    if keras.backend.backend() != backend_name:
        raise SystemExit(f"run with KERAS_BACKEND={backend_name}.")
    batches = math.ceil(steps / epochs)
    x = np.random.default_rng(DATA_SEED).uniform(
        -1.0, 1.0, (BATCH * batches,) + SHAPE).astype("float32")
    load_before = os.getloadavg()
    results = {}
    for name in models:
        built, times, failed = {}, {}, {}
        for precision in precisions:
            try:
                built[precision] = _precision_model(name, precision)
                times[precision] = []
            except Exception as error:  # noqa: BLE001 - reported in the table
                failed[precision] = f"{type(error).__name__}: {str(error)[:200]}"
        for epoch in range(epochs):   # the precisions take turns, one epoch each
            for precision, model in list(built.items()):
                timer = _StepTimer(_block_logs(backend_name))
                try:
                    model.fit(x, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                              callbacks=[timer])
                except Exception as error:  # noqa: BLE001 - a precision the backend lacks
                    failed[precision] = f"{type(error).__name__}: {str(error)[:200]}"
                    del built[precision]
                    continue
                step_times = [e - b for b, e in zip(timer.begin, timer.end)]
                times[precision] += step_times[warmup:] if epoch == 0 else step_times
        results[name] = {
            precision: {"ms": _median_ms(times[precision], 0),
                        "quantiles_ms": _quantiles_ms(times[precision], 0),
                        "steps_timed": len(times[precision])}
            for precision in built}
        results[name].update({precision: {"failed": why} for precision, why in failed.items()})
    return {"backend": backend_name, "mode": "precision", "models": results,
            "precisions": list(precisions), "warmup": warmup, "epochs": epochs,
            "batches_per_epoch": batches,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "machine": {"platform": platform.platform(), "processor": platform.processor(),
                        "cpu_count": os.cpu_count()},
            "versions": _versions(backend_name)}


def precision_report(results, failures):
    precisions = results[0]["precisions"] if results else []
    base = precisions[0] if precisions else None
    header = "| backend | model | " + " | ".join(f"{p} ms/step" for p in precisions)
    header += "".join(f" | {p} / {base}" for p in precisions[1:]) + " |"
    lines = [header, "|---|---|" + "---:|" * (2 * len(precisions) - 1)]
    for r in results:
        for name, row in r["models"].items():
            cells = [_fmt(row[p]["ms"]) if "ms" in row[p] else "failed" for p in precisions]
            ratios = [_fmt(row[p]["ms"] / row[base]["ms"])
                      if "ms" in row[p] and "ms" in row[base] else "-" for p in precisions[1:]]
            lines.append(f"| {r['backend']} | {name} | " + " | ".join(cells + ratios) + " |")
    for name, why in failures:
        lines.append(f"| {name} | - | " + " | ".join(["failed"] * len(precisions)) + " |")
    lines.append("")
    if results:
        r0 = results[0]
        lines.append(
            f"fit() medians over the steps of {r0['epochs']} epochs x "
            f"{r0['batches_per_epoch']} batches of {BATCH} per precision (the precisions "
            f"alternate epoch by epoch), the first {r0['warmup']} steps of each left out; "
            f"DCGAN {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} base_filters {BASE_FILTERS}; diffusion "
            f"U-Net {DIFFUSION}.")
        lines += _machine_lines(results)
        for r in results:
            lines.append(f"- {r['backend']}: load average {r['loadavg_before'][0]:.2f} -> "
                         f"{r['loadavg_after'][0]:.2f}; p10/p90 (ms): " + "; ".join(
                             f"{name} {p} {_fmt(row[p]['quantiles_ms']['p10'])}/"
                             f"{_fmt(row[p]['quantiles_ms']['p90'])}"
                             for name, row in r["models"].items() for p in precisions
                             if "ms" in row[p]))
            for name, row in r["models"].items():
                for p in precisions:
                    if "failed" in row[p]:
                        lines.append(f"  - {name} {p} failed: {row[p]['failed']}")
    for name, why in failures:
        lines.append(f"- **{name}** failed: {why}")
    return "\n".join(lines)


# =====================================================================================
# Report
# =====================================================================================
def _machine_lines(results):
    """The machine and library versions of ``results``, one line each."""
    m = results[0]["machine"]
    versions = {}
    for r in results:
        versions.update(r["versions"])
    return [f"Machine: {m['platform']}, {m['processor'] or platform.machine()}, "
            f"{m['cpu_count']} CPUs.",
            "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."]


def _fmt(value, digits=2):
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def sanity_lines(result):
    s = result["sanity"]
    ff, fh = s["first_step_fit"], s["first_step_handwritten"]
    lf, lh = s["last_epoch_mean_fit"], s["last_epoch_mean_handwritten"]
    verdict = "OK" if s["ok"] else "CHECK"
    return [
        f"- **{result['backend']}** [{verdict}]: initial weights max |diff| "
        f"{s['initial_weights_max_abs_diff']:.1e}; first step (same batch, same noise) "
        f"d_loss {ff['d_loss']:.5f} (fit) vs {fh['d_loss']:.5f} (hand), "
        f"g_loss {ff['g_loss']:.5f} vs {fh['g_loss']:.5f}; last-epoch mean "
        f"d_loss {lf['d_loss']:.3f} vs {lh['d_loss']:.3f}, g_loss {lf['g_loss']:.3f} vs "
        f"{lh['g_loss']:.3f}; final weights relative diff {s['final_weights_relative_diff']:.1e} "
        f"(training moved them by {s['trained_weights_relative_change']:.1e}); "
        f"losses finite: {s['finite']}",
    ]


def report(results, failures):
    lines = ["| backend | kgen fit() ms/step | hand-written ms/step | ratio |",
             "|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['backend']} | {_fmt(r['fit_ms'])} | {_fmt(r['handwritten_ms'])} | "
                     f"{_fmt(r['ratio'])} |")
    for name, why in failures:
        lines.append(f"| {name} | failed | failed | - |")
    lines.append("")
    if results:
        r0 = results[0]
        lines.append(
            f"Median over {r0['steps_timed']} steps after {r0['warmup']} warm-up steps "
            f"({r0['epochs']} epochs x {r0['batches_per_epoch']} batches of {BATCH}); "
            f"DCGAN {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}, base_filters {BASE_FILTERS}, latent {LATENT}."
        )
        m = r0["machine"]
        lines += _machine_lines(results)
        lines.append(f"OMP_WAIT_POLICY={r0.get('omp_wait_policy')} (see benchmarks/README.md).")
        busiest = max(max(r["loadavg_before"][0], r["loadavg_after"][0]) for r in results)
        if busiest > 0.75 * (m["cpu_count"] or 1):
            lines.append(
                f"Warning: other processes were using the machine (1-minute load average up to "
                f"{busiest:.1f} on {m['cpu_count']} CPUs): absolute times are inflated and noisy."
            )
        lines.append("")
        lines.append("Details (ms; fit cycle = on_train_batch_begin to the next one, less the "
                     "hand-written step run in between; it also counts the data fetch):")
        lines.append("")
        for r in results:
            fq, hq = r["fit_quantiles_ms"], r["handwritten_quantiles_ms"]
            lines.append(
                f"- **{r['backend']}**: fit p10/p90 {_fmt(fq['p10'])}/{_fmt(fq['p90'])}, cycle "
                f"{_fmt(r['fit_cycle_ms'])}, first step {_fmt(r['fit_first_step_ms'], 0)} "
                f"(jit_compile={r['jit_compile']}); hand-written p10/p90 {_fmt(hq['p10'])}/"
                f"{_fmt(hq['p90'])}, first step {_fmt(r['handwritten_first_step_ms'], 0)}; "
                f"load average {r['loadavg_before'][0]:.2f} -> {r['loadavg_after'][0]:.2f}"
            )
        lines.append("")
        lines.append("Sanity check (both loops from the same weights, batches and noise):")
        lines.append("")
        for r in results:
            lines.extend(sanity_lines(r))
    for name, why in failures:
        lines.append(f"- **{name}** failed: {why}")
    return "\n".join(lines)


def run_all(args):
    results, failures = [], []
    for name in args.backends:
        env = dict(os.environ, KERAS_BACKEND=name)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        command = [sys.executable, os.path.abspath(__file__), "--backend", name, "--json",
                   "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--epochs", str(args.epochs)]
        if args.precision:
            command += ["--precision", *args.precision, "--models", *args.models]
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=args.timeout, cwd=ROOT)
        except subprocess.TimeoutExpired:
            failures.append((name, f"timed out after {args.timeout} s"))
            continue
        print(f"  {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        payload = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not payload:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
            print("\n".join(tail), file=sys.stderr)
            failures.append((name, f"exit status {proc.returncode}"))
            continue
        results.append(json.loads(payload[-1]))
    print(precision_report(results, failures) if args.precision else report(results, failures))
    return 1 if failures else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=BACKENDS,
                        help="run one backend in this process (KERAS_BACKEND must match)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                        help="backends to run, one subprocess each (without --backend)")
    parser.add_argument("--steps", type=int, default=60,
                        help="training steps each loop runs, warm-up included (default 60)")
    parser.add_argument("--warmup", type=int, default=10,
                        help="first steps left out of the median (compilation; default 10)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="fit() epochs the steps are spread over; the data holds "
                             "64 * ceil(steps / epochs) images (default 3)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS,
                        help="time fit() alone in each of these precisions (the first is the "
                             "reference of the ratios) instead of fit() against a "
                             "hand-written loop")
    parser.add_argument("--models", nargs="+", choices=PRECISION_MODELS,
                        default=list(PRECISION_MODELS), help="models of --precision")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds allowed per backend subprocess (default 600)")
    args = parser.parse_args(argv)
    # OpenMP threads (torch's CPU kernels) that spin while waiting turn every step into a
    # lottery when other processes share the cores (0.1 s to 3 s per step seen on 2 CPUs);
    # sleeping waits cost little on an idle machine. Set OMP_WAIT_POLICY to override.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.warmup < 0 or args.epochs < 1 or args.steps <= args.warmup:
        parser.error("need --epochs >= 1, --warmup >= 0 and --steps > --warmup")

    if args.backend is None:
        return run_all(args)
    if os.environ.get("KERAS_BACKEND") != args.backend:
        if "keras" in sys.modules:
            parser.error(f"set KERAS_BACKEND={args.backend} (keras is already imported)")
        os.environ["KERAS_BACKEND"] = args.backend
    if args.precision:
        result = run_precision(args.backend, args.models, args.precision, args.steps,
                               args.warmup, args.epochs)
        print(json.dumps(result) if args.json else precision_report([result], []))
        return 0
    result = run_backend(args.backend, args.steps, args.warmup, args.epochs)
    if args.json:
        print(json.dumps(result))
    else:
        print(report([result], []))
    return 0 if result["sanity"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
