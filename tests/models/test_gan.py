"""GAN: DCGAN networks, training through fit(), sampling, saving."""

import keras
import numpy as np
import pytest

import kgen
from kgen.networks import dcgan_discriminator, dcgan_generator, mlp

from harness import tiny_gan, values


@pytest.mark.parametrize("shape", [(8, 8, 1), (16, 16, 3), (28, 28, 1), (32, 32, 3), (64, 64, 3)])
def test_dcgan_networks_for_each_image_size(shape):
    generator = dcgan_generator(shape, latent_dim=10, base_filters=4)
    discriminator = dcgan_discriminator(shape, base_filters=4)
    assert generator.output_shape == (None,) + shape
    assert discriminator.output_shape == (None, 1)
    out = keras.ops.convert_to_numpy(generator(np.zeros((2, 10), "float32")))
    assert out.min() >= -1.0 and out.max() <= 1.0  # tanh output
    kinds = {type(layer).__name__ for layer in discriminator.layers}
    assert "BatchNormalization" in kinds and "LeakyReLU" in kinds
    assert not any("Pool" in kind for kind in kinds)  # strided convolutions, no pooling


def test_dcgan_rejects_sizes_it_cannot_build():
    with pytest.raises(ValueError, match="too small or odd"):
        dcgan_generator((6, 6, 1))
    with pytest.raises(ValueError, match="height, width, channels"):
        kgen.models.GAN.from_shape((8, 8))


def test_gan_trains_on_digits_and_logs_its_losses(digits):
    gan = tiny_gan()
    gan.compile()
    history = gan.fit(kgen.data.images(digits[:512], batch_size=64, seed=0), epochs=3,
                      verbose=0).history
    for key in ("d_loss", "g_loss", "real_accuracy", "fake_accuracy"):
        assert len(history[key]) == 3 and np.all(np.isfinite(history[key])), key
        if key.endswith("accuracy"):
            assert 0.0 <= min(history[key]) and max(history[key]) <= 1.0
    # Non-saturating generator loss -log D(G(z)) is positive.
    assert min(history["g_loss"]) > 0


def test_each_network_update_lowers_its_own_loss(digits):
    data = kgen.data.images(digits[:512], batch_size=64, seed=0)
    frozen = keras.optimizers.SGD(0.0)

    # Generator frozen: the discriminator learns to tell digits from its fixed samples,
    # and ends far below log(4), the loss of a coin flip.
    gan = tiny_gan()
    gan.compile(generator_optimizer=frozen, discriminator_optimizer=keras.optimizers.Adam(1e-3))
    d_loss = gan.fit(data, epochs=3, verbose=0).history["d_loss"]
    assert d_loss[-1] < d_loss[0] and d_loss[-1] < 0.5 * np.log(4.0)

    # Discriminator frozen: the generator learns to fool it.
    gan = tiny_gan()
    gan.compile(generator_optimizer=keras.optimizers.Adam(1e-3),
                discriminator_optimizer=keras.optimizers.SGD(0.0))
    g_loss = gan.fit(data, epochs=3, verbose=0).history["g_loss"]
    assert g_loss[-1] < 0.5 * g_loss[0]


def test_minimax_generator_loss_is_negative(digits_small):
    gan = tiny_gan(loss="minimax")
    gan.compile()
    history = gan.fit(digits_small, batch_size=64, epochs=1, verbose=0).history
    # log(1 - D(G(z))) < 0.
    assert history["g_loss"][0] < 0
    with pytest.raises(ValueError, match="Unknown adversarial loss"):
        tiny_gan(loss="hinge-ish")


def test_discriminator_batchnorm_statistics_change_during_training(digits_small):
    gan = tiny_gan()
    gan.compile()
    moving = [v for v in gan.discriminator.non_trainable_variables if "moving" in v.path]
    assert moving
    before = values(moving)
    gan.fit(digits_small, batch_size=64, epochs=1, verbose=0)
    after = values(moving)
    assert all(not np.allclose(a, b) for a, b in zip(before, after))


def test_same_seed_same_samples_different_seed_different_samples():
    gan = tiny_gan()
    a, b, c = gan.generate(8, seed=3), gan.generate(8, seed=3), gan.generate(8, seed=4)
    assert a.shape == (8, 8, 8, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(gan.generate(8), gan.generate(8))  # no seed: fresh noise


def test_generate_from_given_latents():
    gan = tiny_gan()
    z = gan.sample_latents(5, seed=0)
    expected = keras.ops.convert_to_numpy(gan.generator(z, training=False))
    np.testing.assert_allclose(gan.generate(latents=z), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"latents must have shape \(n, 16\)"):
        gan.generate(latents=np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="num_samples"):
        gan.generate()
    with pytest.raises(ValueError, match="at least 1"):
        gan.generate(0)


def test_save_load_gives_the_same_samples_and_training_continues(tmp_path, digits_small):
    gan = tiny_gan()
    gan.compile()
    gan.fit(digits_small, batch_size=64, epochs=1, verbose=0)
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kgen.models.GAN)
    np.testing.assert_allclose(loaded.generate(16, seed=0), gan.generate(16, seed=0), atol=1e-6)
    # Optimizer state came back, and training goes on from it.
    for name in ("generator", "discriminator"):
        for a, b in zip(values(gan.optimizer[name].variables),
                        values(loaded.optimizer[name].variables)):
            np.testing.assert_allclose(a, b, atol=1e-7)
    steps = int(keras.ops.convert_to_numpy(loaded.optimizer["generator"].iterations))
    before = values(loaded.generator.trainable_variables)
    history = loaded.fit(digits_small, batch_size=64, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0])
    assert int(keras.ops.convert_to_numpy(loaded.optimizer["generator"].iterations)) == steps + 4
    assert any(not np.allclose(a, b) for a, b in zip(before, values(loaded.generator.trainable_variables)))


def test_mlp_gan_on_the_ring_trains_through_fit():
    points = kgen.data.load("ring", num_samples=2048, seed=0)
    generator = mlp(4, 2, (64, 64), name="generator")
    discriminator = mlp(2, 1, (64, 64), activation="leaky_relu", name="discriminator")
    gan = kgen.models.GAN(generator=generator, discriminator=discriminator, seed=0)
    assert gan.latent_dim == 4
    gan.compile(generator_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
                discriminator_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))

    def near_ring(samples):
        return float(np.mean(np.abs(np.linalg.norm(samples, axis=1) - 1.0) < 0.25))

    before = near_ring(gan.generate(1024, seed=0))
    history = gan.fit(points, batch_size=128, epochs=12, verbose=0).history
    after = near_ring(gan.generate(1024, seed=0))
    assert np.all(np.isfinite(history["g_loss"])) and np.all(np.isfinite(history["d_loss"]))
    # Untrained, the samples sit in a blob near the origin; trained, a good share of them
    # lies on the ring (within 0.25 of radius 1).
    assert before < 0.1
    assert after > 0.15


def test_mismatched_networks_are_rejected():
    generator = dcgan_generator((8, 8, 1), latent_dim=10, base_filters=4)
    with pytest.raises(ValueError, match="the discriminator takes"):
        kgen.models.GAN(generator, dcgan_discriminator((16, 16, 1), base_filters=4))
    with pytest.raises(ValueError, match="one logit per sample"):
        kgen.models.GAN(generator, dcgan_discriminator((8, 8, 1), output_dim=3, base_filters=4))
    with pytest.raises(TypeError, match="generator must be a Keras model"):
        kgen.models.GAN("not a model", dcgan_discriminator((8, 8, 1), base_filters=4), latent_dim=10)


def test_gan_options_round_trip_through_config():
    gan = tiny_gan(loss="hinge", gradient_penalty="r1", penalty_weight=2.0,
                   discriminator_steps=3, ema=0.99)
    config = gan.get_config()
    for key, value in (("loss", "hinge"), ("gradient_penalty", "r1"), ("penalty_weight", 2.0),
                       ("discriminator_steps", 3), ("ema", 0.99)):
        assert config[key] == value, key
    clone = kgen.models.GAN.from_config(config)
    assert clone.log_names == ("d_loss", "g_loss", "real_accuracy", "fake_accuracy", "gp")
    assert clone.discriminator_steps == 3 and clone.resolved_penalty_weight == 2.0
    assert clone.ema_generator is not None and clone.sampling_generator is clone.ema_generator
    assert tiny_gan().ema_generator is None
    # A gradient penalty is per sample: from_shape leaves batch norm out of the critic.
    kinds = {type(layer).__name__ for layer in gan.discriminator.layers}
    assert "BatchNormalization" not in kinds
