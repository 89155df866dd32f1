"""``kgen evaluate``: measure a checkpoint, printing the value with its protocol.

FID, KID, Inception Score and precision/recall of images (InceptionV3 features, or the
bundled digits classifier for 8x8 digits), mode coverage of the 2-D mixtures, and the
negative log-likelihood of a VAE. The real data come from any data source
(``--data digits``, ``tfds:NAME``, ``folder:PATH``); for a run folder, the run's own data
by default.
"""

import numpy as np

import kgen
from kgen.cli.errors import fail
from kgen.data.captioned import CAPTIONED
from kgen.cli.generate import load_checkpoint
from kgen.models import registry
from kgen.cli.run_folder import first_array, checkpoint_path, run_of

METRICS = ("fid", "kid", "is", "pr", "modes", "nll", "l1", "psnr")
# Generated samples per evaluation (for nll: importance samples per example). 2,500 for
# mode coverage, as PacGAN's released code draws.
DEFAULT_NUM_SAMPLES = {"fid": 10000, "kid": 10000, "is": 10000, "pr": 10000, "modes": 2500,
                       "nll": 1000, "l1": 10000, "psnr": 1}
# kgen.metrics class of each image metric.
IMAGE_METRICS = {"fid": "FrechetInceptionDistance", "kid": "KernelInceptionDistance",
                 "is": "InceptionScore", "pr": "PrecisionRecall"}
MIXTURES = ("ring", "grid")
#: Real examples read from a data source at most (a folder is streamed up to this many).
MAX_REAL = 50000


def _sample_shape(model):
    return tuple(model.generate(1, seed=0).shape[1:])


def _split_of(args):
    """``--split``, or "all" for a source with no splits (a folder, a picture)."""
    if args.data in kgen.data.BUNDLED or args.data.startswith("tfds:") or \
            args.data.startswith("digits-") or args.data in kgen.data.translation.UNPAIRED:
        return args.split
    return "all"


def _load_real(args, kgen):
    """The real samples of ``--data`` (any data source), up to `MAX_REAL`."""
    try:
        if args.data in kgen.data.BUNDLED + CAPTIONED or args.data.startswith("tfds:"):
            return kgen.data.load(args.data, split=args.split, seed=args.seed)
        source = kgen.data.open_source(args.data, split=_split_of(args), seed=args.seed,
                                       image_size=args.image_size)
        return first_array(source.arrays(limit=MAX_REAL))
    except (ValueError, TypeError, RuntimeError, FileNotFoundError, OSError) as error:
        fail(f"--data {args.data}: {error}")


class Translations:
    """``generate(n, seed)`` of a translation model: the translations of the next ``n``
    inputs, so that the image metrics measure translated images against real targets."""

    def __init__(self, model, inputs):
        self.model, self.inputs, self.position = model, inputs, 0

    def generate(self, num_samples, seed=None):
        index = (self.position + np.arange(num_samples)) % len(self.inputs)
        self.position += num_samples
        return self.model.generate(inputs=self.inputs[index])


def _translation_data(args, family):
    """``(inputs, targets)`` of ``--data`` for a translation family (domain A, domain B)."""
    try:
        source = kgen.data.open_source(args.data, kind=family.data, split=_split_of(args),
                                       seed=args.seed, image_size=args.image_size)
        return source.arrays(limit=MAX_REAL)
    except (ValueError, TypeError, RuntimeError, FileNotFoundError, OSError) as error:
        fail(f"--data {args.data}: {error}")


def _evaluate_l1(args, model, family):
    inputs, targets = _translation_data(args, family)
    count = min(len(inputs), args.num_samples)
    if family.data == "paired":
        truth, baseline_of, pairs = targets[:count], targets, "its target"
    elif args.data in kgen.data.translation.UNPAIRED:
        # Unpaired domains, but a bundled set is made by a known map: its true translation.
        truth, baseline_of = kgen.data.true_translation(args.data, inputs[:count]), targets
        pairs = "its true translation (kgen.data.true_translation)"
    else:
        fail("--metric l1 compares each translation with its own target: it needs paired "
             "data (--data digits-edges, or folder:PATH with A/ and B/ of matching names), "
             f"or a bundled unpaired set whose true translation is known "
             f"({', '.join(kgen.data.translation.UNPAIRED)}).")
    translated = Translations(model, inputs[:count]).generate(count)
    truth = kgen.data.to_data_space(truth)
    error = float(np.mean(np.abs(translated - truth)))
    mean_target = kgen.data.to_data_space(baseline_of).mean(axis=0, keepdims=True)
    baseline = float(np.mean(np.abs(mean_target - truth)))
    print(f"Protocol: mean absolute error in data space ([-1, 1]) between the translation "
          f"of each input and {pairs}, over {count} inputs of {args.data} (split "
          f"{_split_of(args)!r}); beside it, the error of always answering the mean "
          f"{'target' if family.data == 'paired' else 'B image'}.")
    print(f"l1: {error:.6g}")
    print(f"mean-target l1: {baseline:.6g}")
    return 0


def _evaluate_psnr(args, model):
    if args.reference is None:
        fail("--metric psnr compares the restored image with the clean one: give it as "
             "--reference IMAGE.")
    try:
        reference = kgen.data.open_source(args.reference, kind="image").images
    except (ValueError, TypeError, FileNotFoundError, OSError) as error:
        fail(f"--reference {args.reference}: {error}")
    restored = model.generate()
    reference = kgen.data.to_data_space(reference)
    if reference.shape != restored.shape:
        fail(f"--reference has shape {reference.shape[1:]}; the model restores images of "
             f"shape {restored.shape[1:]}.")
    print("Protocol: peak signal-to-noise ratio, 10 log10(range^2 / MSE), of the restored "
          "image against --reference, in data space (range 2).")
    print(f"psnr: {kgen.metrics.psnr(restored, reference):.6g} dB")
    return 0


def _describe_split(args):
    if args.data == "digits":
        held_out = " (the held-out 20%; train the model with --split train for it to be unseen)" \
            if args.split == "test" else ""
        return f"digits, split {args.split!r}{held_out}"
    if args.data in MIXTURES:
        return f"{args.data}, split {args.split!r} (points drawn with seed {args.seed})"
    if args.data in CAPTIONED:
        return f"{args.data}, split {args.split!r} (scenes drawn with seed {args.seed})"
    return f"{args.data}, split {args.split!r}"


def _print_result(result, name):
    if isinstance(result, dict):
        for key, value in result.items():
            print(f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}")
    else:
        print(f"{name}: {result:.6g}")


def _evaluate_modes(args, model, kgen, shape):
    if args.data not in MIXTURES:
        fail(f"--metric modes measures the 2-D Gaussian mixtures; "
             f"use --data ring or --data grid (got --data {args.data}).")
    if shape != (2,):
        fail(f"the checkpoint generates samples of shape {shape}, "
             f"not 2-D points: it was not trained on --data {args.data}.")
    metric = kgen.metrics.ModeCoverage(args.data)
    print(f"Protocol: mode coverage on {args.data!r} ({metric.num_modes} modes, std "
          f"{metric.std:g}), VEEGAN / PacGAN: each sample goes to its nearest mode; it is "
          f"high quality within {metric.num_std:g} standard deviations; a mode is captured "
          f"by at least {metric.min_samples} high-quality sample.")
    print(f"  generated: {args.num_samples} samples (seed {args.seed}, batches of "
          f"{args.batch_size}); no real data used")
    result = kgen.metrics.compute_metric(model, metric, args.num_samples,
                                           batch_size=args.batch_size, seed=args.seed)
    print(f"modes: {result['modes']} of {metric.num_modes}")
    print(f"high_quality: {result['high_quality']:.4f}")
    return 0


def _evaluate_nll(args, model, kgen, shape):
    if not hasattr(model, "log_likelihood"):
        fail(f"--metric nll needs a model with a likelihood (a VAE); "
             f"a {type(model).__name__} has none. Use fid, kid, is, pr or modes.")
    real = _load_real(args, kgen)
    if tuple(real.shape[1:]) != shape:
        fail(f"the checkpoint models samples of shape {shape} but "
             f"--data {args.data} has samples of shape {tuple(real.shape[1:])}.")
    is_images = real.ndim == 4
    num_dims = int(np.prod(shape))
    gaussian = model.likelihood == "gaussian"
    print(f"Protocol: importance-weighted log-likelihood (IWAE bound, Burda et al. 2016), "
          f"K = {args.num_samples} samples of q(z|x) per example, seed {args.seed}; "
          f"the negative ELBO from the same samples beside it.")
    print(f"  data: {len(real)} examples of {_describe_split(args)}")
    if is_images and gaussian:
        real = kgen.metrics.dequantize(real, seed=args.seed)
        print("  images dequantized: uniform noise within each of the 256 levels' bins, so "
              "bits/dim bound the discrete likelihood")
    elbo, log_p = model.log_likelihood_bounds(real, num_samples=args.num_samples,
                                              batch_size=args.batch_size, seed=args.seed)
    nll, negative_elbo = float(-log_p.mean()), float(-elbo.mean())
    print(f"nll: {nll:.4f} nats per example (negative ELBO: {negative_elbo:.4f})")
    if gaussian and is_images:
        print(f"bits_per_dim: {kgen.metrics.bits_per_dim(nll, num_dims):.4f} "
              f"(0..255 scale: nll / {num_dims} + log 127.5, in bits)")
    elif gaussian:
        print(f"nats per dimension: {nll / num_dims:.4f} (a density of the points, no "
              f"discretisation)")
    else:
        print("  note: a Bernoulli decoder on grey levels is not a normalised density of the "
              "data (VAE.log_likelihood says why); compare it only with the same decoder.")
    return 0


#: The image shape each shipped classifier takes (InceptionV3 resizes any image).
EXTRACTOR_SHAPES = {"digits": (8, 8, 1), "scenes": (32, 32, 3)}


def default_extractor(shape, data):
    """The feature network of FID, KID, IS and PR for samples of ``shape`` of data ``data``:
    the shipped digits classifier for 8x8 digits, the shipped scene classifier for the
    32x32 captioned digit scenes, InceptionV3 for anything else."""
    if tuple(shape) == EXTRACTOR_SHAPES["digits"]:
        return "digits"
    if tuple(shape) == EXTRACTOR_SHAPES["scenes"] and data == "captioned_digits":
        return "scenes"
    return "inception_v3"


def _evaluate_images(args, model, kgen, shape):
    class_name = IMAGE_METRICS[args.metric]
    metric_class = getattr(kgen.metrics, class_name, None)
    if metric_class is None:
        fail(f"kgen.metrics.{class_name} is not available in this "
             "version of kgen.")
    if len(shape) != 3:
        fail(f"--metric {args.metric} measures images; the checkpoint "
             f"generates samples of shape {shape}. For the 2-D mixtures use "
             "--metric modes.")
    extractor_name = args.extractor or default_extractor(shape, args.data)
    needed = EXTRACTOR_SHAPES.get(extractor_name)
    if needed is not None and shape != needed:
        fail(f"the {extractor_name} extractor takes images of shape {needed}; the checkpoint "
             f"generates {shape}. Use --extractor inception_v3.")
    try:
        metric = metric_class(extractor_name)
    except RuntimeError as error:  # InceptionV3 weights missing and no network
        fail(f"{error}")
    real = None
    if args.metric != "is":
        real = getattr(args, "real", None)
        if real is None:
            real = _load_real(args, kgen)
        if tuple(real.shape[1:]) != shape:
            fail(f"the checkpoint generates images of shape {shape} "
                 f"but --data {args.data} has images of shape "
                 f"{tuple(real.shape[1:])}.")
    protocol = dict(metric.extractor.protocol)
    print(f"Protocol: {args.metric} (kgen.metrics.{class_name}), extractor "
          f"{protocol.pop('extractor', extractor_name)} "
          f"({', '.join(f'{k}: {v}' for k, v in protocol.items())})")
    print(f"  generated: {args.num_samples} samples (seed {args.seed}, batches of "
          f"{args.batch_size})")
    if real is not None:
        print(f"  real: {len(real)} images of {_describe_split(args)}")
    if args.metric == "kid":
        print(f"  subsets: {metric.num_subsets} of "
              f"{min(metric.subset_size, args.num_samples, len(real))} samples per side")
    if args.metric == "is":
        print(f"  splits: {metric.splits}")
    if extractor_name == "inception_v3":
        print("  note: keras.applications InceptionV3, not the TF-Inception graph of the "
              "reference code: compare only with values of this protocol")
    else:
        print(f"  note: the {'digits' if extractor_name == 'digits' else 'scene'} classifier "
              "shipped with kgen: compare only with values of the same extractor, split and "
              "sample counts")
    result = kgen.metrics.compute_metric(model, metric, args.num_samples, data=real,
                                           batch_size=args.batch_size, seed=args.seed)
    if hasattr(metric, "result_with_std"):
        mean, std = metric.result_with_std()
        print(f"{args.metric}: {mean:.6g} (std {std:.3g})")
    else:
        _print_result(result, args.metric)
    return 0


def evaluate(args):
    """``kgen evaluate``: one metric of a checkpoint, with its protocol."""
    from kgen import checks
    from kgen.cli.train import banner

    try:
        checks.optional_integer(args.num_samples, "--num-samples", 1)
        checks.optional_integer(args.batch_size, "--batch-size", 1)
        checks.seed(args.seed, "--seed")
    except (TypeError, ValueError) as error:
        fail(str(error))
    model_path = checkpoint_path(args.checkpoint)
    run = run_of(args.checkpoint)
    if args.data is None:
        args.data = "digits"
        if run is not None:
            from kgen.cli import config

            args.data = config.read(run.config).get("data", {}).get("source", "digits")
    banner()
    model = load_checkpoint(model_path)
    family = registry.family_of(model)
    if args.metric not in family.metrics:
        fail(f"--metric {args.metric}: the {family.name} family is measured by "
             f"{', '.join(family.metrics) or 'no metric of kgen evaluate'}.")
    args.num_samples = args.num_samples or DEFAULT_NUM_SAMPLES[args.metric]
    args.batch_size = args.batch_size or (4096 if args.metric == "nll" else 250)
    if args.metric == "psnr":
        return _evaluate_psnr(args, model)
    if args.metric == "l1":
        return _evaluate_l1(args, model, family)
    if family.data in ("paired", "unpaired"):
        inputs, targets = _translation_data(args, family)
        model = Translations(model, inputs)
        args.real = targets
    shape = _sample_shape(model)
    print(f"Evaluating {type(model).__name__} {model_path} (samples of shape {shape}) with "
          f"--metric {args.metric} on --data {args.data}", flush=True)
    if args.metric == "modes":
        return _evaluate_modes(args, model, kgen, shape)
    if args.metric == "nll":
        return _evaluate_nll(args, model, kgen, shape)
    return _evaluate_images(args, model, kgen, shape)


