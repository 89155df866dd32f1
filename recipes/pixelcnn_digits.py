"""Gated PixelCNN on the handwritten digits bundled with scikit-learn (binary or 8-bit).

Run:  KERAS_BACKEND=jax python recipes/pixelcnn_digits.py --levels 2   [--epochs 15]
      KERAS_BACKEND=jax python recipes/pixelcnn_digits.py --levels 256 [--epochs 40]

Trains on the fixed 80% training split and reports the exact negative log-likelihood in
bits per dimension on the held-out 20%; writes model.keras, log.csv, samples.png (64
samples, seed ``--seed``) and completion.png (rows of four: a test digit, its top half,
and two completions of the bottom half). van den Oord et al. (2016).
"""

import argparse
import os
import time

import keras
import numpy as np

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--levels", type=int, default=2, help="2 (binarised) or 256 (8-bit)")
parser.add_argument("--epochs", type=int, default=None,
                    help="default 15 for 2 levels (it overfits after), 40 for 256")
parser.add_argument("--filters", type=int, default=32)
parser.add_argument("--layers", type=int, default=4)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default=None, help="default runs/pixelcnn_digits_<levels>")
args = parser.parse_args()
out = args.out or f"runs/pixelcnn_digits_{args.levels}"
epochs = args.epochs or (15 if args.levels == 2 else 40)
os.makedirs(out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

train = kgen.data.load("digits", split="train")
test = kgen.data.load("digits", split="test")

# 4 gated blocks of kernel 5 reach 8 rows up and 8 columns to each side: every earlier
# pixel of an 8x8 digit is in the receptive field.
model = kgen.models.PixelCNN.from_shape(train.shape[1:], num_levels=args.levels,
                                        filters=args.filters, num_layers=args.layers,
                                        kernel_size=5, seed=args.seed)
model.compile(optimizer=keras.optimizers.Adam(2e-3))
start = time.perf_counter()
model.fit(
    kgen.data.images(train, batch_size=64, seed=args.seed),
    validation_data=kgen.data.images(test, batch_size=256, shuffle=False),
    epochs=epochs,
    callbacks=[
        kgen.callbacks.StopOnNaN(),
        kgen.callbacks.Checkpoint(os.path.join(out, "model.keras")),
        keras.callbacks.CSVLogger(os.path.join(out, "log.csv")),
    ],
    verbose=2,
)
print(f"trained in {time.perf_counter() - start:.0f} s")
print(f"held-out NLL: {model.bits_per_dim(test):.4f} bits/dim "
      f"({-model.log_prob(test).mean():.2f} nats per image), {args.levels} levels")

start = time.perf_counter()
samples = model.generate(64, seed=args.seed)
print(f"64 samples in {time.perf_counter() - start:.1f} s (compilation included)")
kgen.images.save_grid(samples, os.path.join(out, "samples.png"), ncols=8, scale=4)

# Completion: keep the top half of 8 test digits, sample the bottom half twice.
originals = kgen.data.to_data_space(test[:8])
known = np.zeros(originals.shape[1:], bool)
known[:4] = True
first = model.generate(images=originals, mask=known, seed=args.seed + 1)
second = model.generate(images=originals, mask=known, seed=args.seed + 2)
masked = np.where(known, originals, -1.0).astype("float32")
quantised = keras.ops.convert_to_numpy(model.to_values(model.to_levels(originals)))
rows = np.stack([quantised, masked, first, second], axis=1).reshape(-1, 8, 8, 1)
kgen.images.save_grid(rows, os.path.join(out, "completion.png"), ncols=8, scale=4)
print("Wrote", sorted(os.listdir(out)), "to", out)
