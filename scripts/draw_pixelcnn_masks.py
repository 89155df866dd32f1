"""Draws the PixelCNN figures of docs/models/pixelcnn.md.

Run:  python scripts/draw_pixelcnn_masks.py   (any backend; writes two PNGs into docs/images/)

- pixelcnn_masks.png: 5x5 masks of type A and B (white: tap kept), then the channel masks
  at the current pixel for RGB (rows: input group R, G, B; columns: output group), A and B.
- pixelcnn_receptive_fields.png: which inputs the logits at the centre of a 9x9 image
  depend on (white), measured with input gradients, for a stack of four 3x3 masked
  convolutions (left: the blind spot) and for four gated blocks of kernel 3 (right).
  The current pixel is grey.
"""

import os

import numpy as np
from keras import ops

import kgen
from kgen import backend
from kgen.networks import GatedPixelCNN, MaskedConv2D
from kgen.networks.pixelcnn import pixelcnn_mask

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs", "images")


def as_image(array):
    return (np.asarray(array, "float32") * 2.0 - 1.0)[..., None]


def pad_to(array, size):
    out = np.full((size, size), 0.5, "float32")   # grey frame around smaller masks
    out[:array.shape[0], :array.shape[1]] = array
    return out


masks = [pixelcnn_mask(5, 1, 1, kind)[..., 0, 0] for kind in ("A", "B")]
masks += [pad_to(pixelcnn_mask(1, 3, 3, kind, color_channels=3)[0, 0], 5) for kind in ("A", "B")]
kgen.images.save_grid(np.stack([as_image(m) for m in masks]),
                      os.path.join(here, "pixelcnn_masks.png"), ncols=4, scale=24, padding=2)

size, centre = 9, (4, 4)


def dependence(fn):
    x = np.random.default_rng(0).uniform(-1, 1, (1, size, size, 1)).astype("float32")
    grad = backend.input_gradient(lambda t: ops.sum(fn(t)[:, centre[0], centre[1]]), x)
    picture = (np.abs(ops.convert_to_numpy(grad))[0, ..., 0] > 0).astype("float32")
    picture[centre] = 0.5
    return picture


layers = [MaskedConv2D(8, 3, "A")] + [MaskedConv2D(8, 3, "B") for _ in range(3)]


def masked_stack(x):
    for layer in layers:
        x = ops.tanh(layer(x))
    return x


gated = GatedPixelCNN((size, size, 1), num_levels=2, filters=8, num_layers=4)
kgen.images.save_grid(np.stack([as_image(dependence(masked_stack)), as_image(dependence(gated))]),
                      os.path.join(here, "pixelcnn_receptive_fields.png"), ncols=2, scale=16,
                      padding=2)
print("wrote pixelcnn_masks.png and pixelcnn_receptive_fields.png to", here)
