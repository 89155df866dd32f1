"""kgen.metrics.colour_distance: the sliced Wasserstein distance between pixel colours."""

import keras
import numpy as np
import pytest

import kgen
from kgen.metrics import colour_distance


def _images(seed, shape=(6, 5, 4, 3)):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, shape).astype("float32")


def test_the_same_colours_in_any_order_and_count_are_at_distance_zero():
    x = _images(0)
    shuffled = x.reshape(-1, 3)[np.random.default_rng(1).permutation(120)].reshape(3, 8, 5, 3)
    assert colour_distance(x, shuffled) == pytest.approx(0.0, abs=1e-12)
    assert colour_distance(x, np.concatenate([x, x])) == pytest.approx(0.0, abs=1e-12)
    assert kgen.metrics.colour_distance is colour_distance


def test_one_channel_is_the_wasserstein_distance_and_a_colour_shift_follows_the_theory():
    grey = _images(2, (4, 8, 8, 1))
    # One channel: every direction is +-1, and a shift moves every quantile by it.
    assert colour_distance(grey + 0.3, grey) == pytest.approx(0.3, abs=1e-6)
    # RGB shifted by v: the mean over directions u of |v . u|, |v| / 2 for many of them
    # (the mean |cos| of a random direction in 3-D is 1/2).
    x = _images(3)
    shift = np.array([0.3, -0.1, 0.2], "float32")
    expected = np.linalg.norm(shift) / 2
    assert colour_distance(x + shift, x, projections=20000) == pytest.approx(expected, rel=0.02)
    # Symmetric; uint8 images are taken in data space; tensors as well as arrays.
    y = _images(4)
    assert colour_distance(x, y) == pytest.approx(colour_distance(y, x), rel=1e-12)
    pixels = np.random.default_rng(5).integers(0, 256, (3, 4, 4, 3)).astype("uint8")
    assert colour_distance(pixels, x) == pytest.approx(
        colour_distance(pixels / 127.5 - 1, x), rel=1e-6)
    assert colour_distance(keras.ops.convert_to_tensor(x), y) == pytest.approx(
        colour_distance(x, y), rel=1e-6)


def test_colour_distance_errors():
    x = _images(0)
    with pytest.raises(ValueError, match="same channels; images have 3 and reference 1"):
        colour_distance(x, x[..., :1])
    with pytest.raises(ValueError, match=r"image sets \(N, H, W, C\); reference has shape"):
        colour_distance(x, x[0])
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
        colour_distance(x * 4, x)
    with pytest.raises(ValueError, match="projections must be"):
        colour_distance(x, x, projections=0)
