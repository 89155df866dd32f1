"""The ``kgen`` command line: ``kgen train`` and ``kgen generate``.

The backend is chosen the Keras way, with the ``KERAS_BACKEND`` environment variable
(``tensorflow``, ``jax`` or ``torch``), and reported at start.
"""

import argparse
import datetime
import os
import sys
import time

MODELS = ("gan", "vae")
DATA_NAMES = ("digits", "ring", "grid")

# Defaults per (model, data) for a run of a few minutes on a laptop CPU.
DEFAULT_EPOCHS = {"gan": 60, "vae": 60}


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

    generate = sub.add_parser("generate", help="sample a trained checkpoint to a PNG")
    generate.add_argument("checkpoint", help="a .keras file written by kgen train")
    generate.add_argument("-n", "--num-samples", type=int, default=64)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", default="samples.png", help="PNG path (default: samples.png)")
    return parser


def _positive(name, value):
    if value is not None and value < 1:
        raise SystemExit(f"kgen: error: {name} must be at least 1; got {value}.")


def train(args):
    _positive("--epochs", args.epochs)
    _positive("--batch-size", args.batch_size)
    _positive("--samples", args.samples)
    _banner()
    import keras

    import kgen

    keras.utils.set_random_seed(args.seed)
    x = kgen.data.load(args.data, seed=args.seed)
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
    if args.model == "vae" and is_points:
        options["likelihood"] = "gaussian"
    model = model_class.from_shape(x.shape[1:], **options)
    model.compile()
    print(f"Training {model_class.__name__} on {args.data} {x.shape[1:]} "
          f"({len(x)} samples) for {epochs} epochs; run folder: {out}", flush=True)

    stop = kgen.callbacks.StopOnNaN()
    saver = kgen.callbacks.Checkpoint(checkpoint)
    callbacks = [stop, saver, keras.callbacks.CSVLogger(log_csv)]
    start = time.time()
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
    return 0 if stop.stopped is None else 1


def generate(args):
    _positive("--num-samples", args.num_samples)
    if not os.path.exists(args.checkpoint):
        raise SystemExit(f"kgen: error: no checkpoint at {args.checkpoint!r}.")
    _banner()
    import keras

    import kgen

    try:
        model = keras.saving.load_model(args.checkpoint)
    except Exception as error:  # corrupt or foreign files: say which file and why
        raise SystemExit(f"kgen: error: could not load {args.checkpoint!r} as a kgen model: "
                         f"{error}") from None
    if not hasattr(model, "generate"):
        raise SystemExit(f"kgen: error: {args.checkpoint!r} is not a kgen generative model.")
    path = kgen.callbacks.save_samples(model, args.out, args.num_samples, seed=args.seed)
    print(f"Wrote {args.num_samples} samples (seed {args.seed}) to {path}")
    return 0


def main(argv=None):
    """Entry point of the ``kgen`` console script."""
    args = _build_parser().parse_args(argv)
    if args.command == "train":
        return train(args)
    return generate(args)


if __name__ == "__main__":
    sys.exit(main())
