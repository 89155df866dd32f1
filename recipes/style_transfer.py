"""Neural style transfer (Gatys et al. 2016): a photograph in the style of a texture.

Run:  KERAS_BACKEND=torch python recipes/style_transfer.py [--content astronaut] [--style gravel]
          [--size 64] [--steps 200] [--out runs/style_transfer]

Uses VGG-19's ImageNet weights when they can be had (downloaded once into ~/.keras/models),
and a randomly initialised VGG-19 otherwise; prints which (random weights transfer the
texture's local statistics, not a painter's style). Writes style_transfer.png: the content
image, the style image and the result.
"""

import argparse
import os
import time

import keras
import numpy as np

import kgen
from kgen.models.style import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from kgen.networks import vgg19_features

parser = argparse.ArgumentParser()
parser.add_argument("--content", default="astronaut", choices=kgen.data.BUNDLED_IMAGES)
parser.add_argument("--style", default="gravel", choices=kgen.data.BUNDLED_IMAGES)
parser.add_argument("--size", type=int, default=64)
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--style-weight", type=float, default=10.0)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the VGG-19 weights when they are random "
                         "(the image starts from the content)")
parser.add_argument("--out", default="runs/style_transfer")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

layers = DEFAULT_STYLE_LAYERS + DEFAULT_CONTENT_LAYERS
try:
    extractor = vgg19_features(layers, weights="imagenet")
    print("VGG-19 weights: ImageNet")
except RuntimeError as error:
    print(f"VGG-19 weights: random (seed {args.seed}); ImageNet weights unavailable:\n  {error}")
    extractor = vgg19_features(layers, weights=None, seed=args.seed)

content = kgen.data.load_image(args.content, size=args.size, channels=3)
style = kgen.data.load_image(args.style, size=args.size, channels=3)
model = kgen.models.StyleTransfer(content, style, style_weight=args.style_weight,
                                  extractor=extractor, seed=args.seed)
began = time.time()
history = model.fit(steps=args.steps, verbose=2).history
print(f"{args.steps} steps in {time.time() - began:.0f} s; averages over the last epoch: "
      + ", ".join(f"{key} {values[-1]:.4f}" for key, values in history.items()))

pictures = kgen.data.to_data_space(np.stack([content, style]))
path = os.path.join(args.out, "style_transfer.png")
kgen.images.save_grid(np.stack([pictures[0], pictures[1], model.generate()[0]]), path, ncols=3, scale=2)
print("Wrote", path)
