"""CycleGAN on the handwritten digits bundled with scikit-learn: digits to inverted digits (8x8).

Run:  KERAS_BACKEND=jax python recipes/cyclegan_digits.py [--epochs 30] [--seed 0]
          [--data digits-inverted] [--out runs/cyclegan_digits]

Trains on the fixed 80% training split of ``kgen.data.load_unpaired("digits-inverted")``:
domain A holds digits, domain B other digits with their gray levels inverted, and
nothing pairs them. Writes model.keras, log.csv and, every 10 epochs and at the end
(grid.png), a grid of 16 held-out A digits: the inputs (top row), their translations to
B (middle row) and their true translations, `kgen.data.true_translation` (bottom row).
It prints the mean absolute error of the translations of the 180 held-out A digits
against their true translations, beside that of always answering the mean B image
(what `kgen evaluate RUN --metric l1` reports too).

Networks, losses and optimizers follow Zhu et al. (2017), at the scale of 8x8 images
(the class's defaults for this size): residual generators that work at full resolution
with 2 blocks and no normalisation (deeper generators redraw the whole digit and lose
its content), PatchGAN discriminators, least-squares GAN loss, no identity loss (it
would ask the A -> B generator to leave inverted digits as they are), a pool of 50
generated images, Adam(2e-4, beta_1=0.5). The cycle weight is 5, not the paper's 10:
at 10, two seeds of four lost the digits' content (docs/models/cyclegan.md).
``--data digits-rotated`` trains on upright and rotated digits instead: a geometric
change, which the paper reports CycleGAN failing at, and which it fails at here too.
"""

import argparse
import os

import keras
import numpy as np

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data", default="digits-inverted",
                    choices=("digits-inverted", "digits-rotated"))
parser.add_argument("--out", default="runs/cyclegan_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

# Data: two unaligned uint8 domains (N, 8, 8, 1); the pipeline scales them to [-1, 1].
domain_a, domain_b = kgen.data.load_unpaired(args.data, split="train")
test_a, test_b = kgen.data.load_unpaired(args.data, split="test")
dataset = kgen.data.unpaired_images(domain_a, domain_b, batch_size=args.batch_size,
                                    seed=args.seed)
truth = kgen.data.to_data_space(kgen.data.true_translation(args.data, test_a))
test_a, test_b = kgen.data.to_data_space(test_a), kgen.data.to_data_space(test_b)

model = kgen.models.CycleGAN.from_shape(domain_a.shape[1:], domain_b.shape[1:],
                                        cycle_weight=5.0, seed=args.seed)
model.compile()  # Adam(2e-4, beta_1=0.5) for the discriminators and the generators


def save_translations(path):
    """Inputs, translations A -> B and true translations, one row each."""
    rows = np.concatenate([test_a[:16], model.generate(inputs=test_a[:16]), truth[:16]])
    kgen.images.save_grid(rows, path, ncols=16, scale=4)


def on_epoch_end(epoch, logs):
    if (epoch + 1) % 10 == 0:
        save_translations(os.path.join(args.out, f"grid_{epoch + 1:03d}.png"))


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

save_translations(os.path.join(args.out, "grid.png"))
error = np.mean(np.abs(model.generate(inputs=test_a) - truth))
mean_b = np.mean(np.abs(kgen.data.to_data_space(domain_b).mean(axis=0) - truth))
cycle = float(keras.ops.convert_to_numpy(model.cycle_loss(test_a, test_b)))
print(f"Test A -> B mean absolute error against the true translations ({len(test_a)} "
      f"digits, data space [-1, 1]): {error:.4f}; the mean B image's: {mean_b:.4f}; "
      f"test cycle loss: {cycle:.4f}")
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
