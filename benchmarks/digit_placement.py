#!/usr/bin/env python
"""How fast a class-conditional diffusion model learns to draw the digit its label names,
as the digit becomes a smaller part of its image.

Trains a class-conditional `kgen.models.Diffusion` (U-Net of 32 base filters, cosine
schedule, Adam 1e-3, batch 64, seed 0, no moving average) on the training digits of
``kgen.data.load("digits")`` in one of three placements (``--placement``):

- ``alone``: the 8x8 digits themselves;
- ``centre``: each digit in the centre of a black 16x16 canvas;
- ``positions``: each digit at one of five places of a 16x16 canvas (the four corners and
  the centre, as in the captioned scenes), drawn at random;

the canvases twice over (2,874 images), so that an epoch is about as long as two of the
digits alone. After each block of ``--epochs`` it samples 20 images of every label (DDIM,
20 steps, seed 1, no guidance) and the bundled digits classifier
(`kgen.metrics.extractors.digits_classifier`) reads each sample's digit (on a canvas, in
its brightest 8x8 window; the reader finds the digit of 99.75% of real placed digits):
the share read as the label asked for, against 0.10 by chance.

The captioned scenes (`kgen.data.captioned`) go further still: a 32x32 image, two sizes,
five places and colours. A model that has not learned to follow its label (or caption)
draws a digit shape the noise decides.

    KERAS_BACKEND=jax python benchmarks/digit_placement.py --placement alone
    KERAS_BACKEND=jax python benchmarks/digit_placement.py --placement centre
    KERAS_BACKEND=jax python benchmarks/digit_placement.py --placement positions
"""

import argparse
import json
import time

import keras
import numpy as np

import kgen
from kgen.metrics.extractors.digits_classifier import digits_classifier

#: The top-left corners of the five places of a digit on a 16x16 canvas.
PLACES = ((0, 0), (0, 8), (8, 0), (8, 8), (4, 4))


def placed(digits, placement, rng):
    """The digits (data space, (N, 8, 8, 1)) on 16x16 canvases, or as they are."""
    if placement == "alone":
        return digits
    canvases = np.full((len(digits), 16, 16, 1), -1.0, "float32")
    for canvas, digit in zip(canvases, digits):
        top, left = (4, 4) if placement == "centre" else PLACES[rng.integers(len(PLACES))]
        canvas[top:top + 8, left:left + 8] = digit
    return canvases


def read_digits(classifier, images):
    """The digit the classifier reads in each image: the image itself when it is 8x8,
    else its brightest 8x8 window."""
    if images.shape[1] != 8:
        windows = []
        for image in images:
            sums = [(image[a:a + 8, b:b + 8].sum(), a, b)
                    for a in range(image.shape[0] - 7) for b in range(image.shape[1] - 7)]
            _, a, b = max(sums)
            windows.append(image[a:a + 8, b:b + 8])
        images = np.stack(windows)
    images = np.clip(images, -1.0, 1.0)
    return np.argmax(keras.ops.convert_to_numpy(classifier(images)), axis=-1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placement", choices=("alone", "centre", "positions"),
                        default="positions")
    parser.add_argument("--epochs", type=int, nargs="+", default=None,
                        help="epochs of each block (default: 5 5 10 20 for the digits "
                             "alone, 10 10 on canvases: 880 steps in all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    digits, labels = kgen.data.load("digits", split="train", return_labels=True)
    digits = kgen.data.to_data_space(digits)
    copies = 1 if args.placement == "alone" else 2
    x = np.concatenate([placed(digits, args.placement, rng) for _ in range(copies)])
    y = np.tile(labels, copies)
    blocks = args.epochs or ([5, 5, 10, 20] if args.placement == "alone" else [10, 10])
    model = kgen.models.Diffusion.from_shape(x.shape[1:], num_classes=10, base_filters=32,
                                             schedule="cosine", timesteps=1000, seed=0,
                                             ema=None)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    classifier = digits_classifier("logits")
    asked = np.repeat(np.arange(10), 20)
    rows, done = [], 0
    for epochs in blocks:
        start = time.time()
        model.fit(x, y, batch_size=64, epochs=done + epochs, initial_epoch=done, verbose=0,
                  shuffle=True)
        done += epochs
        samples = model.generate(seed=1, labels=asked, steps=20)
        share = float(np.mean(read_digits(classifier, samples) == asked))
        rows.append({"epochs": done, "steps": done * (len(x) // 64), "label_followed": share,
                     "seconds": round(time.time() - start)})
        if not args.json:
            print(f"{args.placement}: {done} epochs, {rows[-1]['steps']} steps: samples "
                  f"showing the asked digit {share:.3f} ({rows[-1]['seconds']} s)", flush=True)
    if args.json:
        print(json.dumps({"placement": args.placement, "images": len(x), "rows": rows}))


if __name__ == "__main__":
    main()
