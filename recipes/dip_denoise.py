"""Deep Image Prior denoising (Ulyanov et al. 2018) of a bundled photograph.

Run:  KERAS_BACKEND=torch python recipes/dip_denoise.py [--image astronaut] [--size 64]
          [--sigma 0.2] [--steps 800] [--out runs/dip_denoise]

Adds Gaussian noise of std ``sigma`` in data space (0.2 is 25.5 on the 0..255 scale, the
paper's sigma=25), fits the skip network to the noisy image, and records the PSNR against
the clean image every 50 steps (kgen.callbacks.PSNR). Writes dip_denoise.png (clean, noisy,
restored at the best step) and dip_denoise_psnr.csv.
"""

import argparse
import os
import time

import keras
import numpy as np

import kgen
from kgen.metrics import psnr

parser = argparse.ArgumentParser()
parser.add_argument("--image", default="astronaut", choices=kgen.data.BUNDLED_IMAGES)
parser.add_argument("--size", type=int, default=64)
parser.add_argument("--sigma", type=float, default=0.2)
parser.add_argument("--steps", type=int, default=800)
parser.add_argument("--width", type=int, default=32)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the input code and the added noise")
parser.add_argument("--out", default="runs/dip_denoise")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

clean = kgen.data.to_data_space(kgen.data.load_image(args.image, size=args.size)[None])
noise = args.sigma * np.random.default_rng(args.seed).normal(size=clean.shape)
noisy = np.clip(clean + noise, -1.0, 1.0).astype("float32")
print(f"noisy image: PSNR {psnr(noisy, clean):.2f} dB")

network = kgen.networks.skip_network(32, clean.shape[-1], down_channels=(args.width,) * 4,
                                     skip_channels=(4,) * 4)
dip = kgen.models.DeepImagePrior(noisy, network=network, seed=args.seed)
tracker = kgen.callbacks.PSNR(clean, every_n_steps=50)
began = time.time()
dip.fit(epochs=args.steps // 50, steps_per_epoch=50, verbose=2, callbacks=[
    tracker,
    # Keeps the weights of the best epoch: with a clean reference this is the oracle
    # early stopping of the paper's figures.
    keras.callbacks.EarlyStopping("psnr", mode="max", patience=args.steps, verbose=0,
                                  restore_best_weights=True),
])
best_step, best = tracker.best
print(f"{args.steps} steps in {time.time() - began:.0f} s; best PSNR {best:.2f} dB at step "
      f"{best_step}; last {tracker.history[-1][1]:.2f} dB")

with open(os.path.join(args.out, "dip_denoise_psnr.csv"), "w") as f:
    f.write("step,psnr\n")
    f.writelines(f"{step},{value:.3f}\n" for step, value in tracker.history)
path = os.path.join(args.out, "dip_denoise.png")
kgen.images.save_grid(np.stack([clean[0], noisy[0], dip.generate()[0]]), path, ncols=3, scale=2)
print("Wrote", path)
