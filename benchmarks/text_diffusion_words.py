#!/usr/bin/env python
"""How much one word of the prompt moves a text-to-image sample, with the noise held fixed.

For each ``--seeds`` seed, draws one sample (DDIM, ``--steps`` steps, guidance
``--guidance``) of "a large red {digit} in the centre on a blue background" for each of
the ten digit words, of "a large {colour} seven in the centre on a blue background" for
five colour words, all from the seed's starting noise, and of the first prompt from five
other seeds' noise. It prints the mean absolute change of a sample (data space, per
pixel) when the digit word changes, when the colour word changes and when the noise
changes, and the digits that the shipped scene classifier
(`kgen.metrics.scene_attributes`) reads in the ten digit samples. A model that follows
the digit word changes its sample about as much for a new digit as for a new colour,
and the classifier reads the ten digits asked for.

    KERAS_BACKEND=jax python benchmarks/text_diffusion_words.py \\
        --model runs/text_diffusion_captioned_digits/model.keras --grid /tmp/words
"""

import argparse
import json

import keras
import numpy as np

import kgen
from kgen.data.captioned import DIGITS
from kgen.metrics import scene_attributes

COLOURS = ("red", "green", "yellow", "white", "black")


def sample(model, prompt, seed, args):
    return model.generate(1, prompt=prompt, seed=seed, sampler="ddim", steps=args.steps,
                          guidance_scale=args.guidance)[0]


def mean_change(samples):
    """Mean absolute difference of every sample but the first from the first."""
    return float(np.abs(samples[1:] - samples[:1]).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="runs/text_diffusion_captioned_digits/model.keras")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--grid", default=None,
                        help="write the digit samples of each seed to GRID_<seed>.png")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = keras.saving.load_model(args.model)
    changes = {"digit word": [], "colour word": [], "noise": []}
    read = {}
    for seed in args.seeds:
        digits = np.stack([sample(model, f"a large red {word} in the centre on a blue "
                                  "background", seed, args) for word in DIGITS])
        colours = np.stack([sample(model, f"a large {colour} seven in the centre on a blue "
                                   "background", seed, args) for colour in COLOURS])
        noises = np.stack([sample(model, "a large red zero in the centre on a blue "
                                  "background", seed * 100 + i, args) for i in range(5)])
        changes["digit word"].append(mean_change(digits))
        changes["colour word"].append(mean_change(colours))
        changes["noise"].append(mean_change(noises))
        read[seed] = scene_attributes(digits)["digit"].tolist()
        if args.grid:
            kgen.images.save_grid(digits, f"{args.grid}_{seed}.png", ncols=10, scale=3)
    result = {"model": args.model, "guidance": args.guidance, "steps": args.steps,
              "mean_change": {k: float(np.mean(v)) for k, v in changes.items()},
              "digits_read": read}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.model}, guidance {args.guidance}, DDIM {args.steps} steps, seeds "
          f"{args.seeds}")
    for name, value in result["mean_change"].items():
        print(f"  mean absolute change when the {name} changes: {value:.4f}")
    for seed, digits in read.items():
        print(f"  seed {seed}: the classifier reads {digits} for the digits 0..9")


if __name__ == "__main__":
    main()
