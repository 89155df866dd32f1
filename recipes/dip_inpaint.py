"""Deep Image Prior inpainting (Ulyanov et al. 2018): half the pixels of a photograph missing.

Run:  KERAS_BACKEND=torch python recipes/dip_inpaint.py [--image coffee] [--size 64]
          [--missing 0.5] [--steps 600] [--out runs/dip_inpaint]

Removes a random fraction of the pixels (the paper's "restoration" experiment), fits the
skip network to the known pixels only, and reports the PSNR of the missing pixels against
the original. Writes dip_inpaint.png (original, observed with the missing pixels black,
restored).
"""

import argparse
import os
import time

import keras
import numpy as np

import kgen
from kgen.metrics import psnr

parser = argparse.ArgumentParser()
parser.add_argument("--image", default="coffee", choices=kgen.data.BUNDLED_IMAGES)
parser.add_argument("--size", type=int, default=64)
parser.add_argument("--missing", type=float, default=0.5)
parser.add_argument("--steps", type=int, default=600)
parser.add_argument("--width", type=int, default=32)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the input code and the missing pixels")
parser.add_argument("--out", default="runs/dip_inpaint")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

original = kgen.data.to_data_space(kgen.data.load_image(args.image, size=args.size)[None])
mask = (np.random.default_rng(args.seed).uniform(size=original.shape[1:3]) >= args.missing)
mask = mask.astype("float32")
observed = original * mask[None, :, :, None] - (1.0 - mask[None, :, :, None])  # missing: black

network = kgen.networks.skip_network(32, original.shape[-1], down_channels=(args.width,) * 4,
                                     skip_channels=(4,) * 4)
dip = kgen.models.DeepImagePrior(observed, mask=mask, task="inpaint", network=network,
                                 input_noise_std=0.0, seed=args.seed)
began = time.time()
dip.fit(steps=args.steps, verbose=2)
restored = dip.generate()
hole = mask == 0
print(f"{args.steps} steps in {time.time() - began:.0f} s; PSNR on the missing pixels: "
      f"{psnr(restored[0][hole], original[0][hole]):.2f} dB (black: "
      f"{psnr(observed[0][hole], original[0][hole]):.2f} dB); whole image "
      f"{psnr(restored, original):.2f} dB")
path = os.path.join(args.out, "dip_inpaint.png")
kgen.images.save_grid(np.stack([original[0], observed[0], restored[0]]), path, ncols=3, scale=2)
print("Wrote", path)
