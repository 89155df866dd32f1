"""Peak signal-to-noise ratio of restored images against a clean reference."""

import math

import numpy as np
from keras import ops

from kgen import checks

#: The peak-to-peak range of a pixel in data space ([-1, 1]).
DATA_RANGE = 2.0


def psnr(images, reference, data_range=DATA_RANGE):
    """The peak signal-to-noise ratio of ``images`` against ``reference``, in decibels.

    ``10 log10(data_range^2 / mean((images - reference)^2))``, the mean over every
    pixel and channel (and image). In data space (``[-1, 1]``, ``data_range=2``) the
    value equals the PSNR of the same images as ``[0, 1]`` floats or ``0..255`` pixels.
    Identical images give ``inf``.

    Args:
        images: an array of images (numpy or a backend tensor), any shape.
        reference: the clean images, the same shape.
        data_range: the range of pixel values (2 for data space).

    Returns:
        A Python float.

    Raises:
        ValueError: shapes that differ, non-finite values, or a range that is not positive.

    Example:

    ```python
    import numpy as np
    from kgen.metrics import psnr

    psnr(np.zeros((4, 4)), np.full((4, 4), 0.2))   # 20.0 (mse 0.04, range 2)
    ```

    References:
        Huynh-Thu & Ghanbari, "Scope of validity of PSNR in image/video quality
        assessment", Electronics Letters 2008.
    """
    data_range = checks.number(data_range, "data_range", 0.0, exclusive_minimum=True)
    images = _as_float64(images, "images")
    reference = _as_float64(reference, "reference")
    if images.shape != reference.shape:
        raise ValueError(
            f"psnr needs images and reference of the same shape; got {images.shape} and "
            f"{reference.shape}.")
    mse = float(np.mean(np.square(images - reference)))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def _as_float64(x, name):
    if ops.is_tensor(x):
        x = ops.convert_to_numpy(x)
    return checks.finite(np.asarray(x, "float64"), name)


__all__ = ["DATA_RANGE", "psnr"]
