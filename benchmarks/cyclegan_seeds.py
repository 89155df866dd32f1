#!/usr/bin/env python
"""Which seeds of `recipes/cyclegan_photos.py` learn the negative, and what decides it.

For each seed, builds the recipe's CycleGAN (``kgen.models.CycleGAN.from_shape`` with the
class's defaults for 16x16 RGB images) after ``keras.utils.set_random_seed(seed)``, and
measures, before any training, each generator's *brightness slope*: the least-squares
slope of its output's brightness (the mean of the three channels) against its input's,
over every pixel of its domain's training patches (A patches for ``G_AB``, B patches for
``G_BA``). The negative has slope -1; a map that keeps brightness has a positive slope.
It then trains the model as the recipe does (batches of 16 from each domain, the data
order drawn from ``--data-seed``, by default the seed itself) for ``--epochs`` epochs and
prints the mean absolute error of the 90 held-out A patches' translations against their
negatives, beside that of always answering the mean B image.

``--data-seed`` fixed to one value while the seeds vary (or the other way round) tells the
initial weights' part from the data order's. ``--option NAME=VALUE`` (repeatable) passes a
``from_shape`` argument (``cycle_weight=5``, ``loss="hinge"``, ``pool_size=0``,
``num_blocks=1`` ...) to try a change on every seed.

    KERAS_BACKEND=jax python benchmarks/cyclegan_seeds.py --seeds 0 1 2 3 4 7 --epochs 5
    KERAS_BACKEND=jax python benchmarks/cyclegan_seeds.py --seeds 0 1 --data-seed 1 --json
    KERAS_BACKEND=jax python benchmarks/cyclegan_seeds.py --seeds 1 2 --option cycle_weight=1
"""

import ast

import argparse
import json
import time

import keras
import numpy as np

import kgen

DATA = "photos-negative"


def brightness_slope(generator, images):
    """Least-squares slope of the output's channel mean against the input's, per pixel."""
    outputs = generator.predict(images, batch_size=256, verbose=0)
    x = images.mean(axis=-1).ravel()
    y = outputs.mean(axis=-1).ravel()
    return float(np.cov(x, y)[0, 1] / x.var())


def run(seed, data_seed, epochs, batch_size, options):
    domain_a, domain_b = kgen.data.load_unpaired(DATA, split="train")
    test_a, _ = kgen.data.load_unpaired(DATA, split="test")
    truth = kgen.data.to_data_space(kgen.data.true_translation(DATA, test_a))
    test_a = kgen.data.to_data_space(test_a)
    keras.utils.set_random_seed(seed)
    model = kgen.models.CycleGAN.from_shape(domain_a.shape[1:], domain_b.shape[1:],
                                            seed=seed, **options)
    model.compile()
    slope_ab = brightness_slope(model.generator_ab, kgen.data.to_data_space(domain_a))
    slope_ba = brightness_slope(model.generator_ba, kgen.data.to_data_space(domain_b))
    keras.utils.set_random_seed(data_seed)
    dataset = kgen.data.unpaired_images(domain_a, domain_b, batch_size=batch_size,
                                        seed=data_seed)
    start = time.perf_counter()
    model.fit(dataset, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    error = float(np.mean(np.abs(model.generate(inputs=test_a) - truth)))
    mean_b = float(np.mean(np.abs(kgen.data.to_data_space(domain_b).mean(axis=0) - truth)))
    return {"seed": seed, "data_seed": data_seed, "epochs": epochs,
            "initial_brightness_slope_ab": slope_ab, "initial_brightness_slope_ba": slope_ba,
            "test_error": error, "mean_b_error": mean_b, "train_seconds": seconds,
            "options": options, "backend": keras.backend.backend()}


def parse_option(text):
    """``NAME=VALUE`` to ``(name, value)``, the value a Python literal or else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-seed", type=int, default=None,
                        help="seed of the data order for every run (default: each seed)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--option", type=parse_option, action="append", default=[],
                        metavar="NAME=VALUE", help="a CycleGAN.from_shape argument")
    parser.add_argument("--json", action="store_true", help="print one JSON line per run")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        data_seed = seed if args.data_seed is None else args.data_seed
        row = run(seed, data_seed, args.epochs, args.batch_size, dict(args.option))
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    if not args.json:
        print(f"CycleGAN on {DATA}, {args.epochs} epochs, {keras.backend.backend()}, "
              f"options {dict(args.option)}")
        print("| seed | data seed | initial brightness slope G_AB / G_BA | test error | "
              "mean B image's | training |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['seed']} | {row['data_seed']} | "
                  f"{row['initial_brightness_slope_ab']:+.3f} / "
                  f"{row['initial_brightness_slope_ba']:+.3f} | {row['test_error']:.4f} | "
                  f"{row['mean_b_error']:.4f} | {row['train_seconds']:.0f} s |")


if __name__ == "__main__":
    main()
