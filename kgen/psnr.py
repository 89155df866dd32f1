"""Peak signal-to-noise ratio of restored images, and a callback that records it during fit()."""

import math

import keras
import numpy as np

from kgen.models.single_image import image_to_data_space

# Data space is [-1, 1]: the peak-to-peak range of a pixel is 2.
_DATA_RANGE = 2.0


def psnr(images, reference, data_range=_DATA_RANGE):
    """The peak signal-to-noise ratio of ``images`` against ``reference``, in decibels.

    ``10 log10(data_range^2 / mean((images - reference)^2))``, the mean over every
    pixel and channel (and image). In data space (``[-1, 1]``, ``data_range=2``) the
    value equals the PSNR of the same images as ``[0, 1]`` floats or ``0..255`` pixels.
    Identical images give ``inf``.

    Args:
        images: an array of images, any shape.
        reference: the clean images, the same shape.
        data_range: the range of pixel values (2 for data space).

    Returns:
        A Python float.

    Example:

    ```python
    import numpy as np
    from kgen.psnr import psnr
    psnr(np.zeros((4, 4)), np.full((4, 4), 0.2))   # 20.0 (mse 0.04, range 2)
    ```

    References:
        Huynh-Thu & Ghanbari, "Scope of validity of PSNR in image/video quality
        assessment", Electronics Letters 2008.
    """
    images = np.asarray(images, "float64")
    reference = np.asarray(reference, "float64")
    if images.shape != reference.shape:
        raise ValueError(
            f"psnr needs images and reference of the same shape; got {images.shape} and "
            f"{reference.shape}.")
    mse = float(np.mean(np.square(images - reference)))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


class PSNR(keras.callbacks.Callback):
    """Records the PSNR of ``model.generate()`` against a clean image during ``fit()``.

    For single-image models (`kgen.models.DeepImagePrior`) whose ``generate()`` returns
    the restored image. The PSNR is computed every ``every_n_steps`` steps (kept in
    ``history`` as ``(step, psnr)`` pairs) and at the end of every epoch, where it is
    put in the logs as ``name``: callbacks after this one see it, so
    `keras.callbacks.EarlyStopping` (``monitor="psnr", mode="max"``, with
    ``restore_best_weights=True``) and `keras.callbacks.ModelCheckpoint` keep the best
    image. Put it before them in the callback list.

    Args:
        clean_image: the clean image, ``(H, W, C)`` or ``(1, H, W, C)``, in data space
            (``[-1, 1]``) or uint8.
        every_n_steps: period in steps of the recorded values (None: at epoch ends only).
        name: the log key.

    Example:

    ```python
    psnr = kgen.callbacks.PSNR(clean, every_n_steps=50)
    dip.fit(epochs=30, steps_per_epoch=100, callbacks=[
        psnr, keras.callbacks.EarlyStopping("psnr", mode="max", patience=3,
                                            restore_best_weights=True)])
    psnr.history   # [(50, 18.2), (100, 21.5), ...]
    ```

    References:
        Ulyanov, Vedaldi & Lempitsky, "Deep Image Prior", CVPR 2018 / IJCV 2020.
    """

    def __init__(self, clean_image, every_n_steps=None, name="psnr"):
        super().__init__()
        self.clean_image = image_to_data_space(clean_image, "clean_image")
        if every_n_steps is not None and (
            isinstance(every_n_steps, bool) or not isinstance(every_n_steps, (int, np.integer))
            or every_n_steps < 1
        ):
            raise ValueError(f"every_n_steps must be a positive integer or None; got "
                             f"{every_n_steps!r}.")
        self.every_n_steps = every_n_steps
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
