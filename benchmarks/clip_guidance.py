"""CLIP guidance on the digits: does a prompt move a GAN's samples to the digit it names?

    KERAS_BACKEND=jax python benchmarks/clip_guidance.py [--gan-epochs 30] [--clip-epochs 30]
        [--pool 64] [--keep 8] [--steps 100] [--json]

Trains a DCGAN (`kgen.models.GAN.from_shape`, its defaults) and a small CLIP on the
bundled digits' train split (captions "a photo of the digit three", "the digit three",
"a handwritten three"), then for each digit and its prompt "a photo of the digit
<name>" measures, with the shipped digits classifier (about 99% accurate on the test
split) as the judge, the share of samples of that digit:

- **plain**: ``--pool`` samples of the GAN (seed 0), as drawn;
- **rerank**: the ``--keep`` of those the CLIP model finds closest to the prompt
  (`kgen.clip_guidance.rerank`);
- **search**: ``--keep`` latent vectors (seed 0) after ``--steps`` steps of
  `kgen.clip_guidance.search_latents` (its defaults otherwise);

and the CLIP model's digit zero-shot accuracy on the test split with the same prompts.
"""

import argparse
import json
import time

import keras
import numpy as np

import kgen
from kgen.data.captioned import DIGITS
from kgen.metrics.extractors.digits_classifier import load_digits_classifier

parser = argparse.ArgumentParser()
parser.add_argument("--gan-epochs", type=int, default=30)
parser.add_argument("--clip-epochs", type=int, default=30)
parser.add_argument("--pool", type=int, default=64)
parser.add_argument("--keep", type=int, default=8)
parser.add_argument("--steps", type=int, default=100)
parser.add_argument("--json", action="store_true")
args = parser.parse_args()

keras.utils.set_random_seed(0)   # the CLIP model's initial weights and data order
images, labels = kgen.data.load("digits", split="train", return_labels=True)
test_images, test_labels = kgen.data.load("digits", split="test", return_labels=True)
prompts = [f"a photo of the digit {DIGITS[d]}" for d in range(10)]
captions = np.array([[prompts[d], f"the digit {DIGITS[d]}", f"a handwritten {DIGITS[d]}"]
                     for d in labels])

start = time.time()
gan = kgen.models.GAN.from_shape(images.shape[1:], seed=0)
gan.compile()
gan.fit(kgen.data.images(images), epochs=args.gan_epochs, verbose=0)
gan_seconds = time.time() - start

start = time.time()
clip = kgen.models.CLIP.from_shape(images.shape[1:], captions, embed_dim=32, width=32,
                                   num_layers=1, num_heads=2, base_filters=16)
clip.compile()
clip.fit(images, captions, batch_size=64, epochs=args.clip_epochs, verbose=0)
clip_seconds = time.time() - start
zero_shot = float(np.mean(clip.zero_shot(test_images, prompts).argmax(axis=1) == test_labels))

classifier = load_digits_classifier()


def digits_of(samples):
    return np.asarray(classifier.predict(samples, verbose=0)).argmax(axis=1)


pool = gan.generate(args.pool, seed=0)
pool_digits = digits_of(pool)
rows = []
start = time.time()
for digit, prompt in enumerate(prompts):
    ranked = kgen.clip_guidance.rerank(clip, pool, prompt, top=args.keep)
    found = kgen.clip_guidance.search_latents(gan, clip, prompt, args.keep, seed=0,
                                              steps=args.steps)
    rows.append({"digit": digit, "plain": float(np.mean(pool_digits == digit)),
                 "rerank": float(np.mean(pool_digits[ranked.indices] == digit)),
                 "search": float(np.mean(digits_of(found.samples) == digit)),
                 "similarity_before": float(found.initial_similarity.mean()),
                 "similarity_after": float(found.similarity.mean())})
guidance_seconds = time.time() - start

summary = {key: float(np.mean([row[key] for row in rows]))
           for key in ("plain", "rerank", "search", "similarity_before", "similarity_after")}
result = {"backend": keras.backend.backend(), "gan_epochs": args.gan_epochs,
          "clip_epochs": args.clip_epochs, "pool": args.pool, "keep": args.keep,
          "steps": args.steps, "clip_zero_shot": zero_shot, "gan_seconds": round(gan_seconds),
          "clip_seconds": round(clip_seconds), "guidance_seconds": round(guidance_seconds),
          "mean": summary, "digits": rows}
if args.json:
    print(json.dumps(result))
else:
    print(f"GAN {args.gan_epochs} epochs in {gan_seconds:.0f} s; CLIP {args.clip_epochs} "
          f"epochs in {clip_seconds:.0f} s, digit zero-shot on the test split {zero_shot:.3f}")
    print("digit  plain  rerank  search  similarity before -> after")
    for row in rows:
        print(f"{row['digit']:5d}  {row['plain']:.3f}  {row['rerank']:.3f}   "
              f"{row['search']:.3f}   {row['similarity_before']:.3f} -> "
              f"{row['similarity_after']:.3f}")
    print(f" mean  {summary['plain']:.3f}  {summary['rerank']:.3f}   {summary['search']:.3f}"
          f"   {summary['similarity_before']:.3f} -> {summary['similarity_after']:.3f}"
          f"   ({guidance_seconds:.0f} s for the guidance)")
