"""pix2pix on the handwritten digits bundled with scikit-learn: edge maps to digits (8x8).

Run:  KERAS_BACKEND=jax python recipes/pix2pix_digits.py [--epochs 40] [--out runs/pix2pix_digits]

Trains on the fixed 80% training split of ``kgen.data.load_paired("digits-edges")``
(input: the digit's edge map; target: the digit) and writes model.keras, log.csv and,
every 10 epochs and at the end (grid.png), a grid of 16 held-out test pairs: their
inputs (top row), the model's outputs (middle row) and the targets (bottom row). It
also prints the mean absolute error of the outputs on the test split. Networks,
losses and optimizers follow Isola et al. (2017): a U-Net generator, a PatchGAN on
(input, output) pairs, L1 weight 100, Adam(2e-4, beta_1=0.5).
"""

import argparse
import os

import keras
import numpy as np

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/pix2pix_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

# Data: uint8 (N, 8, 8, 1) pairs; the pipeline scales both to [-1, 1].
inputs, targets = kgen.data.load_paired("digits-edges", split="train")
test_inputs, test_targets = kgen.data.load_paired("digits-edges", split="test")
dataset = kgen.data.paired_images(inputs, targets, batch_size=args.batch_size, seed=args.seed)
shown_inputs = kgen.data.to_data_space(test_inputs[:16])
shown_targets = kgen.data.to_data_space(test_targets[:16])

model = kgen.models.Pix2Pix.from_shape(inputs.shape[1:], targets.shape[1:], seed=args.seed)
model.compile()  # Adam(2e-4, beta_1=0.5) for both networks


def save_pairs(path):
    """Inputs, outputs and targets of the shown test pairs, one row each."""
    outputs = model.generate(inputs=shown_inputs)
    rows = np.concatenate([shown_inputs, outputs, shown_targets])
    kgen.images.save_grid(rows, path, ncols=len(shown_inputs), scale=4)


def on_epoch_end(epoch, logs):
    if (epoch + 1) % 10 == 0:
        save_pairs(os.path.join(args.out, f"grid_{epoch + 1:03d}.png"))


model.fit(
    dataset,
    epochs=args.epochs,
    verbose=2,
    callbacks=[
        kgen.callbacks.StopOnNaN(),
        kgen.callbacks.Checkpoint(os.path.join(args.out, "model.keras")),
        keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end),
        keras.callbacks.CSVLogger(os.path.join(args.out, "log.csv")),
    ],
)

save_pairs(os.path.join(args.out, "grid.png"))
outputs = model.generate(inputs=kgen.data.to_data_space(test_inputs))
error = np.mean(np.abs(outputs - kgen.data.to_data_space(test_targets)))
print(f"Test mean absolute error ({len(test_inputs)} pairs, data space [-1, 1]): {error:.4f}")
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
