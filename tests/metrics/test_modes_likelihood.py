"""Mode coverage (VEEGAN/PacGAN), bits per dimension, and the VAE's IWAE log-likelihood."""

import math

import keras
import numpy as np
import pytest
from scipy import stats

import kgen
from kgen.metrics import BitsPerDim, ModeCoverage, bits_per_dim, dequantize
from kgen.networks import mlp


# A 2-D isotropic Gaussian lies within 3 standard deviations (a radius) of its mean with
# probability 1 - exp(-3**2 / 2).
P_WITHIN_3_STD = 1.0 - math.exp(-4.5)


def _result(metric):
    return {k: keras.ops.convert_to_numpy(v).item() for k, v in metric.result().items()}


# ------------------------------------------------------------------- mode coverage
@pytest.mark.parametrize("name, num_modes", [("ring", 8), ("grid", 25)])
def test_samples_of_the_true_mixture_cover_every_mode(name, num_modes):
    n = 10000
    metric = ModeCoverage(name)
    metric.update_state(kgen.data.load(name, num_samples=n, seed=0))
    result = _result(metric)
    assert result["modes"] == num_modes
    # The fraction of high-quality samples is a binomial proportion around 0.9889.
    standard_error = math.sqrt(P_WITHIN_3_STD * (1 - P_WITHIN_3_STD) / n)
    assert abs(result["high_quality"] - P_WITHIN_3_STD) < 4 * standard_error


def test_samples_on_one_mode_cover_one_mode():
    means, std = kgen.data.mixture_modes("grid")
    rng = np.random.default_rng(1)
    samples = means[7] + std * rng.standard_normal((2000, 2))
    metric = ModeCoverage("grid")
    metric.update_state(samples.astype("float32"))
    result = _result(metric)
    assert result["modes"] == 1
    assert result["high_quality"] > 0.97
    counts = keras.ops.convert_to_numpy(metric.mode_counts)
    assert counts[7] == counts.sum() and counts.sum() == round(result["high_quality"] * 2000)

    # Points half-way between two modes are far from both: no mode, no quality.
    metric.reset_state()
    metric.update_state(((means[0] + means[1]) / 2)[None].repeat(10, 0))
    assert _result(metric) == {"modes": 0, "high_quality": 0.0}


def test_nearest_mode_and_distance_match_numpy():
    means, std = kgen.data.mixture_modes("ring")
    points = np.random.default_rng(2).uniform(-1.2, 1.2, size=(300, 2)).astype("float32")
    index, distance = ModeCoverage("ring").assign_modes(points)
    gaps = np.linalg.norm(points[:, None].astype("float64") - means[None], axis=-1)
    np.testing.assert_array_equal(index, gaps.argmin(1))
    np.testing.assert_allclose(distance, gaps.min(1) / std, rtol=1e-6)


def test_streaming_equals_one_batch():
    points = kgen.data.load("grid", num_samples=10000, seed=3)
    points[::7] += 0.3  # push some points out of their mode's 3-sigma disc
    once = ModeCoverage("grid")
    once.update_state(points)
    streamed = ModeCoverage("grid")
    for part in np.split(points, [2000, 2010]):   # 2000, 10 and 7990 points
        streamed.update_state(part)
    assert _result(streamed) == _result(once)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(streamed.mode_counts),
                                  keras.ops.convert_to_numpy(once.mode_counts))
    assert _result(once)["high_quality"] < 0.9


def test_thresholds_are_arguments():
    n = 10000
    points = kgen.data.load("ring", num_samples=n, seed=4)
    one_std = ModeCoverage("ring", num_std=1.0)
    one_std.update_state(points)
    expected = 1 - math.exp(-0.5)  # P(radius < 1 sigma) in 2-D
    assert abs(_result(one_std)["high_quality"] - expected) < 4 * math.sqrt(
        expected * (1 - expected) / n)

    means, std = kgen.data.mixture_modes("ring")
    few = np.concatenate([np.repeat(means[:1], 5, 0), np.repeat(means[1:2], 20, 0)])
    strict = ModeCoverage("ring", min_samples=10)
    strict.update_state(few)
    assert _result(strict)["modes"] == 1
    default = ModeCoverage("ring")
    default.update_state(few)
    assert _result(default)["modes"] == 2


def test_custom_modes_config_and_errors():
    metric = ModeCoverage(means=[[0.0, 0.0], [10.0, 0.0]], std=1.0)
    metric.update_state(np.array([[0.5, 0.5], [9.0, 0.0], [5.0, 0.0]], "float32"))
    assert _result(metric) == {"modes": 2, "high_quality": pytest.approx(2 / 3)}
    clone = ModeCoverage.from_config(metric.get_config())
    assert clone.num_modes == 2 and clone.std == 1.0
    assert ModeCoverage.from_config(ModeCoverage("grid").get_config()).num_modes == 25

    with pytest.raises(ValueError, match="Unknown mixture"):
        ModeCoverage("moons")
    with pytest.raises(ValueError, match="mixture name"):
        ModeCoverage()
    with pytest.raises(ValueError, match=r"points of shape \(n, 2\)"):
        ModeCoverage("ring").update_state(np.zeros((4, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="min_samples"):
        ModeCoverage("ring", min_samples=0)


# ------------------------------------------------------------------ bits per dim
def test_bits_per_dim_conventions():
    d = 64
    # A discrete model, uniform over the 256 levels: 8 bits/dim, no offset.
    assert bits_per_dim(d * math.log(256), d, scale=1) == pytest.approx(8.0, abs=1e-12)
    # The same distribution as a density in data space: uniform over the 256 bins of width
    # 1/127.5 centred on k/127.5 - 1, i.e. on [-256/255, 256/255].
    assert bits_per_dim(d * math.log(512 / 255), d) == pytest.approx(8.0, abs=1e-12)
    # A density uniform on [-1, 1] is log2(255) bits/dim: its edge bins are half empty.
    assert bits_per_dim(d * math.log(2.0), d) == pytest.approx(math.log2(255), abs=1e-12)
    np.testing.assert_allclose(bits_per_dim(np.array([0.0, d * math.log(2)]), d, scale=1),
                               [0.0, 1.0])
    with pytest.raises(ValueError, match="num_dims"):
        bits_per_dim(1.0, 0)
    with pytest.raises(ValueError, match="scale"):
        bits_per_dim(1.0, 4, scale=0)


def test_density_bits_match_the_discretised_model():
    # A smooth density on data space and the discrete distribution it induces on the 256
    # levels (its mass in each bin) give the same bits/dim, by the change of variables.
    levels = np.arange(256)
    centres = levels / 127.5 - 1
    half = 0.5 / 127.5
    density = stats.norm(0.1, 0.25)
    mass = density.cdf(centres + half) - density.cdf(centres - half)
    assert 1 - mass.sum() < 1e-3   # the density lies (almost) entirely inside the bins
    pixels = np.random.default_rng(5).choice(levels, size=(200, 3), p=mass / mass.sum())
    discrete_nll = -np.log(mass[pixels]).sum(1)            # nats per 3-pixel example
    density_nll = -density.logpdf(pixels / 127.5 - 1).sum(1)
    np.testing.assert_allclose(bits_per_dim(density_nll.mean(), 3),
                               bits_per_dim(discrete_nll.mean(), 3, scale=1), atol=1e-3)


def test_bits_per_dim_metric_streams_and_weights():
    metric = BitsPerDim(num_dims=10)
    metric.update_state(np.array([10.0, 20.0], "float32"))
    metric.update_state(np.array([60.0]), sample_weight=np.array([2.0]))
    mean = (10 + 20 + 2 * 60) / 4
    assert float(metric.mean_nll()) == pytest.approx(mean)
    assert float(metric.result()) == pytest.approx(bits_per_dim(mean, 10), rel=1e-6)
    discrete = BitsPerDim(num_dims=10, scale=1)
    discrete.update_state([10 * math.log(2)])
    assert float(discrete.result()) == pytest.approx(1.0, rel=1e-6)
    metric.reset_state()
    assert math.isnan(float(metric.mean_nll()))   # no data: no likelihood (documented)
    assert math.isnan(float(metric.result()))
    assert BitsPerDim.from_config(metric.get_config()).num_dims == 10


def test_dequantize_stays_within_each_bin():
    images = kgen.data.load("digits", split="test")[:50]
    y = dequantize(images, seed=0)
    centres = kgen.data.to_data_space(images)
    assert y.dtype == np.float32 and y.shape == images.shape
    assert np.abs(y - centres).max() <= 0.5 / 127.5 + 1e-6
    np.testing.assert_array_equal(np.round((y + 1) * 127.5), images)
    np.testing.assert_array_equal(dequantize(images, seed=0), y)
    assert not np.array_equal(dequantize(images, seed=1), y)


# ------------------------------------------------------------------- VAE likelihood
def _linear_gaussian_vae(exact_posterior=True):
    """x = W z + b + 0.5 * noise, z ~ N(0, I): log p(x) = log N(x; b, W W^T + 0.25 I).

    W has orthogonal columns, so the exact posterior is a diagonal Gaussian, which the
    linear encoder represents exactly (or not, with ``exact_posterior=False``).
    """
    w = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]], "float32")
    b = np.array([0.3, -0.2, 0.1], "float32")
    sigma = 0.5
    post_var = 1.0 / (1.0 + np.sum(w**2, axis=0) / sigma**2)     # diagonal of (I + W^T W / s^2)^-1
    gain = (w * post_var).T / sigma**2                           # posterior mean = gain (x - b)
    log_var = np.log(post_var)
    if not exact_posterior:
        gain = 0.7 * gain
        log_var = log_var + 0.8
    encoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="enc")])
    encoder.layers[-1].set_weights([np.concatenate([gain.T, np.zeros((3, 2))], 1),
                                    np.concatenate([-gain @ b, log_var])])
    decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name="dec")])
    decoder.layers[-1].set_weights([w.T, b])
    vae = kgen.models.VAE(encoder, decoder, likelihood="gaussian", sigma=sigma, seed=0)
    exact = stats.multivariate_normal(b, w @ w.T + sigma**2 * np.eye(3))
    return vae, exact


def test_iwae_is_the_exact_likelihood_of_a_linear_gaussian_model():
    vae, exact = _linear_gaussian_vae()
    x = exact.rvs(size=20, random_state=6).astype("float32")
    # With the exact posterior every importance weight equals p(x): even K = 1 is exact.
    np.testing.assert_allclose(vae.log_likelihood(x, num_samples=1, seed=0), exact.logpdf(x),
                               rtol=1e-5, atol=1e-4)
    # So is K = 7 drawn in chunks of 3 latent samples (batch_size < K).
    np.testing.assert_allclose(vae.log_likelihood(x[:4], num_samples=7, batch_size=3, seed=1),
                               exact.logpdf(x[:4]), rtol=1e-5, atol=1e-4)
    # The ELBO is exact too (its gap is KL(q || posterior) = 0), up to the Monte Carlo
    # error of its reconstruction term: log p(x|z) has a standard deviation below 2 nats
    # here, so 20000 draws leave an error below 0.015; 0.06 is 4 standard errors.
    np.testing.assert_allclose(vae.elbo(x, num_samples=20000, batch_size=20000, seed=0),
                               exact.logpdf(x), atol=0.06)


def test_iwae_tightens_towards_the_exact_likelihood_with_more_samples():
    vae, exact = _linear_gaussian_vae(exact_posterior=False)
    x = exact.rvs(size=64, random_state=7).astype("float32")
    truth = exact.logpdf(x).mean()
    # With a poor encoder the ELBO is loose (its gap is KL(q || posterior), about 1.3 nats).
    elbo = vae.elbo(x, num_samples=1000, batch_size=64000, seed=0).mean()
    assert truth - elbo > 1.0
    # K = 1 estimates the ELBO without bias (within 4 standard errors of the mean).
    one = vae.log_likelihood(np.repeat(x, 20, axis=0), num_samples=1, seed=1)
    assert abs(one.mean() - elbo) < 4 * one.std() / math.sqrt(len(one)) + 0.02
    # K = 10 is tighter but still biased below log p(x); K = 1000 is within 0.03 nats.
    ten = vae.log_likelihood(np.repeat(x, 10, axis=0), num_samples=10, seed=2).mean()
    thousand = vae.log_likelihood(x, num_samples=1000, batch_size=64000, seed=3).mean()
    assert elbo + 0.5 < ten < truth - 0.03
    assert abs(thousand - truth) < 0.03


def test_trained_vae_iwae_nll_is_below_the_negative_elbo():
    # A VAE with MLP networks on the flattened digits (Bernoulli decoder), trained a few
    # epochs on the training split and measured on the held-out split.
    vae = kgen.models.VAE(mlp(64, 2 * 4, (64,), name="encoder"), mlp(4, 64, (64,), name="decoder"),
                          seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    train = kgen.data.to_data_space(kgen.data.load("digits", split="train")).reshape(-1, 64)
    vae.fit(train, batch_size=128, epochs=4, verbose=0)
    x = kgen.data.to_data_space(kgen.data.load("digits", split="test")[:64]).reshape(-1, 64)

    negative_elbo = -vae.elbo(x, num_samples=128, seed=0)
    iwae_nll = -vae.log_likelihood(x, num_samples=128, seed=1)
    assert iwae_nll.shape == (64,) and iwae_nll.dtype == np.float64
    assert iwae_nll.mean() < negative_elbo.mean() - 0.1
    # Both bounds from one pass over the same samples.
    elbo, log_p = vae.log_likelihood_bounds(x, num_samples=128, seed=1)
    np.testing.assert_array_equal(-log_p, iwae_nll)
    assert abs(-elbo.mean() - negative_elbo.mean()) < 0.02 * negative_elbo.mean()

    # Seeds: the same integer seed gives the same estimate, another seed another one.
    again = -vae.log_likelihood(x, num_samples=128, seed=1)
    np.testing.assert_array_equal(again, iwae_nll)
    assert not np.array_equal(-vae.log_likelihood(x, num_samples=128, seed=9), iwae_nll)


def test_likelihood_errors():
    encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(8)])
    decoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(64),
                                keras.layers.Reshape((8, 8, 1))])
    vae = kgen.models.VAE(encoder, decoder)
    with pytest.raises(ValueError, match=r"models samples of shape \(8, 8, 1\)"):
        vae.log_likelihood(np.zeros((2, 2), "float32"))
    with pytest.raises(ValueError, match="num_samples must be an integer of at least 1"):
        vae.log_likelihood(np.zeros((2, 8, 8, 1), "float32"), num_samples=0)
    with pytest.raises(ValueError, match="seed must be"):
        vae.elbo(np.zeros((2, 8, 8, 1), "float32"), seed=-1)
    with pytest.raises(TypeError, match="seed must be"):
        vae.elbo(np.zeros((2, 8, 8, 1), "float32"), seed=1.5)
