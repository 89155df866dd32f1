"""How far apart the pixel colours of two sets of images are: a sliced Wasserstein distance.

The colours of every pixel of a set of images form a cloud of points in colour space (3-D
for RGB). This module compares two such clouds, ignoring where in the images the pixels
lie: it projects both on random unit directions and averages, over the directions, the
Wasserstein-1 distance of the projected values (the mean absolute difference of their
quantiles). An unpaired translator's outputs should have the colours of the domain it
translates to, so the distance between them and that domain's images tells, without any
pair, a translator that reaches the target's colours from one that does not.
"""

import numpy as np
from keras import ops

from kgen import checks

#: Quantiles compared on each direction (the pixels' values are summarised by as many).
QUANTILES = 1024


def colour_distance(images, reference, projections=64, seed=0):
    """The sliced Wasserstein-1 distance between the pixel colours of two image sets.

    Every pixel of ``images`` and of ``reference`` is a point in colour space; both
    clouds are projected on ``projections`` random unit directions (drawn from
    ``seed``), and on each direction the mean absolute difference between the two sets'
    quantiles is taken (the Wasserstein-1 distance of the projections); the result is
    its mean over the directions. It is 0 for sets with the same colours in any order
    and grows with the colour that one set has and the other lacks; for one channel it
    is the Wasserstein-1 distance of the pixel values itself. Sets of different sizes
    are compared through the same quantiles.

    Args:
        images: ``(N, H, W, C)`` images, uint8 ``0..255`` or floats in data space
            ``[-1, 1]``.
        reference: ``(M, H', W', C)`` images of the same kind and channels (any count
            and size).
        projections: random directions to average over.
        seed: seed of the directions.

    Returns:
        A Python float, in data-space units (a uniform shift of every channel by ``s``
        moves the distance of an RGB set by about ``s * 0.87``: ``|s * (1, 1, 1)|`` times
        the mean ``|cos|`` of a random direction, ``1/2``).

    Raises:
        ValueError: sets that are not 4-D images, with different channels, or outside the
            data range (as every kgen metric).

    Example:

    ```python
    import numpy as np
    from kgen.metrics import colour_distance

    x = np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 1)).astype("float32")
    colour_distance(x, x[::-1])          # 0.0: the same colours
    colour_distance(x * 0.5 + 0.3, x * 0.5)   # 0.3 (one channel: a shift by 0.3)
    ```

    References:
        Rabin, Peyré, Delon & Bernot, "Wasserstein Barycenter and its Application to
        Texture Mixing", SSVM 2011.
    """
    projections = checks.integer(projections, "projections", 1)
    x = _pixels(images, "images")
    y = _pixels(reference, "reference")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"colour_distance compares images of the same channels; images have "
            f"{x.shape[1]} and reference {y.shape[1]}.")
    directions = np.random.default_rng(seed).normal(size=(projections, x.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    levels = (np.arange(QUANTILES) + 0.5) / QUANTILES
    # The empirical quantile function itself (no interpolation): sets with the same
    # colours in other counts have the same quantiles.
    x_quantiles = np.quantile(x @ directions.T, levels, axis=0, method="inverted_cdf")
    y_quantiles = np.quantile(y @ directions.T, levels, axis=0, method="inverted_cdf")
    return float(np.mean(np.abs(x_quantiles - y_quantiles)))


def _pixels(images, name):
    """The pixels of 4-D images in data space, as a float64 array ``(pixels, channels)``."""
    array = ops.convert_to_numpy(images) if ops.is_tensor(images) else np.asarray(images)
    if array.ndim != 4:
        raise ValueError(
            f"colour_distance takes image sets (N, H, W, C); {name} has shape "
            f"{array.shape}.")
    data = checks.to_data_space(array, name)
    return np.asarray(data, "float64").reshape(-1, array.shape[-1])
