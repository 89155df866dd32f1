#!/usr/bin/env python
"""Sampling and training time on PyTorch, with a traced network and eagerly, beside TF and JAX.

On PyTorch kgen's sampling loops run in Python and call the network through
`kgen.backend.replayed_network`, which replays a ``torch.jit.trace`` of one call per
input shape (kgen/backend/torch_trace.py); so does the diffusion families' training
loss. This benchmark times ``generate()`` (and ``fit()``) of the same networks, from the
same random weights (a fixed seed; timing does not depend on training), in three ways:

- PyTorch, traced (the default) and eager (``KGEN_TORCH_TRACE=0``): in one process, the
  two alternating call by call, so that both see the same machine load; the samples of the
  two are compared (they must be equal);
- TensorFlow and JAX, each in a subprocess (``--backends``), where ``compile_function``
  compiles the whole loop (``tf.function``, ``jax.jit``).

Each time is the median of ``--repeats`` calls after one warm-up call of the same shape
(tracing, compiling). The cases (`CASES`): the U-Net of ``recipes/diffusion_digits.py``
(8x8x1, 16 filters, 25 images: DDIM with 50 steps and DDPM with 1,000), a larger U-Net
(16x16x1, 32 filters at (1, 2, 2), two residual blocks, 16 images, DDIM-50), and
``PixelCNN.from_shape((28, 28, 1), num_levels=4)`` drawing 16 images with the ``fast``
(row-by-row) sampler and an 8x8 one with the ``compiled`` (whole-image) sampler, and a
`kgen.models.TokenTransformer` (width 64, 4 blocks) drawing 16 grids of 8x8 codes with
its key-value cache (``sample_codes(sampler="cached")``); and training: one ``fit()``
epoch of 20 steps of 64 random images of the two U-Nets and of 10 steps of 32 of the
28x28 PixelCNN (the ``-fit`` cases; "equal": the trained weights of the traced and eager
models within 1e-4 after the same steps). The PixelCNN trains eagerly either way (its
replay did not train faster), so its two PyTorch columns time the same thing.

Usage::

    python benchmarks/torch_sampling.py                       # torch, then TF and JAX
    python benchmarks/torch_sampling.py --backends tensorflow  # torch beside TF only
    KERAS_BACKEND=tensorflow python benchmarks/torch_sampling.py --backend tensorflow --json

See ``benchmarks/README.md`` and docs/benchmarks.md.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

#: name: (family, constructor arguments, generate arguments).
CASES = {
    "unet-8x8-ddim50": ("diffusion", dict(shape=(8, 8, 1), base_filters=16,
                                          channel_multipliers=(1, 2), num_res_blocks=1),
                        dict(num_samples=25, sampler="ddim", steps=50)),
    "unet-8x8-ddpm1000": ("diffusion", dict(shape=(8, 8, 1), base_filters=16,
                                            channel_multipliers=(1, 2), num_res_blocks=1),
                          dict(num_samples=25, sampler="ddpm")),
    "unet-16x16-ddim50": ("diffusion", dict(shape=(16, 16, 1), base_filters=32,
                                            channel_multipliers=(1, 2, 2), num_res_blocks=2),
                          dict(num_samples=16, sampler="ddim", steps=50)),
    "pixelcnn-28x28-fast": ("pixelcnn", dict(shape=(28, 28, 1), num_levels=4),
                            dict(num_samples=16, sampler="fast")),
    "pixelcnn-8x8-compiled": ("pixelcnn", dict(shape=(8, 8, 1), num_levels=4),
                              dict(num_samples=16, sampler="compiled")),
    "transformer-8x8-cached": ("transformer", dict(shape=(32, 32, 1), width=64,
                                                   num_layers=4, num_heads=4),
                               dict(num_samples=16, sampler="cached")),
    "unet-8x8-fit": ("diffusion", dict(shape=(8, 8, 1), base_filters=16,
                                       channel_multipliers=(1, 2), num_res_blocks=1),
                     dict(fit_steps=20, batch_size=64)),
    "unet-16x16-fit": ("diffusion", dict(shape=(16, 16, 1), base_filters=32,
                                         channel_multipliers=(1, 2, 2), num_res_blocks=2),
                       dict(fit_steps=20, batch_size=64)),
    "pixelcnn-28x28-fit": ("pixelcnn", dict(shape=(28, 28, 1), num_levels=4),
                           dict(fit_steps=10, batch_size=32)),
}


def _model(family, options):
    import numpy as np

    import kgen

    options = dict(options)
    shape = options.pop("shape")
    if family == "diffusion":
        model = kgen.models.Diffusion.from_shape(shape, timesteps=1000, schedule="cosine",
                                                 ema=None, seed=0, **options)
    elif family == "pixelcnn":
        model = kgen.models.PixelCNN.from_shape(shape, seed=0, **options)
    else:   # a transformer prior over the 8x8 codes of a VQ-VAE of 32x32 images
        vqvae = kgen.models.VQVAE.from_shape(shape, num_embeddings=32, embedding_dim=4,
                                             base_filters=4, seed=0)
        model = kgen.models.TokenTransformer.from_vqvae(vqvae, seed=0, **options)
    network = model.network
    rng = np.random.default_rng(0)
    for variable in network.variables:   # weights that draw something other than zeros
        if "float" in str(variable.dtype):
            variable.assign(rng.normal(0, 0.1, variable.shape).astype("float32"))
    return model


def _fit_epoch(model, options):
    """One epoch of ``fit_steps`` steps on fixed random images; the trained weights."""
    import keras
    import numpy as np

    if not model.compiled:
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    count = options["fit_steps"] * options["batch_size"]
    shape = getattr(model, "sample_shape", None) or model.image_shape
    x = np.random.default_rng(0).uniform(-1, 1, (count,) + tuple(shape))
    model.fit(x.astype("float32"), batch_size=options["batch_size"], epochs=1, verbose=0,
              shuffle=False)
    return np.concatenate([np.ravel(keras.ops.convert_to_numpy(v))
                           for v in model.network.trainable_variables])


def _sample(model, family, options):
    if "fit_steps" in options:
        return _fit_epoch(model, options)
    if family == "diffusion":
        return model.generate(seed=1, **options)
    options = dict(options)
    sample = model.sample_levels if family == "pixelcnn" else model.sample_codes
    return sample(options.pop("num_samples"), seed=1, **options)


def _timed(function):
    start = time.perf_counter()
    out = function()
    return time.perf_counter() - start, out


def run_backend(cases, repeats):
    import keras
    import numpy as np

    backend_name = keras.backend.backend()
    results = {}
    for name in cases:
        family, options, sample_options = CASES[name]
        ways = {"": None}
        if backend_name == "torch":
            ways = {"traced": "1", "eager": "0"}
        # One model per way, from the same weights (fit() changes them).
        models = {way: _model(family, options) for way in ways}
        times = {way: [] for way in ways}
        outputs = {}
        for repeat in range(repeats + 1):   # the first call of each: warm-up
            for way, switch in ways.items():
                if switch is not None:
                    os.environ["KGEN_TORCH_TRACE"] = switch
                seconds, out = _timed(lambda: _sample(models[way], family, sample_options))
                outputs[way] = np.asarray(out)
                if repeat:
                    times[way].append(seconds)
        os.environ.pop("KGEN_TORCH_TRACE", None)
        row = {f"{way or backend_name}_s": statistics.median(t) for way, t in times.items()}
        if backend_name == "torch":
            traced, eager = outputs["traced"], outputs["eager"]
            if "fit_steps" in sample_options:   # float round-off after the same updates
                row["max_weight_difference"] = float(np.abs(traced - eager).max())
                row["traced_equals_eager"] = row["max_weight_difference"] < 1e-4
            else:
                row["traced_equals_eager"] = bool(np.array_equal(traced, eager))
        results[name] = row
        print(f"{backend_name} {name}: " + ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
            file=sys.stderr, flush=True)
    return results


def _subprocess(backend_name, args):
    command = [sys.executable, os.path.abspath(__file__), "--backend", backend_name,
               "--json", "--repeats", str(args.repeats), "--cases", *args.cases]
    env = dict(os.environ, KERAS_BACKEND=backend_name)
    proc = subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=args.timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{backend_name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                        help="run one backend in this process (KERAS_BACKEND must match)")
    parser.add_argument("--backends", nargs="*", default=["tensorflow", "jax"],
                        choices=("tensorflow", "jax"),
                        help="backends timed beside PyTorch, one subprocess each")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if args.backend is not None:
        if os.environ.get("KERAS_BACKEND") != args.backend:
            parser.error(f"--backend {args.backend} needs KERAS_BACKEND={args.backend}.")
        results = run_backend(args.cases, args.repeats)
        if args.json:
            print(json.dumps(results))
        return results

    results = {"torch": _subprocess("torch", args)}
    for name in args.backends:
        results[name] = _subprocess(name, args)
    print(f"{platform.machine()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"median of {args.repeats} calls after one warm-up, seconds per generate() call")
    others = list(args.backends)
    header = ["case", "torch traced", "torch eager", "eager / traced"]
    header += [f"{b}" for b in others] + [f"traced / {b}" for b in others] + ["equal"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for case in args.cases:
        torch_row = results["torch"][case]
        cells = [case, f"{torch_row['traced_s']:.3f}", f"{torch_row['eager_s']:.3f}",
                 f"{torch_row['eager_s'] / torch_row['traced_s']:.2f}"]
        cells += [f"{results[b][case][b + '_s']:.3f}" for b in others]
        cells += [f"{torch_row['traced_s'] / results[b][case][b + '_s']:.2f}" for b in others]
        cells.append("yes" if torch_row["traced_equals_eager"] else "NO")
        print("| " + " | ".join(cells) + " |")
    if args.json:
        print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
