"""Train the digits classifier shipped with kgen (kgen/metrics/extractors/digits_classifier.weights.h5).

The classifier (`kgen.metrics.extractors.build_digits_classifier`) is the feature
extractor and Inception-Score classifier of `kgen.metrics.digits_classifier`. It is
trained on the training split of the bundled 8x8 digits (1,437 images), augmented with
the 8 one-pixel shifts of every image (background filled in), and evaluated once on the
held-out test split (360 images), which plays no part in training or model selection.

Usage (the shipped file was made with the JAX backend and the defaults):

    KERAS_BACKEND=jax python scripts/train_digits_classifier.py
    python scripts/train_digits_classifier.py --output /tmp/digits.weights.h5 --epochs 40

The weights file is backend-neutral: it loads under TensorFlow, JAX and PyTorch.
"""

import argparse
import os
import time

import keras
import numpy as np

import kgen
from kgen.metrics.extractors import DIGITS_CLASSIFIER_WEIGHTS, build_digits_classifier


def shifted_copies(images, labels):
    """The images and their 8 one-pixel shifts, background (-1) filled in."""
    out_x, out_y = [images], [labels]
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-1.0)
    height, width = images.shape[1:3]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            out_x.append(padded[:, 1 + dy:1 + dy + height, 1 + dx:1 + dx + width])
            out_y.append(labels)
    return np.concatenate(out_x), np.concatenate(out_y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=DIGITS_CLASSIFIER_WEIGHTS,
                        help="where to write the weights (default: the shipped file)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--no-augment", action="store_true", help="train on the images only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    x_train, y_train = kgen.data.load("digits", split="train", return_labels=True)
    x_test, y_test = kgen.data.load("digits", split="test", return_labels=True)
    x_train = kgen.data.to_data_space(x_train)
    x_test = kgen.data.to_data_space(x_test)
    if not args.no_augment:
        x_train, y_train = shifted_copies(x_train, y_train)
    order = np.random.default_rng(args.seed).permutation(len(x_train))
    x_train, y_train = x_train[order], y_train[order]

    model = build_digits_classifier()
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.time()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=2,
              shuffle=True)
    logits = model.predict(x_test, verbose=0)
    accuracy = float(np.mean(logits.argmax(-1) == y_test))
    # Save the weights only, from a fresh (uncompiled) copy: no optimizer state in the file.
    clean = build_digits_classifier()
    clean.set_weights(model.get_weights())
    clean.save_weights(args.output)
    print(f"backend {keras.backend.backend()}, {len(x_train)} training images, "
          f"{time.time() - start:.1f} s")
    print(f"test accuracy {accuracy:.4f} ({int(round(accuracy * len(y_test)))}/{len(y_test)})")
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
