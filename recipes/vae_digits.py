"""Variational autoencoder on the handwritten digits bundled with scikit-learn.

Run:  KERAS_BACKEND=jax python recipes/vae_digits.py [--epochs 100] [--out runs/vae_digits]

Trains on the fixed 80% training split and reports the negative ELBO (nats per image)
on the held-out 20%; writes model.keras, log.csv, samples, reconstructions and a latent
interpolation. Kingma & Welling (2014).
"""

import argparse
import os

import keras
import numpy as np

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--latent-dim", type=int, default=8)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/vae_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

train = kgen.data.load("digits", split="train")
test = kgen.data.load("digits", split="test")

# Bernoulli decoder: pixel intensities in [0, 1] are the targets of a binary cross-entropy.
vae = kgen.models.VAE.from_shape(train.shape[1:], latent_dim=args.latent_dim,
                                 likelihood="bernoulli", seed=args.seed)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
vae.fit(
    kgen.data.images(train, batch_size=64, seed=args.seed),
    validation_data=kgen.data.images(test, batch_size=256, shuffle=False),
    epochs=args.epochs,
    callbacks=[
        kgen.callbacks.StopOnNaN(),
        kgen.callbacks.Checkpoint(os.path.join(args.out, "model.keras")),
        keras.callbacks.CSVLogger(os.path.join(args.out, "log.csv")),
    ],
    verbose=2,
)

result = vae.evaluate(kgen.data.images(test, batch_size=256, shuffle=False),
                      return_dict=True, verbose=0)
print(f"held-out negative ELBO: {result['loss']:.2f} nats per image "
      f"(reconstruction {result['reconstruction']:.2f}, KL {result['kl']:.2f})")

kgen.images.save_grid(vae.generate(64, seed=args.seed), os.path.join(args.out, "samples.png"))
originals = kgen.data.to_data_space(test[:32])
pairs = np.stack([originals, vae.reconstruct(originals)], axis=1).reshape(-1, 8, 8, 1)
kgen.images.save_grid(pairs, os.path.join(args.out, "reconstructions.png"), ncols=16)
mean, _ = vae.encode(originals[:2])
path = kgen.latent.interpolate(mean[0], mean[1], steps=10, method="lerp")
kgen.images.save_grid(vae.decode(path), os.path.join(args.out, "interpolation.png"), ncols=10)
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
