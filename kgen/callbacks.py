"""Callbacks for training generative models: sample grids, safe checkpoints, NaN guard,
evaluation metrics computed during fit(), and the PSNR of a restored image."""

import glob
import math
import os

import keras
import numpy as np

from kgen import checks, images, metrics
from kgen.metrics.evaluate import check_metric_data, compute_metric, prepare_real
from kgen.metrics.psnr import psnr
from kgen.models.single_image import image_to_data_space

__all__ = [
    "Checkpoint",
    "Evaluate",
    "PSNR",
    "SampleGrid",
    "StopOnNaN",
    "compute_metric",
    "remove_stale_temporaries",
    "save_model_atomically",
    "save_samples",
    "weights_finite",
]


def _finite(logs):
    for key, value in (logs or {}).items():
        try:
            if not math.isfinite(float(value)):
                return False, key
        except (TypeError, ValueError):
            continue
    return True, None


def weights_finite(model):
    """Whether every float variable of ``model`` (weights, and optimizer slots once
    compiled) is finite: ``(True, None)``, or ``(False, path)`` of the first one that is not.

    On JAX, where ``fit()`` keeps the trained values outside the model, the model's
    variables are brought up to date first.

    Example:

    ```python
    import kgen

    gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=8, base_filters=4, seed=0)
    kgen.callbacks.weights_finite(gan)   # (True, None)
    ```
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()
    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(model, "compiled", False):
        variables += list(getattr(optimizer, "variables", []))
    seen = set()
    for variable in variables:
        if id(variable) in seen:
            continue
        seen.add(id(variable))
        if keras.backend.is_float_dtype(keras.backend.standardize_dtype(variable.dtype)):
            if not np.all(np.isfinite(keras.ops.convert_to_numpy(variable))):
                return False, variable.path
    return True, None


def _temporary_prefix(filepath):
    return f".{os.path.basename(filepath)}."


def _alive(pid):
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temporaries(filepath):
    """Deletes the temporary files that killed writes of ``filepath`` left beside it.

    `save_model_atomically` writes ``.NAME.PID.tmp.keras`` beside ``NAME`` and renames
    it; a process killed while writing leaves it behind. Those of processes that no
    longer run (and this process's own) are deleted; a file of a process still
    running, which may be writing now, is kept.

    Args:
        filepath: the checkpoint (``.keras``) whose temporaries to delete.

    Returns:
        The names of the deleted files.

    Example:

    ```python
    import os
    import kgen

    os.makedirs("/tmp/kgen_stale", exist_ok=True)
    open("/tmp/kgen_stale/.model.keras.999999999.tmp.keras", "w").close()
    kgen.callbacks.remove_stale_temporaries("/tmp/kgen_stale/model.keras")
    # ['.model.keras.999999999.tmp.keras']
    ```
    """
    filepath = os.fspath(filepath)
    folder = os.path.dirname(os.path.abspath(filepath))
    prefix = _temporary_prefix(filepath)
    removed = []
    for path in sorted(glob.glob(os.path.join(glob.escape(folder), glob.escape(prefix)
                                              + "*.tmp.keras"))):
        name = os.path.basename(path)
        middle = name[len(prefix):-len(".tmp.keras")]
        if middle.isdigit() and _alive(int(middle)):
            continue
        try:
            os.remove(path)
        except FileNotFoundError:
            continue
        removed.append(name)
    return removed


def save_model_atomically(model, filepath, *, require_finite=True):
    """Saves ``model`` to ``filepath`` (``.keras``) through a temporary file and a rename.

    A crash or a full disk while writing leaves the previous checkpoint untouched, and
    weights that are not finite never replace it: with ``require_finite`` (the
    default) every float variable is checked first (`weights_finite`), since the loss
    logged for a step is computed *before* its update, so a step can leave NaN weights
    behind a finite loss.

    Args:
        model: the model to save.
        filepath: the ``.keras`` file; its folder is created when missing.
        require_finite: refuse to save a model with a NaN or infinite variable.

    Returns:
        ``filepath``.

    Raises:
        ValueError: not a ``.keras`` path, or (with ``require_finite``) a non-finite
            variable (named), in which case nothing is written.

    Example:

    ```python
    import kgen

    gan = kgen.models.GAN.from_shape((2,), seed=0)
    kgen.callbacks.save_model_atomically(gan, "/tmp/kgen_example/gan.keras")
    ```
    """
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"Checkpoints are .keras files; got {filepath!r}.")
    if require_finite:
        ok, name = weights_finite(model)
        if not ok:
            raise ValueError(
                f"Not saving {filepath!r}: the variable {name} holds NaN or infinite "
                "values (training diverged). The previous checkpoint is kept; lower the "
                "learning rate and resume from it.")
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f"{_temporary_prefix(filepath)}{os.getpid()}.tmp.keras")
    try:
        model.save(temporary)
        os.replace(temporary, filepath)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return filepath


class Checkpoint(keras.callbacks.Callback):
    """Saves the model to a ``.keras`` file at the end of every ``every_n_epochs`` epochs.

    The file is written to a temporary name and renamed, so a checkpoint is never half
    written, and temporary files left by a killed run are deleted when training starts
    (`remove_stale_temporaries`). An epoch whose logs hold a NaN or infinite value, or
    that left a NaN or infinite variable (the logs of the last step are computed before
    its update, so they can be finite while the weights are not), is not saved: the
    last good checkpoint survives a diverged run.

    Args:
        filepath: the ``.keras`` file.
        every_n_epochs: save period in epochs.
        verbose: print a line when skipping a non-finite epoch.

    Attributes:
        last_saved_epoch: the (1-based) epoch of the last checkpoint written, or None.
        removed: the stale temporary files deleted when training started.

    Example:

    ```python
    import kgen

    points = kgen.data.load("ring", num_samples=512)
    gan = kgen.models.GAN.from_shape((2,), seed=0)
    gan.compile()
    saver = kgen.callbacks.Checkpoint("/tmp/kgen_example/model.keras")
    gan.fit(points, batch_size=128, epochs=2, verbose=0, callbacks=[saver])
    saver.last_saved_epoch   # 2
    ```
    """

    def __init__(self, filepath, every_n_epochs=1, verbose=1):
        super().__init__()
        self.filepath = os.fspath(filepath)
        if not self.filepath.endswith(".keras"):
            raise ValueError(f"Checkpoints are .keras files; got {self.filepath!r}.")
        self.every_n_epochs = checks.integer(every_n_epochs, "every_n_epochs", 1)
        self.verbose = verbose
        self.last_saved_epoch = None
        self.removed = []

    def on_train_begin(self, logs=None):
        self.removed = remove_stale_temporaries(self.filepath)
        if self.removed and self.verbose:
            print(f"Checkpoint: removed {len(self.removed)} temporary file(s) left by an "
                  f"interrupted write: {', '.join(self.removed)}")

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        ok, key = _finite(logs)
        if ok:
            ok, key = weights_finite(self.model)
            what = f"variable {key}"
        else:
            what = f"{key}"
        if not ok:
            if self.verbose:
                print(f"Checkpoint: epoch {epoch + 1} has a non-finite {what}; keeping the "
                      f"last good checkpoint ({self.filepath}).")
            return
        save_model_atomically(self.model, self.filepath, require_finite=False)
        self.last_saved_epoch = epoch + 1


class StopOnNaN(keras.callbacks.Callback):
    """Stops training cleanly when a logged loss becomes NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN`, it checks every logged value (a GAN logs
    ``d_loss`` and ``g_loss``, not ``loss``) and says which one diverged.

    Attributes:
        stopped: None, or ``(epoch, batch, name)`` of the first non-finite value.

    Example:

    ```python
    import kgen

    points = kgen.data.load("ring", num_samples=512)
    gan = kgen.models.GAN.from_shape((2,), seed=0)
    gan.compile()
    stop = kgen.callbacks.StopOnNaN()
    gan.fit(points, batch_size=128, epochs=2, verbose=0, callbacks=[stop])
    stop.stopped   # None: every loss stayed finite
    ```
    """

    def __init__(self):
        super().__init__()
        self.stopped = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        ok, key = _finite(logs)
        if not ok and self.stopped is None:
            self.stopped = (self._epoch, batch, key)
            print(f"\nStopOnNaN: {key} became non-finite at epoch {self._epoch + 1}, batch "
                  f"{batch}; stopping. Try a lower learning rate.")
            self.model.stop_training = True


class SampleGrid(keras.callbacks.Callback):
    """Writes a PNG of samples from ``model.generate()`` every ``every_n_epochs`` epochs.

    The same seed is used every time, so successive grids show how the same latent
    vectors evolve. Images are saved as a grid (`kgen.images.save_grid`); 2-D points as
    a scatter plot (`kgen.images.save_scatter`).

    Args:
        filepath: the PNG path; may contain ``{epoch}`` (e.g. ``"samples_{epoch:03d}.png"``).
        num_samples: number of samples (images) or points.
        seed: seed passed to ``generate()``.
        every_n_epochs: period in epochs.
        reference: for 2-D points, real points drawn beside the samples.

    Example:

    ```python
    import kgen

    points = kgen.data.load("ring", num_samples=512)
    gan = kgen.models.GAN.from_shape((2,), seed=0)
    gan.compile()
    gan.fit(points, batch_size=128, epochs=2, verbose=0, callbacks=[
        kgen.callbacks.SampleGrid("/tmp/kgen_example/samples_{epoch:02d}.png",
                                  num_samples=256, reference=points)])
    # /tmp/kgen_example/samples_01.png, samples_02.png
    ```
    """

    def __init__(self, filepath, num_samples=64, seed=0, every_n_epochs=1, reference=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.num_samples = checks.integer(num_samples, "num_samples", 1)
        self.seed = checks.seed(seed)
        self.every_n_epochs = checks.integer(every_n_epochs, "every_n_epochs", 1)
        self.reference = reference

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        save_samples(self.model, self.filepath.format(epoch=epoch + 1), self.num_samples,
                     self.seed, self.reference)


def save_samples(model, filepath, num_samples=64, seed=0, reference=None):
    """Generates ``num_samples`` with ``seed`` and saves them as a PNG grid or scatter plot.

    Args:
        model: anything with ``generate(n, seed=...)``.
        filepath: the PNG file.
        num_samples: samples to draw.
        seed: seed passed to ``generate()``.
        reference: for 2-D points, real points drawn beside the samples.

    Returns:
        What `kgen.images.save_grid` or `kgen.images.save_scatter` returns.

    Example:

    ```python
    import kgen

    gan = kgen.models.GAN.from_shape((8, 8, 1), seed=0)
    kgen.callbacks.save_samples(gan, "/tmp/kgen_example/untrained.png", num_samples=16)
    ```
    """
    samples = model.generate(num_samples, seed=seed)
    if samples.ndim == 2 and samples.shape[1] == 2:
        return images.save_scatter(samples, filepath, reference=reference)
    return images.save_grid(samples, filepath)


class Evaluate(keras.callbacks.Callback):
    """Computes a `kgen.metrics` metric on generated samples during ``fit()`` and logs it.

    Every ``every_n_epochs`` epochs, draws ``num_samples`` samples from ``model.generate()``
    (with the same ``seed`` each time, so successive values compare the same latent
    vectors), computes the metric with `kgen.metrics.compute_metric`, and writes the
    result into the epoch's logs: under ``name`` (default: the metric's name, such as
    ``"fid"``) for a scalar result; for a dict result (`kgen.metrics.ModeCoverage` gives
    ``"modes"`` and ``"high_quality"``), each key, prefixed with ``name + "_"`` when
    ``name`` is given.
    On the other epochs the key is absent.

    Keras runs callbacks in the order of the list, each seeing the logs the earlier ones
    wrote: put `Evaluate` **before** the callbacks that read its key
    (`keras.callbacks.ModelCheckpoint(monitor="fid")`, `keras.callbacks.EarlyStopping`,
    `keras.callbacks.CSVLogger`). The history and the progress bar come last by themselves.

    Args:
        metric: a `keras.metrics.Metric` of generated samples: `kgen.metrics.ModeCoverage`,
            `kgen.metrics.InceptionScore`, or, with ``data`` (or a reference), a two-sample
            metric (`kgen.metrics.FrechetInceptionDistance`, ...). See
            `kgen.metrics.compute_metric`.
        every_n_epochs: evaluation period in epochs.
        num_samples: generated samples per evaluation.
        data: real samples for a two-sample metric (FID, KID, precision/recall): uint8
            images, images in data space, or points; None for one-sample metrics.
        batch_size: generated samples per batch.
        seed: seed of the generated samples.
        name: the log key (default ``metric.name``).

    Attributes:
        history: ``[(epoch, result), ...]`` for every evaluated epoch (1-based).

    Example:

    ```python
    import keras
    import kgen

    points = kgen.data.load("ring", num_samples=2000)
    gan = kgen.models.GAN.from_shape((2,), seed=0)
    gan.compile()
    gan.fit(points, batch_size=100, epochs=2, verbose=0, callbacks=[
        kgen.callbacks.Evaluate(kgen.metrics.ModeCoverage("ring"), num_samples=2500),
        keras.callbacks.ModelCheckpoint("/tmp/kgen_example/best.keras", monitor="modes",
                                        mode="max", save_best_only=True),
    ])
    ```
    """

    def __init__(self, metric, every_n_epochs=1, num_samples=2500, data=None, batch_size=250,
                 seed=0, name=None):
        super().__init__()
        if not isinstance(metric, keras.metrics.Metric):
            raise TypeError(
                f"metric must be a keras.metrics.Metric instance, such as "
                f"kgen.metrics.ModeCoverage('ring'); got {metric!r}."
            )
        if isinstance(metric, metrics.BitsPerDim):
            raise TypeError(
                "BitsPerDim measures the likelihood of data, not of generated samples: pass "
                "validation_data to fit() (a VAE logs its negative ELBO) or call "
                "VAE.log_likelihood on held-out data."
            )
        self.every_n_epochs = checks.integer(every_n_epochs, "every_n_epochs", 1)
        check_metric_data(metric, data is not None)
        self.metric = metric
        self.num_samples = checks.integer(num_samples, "num_samples", 1)
        self.data = None if data is None else prepare_real(data)
        self.batch_size = checks.integer(batch_size, "batch_size", 1)
        self.seed = checks.seed(seed)
        self.name = name
        self.history = []

    def _log_items(self, result):
        if isinstance(result, dict):
            prefix = f"{self.name}_" if self.name else ""
            return {prefix + key: value for key, value in result.items()}
        return {self.name or self.metric.name: result}

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        result = compute_metric(self.model, self.metric, self.num_samples, data=self.data,
                                batch_size=self.batch_size, seed=self.seed)
        self.history.append((epoch + 1, result))
        if logs is not None:
            logs.update(self._log_items(result))




class PSNR(keras.callbacks.Callback):
    """Records the PSNR of ``model.generate()`` against a clean image during ``fit()``.

    For single-image models (`kgen.models.DeepImagePrior`) whose ``generate()`` returns
    the restored image. The PSNR (`kgen.metrics.psnr`) is computed every
    ``every_n_steps`` steps (kept in ``history`` as ``(step, psnr)`` pairs) and at the end
    of every epoch, where it is put in the logs as ``name``: callbacks after this one see
    it, so `keras.callbacks.EarlyStopping` (``monitor="psnr", mode="max"``, with
    ``restore_best_weights=True``) and `keras.callbacks.ModelCheckpoint` keep the best
    image. Put it before them in the callback list.

    Args:
        clean_image: the clean image, ``(H, W, C)`` or ``(1, H, W, C)``, in data space
            (``[-1, 1]``) or uint8.
        every_n_steps: period in steps of the recorded values (None: at epoch ends only).
        name: the log key.

    Example:

    ```python
    import keras
    import numpy as np
    import kgen

    clean = kgen.data.load_image("coffee", size=8)                   # uint8 (8, 8, 3)
    noisy = np.clip(kgen.data.to_data_space(clean[None])
                    + 0.2 * np.random.default_rng(0).normal(size=(1, 8, 8, 3)), -1, 1)
    network = kgen.networks.skip_network(4, 3, down_channels=(8,), skip_channels=(2,))
    dip = kgen.models.DeepImagePrior(noisy.astype("float32"), network=network, seed=0)
    psnr = kgen.callbacks.PSNR(clean, every_n_steps=5)
    dip.fit(epochs=2, steps_per_epoch=5, verbose=0, callbacks=[
        psnr, keras.callbacks.EarlyStopping("psnr", mode="max", patience=3,
                                            restore_best_weights=True)])
    psnr.history   # [(5, ...), (10, ...)]: steps and PSNRs in dB
    ```

    References:
        Ulyanov, Vedaldi & Lempitsky, "Deep Image Prior", CVPR 2018 / IJCV 2020.
    """

    def __init__(self, clean_image, every_n_steps=None, name="psnr"):
        super().__init__()
        self.clean_image = image_to_data_space(clean_image, "clean_image")
        self.every_n_steps = checks.optional_integer(every_n_steps, "every_n_steps", 1)
        self.name = name
        self.history = []
        self._step = 0

    def measure(self):
        """The PSNR of the model's current ``generate()`` against the clean image."""
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:  # JAX keeps the trained state outside the model during fit()
            sync()
        restored = self.model.generate()
        if restored.shape != self.clean_image.shape:
            raise ValueError(
                f"The model generates images of shape {restored.shape[1:]}, but the clean "
                f"image has shape {self.clean_image.shape[1:]}.")
        return psnr(restored, self.clean_image)

    def _record(self):
        if not self.history or self.history[-1][0] != self._step:
            self.history.append((self._step, self.measure()))
        return self.history[-1][1]

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.every_n_steps and self._step % self.every_n_steps == 0:
            self._record()

    def on_epoch_end(self, epoch, logs=None):
        value = self._record()
        if logs is not None:
            logs[self.name] = value

    @property
    def best(self):
        """The ``(step, psnr)`` of the highest PSNR recorded (None before any)."""
        return max(self.history, key=lambda item: item[1]) if self.history else None
