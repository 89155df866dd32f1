"""DCGAN on the handwritten digits bundled with scikit-learn (8x8, grayscale).

Run:  KERAS_BACKEND=jax python recipes/dcgan_digits.py [--epochs 100] [--out runs/dcgan_digits]
          [--split all|train] [--seed 0]

Trains on all 1,797 digits by default; ``--split train`` keeps the held-out 20% unseen,
so that `kgen evaluate OUT/model.keras --metric fid` measures it on digits it never saw.
Writes model.keras, log.csv, a sample grid per 10 epochs and a latent interpolation
into the output folder. Networks and optimizer follow Radford et al. (2016).
"""

import argparse
import os

import keras

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--split", default="all", choices=("all", "train"),
                    help="all 1,797 digits, or the 1,437 of the training split")
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/dcgan_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

# Data: 1,797 uint8 images (8, 8, 1), or the 1,437 of the training split; the pipeline
# scales them to [-1, 1].
x = kgen.data.load("digits", split=args.split)
dataset = kgen.data.images(x, batch_size=64, seed=args.seed)

# Model: DCGAN networks for this image shape, Adam(2e-4, beta_1=0.5) for both.
gan = kgen.models.GAN.from_shape(x.shape[1:], latent_dim=100, seed=args.seed)
gan.compile(
    generator_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
    discriminator_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
)

gan.fit(
    dataset,
    epochs=args.epochs,
    callbacks=[
        kgen.callbacks.StopOnNaN(),
        kgen.callbacks.Checkpoint(os.path.join(args.out, "model.keras")),
        kgen.callbacks.SampleGrid(os.path.join(args.out, "samples_{epoch:03d}.png"),
                                  every_n_epochs=10),
        keras.callbacks.CSVLogger(os.path.join(args.out, "log.csv")),
    ],
)

# Samples, and a walk between two latent vectors along the sphere (slerp).
kgen.images.save_grid(gan.generate(64, seed=args.seed), os.path.join(args.out, "samples.png"))
z = gan.sample_latents(2, seed=args.seed + 1)
path = kgen.latent.interpolate(z[0], z[1], steps=10, method="slerp")
kgen.images.save_grid(gan.generate(latents=path), os.path.join(args.out, "interpolation.png"),
                      ncols=10)
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
