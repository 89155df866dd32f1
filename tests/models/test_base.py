"""The shared training core: ordered updates, optimizer group, state on every backend."""

import keras
import numpy as np
import pytest
from keras import ops

import kgen
from kgen.models import GenerativeModel, OptimizerGroup, Update
from kgen.networks import mlp

from harness import tiny_gan, tiny_vae, values


@keras.saving.register_keras_serializable(package="kgen_tests")
class TwoStep(GenerativeModel):
    """a is pulled to 3, then b is pulled to a: b == 3 after one step only if the second
    update sees the value that the first one wrote."""

    optimizer_names = ("first", "second")
    log_names = ("a_loss", "b_loss", "noise")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = self.add_weight(shape=(), initializer="zeros", name="a")
        self.b = self.add_weight(shape=(), initializer="zeros", name="b")
        self.built = True

    def a_loss(self, x, y=None, training=True):
        loss = 0.5 * ops.square(self.a - 3.0) + 0.0 * ops.sum(x)
        return loss, {"a_loss": loss}

    def b_loss(self, x, y=None, training=True):
        noise = keras.random.uniform((), seed=self.seed_generator)
        loss = 0.5 * ops.square(self.b - self.a)
        return loss, {"b_loss": loss, "noise": noise}

    def training_updates(self):
        return [Update("first", self.a_loss, [self.a]),
                Update("second", self.b_loss, [self.b])]


def test_each_update_sees_the_variables_changed_by_earlier_ones():
    model = TwoStep(seed=1)
    model.compile(first_optimizer=keras.optimizers.SGD(1.0),
                  second_optimizer=keras.optimizers.SGD(1.0))
    model.fit(np.zeros((4, 1), "float32"), batch_size=4, epochs=1, verbose=0)
    # One SGD step with learning rate 1 on 0.5 (a - 3)^2 moves a to 3 exactly;
    # the second update then moves b to the *new* a.
    assert float(ops.convert_to_numpy(model.a)) == pytest.approx(3.0)
    assert float(ops.convert_to_numpy(model.b)) == pytest.approx(3.0)


def test_seed_generator_state_advances_so_noise_differs_between_steps():
    model = TwoStep(seed=1)
    model.compile(optimizer="sgd")
    before = values([model.seed_generator.state])[0]
    noises = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            noises.append(float(logs["noise"]))

    model.fit(np.zeros((12, 1), "float32"), batch_size=4, epochs=1, verbose=0,
              callbacks=[Record()])
    after = values([model.seed_generator.state])[0]
    assert not np.array_equal(before, after)
    # The logged value is the running mean of the noise: different draws change it.
    assert len(set(noises)) == 3


def test_every_optimizer_keeps_its_state(digits_small):
    gan = tiny_gan()
    gan.compile()
    gan.fit(digits_small, batch_size=64, epochs=2, verbose=0)
    steps = 2 * len(digits_small) // 64
    for name in ("discriminator", "generator"):
        optimizer = gan.optimizer[name]
        assert int(ops.convert_to_numpy(optimizer.iterations)) == steps
        slots = [v for v in optimizer.variables if "momentum" in v.path or "velocity" in v.path]
        assert slots and all(np.any(s != 0) for s in values(slots)), name
    assert int(ops.convert_to_numpy(gan.optimizer.iterations)) == steps


def test_compile_takes_optimizers_by_name_and_has_defaults():
    gan = tiny_gan()
    gan.compile(generator_optimizer=keras.optimizers.SGD(0.1), discriminator_optimizer="rmsprop")
    assert isinstance(gan.optimizer, OptimizerGroup)
    assert isinstance(gan.optimizer["generator"], keras.optimizers.SGD)
    assert isinstance(gan.optimizer["discriminator"], keras.optimizers.RMSprop)

    gan = tiny_gan()
    gan.compile()
    for name in ("generator", "discriminator"):
        optimizer = gan.optimizer[name]
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert float(ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(2e-4)
        assert optimizer.beta_1 == pytest.approx(0.5)


def test_one_template_optimizer_gives_each_network_its_own_copy():
    gan = tiny_gan()
    gan.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert gan.optimizer["generator"] is not gan.optimizer["discriminator"]
    assert float(ops.convert_to_numpy(gan.optimizer["generator"].learning_rate)) == pytest.approx(1e-3)


def test_compile_rejects_foreign_arguments():
    gan = tiny_gan()
    with pytest.raises(ValueError, match="defines its own training objective"):
        gan.compile(loss="mse")
    with pytest.raises(TypeError, match="encoder_optimizer"):
        gan.compile(encoder_optimizer="adam")


def test_validation_data_runs_the_test_step(digits_small):
    gan = tiny_gan()
    gan.compile()
    history = gan.fit(digits_small, batch_size=64, epochs=1, verbose=0,
                      validation_data=digits_small[:64])
    for key in ("d_loss", "g_loss", "real_accuracy", "fake_accuracy"):
        assert np.isfinite(history.history[f"val_{key}"][0])
    before = values(gan.trainable_variables)
    result = gan.evaluate(digits_small[:64], batch_size=64, verbose=0, return_dict=True)
    assert set(result) == {"d_loss", "g_loss", "real_accuracy", "fake_accuracy"}
    # Evaluation does not train.
    for a, b in zip(before, values(gan.trainable_variables)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_jit_compile(jit_compile):
    if jit_compile and keras.backend.backend() == "torch":
        pytest.skip("jit_compile=True means torch.compile on the torch backend; not exercised here")
    # One step of an MLP GAN on 2-D points: without jit, JAX compiles and runs every
    # operation on its own, so a network of few operations.
    points = kgen.data.load("ring", num_samples=32, seed=0)
    gan = kgen.models.GAN(generator=mlp(4, 2, (8,), name="generator"),
                          discriminator=mlp(2, 1, (8,), name="discriminator"), seed=0)
    gan.compile(jit_compile=jit_compile)
    history = gan.fit(points, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][0])
    assert gan.jit_compile == jit_compile


def test_value_and_grad_outside_a_training_step():
    w = keras.Variable(3.0)
    (loss, aux), (grad,) = kgen.backend.value_and_grad(lambda s: (w * w * s, "aux"), [w])(2.0)
    assert float(ops.convert_to_numpy(loss)) == pytest.approx(18.0)
    assert float(ops.convert_to_numpy(grad)) == pytest.approx(12.0)
    assert aux == "aux"


def test_keras_learning_rate_callbacks_set_the_members_rates(digits_small):
    """LearningRateScheduler and ReduceLROnPlateau reach the optimizers that train: the
    only member of a one-optimizer group, every member of a GAN's (whose two default Adams
    are logged apart); the rate of a group of several is read by name."""
    x = digits_small[:64]
    vae = tiny_vae()
    vae.compile(keras.optimizers.Adam(1e-3))
    halve = keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate * 0.5)
    history = vae.fit(x, batch_size=32, epochs=2, verbose=0, callbacks=[halve])
    assert float(ops.convert_to_numpy(vae.optimizer["model"].learning_rate)) == \
        pytest.approx(2.5e-4)
    assert history.history["learning_rate"] == pytest.approx([5e-4, 2.5e-4])

    gan = tiny_gan()
    gan.compile()
    assert [o.name for o in gan.optimizer.optimizers] == ["discriminator_adam",
                                                          "generator_adam"]
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="g_loss", mode="min", patience=0,
                                               min_delta=1e9, factor=0.5)
    # The first epoch sets the best loss; every later one reduces (nothing beats it by 1e9).
    history = gan.fit(x, batch_size=32, epochs=3, verbose=0, callbacks=[reduce])
    for name in ("generator", "discriminator"):
        rate = gan.optimizer[name].learning_rate
        assert float(ops.convert_to_numpy(rate)) == pytest.approx(2e-4 * 0.25), name
        assert history.history[f"learning_rate_{name}_adam"] == pytest.approx([2e-4, 2e-4, 1e-4])
    with pytest.raises(AttributeError, match=r"optimizer\['discriminator'\].learning_rate"):
        gan.optimizer.learning_rate
    with pytest.raises(AttributeError, match="by name"):
        gan.optimizer.learning_rate = 1e-3


def test_optimizer_group_round_trips_through_config():
    group = OptimizerGroup({"generator": keras.optimizers.Adam(1e-4),
                            "discriminator": keras.optimizers.SGD(0.5)})
    clone = OptimizerGroup.from_config(group.get_config())
    assert isinstance(clone["discriminator"], keras.optimizers.SGD)
    assert float(ops.convert_to_numpy(clone["generator"].learning_rate)) == pytest.approx(1e-4)
    with pytest.raises(KeyError, match="No optimizer named"):
        clone["encoder"]


class DigitBatches(keras.utils.PyDataset):
    def __init__(self, x, batch_size):
        super().__init__()
        self.x, self.batch_size = x, batch_size

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, index):
        return self.x[index * self.batch_size : (index + 1) * self.batch_size]


def test_fit_accepts_numpy_tf_data_and_py_dataset(digits, digits_small):
    for data, kwargs in (
        (digits_small, {"batch_size": 64}),
        (kgen.data.images(digits[:256], batch_size=64, seed=0), {}),
        (DigitBatches(digits_small, 64), {}),
    ):
        gan = tiny_gan()
        gan.compile()
        gan.fit(data, epochs=1, verbose=0, **kwargs)
        assert int(ops.convert_to_numpy(gan.optimizer["generator"].iterations)) == 4
