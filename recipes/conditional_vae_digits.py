"""Conditional VAE on the handwritten digits bundled with scikit-learn (8x8).

Run:  KERAS_BACKEND=jax python recipes/conditional_vae_digits.py [--epochs 60]
      [--out runs/conditional_vae_digits]

Trains on the fixed 80% training split with its labels and reports the held-out
negative ELBO and an importance-weighted estimate of -log p(x | y) (nats per image).
Writes model.keras, log.csv and classes.png: one row per class 0..9, the same ten
latent vectors in every row. Sohn, Lee & Yan (2015).
"""

import argparse
import os

import keras
import numpy as np

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=60)
parser.add_argument("--latent-dim", type=int, default=8)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/conditional_vae_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

x, y = kgen.data.load("digits", split="train", return_labels=True)
x_test, y_test = kgen.data.load("digits", split="test", return_labels=True)

# Bernoulli decoder; the label goes to the encoder (a learned 8x8 map per class, as an
# extra channel) and to the decoder (a learned embedding concatenated to z).
cvae = kgen.models.ConditionalVAE.from_shape(x.shape[1:], num_classes=10,
                                             latent_dim=args.latent_dim, seed=args.seed)
cvae.compile(optimizer=keras.optimizers.Adam(1e-3))
cvae.fit(
    kgen.data.images(x, labels=y, batch_size=64, seed=args.seed),
    validation_data=kgen.data.images(x_test, labels=y_test, batch_size=256, shuffle=False),
    epochs=args.epochs,
    callbacks=[
        kgen.callbacks.StopOnNaN(),
        kgen.callbacks.Checkpoint(os.path.join(args.out, "model.keras")),
        keras.callbacks.CSVLogger(os.path.join(args.out, "log.csv")),
    ],
    verbose=2,
)

result = cvae.evaluate(kgen.data.images(x_test, labels=y_test, batch_size=256, shuffle=False),
                       return_dict=True, verbose=0)
log_p = cvae.log_likelihood(kgen.data.to_data_space(x_test), labels=y_test, num_samples=100,
                            seed=args.seed)
print(f"held-out negative ELBO: {result['loss']:.2f} nats per image "
      f"(reconstruction {result['reconstruction']:.2f}, KL {result['kl']:.2f}); "
      f"IWAE -log p(x|y), K=100: {-log_p.mean():.2f}")

# One row per class, the same ten latent vectors in every row.
z = cvae.standard_normal((10, args.latent_dim), args.seed)
grid = cvae.generate(latents=np.tile(z, (10, 1)), labels=np.repeat(np.arange(10), 10))
kgen.images.save_grid(grid, os.path.join(args.out, "classes.png"), ncols=10)
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
