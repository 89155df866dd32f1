"""Gradient penalties as functions of input gradients: closed forms and second order."""

import keras
import numpy as np
import pytest
from keras import ops

from kgen import backend, losses


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _linear_critic(w, b=0.25):
    critic = keras.layers.Dense(1)
    critic.build((None, len(w)))
    critic.kernel.assign(np.asarray(w, "float32")[:, None])
    critic.bias.assign([b])
    return critic


def _eps(n, seed):
    return np.random.default_rng(seed).uniform(size=(n, 1)).astype("float32")


def _gp(critic, real, fake, weight, seed):
    points = losses.interpolate(real, fake, _eps(len(real), seed))
    return losses.wgan_gradient_penalty(backend.input_gradient(critic, points), weight)


def test_penalties_of_a_linear_critic_equal_their_closed_forms():
    # D(x) = w.x + b: grad_x D = w everywhere, so GP = lambda (|w| - 1)^2 and
    # R1 = gamma / 2 |w|^2, whatever the samples and the interpolation.
    w = np.array([1.0, 2.0, 2.0])  # |w| = 3
    critic = _linear_critic(w)
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(2, 6, 3)).astype("float32")
    np.testing.assert_allclose(numpy(backend.input_gradient(critic, real)),
                               np.tile(w, (6, 1)), rtol=1e-6)
    gp = _gp(critic, real, fake, weight=10.0, seed=0)
    assert float(numpy(gp)) == pytest.approx(10.0 * (3.0 - 1.0) ** 2, rel=1e-5)
    r1 = losses.r1_penalty(backend.input_gradient(critic, real), weight=4.0)
    assert float(numpy(r1)) == pytest.approx(0.5 * 4.0 * 9.0, rel=1e-5)

    # Second order: the penalties are differentiable with respect to the critic's kernel.
    (value, _), (grad_w, _) = backend.value_and_grad(
        lambda: (_gp(critic, real, fake, 10.0, seed=1), None),
        [critic.kernel, critic.bias])()
    assert float(numpy(value)) == pytest.approx(40.0, rel=1e-5)
    np.testing.assert_allclose(numpy(grad_w)[:, 0], 2 * 10.0 * (3.0 - 1.0) * w / 3.0, rtol=1e-5)
    (_, _), (grad_w, _) = backend.value_and_grad(
        lambda: (losses.r1_penalty(backend.input_gradient(critic, real), 4.0), None),
        [critic.kernel, critic.bias])()
    np.testing.assert_allclose(numpy(grad_w)[:, 0], 4.0 * w, rtol=1e-5)


def _tanh_critic_numpy(x, W, b, v):
    """D(x) = v . tanh(x W + b) and its input gradient, in float64."""
    h = np.tanh(x @ W + b)
    return h @ v, ((1 - h**2) * v) @ W.T


def test_input_gradient_of_a_nonlinear_critic_and_its_weight_gradient():
    rng = np.random.default_rng(1)
    W, b, v = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4)
    x = rng.normal(size=(5, 3))
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="tanh")(inputs)
    critic = keras.Model(inputs, keras.layers.Dense(1, use_bias=False)(hidden))
    critic.set_weights([W.astype("float32"), b.astype("float32"),
                        v[:, None].astype("float32")])
    _, expected = _tanh_critic_numpy(x, W, b, v)
    x32 = x.astype("float32")
    np.testing.assert_allclose(numpy(backend.input_gradient(critic, x32)), expected, rtol=1e-4,
                               atol=1e-6)
    norms = np.linalg.norm(expected, axis=1)
    # With real == fake every interpolate is x itself.
    gp = _gp(critic, x32, x32, weight=10.0, seed=0)
    assert float(numpy(gp)) == pytest.approx(10.0 * np.mean((norms - 1) ** 2), rel=1e-4)

    # d R1 / d W against central finite differences of the float64 closed form.
    def r1(W_):
        return 0.5 * 10.0 * np.mean(np.sum(_tanh_critic_numpy(x, W_, b, v)[1] ** 2, axis=1))

    numeric = np.zeros_like(W)
    for index in np.ndindex(*W.shape):
        step = np.zeros_like(W)
        step[index] = 1e-6
        numeric[index] = (r1(W + step) - r1(W - step)) / 2e-6
    (value, _), grads = backend.value_and_grad(
        lambda: (losses.r1_penalty(backend.input_gradient(critic, x32), 10.0), None),
        critic.trainable_variables)()
    assert float(numpy(value)) == pytest.approx(r1(W), rel=1e-4)
    np.testing.assert_allclose(numpy(grads[0]), numeric, rtol=1e-3, atol=1e-5)


def test_penalties_of_given_gradients_equal_their_formulas():
    g = np.array([[3.0, 4.0], [0.0, 0.0], [0.6, 0.8]], "float32")   # norms 5, 0, 1
    np.testing.assert_allclose(numpy(losses.squared_norms(g)), [25.0, 0.0, 1.0], rtol=1e-6)
    # WGAN-GP: weight * mean((|g| - 1)^2) = 2 * (16 + 1 + 0) / 3.
    assert float(numpy(losses.wgan_gradient_penalty(g, weight=2.0))) == pytest.approx(
        2.0 * 17.0 / 3.0, rel=1e-5)
    # R1: weight / 2 * mean(|g|^2) = 3 * 26 / 3.
    assert float(numpy(losses.r1_penalty(g, weight=6.0))) == pytest.approx(26.0, rel=1e-6)
    # Defaults: the weights of GRADIENT_PENALTIES.
    assert losses.GRADIENT_PENALTIES == {"wgan-gp": 10.0, "r1": 10.0}
    assert float(numpy(losses.r1_penalty(g))) == pytest.approx(5.0 * 26.0 / 3.0, rel=1e-6)
    # Images: the norm runs over every axis but the batch axis.
    images = np.ones((2, 2, 2, 1), "float32")   # |g| = 2 per example
    assert float(numpy(losses.wgan_gradient_penalty(images, 1.0))) == pytest.approx(1.0)
    assert float(numpy(losses.wgan_gradient_penalty(images, weight=0))) == 0.0


def test_wgan_gradient_penalty_is_differentiable_at_a_zero_gradient():
    # The 1e-12 inside the square root: a zero gradient gives a finite weight gradient.
    critic = _linear_critic([0.0, 0.0], b=0.0)
    x = np.ones((3, 2), "float32")
    (value, _), (grad_w, _) = backend.value_and_grad(
        lambda: (_gp(critic, x, -x, 10.0, seed=0), None), [critic.kernel, critic.bias])()
    assert float(numpy(value)) == pytest.approx(10.0, rel=1e-5)
    assert np.all(np.isfinite(numpy(grad_w)))


def test_interpolate_lies_between_real_and_fake():
    real = np.ones((3, 2, 2, 1), "float32")
    fake = np.full((3, 2, 2, 1), -1.0, "float32")
    eps = np.array([0.0, 0.25, 1.0], "float32").reshape(3, 1, 1, 1)
    points = numpy(losses.interpolate(real, fake, eps))
    assert points.shape == (3, 2, 2, 1) and points.dtype == np.float32
    np.testing.assert_allclose(points[:, 0, 0, 0], [-1.0, -0.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(numpy(losses.interpolate(real, fake, 0.5)), 0.0, atol=1e-7)
    with pytest.raises(ValueError, match="same shape"):
        losses.interpolate(real, fake[:, :1], eps)
    with pytest.raises(ValueError, match=r"one weight per example.*\(3,\)"):
        losses.interpolate(real, fake, eps.reshape(3))
    with pytest.raises(ValueError, match="one weight per example"):
        losses.interpolate(real, fake, np.full((3, 2, 2, 1), 0.5, "float32"))


def test_penalty_weights_are_checked():
    g = np.ones((2, 3), "float32")
    for penalty in (losses.wgan_gradient_penalty, losses.r1_penalty):
        with pytest.raises(ValueError, match="weight must be a number in"):
            penalty(g, weight=-1.0)
        with pytest.raises(TypeError, match="weight must be a number"):
            penalty(g, weight="10")
        with pytest.raises(TypeError, match="weight must be a number"):
            penalty(g, weight=True)
    with pytest.raises(ValueError, match="got a scalar"):
        losses.r1_penalty(np.float32(1.0))
