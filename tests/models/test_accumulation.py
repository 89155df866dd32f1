"""Gradient accumulation (``compile(accumulation_steps=N)``): N batches update like one
batch N times larger, and everything that follows an update waits for it."""

import keras
import numpy as np
import pytest
from keras import ops

import kgen
from kgen.models import GenerativeModel, Update

from checks_catalogue import covers
from harness import tiny_network, values


def autoencoder(steps):
    """A deterministic model without batch statistics (no noise, no normalisation), with a
    learning-rate schedule (which must count applied updates, not batches)."""
    model = kgen.models.Autoencoder.from_shape((6,), latent_dim=2, base_filters=2, seed=0)
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=1,
                                                           decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(schedule), accumulation_steps=steps)
    return model


def largest_difference(a, b):
    return max(float(np.max(np.abs(p - q))) for p, q in zip(a, b))


def test_two_batches_of_4_update_like_one_batch_of_8():
    x = np.random.default_rng(0).uniform(-1, 1, (16, 6)).astype("float32")
    big = autoencoder(None)
    initial = values(big.weights)
    big.fit(x, batch_size=8, epochs=1, shuffle=False, verbose=0)   # two updates

    small = autoencoder(2)
    small.set_weights(initial)
    small.fit(x[:4], batch_size=4, epochs=1, verbose=0)
    # The first batch is held in the accumulators, nothing is applied yet.
    assert largest_difference(values(small.weights), initial) == 0.0
    assert int(small.optimizer.accumulated_steps) == 1
    assert int(small.optimizer.iterations) == 0 == int(small.optimizer["model"].iterations)
    small.fit(x[4:], batch_size=4, epochs=1, shuffle=False, verbose=0)

    # The same two updates (Adam, and a schedule that halves the rate every update), up to
    # float32 rounding of the sums; training moved the weights by about 1e-2.
    assert largest_difference(values(big.weights), initial) > 1e-3
    np.testing.assert_allclose(np.concatenate([w.ravel() for w in values(small.weights)]),
                               np.concatenate([w.ravel() for w in values(big.weights)]),
                               rtol=1e-5, atol=1e-6)
    assert int(small.optimizer.iterations) == 2 == int(small.optimizer["model"].iterations)
    assert int(small.optimizer.accumulated_steps) == 0


def test_the_moving_average_moves_only_with_the_weights():
    model = kgen.models.Diffusion(tiny_network(shape=(4, 4, 1), filters=4), timesteps=10,
                                  schedule="cosine", ema=0.999, seed=0)
    model.compile(accumulation_steps=2)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 4, 4, 1)).astype("float32")
    initial = values(model.network.weights)
    model.fit(x, batch_size=4, epochs=1, verbose=0)
    assert largest_difference(values(model.network.weights), initial) == 0.0
    assert largest_difference(values(model.ema_network.weights), initial) == 0.0
    model.fit(x, batch_size=4, epochs=1, verbose=0)
    trained = values(model.network.weights)
    assert largest_difference(trained, initial) > 1e-4
    # One update of the average, the first (warm-up decay min(0.999, 1 / 10) = 0.1).
    for shadow, start, weight in zip(values(model.ema_network.weights), initial, trained):
        np.testing.assert_allclose(shadow, 0.1 * start + 0.9 * weight, rtol=1e-5, atol=1e-7)


@keras.saving.register_keras_serializable(package="kgen_tests")
class Counted(GenerativeModel):
    """``a`` trained 3 times a step (a critic), then ``b`` once; the losses' gradients are
    the batch's mean of x, so each update's applied gradient is visible in the weights."""

    optimizer_names = ("critic", "generator")
    log_names = ("a_loss", "b_loss")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = self.add_weight(shape=(), initializer="zeros", name="a")
        self.b = self.add_weight(shape=(), initializer="zeros", name="b")
        self.built = True

    def a_loss(self, x, y=None, training=True):
        loss = self.a * ops.mean(x)
        return loss, {"a_loss": loss}

    def b_loss(self, x, y=None, training=True):
        loss = self.b * ops.mean(x)
        return loss, {"b_loss": loss}

    def training_updates(self):
        return [Update("critic", self.a_loss, [self.a], repeat=3),
                Update("generator", self.b_loss, [self.b])]


def test_an_update_repeated_in_a_step_applies_every_n_of_its_gradients(tmp_path):
    model = Counted(seed=0)
    model.compile(critic_optimizer=keras.optimizers.SGD(1.0),
                  generator_optimizer=keras.optimizers.SGD(1.0), accumulation_steps=2)
    # Batches whose means are 1 and 3: the critic computes 1, 1, 1 then 3, 3, 3 and
    # applies the means of (1, 1), (1, 3), (3, 3); the generator the mean of (1, 3).
    model.fit(np.array([[1.0]], "float32"), epochs=1, verbose=0)
    assert float(ops.convert_to_numpy(model.a)) == pytest.approx(-1.0)
    assert float(ops.convert_to_numpy(model.b)) == 0.0
    # A checkpoint between two updates holds the setting and the partial sums (the
    # critic's third gradient, the generator's first): the loaded model goes on.
    model.save(tmp_path / "held.keras")
    model = keras.saving.load_model(tmp_path / "held.keras")
    assert model.accumulation_steps == 2 and int(model.optimizer.accumulated_steps) == 1
    model.fit(np.array([[3.0]], "float32"), epochs=1, verbose=0)
    assert float(ops.convert_to_numpy(model.a)) == pytest.approx(-(1.0 + 2.0 + 3.0))
    assert float(ops.convert_to_numpy(model.b)) == pytest.approx(-2.0)
    assert int(model.optimizer["critic"].iterations) == 3
    assert int(model.optimizer["generator"].iterations) == 1
    assert int(model.optimizer.iterations) == 1


@covers("compile-accumulation-steps")
def test_bad_accumulation_steps_are_refused():
    model = kgen.models.Autoencoder.from_shape((6,), latent_dim=2, base_filters=2)
    for bad, error in ((0, ValueError), (-2, ValueError), (2.0, TypeError),
                       (True, TypeError), ("4", TypeError)):
        with pytest.raises(error, match="accumulation_steps must be an integer.*averaged "
                                        "into one update"):
            model.compile(accumulation_steps=bad)
    with pytest.raises(ValueError, match=r"gradient_accumulation_steps=4.*compile\("
                                         r"accumulation_steps=4\)"):
        model.compile(optimizer=keras.optimizers.Adam(gradient_accumulation_steps=4))
    model.compile(accumulation_steps=3)
    assert model.accumulation_steps == 3
    assert kgen.models.OptimizerGroup.from_config(
        model.optimizer.get_config()).accumulation_steps == 3
