"""Test-set likelihood (bits/dim) of PixelCNN and VAE on the digits, and PixelCNN sampling speed.

Likelihood (on the active backend; JAX is the fastest to train on a CPU):

    KERAS_BACKEND=jax python benchmarks/likelihood.py --part likelihood \
        [--pixelcnn-runs /tmp/pcnn_runs] [--epochs 40] [--vae-epochs 100] [--iwae-samples 1000]

  On the held-out digits (``kgen.data.load("digits", split="test")``, 360 images):

  - binarised digits (pixel > 127 is 1): PixelCNN with 2 levels (exact log-probability)
    and a VAE with a Bernoulli decoder (IWAE bound, `VAE.log_likelihood`), both in bits
    per binary dimension;
  - 8-bit digits: PixelCNN with 256 levels (exact) and a VAE with a Gaussian decoder on
    dequantised data (IWAE bound, the ``log 127.5`` offset of `kgen.metrics.bits_per_dim`),
    both on the 0..255 scale.

  PixelCNN models come from ``recipes/pixelcnn_digits.py`` (``<runs>/L2/model.keras`` and
  ``<runs>/L256/model.keras``) when ``--pixelcnn-runs`` is given, else are trained here with
  the recipe's configuration.

Sampling speed (one subprocess per backend):

    python benchmarks/likelihood.py --part speed [--backends jax tensorflow torch]

  Samples per second of the three loops of `kgen.samplers.autoregressive` on the recipe's
  8x8 network (256 levels, 4 gated blocks of 32 filters, kernel 5), 16 samples per call:
  ``naive`` (a Python loop running the network eagerly once per pixel), ``compiled`` (one
  compiled ``fori_loop`` running the whole network per pixel) and ``fast`` (row by row:
  the vertical stack once per row, the horizontal stack on one row per pixel). All three
  give the same samples for the same seed (checked).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

parser = argparse.ArgumentParser()
parser.add_argument("--part", choices=("likelihood", "speed", "all"), default="all")
parser.add_argument("--backend", default=None, help="run the speed part in-process")
parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow", "torch"])
parser.add_argument("--json", action="store_true")
parser.add_argument("--pixelcnn-runs", default=None)
parser.add_argument("--epochs", type=int, default=40, help="PixelCNN epochs if trained here")
parser.add_argument("--vae-epochs", type=int, default=100)
parser.add_argument("--iwae-samples", type=int, default=1000)
parser.add_argument("--samples", type=int, default=16, help="samples per sampling call")
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()


def pixelcnn_config(levels):
    return dict(num_levels=levels, filters=32, num_layers=4, kernel_size=5, seed=0)


def likelihood_table():
    import keras
    import numpy as np

    import kgen
    from kgen.metrics import bits_per_dim, dequantize

    keras.utils.set_random_seed(0)
    train = kgen.data.load("digits", split="train")
    test = kgen.data.load("digits", split="test")
    dims = int(np.prod(test.shape[1:]))
    rows = []

    def binarise(x):
        return np.where(x > 127, 1.0, -1.0).astype("float32")

    for levels in (2, 256):
        path = args.pixelcnn_runs and os.path.join(args.pixelcnn_runs, f"L{levels}", "model.keras")
        if path and os.path.exists(path):
            model, source = keras.saving.load_model(path), path
        else:
            model = kgen.models.PixelCNN.from_shape(train.shape[1:], **pixelcnn_config(levels))
            model.compile(optimizer=keras.optimizers.Adam(2e-3))
            model.fit(kgen.data.images(train, seed=0), epochs=args.epochs, verbose=0)
            source = f"trained here, {args.epochs} epochs"
        data = "binarised" if levels == 2 else "8-bit"
        rows.append((f"PixelCNN ({levels} levels)", data, "exact", model.bits_per_dim(test),
                     source))

    vae = kgen.models.VAE.from_shape(train.shape[1:], latent_dim=8, likelihood="bernoulli",
                                     seed=0)
    vae.compile()
    vae.fit(kgen.data.images(binarise(train), seed=0), epochs=args.vae_epochs, verbose=0)
    log_p = vae.log_likelihood(binarise(test), num_samples=args.iwae_samples, seed=0)
    rows.append(("VAE (Bernoulli decoder)", "binarised", f"IWAE, K={args.iwae_samples}",
                 bits_per_dim(-log_p.mean(), dims, scale=1), f"{args.vae_epochs} epochs"))

    vae = kgen.models.VAE.from_shape(train.shape[1:], latent_dim=8, likelihood="gaussian",
                                     seed=0)
    vae.compile()
    # Fresh dequantisation noise in each of 4 copies of the training set.
    noisy = np.concatenate([dequantize(train, seed=s) for s in range(4)])
    vae.fit(kgen.data.images(np.clip(noisy, -1, 1), seed=0), epochs=max(1, args.vae_epochs // 4),
            verbose=0)
    log_p = vae.log_likelihood(dequantize(test, seed=100), num_samples=args.iwae_samples, seed=0)
    rows.append(("VAE (Gaussian decoder)", "8-bit, dequantised", f"IWAE, K={args.iwae_samples}",
                 bits_per_dim(-log_p.mean(), dims), f"{max(1, args.vae_epochs // 4)} epochs "
                 "of 4 dequantised copies"))

    print("| model | test data | likelihood | test bits/dim | model |")
    print("|---|---|---|---:|---|")
    for name, data, kind, bits, source in rows:
        print(f"| {name} | {data} | {kind} | {bits:.3f} | {source} |")


def speed_one_backend():
    import keras
    import numpy as np

    import kgen

    model = kgen.models.PixelCNN.from_shape((8, 8, 1), **pixelcnn_config(256))
    result = {"backend": keras.backend.backend(), "samples": args.samples}
    reference = None
    for sampler in ("fast", "compiled", "naive"):
        start = time.perf_counter()
        first = model.sample_levels(args.samples, seed=0, sampler=sampler)
        first_time = time.perf_counter() - start
        times = []
        repeats = 1 if sampler == "naive" else args.repeats
        for _ in range(repeats):
            start = time.perf_counter()
            model.sample_levels(args.samples, seed=1, sampler=sampler)
            times.append(time.perf_counter() - start)
        if sampler == "naive":
            times = [min(times[0], first_time)]
        seconds = float(np.median(times))
        result[sampler] = {"seconds": seconds, "samples_per_second": args.samples / seconds,
                           "first_call_seconds": first_time}
        if reference is None:
            reference = first
        result[sampler]["same_samples_as_fast"] = bool((first == reference).all())
    return result


def speed_table():
    results = []
    for name in args.backends:
        env = dict(os.environ, KERAS_BACKEND=name)
        command = [sys.executable, __file__, "--part", "speed", "--backend", name, "--json",
                   "--samples", str(args.samples), "--repeats", str(args.repeats)]
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode or not lines:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        results.append(json.loads(lines[-1]))
    print(f"Samples per second, {args.samples} samples of 8x8x1 (256 levels) per call "
          "(median of the timed calls; first call includes compilation):\n")
    print("| backend | naive | compiled loop | fast (row cache) | fast / compiled | "
          "first call compiled / fast (s) | same samples |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        same = all(r[s]["same_samples_as_fast"] for s in ("compiled", "naive"))
        print(f"| {r['backend']} | {r['naive']['samples_per_second']:.2f} | "
              f"{r['compiled']['samples_per_second']:.2f} | {r['fast']['samples_per_second']:.2f} | "
              f"{r['fast']['samples_per_second'] / r['compiled']['samples_per_second']:.1f}x | "
              f"{r['compiled']['first_call_seconds']:.1f} / {r['fast']['first_call_seconds']:.1f} | "
              f"{'yes' if same else 'NO'} |")
    print(f"\n{platform.platform()}, {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if args.part == "speed" and args.backend:
    result = speed_one_backend()
    print(json.dumps(result) if args.json else result)
else:
    if args.part in ("likelihood", "all"):
        likelihood_table()
    if args.part in ("speed", "all"):
        speed_table()
