"""Texture synthesis by matching VGG-19 Gram matrices (Gatys et al. 2015).

Run:  KERAS_BACKEND=torch python recipes/texture_synthesis.py [--texture gravel] [--size 64]
          [--steps 300] [--out runs/texture_synthesis]

Uses VGG-19's ImageNet weights when they can be had (downloaded once into ~/.keras/models),
and a randomly initialised VGG-19 otherwise (Ustyuzhaninov et al. 2017); prints which. Writes
texture_synthesis.png: the example, the starting noise and the synthesised texture.
"""

import argparse
import os
import time

import keras
import numpy as np

import kgen
from kgen.models.style import DEFAULT_STYLE_LAYERS
from kgen.networks import vgg19_features

parser = argparse.ArgumentParser()
parser.add_argument("--texture", default="gravel", choices=kgen.data.BUNDLED_IMAGES)
parser.add_argument("--size", type=int, default=64)
parser.add_argument("--steps", type=int, default=300)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the starting noise (and of random VGG-19 weights)")
parser.add_argument("--out", default="runs/texture_synthesis")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

try:
    extractor = vgg19_features(DEFAULT_STYLE_LAYERS, weights="imagenet")
    print("VGG-19 weights: ImageNet")
except RuntimeError as error:
    print(f"VGG-19 weights: random (seed {args.seed}); ImageNet weights unavailable:\n  {error}")
    extractor = vgg19_features(DEFAULT_STYLE_LAYERS, weights=None, seed=args.seed)

texture = kgen.data.load_image(args.texture, size=args.size, channels=3)
model = kgen.models.TextureSynthesis(texture, extractor=extractor, seed=args.seed)
start = model.generate()
began = time.time()
history = model.fit(steps=args.steps, verbose=2).history
print(f"{args.steps} steps in {time.time() - began:.0f} s; style loss averaged over the "
      f"last epoch: {history['style'][-1]:.4f}")

example = kgen.data.to_data_space(texture[None])
path = os.path.join(args.out, "texture_synthesis.png")
kgen.images.save_grid(np.stack([example[0], start[0], model.generate()[0]]), path, ncols=3, scale=2)
print("Wrote", path)
