"""VQ-VAE and a PixelCNN prior over its codes, on the handwritten digits bundled with scikit-learn.

Run:  KERAS_BACKEND=jax python recipes/vqvae_digits.py [--epochs 40] [--prior-epochs 40]
      [--out runs/vqvae_digits]

Stage 1 trains a VQ-VAE (EMA codebook, dead-code restarts) on the fixed 80% training
split; stage 2 freezes it and fits a gated PixelCNN to the 4x4 grids of code indices
of the training images. Reports, on the held-out 20%: the reconstruction error, the
codebook perplexity and usage, and the prior's negative log-likelihood in bits per
code. Writes vqvae.keras, prior.keras, the logs, reconstructions.png (originals and
reconstructions in alternate rows) and samples.png. van den Oord et al. (2017).
"""

import argparse
import os

import keras
import numpy as np

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--prior-epochs", type=int, default=40)
parser.add_argument("--num-embeddings", type=int, default=32)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/vqvae_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

train = kgen.data.load("digits", split="train")
test = kgen.data.load("digits", split="test")
test_images = kgen.data.images(test, batch_size=len(test), shuffle=False)

# Stage 1: the VQ-VAE. 8x8 images -> 4x4 grids of codes from a codebook of 32 vectors.
vqvae = kgen.models.VQVAE.from_shape(train.shape[1:], num_embeddings=args.num_embeddings,
                                     embedding_dim=16, base_filters=32, seed=args.seed)
vqvae.compile(optimizer=keras.optimizers.Adam(1e-3))
vqvae.fit(
    kgen.data.images(train, batch_size=64, seed=args.seed),
    validation_data=test_images,
    epochs=args.epochs,
    callbacks=[kgen.callbacks.StopOnNaN(),
               keras.callbacks.CSVLogger(os.path.join(args.out, "vqvae_log.csv"))],
    verbose=2,
)
vqvae.save(os.path.join(args.out, "vqvae.keras"))
held_out = vqvae.evaluate(test_images, return_dict=True, verbose=0)
print(f"held-out reconstruction MSE (data space [-1, 1]): {held_out['reconstruction']:.4f}, "
      f"perplexity {held_out['perplexity']:.1f} of {args.num_embeddings} codes, "
      f"usage {held_out['usage']:.2f}")

# Stage 2: the prior over code grids, the VQ-VAE frozen.
model = kgen.models.LatentPrior.from_vqvae(vqvae, filters=32, num_layers=4, seed=args.seed)
model.compile(optimizer=keras.optimizers.Adam(1e-3))
model.fit(
    kgen.data.images(train, batch_size=64, seed=args.seed),
    validation_data=test_images,
    epochs=args.prior_epochs,
    callbacks=[kgen.callbacks.StopOnNaN(),
               keras.callbacks.CSVLogger(os.path.join(args.out, "prior_log.csv"))],
    verbose=2,
)
model.save(os.path.join(args.out, "prior.keras"))
uniform = np.log2(args.num_embeddings)
print(f"held-out prior NLL: {model.bits_per_code(test):.3f} bits per code "
      f"(uniform codes: {uniform:.3f}); train: {model.bits_per_code(train):.3f}")

originals = kgen.data.to_data_space(test[:32])
rows = np.concatenate([originals[:16], vqvae.reconstruct(originals[:16]),
                       originals[16:], vqvae.reconstruct(originals[16:])])
kgen.images.save_grid(rows, os.path.join(args.out, "reconstructions.png"), ncols=16)
kgen.images.save_grid(model.generate(64, seed=args.seed), os.path.join(args.out, "samples.png"))
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
