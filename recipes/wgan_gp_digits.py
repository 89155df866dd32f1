"""WGAN-GP on the handwritten digits bundled with scikit-learn (8x8, grayscale).

Run:  KERAS_BACKEND=jax python recipes/wgan_gp_digits.py [--epochs 60] [--out runs/wgan_gp_digits]

A Wasserstein critic kept near 1-Lipschitz by the gradient penalty (lambda = 10), five
critic updates per generator update, and an exponential moving average of the
generator's weights (decay 0.999) for sampling. Trains on the fixed 80% training
split, so `kgen evaluate OUT/model.keras --metric fid` measures it on unseen digits.
Writes model.keras, log.csv, a sample grid per 10 epochs and samples.png.
Gulrajani et al. (2017).
"""

import argparse
import os

import keras

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=60)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/wgan_gp_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

x = kgen.data.load("digits", split="train")
# Batches of 32: 44 generator updates per epoch, so that the average of the generator's
# weights (over about the last 1000 updates) has forgotten the untrained start in a few
# tens of epochs.
dataset = kgen.data.images(x, batch_size=32, seed=args.seed)

# With a gradient penalty, from_shape leaves batch normalisation out of the critic
# (the penalty is per sample). Adam(1e-4, beta_1=0, beta_2=0.9), as in the paper.
wgan = kgen.models.GAN.from_shape(x.shape[1:], latent_dim=64, loss="wasserstein",
                                  gradient_penalty="wgan-gp", discriminator_steps=5,
                                  ema=0.999, seed=args.seed)
wgan.compile(
    generator_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
    discriminator_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
)

wgan.fit(
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

# gp - d_loss estimates the Wasserstein-1 distance between the data and the samples.
kgen.images.save_grid(wgan.generate(64, seed=args.seed), os.path.join(args.out, "samples.png"))
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
