"""Denoising diffusion on the handwritten digits bundled with scikit-learn (8x8, grayscale).

Run:  KERAS_BACKEND=jax python recipes/diffusion_digits.py [--epochs 80] [--out runs/diffusion_digits]
      KERAS_BACKEND=jax python recipes/diffusion_digits.py --conditional --out runs/diffusion_digits_cond

Trains on the fixed training split (80%). Writes model.keras, log.csv, a grid of 64
samples (DDIM, 50 steps) and a denoising trajectory (x_t along the DDIM chain, one row
per sample, noise on the left, data on the right). With ``--conditional`` the model is
class-conditional (labels dropped to the null class 10% of the time) and the grid has
one row per class, sampled with classifier-free guidance (``--guidance``).
Ho et al. (2020), Nichol & Dhariwal (2021), Song et al. (2021), Ho & Salimans (2022).
"""

import argparse
import os
import time

import keras
import numpy as np

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=80)
parser.add_argument("--conditional", action="store_true")
parser.add_argument("--guidance", type=float, default=2.0)
parser.add_argument("--timesteps", type=int, default=1000)
parser.add_argument("--base-filters", type=int, default=16)
parser.add_argument("--channel-multipliers", type=int, nargs="+", default=[1, 2])
parser.add_argument("--num-res-blocks", type=int, default=1)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/diffusion_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

x, y = kgen.data.load("digits", split="train", return_labels=True)
num_classes = 10 if args.conditional else None
dataset = kgen.data.images(x, batch_size=64, labels=y if args.conditional else None,
                           seed=args.seed)

# A U-Net sized for a 2-core CPU (16 filters at 8x8, 32 at 4x4 with attention, one residual
# block per level; --base-filters 32 --channel-multipliers 1 2 2 --num-res-blocks 2 is
# better and about 10 times slower), cosine schedule (gentler on small images than the linear one), noise
# prediction, EMA 0.999 of the weights.
model = kgen.models.Diffusion.from_shape(
    x.shape[1:], num_classes=num_classes, base_filters=args.base_filters,
    channel_multipliers=args.channel_multipliers, num_res_blocks=args.num_res_blocks,
    timesteps=args.timesteps, schedule="cosine", seed=args.seed)
model.compile(optimizer=keras.optimizers.Adam(1e-3))


start = time.time()
model.fit(
    dataset,
    epochs=args.epochs,
    verbose=2,
    callbacks=[
        kgen.callbacks.StopOnNaN(),
        kgen.callbacks.Checkpoint(os.path.join(args.out, "model.keras")),
        keras.callbacks.CSVLogger(os.path.join(args.out, "log.csv")),
    ],
)
print(f"Trained for {time.time() - start:.0f} s.")

# Samples: DDIM with 50 steps (deterministic given the seed).
if args.conditional:
    labels = np.repeat(np.arange(10), 10)   # one row per class
    samples = model.generate(seed=args.seed, labels=labels, guidance_scale=args.guidance, steps=50)
    kgen.images.save_grid(samples, os.path.join(args.out, "samples.png"), ncols=10)
else:
    labels = None
    samples = model.generate(64, seed=args.seed, steps=50)
    kgen.images.save_grid(samples, os.path.join(args.out, "samples.png"))

# The denoising trajectory: x_t at 10 timesteps of the DDIM chain, for 8 samples.
row_labels = None if labels is None else np.arange(8)
visited, frames = model.denoising_trajectory(
    8, seed=args.seed + 1, steps=50, labels=row_labels,
    guidance_scale=None if labels is None else args.guidance)
picked = np.linspace(0, len(visited) - 1, 10).round().astype(int)
tiles = np.clip(frames[picked], -1, 1).transpose(1, 0, 2, 3, 4).reshape((-1,) + x.shape[1:])
kgen.images.save_grid(tiles, os.path.join(args.out, "trajectory.png"), ncols=len(picked))
print("trajectory timesteps:", [int(visited[i]) for i in picked])
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
