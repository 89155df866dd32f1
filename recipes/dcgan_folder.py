"""DCGAN on your own folder of images, with DiffAugment for small data sets.

Run:  KERAS_BACKEND=jax python recipes/dcgan_folder.py PATH [--image-size 64]
          [--epochs 200] [--out runs/dcgan_folder]

PATH is a folder of PNG, JPEG, BMP or GIF files of any size: they are streamed from disk
(never all in memory), their short side scaled to ``--image-size`` and the centre
cropped, with random horizontal flips; files that cannot be decoded are skipped and
named. A few hundred images are enough to start: DiffAugment (Zhao et al. 2020) applies
the same random translation, cutout and colour changes to the real and the generated
images the discriminator sees, so that it cannot memorise the few real ones. The model
keeps the GAN defaults for images (non-saturating loss with an R1 penalty and a moving
average of the generator; see `kgen.models.gan.OBJECTIVES`).

Writes model.keras, log.csv and a sample grid every 10 epochs into the output folder.
The same run from the command line, with resume and TensorBoard:
``kgen train --config recipes/dcgan_folder.toml --data folder:PATH``.
"""

import argparse
import os

import keras

import kgen

parser = argparse.ArgumentParser()
parser.add_argument("folder")
parser.add_argument("--image-size", type=int, default=64)
parser.add_argument("--epochs", type=int, default=200)
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/dcgan_folder")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)

# Data: a streaming pipeline over the folder, batches of float32 images in [-1, 1].
source = kgen.data.open_source(f"folder:{args.folder}", image_size=args.image_size)
print(source)
dataset = source.dataset(64, seed=args.seed, flip=True)

# Model: DCGAN networks for this image size, DiffAugment on both sides of the discriminator.
gan = kgen.models.GAN.from_shape(source.shape, augment="color,translation,cutout", seed=args.seed)
gan.compile()

gan.fit(
    dataset,
    epochs=args.epochs,
    steps_per_epoch=source.steps_per_epoch(64),
    callbacks=[
        kgen.callbacks.StopOnNaN(),
        kgen.callbacks.Checkpoint(os.path.join(args.out, "model.keras")),
        kgen.callbacks.SampleGrid(os.path.join(args.out, "samples_{epoch:03d}.png"),
                                  every_n_epochs=10),
        keras.callbacks.CSVLogger(os.path.join(args.out, "log.csv")),
    ],
)
kgen.images.save_grid(gan.generate(64, seed=args.seed), os.path.join(args.out, "samples.png"))
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
