"""Likelihood terms: per-example sums, closed forms on images, broadcasting of the scale."""

import numpy as np
import pytest
from keras import ops

from kgen import losses


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_sum_per_example_sums_all_but_the_batch_axis():
    x = np.arange(24, dtype="float32").reshape(2, 3, 4)
    np.testing.assert_allclose(numpy(losses.sum_per_example(x)), x.reshape(2, -1).sum(1))
    np.testing.assert_allclose(numpy(losses.sum_per_example(np.ones(3, "float32"))), 1.0)
    with pytest.raises(ValueError, match="got a scalar"):
        losses.sum_per_example(np.float32(2.0))


def test_gaussian_kl_of_image_shaped_posteriors():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(2, 2, 2, 3)).astype("float32")
    log_var = rng.normal(size=(2, 2, 2, 3)).astype("float32")
    expected = 0.5 * (np.exp(log_var) + mean**2 - 1.0 - log_var).reshape(2, -1).sum(1)
    got = numpy(losses.gaussian_kl(mean, log_var))
    assert got.shape == (2,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert np.all(got >= 0.0)


def test_gaussian_nll_broadcasts_a_per_pixel_scale_and_a_shared_mean():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4)).astype("float32")
    log_scale = rng.normal(size=(4,)).astype("float32")   # one scale per dimension
    mean = np.float32(0.5)                                 # one mean for everything
    scale = np.exp(log_scale)
    expected = (0.5 * ((x - mean) / scale) ** 2 + log_scale
                + 0.5 * np.log(2 * np.pi)).sum(1)
    got = numpy(losses.gaussian_nll(x, mean, log_scale))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # A scalar scale: every dimension adds log(2 pi) / 2 + log_scale at the mean.
    at_mean = numpy(losses.gaussian_nll(np.zeros((2, 5), "float32"),
                                        np.zeros((2, 5), "float32"), 0.0))
    np.testing.assert_allclose(at_mean, 5 * 0.5 * np.log(2 * np.pi), rtol=1e-6)


def test_bernoulli_nll_is_finite_for_confident_logits():
    targets = np.array([[1.0, 0.0, 1.0, 0.0]], "float32")
    logits = np.array([[80.0, -80.0, -80.0, 80.0]], "float32")
    got = numpy(losses.bernoulli_nll(targets, logits))
    # Right and confident: ~0 each; wrong and confident: ~80 each.
    np.testing.assert_allclose(got, [160.0], rtol=1e-5)
    half = numpy(losses.bernoulli_nll(np.full((1, 3), 0.5, "float32"),
                                      np.zeros((1, 3), "float32")))
    np.testing.assert_allclose(half, [3 * np.log(2.0)], rtol=1e-6)
