"""Callbacks for training generative models: sample grids, safe checkpoints, NaN guard,
and evaluation metrics computed during fit()."""

import inspect
import math
import os

import keras
import numpy as np

from kgen import images, metrics
from kgen.psnr import PSNR  # noqa: F401 (re-exported)


def _finite(logs):
    for key, value in (logs or {}).items():
        try:
            if not math.isfinite(float(value)):
                return False, key
        except (TypeError, ValueError):
            continue
    return True, None


def save_model_atomically(model, filepath):
    """Saves ``model`` to ``filepath`` (``.keras``) through a temporary file and a rename.

    A crash or a full disk while writing leaves the previous checkpoint untouched.
    """
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"Checkpoints are .keras files; got {filepath!r}.")
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{os.path.basename(filepath)}.{os.getpid()}.tmp.keras")
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
    written; an epoch whose logs hold a NaN or infinite value is not saved, so the last
    good checkpoint survives a diverged run.

    Args:
        filepath: the ``.keras`` file.
        every_n_epochs: save period in epochs.
        verbose: print a line when skipping a non-finite epoch.

    Example:

    ```python
    model.fit(data, epochs=10, callbacks=[kgen.callbacks.Checkpoint("run/model.keras")])
    ```
    """

    def __init__(self, filepath, every_n_epochs=1, verbose=1):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.every_n_epochs = int(every_n_epochs)
        self.verbose = verbose
        self.last_saved_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        ok, key = _finite(logs)
        if not ok:
            if self.verbose:
                print(f"Checkpoint: epoch {epoch + 1} has a non-finite {key}; keeping the "
                      f"last good checkpoint ({self.filepath}).")
            return
        save_model_atomically(self.model, self.filepath)
        self.last_saved_epoch = epoch + 1


class StopOnNaN(keras.callbacks.Callback):
    """Stops training cleanly when a logged loss becomes NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN`, it checks every logged value (a GAN logs
    ``d_loss`` and ``g_loss``, not ``loss``) and says which one diverged.

    Attributes:
        stopped: None, or ``(epoch, batch, name)`` of the first non-finite value.
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
    """

    def __init__(self, filepath, num_samples=64, seed=0, every_n_epochs=1, reference=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.num_samples = num_samples
        self.seed = seed
        self.every_n_epochs = int(every_n_epochs)
        self.reference = reference

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        save_samples(self.model, self.filepath.format(epoch=epoch + 1), self.num_samples,
                     self.seed, self.reference)


def save_samples(model, filepath, num_samples=64, seed=0, reference=None):
    """Generates ``num_samples`` with ``seed`` and saves them as a PNG grid or scatter plot."""
    samples = model.generate(num_samples, seed=seed)
    if samples.ndim == 2 and samples.shape[1] == 2:
        return images.save_scatter(samples, filepath, reference=reference)
    return images.save_grid(samples, filepath)


def _prepare_real(data):
    """Real samples as float32 in data space: uint8/uint16 images are scaled, floats kept."""
    from kgen.data import to_data_space

    array = np.asarray(data)
    if array.ndim == 2 and array.dtype.kind == "f":  # points, e.g. the 2-D mixtures
        if not np.all(np.isfinite(array)):
            raise ValueError("data contains NaN or infinite values.")
        return array.astype("float32")
    return to_data_space(array)


def _generation_seeds(seed, count):
    """``count`` independent generate() seeds derived from ``seed``."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(count)]


def _to_python(value):
    array = np.asarray(keras.ops.convert_to_numpy(value))
    if array.ndim != 0:
        raise ValueError(f"A metric result must be a scalar (or a dict of scalars); got shape "
                         f"{array.shape}.")
    return int(array) if array.dtype.kind in "iu" else float(array)


def _takes(metric, argument):
    try:
        return argument in inspect.signature(metric.update_state).parameters
    except (TypeError, ValueError):
        return False


def _check_metric_data(metric, has_data):
    two_sample = _takes(metric, "real")
    if has_data and not two_sample:
        raise ValueError(
            f"{type(metric).__name__} measures generated samples only; it takes no real "
            "data. Drop data=."
        )
    if not has_data and two_sample and getattr(metric, "reference", None) is None:
        raise ValueError(
            f"{type(metric).__name__} compares real and generated samples: pass the real "
            "samples as data= (or give the metric reference statistics)."
        )


def compute_metric(model, metric, num_samples, data=None, batch_size=250, seed=0):
    """Computes ``metric`` on ``num_samples`` samples of ``model.generate()`` (and real ``data``).

    The metric is reset, then fed batch by batch. Metrics whose ``update_state`` takes
    ``real`` and ``generated`` (`kgen.metrics.FrechetInceptionDistance`,
    `kgen.metrics.KernelInceptionDistance`, `kgen.metrics.PrecisionRecall`,
    `kgen.metrics.InceptionScore`) get ``update_state(real=batch)`` for each batch of
    ``data`` and ``update_state(generated=batch)`` for each generated batch; other
    metrics (`kgen.metrics.ModeCoverage`, any Keras metric of one argument) get
    ``update_state(generated_batch)``. Generated batch ``i`` comes from
    ``model.generate(size, seed=s_i)``, the seeds ``s_i`` derived from ``seed``: the same
    seed gives the same samples at every call. Generated images (rank 4) are clipped to
    [-1, 1], the range of an image file.

    Args:
        model: a kgen model (anything with ``generate(n, seed=...)``).
        metric: a `keras.metrics.Metric`.
        num_samples: number of generated samples.
        data: real samples for a two-sample metric: uint8 images, images in data space
            ([-1, 1]), or points ``(n, d)``. None for one-sample metrics, and for an FID
            with fixed ``reference`` statistics.
        batch_size: samples per batch.
        seed: integer seed of the generated samples.

    Returns:
        ``metric.result()`` as Python numbers: a number, or a dict of them.

    Raises:
        ValueError: a two-sample metric without real data (or ``data`` for a metric that
            takes none), or real data whose samples have another shape than the model's.

    Example:

    ```python
    import kgen

    gan = kgen.models.GAN.from_shape((2,), seed=0)
    kgen.callbacks.compute_metric(gan, kgen.metrics.ModeCoverage("ring"), 2500)
    # {'modes': ..., 'high_quality': ...}
    ```
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
            or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer; got {num_samples!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    _check_metric_data(metric, data is not None)
    real = None if data is None else _prepare_real(data)
    metric.reset_state()
    sample_shape = None
    num_batches = -(-num_samples // batch_size)
    sizes = [len(part) for part in np.array_split(np.arange(num_samples), num_batches)]
    for size, batch_seed in zip(sizes, _generation_seeds(seed, num_batches)):
        generated = model.generate(size, seed=batch_seed)
        if generated.ndim == 4:
            # Images: clip to the valid range, as saving them would (a Gaussian decoder's
            # means can leave [-1, 1]).
            generated = np.clip(generated, -1.0, 1.0)
        if sample_shape is None:
            sample_shape = generated.shape[1:]
            if real is not None and real.shape[1:] != sample_shape:
                raise ValueError(
                    f"The model generates samples of shape {sample_shape} but the real data "
                    f"has samples of shape {real.shape[1:]}: evaluate the model against data "
                    "of the kind it was trained on."
                )
            for start in range(0, 0 if real is None else len(real), batch_size):
                metric.update_state(real=real[start:start + batch_size])
        if _takes(metric, "generated"):
            metric.update_state(generated=generated)
        else:
            metric.update_state(generated)
    result = metric.result()
    if isinstance(result, dict):
        return {key: _to_python(value) for key, value in result.items()}
    return _to_python(result)


class Evaluate(keras.callbacks.Callback):
    """Computes a `kgen.metrics` metric on generated samples during ``fit()`` and logs it.

    Every ``every_n_epochs`` epochs, draws ``num_samples`` samples from ``model.generate()``
    (with the same ``seed`` each time, so successive values compare the same latent
    vectors), computes the metric with `compute_metric`, and writes the result into the
    epoch's logs: under ``name`` (default: the metric's name, such as ``"fid"``) for a
    scalar result; for a dict result (`kgen.metrics.ModeCoverage` gives ``"modes"`` and
    ``"high_quality"``), each key, prefixed with ``name + "_"`` when ``name`` is given.
    On the other epochs the key is absent.

    Keras runs callbacks in the order of the list, each seeing the logs the earlier ones
    wrote: put `Evaluate` **before** the callbacks that read its key
    (`keras.callbacks.ModelCheckpoint(monitor="fid")`, `keras.callbacks.EarlyStopping`,
    `keras.callbacks.CSVLogger`). The history and the progress bar come last by themselves.

    Args:
        metric: a `keras.metrics.Metric` of generated samples: `kgen.metrics.ModeCoverage`,
            `kgen.metrics.InceptionScore`, or, with ``data`` (or a reference), a two-sample
            metric (`kgen.metrics.FrechetInceptionDistance`, ...). See `compute_metric`.
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
        keras.callbacks.ModelCheckpoint("best.keras", monitor="modes", mode="max",
                                        save_best_only=True),
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
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) \
                or every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be a positive integer; got {every_n_epochs!r}.")
        _check_metric_data(metric, data is not None)
        self.metric = metric
        self.every_n_epochs = every_n_epochs
        self.num_samples = num_samples
        self.data = None if data is None else _prepare_real(data)
        self.batch_size = batch_size
        self.seed = seed
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


__all__ = [
    "Checkpoint",
    "Evaluate",
    "PSNR",
    "SampleGrid",
    "StopOnNaN",
    "compute_metric",
    "save_model_atomically",
    "save_samples",
]
