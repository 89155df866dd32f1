"""Negative log-likelihood in nats and bits per dimension, with the discretisation convention.

kgen models see images in *data space*: uint8 pixel values ``k = 0..255`` become
``y = k / 127.5 - 1``, so neighbouring levels are ``1 / 127.5`` apart. A model with a
continuous density ``p(y)`` on data space (a Gaussian VAE decoder, a flow) and a model
with a discrete distribution ``P(k)`` over the 256 levels (PixelCNN) report likelihoods
on different scales. Bits per dimension on the 0..255 scale puts them on one scale:

- **Discrete model** (``scale=1``): ``bits/dim = -log P(k) / (D ln 2)``.
- **Continuous density in data space** (``scale=127.5``): each level owns a bin of width
  ``1 / 127.5`` around its centre, so ``P(k) ~= p(y) / 127.5 ** D`` (exact when the density
  is flat over each bin) and ``bits/dim = (-log p(y) / D + log 127.5) / ln 2``. The
  density is measured per unit of data space; ``log 127.5`` converts it to per level.

Example of the convention: the uniform distribution over the 256 levels has exactly
8 bits/dim. As a density in data space it is uniform over the 256 bins, i.e. on
``[-1 - 1/255, 1 + 1/255]`` (density ``(255/512) ** D``), and
``(log(512/255) + log 127.5) / ln 2 = log2(256) = 8``. A density uniform on ``[-1, 1]``
gives ``log2(255) = 7.994`` bits/dim: it is not a distribution over the 256 levels
(its edge bins are half empty), which is why the two differ.

Evaluated at the bin centres, a continuous density can put spikes on the 256 values and
report arbitrarily good numbers. `dequantize` adds uniform noise within each bin; the
expected NLL of the dequantised data then bounds the discrete NLL of the model's
discretisation from above (Theis et al. 2016, section 3.1), as in Real NVP and Glow.
"""

import math

import keras
import numpy as np
from keras import ops

from kgen import checks

#: Levels per unit of data space for uint8 images scaled by ``k / 127.5 - 1``.
UINT8_SCALE = 127.5


def bits_per_dim(nll_nats, num_dims, scale=UINT8_SCALE):
    """Converts a negative log-likelihood in nats per example to bits per dimension.

    ``bits/dim = (nll_nats / num_dims + log(scale)) / ln 2``.

    Args:
        nll_nats: negative log-likelihood per example in nats (a number or an array; an
            array is converted element-wise).
        num_dims: dimensions per example ``D`` (``H * W * C`` for images).
        scale: discrete levels per unit of the space the density is defined on, i.e.
            ``1 / bin width``. ``127.5`` (default) for a continuous density on kgen's data
            space of uint8 images (``k / 127.5 - 1``); ``1`` for a model that gives
            discrete probabilities of the pixel values (PixelCNN): no offset.

    Returns:
        Bits per dimension on the 0..255 scale, a float (or a numpy array).

    Example:

    ```python
    import math
    from kgen.metrics import bits_per_dim

    D = 64
    bits_per_dim(D * math.log(256), D, scale=1)   # 8.0: uniform over 256 levels
    bits_per_dim(D * math.log(512 / 255), D)      # 8.0: the same, as a density in [-1, 1]
    ```

    References:
        Theis, van den Oord & Bethge, "A note on the evaluation of generative models",
        ICLR 2016, section 3.1.
        Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017.
    """
    num_dims = _check_num_dims(num_dims)
    scale = _check_scale(scale)
    value = (np.asarray(nll_nats, dtype="float64") / num_dims + math.log(scale)) / math.log(2.0)
    return float(value) if value.ndim == 0 else value


def dequantize(x, seed=None, scale=UINT8_SCALE):
    """Adds uniform noise within each discretisation bin of data-space images.

    ``y + u / scale`` with ``u ~ U[-1/2, 1/2)``: uint8 images (converted with
    `kgen.data.to_data_space`) or data-space floats on the ``1 / scale`` grid become
    continuous values, each within its own level's bin. The expected NLL of a continuous
    density on dequantised data is an upper bound on the NLL of the discrete model it
    induces (``P(k) = integral of p over k's bin``), so `bits_per_dim` of it is a fair
    number to compare with discrete models.

    Args:
        x: uint8 images, or float images in data space.
        seed: integer seed of the noise (numpy), or None.
        scale: levels per unit of data space (``127.5`` for uint8 images).

    Returns:
        float32 numpy array of the shape of ``x``, values in
        ``[-1 - 0.5 / scale, 1 + 0.5 / scale)``.

    Example:

    ```python
    import kgen
    from kgen.metrics import dequantize

    y = dequantize(kgen.data.load("digits", split="test"), seed=0)
    ```

    References:
        Theis, van den Oord & Bethge, "A note on the evaluation of generative models",
        ICLR 2016.
    """
    scale = _check_scale(scale)
    x = np.asarray(x)
    if x.dtype == np.uint8:
        x = checks.to_data_space(x)
    x = x.astype("float32")
    noise = np.random.default_rng(seed).uniform(-0.5, 0.5, size=x.shape)
    return (x + noise / scale).astype("float32")


@keras.saving.register_keras_serializable(package="kgen")
class BitsPerDim(keras.metrics.Metric):
    """Averages per-example negative log-likelihoods (nats) and reports bits per dimension.

    ``update_state(nll_nats)`` takes a batch of per-example NLLs in nats (for example
    ``-VAE.log_likelihood(x)``); ``result()`` is `bits_per_dim` of their mean, and
    ``mean_nll()`` the mean itself in nats per example. See the module docstring for the
    convention (``scale=127.5`` for a continuous density on kgen's data space, ``scale=1``
    for discrete probabilities). Before any data (or after ``reset_state()``),
    ``result()`` and ``mean_nll()`` are NaN: there is no likelihood to report, and a
    number such as ``log2(scale)`` would pass for one.

    Args:
        num_dims: dimensions per example ``D`` (``H * W * C``).
        scale: levels per unit of data space; ``127.5`` (default) or ``1`` for discrete
            likelihoods.
        name: metric name (default ``"bits_per_dim"``).
        dtype: the metric's dtype.

    Example:

    ```python
    import kgen

    test = kgen.data.load("digits", split="test")
    vae = kgen.models.VAE.from_shape(test.shape[1:], likelihood="gaussian", latent_dim=4)
    metric = kgen.metrics.BitsPerDim(num_dims=8 * 8 * 1)
    metric.update_state(-vae.log_likelihood(kgen.metrics.dequantize(test, seed=0),
                                            num_samples=8, seed=0))
    float(metric.result()), float(metric.mean_nll())
    ```

    References:
        Theis, van den Oord & Bethge, "A note on the evaluation of generative models",
        ICLR 2016.
    """

    def __init__(self, num_dims, scale=UINT8_SCALE, name="bits_per_dim", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_dims = _check_num_dims(num_dims)
        self.scale = _check_scale(scale)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, nll_nats, sample_weight=None):
        """Adds a batch of per-example negative log-likelihoods in nats."""
        nll = ops.reshape(ops.cast(nll_nats, self.dtype), (-1,))
        if sample_weight is None:
            weight = ops.ones_like(nll)
        else:
            weight = ops.reshape(ops.cast(sample_weight, self.dtype), (-1,))
            weight = weight + ops.zeros_like(nll)
        self.total.assign_add(ops.sum(nll * weight))
        self.count.assign_add(ops.sum(weight))

    def mean_nll(self):
        """The mean negative log-likelihood so far, nats per example; NaN before any data."""
        nan = ops.convert_to_tensor(float("nan"), dtype=self.dtype)
        return ops.where(self.count > 0, ops.divide_no_nan(self.total, self.count), nan)

    def result(self):
        """Bits per dimension of the mean NLL; NaN before any data (no value is made up)."""
        return (self.mean_nll() / self.num_dims + math.log(self.scale)) / math.log(2.0)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        config = super().get_config()
        config.update(num_dims=self.num_dims, scale=self.scale)
        return config


def _check_num_dims(num_dims):
    """``num_dims`` (``D = H * W * C`` for images), checked to be a positive integer."""
    return checks.integer(num_dims, "num_dims", 1)


def _check_scale(scale):
    """``scale``: 127.5 for a density on data space of uint8 images, 1 for probabilities."""
    return checks.number(scale, "scale", 0.0, exclusive_minimum=True)


__all__ = ["UINT8_SCALE", "BitsPerDim", "bits_per_dim", "dequantize"]
