"""VQ-GAN and a PixelCNN prior over its codes, on the handwritten digits bundled with scikit-learn.

Run:  KERAS_BACKEND=jax python recipes/vqgan_digits.py [--epochs 30] [--prior-epochs 40]
      [--perceptual-weights imagenet|random|none|PATH] [--out runs/vqgan_digits]
Or:   kgen train --config recipes/vqgan_digits.toml   (stage 1 from the command line)

Stage 1 trains a VQ-GAN (Esser et al. 2021) on the fixed 80% training split: the
VQ-VAE of recipes/vqvae_digits.py (32 codes of 16 values, 4x4 grids of codes) with an
L1 + perceptual reconstruction loss (unit-normalised VGG-19 features) and, after
``--discriminator-start`` steps, a PatchGAN with the hinge loss, weighted by the
adaptive weight. Stage 2 freezes it and fits a gated PixelCNN to the grids of code
indices. Reports, on the held-out 20%: the reconstruction error, the reconstruction FID
(digits classifier features), the codebook's perplexity and usage, and the prior's
negative log-likelihood in bits per code. Writes vqgan.keras, prior.keras, the logs,
reconstructions.png (originals and reconstructions in alternate rows) and samples.png.

The perceptual loss wants VGG-19's ImageNet weights (``--perceptual-weights imagenet``,
downloaded once into the Keras cache). Offline and without a cached copy, the recipe
says so and uses random VGG-19 features instead (``random``); ``none`` trains without
the perceptual term.
"""

import argparse
import os

import keras
import numpy as np

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--prior-epochs", type=int, default=40)
parser.add_argument("--num-embeddings", type=int, default=32)
parser.add_argument("--discriminator-start", type=int, default=230,
                    help="training steps before the adversarial loss (230: 10 epochs)")
parser.add_argument("--perceptual-weights", default="imagenet")
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/vqgan_digits")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

train = kgen.data.load("digits", split="train")
test = kgen.data.load("digits", split="test")
test_images = kgen.data.images(test, batch_size=len(test), shuffle=False)


def build(perceptual_weights):
    return kgen.models.VQGAN.from_shape(
        train.shape[1:], num_embeddings=args.num_embeddings, embedding_dim=16,
        base_filters=32, perceptual_weights=perceptual_weights,
        discriminator_start=args.discriminator_start, seed=args.seed)


# Stage 1: the VQ-GAN. 8x8 images -> 4x4 grids of codes from a codebook of 32 vectors.
try:
    vqgan = build(args.perceptual_weights)
except RuntimeError as error:   # offline without VGG-19's ImageNet weights
    print(f"{error}\n-> training with random VGG-19 features (perceptual_weights='random').")
    vqgan = build("random")
vqgan.compile(model_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9),
              discriminator_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.9))
vqgan.fit(
    kgen.data.images(train, batch_size=64, seed=args.seed),
    validation_data=test_images,
    epochs=args.epochs,
    callbacks=[kgen.callbacks.StopOnNaN(),
               keras.callbacks.CSVLogger(os.path.join(args.out, "vqgan_log.csv"))],
    verbose=2,
)
vqgan.save(os.path.join(args.out, "vqgan.keras"))
held_out = vqgan.evaluate(test_images, return_dict=True, verbose=0)
originals = kgen.data.to_data_space(test)
reconstructions = np.clip(vqgan.reconstruct(originals), -1.0, 1.0)
fid = kgen.metrics.FrechetInceptionDistance("digits")
fid.update_state(real=originals)
fid.update_state(generated=reconstructions)
print(f"held-out reconstruction MSE (data space [-1, 1]): {held_out['reconstruction']:.4f}, "
      f"reconstruction FID (digits features): {float(fid.result()):.2f}, "
      f"perplexity {held_out['perplexity']:.1f} of {args.num_embeddings} codes, "
      f"usage {held_out['usage']:.2f}")

# Stage 2: the prior over code grids, the VQ-GAN frozen.
model = kgen.models.LatentPrior.from_vqvae(vqgan, filters=32, num_layers=4, seed=args.seed)
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
print(f"held-out prior NLL: {model.bits_per_code(test):.3f} bits per code "
      f"(uniform codes: {np.log2(args.num_embeddings):.3f})")

rows = np.concatenate([originals[:16], reconstructions[:16],
                       originals[16:32], reconstructions[16:32]])
kgen.images.save_grid(rows, os.path.join(args.out, "reconstructions.png"), ncols=16)
kgen.images.save_grid(model.generate(64, seed=args.seed), os.path.join(args.out, "samples.png"))
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
