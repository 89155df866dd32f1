"""Prompt adherence and FID of text-to-image diffusion on the captioned digit scenes.

    KERAS_BACKEND=jax python benchmarks/text_diffusion.py
        [--model runs/text_diffusion_captioned_digits/model.keras] [--prompts 64]
        [--per-prompt 4] [--scales 1 3 5 7.5] [--steps 50] [--json]
        [--rerank runs/clip_captioned_digits/model.keras --candidates 8]

Without ``--model`` (or when the file does not exist) the model is trained first with
``recipes/text_diffusion_captioned_digits.py`` (its defaults, in a subprocess) into the
model's folder, and the training time is reported.

The judge is the scene classifier shipped with kgen (`kgen.metrics.prompt_adherence`,
trained on scenes of the training digits in every attribute combination; its accuracy
on the real scenes of both prompt sets is printed first, as the ceiling of what it can
confirm). Prompts are the first captions (template 0: ``"a small red seven in the top
left on a blue background"``, all five attributes named) of ``--prompts`` scenes of

- **seen**: the ``"test"`` split (every digit-colour pair occurs in training, the
  scenes themselves do not);
- **held-out**: the ``"heldout"`` split (the digit-colour pairs of
  `kgen.data.captioned.HELD_OUT`, never shown in training: compositional
  generalisation).

Each prompt is drawn ``--per-prompt`` times (DDIM, ``--steps`` steps, eta 0, seed 0) at
every classifier-free guidance scale of ``--scales``; a sample adheres when the classifier
reads every attribute its prompt names. Reported: that share (target: at least 80% on the
seen prompts), the share right per attribute, and the FID of the seen prompts' samples
against the test scenes with the classifier's 128-D features (`kgen.metrics.
FrechetInceptionDistance("scenes")`), beside the FID of as many training scenes against the
same test scenes (the value of perfect samples at this sample count) and, for a model in
an autoencoder's latent space, of the autoencoder's reconstructions of those scenes (what
the autoencoder alone does to their FID). With ``--per-prompt`` above 1 the samples show fewer different
scenes than the training scenes they are compared with, which raises their FID: compare
FIDs with ``--per-prompt 1``.

``--rerank CLIP`` adds CLIP re-ranking (Ramesh et al. 2021; `kgen.clip_guidance.rerank`
with a CLIP model trained by ``recipes/clip_captioned_digits.py``): each prompt is drawn
``--candidates`` times as often, and the ``--per-prompt`` samples of each prompt that the
CLIP model finds closest to it are judged. "As drawn" is then the share over all the
candidates; the classifier that judges is not the CLIP model and has not seen the samples.
"Ceiling": what a perfect ranking would reach with the same candidates (for each prompt,
the right candidates, at most ``--per-prompt``, over ``--per-prompt``).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="runs/text_diffusion_captioned_digits/model.keras")
parser.add_argument("--prompts", type=int, default=64, help="prompts of each set")
parser.add_argument("--per-prompt", type=int, default=4, help="samples of each prompt")
parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.0, 5.0, 7.5])
parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
parser.add_argument("--seed", type=int, default=0, help="the scenes' and the samples' seed")
parser.add_argument("--grid", default=None,
                    help="write a grid of the first prompts' samples per scale to this "
                         "folder (one PNG per set and scale)")
parser.add_argument("--rerank", default=None, metavar="CLIP",
                    help="a trained kgen CLIP model (.keras): keep each prompt's samples "
                         "it finds closest to the prompt")
parser.add_argument("--candidates", type=int, default=8,
                    help="with --rerank: samples drawn for each one kept")
parser.add_argument("--json", action="store_true")
args = parser.parse_args()
if args.candidates < 1:
    parser.error("--candidates must be at least 1")
candidates = args.candidates if args.rerank else 1

training_seconds = None
if not os.path.exists(args.model):
    recipe = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "recipes",
                          "text_diffusion_captioned_digits.py")
    print(f"{args.model} not found: training it with {os.path.normpath(recipe)}", flush=True)
    start = time.time()
    subprocess.run([sys.executable, recipe, "--out", os.path.dirname(args.model) or "."],
                   check=True)
    training_seconds = time.time() - start

import keras  # noqa: E402 (after the subprocess, which imports its own)

import kgen  # noqa: E402
from kgen.data import captioned  # noqa: E402
from kgen.metrics import (FrechetInceptionDistance, prompt_adherence,  # noqa: E402
                          scene_attributes)

model = keras.saving.load_model(args.model)
clip = keras.saving.load_model(args.rerank) if args.rerank else None
names = list(captioned.ATTRIBUTES)


def judged(images, attributes):
    """The share of images whose every attribute is read right, and the share per attribute."""
    shares = prompt_adherence(images, attributes)
    return shares.pop("all"), shares


def reranked(samples, prompts):
    """Each prompt's ``--per-prompt`` samples the CLIP model finds closest to it."""
    drawn = args.per_prompt * candidates
    kept = [kgen.clip_guidance.rerank(clip, samples[i:i + drawn], prompts[i],
                                      top=args.per_prompt).images
            for i in range(0, len(samples), drawn)]
    return np.concatenate(kept)


def ranking_ceiling(samples, attributes):
    """The share a perfect ranking of each prompt's candidates would reach."""
    seen = scene_attributes(samples)
    right = np.logical_and.reduce([seen[n] == attributes[n] for n in names])
    per_prompt = right.reshape(-1, args.per_prompt * candidates).sum(axis=1)
    return float(np.minimum(per_prompt, args.per_prompt).mean() / args.per_prompt)


def fid(generated, real):
    metric = FrechetInceptionDistance("scenes")
    metric.update_state(kgen.data.to_data_space(real), kgen.data.to_data_space(generated))
    return float(metric.result())


test_images = captioned.load_scenes("test", seed=args.seed)["images"]
results = {"backend": keras.backend.backend(), "model": args.model,
           "prompts": args.prompts, "per_prompt": args.per_prompt, "steps": args.steps,
           "training_seconds": training_seconds, "rerank": args.rerank,
           "candidates": candidates, "sets": {}}
count = args.prompts * args.per_prompt
train_images = captioned.load_scenes("train", num_samples=count, seed=args.seed + 1)["images"]
results["fid_of_training_scenes"] = fid(train_images, test_images)
if model.autoencoder is not None:
    # What the autoencoder alone does to the FID: its reconstructions of those scenes.
    results["fid_of_reconstructions"] = fid(
        model.autoencoder.reconstruct(kgen.data.to_data_space(train_images)), test_images)
for label, split in (("seen", "test"), ("held-out", "heldout")):
    scenes = captioned.load_scenes(split, num_samples=args.prompts, seed=args.seed)
    drawn = args.per_prompt * candidates
    prompts = np.repeat(scenes["captions"][:, 0], drawn).tolist()
    wanted = {name: np.repeat(scenes["attributes"][name], args.per_prompt) for name in names}
    ceiling, _ = judged(scenes["images"], scenes["attributes"])
    entry = {"classifier on the real scenes": ceiling, "scales": {},
             "grid rows": scenes["captions"][:min(8, args.prompts), 0].tolist()}
    for scale in args.scales:
        start = time.time()
        samples = model.generate(prompts=prompts, seed=args.seed, sampler="ddim",
                                 steps=args.steps, eta=0.0,
                                 guidance_scale=None if scale == 1.0 else scale)
        seconds = time.time() - start
        row = {"seconds": seconds}
        if clip is not None:
            every = {name: np.repeat(scenes["attributes"][name], drawn) for name in names}
            row["as drawn"], _ = judged(samples, every)
            row["ceiling"] = ranking_ceiling(samples, every)
            samples = reranked(samples, prompts)
        share, per_attribute = judged(samples, wanted)
        row.update({"all attributes": share, "per attribute": per_attribute})
        if label == "seen":
            row["fid"] = fid(samples, test_images)
        entry["scales"][f"{scale:g}"] = row
        if args.grid:
            os.makedirs(args.grid, exist_ok=True)
            shown = min(8, args.prompts) * args.per_prompt
            kgen.images.save_grid(samples[:shown], os.path.join(
                args.grid, f"{label}_scale_{scale:g}.png"), ncols=args.per_prompt)
        drawn_text = (f" (as drawn {row['as drawn']:.3f}, ceiling {row['ceiling']:.3f})"
                      if clip is not None else "")
        print(f"{label} prompts, guidance {scale:g}: all attributes {share:.3f}{drawn_text} "
              f"({seconds:.0f} s)", flush=True)
    results["sets"][label] = entry

if args.json:
    print(json.dumps(results, indent=1))
else:
    print(f"\nbackend {results['backend']}; {args.prompts} prompts x {args.per_prompt} "
          f"samples per set, DDIM {args.steps} steps")
    if clip is not None:
        print(f"re-ranked by {args.rerank}: the best {args.per_prompt} of "
              f"{args.per_prompt * candidates} samples per prompt; 'drawn': all of them; "
              "'ceiling': a perfect ranking of them")
    print(f"FID (scene classifier features) of {count} training scenes vs the "
          f"{len(test_images)} test scenes: {results['fid_of_training_scenes']:.2f}")
    if "fid_of_reconstructions" in results:
        print(f"FID of the autoencoder's reconstructions of those training scenes: "
              f"{results['fid_of_reconstructions']:.2f}")
    if args.per_prompt > 1:
        print(f"(the samples show {args.prompts} scenes, {args.per_prompt} times each: "
              f"fewer different scenes than the {count} training scenes, which raises "
              f"their FID; --per-prompt 1 compares like with like)")
    for label, entry in results["sets"].items():
        print(f"\n{label} prompts (classifier on the real scenes: "
              f"{entry['classifier on the real scenes']:.3f} all five right)")
        if args.grid:
            print("grid rows: " + "; ".join(entry["grid rows"]))
        drawn_head = "  drawn  ceiling" if clip is not None else ""
        print("scale  all  " + drawn_head + "  " + "  ".join(f"{n[:10]:>10}" for n in names)
              + "    FID")
        for scale, row in entry["scales"].items():
            fid_text = f"{row['fid']:7.2f}" if "fid" in row else ""
            drawn_text = (f"  {row['as drawn']:.3f}  {row['ceiling']:.3f}  "
                          if clip is not None else "")
            print(f"{scale:>5}  {row['all attributes']:.3f}{drawn_text}  " + "  ".join(
                f"{row['per attribute'][n]:10.3f}" for n in names) + f"  {fid_text}")
