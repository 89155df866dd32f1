"""Transformer prior vs PixelCNN prior over the same VQ-VAE codes, and cached vs uncached sampling.

Quality (on the active backend; JAX is the fastest to train on a CPU):

    KERAS_BACKEND=jax python benchmarks/token_transformer.py --part quality \
        [--run runs/token_transformer_digits] [--vq-epochs 40] [--prior-epochs 60] \
        [--num-samples 1000]

  One VQ-VAE (``<run>/vqvae.keras`` of recipes/token_transformer_digits.py, or trained
  here with the recipe's configuration) and two priors over its 4x4 code grids: the
  recipe's `kgen.models.TokenTransformer` (``<run>/prior.keras``, or trained here) and a
  `kgen.models.LatentPrior` (the gated PixelCNN of recipes/vqvae_digits.py, 32 filters,
  4 blocks, trained here for the same epochs). For each: the held-out negative
  log-likelihood of the codes of the digits test split (360 images, which none of the
  models trains on), in bits per code (exact for both), and the FID with kgen's offline
  digits classifier features between ``--num-samples`` samples (decoded by the same
  VQ-VAE decoder) and the test split. Two references beside them: uniform random codes
  (`kgen.models.VQVAE.generate`) and the VQ-VAE's reconstructions of training digits (the
  best FID this decoder allows).

Sampling speed (one subprocess per backend):

    python benchmarks/token_transformer.py --part speed [--backends jax tensorflow torch]

  Samples per second of `TokenTransformer.sample_codes` with the key/value cache
  (``sampler="cached"``: one token through the decoder per step) and without it
  (``"uncached"``: the whole sequence through the decoder per step), for sequences of 64
  codes (an 8x8 code grid: a VQ-VAE without downsampling on 8x8 images), the recipe's
  decoder (width 64, 4 blocks, 4 heads), ``--samples`` samples per call; median of
  ``--repeats`` timed calls after a first call that compiles. Both give the same samples
  for the same seed (checked).
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
parser.add_argument("--part", choices=("quality", "speed", "all"), default="all")
parser.add_argument("--backend", default=None, help="run the speed part in-process")
parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow", "torch"])
parser.add_argument("--json", action="store_true")
parser.add_argument("--run", default=None, help="a run folder of the recipe")
parser.add_argument("--vq-epochs", type=int, default=40)
parser.add_argument("--prior-epochs", type=int, default=60)
parser.add_argument("--num-samples", type=int, default=1000, help="samples for the FID")
parser.add_argument("--samples", type=int, default=16, help="samples per sampling call")
parser.add_argument("--length", type=int, default=64, choices=(16, 64),
                    help="codes per sequence of the speed part")
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()

#: One compute thread per backend for the speed part, so that the timings of a shared
#: machine measure the samplers rather than the threads' contention.
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
                 "TF_NUM_INTEROP_THREADS": "1",
                 "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
                              "intra_op_parallelism_threads=1"}
#: The transformer of recipes/token_transformer_digits.py.
TRANSFORMER = dict(width=64, num_layers=4, num_heads=4, dropout=0.1)


class Reconstructions:
    """The VQ-VAE's reconstructions of random training digits, as a "model" to score."""

    def __init__(self, vqvae, images):
        self.vqvae, self.images = vqvae, images

    def generate(self, num_samples, seed=None):
        import numpy as np

        index = np.random.default_rng(seed).integers(0, len(self.images), num_samples)
        return self.vqvae.reconstruct(self.images[index])


def quality_table():
    import keras
    import numpy as np

    import kgen

    keras.utils.set_random_seed(0)
    train = kgen.data.load("digits", split="train")
    test = kgen.data.load("digits", split="test")
    data = kgen.data.images(train, batch_size=64, seed=0)
    run = args.run
    if run and os.path.exists(os.path.join(run, "vqvae.keras")):
        vqvae = keras.saving.load_model(os.path.join(run, "vqvae.keras"))
        vq_source = os.path.join(run, "vqvae.keras")
    else:
        vqvae = kgen.models.VQVAE.from_shape(train.shape[1:], num_embeddings=32,
                                             embedding_dim=16, base_filters=32, seed=0)
        vqvae.compile(optimizer=keras.optimizers.Adam(1e-3))
        vqvae.fit(data, epochs=args.vq_epochs, verbose=0)
        vq_source = f"trained here, {args.vq_epochs} epochs"
    if run and os.path.exists(os.path.join(run, "prior.keras")):
        transformer = keras.saving.load_model(os.path.join(run, "prior.keras"))
        tt_source = os.path.join(run, "prior.keras")
    else:
        transformer = kgen.models.TokenTransformer.from_vqvae(vqvae, seed=0, **TRANSFORMER)
        transformer.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.01))
        transformer.fit(data, epochs=args.prior_epochs, verbose=0)
        tt_source = f"trained here, {args.prior_epochs} epochs"
    # The PixelCNN prior over the transformer's own VQ-VAE (the same decoder).
    pixelcnn = kgen.models.LatentPrior.from_vqvae(transformer.vqvae, filters=32, num_layers=4,
                                                  seed=0)
    pixelcnn.compile(optimizer=keras.optimizers.Adam(1e-3))
    pixelcnn.fit(data, epochs=args.prior_epochs, verbose=0)

    def fid(model):
        metric = kgen.metrics.FrechetInceptionDistance("digits")
        start = time.perf_counter()
        value = kgen.metrics.compute_metric(model, metric, args.num_samples, data=test,
                                            batch_size=args.num_samples, seed=0)
        return float(value), time.perf_counter() - start

    rows = []
    for name, model, network in (
            ("TokenTransformer (cached sampler)", transformer, transformer.network),
            ("LatentPrior (gated PixelCNN)", pixelcnn, pixelcnn.prior.network)):
        value, seconds = fid(model)
        rows.append((name, network.count_params(), model.bits_per_code(test),
                     model.bits_per_code(train), value, seconds))
    uniform = float(np.log2(transformer.vqvae.num_embeddings))
    reference = [("uniform codes", uniform, fid(transformer.vqvae)[0]),
                 ("VQ-VAE reconstructions of training digits", None,
                  fid(Reconstructions(transformer.vqvae, train))[0])]
    print(f"VQ-VAE: {vq_source}; transformer: {tt_source}; PixelCNN prior: trained here, "
          f"{args.prior_epochs} epochs. FID: {args.num_samples} samples vs the "
          f"{len(test)} test digits, digits classifier features.\n")
    print("| prior | parameters | test bits/code | train bits/code | digits-FID | "
          "sampling + FID time (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, params, test_bits, train_bits, value, seconds in rows:
        print(f"| {name} | {params:,} | {test_bits:.3f} | {train_bits:.3f} | {value:.2f} | "
              f"{seconds:.1f} |")
    for name, bits, value in reference:
        print(f"| {name} | - | {'-' if bits is None else f'{bits:.3f}'} | - | {value:.2f} | - |")
    print(f"\nbackend {keras.backend.backend()}, {platform.platform()}, {os.cpu_count()} CPUs, "
          f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


def speed_one_backend():
    import keras
    import numpy as np

    import kgen

    downsamples = 0 if args.length == 64 else 1
    vqvae = kgen.models.VQVAE.from_shape((8, 8, 1), num_embeddings=32, embedding_dim=16,
                                         base_filters=32, downsamples=downsamples, seed=0)
    model = kgen.models.TokenTransformer.from_vqvae(vqvae, seed=0, **TRANSFORMER)
    result = {"backend": keras.backend.backend(), "samples": args.samples,
              "length": model.sequence_length}
    samplers = ("cached", "uncached")
    codes, times = {}, {sampler: [] for sampler in samplers}
    for sampler in samplers:
        start = time.perf_counter()
        codes[sampler] = model.sample_codes(args.samples, seed=0, sampler=sampler)
        result[sampler] = {"first_call_seconds": time.perf_counter() - start}
    # Interleaved, so that both samplers meet the same load; the fastest call of each.
    for repeat in range(args.repeats):
        for sampler in samplers:
            start = time.perf_counter()
            model.sample_codes(args.samples, seed=1 + repeat, sampler=sampler)
            times[sampler].append(time.perf_counter() - start)
    for sampler in samplers:
        seconds = float(np.min(times[sampler]))
        result[sampler].update(seconds=seconds, samples_per_second=args.samples / seconds,
                               median_seconds=float(np.median(times[sampler])))
    result["same_samples"] = bool((codes["cached"] == codes["uncached"]).all())
    return result


def speed_table():
    results = []
    for name in args.backends:
        env = dict(os.environ, KERAS_BACKEND=name, **SINGLE_THREAD)
        command = [sys.executable, __file__, "--part", "speed", "--backend", name, "--json",
                   "--samples", str(args.samples), "--repeats", str(args.repeats),
                   "--length", str(args.length)]
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode or not lines:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        results.append(json.loads(lines[-1]))
    print(f"Samples per second, {args.samples} samples of {args.length} codes per call, one "
          f"thread (fastest of {args.repeats} timed calls, the samplers interleaved; the "
          "first call compiles):\n")
    print("| backend | uncached | cached (key/value cache) | cached / uncached | "
          "first call uncached / cached (s) | same samples |")
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        cached, uncached = r["cached"], r["uncached"]
        print(f"| {r['backend']} | {uncached['samples_per_second']:.1f} | "
              f"{cached['samples_per_second']:.1f} | "
              f"{cached['samples_per_second'] / uncached['samples_per_second']:.1f}x | "
              f"{uncached['first_call_seconds']:.1f} / {cached['first_call_seconds']:.1f} | "
              f"{'yes' if r['same_samples'] else 'NO'} |")
    print(f"\n{platform.platform()}, {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if args.part == "speed" and args.backend:
    result = speed_one_backend()
    print(json.dumps(result) if args.json else result)
else:
    if args.part in ("quality", "all"):
        quality_table()
    if args.part in ("speed", "all"):
        speed_table()
