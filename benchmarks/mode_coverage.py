#!/usr/bin/env python
"""Mode coverage of kgen's GAN on the 2-D Gaussian mixtures, for each adversarial objective.

The VEEGAN / PacGAN benchmark: a GAN with MLP networks learns the 8-Gaussian ring and the
25-Gaussian grid (``kgen.data.load("ring" | "grid")``); its samples are scored with
`kgen.metrics.ModeCoverage` (modes captured, fraction of high-quality samples).

Every configuration is ``kgen.models.GAN.from_shape((2,), seed=s, **options)`` with the
default networks and ``compile()``'s default optimizers, trained with ``fit()``. The
default rows give only the objective: each then trains with its own defaults for
vectors (``kgen.models.gan.OBJECTIVES``: 3x128 MLPs, a 2-D latent space and an EMA
(0.999) of the generator for all; the R1 penalty with weight 0.1 and Adam(1e-3, 0.5,
0.999) for the non-saturating, minimax, hinge and least-squares losses; WGAN-GP
(lambda 1), 5 critic steps and Adam(1e-3, 0, 0.9) for the Wasserstein loss; no
penalty, 5 critic steps and Adam(1e-3, 0, 0.9) with spectral normalisation).

==============================  ==================================================
row                             ``from_shape`` options
==============================  ==================================================
non_saturating                  none (non-saturating loss with R1)
minimax                         ``loss="minimax"``
hinge                           ``loss="hinge"``
least_squares                   ``loss="least_squares"``
wasserstein                     ``loss="wasserstein"`` (WGAN-GP)
hinge+spectral_norm             ``loss="hinge", spectral_norm=True``
==============================  ==================================================

Rows run only when named with ``--configs``: the four non-Wasserstein losses without
the penalty (``non_saturating-no_penalty`` and so on: ``gradient_penalty=None``).

Protocol, per (mixture, configuration, seed): ``keras.utils.set_random_seed(seed)`` (initial
weights); a training set of ``min(100000, steps * batch)`` points drawn with
``kgen.data.load(mixture, num_samples=..., seed=seed)`` (PacGAN trains on 100,000 points);
``fit(x, batch_size=100, epochs=...)`` for about ``--steps`` generator steps (whole epochs);
then 2,500 samples from ``generate(2500, seed=1000 + seed)`` scored by
``ModeCoverage(mixture)`` (nearest mode, high quality within 3 standard deviations, a mode
is captured by one high-quality sample: the rule of PacGAN's released code). The table gives
the mean +- standard deviation over the seeds.

The script is backend independent: it runs on the backend that ``KERAS_BACKEND`` names
(or ``--backend``, which sets it before Keras loads). JAX is the fastest for these small
MLPs on a CPU.

Usage::

    KERAS_BACKEND=jax python benchmarks/mode_coverage.py              # the full benchmark
    KERAS_BACKEND=jax python benchmarks/mode_coverage.py --quick   # smoke run: 300 steps, seed 0
    python benchmarks/mode_coverage.py --backend torch --configs non_saturating --data grid
    python benchmarks/mode_coverage.py --seeds 0 1 2 3 4 --steps 20000 --json results.json

See ``benchmarks/README.md`` and the "Mode coverage" section of ``docs/benchmarks.md``.
"""

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
MIXTURES = ("grid", "ring")
#: Rows of the table: name -> ``GAN.from_shape`` options (the objective's defaults).
CONFIGS = {
    "non_saturating": {},
    "minimax": {"loss": "minimax"},
    "hinge": {"loss": "hinge"},
    "least_squares": {"loss": "least_squares"},
    "wasserstein": {"loss": "wasserstein"},
    "hinge+spectral_norm": {"loss": "hinge", "spectral_norm": True},
}
#: The rows run by default.
DEFAULT_CONFIGS = list(CONFIGS)
for _loss in ("non_saturating", "minimax", "hinge", "least_squares"):
    CONFIGS[f"{_loss}-no_penalty"] = {"loss": _loss, "gradient_penalty": None}
BATCH = 100  # PacGAN's batch size
TRAIN_POINTS = 100_000  # PacGAN's training set size
NUM_SAMPLES = 2_500  # generated samples scored (PacGAN's code)
STEPS = 10_000  # the documented training length (generator steps)
QUICK_STEPS = 300


def training_plan(steps, batch=BATCH):
    """``(number of training points, epochs)`` for about ``steps`` steps of ``batch``."""
    points = min(TRAIN_POINTS, steps * batch)
    epochs = max(1, round(steps * batch / points))
    return points, epochs


def run_one(mixture, config, seed, steps, batch=BATCH, num_samples=NUM_SAMPLES):
    """Trains one GAN and returns its scores and timings."""
    import keras

    import kgen

    keras.utils.set_random_seed(seed)
    points, epochs = training_plan(steps, batch)
    x = kgen.data.load(mixture, num_samples=points, seed=seed)
    gan = kgen.models.GAN.from_shape((2,), seed=seed, **CONFIGS[config])
    gan.compile()
    start = time.perf_counter()
    history = gan.fit(x, batch_size=batch, epochs=epochs, shuffle=True, verbose=0).history
    seconds = time.perf_counter() - start
    metric = kgen.metrics.ModeCoverage(mixture)
    samples = gan.generate(num_samples, seed=1000 + seed)
    metric.update_state(samples)
    result = {k: float(v) for k, v in metric.result().items()}
    finite = all(math.isfinite(v) for values in history.values() for v in values)
    return {
        "mixture": mixture, "config": config, "seed": seed,
        "modes": result["modes"], "high_quality": result["high_quality"],
        "steps": epochs * math.ceil(points / batch), "seconds": seconds,
        "finite_losses": finite, "samples": samples,
    }


def _mean_std(values, scale=1.0, digits=1):
    values = [scale * v for v in values]
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def table(results, mixtures, configs):
    """The markdown table: one row per configuration, modes and % high quality per mixture."""
    maxima = {"grid": 25, "ring": 8}
    head = "| objective |"
    rule = "|---|"
    for mixture in mixtures:
        head += f" {mixture}: modes (max {maxima[mixture]}) | {mixture}: % high quality |"
        rule += "---:|---:|"
    lines = [head, rule]
    for config in configs:
        row = f"| {config} |"
        for mixture in mixtures:
            runs = [r for r in results if r["config"] == config and r["mixture"] == mixture]
            if not runs:
                row += " - | - |"
                continue
            row += (f" {_mean_std([r['modes'] for r in runs])} |"
                    f" {_mean_std([r['high_quality'] for r in runs], scale=100.0)} |")
        lines.append(row)
    return "\n".join(lines)


def protocol(args, backend):
    points, epochs = training_plan(args.steps)
    return (
        f"Protocol: kgen.models.GAN.from_shape((2,), seed=s, **options) + compile() (default "
        f"networks and optimizers); fit() on {points} points of the mixture (seed s), batch "
        f"{BATCH}, {epochs} epoch(s) = {epochs * math.ceil(points / BATCH)} generator steps; "
        f"{NUM_SAMPLES} samples from generate(seed=1000 + s) scored by "
        f"kgen.metrics.ModeCoverage (nearest mode; high quality within 3 std; a mode is "
        f"captured by >= 1 high-quality sample); mean ± std over seeds {args.seeds}; "
        f"backend {backend}."
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=BACKENDS,
                        help="sets KERAS_BACKEND (default: the KERAS_BACKEND environment "
                             "variable, else Keras's default)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds, one run each (default: 0 1 2)")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"generator steps per run (default {STEPS}; {QUICK_STEPS} with "
                             "--quick), rounded to whole epochs")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK_STEPS} steps, seed 0 only (unless --seeds)")
    parser.add_argument("--data", nargs="+", choices=MIXTURES, default=list(MIXTURES),
                        help="mixtures (default: grid ring)")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS),
                        default=DEFAULT_CONFIGS,
                        help="rows to run (default: one per objective, with its defaults)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write every run's numbers to this JSON file")
    parser.add_argument("--scatter", metavar="PATH",
                        help="save a scatter picture (PNG) of the non-saturating row's "
                             "samples on the grid (first seed), over the mode centres")
    args = parser.parse_args(argv)
    if args.quick and args.seeds == [0, 1, 2] and "--seeds" not in (argv or sys.argv):
        args.seeds = [0]
    if args.steps is None:
        args.steps = QUICK_STEPS if args.quick else STEPS
    if args.steps < 1:
        parser.error("--steps must be positive")
    if args.backend:
        if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != args.backend:
            parser.error(f"set KERAS_BACKEND={args.backend} (keras is already imported)")
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/README.md
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras

    import kgen

    backend = keras.backend.backend()
    command = " ".join(shlex.quote(a) for a in [f"KERAS_BACKEND={backend}", "python",
                                                 "benchmarks/mode_coverage.py"]
                       + list(sys.argv[1:] if argv is None else argv))
    print(f"Command: {command}")
    print(protocol(args, backend))
    print(f"Machine: {platform.platform()}, {os.cpu_count()} CPUs; Python "
          f"{platform.python_version()}, Keras {keras.__version__}, kgen {kgen.__version__}.",
          flush=True)

    results = []
    wall = time.perf_counter()
    for mixture in args.data:
        for config in args.configs:
            for seed in args.seeds:
                r = run_one(mixture, config, seed, args.steps)
                results.append(r)
                print(f"  {mixture:4s} {config:20s} seed {seed}: {r['modes']:4.0f} modes, "
                      f"{100 * r['high_quality']:5.1f}% high quality ({r['steps']} steps, "
                      f"{r['seconds']:.0f} s)", flush=True)
                if args.scatter and mixture == "grid" and config == "non_saturating" \
                        and seed == args.seeds[0]:
                    means, _ = kgen.data.mixture_modes("grid")
                    kgen.images.save_scatter(r["samples"], args.scatter, reference=means)
    wall = time.perf_counter() - wall
    print()
    print(table(results, args.data, args.configs))
    print()
    print(f"Wall time: {wall:.0f} s for {len(results)} runs on {backend}.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": command, "protocol": protocol(args, backend),
                       "wall_seconds": wall,
                       "runs": [{k: v for k, v in r.items() if k != "samples"}
                                for r in results]}, f, indent=1)
    return 0 if all(r["finite_losses"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
