"""The ``kgen`` command line: ``kgen train``, ``kgen generate``, ``kgen evaluate``, ``kgen export``.

Every registered family (`kgen.models.registry`) can be trained, sampled, evaluated and
exported; its options are flags of ``kgen train FAMILY`` (``kgen train FAMILY --help``
lists them). The backend is chosen the Keras way, with the ``KERAS_BACKEND`` environment
variable (``tensorflow``, ``jax`` or ``torch``), and reported at start. A problem with what
was asked is printed as one line, ``kgen: error: ...``, with exit status 2.

Example:

```python
from kgen import cli

cli.main(["train", "gan", "--epochs", "1", "--out", "runs/example", "--seed", "0",
          "--samples", "4", "--no-tensorboard"])
cli.main(["generate", "runs/example", "-n", "4", "--out", "grid.png"])
```
"""

import argparse
import warnings

from kgen.cli.errors import CommandLineError, report

#: The flags of a run, by configuration section (see `kgen.cli.config`).
COMMANDS = ("train", "generate", "evaluate", "export")


def _tuple_of(item):
    def parse(text):
        try:
            return tuple(item(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {item.__name__} values separated by commas; got {text!r}") from None

    return parse


def _add_option(parser, option, dest):
    kwargs = {"dest": dest, "default": argparse.SUPPRESS if dest.startswith("_") else None,
              "help": option.help + (f" (default: {option.default})"
                                     if option.default is not None else "")}
    if option.type is bool:
        parser.add_argument(option.flag, action=argparse.BooleanOptionalAction, **kwargs)
    elif option.type is tuple:
        parser.add_argument(option.flag, type=_tuple_of(option.item), metavar="A,B,..",
                            **kwargs)
    else:
        parser.add_argument(option.flag, type=option.type, choices=option.choices,
                            metavar=None if option.choices else option.name.upper(), **kwargs)


def _add_run_flags(parser, suppress):
    """The flags every ``kgen train`` run takes (data, training, callbacks)."""
    default = argparse.SUPPRESS if suppress else None
    data = parser.add_argument_group("data")
    data.add_argument("--data", dest="source", default=default,
                      help="data source: a bundled name (digits, ring, grid, digits-edges, "
                           "digits-inverted, digits-rotated, photos-negative, a scikit-image picture), tfds:NAME[:SPLIT] or "
                           "folder:PATH (default: the family's)")
    data.add_argument("--split", default=default, choices=("all", "train"),
                      help="split to train on (default: all); 'train' keeps the held-out "
                           "'test' split unseen for kgen evaluate")
    data.add_argument("--image-size", type=int, default=default,
                      help="resize the short side and center-crop to this size (folders)")
    data.add_argument("--channels", type=int, default=default, choices=(1, 3),
                      help="convert images to 1 (grey) or 3 (RGB) channels")
    data.add_argument("--flip", action="store_true", default=default,
                      help="random horizontal flips")
    data.add_argument("--labels", action="store_true", default=default,
                      help="train on class labels (sub-folder names of a folder) for a "
                           "family whose labels are optional")
    run = parser.add_argument_group("training")
    run.add_argument("--epochs", type=int, default=default, help="epochs (default: the family's)")
    run.add_argument("--batch-size", type=int, default=default, help="batch size (default: 64)")
    run.add_argument("--steps-per-epoch", type=int, default=default,
                     help="steps per epoch (single-image families: optimisation steps; "
                          "default 100); for data sets, at most one pass over the data")
    run.add_argument("--learning-rate", type=float, default=default,
                     help="learning rate of every optimizer (default: the family's)")
    run.add_argument("--lr-schedule", default=default, choices=("constant", "cosine"),
                     help="learning-rate schedule over the run (default: constant)")
    run.add_argument("--accumulation-steps", type=int, default=default,
                     help="batches whose gradients are averaged into one update (default: 1): "
                          "--batch-size 16 --accumulation-steps 4 updates like batches of 64")
    run.add_argument("--precision", default=default,
                     choices=("float32", "mixed_bfloat16", "mixed_float16"),
                     help="precision of the networks (default: float32); the mixed ones "
                          "keep float32 weights, mixed_float16 adds loss scaling "
                          "(kgen.precision)")
    run.add_argument("--devices", default=default,
                     help="devices to train on, an integer or 'all' (default: 1); the batch "
                          "size is the global batch (JAX: keras.distribution; TensorFlow: "
                          "tf.distribute; PyTorch: 1 only)")
    group = parser.add_argument_group(
        "several processes (one per machine or cluster task; see docs/guides/distributed.md)")
    group.add_argument("--coordinator", default=default, metavar="HOST:PORT",
                       help="address of process 0 (JAX); on TensorFlow without --workers, "
                            "the first worker's, the others at the next ports of that host")
    group.add_argument("--num-processes", type=int, default=default, metavar="N",
                       help="processes training the model together (default: 1)")
    group.add_argument("--process-id", type=int, default=default, metavar="I",
                       help="this process's index, 0 to N-1; process 0 writes the run "
                            "folder")
    group.add_argument("--workers", default=default, metavar="H1:P1,H2:P2",
                       help="TensorFlow: every worker's HOST:PORT, in process order "
                            "(instead of --coordinator); a TF_CONFIG environment variable "
                            "is used when no flag is given")
    run.add_argument("--seed", type=int, default=default, help="random seed (default: 0)")
    run.add_argument("--out", default=default,
                     help="run folder (default: runs/<family>-<data>-<time>)")
    run.add_argument("--config", default=default,
                     help="a TOML or YAML configuration; flags given override it")
    out = parser.add_argument_group("callbacks")
    out.add_argument("--samples", type=int, default=default,
                     help="samples in the grid written every epoch (default: 64)")
    out.add_argument("--evaluate", default=default, metavar="METRIC",
                     help="a metric computed during training (fid, kid, is, pr, modes); "
                          "keeps best.keras")
    out.add_argument("--every", type=int, default=default,
                     help="epochs between evaluations (default: 1)")
    out.add_argument("--eval-samples", type=int, default=default,
                     help="generated samples per evaluation (default: 2000)")
    out.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                     default=default, help="do not write TensorBoard event files")


def build_parser():
    """The argument parser of ``kgen``, with a sub-command per family under ``train``."""
    from kgen.cli import evaluate as evaluate_module
    from kgen.cli.export import export_options
    from kgen.models import registry

    parser = argparse.ArgumentParser(
        prog="kgen",
        description="Train, sample, evaluate and export generative models (Keras 3; the "
                    "backend is chosen with KERAS_BACKEND).")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train", help="train a model family on a data source, in a run folder",
        description="Train a model family. `kgen train FAMILY --help` lists its options; "
                    "`kgen train --config FILE` runs a configuration; `kgen train --resume "
                    "RUN` continues a run.")
    _add_run_flags(train, suppress=False)
    train.add_argument("--resume", metavar="RUN", default=None,
                       help="continue the run in this folder from its last finished epoch")
    families = train.add_subparsers(dest="family", metavar="FAMILY", required=False,
                                    title="families")
    for family in sorted(registry.families(), key=lambda f: f.name):
        child = families.add_parser(family.name, help=family.summary,
                                    description=f"{family.name}: {family.summary}. Data: "
                                                f"{registry.DATA_KINDS[family.data]}.")
        _add_run_flags(child, suppress=True)
        group = child.add_argument_group(f"{family.name} options")
        for option in family.options:
            _add_option(group, option, "option_" + option.name)

    generate = sub.add_parser("generate", help="sample a trained model to image files")
    generate.add_argument("checkpoint", help="a run folder or a .keras file")
    generate.add_argument("-n", "--num-samples", type=int, default=64)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", default="samples.png",
                          help="grid file, .png or .jpg (default: samples.png)")
    generate.add_argument("--individual", metavar="DIR", default=None,
                          help="also write one PNG per sample into this folder")
    conditions = generate.add_argument_group("conditions (those of the model's family)")
    conditions.add_argument("--labels", help="class labels, e.g. 3,3,7 (one per sample) or 3")
    conditions.add_argument("--inputs", help="translation: a folder or an image file (or .npy)")
    conditions.add_argument("--images", help="completion/inpainting: the known images")
    conditions.add_argument("--mask", help="completion/inpainting: white where known")
    conditions.add_argument("--sampler", choices=("ddim", "ddpm", "dpm++"),
                            help="diffusion sampler")
    conditions.add_argument("--steps", type=int, help="diffusion: DDIM steps")
    conditions.add_argument("--eta", type=float, help="diffusion: DDIM noise, 0 to 1")
    conditions.add_argument("--guidance-scale", type=float,
                            help="classifier-free guidance scale")
    conditions.add_argument("--temperature", type=float, help="autoregressive sampling")
    conditions.add_argument("--direction", choices=("a_to_b", "b_to_a"), help="CycleGAN")
    conditions.add_argument("--prompt", help="text-conditioned models: the text of every "
                            "sample")
    conditions.add_argument("--negative-prompt", help="text-conditioned models: the text "
                            "guidance moves away from (with --guidance-scale)")
    ranking = generate.add_argument_group(
        "CLIP re-ranking (any family whose samples have the CLIP model's image shape)")
    ranking.add_argument("--rerank", metavar="CLIP_RUN", default=None,
                         help="a trained CLIP (run folder or .keras file): draw -n x "
                              "--candidates samples and keep the -n closest to the text")
    ranking.add_argument("--candidates", type=int, default=None,
                         help="with --rerank: samples drawn for each one kept (default: 8)")
    ranking.add_argument("--rerank-prompt", default=None,
                         help="with --rerank: the text to rank by (default: --prompt)")

    export = sub.add_parser(
        "export", help="write a checkpoint's generate() as a TensorFlow SavedModel")
    export.add_argument("checkpoint", help="a run folder or a .keras file")
    export.add_argument("directory", help="the SavedModel folder to write (new or empty)")
    for option in export_options():
        _add_option(export, option, option.name)

    evaluate = sub.add_parser(
        "evaluate", help="measure a trained model (FID, KID, IS, precision/recall, mode "
                         "coverage, NLL)")
    evaluate.add_argument("checkpoint", help="a run folder or a .keras file")
    evaluate.add_argument("--metric", required=True, choices=evaluate_module.METRICS,
                          help="fid, kid, is (Inception Score), pr (precision/recall), "
                               "modes (2-D mixtures), nll (likelihood models), l1 "
                               "(paired translation) or psnr (image restoration)")
    evaluate.add_argument("--data", default=None,
                          help="real data: a bundled name, tfds:NAME or folder:PATH (default: "
                               "the run's data, or digits)")
    evaluate.add_argument("--split", default="test",
                          help="split of the real data (default: test, the held-out split)")
    evaluate.add_argument("--reference", default=None,
                          help="psnr: the clean image (a file or a scikit-image picture name)")
    evaluate.add_argument("--image-size", type=int, default=None,
                          help="resize the real images of a folder to this size")
    evaluate.add_argument("-n", "--num-samples", type=int, default=None,
                          help="generated samples (for nll: importance samples per example); "
                               f"default {evaluate_module.DEFAULT_NUM_SAMPLES}")
    evaluate.add_argument("--extractor", default=None,
                          choices=("digits", "scenes", "inception_v3"),
                          help="feature network of fid/kid/is/pr (default: digits for 8x8 "
                               "digits, scenes for the captioned_digits scenes, "
                               "inception_v3 otherwise)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the samples (default: 0)")
    evaluate.add_argument("--batch-size", type=int, default=None,
                          help="generated samples per batch (default: 250); for nll, latent "
                               "samples decoded at once (default: 4096)")
    return parser


def main(argv=None):
    """Entry point of the ``kgen`` console script; returns the exit status."""
    from kgen.cli import evaluate, export, generate, train

    args = build_parser().parse_args(argv)
    commands = {"train": train.train, "generate": generate.generate,
                "evaluate": evaluate.evaluate, "export": export.export}
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _command_line_warning
    try:
        return commands[args.command](args)
    except CommandLineError as error:
        report(error)
        raise
    finally:
        warnings.formatwarning = formatwarning


def _command_line_warning(message, category, filename, lineno, line=None):
    """A warning as the command line prints it: ``kgen: warning: MESSAGE``, without the
    Python source line it was raised from."""
    return f"kgen: warning: {message}\n"


__all__ = ["build_parser", "main", "COMMANDS"]
