"""``kgen train``: train any registered family on any data source, in a run folder, and resume.

``kgen train FAMILY [options]`` resolves a configuration (the family's defaults, then a
``--config`` file, then the flags given), writes it to ``RUN/config.toml`` and trains; every
epoch it writes ``last.keras`` (atomically, and only when every weight is finite), a grid
of samples from a fixed seed, a row of ``log.csv`` and TensorBoard events.
``kgen train --resume RUN`` continues a run stopped at any moment, kill -9 included, from
its last finished epoch: the model (weights, optimizer slots, moving averages, seed states,
image pools) comes from ``last.keras`` and the data order of every epoch is a function of
the seed and the epoch, so the resumed run ends with the weights of the uninterrupted one.
"""

import contextlib
import os
import shutil
import sys
import time

import keras
import numpy as np

import kgen

from kgen.cli import config as configs
from kgen.cli.errors import fail
from kgen.cli.evaluate import default_extractor
from kgen.cli.run_folder import first_array, RunFolder

#: Training samples given to a family's ``finish`` after each epoch.
FINISH_SAMPLES = 10000
#: Metrics that are better when lower (the others: higher).
LOWER_IS_BETTER = ("fid", "kid", "nll")


def banner():
    print(f"kgen {kgen.__version__} | Keras {keras.__version__} | backend: "
          f"{keras.backend.backend()} (set KERAS_BACKEND=tensorflow|jax|torch to change)",
          flush=True)


# --------------------------------------------------------------- configuration
def config_from_flags(args, family):
    """The configuration keys given on the command line (flags left out are not set)."""
    sections = {"data": {}, "model": {}, "train": {}, "callbacks": {}}
    flags = {
        "data": ("source", "split", "image_size", "channels", "flip", "labels"),
        "train": ("epochs", "batch_size", "accumulation_steps", "steps_per_epoch", "devices",
                  "learning_rate", "lr_schedule", "precision"),
        "callbacks": ("samples", "evaluate", "every", "eval_samples", "tensorboard"),
    }
    for section, names in flags.items():
        for name in names:
            value = getattr(args, name, None)
            if value is not None:
                sections[section][name] = value
    for option in family.options:
        value = getattr(args, "option_" + option.name, None)
        if value is not None:
            sections["model"][option.name] = value
    config = {key: value for key, value in sections.items() if value}
    config["family"] = family.name
    if args.seed is not None:
        config["seed"] = args.seed
    return config


def _check_resolved(resolved, family):
    from kgen import checks

    data, train, callbacks = resolved["data"], resolved["train"], resolved["callbacks"]
    try:
        checks.seed(resolved["seed"], "--seed", maximum=checks.MAX_MODEL_SEED)
        checks.integer(train["epochs"], "--epochs", 1)
        checks.integer(train["batch_size"], "--batch-size", 1)
        checks.integer(train["accumulation_steps"], "--accumulation-steps", 1)
        checks.optional_integer(train["steps_per_epoch"], "--steps-per-epoch", 1)
        checks.integer(callbacks["samples"], "--samples", 1)
        checks.integer(callbacks["every"], "--every", 1)
        checks.optional_integer(callbacks["eval_samples"], "--eval-samples", 1)
        checks.optional_integer(data["image_size"], "--image-size", 1)
        checks.optional_number(train["learning_rate"], "--learning-rate", 0.0,
                               exclusive_minimum=True)
        if data["channels"] not in (None, 1, 3):
            raise ValueError(f"--channels must be 1 or 3; got {data['channels']!r}.")
        if data["split"] == "test":
            raise ValueError("--split test is the held-out split that kgen evaluate measures "
                             "against: train on --split train (or all).")
        if data["labels"] and family.labels == "none":
            raise ValueError(f"the {family.name} family takes no class labels; drop --labels.")
        metric = callbacks["evaluate"]
        if metric is not None and metric not in family.metrics:
            raise ValueError(f"--evaluate {metric}: the {family.name} family is measured by "
                             f"{', '.join(family.metrics) or 'no metric'}.")
        for option in family.options:
            value = resolved["model"].get(option.name)
            if value is None:
                continue
            if option.type is int:
                checks.integer(value, option.flag, option.minimum)
            elif option.type is float:
                checks.number(value, option.flag, option.minimum)
            if option.choices is not None:
                checks.one_of(value, option.flag, option.choices)
    except (TypeError, ValueError) as error:
        fail(str(error))


# ----------------------------------------------------------------------- data
def open_data(resolved, family):
    """The `kgen.data.DataSource` of the run, with the CLI's messages on failure."""
    data = resolved["data"]
    labels = family.labels == "required" or bool(data["labels"])
    try:
        return kgen.data.open_source(
            data["source"], kind=family.data, labels=labels, image_size=data["image_size"],
            channels=data["channels"], split=data["split"], seed=resolved["seed"])
    except (ValueError, TypeError, RuntimeError, FileNotFoundError, OSError) as error:
        fail(f"--data {data['source']}: {error}")


def training_data(source):
    """The `kgen.models.registry.TrainingData` that a family's ``build`` takes."""
    from kgen.models.registry import TrainingData

    return TrainingData(shape=tuple(source.shape), num_classes=source.num_classes,
                        target_shape=getattr(source, "target_shape", None),
                        images=getattr(source, "images", None),
                        mask=getattr(source, "mask", None),
                        captions=getattr(source, "captions", None))


# ---------------------------------------------------------------------- model
def build_model(resolved, family, source):
    options = dict(resolved["model"])
    for key, value in list(options.items()):
        if family.option(key).type is tuple:
            options[key] = tuple(value)
    if "seed" in family.build_parameters():
        options["seed"] = resolved["seed"]
    try:
        return family.build(training_data(source), **options)
    except (ValueError, TypeError) as error:
        fail(f"could not build a {family.name} model with {options}: {error}")


def optimizers(model, resolved, steps_per_epoch):
    """``{name: optimizer}`` from ``[optimizer]`` and ``[train]`` (learning rate, schedule)."""
    train = resolved["train"]
    given = resolved["optimizer"]
    unknown = sorted(set(given) - set(model.optimizer_names))
    if unknown:
        fail(f"[optimizer] names {unknown}; the {resolved['family']} family's optimizers are "
             f"{list(model.optimizer_names)}.")
    chosen = {}
    for name in model.optimizer_names:
        if name in given:
            try:
                chosen[name] = keras.optimizers.deserialize(dict(given[name]))
            except (ValueError, TypeError, KeyError) as error:
                fail(f"[optimizer.{name}] is not a Keras optimizer configuration "
                     f"(class_name and config): {error}")
            continue
        optimizer = model.default_optimizer(name)
        rate = train["learning_rate"]
        if rate is None:
            rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        if train["lr_schedule"] == "cosine":
            # Over the updates of the run: one every accumulation_steps steps.
            updates = train["epochs"] * steps_per_epoch // train["accumulation_steps"]
            rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, updates))
        if train["learning_rate"] is not None or train["lr_schedule"] != "constant":
            config = optimizer.get_config()
            config["learning_rate"] = rate
            optimizer = optimizer.__class__.from_config(config)
        chosen[name] = optimizer
    return chosen


def compile_model(model, resolved, steps_per_epoch):
    chosen = optimizers(model, resolved, steps_per_epoch)
    steps = resolved["train"]["accumulation_steps"]
    precision = resolved["train"]["precision"]
    try:
        if len(model.optimizer_names) == 1:
            model.compile(optimizer=chosen[model.optimizer_names[0]], precision=precision,
                          accumulation_steps=steps)
        else:
            model.compile(precision=precision, accumulation_steps=steps,
                          **{f"{name}_optimizer": value for name, value in chosen.items()})
    except ValueError as error:   # networks built in another precision
        fail(f"--precision {precision}: {error}")


def optimizer_configs(model):
    """The Keras configs of the model's optimizers, for ``[optimizer]`` of config.toml
    (without the loss scaling of ``mixed_float16``, which ``train.precision`` sets)."""
    chosen = {name: kgen.precision.inner(model.optimizer[name]) for name in model.optimizer_names}
    return {name: {"class_name": type(optimizer).__name__,
                   "config": _plain(keras.optimizers.serialize(optimizer)["config"])}
            for name, optimizer in chosen.items()}


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        # float32 values (a learning rate of 2e-4 reads 0.00019999999494757503) as the
        # shortest decimal that gives the same float32.
        return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))
    return value


# ------------------------------------------------------------------ callbacks
def _weights_finite(model):
    """``(True, None)``, or ``(False, path)`` of a NaN or infinite variable of ``model``:
    the check of `kgen.callbacks.weights_finite`, shared with `kgen.callbacks.Checkpoint`."""
    return kgen.callbacks.weights_finite(model)


def run_callbacks(model, resolved, run, source, initial_epoch):
    """The callbacks of a run: checkpoints, grids, logs, evaluation, progress."""
    callbacks = resolved["callbacks"]
    total = resolved["train"]["epochs"]
    stop = kgen.callbacks.StopOnNaN()
    evaluate = None
    if callbacks["evaluate"] is not None:
        evaluate = evaluation_callback(resolved, source)
    finish = None
    family = kgen.models.registry.family_of(model)
    if family.finish is not None:
        samples = first_array(source.arrays(limit=FINISH_SAMPLES))
        finish = lambda: family.finish(model, samples)  # noqa: E731
    state = RunState(run, total, callbacks["evaluate"], initial_epoch, finish)
    # A family that draws no samples (CLIP) has no grid to write.
    grid = EpochGrid(run, callbacks["samples"], seed=0,
                     reference=_reference_points(source)) if family.generates else None
    # Order matters: the evaluation adds its value to the logs the others see; the state
    # (last.keras, then state.json) comes after the logs, so a run killed at any moment
    # has a log row for every epoch its state names (rows beyond it are dropped when it
    # resumes); the grid of an epoch is drawn from the model just saved.
    items = [stop]
    if evaluate is not None:
        items.append(evaluate)
    items.append(keras.callbacks.CSVLogger(run.log, append=initial_epoch > 0))
    if callbacks["tensorboard"]:
        items.append(keras.callbacks.TensorBoard(run.tensorboard, write_graph=False))
    items += [state] + ([grid] if grid is not None else []) + \
        [RunProgress(total, initial_epoch)]
    return items, stop, state


def _reference_points(source):
    if tuple(source.shape) == (2,):
        return first_array(source.arrays(limit=2000))
    return None


def evaluation_callback(resolved, source):
    callbacks = resolved["callbacks"]
    metric = callbacks["evaluate"]
    count = callbacks["eval_samples"] or 2000
    if metric == "modes":
        name = resolved["data"]["source"]
        if name not in ("ring", "grid"):
            fail("--evaluate modes measures the 2-D mixtures: use --data ring or grid.")
        return kgen.callbacks.Evaluate(kgen.metrics.ModeCoverage(name), resolved["callbacks"][
            "every"], num_samples=count, name=None)
    classes = {"fid": "FrechetInceptionDistance", "kid": "KernelInceptionDistance",
               "is": "InceptionScore", "pr": "PrecisionRecall"}
    if metric not in classes:
        fail(f"--evaluate {metric} is not computed during training; use kgen evaluate.")
    extractor = default_extractor(source.shape, resolved["data"]["source"])
    try:
        instance = getattr(kgen.metrics, classes[metric])(extractor)
    except (RuntimeError, ValueError) as error:
        fail(f"--evaluate {metric}: {error}")
    real = None if metric == "is" else first_array(source.arrays(limit=count))
    return kgen.callbacks.Evaluate(instance, callbacks["every"], num_samples=count, data=real,
                                   name=metric)


class RunState(keras.callbacks.Callback):
    """Writes ``last.keras`` and ``state.json`` after every epoch (and ``best.keras``).

    A checkpoint is written only when every weight is finite, through a temporary file
    and a rename, so ``last.keras`` is always a good model; the state is written after it,
    so the epoch it names is always in the checkpoint.
    """

    def __init__(self, run, epochs, monitor, initial_epoch, finish=None):
        super().__init__()
        self.finish = finish
        self.run = run
        self.epochs = epochs
        self.monitor = monitor
        self.initial_epoch = initial_epoch
        previous = run.read_state() if initial_epoch else {}
        self.best = previous.get("best")
        self.last_saved_epoch = previous.get("epoch") if initial_epoch else None

    def on_train_begin(self, logs=None):
        # Temporary files of a killed write of last.keras or best.keras (the shared
        # cleanup of kgen.callbacks; RunFolder also removes them when a run resumes).
        for path in (self.run.last, self.run.best):
            kgen.callbacks.remove_stale_temporaries(path)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        ok, name = _weights_finite(self.model)
        if not ok:
            print(f"\nkgen: epoch {epoch + 1} left a non-finite weight ({name}); keeping "
                  f"{self.run.last} from epoch {self.last_saved_epoch}.", flush=True)
            self.model.stop_training = True
            return
        if self.finish is not None:   # what the model needs to generate (family.finish)
            self.finish()
        kgen.callbacks.save_model_atomically(self.model, self.run.last, require_finite=False)
        value = logs.get(self.monitor) if self.monitor else None
        if value is not None and np.isfinite(value):
            better = self.best is None or (
                value < self.best if self.monitor in LOWER_IS_BETTER else value > self.best)
            if better:
                self.best = float(value)
                kgen.callbacks.save_model_atomically(self.model, self.run.best,
                                                     require_finite=False)
        self.last_saved_epoch = epoch + 1
        self.run.write_state(epoch=epoch + 1, epochs=self.epochs, monitor=self.monitor,
                             best=self.best)


class EpochGrid(keras.callbacks.Callback):
    """Writes a grid of samples (a fixed seed) after every epoch, and the latest as samples.png."""

    def __init__(self, run, count, seed=0, reference=None):
        super().__init__()
        self.run, self.count, self.seed, self.reference = run, count, seed, reference

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:
            return
        path = save_grid(self.model, self.run.epoch_grid(epoch + 1), self.count, self.seed,
                         self.reference)
        shutil.copyfile(path, self.run.samples)


class RunProgress(keras.callbacks.Callback):
    """Prints, after each epoch, the time it took and the estimated time left for the run."""

    def __init__(self, epochs, initial_epoch):
        super().__init__()
        self.epochs, self.initial_epoch = epochs, initial_epoch

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1 - self.initial_epoch
        elapsed = time.time() - self.start
        left = (self.epochs - epoch - 1) * elapsed / max(done, 1)
        print(f"  epoch {epoch + 1}/{self.epochs}: {elapsed / max(done, 1):.1f} s per epoch, "
              f"about {_duration(left)} left", flush=True)


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def class_labels(model, family, count):
    """``{"labels": 0, 1, 2, ...}`` cycling through the classes of a class-conditional
    model (one class per grid position), or nothing for other models."""
    classes = getattr(model, "num_classes", None)
    if "labels" not in family.conditions or classes is None:
        prior = getattr(model, "prior", None)   # a latent prior: its PixelCNN's classes
        classes = getattr(prior, "num_classes", None) if "labels" in family.conditions \
            else None
    if classes is None:
        return {}
    return {"labels": np.arange(count) % classes}


def save_grid(model, path, count, seed, reference=None):
    """Samples of ``model`` (its family's default conditions) as a PNG grid or scatter plot."""
    from kgen.models import registry

    family = registry.family_of(model)
    if not family.trains_on_batches:
        samples = model.generate(seed=seed)
    elif family.data in ("paired", "unpaired"):
        samples = model.generate(inputs=model.sample_inputs[:count]) \
            if getattr(model, "sample_inputs", None) is not None else None
        if samples is None:
            return path
    else:
        samples = model.generate(count, seed=seed, **class_labels(model, family, count))
    if samples.ndim == 2 and samples.shape[1] == 2:
        return kgen.images.save_scatter(samples, path, reference=reference)
    return kgen.images.save_grid(samples, path)


# ----------------------------------------------------------------------- runs
def default_out(resolved):
    import datetime

    source = str(resolved["data"]["source"]).replace(":", "_").replace("/", "_")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{resolved['family']}-{source}-{stamp}")


def start_processes(args):
    """Joins the other processes of the run (``--coordinator``, ``--num-processes``,
    ``--process-id``, ``--workers``, or ``TF_CONFIG`` on TensorFlow) with
    `kgen.initialize_processes`, before anything builds a model. Returns the
    `kgen.Processes`. Already joined (a program that called `kgen.initialize_processes`
    before `kgen.cli.main`): the flags must agree with it."""
    names = ("coordinator", "num_processes", "process_id", "workers")
    given = {name: getattr(args, name, None) for name in names}
    flags = " ".join(f"--{name.replace('_', '-')} {value}"
                     for name, value in given.items() if value is not None)
    current = kgen.processes()
    if current.initialized:
        if given["num_processes"] not in (None, current.num_processes) or \
                given["process_id"] not in (None, current.process_id):
            fail(f"{flags}: this program already runs as process {current.process_id} of "
                 f"{current.num_processes} (kgen.initialize_processes); give the same "
                 "values or none.")
        return current
    if all(value is None for value in given.values()):
        return current   # one process, or the cluster of TF_CONFIG (kgen.distribute)
    try:
        return kgen.initialize_processes(**given)
    except (ValueError, RuntimeError) as error:
        fail(f"{flags or 'TF_CONFIG'}: {error}")


def train(args):
    """``kgen train``: a new run (FAMILY and/or --config) or a resumed one (--resume RUN).

    With several processes (`start_processes`), process 0 writes the run folder; every
    other process runs the same computations (the sample grids and evaluations of every
    epoch are computations of all the processes) and writes its files into a temporary
    folder of its own, removed at the end, so no two processes write one file.
    """
    from kgen.models import registry

    start_processes(args)
    if args.resume:
        return resume(args.resume)
    config = configs.read(args.config) if args.config else {}
    name = getattr(args, "family", None) or config.get("family")
    if name is None:
        fail("name a model family (kgen train FAMILY; the families are "
             f"{', '.join(sorted(registry.names()))}), or give --config FILE or "
             "--resume RUN.")
    if config.get("family") not in (None, name):
        fail(f"the configuration {args.config!r} is for the {config['family']} family, not "
             f"{name}.")
    family = registry.get(name)
    resolved = configs.resolve(configs.merge(config, config_from_flags(args, family)), family)
    _check_resolved(resolved, family)
    out = args.out or default_out(resolved)
    if args.out is None and kgen.processes().num_processes > 1:
        fail("--out RUN is needed with several processes, so that all of them name the "
             "same run folder.")
    run = RunFolder(out)
    if not kgen.processes().is_writer:
        with _private_run() as own:
            return _train(resolved, family, own, initial_epoch=0)
    if run.is_run() and os.path.exists(run.last):
        fail(f"{out!r} already holds a run; continue it with kgen train --resume {out}, or "
             "choose a new --out.")
    run.create()
    return _train(resolved, family, run, initial_epoch=0)


@contextlib.contextmanager
def _private_run():
    """A run folder of this process's own (not process 0 of several), removed after it."""
    import tempfile

    processes = kgen.processes()
    path = tempfile.mkdtemp(prefix=f"kgen-process{processes.process_id}-")
    try:
        run = RunFolder(path)
        run.create()
        yield run
    finally:
        shutil.rmtree(path, ignore_errors=True)


def resume(path):
    """``kgen train --resume RUN``: continues the run in the folder ``path``."""
    from kgen.models import registry

    run = RunFolder(path)
    if not run.is_run():
        fail(f"{path!r} is not a run folder (no config.toml); start a run with kgen train.")
    resolved = configs.read(run.config)
    family = registry.get(resolved.get("family"))
    resolved = configs.resolve(resolved, family)
    writer = kgen.processes().is_writer
    removed = run.remove_stale_temporaries() if writer else []
    if writer:
        _keep_log_rows(run, int(run.read_state().get("epoch", 0)))
    if removed:
        print(f"Removed {len(removed)} temporary file(s) left by an interrupted write: "
              f"{', '.join(removed)}", flush=True)
    state = run.read_state()
    done = int(state.get("epoch", 0))
    if done >= resolved["train"]["epochs"]:
        print(f"The run in {path} has finished its {resolved['train']['epochs']} epochs; "
              "nothing to do. Raise train.epochs in its config.toml to train longer.")
        return 0
    checkpoint = None
    if done > 0:
        banner()
        checkpoint = run.last
        print(f"Resuming {path} after epoch {done} of {resolved['train']['epochs']}.",
              flush=True)
    if not writer:   # reads the run of process 0, writes into a folder of its own
        with _private_run() as own:
            return _train(resolved, family, own, initial_epoch=done, checkpoint=checkpoint,
                          quiet=done > 0)
    return _train(resolved, family, run, initial_epoch=done, checkpoint=checkpoint,
                  quiet=done > 0)


def _keep_log_rows(run, epochs):
    """Drops the rows of ``log.csv`` of epochs after ``epochs`` (written by the run that
    stopped before it could save them), so the resumed run's rows follow on."""
    if not os.path.exists(run.log):
        return
    with open(run.log) as file:
        lines = file.read().splitlines()
    rows = [line for line in lines[1:] if line.split(",")[0].isdigit()
            and int(line.split(",")[0]) < epochs]
    if not rows:   # no finished epoch logged: the resumed run writes the header again
        os.remove(run.log)
        return
    with open(run.log, "w") as file:
        file.write("\n".join(lines[:1] + rows) + "\n")


def _train(resolved, family, run, initial_epoch, checkpoint=None, quiet=False):
    """Trains a new model, or the one saved in ``checkpoint`` (a resumed run), from epoch
    ``initial_epoch``; either is made inside the devices' scope, so that its variables
    are laid out over every device and process of the run."""
    if not quiet:
        banner()
    seed = resolved["seed"]
    train_options = resolved["train"]
    devices = _devices(train_options["devices"])
    if kgen.processes().num_processes > 1 and devices == 1:
        devices = "all"   # one device per process at least: every process's devices
    try:
        scope = kgen.distribute(devices)
    except (ValueError, RuntimeError) as error:
        fail(f"--devices {train_options['devices']}: {error}")
    batch_size = train_options["batch_size"]
    if family.trains_on_batches and batch_size % scope.num_replicas:
        fail(f"--batch-size {batch_size} must be divisible by the {scope.num_replicas} "
             "devices.")
    keras.utils.set_random_seed(seed)
    source = open_data(resolved, family)
    if family.trains_on_batches:
        try:
            steps = source.steps_per_epoch(batch_size)
        except ValueError as error:
            fail(str(error))
        if train_options["steps_per_epoch"] is not None:
            steps = min(steps, train_options["steps_per_epoch"])
    else:
        steps = train_options["steps_per_epoch"] or 100
    with scope:
        if checkpoint is None:
            model = build_model(resolved, family, source)
            compile_model(model, resolved, steps)
        else:
            try:
                model = keras.saving.load_model(checkpoint)
            except Exception as error:  # noqa: BLE001 - a corrupt file, reported plainly
                fail(f"could not load {checkpoint!r} to resume: {error}")
    if family.data in ("paired", "unpaired"):
        model.sample_inputs = first_array(source.arrays(limit=resolved["callbacks"]["samples"]))
    if family.data == "captioned":   # the captions as the model's token ids
        try:
            source = kgen.data.tokenized(source, model.tokenizer)
        except (ValueError, TypeError) as error:
            fail(f"--data {resolved['data']['source']}: {error}")
    resolved = dict(resolved)
    resolved["optimizer"] = optimizer_configs(model)
    configs.write(resolved, run.config)
    if initial_epoch == 0:
        print(f"Training {type(model).__name__} ({family.name}) on {source.description} for "
              f"{train_options['epochs']} epochs of {steps} steps; run folder: {run.path}",
              flush=True)
        if getattr(source, "skipped", None):
            with open(run.file("skipped_files.txt"), "w") as file:
                file.writelines(f"{path}\t{reason}\n" for path, reason in source.skipped)
            print(f"  skipped {len(source.skipped)} unreadable file(s), listed in "
                  f"{run.file('skipped_files.txt')}", flush=True)
        if scope.num_replicas > 1:
            print(f"  on {scope.num_replicas} devices ({scope.engine}), global batch "
                  f"{batch_size}", flush=True)
        processes = kgen.processes()
        if processes.num_processes > 1:
            print(f"  process {processes.process_id} of {processes.num_processes}"
                  f"{'' if processes.is_writer else ' (process 0 writes the run folder)'}",
                  flush=True)
        if model.accumulation_steps > 1:
            print(f"  one update every {model.accumulation_steps} steps (gradients of "
                  f"{model.accumulation_steps * batch_size} examples)", flush=True)
    items, stop, state = run_callbacks(model, resolved, run, source, initial_epoch)
    verbose = 1 if sys.stdout.isatty() else 2
    start = time.time()
    with scope:
        if family.trains_on_batches:
            try:
                data = source.dataset(batch_size, seed=seed, first_epoch=initial_epoch,
                                      flip=bool(resolved["data"]["flip"]),
                                      steps_per_epoch=steps)
            except ValueError as error:   # flips of points or of captioned images
                fail(f"--flip: {error}")
            model.fit(data, epochs=train_options["epochs"], steps_per_epoch=steps,
                      initial_epoch=initial_epoch, callbacks=items, verbose=verbose)
        else:
            model.fit(epochs=train_options["epochs"], steps_per_epoch=steps,
                      initial_epoch=initial_epoch, callbacks=items, verbose=verbose)
    seconds = time.time() - start
    if state.last_saved_epoch is None:
        print("Training diverged before the first epoch ended; no checkpoint was written.")
        return 1
    if (stop.stopped is not None or model.stop_training) and family.generates:
        model = keras.saving.load_model(run.last)
        save_grid(model, run.samples, resolved["callbacks"]["samples"], 0,
                  _reference_points(source))
    _summary(run, state, seconds, family, resolved, getattr(source, "skipped", None))
    return 0 if stop.stopped is None and state.last_saved_epoch == \
        resolved["train"]["epochs"] else 1


def _summary(run, state, seconds, family, resolved, skipped=None):
    print(f"\nTrained for {seconds:.1f} s.")
    if skipped:
        print(f"  skipped {len(skipped)} unreadable file(s): "
              f"{', '.join(os.path.basename(path) for path, _ in skipped[:5])}"
              f"{', ...' if len(skipped) > 5 else ''} (all in "
              f"{run.file('skipped_files.txt')})")
    print(f"  checkpoint: {run.last} (epoch {state.last_saved_epoch})")
    if os.path.exists(run.best):
        print(f"  best:       {run.best} ({resolved['callbacks']['evaluate']} {state.best:.4g})")
    if family.generates:
        print(f"  samples:    {run.samples}")
    print(f"  logs:       {run.log} and {run.tensorboard}/")
    print(f"  config:     {run.config}")
    if family.generates:
        prompt = ' --prompt "..."' if "prompt" in family.conditions else ""
        print(f"Sample again with: kgen generate {run.path} -n 64 --seed 1{prompt} "
              "--out grid.png")
    else:
        print(f"Use it in Python: keras.saving.load_model({run.last!r}) "
              f"(a {family.model_class.__name__}: it draws no samples)")
    if family.metrics:
        source = resolved["data"]["source"]
        metric = "modes" if source in ("ring", "grid") else \
            "l1" if source in kgen.data.translation.UNPAIRED and "l1" in family.metrics \
            else family.metrics[0]
        print(f"Evaluate with:     kgen evaluate {run.path} --metric {metric}")
    if family.generates:
        print(f"Export with:       kgen export {run.path} export/{family.name}/1")


def _devices(value):
    if value == "all":
        return value
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        fail(f"--devices must be a positive integer or 'all'; got {value!r}.")
    return count

