#!/usr/bin/env python
"""The reproduction table: every recipe run, timed and measured on held-out data, over seeds.

Each row of the table is one recipe of ``recipes/`` (or, for the mode coverage of the
2-D mixtures, ``benchmarks/mode_coverage.py``), run as a subprocess on its documented
backend (JAX, or PyTorch for the Deep Image Prior, style transfer and texture synthesis
recipes; ``--backend`` runs every row on one backend)::

    KERAS_BACKEND=<backend> python recipes/<recipe>.py [options] --seed S --out <workdir>/...

The run is timed (wall clock, the recipe's own held-out evaluation included), its quality
number is read from the line the recipe prints (bits/dim, negative ELBO, IWAE NLL, PSNR,
mean absolute error, ...) or, for a recipe that only writes a checkpoint, measured by
``kgen evaluate`` on the held-out split (digits-FID and digits-KID of 10,000 samples
against the 360 test digits, the IWAE NLL with K = 1000, ...). The evaluation is timed
apart.

Seeds: ``--seeds`` (default 0 1 2). The first seed runs first; when that run (recipe and
evaluation together) takes 10 minutes or more, the other seeds are skipped and the table
says so. The table gives the mean ± standard deviation over the seeds that ran.

Every finished run appends one JSON line to ``--results``: an interrupted regeneration
resumes where it stopped (finished runs are not run again), and ``--table-only`` rebuilds
the table from the file without running anything. A row is keyed by its name, mode,
backend and seed, not by the recipe's defaults: after changing a recipe, ``--rerun --only
NAME`` moves the row's records to ``<results>.replaced.jsonl`` and runs it again.
``--out-md PATH`` writes the table into PATH between the marker lines ``<!-- table -->``
and ``<!-- /table -->`` (the end marker is added on the first write), or, when PATH does
not exist, into a new file.

Usage::

    python benchmarks/reproduce.py --list                       # rows and commands
    python benchmarks/reproduce.py --smoke                      # plumbing check: tiny runs, seed 0
    python benchmarks/reproduce.py --smoke --only vae_digits dip_inpaint
    python benchmarks/reproduce.py --results benchmarks/results/reproduction.jsonl \\
        --out-md docs/reproduction.md                           # the full table (hours)
    python benchmarks/reproduce.py --results benchmarks/results/reproduction.jsonl \\
        --out-md docs/reproduction.md --table-only              # rebuild the table
    python benchmarks/reproduce.py --epochs-scale 0.25 --only dcgan_digits
    python benchmarks/reproduce.py --results benchmarks/results/reproduction.jsonl \\
        --out-md docs/reproduction.md --rerun --only vae_digits   # after a recipe changed

``--smoke`` runs one or two epochs (a few optimisation steps for the single-image
recipes) and evaluates with 500 samples (IWAE: K = 10): it checks that every recipe runs,
prints what is parsed and can be evaluated, in seconds to a minute per recipe; its
numbers are not results. ``--epochs-scale F`` multiplies every epoch or step count by F.
Smoke, scaled and full runs are kept apart in the results file (the ``mode`` of a line).

See the "Reproduction" page of the documentation (docs/reproduction.md) for the protocol
of each metric.
"""

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: A first run (recipe and evaluation) at least this long leaves the other seeds out.
SEED_RULE_SECONDS = 600.0
DEFAULT_SEEDS = (0, 1, 2)
#: Generated samples (FID, KID) and importance samples (IWAE) of a smoke evaluation.
SMOKE_EVAL_SAMPLES = {"fid": 500, "kid": 500, "nll": 10}
MARKER, END_MARKER = "<!-- table -->", "<!-- /table -->"
BACKENDS = ("jax", "tensorflow", "torch")
NUMBER = r"(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|nan|inf)"
#: Keras's end-of-epoch line: "23/23 - 2s - 71ms/step - ...".
EPOCH_LINE = re.compile(r"(\d+)/(\d+) - (\d+(?:\.\d+)?)(m?s) - (\d+(?:\.\d+)?)(us|ms|s)/step")


# --------------------------------------------------------------------------- the rows
@dataclasses.dataclass(frozen=True)
class Value:
    """A number in a run's printed output: group ``group`` of the last match of ``pattern``.

    ``pattern`` may contain ``{n}`` for a number (`NUMBER`); it is matched per line.
    """

    key: str
    label: str
    pattern: str
    digits: int = 2
    group: int = 1
    required: bool = True

    def find(self, text):
        regex = re.compile(self.pattern.replace("{n}", NUMBER), re.MULTILINE)
        matches = list(regex.finditer(text))
        if not matches:
            return None
        return float(matches[-1].group(self.group))


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """``kgen evaluate OUT/checkpoint --metric metric [options]`` after the run."""

    metric: str
    checkpoint: str
    values: tuple
    options: tuple = ()
    #: The sample count of kgen evaluate's protocol (its default), for the label.
    default_samples: int = 10000

    def argv(self, out, num_samples=None):
        argv = ["evaluate", os.path.join(out, self.checkpoint), "--metric", self.metric,
                "--seed", "0", *self.options]
        if num_samples is not None:
            argv += ["-n", str(num_samples)]
        return argv


@dataclasses.dataclass(frozen=True)
class Length:
    """An epoch or step count of a recipe: its flag, its default and its smoke value."""

    flag: str
    default: int
    smoke: int
    multiple: int = 1   # the value is rounded to a multiple of this (DIP: 50-step epochs)

    def value(self, mode_scale):
        if mode_scale is None:           # smoke
            return self.smoke
        scaled = self.default * mode_scale
        return max(self.multiple, int(round(scaled / self.multiple)) * self.multiple)


@dataclasses.dataclass(frozen=True)
class Note:
    """A remark shown under the numbers when ``pattern`` occurs in the run's output."""

    pattern: str
    text: str


#: What the CycleGAN recipes print: the error of the test translations against the true
#: ones, the mean B image's error, and (digits) the test cycle loss.
CYCLEGAN_VALUES = (
    Value("mae", "mean absolute error against the true translations (data space)",
          r"mean absolute error[^:]*: {n}", digits=4),
    Value("baseline", "mean B image's error", r"the mean B image's: {n}", digits=4),
    Value("cycle", "test cycle loss", r"cycle loss: {n}", digits=4, required=False),
)


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    script: str
    model: str
    data: str
    lengths: tuple
    values: tuple = ()
    evaluations: tuple = ()
    args: tuple = ()
    backend: str = "jax"
    published: str = ""
    notes: tuple = ()
    seed_flag: str = "--seed"
    out_flag: str = "--out"
    prepare: str = ""      # "digits_folder": the training digits as a folder of PNG files


DIGITS_TEST = "the 360 test digits"
FID = Value("fid", "digits-FID, {n} samples", r"^fid: {n}")
KID = Value("kid", "digits-KID, {n} samples", r"^kid: {n}")


def image_metrics(checkpoint="model.keras"):
    """digits-FID and digits-KID of ``kgen evaluate`` (10,000 samples, the test split)."""
    return (Evaluation("fid", checkpoint, (FID,)), Evaluation("kid", checkpoint, (KID,)))


RANDOM_VGG = Note(r"VGG-19 weights: random|training with random VGG-19 features",
                  "VGG-19 with random weights (the ImageNet ones could not be had)")
PACGAN = ("PacGAN, Table 1, GAN row: grid 17.3 ± 0.8 modes, 94.8 ± 0.7 % high quality; "
          "ring 6.3 ± 0.5 modes, 98.2 ± 0.2 % (± standard error over 10 trials). "
          "*Paper, different protocol*: the same scoring rule and 2,500 samples, but "
          "400,000 training steps and other networks "
          "([Benchmarks](benchmarks.md#published-numbers))")

ROWS = (
    Row("dcgan_digits", "recipes/dcgan_digits.py", "DCGAN",
        "digits, train split (1,437); FID/KID against " + DIGITS_TEST,
        (Length("--epochs", 100, 2),), args=("--split", "train"),
        evaluations=image_metrics()),
    Row("conditional_gan_digits", "recipes/conditional_gan_digits.py",
        "conditional GAN (projection discriminator)",
        "digits with labels, train split (1,437); FID/KID of samples with uniformly drawn "
        "labels against " + DIGITS_TEST,
        (Length("--epochs", 100, 2),), evaluations=image_metrics()),
    Row("wgan_gp_digits", "recipes/wgan_gp_digits.py", "WGAN-GP (5 critic steps, EMA 0.999)",
        "digits, train split (1,437); FID/KID against " + DIGITS_TEST,
        (Length("--epochs", 60, 2),), evaluations=image_metrics()),
    Row("dcgan_folder", "recipes/dcgan_folder.py", "DCGAN with DiffAugment, streamed folder",
        "the 1,437 training digits, written by the script as 8x8 grey PNG files into the "
        "folder DIGITS_PNG; FID/KID against " + DIGITS_TEST,
        (Length("--epochs", 200, 2),), args=("{digits_folder}", "--image-size", "8"),
        evaluations=image_metrics(), prepare="digits_folder"),
    Row("diffusion_digits", "recipes/diffusion_digits.py", "diffusion (U-Net, cosine schedule)",
        "digits, train split (1,437); FID/KID of DDIM-50 samples (generate()'s default, "
        "deterministic) against " + DIGITS_TEST,
        (Length("--epochs", 80, 2),), evaluations=image_metrics()),
    Row("vae_digits", "recipes/vae_digits.py", "VAE (Bernoulli decoder, latent 8)",
        "digits, train split (1,437); " + DIGITS_TEST,
        (Length("--epochs", 100, 2),),
        values=(Value("elbo", "negative ELBO (nats per image)",
                      r"held-out negative ELBO: {n} nats"),),
        evaluations=(Evaluation("nll", "model.keras", (
            Value("iwae", "IWAE NLL, K = {n} (nats per image)", r"^nll: {n} nats"),),
            default_samples=1000),)),
    Row("conditional_vae_digits", "recipes/conditional_vae_digits.py",
        "conditional VAE (Bernoulli decoder, latent 8)",
        "digits with labels, train split (1,437); " + DIGITS_TEST,
        (Length("--epochs", 60, 2),),
        values=(Value("elbo", "negative ELBO (nats per image)",
                      r"held-out negative ELBO: {n} nats"),
                Value("iwae", "IWAE -log p(x|y), K = 100 (nats per image)",
                      r"IWAE -log p\(x\|y\), K=100: {n}"))),
    Row("pixelcnn_digits_2", "recipes/pixelcnn_digits.py", "gated PixelCNN, 2 levels",
        "digits binarised, train split (1,437); exact NLL on " + DIGITS_TEST,
        (Length("--epochs", 15, 2),), args=("--levels", "2"),
        values=(Value("bpd", "bits/dim (exact)", r"held-out NLL: {n} bits/dim", digits=3),)),
    Row("pixelcnn_digits_256", "recipes/pixelcnn_digits.py", "gated PixelCNN, 256 levels",
        "digits 8-bit, train split (1,437); exact NLL on " + DIGITS_TEST,
        (Length("--epochs", 40, 2),), args=("--levels", "256"),
        values=(Value("bpd", "bits/dim (exact)", r"held-out NLL: {n} bits/dim", digits=3),)),
    Row("vqvae_digits", "recipes/vqvae_digits.py", "VQ-VAE + PixelCNN prior",
        "digits, train split (1,437); " + DIGITS_TEST + "; FID/KID of the prior's samples, "
        "decoded",
        (Length("--epochs", 40, 2), Length("--prior-epochs", 40, 2)),
        values=(Value("mse", "reconstruction MSE", r"held-out reconstruction MSE[^:]*: {n}",
                      digits=4),
                Value("perplexity", "codebook perplexity (of 32)", r"perplexity {n} of",
                      digits=1),
                Value("bpc", "prior NLL (bits per code)", r"held-out prior NLL: {n} bits",
                      digits=3)),
        evaluations=image_metrics("prior.keras")),
    Row("vqgan_digits", "recipes/vqgan_digits.py", "VQ-GAN + PixelCNN prior",
        "digits, train split (1,437); " + DIGITS_TEST + "; FID/KID of the prior's samples, "
        "decoded",
        (Length("--epochs", 30, 2), Length("--prior-epochs", 40, 2)),
        values=(Value("mse", "reconstruction MSE", r"held-out reconstruction MSE[^:]*: {n}",
                      digits=4),
                Value("rfid", "reconstruction digits-FID",
                      r"reconstruction FID \(digits features\): {n}"),
                Value("perplexity", "codebook perplexity (of 32)", r"perplexity {n} of",
                      digits=1),
                Value("bpc", "prior NLL (bits per code)", r"held-out prior NLL: {n} bits",
                      digits=3)),
        evaluations=image_metrics("prior.keras"), notes=(RANDOM_VGG,)),
    Row("token_transformer_digits", "recipes/token_transformer_digits.py",
        "VQ-VAE + transformer prior",
        "digits, train split (1,437); " + DIGITS_TEST + "; FID/KID of the prior's samples, "
        "decoded",
        (Length("--epochs", 40, 2), Length("--prior-epochs", 60, 2)),
        values=(Value("bpc", "prior NLL (bits per code)", r"held-out NLL: {n} bits per code",
                      digits=3),),
        evaluations=image_metrics("prior.keras")),
    Row("pix2pix_digits", "recipes/pix2pix_digits.py", "pix2pix (edges to digits)",
        "digits-edges pairs, train split (1,437); the 360 test pairs",
        (Length("--epochs", 40, 2),),
        values=(Value("mae", "mean absolute error (data space)",
                      r"mean absolute error[^:]*: {n}", digits=4),),
        evaluations=(Evaluation("l1", "model.keras", (
            Value("baseline", "mean-target baseline", r"^mean-target l1: {n}", digits=4),),
            options=("--data", "digits-edges")),)),
    Row("cyclegan_digits", "recipes/cyclegan_digits.py", "CycleGAN (digits to inverted digits)",
        "digits-inverted, unpaired, train split; the test split's 180 A digits translated "
        "A -> B against their true translations (kgen.data.true_translation)",
        (Length("--epochs", 30, 2),),
        values=CYCLEGAN_VALUES),
    Row("cyclegan_photos", "recipes/cyclegan_photos.py",
        "CycleGAN (photo patches to negatives; the best of 8 starts by colour distance)",
        "photos-negative, unpaired 16x16 RGB patches, train split (left 96 columns); the 90 "
        "test A patches (right 32 columns) against their true translations",
        (Length("--epochs", 30, 2), Length("--starts", 8, 2), Length("--start-epochs", 5, 1)),
        values=CYCLEGAN_VALUES),
    Row("clip_captioned_digits", "recipes/clip_captioned_digits.py",
        "CLIP (CNN image encoder, causal text transformer)",
        "captioned_digits, train split; the test scenes and the held-out digit-colour pairs "
        "(the `heldout` split); digit zero-shot with the prompts \"a photo of the digit "
        "...\"",
        (Length("--epochs", 40, 1), Length("--steps", 100, 5)),
        values=(Value("loss", "test contrastive loss", r"contrastive loss {n}", digits=3),
                Value("zero_shot", "digit zero-shot accuracy, test scenes",
                      r"zero-shot accuracy on the test scenes: {n}", digits=3),
                Value("zero_shot_heldout", "digit zero-shot accuracy, held-out pairs",
                      r"zero-shot accuracy on the heldout scenes: {n}", digits=3))),
    Row("text_diffusion_captioned_digits", "recipes/text_diffusion_captioned_digits.py",
        "text-conditioned latent diffusion (VQ-VAE, U-Net with cross-attention, text encoder)",
        "captioned_digits, train split; the test scenes",
        (Length("--epochs", 180, 1), Length("--autoencoder-epochs", 25, 1)),
        values=(Value("loss", "held-out denoising loss (random timesteps)",
                      r"held-out denoising loss[^:]*: {n}", digits=4),
                Value("seen", "all five attributes right, 64 samples of seen pairs, "
                      "guidance 3", r"prompt adherence, seen prompts[^:]*: all five right {n}",
                      digits=3),
                Value("heldout", "all five attributes right, 64 samples of held-out pairs, "
                      "guidance 3",
                      r"prompt adherence, held-out prompts[^:]*: all five right {n}",
                      digits=3))),
    Row("dip_denoise", "recipes/dip_denoise.py", "Deep Image Prior, denoising",
        "astronaut 64x64, Gaussian noise std 0.2 (25.5 of 255) drawn from the seed",
        (Length("--steps", 800, 100, multiple=50),), backend="torch",
        values=(Value("noisy", "noisy input PSNR (dB)", r"noisy image: PSNR {n} dB"),
                Value("best", "best PSNR (dB), oracle stopping", r"best PSNR {n} dB"),
                Value("last", "PSNR at the last step (dB)", r"; last {n} dB"))),
    Row("dip_inpaint", "recipes/dip_inpaint.py", "Deep Image Prior, inpainting",
        "coffee 64x64, 50% of the pixels missing (drawn from the seed)",
        (Length("--steps", 600, 20),), backend="torch",
        values=(Value("hole", "PSNR of the missing pixels (dB)",
                      r"PSNR on the missing pixels: {n} dB"),
                Value("whole", "PSNR of the whole image (dB)", r"whole image {n} dB"))),
    Row("style_transfer", "recipes/style_transfer.py", "neural style transfer",
        "astronaut (content) and gravel (style), 64x64",
        (Length("--steps", 200, 10),), backend="torch",
        values=(Value("style", "style loss, last epoch (objective)",
                      r"averages over the last epoch: .*\bstyle {n}", digits=4),
                Value("content", "content loss, last epoch (objective)",
                      r"averages over the last epoch: .*\bcontent {n}", digits=4)),
        notes=(RANDOM_VGG,)),
    Row("texture_synthesis", "recipes/texture_synthesis.py", "texture synthesis (Gram matrices)",
        "gravel 64x64",
        (Length("--steps", 300, 10),), backend="torch",
        values=(Value("style", "style loss, last epoch (objective)",
                      r"style loss averaged over the last epoch: {n}", digits=4),),
        notes=(RANDOM_VGG,)),
    Row("gan_mixtures", "benchmarks/mode_coverage.py",
        "GAN on the 2-D mixtures (MLPs, non-saturating + R1, EMA)",
        "the 25-Gaussian grid and the 8-Gaussian ring, 100,000 training points each (fewer "
        "for short runs) drawn from the seed; 2,500 samples scored",
        (Length("--steps", 10000, 300),),
        args=("--configs", "non_saturating", "--data", "grid", "ring"),
        values=(Value("grid_modes", "grid: modes (of 25)",
                      r"grid non_saturating\s+seed \d+:\s+{n} modes", digits=1),
                Value("grid_hq", "grid: % high quality",
                      r"grid non_saturating\s+seed \d+:.*?modes,\s+{n}% high", digits=1),
                Value("ring_modes", "ring: modes (of 8)",
                      r"ring non_saturating\s+seed \d+:\s+{n} modes", digits=1),
                Value("ring_hq", "ring: % high quality",
                      r"ring non_saturating\s+seed \d+:.*?modes,\s+{n}% high", digits=1)),
        published=PACGAN, seed_flag="--seeds", out_flag=""),
)
ROW_NAMES = tuple(row.name for row in ROWS)


# --------------------------------------------------------------------------- running
def mode_of(args):
    """The kind of run: "smoke", "full" or "scale=F"; results of different kinds stay apart."""
    if args.smoke:
        return "smoke"
    return "full" if args.epochs_scale == 1.0 else f"scale={args.epochs_scale:g}"


def scale_of(mode):
    if mode == "smoke":
        return None
    return 1.0 if mode == "full" else float(mode.split("=", 1)[1])


def backend_of(row, choice):
    return row.backend if choice in (None, "documented") else choice


def takes_seed(row):
    """Whether the script has the row's seed flag (a recipe without one runs seed 0 only)."""
    with open(os.path.join(ROOT, row.script)) as f:
        return f'"{row.seed_flag}"' in f.read()


def recipe_argv(row, seed, out, mode, paths=None):
    """The recipe's arguments (after ``python SCRIPT``); lengths at their default are left out."""
    paths = paths or {"digits_folder": "DIGITS_PNG"}
    argv = [part.format(**paths) for part in row.args]
    scale = scale_of(mode)
    for length in row.lengths:
        value = length.value(scale)
        if value != length.default:
            argv += [length.flag, str(value)]
    if row.seed_flag and takes_seed(row):
        argv += [row.seed_flag, str(seed)]
    if row.out_flag:
        argv += [row.out_flag, out]
    return argv


def display_command(row, backend, mode, seed="S", out="OUT"):
    """The command as the table shows it."""
    argv = recipe_argv(row, seed, out, mode, {"digits_folder": "DIGITS_PNG"})
    line = " ".join([f"KERAS_BACKEND={backend}", "python", row.script]
                    + [shlex.quote(a) for a in argv])
    evaluations = ["kgen " + " ".join(shlex.quote(a) for a in ev.argv("OUT", eval_samples(
        ev, mode))).replace(" --seed 0", "") for ev in row.evaluations]
    return [line] + evaluations


def eval_samples(evaluation, mode):
    return SMOKE_EVAL_SAMPLES.get(evaluation.metric) if mode == "smoke" else None


def child_env(backend):
    env = dict(os.environ)
    env["KERAS_BACKEND"] = backend
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # see benchmarks/README.md
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_logged(argv, log_path, env, timeout=None):
    """Runs ``argv`` in the repository, output to ``log_path``; returns (status, seconds, text)."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(shlex.quote(a) for a in argv) + "\n")
        log.flush()
        try:
            status = subprocess.run(argv, cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            status = "timeout"
    seconds = time.perf_counter() - start
    with open(log_path, errors="replace") as log:
        return status, seconds, log.read()


def epoch_lines(text):
    """Keras's end-of-epoch lines: ``[steps, seconds per epoch, ms per step]`` each."""
    found = []
    for match in EPOCH_LINE.finditer(text):
        if match.group(1) != match.group(2):
            continue
        seconds = float(match.group(3)) / (1000.0 if match.group(4) == "ms" else 1.0)
        per_step = float(match.group(5)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(6)]
        found.append([int(match.group(1)), seconds, per_step])
    return found


def versions(backend):
    found = {"python": platform.python_version()}
    for package in ("keras", {"torch": "torch", "jax": "jax"}.get(backend, "tensorflow")):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def git_commit():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "kgen", "recipes", "benchmarks", ":(exclude)*.jsonl"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return commit + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


KGEN = "import sys; from kgen.cli import main; sys.exit(main())"


def run_one(row, seed, mode, backend, workdir, paths, timeout=None):
    """Runs one (row, seed), then its evaluations; returns the result record."""
    out = os.path.join(workdir, mode, backend, row.name, f"seed{seed}")
    os.makedirs(out, exist_ok=True)
    env = child_env(backend)
    argv = recipe_argv(row, seed, out, mode, paths)
    load_before = os.getloadavg()[0]
    status, seconds, text = run_logged([sys.executable, row.script] + argv,
                                       os.path.join(out, "run.log"), env, timeout)
    record = {
        "row": row.name, "seed": seed, "mode": mode, "backend": backend,
        "command": ["python", row.script] + argv, "status": status,
        "seconds": round(seconds, 1), "eval_seconds": 0.0, "values": {}, "notes": [],
        "epochs": epoch_lines(text), "log": os.path.relpath(os.path.join(out, "run.log"), ROOT),
    }
    problems = []
    if status != 0:
        problems.append(f"exit status {status}: {tail(text)}")
    else:
        for value in row.values:
            number = value.find(text)
            if number is not None:
                record["values"][value.key] = number
            elif value.required:
                problems.append(f"no {value.label!r} in the output (/{value.pattern}/)")
        record["notes"] = [note.text for note in row.notes if re.search(note.pattern, text)]
        for evaluation in row.evaluations if not problems else ():
            log = os.path.join(out, f"evaluate_{evaluation.metric}.log")
            samples = eval_samples(evaluation, mode)
            status, seconds, text = run_logged(
                [sys.executable, "-c", KGEN] + evaluation.argv(out, samples), log, env,
                timeout)
            record["eval_seconds"] = round(record["eval_seconds"] + seconds, 1)
            record.setdefault("eval_samples", {})[evaluation.metric] = \
                samples or evaluation.default_samples
            if status != 0:
                problems.append(f"kgen evaluate --metric {evaluation.metric}: exit status "
                                f"{status}: {tail(text)}")
                continue
            for value in evaluation.values:
                number = value.find(text)
                if number is None:
                    problems.append(f"no {value.label!r} in kgen evaluate's output")
                else:
                    record["values"][value.key] = number
    record.update(
        ok=not problems, problems=problems,
        load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
        cpus=os.cpu_count(), platform=platform.platform(), versions=versions(backend),
        commit=git_commit(),
        finished=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    return record


def tail(text, lines=3):
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def prepare_digits_folder(workdir, backend):
    """The 1,437 training digits as 8x8 grey PNG files, written once; returns the folder."""
    folder = os.path.join(workdir, "data", "digits-train-png")
    if os.path.isdir(folder) and len(os.listdir(folder)) == 1437:
        return folder
    code = (
        "import os, sys\n"
        "from PIL import Image\n"
        "import kgen\n"
        "folder = sys.argv[1]\n"
        "os.makedirs(folder, exist_ok=True)\n"
        "for i, image in enumerate(kgen.data.load('digits', split='train')[..., 0]):\n"
        "    Image.fromarray(image).save(os.path.join(folder, f'{i:04d}.png'))\n"
    )
    subprocess.run([sys.executable, "-c", code, folder], cwd=ROOT, env=child_env(backend),
                   check=True)
    return folder


# --------------------------------------------------------------------------- results
def read_results(path):
    """The records of a results file (a missing file has none); a torn last line is skipped."""
    if not path or not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    print(f"reproduce: skipping an unreadable line of {path}", file=sys.stderr)
    return records


def append_result(path, record):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def set_aside(path, rows, mode, backend_choice):
    """Moves the records of ``rows`` (this mode, each row's backend) from ``path`` to
    ``<path without .jsonl>.replaced.jsonl``, so that the rows run again; returns how many.

    The results file is rewritten whole (a new file, then a rename), so an interruption
    leaves either the old file or the new one.
    """
    records = read_results(path)
    keys = {(row.name, mode, backend_of(row, backend_choice)) for row in rows}
    replaced, kept = [], []
    for record in records:
        key = (record.get("row"), record.get("mode"), record.get("backend"))
        (replaced if key in keys else kept).append(record)
    if not replaced:
        return 0
    stem = path[:-len(".jsonl")] if path.endswith(".jsonl") else path
    for record in replaced:
        append_result(stem + ".replaced.jsonl", record)
    partial = path + ".partial"
    with open(partial, "w") as f:
        f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in kept)
    os.replace(partial, path)
    return len(replaced)


def finished(records, row, mode, backend):
    """``{seed: record}`` of the row's successful runs (the latest per seed)."""
    runs = {}
    for record in records:
        if (record.get("row"), record.get("mode"), record.get("backend")) == \
                (row.name, mode, backend) and record.get("ok"):
            runs[record["seed"]] = record
    return runs


def total_seconds(record):
    return record["seconds"] + record.get("eval_seconds", 0.0)


def seeds_to_run(seeds, first_record):
    """The seed rule: all of ``seeds``, or only the first when its run took 10 min or more."""
    if first_record is not None and total_seconds(first_record) >= SEED_RULE_SECONDS:
        return list(seeds[:1])
    return list(seeds)


# --------------------------------------------------------------------------- the table
def mean_spread(values, digits):
    """``"m ± s"`` (the sample standard deviation) for several values, ``"v"`` for one."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def row_labels(row):
    """``[(key, label, digits)]`` of the row's numbers, in order."""
    labels = [(v.key, v.label, v.digits) for v in row.values]
    for evaluation in row.evaluations:
        labels += [(v.key, v.label, v.digits) for v in evaluation.values]
    return labels


def eval_protocol(row, records):
    """The evaluations' sample counts, as ``{metric: n}`` from the records."""
    counts = {}
    for record in records:
        counts.update(record.get("eval_samples", {}))
    return counts


def seeds_cell(row, runs, requested, records, mode, backend):
    if not runs:
        failed = [r for r in records if (r.get("row"), r.get("mode"), r.get("backend")) ==
                  (row.name, mode, backend) and not r.get("ok")]
        return "failed" if failed else "not run"
    seeds = sorted(runs)
    text = ", ".join(str(s) for s in seeds)
    first = runs[seeds[0]]
    if len(seeds) == 1 and total_seconds(first) >= SEED_RULE_SECONDS:
        text += f" (one seed: the run took {duration(total_seconds(first))}, over 10 min)"
    elif len(seeds) == 1 and requested and len(requested) > 1:
        text += " (one seed so far)"
    elif len(seeds) == 1 and not takes_seed(row):
        text += " (the script takes no seed)"
    return text


def quality_cell(row, runs):
    if not runs:
        return ""
    records = list(runs.values())
    counts = eval_protocol(row, records)
    metric_of = {v.key: ev for ev in row.evaluations for v in ev.values}
    parts = []
    for key, label, digits in row_labels(row):
        values = [r["values"][key] for r in records if key in r["values"]]
        if not values:
            continue
        evaluation = metric_of.get(key)
        if evaluation is not None:
            count = counts.get(evaluation.metric, evaluation.default_samples)
            label = label.format(n=f"{count:,}")
        parts.append(f"{label}: **{mean_spread(values, digits)}**")
    notes = sorted({note for r in records for note in r.get("notes", [])})
    parts += [f"*{note}*" for note in notes]
    return "<br>".join(parts)


def time_cell(runs):
    if not runs:
        return ""
    records = list(runs.values())
    text = duration(statistics.fmean(r["seconds"] for r in records))
    evaluation = statistics.fmean(r.get("eval_seconds", 0.0) for r in records)
    if evaluation:
        text += f" + {duration(evaluation)} evaluation"
    return text


def escape(text):
    return text.replace("|", "\\|")


def table(records, rows, mode, backend_choice=None, seeds=None):
    """The markdown table of ``records`` for ``rows`` run in ``mode``, and a note below it.

    A row with no finished run says "not run" (or "failed") and has empty cells.
    """
    lines = ["| recipe | command | data and split | seeds | time per run | quality "
             "(mean ± std over seeds) | published |",
             "|---|---|---|---|---|---|---|"]
    used = []
    for row in rows:
        backend = backend_of(row, backend_choice)
        runs = finished(records, row, mode, backend)
        used += runs.values()
        command = "<br>".join(f"`{escape(c)}`" for c in display_command(row, backend, mode))
        cells = [f"`{row.name}`<br>{row.model}", command, row.data,
                 seeds_cell(row, runs, seeds, records, mode, backend), time_cell(runs),
                 quality_cell(row, runs), row.published]
        lines.append("| " + " | ".join(escape(c) if i > 1 else c
                                        for i, c in enumerate(cells)) + " |")
    return "\n".join(lines) + "\n\n" + machine_note(used, mode) + "\n"


def machine_note(records, mode):
    if not records:
        return "*No run of this table has finished yet.*"
    loads = [x for r in records for x in r.get("load_average", [])]
    first = records[0]
    names = {"python": "Python", "keras": "Keras", "jax": "JAX", "torch": "PyTorch",
             "tensorflow": "TensorFlow"}
    versions_seen = sorted({f"{names.get(k, k)} {v}" for r in records
                            for k, v in r.get("versions", {}).items()})
    dates = sorted(r["finished"][:10] for r in records if r.get("finished"))
    dates = dates[:1] if dates[0] == dates[-1] else [f"{dates[0]} to {dates[-1]}"]
    commits = sorted({r["commit"] for r in records if r.get("commit")})
    note = (f"*{len(records)} runs, {dates[0]}, on {first.get('platform')} with "
            f"{first.get('cpus')} CPUs (load average {min(loads):.1f} to {max(loads):.1f} at "
            f"the starts and ends of the runs); {', '.join(versions_seen)}; kgen at "
            f"{', '.join(commits) or 'an unknown commit'}. Times are wall clock on a shared "
            f"machine: the recipe's run (its own held-out evaluation included) and, apart, "
            f"`kgen evaluate`.*")
    if mode == "smoke":
        note = ("**Plumbing check only** (`--smoke`: one or two epochs or a few steps, "
                "evaluations with fewer samples): these numbers are not results.\n\n" + note)
    elif mode != "full":
        note = f"**Shortened runs** (`--epochs-scale {mode.split('=')[1]}`).\n\n" + note
    return note


def write_markdown(path, text):
    """Puts ``text`` between the table markers of ``path`` (a new file: the text alone)."""
    block = f"{MARKER}\n\n{text}\n{END_MARKER}"
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(f"# Reproduction\n\n{block}\n")
        return
    with open(path) as f:
        page = f.read()
    # The markers are lines of their own (the page may quote them in its prose).
    found = re.search(f"^{re.escape(MARKER)}$", page, re.MULTILINE)
    if not found:
        raise SystemExit(f"reproduce: {path} has no {MARKER} line to replace; add one where "
                         "the table goes.")
    start = found.start()
    closing = re.compile(f"^{re.escape(END_MARKER)}$", re.MULTILINE).search(page, start)
    end = start + len(MARKER) if closing is None else closing.end()
    with open(path, "w") as f:
        f.write(page[:start] + block + page[end:])


# --------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=ROW_NAMES,
                        help="rows to run (default: all): " + ", ".join(ROW_NAMES))
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds (default 0 1 2; with --smoke, 0): the first runs first, "
                             "and the others only when it took under 10 minutes")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny runs (one or two epochs, a few steps; evaluations with "
                             "few samples) to check the plumbing")
    parser.add_argument("--epochs-scale", type=float, default=1.0, metavar="F",
                        help="multiply every epoch and step count by F (default 1)")
    parser.add_argument("--backend", choices=("documented",) + BACKENDS, default="documented",
                        help="backend of every row (default: each recipe's documented one, "
                             "JAX or PyTorch; KERAS_BACKEND is not used)")
    parser.add_argument("--results", default=None, metavar="FILE.jsonl",
                        help="results file, one JSON line per finished run (default: "
                             "WORKDIR/results.jsonl)")
    parser.add_argument("--workdir", default=os.path.join("runs", "reproduce"),
                        help="folder of the runs' outputs and logs (default: runs/reproduce)")
    parser.add_argument("--out-md", metavar="PATH",
                        help=f"write the table into PATH, between {MARKER} and {END_MARKER}")
    parser.add_argument("--rerun", action="store_true",
                        help="run the rows again although the results file has them (after "
                             "a recipe's defaults changed): their earlier records of this "
                             "mode are moved to FILE.replaced.jsonl first")
    parser.add_argument("--table-only", action="store_true",
                        help="run nothing: the table from the results file")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="give up a recipe run (or an evaluation) after this long")
    parser.add_argument("--list", action="store_true", help="print the rows and their commands")
    args = parser.parse_args(argv)
    if args.epochs_scale <= 0 or not math.isfinite(args.epochs_scale):
        parser.error("--epochs-scale must be positive")
    if args.smoke and args.epochs_scale != 1.0:
        parser.error("--smoke and --epochs-scale do not go together")
    if args.rerun and args.table_only:
        parser.error("--rerun runs rows; --table-only runs nothing: give one of them")
    if args.rerun and not args.only:
        parser.error("--rerun runs rows again: name them with --only (every row would take "
                     "hours)")
    if args.seeds is None:
        args.seeds = [0] if args.smoke else list(DEFAULT_SEEDS)
    args.workdir = os.path.abspath(args.workdir)   # the runs start in the repository's root
    args.results = args.results or os.path.join(args.workdir, "results.jsonl")
    return args


def main(argv=None):
    args = parse_args(argv)
    rows = [row for row in ROWS if not args.only or row.name in args.only]
    mode = mode_of(args)
    if args.list:
        for row in rows:
            print(f"{row.name}: {row.model}")
            for line in display_command(row, backend_of(row, args.backend), mode):
                print(f"    {line}")
        return 0
    failures = 0
    if not args.table_only:
        paths = {}
        print(f"reproduce: mode {mode}, seeds {args.seeds}, results {args.results}", flush=True)
        if args.rerun:
            moved = set_aside(args.results, rows, mode, args.backend)
            print(f"reproduce: --rerun: {moved} earlier record(s) of {', '.join(args.only)} "
                  f"moved out of {args.results}", flush=True)
        for row in rows:
            backend = backend_of(row, args.backend)
            seeds = args.seeds if takes_seed(row) else args.seeds[:1]
            for seed in seeds:
                done = finished(read_results(args.results), row, mode, backend)
                if seed not in seeds_to_run(seeds, done.get(seeds[0])):
                    print(f"  {row.name} seed {seed}: left out (seed {seeds[0]} took "
                          f"{duration(total_seconds(done[seeds[0]]))}, over 10 min)")
                    continue
                if seed in done:
                    print(f"  {row.name} seed {seed}: done before ({done[seed]['seconds']} s)")
                    continue
                if row.prepare == "digits_folder" and "digits_folder" not in paths:
                    paths["digits_folder"] = prepare_digits_folder(args.workdir, backend)
                print(f"  {row.name} seed {seed} ({backend}) ...", flush=True)
                record = run_one(row, seed, mode, backend, args.workdir, paths, args.timeout)
                append_result(args.results, record)
                values = ", ".join(f"{k} {v:g}" for k, v in record["values"].items())
                print(f"  {row.name} seed {seed}: {'ok' if record['ok'] else 'FAILED'}, "
                      f"{record['seconds']:.0f} s + {record['eval_seconds']:.0f} s evaluation; "
                      f"{values}", flush=True)
                for problem in record["problems"]:
                    print(f"    {problem}")
                if not record["ok"]:
                    failures += 1
                    break   # the next seeds would fail the same way
    text = table(read_results(args.results), rows, mode, args.backend, args.seeds)
    print()
    print(text)
    if args.out_md:
        # The page holds every row, measured or not, whichever rows this call ran.
        write_markdown(args.out_md, table(read_results(args.results), ROWS, mode,
                                          args.backend, args.seeds))
        print(f"reproduce: wrote the table into {args.out_md}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
