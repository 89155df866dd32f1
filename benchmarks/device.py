#!/usr/bin/env python
"""Device benchmark: every family's fit() step and generate() throughput, per backend.

On each backend (one subprocess per backend, ``KERAS_BACKEND`` set), on whatever device
the backend finds (a GPU, or the CPU), it measures:

1. the training step of every registered family (`kgen.models.registry`): the median
   ms/step of ``fit()`` after ``--warmup`` steps, with p10/p90, timed by the callback of
   ``benchmarks/step_time.py`` (``_StepTimer``, blocking on each step's results with
   ``_block_logs``), on synthetic data of the family's data kind made by the test
   harness (``tests/harness.py``: ``family_data``, ``build_tiny``, ``fit_tiny``,
   ``generate_kwargs``);
2. the images per second of ``generate()`` of every family trained on batches (one
   warm-up call, then ``--generate-calls`` timed calls; translation families translate
   their inputs), and for diffusion of each sampler: DDPM (every timestep of the model),
   DDIM and DPM-Solver++ at ``--sampler-steps`` steps;
3. the DCGAN of ``benchmarks/step_time.py`` trained by ``fit()`` beside the hand-written
   loop (its ``run_backend``): the kgen / hand-written ratio of the step time.

Sizes (``--size``):

- ``small`` (the default without an accelerator): each family's registered ``tiny``
  configuration on the harness's data (8x8x1 digits, 16x16x3 images for the single-image
  families), batches of 16, 6 steps of which 2 are warm-up, 16 samples per generate()
  call, 10 sampler steps; the DCGAN comparison over 9 steps (3 warm-up).
- ``large`` (the default when ``/dev/nvidia*`` or ``/dev/accel*`` exists): each family's
  default network (no options, except ``weights="none"`` / ``perceptual_weights="none"``
  so that no pretrained weights are downloaded, and the priors' VQ-VAE a new default
  one, ``vqvae={}``) on the same data upsampled to 32x32x3
  (64x64x3 for the single-image families), batches of 64 (16 for the translation
  families), 40 steps of which 10 are warm-up, 64 samples per call, 50 sampler steps;
  the DCGAN comparison over 60 steps (10 warm-up), step_time.py's defaults.

A family that fails on a backend gets ``failed: reason`` in its cells and the run goes on;
a backend whose subprocess runs past ``--timeout`` keeps the families it finished.

Usage::

    python benchmarks/device.py                         # every backend, one subprocess each
    python benchmarks/device.py --size small --backends jax torch
    python benchmarks/device.py --size large --out-md docs/benchmarks.md
    KERAS_BACKEND=jax python benchmarks/device.py --backend jax --families gan diffusion

See ``benchmarks/README.md`` and the "Device benchmark" section of ``docs/benchmarks.md``.
"""

import argparse
import dataclasses
import gc
import glob
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "benchmarks"), os.path.join(ROOT, "tests")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import step_time  # noqa: E402  (imports no backend at module level)
from step_time import (_block_logs, _fmt, _machine_lines, _median_ms, _quantiles_ms,  # noqa: E402
                       _StepTimer, _versions)

BACKENDS = step_time.BACKENDS
MARKER, END_MARKER = "<!-- device-table -->", "<!-- /device-table -->"
#: What each size runs; the command-line flags of the same names override them.
SIZES = {
    "small": {"batch_size": 16, "translation_batch_size": 16, "steps": 6, "warmup": 2,
              "num_samples": 16, "generate_calls": 3, "sampler_steps": 10,
              "dcgan_steps": 9, "dcgan_warmup": 3, "dcgan_epochs": 3, "timeout": 900},
    "large": {"batch_size": 64, "translation_batch_size": 16, "steps": 40, "warmup": 10,
              "num_samples": 64, "generate_calls": 3, "sampler_steps": 50,
              "dcgan_steps": 60, "dcgan_warmup": 10, "dcgan_epochs": 3, "timeout": 1800},
}
#: ``large``: the harness's 8x8 data (16x16 single images) upsampled by this factor,
#: with 3 channels.
LARGE_FACTOR, LARGE_CHANNELS = 4, 3
#: Tiny options kept at the large size: no pretrained weights are downloaded.
NO_DOWNLOAD = ("weights", "perceptual_weights")
#: Diffusion's samplers: (name, whether it takes ``--sampler-steps``).
DIFFUSION_SAMPLERS = (("ddpm", False), ("ddim", True), ("dpm++", True))


def has_accelerator():
    """Whether this machine shows an NVIDIA GPU or a TPU device file (no backend is
    imported: the parent process stays backend-free)."""
    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/dev/accel*"))


def default_size():
    return "large" if has_accelerator() else "small"


# =====================================================================================
# One backend (runs in its own process: KERAS_BACKEND must be set before keras loads)
# =====================================================================================
def device_name(backend_name):
    """The device the backend computes on, in words."""
    if backend_name == "jax":
        import jax

        device = jax.devices()[0]
        return "CPU" if device.platform == "cpu" else f"{device.device_kind} ({device.platform})"
    if backend_name == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return "CPU"
        details = tf.config.experimental.get_device_details(gpus[0])
        return details.get("device_name", gpus[0].name)
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"


def _reason(error):
    """A one-line reason for a failed cell."""
    text = " ".join(str(error).split()) or "(no message)"
    text = f"{type(error).__name__}: {text}"
    return text if len(text) <= 160 else text[:157] + "..."


def _enlarge(data, arrays):
    """The harness's data of a family, upsampled ``LARGE_FACTOR`` times with
    ``LARGE_CHANNELS`` channels (the ``large`` size)."""
    import numpy as np

    def up(images):
        images = np.asarray(images)
        images = np.repeat(np.repeat(images, LARGE_FACTOR, axis=1), LARGE_FACTOR, axis=2)
        if images.shape[-1] == 1:
            images = np.repeat(images, LARGE_CHANNELS, axis=-1)
        return images

    if arrays is None:   # a single-image family: the image(s) are in the description
        images = up(data.images)
        return dataclasses.replace(data, shape=images.shape[1:], images=images), None
    x, y = arrays
    x = up(x)
    if data.target_shape is not None:   # paired / unpaired: y is the second image set
        y = up(y)
        return dataclasses.replace(data, shape=x.shape[1:], target_shape=y.shape[1:]), (x, y)
    return dataclasses.replace(data, shape=x.shape[1:]), (x, y)


def build(family, size, num_examples):
    """A compiled model of ``family`` at ``size`` and its data ``(x, y)`` (None for a
    single-image family)."""
    import harness

    if size == "small":
        model, arrays = harness.build_tiny(family, seed=0, num_examples=num_examples)
    else:
        data, arrays = _enlarge(*harness.family_data(family, num_examples))
        options = {k: v for k, v in family.tiny.items() if k in NO_DOWNLOAD}
        if "vqvae" in family.tiny:   # a prior over the codes of a new default VQ-VAE
            options["vqvae"] = {}
        if "seed" in family.build_parameters() or "seed" in harness._init_keywords(family):
            options["seed"] = 0
        model = family.build(data, **options)
    model.compile()
    return model, arrays


def _batch_size(family, config):
    return config["translation_batch_size"] if family.data in ("paired", "unpaired") \
        else config["batch_size"]


def time_fit(family, model, arrays, backend_name, config):
    """fit()'s step time: at least ``steps`` steps over as many epochs as the data needs,
    the first ``warmup`` left out."""
    import harness

    timer = _StepTimer(_block_logs(backend_name))
    steps, warmup = config["steps"], config["warmup"]
    if family.trains_on_batches:
        x, y = arrays
        batch = _batch_size(family, config)
        batches = max(1, min(steps, len(x) // batch))
        if len(x) < batch:
            raise ValueError(f"the data holds {len(x)} samples, fewer than a batch of {batch}")
        arrays = (x[:batch * batches], None if y is None else y[:batch * batches])
    else:
        batches = steps
    epochs = math.ceil(steps / batches)
    t0 = time.perf_counter()
    harness.fit_tiny(model, family, arrays, epochs=epochs, steps_per_epoch=batches,
                     callbacks=[timer])
    wall = time.perf_counter() - t0
    times = [e - b for b, e in zip(timer.begin, timer.end)]
    if len(times) <= warmup:
        raise RuntimeError(f"fit() ran {len(times)} steps, not more than the {warmup} "
                           "warm-up steps")
    quantiles = _quantiles_ms(times, warmup)
    return {"ms": _median_ms(times, warmup), "p10": quantiles["p10"],
            "p90": quantiles["p90"], "first_step_ms": 1000.0 * times[0],
            "steps_timed": len(times) - warmup, "batch_size": batch if
            family.trains_on_batches else None, "wall_s": wall}


def _generate_calls(family, arrays, config):
    """``[(label, kwargs)]``: the generate() calls timed for ``family``."""
    import harness

    if not family.trains_on_batches:
        return []   # a single-image family: generate() returns the optimised image
    if not family.generates:
        return []   # a dual encoder (CLIP): it draws no samples
    kwargs = harness.generate_kwargs(family, arrays, config["num_samples"])
    if "sampler" not in family.conditions:
        kwargs.pop("steps", None)
        return [("generate", kwargs)]
    calls = []
    for sampler, takes_steps in DIFFUSION_SAMPLERS:
        options = dict(kwargs, sampler=sampler)
        options.pop("steps", None)
        if takes_steps:
            options["steps"] = config["sampler_steps"]
        calls.append((sampler, options))
    return calls


def time_generate(model, kwargs, calls):
    """Images per second of ``model.generate(**kwargs)``: one warm-up call, then
    ``calls`` timed calls (generate() returns numpy arrays: the time includes the
    transfer back)."""
    import numpy as np

    t0 = time.perf_counter()
    images = model.generate(seed=0, **kwargs)
    first = time.perf_counter() - t0
    times = []
    for i in range(calls):
        t0 = time.perf_counter()
        images = model.generate(seed=i + 1, **kwargs)
        times.append(time.perf_counter() - t0)
    count = len(images)
    median = float(np.median(times))
    return {"images_per_s": count / median, "ms_per_call": 1000.0 * median,
            "images_per_call": count, "first_call_ms": 1000.0 * first, "calls": calls}


def run_family(family, backend_name, size, config):
    """One family's row: ``{"family", "fit", "generate"}``; a failure is recorded as
    ``{"failed": reason}`` in the cells it affects."""
    row = {"family": family.name, "data": family.data}
    try:
        num_examples = _batch_size(family, config) * config["steps"]
        model, arrays = build(family, size, num_examples)
    except Exception as error:  # noqa: BLE001 - reported in the table
        reason = {"failed": "build: " + _reason(error)}
        row["fit"], row["generate"] = reason, [dict(reason, sampler="generate")]
        return row
    if arrays is not None:
        row["shape"] = list(arrays[0].shape[1:])
    elif getattr(model, "sample_shape", None) is not None:
        row["shape"] = list(model.sample_shape)
    try:
        row["fit"] = time_fit(family, model, arrays, backend_name, config)
    except Exception as error:  # noqa: BLE001
        row["fit"] = {"failed": _reason(error)}
    row["generate"] = []
    for label, kwargs in _generate_calls(family, arrays, config):
        entry = {"sampler": label}
        if "sampler" in kwargs:
            entry["steps"] = kwargs.get("steps") or getattr(model, "timesteps", None)
        try:
            entry.update(time_generate(model, kwargs, config["generate_calls"]))
        except Exception as error:  # noqa: BLE001
            entry["failed"] = _reason(error)
        row["generate"].append(entry)
    return row


def run_dcgan(backend_name, config):
    """step_time.py's DCGAN: fit() beside the hand-written loop (its ``run_backend``)."""
    try:
        result = step_time.run_backend(backend_name, config["dcgan_steps"],
                                       config["dcgan_warmup"], config["dcgan_epochs"])
    except Exception as error:  # noqa: BLE001
        return {"failed": _reason(error)}
    return {key: result[key] for key in (
        "fit_ms", "handwritten_ms", "ratio", "fit_quantiles_ms", "handwritten_quantiles_ms",
        "steps_timed", "warmup")} | {"sanity_ok": result["sanity"]["ok"]}


def run_backend(backend_name, size, config, families=None, emit=None):
    """Every measurement on the active backend; a dict. ``emit(kind, payload)``, when
    given, is called with each row as soon as it is measured."""
    import keras

    if keras.backend.backend() != backend_name:
        raise SystemExit(
            f"The active Keras backend is {keras.backend.backend()!r}, not {backend_name!r}: "
            f"run with KERAS_BACKEND={backend_name}.")
    import kgen

    emit = emit or (lambda kind, payload: None)
    result = {"backend": backend_name, "size": size, "config": dict(config),
              "device": device_name(backend_name), "loadavg_before": os.getloadavg(),
              "machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "cpu_count": os.cpu_count()},
              "versions": _versions(backend_name), "rows": []}
    emit("device", result["device"])
    t0 = time.perf_counter()
    if config["dcgan_steps"]:
        result["dcgan"] = run_dcgan(backend_name, config)
        emit("dcgan", result["dcgan"])
    for family in kgen.models.registry.families():
        if families is not None and family.name not in families:
            continue
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        row = run_family(family, backend_name, size, config)
        result["rows"].append(row)
        emit("row", row)
        gc.collect()
    result["wall_s"] = time.perf_counter() - t0
    result["loadavg_after"] = os.getloadavg()
    return result


# =====================================================================================
# Every backend: one subprocess each
# =====================================================================================
def _child_command(args, name):
    command = [sys.executable, os.path.abspath(__file__), "--backend", name, "--json",
               "--size", args.size, "--stream"]
    for key in SIZES["small"]:
        value = getattr(args, key)
        if value is not None and key != "timeout":
            command += ["--" + key.replace("_", "-"), str(value)]
    if args.families:
        command += ["--families", *args.families]
    return command


def _partial(name, lines, reason, args, config):
    """What a backend that did not finish measured: its streamed rows."""
    result = {"backend": name, "size": args.size, "config": config, "rows": [],
              "failed": reason, "device": "?", "loadavg_before": os.getloadavg(),
              "loadavg_after": os.getloadavg(), "machine": None, "versions": {}}
    for line in lines:
        if not line.startswith("STREAM "):
            continue
        kind, payload = json.loads(line[len("STREAM "):])
        if kind == "row":
            result["rows"].append(payload)
        else:
            result[kind] = payload
    return result


def run_all(args, config):
    results = []
    for name in args.backends:
        env = dict(os.environ, KERAS_BACKEND=name)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(_child_command(args, name), env=env, stdout=out,
                                    stderr=err, text=True, cwd=ROOT)
            try:
                code, reason = proc.wait(timeout=config["timeout"]), None
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code, reason = None, f"timed out after {config['timeout']} s"
            out.seek(0)
            err.seek(0)
            lines, errors = out.read().splitlines(), err.read()
        print(f"  {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        final = [line for line in lines if line.startswith("{")]
        if code == 0 and final:
            results.append(json.loads(final[-1]))
            continue
        if reason is None:
            tail = (errors or "\n".join(lines)).strip().splitlines()[-15:]
            print("\n".join(tail), file=sys.stderr)
            reason = f"exit status {code}: " + (tail[-1] if tail else "no output")
        results.append(_partial(name, lines, reason, args, config))
    return results


# =====================================================================================
# Report
# =====================================================================================
def _cell(text):
    return str(text).replace("|", "\\|")


def _failed(reason):
    return _cell(f"failed: {reason}")


def _generate_label(entry):
    if entry["sampler"] == "generate":
        label = "generate()"
    else:
        label = f"{entry['sampler']}, {entry.get('steps', '?')} steps"
    if "images_per_call" in entry:
        label += f", {entry['images_per_call']} images"
    return label


def table(results, families=None):
    """The Markdown table: a row per backend and family (and diffusion sampler)."""
    lines = ["| backend | device | family | fit ms/step | fit p10 / p90 | generate | images/s |",
             "|---|---|---|---:|---:|---|---:|"]
    if families is None:   # every family measured on some backend, in their order
        families = list(dict.fromkeys(row["family"] for r in results for row in r["rows"]))
    for r in results:
        rows = list(r["rows"])
        done = {row["family"] for row in rows}
        if r.get("failed"):   # what it did not reach
            rows += [{"family": name, "fit": {"failed": r["failed"]},
                      "generate": [{"sampler": "generate", "failed": r["failed"]}]}
                     for name in families if name not in done]
        for row in rows:
            fit = row["fit"]
            if "failed" in fit:
                fit_cells = [_failed(fit["failed"]), ""]
            else:
                fit_cells = [_fmt(fit["ms"]), f"{_fmt(fit['p10'])} / {_fmt(fit['p90'])}"]
            entries = row["generate"] or [None]
            for i, entry in enumerate(entries):
                if entry is None:
                    gen = ["-", "-"]
                elif "failed" in entry:
                    gen = [_cell(_generate_label(entry)), _failed(entry["failed"])]
                else:
                    gen = [_cell(_generate_label(entry)), _fmt(entry["images_per_s"], 1)]
                cells = [r["backend"], _cell(r["device"]), row["family"]]
                cells += fit_cells if i == 0 else ["", ""]
                lines.append("| " + " | ".join(cells + gen) + " |")
        if r.get("failed") and not rows:
            lines.append(f"| {r['backend']} | ? | (all) | {_failed(r['failed'])} | | | |")
    return "\n".join(lines)


def dcgan_table(results):
    """kgen's fit() beside the hand-written loop (step_time.py's DCGAN), per backend."""
    lines = ["| backend | device | kgen fit() ms/step | hand-written ms/step | "
             "kgen / hand-written |", "|---|---|---:|---:|---:|"]
    for r in results:
        d = r.get("dcgan")
        if d is None:
            continue
        if "failed" in d:
            lines.append(f"| {r['backend']} | {_cell(r['device'])} | {_failed(d['failed'])} "
                         "| | |")
        else:
            lines.append(f"| {r['backend']} | {_cell(r['device'])} | {_fmt(d['fit_ms'])} | "
                         f"{_fmt(d['handwritten_ms'])} | {_fmt(d['ratio'])} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def report(results, families=None):
    """The table(s) and the lines that say how, where and under what load they were
    measured."""
    if not results:
        return "No backend ran."
    c = results[0]["config"]
    size = results[0]["size"]
    lines = [table(results, families), ""]
    dcgan = dcgan_table(results)
    if dcgan:
        lines += ["DCGAN of `benchmarks/step_time.py` (16x16x1, batch 64), kgen fit() beside "
                  "the hand-written loop:", "", dcgan, ""]
    what = ("each family's registered tiny configuration on 8x8x1 digits (16x16x3 images "
            "for the single-image families)" if size == "small" else
            "each family's default network on 32x32x3 images (64x64x3 for the single-image "
            "families)")
    lines.append(
        f"Size `{size}`: {what}; batches of {c['batch_size']} ({c['translation_batch_size']} "
        f"for the translation families); fit(): median of the steps after the first "
        f"{c['warmup']} (at least {c['steps']} steps run); generate(): {c['num_samples']} "
        f"samples per call (translation: as many inputs), median of {c['generate_calls']} "
        f"calls after one warm-up call; DDIM and DPM-Solver++ at {c['sampler_steps']} steps, "
        f"DDPM at every timestep of the model.")
    ran = [r for r in results if r.get("machine")]
    if ran:
        lines += _machine_lines(ran)
    for r in results:
        wall = f", {r['wall_s']:.0f} s" if "wall_s" in r else ""
        note = f"; did not finish: {r['failed']}" if r.get("failed") else ""
        lines.append(f"- {r['backend']} on {r['device']}: load average "
                     f"{r['loadavg_before'][0]:.2f} -> {r['loadavg_after'][0]:.2f}{wall}{note}")
    if ran:
        cpus = ran[0]["machine"]["cpu_count"] or 1
        busiest = max(max(r["loadavg_before"][0], r["loadavg_after"][0]) for r in ran)
        if busiest > 0.75 * cpus:
            lines.append(f"Warning: other processes were using the machine (1-minute load "
                         f"average up to {busiest:.1f} on {cpus} CPUs): absolute times are "
                         "inflated and noisy.")
    return "\n".join(lines)


def write_markdown(path, text):
    """Puts ``text`` between the marker lines of ``path`` (a new file: the text alone)."""
    import re

    block = f"{MARKER}\n\n{text}\n\n{END_MARKER}"
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(f"# Device benchmark\n\n{block}\n")
        return
    with open(path) as f:
        page = f.read()
    # The markers are lines of their own (the page may quote them in its prose).
    found = re.search(f"^{re.escape(MARKER)}$", page, re.MULTILINE)
    if not found:
        raise SystemExit(f"device.py: {path} has no {MARKER} line; add one (and "
                         f"{END_MARKER}) where the table goes.")
    closing = re.compile(f"^{re.escape(END_MARKER)}$", re.MULTILINE).search(page, found.start())
    end = found.end() if closing is None else closing.end()
    with open(path, "w") as f:
        f.write(page[:found.start()] + block + page[end:])


# =====================================================================================
# Command line
# =====================================================================================
def _family_names():
    """The registered families, read from the registry without starting a backend."""
    import importlib

    registry = importlib.import_module("kgen.models.registry")
    if not registry.names():
        importlib.import_module("kgen.models")
    return registry.names()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=BACKENDS,
                        help="run one backend in this process (KERAS_BACKEND must match)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                        help="backends to run, one subprocess each (without --backend)")
    parser.add_argument("--size", choices=sorted(SIZES), default=None,
                        help="small: the tiny configurations on 8x8 data; large: the "
                             "default networks on 32x32x3 (default: large when an "
                             "accelerator is found, else small)")
    parser.add_argument("--families", nargs="+", metavar="FAMILY",
                        help="families to measure (default: every registered family)")
    number = {"type": int, "default": None}
    parser.add_argument("--steps", **number, help="fit() steps run per family, warm-up "
                        "included (small 6, large 40)")
    parser.add_argument("--warmup", **number,
                        help="first fit() steps left out of the median (small 2, large 10)")
    parser.add_argument("--batch-size", **number, help="batch of fit() (small 16, large 64)")
    parser.add_argument("--translation-batch-size", **number,
                        help="batch of fit() of the paired / unpaired families (16)")
    parser.add_argument("--num-samples", **number,
                        help="samples per generate() call (small 16, large 64)")
    parser.add_argument("--generate-calls", **number,
                        help="timed generate() calls after the warm-up call (3)")
    parser.add_argument("--sampler-steps", **number,
                        help="DDIM and DPM-Solver++ steps (small 10, large 50)")
    parser.add_argument("--dcgan-steps", **number,
                        help="steps of the DCGAN fit() / hand-written comparison (small 9, "
                             "large 60); 0 leaves it out")
    parser.add_argument("--dcgan-warmup", **number, help="its warm-up steps (small 3, large 10)")
    parser.add_argument("--dcgan-epochs", **number, help="its fit() epochs (3)")
    parser.add_argument("--timeout", **number,
                        help="seconds allowed per backend subprocess (small 900, large 1800)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON "
                        "line instead of the Markdown report")
    parser.add_argument("--out-md", metavar="PATH",
                        help=f"also write the report between the {MARKER} and {END_MARKER} "
                             "lines of this Markdown page")
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    args.size = args.size or default_size()
    config = dict(SIZES[args.size])
    for key in config:
        value = getattr(args, key)
        if value is not None:
            config[key] = value
    flag = lambda key: "--" + key.replace("_", "-")  # noqa: E731
    for key in ("steps", "batch_size", "translation_batch_size", "num_samples",
                "generate_calls", "sampler_steps", "dcgan_epochs", "timeout"):
        if config[key] < 1:
            parser.error(f"{flag(key)} must be at least 1; got {config[key]}.")
    for key in ("warmup", "dcgan_steps", "dcgan_warmup"):
        if config[key] < 0:
            parser.error(f"{flag(key)} must be 0 or more; got {config[key]}.")
    if config["steps"] <= config["warmup"]:
        parser.error(f"--steps ({config['steps']}) must be more than --warmup "
                     f"({config['warmup']}): no step would be timed.")
    if config["dcgan_steps"] and config["dcgan_steps"] <= config["dcgan_warmup"]:
        parser.error(f"--dcgan-steps ({config['dcgan_steps']}) must be 0 or more than "
                     f"--dcgan-warmup ({config['dcgan_warmup']}).")
    if args.backend is not None and os.environ.get("KERAS_BACKEND") != args.backend:
        if "keras" in sys.modules:
            parser.error(f"set KERAS_BACKEND={args.backend} (keras is already imported)")
        os.environ["KERAS_BACKEND"] = args.backend
    if args.families:
        if args.backend is None:   # the registry imports keras: pick a backend for it
            os.environ.setdefault("KERAS_BACKEND", args.backends[0])
        known = _family_names()
        unknown = [name for name in args.families if name not in known]
        if unknown:
            parser.error(f"unknown families {unknown}; the families are {', '.join(known)}.")
    if args.out_md and os.path.isdir(args.out_md):
        parser.error(f"--out-md {args.out_md} is a folder; give a Markdown file.")
    return parser, args, config


def main(argv=None):
    parser, args, config = parse_args(argv)
    # As in step_time.py: OpenMP threads that spin while waiting make torch's CPU steps a
    # lottery on a shared machine. Set OMP_WAIT_POLICY to override.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.backend is None:
        results = run_all(args, config)
    else:
        def emit(kind, payload):
            if args.stream:
                print("STREAM " + json.dumps([kind, payload]), flush=True)

        results = [run_backend(args.backend, args.size, config, args.families, emit)]
    if args.json:
        print(json.dumps(results[0] if args.backend else {"size": args.size,
                                                          "results": results}))
    else:
        print(report(results, args.families))
    if args.out_md:
        write_markdown(args.out_md, report(results, args.families))
    return 1 if any(r.get("failed") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
