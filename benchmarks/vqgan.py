"""VQ-GAN against VQ-VAE, and the diffusion transformer against the U-Net, on the digits.

Two parts, on the active backend (JAX is the fastest to train on a CPU):

    KERAS_BACKEND=jax python benchmarks/vqgan.py --part vq  [--epochs 30]
    KERAS_BACKEND=jax python benchmarks/vqgan.py --part dit [--dit-epochs 40]

``--part vq``: a `kgen.models.VQVAE` and `kgen.models.VQGAN` variants with the same
encoder, decoder and codebook (32 codes of 16 values, 4x4 grids of codes for the 8x8
digits), trained for ``--epochs`` on the training split (1,437 digits, batches of 64).
On the 360 held-out digits: the reconstruction's mean squared error (data space,
the reconstructions clipped to [-1, 1]), its reconstruction FID (the Fréchet distance of the offline digits
classifier's features of the reconstructions and of the originals, as
``kgen evaluate --metric fid`` measures digits) and the codebook's perplexity; and the
training step's time. The VQ-GAN's perceptual term uses random VGG-19 features
(``perceptual_weights="random"``) unless ``--perceptual-weights`` names the ImageNet
weights (``imagenet``, cached or downloadable) or a file.

``--part dit``: `kgen.models.Diffusion` with the U-Net of ``recipes/diffusion_digits.py``
(16 filters, levels 1x and 2x, one residual block each) and with diffusion transformers
of about the same number of weights, trained alike (cosine schedule, 1,000 steps,
Adam 1e-3, EMA 0.999) for ``--dit-epochs``. FID (digits features) of ``--num-samples``
samples (DDIM, 50 steps, eta 1) against the 360 test digits, and the training step's
time (the median of the epochs after the first, which compiles the step, divided by
the steps per epoch). ``--grid DIR`` writes 64 samples (seed 0) of each network there.

Prints Markdown tables (``--json``: one JSON line).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--part", choices=("vq", "dit", "all"), default="all")
parser.add_argument("--epochs", type=int, default=30, help="epochs of the VQ models")
parser.add_argument("--dit-epochs", type=int, default=40, help="epochs of the diffusion models")
parser.add_argument("--num-embeddings", type=int, default=32)
parser.add_argument("--discriminator-start", type=int, default=230,
                    help="VQ-GAN steps before the adversarial loss (230: 10 epochs)")
parser.add_argument("--perceptual-weights", default="random")
parser.add_argument("--num-samples", type=int, default=1000)
parser.add_argument("--grid", default=None,
                    help="a folder: writes 64 samples (seed 0) of each diffusion network")
parser.add_argument("--json", action="store_true")
args = parser.parse_args()

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kgen  # noqa: E402

BATCH = 64


class EpochTimes(keras.callbacks.Callback):
    """Wall time of every epoch."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def train(model, x, epochs, y=None, **compile_options):
    """Fits ``model``; returns the milliseconds per step (median epoch after the first)."""
    model.compile(**compile_options)
    times = EpochTimes()
    data = kgen.data.images(x, batch_size=BATCH, labels=y, seed=0)
    model.fit(data, epochs=epochs, verbose=0, callbacks=[times, kgen.callbacks.StopOnNaN()])
    steps = -(-len(x) // BATCH)
    later = times.times[1:] or times.times
    return 1000.0 * statistics.median(later) / steps


def digits_fid(real, generated):
    metric = kgen.metrics.FrechetInceptionDistance("digits")
    metric.update_state(real=real)
    metric.update_state(generated=generated)
    return float(keras.ops.convert_to_numpy(metric.result()))


# ----------------------------------------------------------------------- VQ
def vq_models():
    common = dict(num_embeddings=args.num_embeddings, embedding_dim=16, base_filters=32,
                  seed=0)

    def adam():
        return {"optimizer": keras.optimizers.Adam(1e-3)}

    def gan_adam():
        return {"model_optimizer": keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9),
                "discriminator_optimizer": keras.optimizers.Adam(2e-4, beta_1=0.5,
                                                                 beta_2=0.9)}

    gan = dict(common, discriminator_start=args.discriminator_start, discriminator_layers=2)
    yield "VQ-VAE (MSE)", lambda shape: kgen.models.VQVAE.from_shape(shape, **common), adam
    yield ("VQ-GAN, L1 + perceptual, no adversarial term",
           lambda shape: kgen.models.VQGAN.from_shape(
               shape, perceptual_weights=args.perceptual_weights, adversarial_weight=0.0,
               **gan), gan_adam)
    yield ("VQ-GAN, L1 + adversarial, no perceptual term",
           lambda shape: kgen.models.VQGAN.from_shape(shape, perceptual_weights="none", **gan),
           gan_adam)
    yield ("VQ-GAN, L2 + adversarial, no perceptual term",
           lambda shape: kgen.models.VQGAN.from_shape(shape, perceptual_weights="none",
                                                      pixel_loss="l2", **gan), gan_adam)
    yield ("VQ-GAN, L1 + perceptual + adversarial",
           lambda shape: kgen.models.VQGAN.from_shape(
               shape, perceptual_weights=args.perceptual_weights, **gan), gan_adam)


def vq_part():
    train_x = kgen.data.load("digits", split="train")
    test_x = kgen.data.to_data_space(kgen.data.load("digits", split="test"))
    rows = []
    for name, build, optimizers in vq_models():
        keras.utils.set_random_seed(0)
        model = build(train_x.shape[1:])
        start = time.perf_counter()
        ms = train(model, train_x, args.epochs, **optimizers())
        seconds = time.perf_counter() - start
        # The decoders are linear: images are clipped to [-1, 1], as when they are shown.
        reconstructions = np.clip(model.reconstruct(test_x), -1.0, 1.0)
        counts = np.bincount(model.encode(test_x).ravel(), minlength=model.num_embeddings)
        p = counts / counts.sum()
        row = {"model": name, "mse": float(np.mean((reconstructions - test_x) ** 2)),
               "rfid": digits_fid(test_x, reconstructions),
               "perplexity": float(np.exp(-np.sum(p[p > 0] * np.log(p[p > 0])))),
               "ms_per_step": ms, "seconds": seconds}
        rows.append(row)
        if not args.json:
            print(row, flush=True)
    return rows


# ---------------------------------------------------------------------- DiT
def diffusion_models():
    common = dict(timesteps=1000, schedule="cosine", seed=0)
    yield "U-Net (16 filters, 1x/2x, 1 block)", dict(
        base_filters=16, channel_multipliers=(1, 2), num_res_blocks=1, **common)
    yield "DiT (patch 2, width 48, depth 4, 4 heads)", dict(
        network="dit", patch_size=2, width=48, depth=4, num_heads=4, **common)
    yield "DiT (patch 2, width 64, depth 2, 4 heads)", dict(
        network="dit", patch_size=2, width=64, depth=2, num_heads=4, **common)


def dit_part():
    train_x = kgen.data.load("digits", split="train")
    test_x = kgen.data.load("digits", split="test")
    rows = []
    for name, options in diffusion_models():
        keras.utils.set_random_seed(0)
        model = kgen.models.Diffusion.from_shape(train_x.shape[1:], **options)
        start = time.perf_counter()
        ms = train(model, train_x, args.dit_epochs, optimizer=keras.optimizers.Adam(1e-3))
        seconds = time.perf_counter() - start
        metric = kgen.metrics.FrechetInceptionDistance("digits")
        sampler = kgen.samplers.DDIM(steps=50, eta=1.0)

        class Sampled:
            def generate(self, num_samples, seed=None):
                return model.generate(num_samples, seed=seed, sampler=sampler,
                                      batch_size=500)

        fid = kgen.callbacks.compute_metric(Sampled(), metric, args.num_samples, data=test_x,
                                            batch_size=args.num_samples, seed=0)
        if args.grid:
            os.makedirs(args.grid, exist_ok=True)
            kgen.images.save_grid(Sampled().generate(64, seed=0),
                                  os.path.join(args.grid, f"{options.get('network', 'unet')}_"
                                               f"{len(rows)}.png"))
        row = {"model": name, "parameters": int(model.network.count_params()),
               "fid": float(fid), "ms_per_step": ms, "seconds": seconds}
        rows.append(row)
        if not args.json:
            print(row, flush=True)
    return rows


if __name__ == "__main__":
    results = {"backend": keras.backend.backend()}
    if args.part in ("vq", "all"):
        results["vq"] = vq_part()
    if args.part in ("dit", "all"):
        results["dit"] = dit_part()
    if args.json:
        print(json.dumps(results))
        sys.exit(0)
    machine = (f"{platform.platform()}, {os.cpu_count()} CPUs, load average "
               f"{os.getloadavg()[0]:.1f}; keras {keras.__version__}, backend "
               f"{results['backend']}")
    if "vq" in results:
        print(f"\nVQ models, {args.epochs} epochs; {args.num_embeddings} codes; perceptual "
              f"weights {args.perceptual_weights!r}; {machine}\n")
        print("| model | test MSE | reconstruction FID (digits) | perplexity | ms/step |")
        print("|---|---:|---:|---:|---:|")
        for row in results["vq"]:
            print(f"| {row['model']} | {row['mse']:.4f} | {row['rfid']:.2f} | "
                  f"{row['perplexity']:.1f} | {row['ms_per_step']:.1f} |")
    if "dit" in results:
        print(f"\nDiffusion networks, {args.dit_epochs} epochs; FID of {args.num_samples} "
              f"samples (DDIM-50, eta 1) vs the 360 test digits; {machine}\n")
        print("| network | weights | digits-FID | ms/step |")
        print("|---|---:|---:|---:|")
        for row in results["dit"]:
            print(f"| {row['model']} | {row['parameters']:,} | {row['fid']:.2f} | "
                  f"{row['ms_per_step']:.1f} |")
