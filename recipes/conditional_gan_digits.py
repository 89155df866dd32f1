"""Class-conditional GAN on the handwritten digits bundled with scikit-learn (8x8).

Run:  KERAS_BACKEND=jax python recipes/conditional_gan_digits.py [--epochs 100]
      [--out runs/conditional_gan_digits]

Trains on the fixed 80% training split with its labels, so the held-out 20% can
measure it (`kgen evaluate OUT/model.keras --metric fid`). Writes model.keras,
log.csv and classes.png: one row per class 0..9, the same ten latent vectors in every
row. Mirza & Osindero (2014), with a projection discriminator (Miyato & Koyama, 2018).
"""

import argparse
import os

import keras
import numpy as np

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/conditional_gan_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

# Data: (images, labels) pairs; the pipeline scales the images to [-1, 1].
x, y = kgen.data.load("digits", split="train", return_labels=True)
dataset = kgen.data.images(x, labels=y, batch_size=64, seed=args.seed)

# Model: DCGAN bodies, a learned label embedding in the generator, a projection
# discriminator; Adam(2e-4, beta_1=0.5) for both (the defaults of compile()).
cgan = kgen.models.ConditionalGAN.from_shape(x.shape[1:], num_classes=10, latent_dim=64,
                                             seed=args.seed)
cgan.compile()

cgan.fit(
    dataset,
    epochs=args.epochs,
    callbacks=[
        kgen.callbacks.StopOnNaN(),
        kgen.callbacks.Checkpoint(os.path.join(args.out, "model.keras")),
        keras.callbacks.CSVLogger(os.path.join(args.out, "log.csv")),
    ],
)

# One row per class, the same ten latent vectors in every row: each column keeps its
# "style" while the label changes the digit.
z = cgan.sample_latents(10, seed=args.seed)
grid = cgan.generate(latents=np.tile(z, (10, 1)), labels=np.repeat(np.arange(10), 10))
kgen.images.save_grid(grid, os.path.join(args.out, "classes.png"), ncols=10)
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
