"""Callbacks for training generative models: sample grids, safe checkpoints, NaN guard."""

import math
import os

import keras

from kgen import images


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


__all__ = ["Checkpoint", "SampleGrid", "StopOnNaN", "save_model_atomically", "save_samples"]
