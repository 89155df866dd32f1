"""Diffusion sampling: digits-FID and time per image against the number of sampler steps.

Measures a trained `kgen.models.Diffusion` checkpoint (from recipes/diffusion_digits.py)
with DDIM at several step counts, deterministic (eta 0) and stochastic (eta 1, each step
with fresh noise of the DDPM posterior's variance), with DPM-Solver++(2M) at
``--dpm-steps`` (deterministic) and with 1000-step DDPM:

- quality: FID with kgen's offline digits classifier features (the metric of
  ``kgen evaluate --metric fid`` for digits models), between ``--num-samples`` generated
  digits and the 360 digits of the test split (which the recipe does not train on);
- speed: seconds per generated image (the fastest of ``--repeats`` timed calls of
  ``generate()`` after a warm-up call that compiles the sampling loop, batches of
  ``--batch-size``).

```bash
KERAS_BACKEND=jax python benchmarks/diffusion.py --model runs/diffusion_digits/model.keras
python benchmarks/diffusion.py --model M --timing-backends jax tensorflow torch   # timing per backend
```

FID runs on the active backend; with ``--timing-backends`` the script starts itself once
per backend (``--timing-only --json``) for the timing and prints a Markdown table of both.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="runs/diffusion_digits/model.keras")
parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50, 100])
parser.add_argument("--etas", type=float, nargs="+", default=[0.0, 1.0],
                    help="DDIM eta values, each with every --steps (default: 0 1)")
parser.add_argument("--dpm-steps", type=int, nargs="*", default=[10, 20, 25],
                    help="DPM-Solver++(2M) step counts (default: 10 20 25; none: no rows)")
parser.add_argument("--no-ddpm", action="store_true", help="skip the 1000-step DDPM row")
parser.add_argument("--num-samples", type=int, default=1000)
parser.add_argument("--batch-size", type=int, default=500)
parser.add_argument("--timing-samples", type=int, default=200)
parser.add_argument("--repeats", type=int, default=3,
                    help="timed calls per row; the fastest is reported (default 3)")
parser.add_argument("--timing-only", action="store_true")
parser.add_argument("--timing-backends", nargs="*", default=[])
parser.add_argument("--json", action="store_true")
parser.add_argument("--trained-weights", action="store_true",
                    help="sample with the trained weights instead of their moving average")
args = parser.parse_args()

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kgen  # noqa: E402


class Sampled:
    """``generate(n, seed=...)`` of a model with one sampler configuration."""

    def __init__(self, model, batch_size, **options):
        self.model, self.batch_size, self.options = model, batch_size, options

    def generate(self, num_samples, seed=None):
        return self.model.generate(num_samples, seed=seed, batch_size=self.batch_size,
                                   **self.options)


def configurations(model):
    rows = [(f"DDIM-{s}" + (f", eta {eta:g}" if eta else ""),
             {"sampler": kgen.samplers.DDIM(steps=s, eta=eta)})
            for eta in args.etas for s in args.steps]
    rows += [(f"DPM-Solver++(2M)-{s}", {"sampler": kgen.samplers.DPMSolver(steps=s)})
             for s in args.dpm_steps]
    if not args.no_ddpm:
        rows.append((f"DDPM-{model.timesteps}", {"sampler": "ddpm"}))
    return rows


def seconds_per_image(model, options):
    sampled = Sampled(model, args.batch_size, **options)
    sampled.generate(args.timing_samples, seed=0)           # compiles the loop
    times = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        sampled.generate(args.timing_samples, seed=1 + repeat)
        times.append(time.perf_counter() - start)
    return min(times) / args.timing_samples


def main():
    model = keras.saving.load_model(args.model)
    if args.trained_weights and model.ema_network is not None:
        model.ema_network.set_weights(model.network.get_weights())
    results = {"backend": keras.backend.backend(), "rows": {}}
    test = kgen.data.load("digits", split="test")
    for name, options in configurations(model):
        row = {"seconds_per_image": seconds_per_image(model, options)}
        if not args.timing_only:
            metric = kgen.metrics.FrechetInceptionDistance("digits")
            row["fid"] = kgen.callbacks.compute_metric(
                Sampled(model, args.batch_size, **options), metric, args.num_samples,
                data=test, batch_size=args.num_samples, seed=0)
        results["rows"][name] = row
        if not args.json:
            print(name, row, flush=True)
    return results


def timing_elsewhere(backend):
    command = [sys.executable, __file__, "--model", args.model, "--timing-only", "--json",
               "--batch-size", str(args.batch_size), "--timing-samples",
               str(args.timing_samples), "--repeats", str(args.repeats),
               "--steps", *map(str, args.steps), "--etas", *map(str, args.etas),
               "--dpm-steps", *map(str, args.dpm_steps)]
    if args.trained_weights:
        command.append("--trained-weights")
    if args.no_ddpm:
        command.append("--no-ddpm")
    env = dict(os.environ, KERAS_BACKEND=backend)
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    results = main()
    if args.json:
        print(json.dumps(results))
        sys.exit(0)
    timings = {b: timing_elsewhere(b) for b in args.timing_backends
               if b != results["backend"]}
    timings[results["backend"]] = results
    backends = sorted(timings)
    print(f"\n{args.model}: FID on {args.num_samples} samples vs the 360 test digits "
          f"({results['backend']}); ms per image, batches of {args.batch_size}\n")
    print("| sampler | digits-FID | " + " | ".join(f"{b} ms/image" for b in backends) + " |")
    print("|---|---:|" + "---:|" * len(backends))
    for name in results["rows"]:
        fid = results["rows"][name].get("fid")
        cells = [f"{1000 * timings[b]['rows'][name]['seconds_per_image']:.2f}" for b in backends]
        print(f"| {name} | {'-' if fid is None else f'{fid:.2f}'} | " + " | ".join(cells) + " |")
    print(f"\n{platform.platform()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; keras {keras.__version__}")
