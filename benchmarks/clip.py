"""Zero-shot quality of CLIP on the captioned digit scenes: captions one attribute away, and
the digit class.

    KERAS_BACKEND=jax python benchmarks/clip.py [--model runs/clip_captioned_digits/model.keras]
        [--images 1440] [--json]

Without ``--model`` (or when the file does not exist) the model is trained first with
``recipes/clip_captioned_digits.py`` (its defaults, in a subprocess) into the model's folder.

Measured, on the test scenes (digit images never seen in training, attribute pairs seen)
and on the held-out scenes (the `kgen.data.captioned.HELD_OUT` digit/colour pairs, never
seen in training):

- **one attribute away** (target: top-1 of at least 90% on the test scenes with the
  first template): for each image, its caption against every caption that differs
  from it in exactly one attribute (9 digits, 5 colours, 5 backgrounds, 1 size, 4 positions:
  25 captions, chance 4%); top-1 is the fraction of images whose own caption scores
  highest. With the first template (``"a small red seven in the top left on a blue
  background"``), and with the five templates' text embeddings averaged (prompt
  ensembling, Radford et al. 2021, section 3.1.4). The errors are split by the attribute
  of the caption that won.
- **digit zero-shot**: ten prompts ``"a photo of the digit zero"`` .. ``"nine"``, and, as a
  prompt ensemble, the mean text embedding of every caption of each digit (all the other
  attributes, all templates). No image is used to build either classifier.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="runs/clip_captioned_digits/model.keras")
parser.add_argument("--images", type=int, default=None,
                    help="images of each split (default: all 1,440)")
parser.add_argument("--seed", type=int, default=0, help="the scenes' seed (as the recipe's)")
parser.add_argument("--json", action="store_true")
args = parser.parse_args()

if not os.path.exists(args.model):
    recipe = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "recipes",
                          "clip_captioned_digits.py")
    print(f"{args.model} not found: training it with {os.path.normpath(recipe)}", flush=True)
    subprocess.run([sys.executable, recipe, "--out", os.path.dirname(args.model) or "."],
                   check=True)

import keras  # noqa: E402 (after the subprocess, which imports its own)

import kgen  # noqa: E402
from kgen.data import captioned  # noqa: E402

model = keras.saving.load_model(args.model)
names = list(captioned.ATTRIBUTES)
combinations = [c for c in itertools.product(*(range(len(v)) for v in
                                                captioned.ATTRIBUTES.values()))
                if c[1] != c[2]]     # never a digit in its background's colour
row_of = {c: k for k, c in enumerate(combinations)}


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


start = time.time()
# The text embedding of every scene description, per template, and their mean.
by_template = np.stack([
    model.encode_text([captioned.caption(dict(zip(names, c)), t) for c in combinations])
    for t in range(len(captioned.TEMPLATES))])
text = {"template 0": by_template[0], "ensemble of 5 templates": unit(by_template.mean(0))}
digit_prompts = model.encode_text(
    [f"a photo of the digit {word}" for word in captioned.DIGITS])
digit_ensemble = unit(np.stack([
    by_template[:, [k for k, c in enumerate(combinations) if c[0] == d]].mean(axis=(0, 1))
    for d in range(10)]))
encode_seconds = time.time() - start

results = {"model": args.model, "backend": keras.backend.backend(), "splits": {}}
for split in ("test", "heldout"):
    scenes = captioned.load_scenes(split, seed=args.seed)
    count = len(scenes["images"]) if args.images is None else args.images
    images = scenes["images"][:count]
    attributes = {k: v[:count] for k, v in scenes["attributes"].items()}
    image = model.encode_images(images)
    split_results = {"images": count}
    for label, table in text.items():
        correct, lost_to = 0, {name: 0 for name in names}
        for k in range(count):
            own = tuple(int(attributes[name][k]) for name in names)
            changes = captioned.one_attribute_changes(dict(zip(names, own)))
            rows = [row_of[own]] + [row_of[tuple(c[n] for n in names)] for _, c in changes]
            scores = table[rows] @ image[k]
            best = int(np.argmax(scores))
            if best == 0:
                correct += 1
            else:
                lost_to[changes[best - 1][0]] += 1
        split_results[f"one attribute away, {label}"] = {
            "top1": correct / count, "errors by attribute": lost_to}
    labels = attributes["digit"]
    split_results["digit zero-shot, prompts"] = float(np.mean(
        np.argmax(image @ digit_prompts.T, axis=1) == labels))
    split_results["digit zero-shot, ensemble"] = float(np.mean(
        np.argmax(image @ digit_ensemble.T, axis=1) == labels))
    results["splits"][split] = split_results
results["seconds"] = round(time.time() - start, 1)
results["text encoding seconds"] = round(encode_seconds, 1)

if args.json:
    print(json.dumps(results, indent=2))
else:
    print(f"CLIP {args.model} ({results['backend']}), {len(combinations)} scene descriptions")
    for split, split_results in results["splits"].items():
        print(f"\n{split} scenes ({split_results['images']} images)")
        for key, value in split_results.items():
            if isinstance(value, dict):
                errors = ", ".join(f"{n} {v}" for n, v in value["errors by attribute"].items())
                print(f"  {key}: top-1 {value['top1']:.3f} (errors: {errors})")
            elif key != "images":
                print(f"  {key}: {value:.3f}")
    top1 = results["splits"]["test"]["one attribute away, template 0"]["top1"]
    print(f"\ntarget: top-1 one attribute away on the test scenes >= 0.90: "
          f"{'met' if top1 >= 0.9 else 'NOT met'} ({top1:.3f})")
    print(f"{results['seconds']} s")
