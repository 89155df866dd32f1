"""A VQ-VAE and a causal transformer prior over its codes, on the digits bundled with scikit-learn.

Run:  KERAS_BACKEND=jax python recipes/token_transformer_digits.py [--epochs 40]
      [--prior-epochs 60] [--conditional] [--vqvae runs/vqvae_digits/vqvae.keras]
      [--out runs/token_transformer_digits]

Stage 1 trains a VQ-VAE (EMA codebook, dead-code restarts) on the fixed 80% training
split, or loads one (``--vqvae``, for instance the one of recipes/vqvae_digits.py, so
that the transformer and the PixelCNN prior share their decoder); stage 2 freezes it and
fits a `kgen.models.TokenTransformer` to the 4x4 grids of code indices of the training
images, read in raster order (16 tokens after a start token; with ``--conditional``, a
class token per digit). Reports, on the held-out 20%: the transformer's negative
log-likelihood in bits per code. Writes vqvae.keras, prior.keras, the logs, samples.png
(64 samples, seed ``--seed``), completion.png (rows of: a test digit, its reconstruction, and
four completions from its top two rows of codes) and, with ``--conditional``,
samples_by_class.png (one row per class). Chen et al. (2020); Esser et al. (2021).

The same model from the command line (a `kgen train --config` file):
``kgen train vqvae --data digits --out runs/vqvae`` then
``kgen train --config recipes/token_transformer_digits.toml``.
"""

import argparse
import os

import keras
import numpy as np

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=40, help="VQ-VAE epochs")
parser.add_argument("--prior-epochs", type=int, default=60)
parser.add_argument("--num-embeddings", type=int, default=32)
parser.add_argument("--vqvae", default=None, help="a trained VQ-VAE (.keras) to use")
parser.add_argument("--conditional", action="store_true", help="class tokens (digit labels)")
parser.add_argument("--width", type=int, default=64)
parser.add_argument("--num-layers", type=int, default=4)
parser.add_argument("--num-heads", type=int, default=4)
parser.add_argument("--dropout", type=float, default=0.1)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/token_transformer_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

train, train_labels = kgen.data.load("digits", split="train", return_labels=True)
test, test_labels = kgen.data.load("digits", split="test", return_labels=True)
labels = (train_labels, test_labels) if args.conditional else (None, None)

# Stage 1: the VQ-VAE. 8x8 images -> 4x4 grids of codes from a codebook of 32 vectors.
if args.vqvae:
    vqvae = keras.saving.load_model(args.vqvae)
else:
    vqvae = kgen.models.VQVAE.from_shape(train.shape[1:], num_embeddings=args.num_embeddings,
                                         embedding_dim=16, base_filters=32, seed=args.seed)
    vqvae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vqvae.fit(kgen.data.images(train, batch_size=64, seed=args.seed), epochs=args.epochs,
              callbacks=[kgen.callbacks.StopOnNaN(),
                         keras.callbacks.CSVLogger(os.path.join(args.out, "vqvae_log.csv"))],
              verbose=2)
vqvae.save(os.path.join(args.out, "vqvae.keras"))

# Stage 2: the transformer over code grids, the VQ-VAE frozen.
model = kgen.models.TokenTransformer.from_vqvae(
    vqvae, width=args.width, num_layers=args.num_layers, num_heads=args.num_heads,
    dropout=args.dropout, num_classes=10 if args.conditional else None, seed=args.seed)
model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.01))
validation = kgen.data.images(test, batch_size=len(test), shuffle=False, labels=labels[1])
model.fit(
    kgen.data.images(train, batch_size=64, labels=labels[0], seed=args.seed),
    validation_data=validation,
    epochs=args.prior_epochs,
    callbacks=[kgen.callbacks.StopOnNaN(),
               keras.callbacks.CSVLogger(os.path.join(args.out, "prior_log.csv"))],
    verbose=2,
)
model.save(os.path.join(args.out, "prior.keras"))
uniform = np.log2(vqvae.num_embeddings)
print(f"held-out NLL: {model.bits_per_code(test, labels[1]):.3f} bits per code (uniform "
      f"codes: {uniform:.3f}); train: {model.bits_per_code(train, labels[0]):.3f}")

condition = {"labels": np.arange(64) % 10} if args.conditional else {}
kgen.images.save_grid(model.generate(64, seed=args.seed, **condition),
                      os.path.join(args.out, "samples.png"))
# Completion: each row a test digit, its reconstruction, and 4 completions of its top half.
digits = kgen.data.to_data_space(test[:8])
given = {"labels": test_labels[:8]} if args.conditional else {}
completions = [model.generate(images=digits, rows=2, seed=args.seed + i, **given)
               for i in range(4)]
rows = np.stack([digits, vqvae.reconstruct(digits)] + completions, axis=1)
kgen.images.save_grid(rows.reshape((-1,) + digits.shape[1:]),
                      os.path.join(args.out, "completion.png"), ncols=6)
if args.conditional:
    by_class = model.generate(80, seed=args.seed + 1, labels=np.repeat(np.arange(10), 8))
    kgen.images.save_grid(by_class, os.path.join(args.out, "samples_by_class.png"), ncols=8)
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
