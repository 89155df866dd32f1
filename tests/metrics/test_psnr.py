"""kgen.metrics.psnr: the peak signal-to-noise ratio in data space."""

import math

import keras
import numpy as np
import pytest

import kgen
from kgen.metrics import psnr


def test_psnr_in_data_space_equals_psnr_of_pixel_values():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2, 8, 8, 3)).astype("float64")
    noisy = np.clip(pixels + rng.normal(0, 10, pixels.shape), 0, 255)
    expected = 10 * math.log10(255.0**2 / np.mean((pixels - noisy) ** 2))
    assert psnr(noisy / 127.5 - 1, pixels / 127.5 - 1) == pytest.approx(expected, rel=1e-12)
    assert psnr(noisy, pixels, data_range=255) == pytest.approx(expected, rel=1e-12)
    # Backend tensors are taken as well as numpy arrays.
    tensor = keras.ops.convert_to_tensor((noisy / 127.5 - 1).astype("float32"))
    assert psnr(tensor, pixels / 127.5 - 1) == pytest.approx(expected, abs=1e-4)
    assert kgen.metrics.psnr is psnr


def test_psnr_errors():
    a = np.zeros((4, 4))
    with pytest.raises(ValueError, match="data_range must be a number in \\(0"):
        psnr(a, a, data_range=0)
    with pytest.raises(TypeError, match="data_range must be a number"):
        psnr(a, a, data_range="2")
    with pytest.raises(ValueError, match="images contain 1 NaN"):
        psnr(np.where(np.eye(4) == 1, np.nan, 0)[:1, :1], a[:1, :1])
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, a[0])
