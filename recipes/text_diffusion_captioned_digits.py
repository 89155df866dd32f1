"""Text-to-image diffusion on the bundled captioned digit scenes (32x32 RGB, five captions each).

Run:  KERAS_BACKEND=jax python recipes/text_diffusion_captioned_digits.py [--epochs 180]
      [--guidance 3] [--out runs/text_diffusion_captioned_digits] [--resume]
      [--clip runs/clip_captioned_digits/model.keras] [--no-pooled-context]
      [--autoencoder new | --autoencoder runs/.../autoencoder.keras | --autoencoder none]

Trains a U-Net with cross-attention and a text encoder together on the training scenes
(each step uses one of each scene's captions; 10% are replaced by the empty text for
classifier-free guidance), then writes a grid with one row per prompt (DDIM, 50 steps,
guidance ``--guidance``), the first prompts describing digit-colour pairs that the
training split never shows (`kgen.data.captioned.HELD_OUT`), and model.keras and log.csv;
prints the denoising loss on the test scenes and the prompt adherence of 64 samples of
seen and of held-out digit-colour pairs (`kgen.metrics.prompt_adherence`).
``--resume`` continues the run in ``--out`` for ``--epochs`` more epochs. ``--clip``
takes the tokenizer and text encoder of a trained CLIP
(``recipes/clip_captioned_digits.py``), frozen, instead of training a text encoder
with the U-Net (a new run only: a resumed run keeps its own). The mean of the caption's
token vectors is also added to the U-Net's timestep embedding (``--no-pooled-context``:
cross-attention only).
By default it is latent diffusion (``--autoencoder new``): a VQ-VAE (``--vq-embeddings``
codes of ``--vq-dim`` values, each for a 4x4 patch; ``--vq-filters`` channels) is
trained on the training scenes first (``--autoencoder-epochs``; saved as
autoencoder.keras, its reconstructions of the test scenes judged by the scene
classifier), and the U-Net (64 base filters, levels (1, 2), 2 residual blocks by
default) works on its 8x8 grid of latents before quantisation for 180 epochs;
``--autoencoder PATH`` takes a trained VQ-VAE, VAE or autoencoder instead, and
``--autoencoder none`` diffuses the pixels (a U-Net of 16 base filters, levels (1, 2, 2),
1 residual block, 120 epochs by default). In the latent space the digit follows the
prompt: all five attributes right in 0.92 of the samples of 512 seen-pair prompts at
guidance 3 after 180 epochs, 0.83 of held-out pairs (0.07 and 0.04 on pixels after 120;
docs/models/text-diffusion.md, "Results").
``benchmarks/text_diffusion.py`` measures how well the samples follow their prompts.
Rombach et al. (2022), Ho & Salimans (2022).
"""

import argparse
import os
import time

import keras
import numpy as np

import kgen
from kgen.data import captioned
from kgen.models.text_diffusion import AUTOENCODERS, trained_model

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=None,
                    help="training epochs (default: 180 in latent space, 120 on pixels)")
parser.add_argument("--guidance", type=float, default=3.0)
parser.add_argument("--timesteps", type=int, default=1000)
parser.add_argument("--base-filters", type=int, default=None,
                    help="channels of the U-Net's first level (default: 16 on pixels, 64 on "
                         "latents)")
parser.add_argument("--channel-multipliers", type=int, nargs="+", default=None,
                    help="the U-Net's levels (default: 1 2 2 on pixels, 1 2 on latents)")
parser.add_argument("--num-res-blocks", type=int, default=None,
                    help="residual blocks per level (default: 1 on pixels, 2 on latents)")
parser.add_argument("--autoencoder", default="new",
                    help="'new' (the default): train a VQ-VAE on the scenes first and "
                         "diffuse in its latent space; a trained VQ-VAE, VAE or autoencoder "
                         "(.keras file or run folder); or 'none': diffuse the pixels")
parser.add_argument("--autoencoder-epochs", type=int, default=25)
parser.add_argument("--vq-embeddings", type=int, default=1024)
parser.add_argument("--vq-dim", type=int, default=8)
parser.add_argument("--vq-filters", type=int, default=64,
                    help="channels of the VQ-VAE's encoder and decoder (32 reads the digit "
                         "of 0.78 of its reconstructions of the test scenes, 64 of 0.86)")
parser.add_argument("--num-samples", type=int, default=None,
                    help="training scenes (default: the whole training split)")
parser.add_argument("--seed", type=int, default=0,
                    help="random seed of the weights, the data order and the samples")
parser.add_argument("--out", default="runs/text_diffusion_captioned_digits")
parser.add_argument("--clip", default=None,
                    help="a trained CLIP (a .keras file or a run folder, e.g. from "
                         "recipes/clip_captioned_digits.py) whose tokenizer and text encoder "
                         "the model uses, frozen, instead of training its own")
parser.add_argument("--pooled-context", action=argparse.BooleanOptionalAction,
                    default=True,
                    help="also add the mean of the caption's token vectors to the U-Net's "
                         "timestep embedding (the default; --no-pooled-context: "
                         "cross-attention only)")
parser.add_argument("--resume", action="store_true",
                    help="continue the run in --out (its model.keras, optimizer state "
                         "included, and log.csv) for --epochs more epochs")
args = parser.parse_args()
for flag, value in (("--epochs", args.epochs), ("--vq-filters", args.vq_filters)):
    if value is not None and value < 1:
        parser.error(f"{flag} must be at least 1; got {value}.")
os.makedirs(args.out, exist_ok=True)
keras.utils.set_random_seed(args.seed)
checkpoint, log = os.path.join(args.out, "model.keras"), os.path.join(args.out, "log.csv")

x, captions = kgen.data.load("captioned_digits", split="train", num_samples=args.num_samples,
                             return_captions=True)


def train_vqvae(images):
    """A VQ-VAE of the training scenes (8x8 grids of codes), saved in --out; prints how
    well the scene classifier reads its reconstructions of the test scenes."""
    vqvae = kgen.models.VQVAE.from_shape(images.shape[1:], num_embeddings=args.vq_embeddings,
                                         embedding_dim=args.vq_dim,
                                         base_filters=args.vq_filters,
                                         downsamples=2, seed=args.seed)
    vqvae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vqvae.fit(images, batch_size=64, epochs=args.autoencoder_epochs, verbose=2, shuffle=True,
              callbacks=[kgen.callbacks.StopOnNaN()])
    vqvae.save(os.path.join(args.out, "autoencoder.keras"))
    test = captioned.load_scenes("test")
    shares = kgen.metrics.prompt_adherence(vqvae.reconstruct(test["images"]),
                                           test["attributes"])
    print("VQ-VAE reconstructions of the test scenes, read by the scene classifier: "
          + adherence_text(shares))
    return vqvae


def adherence_text(shares):
    """``kgen.metrics.prompt_adherence``'s shares as one line."""
    rest = ", ".join(f"{k} {v:.3f}" for k, v in shares.items() if k != "all")
    return f"all five right {shares['all']:.3f} ({rest})"


done = 0
if args.resume:
    if not (os.path.exists(checkpoint) and os.path.exists(log)):
        parser.error(f"--resume: {args.out} holds no model.keras and log.csv to continue.")
    model = keras.saving.load_model(checkpoint)
    with open(log) as file:
        done = max(0, sum(1 for line in file if line.strip()) - 1)
    print(f"Resuming {checkpoint} after epoch {done}.")
else:
    # A run folder or .keras file, checked to hold a trained CLIP (a clear error if not).
    text = dict(clip=trained_model(args.clip, kgen.models.CLIP, "CLIP", "clip")) \
        if args.clip else dict(width=64, num_layers=2)
    autoencoder = None
    if args.autoencoder == "new":
        autoencoder = train_vqvae(x)
    elif args.autoencoder != "none":
        autoencoder = trained_model(args.autoencoder, AUTOENCODERS,
                                    "VQ-VAE, VAE or autoencoder", "autoencoder")
    latent = autoencoder is not None
    model = kgen.models.TextDiffusion.from_shape(
        x.shape[1:], None if args.clip else captions, timesteps=args.timesteps,
        schedule="cosine", prediction="v", autoencoder=autoencoder,
        base_filters=args.base_filters or (64 if latent else 16),
        channel_multipliers=tuple(args.channel_multipliers or ((1, 2) if latent else (1, 2, 2))),
        num_res_blocks=args.num_res_blocks or (2 if latent else 1),
        num_heads=4, pooled_context=args.pooled_context, seed=args.seed, **text)
    model.compile(optimizer=keras.optimizers.Adam(5e-4))

epochs = args.epochs if args.epochs is not None else (
    180 if model.autoencoder is not None else 120)
start = time.time()
model.fit(x, captions, batch_size=64, epochs=done + epochs, initial_epoch=done,
          verbose=2, shuffle=True,
          callbacks=[kgen.callbacks.StopOnNaN(), kgen.callbacks.Checkpoint(checkpoint),
                     keras.callbacks.CSVLogger(log, append=args.resume)])
print(f"Trained for {time.time() - start:.0f} s.")
test_x, test_captions = kgen.data.load("captioned_digits", split="test", return_captions=True)
result = model.evaluate(test_x, test_captions, batch_size=64, verbose=0, return_dict=True)
print(f"held-out denoising loss (test scenes, random timesteps): {result['loss']:.4f}")

# Prompt adherence: the full captions (template 0) of 32 test scenes (digit-colour pairs
# seen in training) and of 32 held-out ones, two samples each, judged by the scene
# classifier shipped with kgen.
for label, split in (("seen", "test"), ("held-out", "heldout")):
    scenes = captioned.load_scenes(split, num_samples=32, seed=args.seed)
    samples = model.generate(prompts=np.repeat(scenes["captions"][:, 0], 2).tolist(),
                             guidance_scale=args.guidance, seed=args.seed, steps=50)
    shares = kgen.metrics.prompt_adherence(
        samples, {k: np.repeat(v, 2) for k, v in scenes["attributes"].items()})
    print(f"prompt adherence, {label} prompts, guidance {args.guidance:g}: "
          + adherence_text(shares))

prompts = ["a red zero", "a green one", "a blue two", "a yellow seven",
           "a large white four on a black background", "a small purple nine in the top left"]
rows = np.repeat(prompts, 8).tolist()
samples = model.generate(prompts=rows, guidance_scale=args.guidance, seed=args.seed,
                         steps=50)
kgen.images.save_grid(samples, os.path.join(args.out, "samples.png"), ncols=8)
print("rows:", prompts)
print("Wrote", sorted(os.listdir(args.out)), "to", args.out)
