"""The ``kgen`` command line: ``kgen train``, ``kgen generate``, ``kgen evaluate``, ``kgen export``.

The backend is chosen the Keras way, with the ``KERAS_BACKEND`` environment variable
(``tensorflow``, ``jax`` or ``torch``), and reported at start.
"""

import argparse
import datetime
import os
import sys
import time

import numpy as np

MODELS = ("gan", "vae")
DATA_NAMES = ("digits", "ring", "grid")

# Defaults per (model, data) for a run of a few minutes on a laptop CPU.
DEFAULT_EPOCHS = {"gan": 100, "vae": 100}

METRICS = ("fid", "kid", "is", "pr", "modes", "nll")
# Generated samples per evaluation (for nll: importance samples per example). 2,500 for
# mode coverage, as PacGAN's released code draws.
DEFAULT_NUM_SAMPLES = {"fid": 10000, "kid": 10000, "is": 10000, "pr": 10000, "modes": 2500,
                       "nll": 1000}
# kgen.metrics class of each image metric (from kgen/metrics/).
IMAGE_METRICS = {"fid": "FrechetInceptionDistance", "kid": "KernelInceptionDistance",
                 "is": "InceptionScore", "pr": "PrecisionRecall"}
MIXTURES = ("ring", "grid")


def _banner():
    import keras

    import kgen

    print(f"kgen {kgen.__version__} | Keras {keras.__version__} | backend: "
          f"{keras.backend.backend()} (set KERAS_BACKEND=tensorflow|jax|torch to change)",
          flush=True)


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="kgen",
        description="Train and sample generative models (Keras 3; the backend is chosen "
                    "with KERAS_BACKEND).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model on a bundled data set")
    train.add_argument("model", choices=MODELS, help="model family")
    train.add_argument("--data", default="digits", help=f"data set: {', '.join(DATA_NAMES)} "
                       "or tfds:NAME (default: digits)")
    train.add_argument("--epochs", type=int, default=None,
                       help="training epochs (default: %s)" % DEFAULT_EPOCHS)
    train.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    train.add_argument("--latent-dim", type=int, default=None, help="latent size")
    train.add_argument("--out", default=None,
                       help="run folder (default: runs/<model>-<data>-<time>)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--samples", type=int, default=64, help="samples in the grid")
    train.add_argument("--split", default="all", choices=("all", "train"),
                       help="data split to train on (default: all); 'train' keeps the "
                            "held-out 'test' split for kgen evaluate")
    train.add_argument("--likelihood", default=None, choices=("bernoulli", "gaussian"),
                       help="VAE decoder (default: bernoulli for images, gaussian for points)")
    train.add_argument("--devices", default="1",
                       help="devices to train on, an integer or 'all' (default: 1); the "
                            "batch size is the global batch, split over them (JAX: "
                            "keras.distribution; TensorFlow: tf.distribute; PyTorch: 1 only)")

    generate = sub.add_parser("generate", help="sample a trained checkpoint to a PNG")
    generate.add_argument("checkpoint", help="a .keras file written by kgen train")
    generate.add_argument("-n", "--num-samples", type=int, default=64)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", default="samples.png", help="PNG path (default: samples.png)")

    export = sub.add_parser(
        "export", help="write a checkpoint's generate() as a TensorFlow SavedModel for serving")
    export.add_argument("checkpoint", help="a .keras file written by kgen train")
    export.add_argument("directory", help="the SavedModel folder to write (new or empty)")
    export.add_argument("--direction", choices=("a_to_b", "b_to_a"),
                        help="CycleGAN: the generator to export (default a_to_b)")
    export.add_argument("--steps", type=int,
                        help="diffusion: DDIM steps of the exported loop (default 50)")
    export.add_argument("--guidance-scale", type=float,
                        help="class-conditional diffusion: classifier-free guidance scale")
    export.add_argument("--temperature", type=float,
                        help="PixelCNN and VQ-VAE prior: sampling temperature (default 1)")

    evaluate = sub.add_parser(
        "evaluate", help="measure a trained checkpoint (FID, KID, IS, precision/recall, "
                         "mode coverage, NLL)")
    evaluate.add_argument("checkpoint", help="a .keras file written by kgen train")
    evaluate.add_argument("--metric", required=True, choices=METRICS,
                          help="fid, kid, is (Inception Score), pr (precision/recall), "
                               "modes (2-D mixtures) or nll (VAE, importance-weighted)")
    evaluate.add_argument("--data", default="digits",
                          help=f"data set: {', '.join(DATA_NAMES)} or tfds:NAME (default: "
                               "digits)")
    evaluate.add_argument("--split", default="test",
                          help="split of the real data (default: test, the held-out split)")
    evaluate.add_argument("-n", "--num-samples", type=int, default=None,
                          help="generated samples (for nll: importance samples per example); "
                               f"default {DEFAULT_NUM_SAMPLES}")
    evaluate.add_argument("--extractor", default=None, choices=("digits", "inception_v3"),
                          help="feature network of fid/kid/is/pr (default: digits for the "
                               "digits data, inception_v3 otherwise)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the samples (default: 0)")
    evaluate.add_argument("--batch-size", type=int, default=None,
                          help="generated samples per batch (default: 250); for nll, latent "
                               "samples decoded at once (default: 4096)")
    return parser


def _positive(name, value):
    if value is not None and value < 1:
        raise SystemExit(f"kgen: error: {name} must be at least 1; got {value}.")


def train(args):
    _positive("--epochs", args.epochs)
    _positive("--batch-size", args.batch_size)
    _positive("--samples", args.samples)
    devices = _devices(args.devices)
    _banner()
    import keras

    import kgen

    try:
        scope = kgen.distribute(devices)
    except (ValueError, RuntimeError) as error:  # more devices than seen; PyTorch
        raise SystemExit(f"kgen: error: --devices {args.devices}: {error}") from None
    if args.batch_size % scope.num_replicas:
        raise SystemExit(f"kgen: error: --batch-size {args.batch_size} must be divisible by "
                         f"the {scope.num_replicas} devices.")
    keras.utils.set_random_seed(args.seed)
    x = kgen.data.load(args.data, split=args.split, seed=args.seed)
    epochs = args.epochs or DEFAULT_EPOCHS[args.model]
    out = args.out or os.path.join(
        "runs", f"{args.model}-{args.data.replace(':', '_').replace('/', '_')}-"
        f"{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(out, exist_ok=True)
    checkpoint = os.path.join(out, "model.keras")
    grid = os.path.join(out, "samples.png")
    log_csv = os.path.join(out, "log.csv")

    is_points = x.ndim == 2
    if is_points:
        data = x
        fit_kwargs = {"batch_size": args.batch_size, "shuffle": True}
    else:
        data = kgen.data.images(x, batch_size=args.batch_size, seed=args.seed)
        fit_kwargs = {}
    options = {"seed": args.seed}
    if args.latent_dim:
        options["latent_dim"] = args.latent_dim
    model_class = kgen.models.GAN if args.model == "gan" else kgen.models.VAE
    if args.likelihood and args.model != "vae":
        raise SystemExit("kgen: error: --likelihood is a VAE option.")
    if args.model == "vae" and (args.likelihood or is_points):
        options["likelihood"] = args.likelihood or "gaussian"
    with scope:
        model = model_class.from_shape(x.shape[1:], **options)
        model.compile()
    print(f"Training {model_class.__name__} on {args.data} {x.shape[1:]} "
          f"({len(x)} samples) for {epochs} epochs; run folder: {out}", flush=True)
    if scope.num_replicas > 1:
        print(f"  on {scope.num_replicas} devices ({scope.engine}), global batch "
              f"{args.batch_size}", flush=True)

    stop = kgen.callbacks.StopOnNaN()
    saver = kgen.callbacks.Checkpoint(checkpoint)
    callbacks = [stop, saver, keras.callbacks.CSVLogger(log_csv)]
    start = time.time()
    with scope:
        model.fit(data, epochs=epochs, verbose=1 if sys.stdout.isatty() else 2,
                  callbacks=callbacks, **fit_kwargs)
    seconds = time.time() - start
    if saver.last_saved_epoch is None:
        print("Training diverged before the first epoch ended; no checkpoint was written.")
        return 1
    if stop.stopped is not None:
        model = keras.saving.load_model(checkpoint)
    reference = x[:2000] if is_points else None
    kgen.callbacks.save_samples(model, grid, args.samples, seed=0, reference=reference)
    print(f"\nTrained for {seconds:.1f} s.")
    print(f"  checkpoint: {checkpoint} (epoch {saver.last_saved_epoch})")
    print(f"  samples:    {grid}")
    print(f"  logs:       {log_csv}")
    print(f"Sample again with: kgen generate {checkpoint} -n 64 --seed 1 --out grid.png")
    metric = "modes" if args.data in MIXTURES else ("nll" if args.model == "vae" else "fid")
    print(f"Evaluate with:     kgen evaluate {checkpoint} --data {args.data} --metric {metric}")
    return 0 if stop.stopped is None else 1


def generate(args):
    _positive("--num-samples", args.num_samples)
    _require_file(args.checkpoint)
    _banner()
    import kgen

    model = _load_checkpoint(args.checkpoint)
    path = kgen.callbacks.save_samples(model, args.out, args.num_samples, seed=args.seed)
    print(f"Wrote {args.num_samples} samples (seed {args.seed}) to {path}")
    return 0


#: ``kgen export`` options, passed to the family's ``serving_functions()``.
EXPORT_OPTIONS = ("direction", "steps", "guidance_scale", "temperature")


def export(args):
    _require_file(args.checkpoint)
    directory = args.directory
    if os.path.isfile(directory) or (os.path.isdir(directory) and os.listdir(directory)):
        raise SystemExit(f"kgen: error: {directory!r} exists and is not an empty folder; "
                         "export to a new folder.")
    _banner()
    from kgen import export as exporter

    options = {name: getattr(args, name) for name in EXPORT_OPTIONS
               if getattr(args, name) is not None}
    model = _load_checkpoint(args.checkpoint)
    try:
        exporter.export_generator(model, directory, **options)
    except (NotImplementedError, TypeError, ValueError) as error:
        message = str(error)
        for name in EXPORT_OPTIONS:  # the option names as they are typed

            message = message.replace(f"'{name}'", f"'--{name.replace('_', '-')}'")
        raise SystemExit(f"kgen: error: {message}") from None
    print(f"Wrote the SavedModel of {type(model).__name__} to {directory}")
    print(f"Inspect it with: saved_model_cli show --dir {directory} --all")
    return 0


def _devices(value):
    if value == "all":
        return value
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise SystemExit(f"kgen: error: --devices must be a positive integer or 'all'; "
                         f"got {value!r}.")
    return count


def _require_file(path):
    if not os.path.exists(path):
        raise SystemExit(f"kgen: error: no checkpoint at {path!r}.")


def _load_checkpoint(path):
    import keras

    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # corrupt or foreign files: say which file and why
        raise SystemExit(f"kgen: error: could not load {path!r} as a kgen model: "
                         f"{error}") from None
    if not hasattr(model, "generate"):
        raise SystemExit(f"kgen: error: {path!r} is not a kgen generative model.")
    return model


def _sample_shape(model):
    return tuple(model.generate(1, seed=0).shape[1:])


def _load_real(args, kgen):
    try:
        return kgen.data.load(args.data, split=args.split, seed=args.seed)
    except (ValueError, RuntimeError) as error:  # unknown name or split, tfds not prepared
        raise SystemExit(f"kgen: error: {error}") from None


def _describe_split(args):
    if args.data == "digits":
        held_out = " (the held-out 20%; train the model with --split train for it to be unseen)" \
            if args.split == "test" else ""
        return f"digits, split {args.split!r}{held_out}"
    if args.data in MIXTURES:
        return f"{args.data}, split {args.split!r} (points drawn with seed {args.seed})"
    return f"{args.data}, split {args.split!r}"


def _print_result(result, name):
    if isinstance(result, dict):
        for key, value in result.items():
            print(f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}")
    else:
        print(f"{name}: {result:.6g}")


def _evaluate_modes(args, model, kgen, shape):
    if args.data not in MIXTURES:
        raise SystemExit(f"kgen: error: --metric modes measures the 2-D Gaussian mixtures; "
                         f"use --data ring or --data grid (got --data {args.data}).")
    if shape != (2,):
        raise SystemExit(f"kgen: error: the checkpoint generates samples of shape {shape}, "
                         f"not 2-D points: it was not trained on --data {args.data}.")
    metric = kgen.metrics.ModeCoverage(args.data)
    print(f"Protocol: mode coverage on {args.data!r} ({metric.num_modes} modes, std "
          f"{metric.std:g}), VEEGAN / PacGAN: each sample goes to its nearest mode; it is "
          f"high quality within {metric.num_std:g} standard deviations; a mode is captured "
          f"by at least {metric.min_samples} high-quality sample.")
    print(f"  generated: {args.num_samples} samples (seed {args.seed}, batches of "
          f"{args.batch_size}); no real data used")
    result = kgen.callbacks.compute_metric(model, metric, args.num_samples,
                                           batch_size=args.batch_size, seed=args.seed)
    print(f"modes: {result['modes']} of {metric.num_modes}")
    print(f"high_quality: {result['high_quality']:.4f}")
    return 0


def _evaluate_nll(args, model, kgen, shape):
    if not hasattr(model, "log_likelihood"):
        raise SystemExit(f"kgen: error: --metric nll needs a model with a likelihood (a VAE); "
                         f"a {type(model).__name__} has none. Use fid, kid, is, pr or modes.")
    real = _load_real(args, kgen)
    if tuple(real.shape[1:]) != shape:
        raise SystemExit(f"kgen: error: the checkpoint models samples of shape {shape} but "
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


def _evaluate_images(args, model, kgen, shape):
    class_name = IMAGE_METRICS[args.metric]
    metric_class = getattr(kgen.metrics, class_name, None)
    if metric_class is None:
        raise SystemExit(f"kgen: error: kgen.metrics.{class_name} is not available in this "
                         "version of kgen.")
    if len(shape) != 3:
        raise SystemExit(f"kgen: error: --metric {args.metric} measures images; the checkpoint "
                         f"generates samples of shape {shape}. For the 2-D mixtures use "
                         "--metric modes.")
    extractor_name = args.extractor or ("digits" if args.data == "digits" else "inception_v3")
    if extractor_name == "digits" and shape != (8, 8, 1):
        raise SystemExit(f"kgen: error: the digits extractor takes 8x8x1 images; the checkpoint "
                         f"generates {shape}. Use --extractor inception_v3.")
    try:
        metric = metric_class(extractor_name)
    except RuntimeError as error:  # InceptionV3 weights missing and no network
        raise SystemExit(f"kgen: error: {error}") from None
    real = None
    if args.metric != "is":
        real = _load_real(args, kgen)
        if tuple(real.shape[1:]) != shape:
            raise SystemExit(f"kgen: error: the checkpoint generates images of shape {shape} "
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
        print("  note: the digits classifier of kgen.metrics: compare only with values of the "
              "same extractor, split and sample counts")
    result = kgen.callbacks.compute_metric(model, metric, args.num_samples, data=real,
                                           batch_size=args.batch_size, seed=args.seed)
    if hasattr(metric, "result_with_std"):
        mean, std = metric.result_with_std()
        print(f"{args.metric}: {mean:.6g} (std {std:.3g})")
    else:
        _print_result(result, args.metric)
    return 0


def evaluate(args):
    _positive("--num-samples", args.num_samples)
    _positive("--batch-size", args.batch_size)
    model_path = args.checkpoint
    _require_file(model_path)
    _banner()
    import kgen

    model = _load_checkpoint(model_path)
    args.num_samples = args.num_samples or DEFAULT_NUM_SAMPLES[args.metric]
    args.batch_size = args.batch_size or (4096 if args.metric == "nll" else 250)
    shape = _sample_shape(model)
    print(f"Evaluating {type(model).__name__} {model_path} (samples of shape {shape}) with "
          f"--metric {args.metric} on --data {args.data}", flush=True)
    if args.metric == "modes":
        return _evaluate_modes(args, model, kgen, shape)
    if args.metric == "nll":
        return _evaluate_nll(args, model, kgen, shape)
    return _evaluate_images(args, model, kgen, shape)


def main(argv=None):
    """Entry point of the ``kgen`` console script."""
    args = _build_parser().parse_args(argv)
    if args.command == "train":
        return train(args)
    if args.command == "evaluate":
        return evaluate(args)
    if args.command == "export":
        return export(args)
    return generate(args)


if __name__ == "__main__":
    sys.exit(main())
