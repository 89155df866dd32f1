"""VQ-GAN: the adaptive weight, the discriminator's start, the perceptual term, save/load,
the latent prior over its codes, and its errors."""

import keras
import numpy as np
import pytest
from keras import ops

import kgen
from kgen import backend, pretrained
from kgen.models.vqgan import VQGAN, perceptual_network

from harness import values

SHAPE = (8, 8, 1)
LAYERS = ("block1_conv1",)


def tiny_vqgan(perceptual="random", **kwargs):
    kwargs.setdefault("seed", 0)
    return VQGAN.from_shape(SHAPE, num_embeddings=8, embedding_dim=4, base_filters=4,
                            discriminator_layers=1, perceptual_weights=perceptual,
                            perceptual_layers=LAYERS, **kwargs)


@pytest.fixture(scope="module")
def batch():
    return kgen.data.to_data_space(kgen.data.load("digits")[:16])


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x), dtype="float64")


def adaptive_weight_by_hand(model, x):
    """``||grad L_rec|| / (||grad L_GAN|| + 1e-4)`` at the decoder's last kernel, clipped,
    each loss written out here and differentiated with backend.value_and_grad."""
    x = ops.convert_to_tensor(x)
    kernel = model.decoder.layers[-1].kernel

    def decoded():
        z = model.encoder(x, training=True)
        e = model.quantizer.lookup(model.quantizer.nearest_codes(z))
        return model.decoder(z + ops.stop_gradient(e - z), training=True)

    def reconstruction():
        x_hat = decoded()
        loss = ops.mean(ops.abs(x_hat - x))
        if model.perceptual is not None:     # LPIPS without learned weights, on grey as RGB
            fakes = model.perceptual(ops.repeat(x_hat, 3, axis=-1))
            reals = model.perceptual(ops.repeat(x, 3, axis=-1))
            if not isinstance(fakes, (list, tuple)):     # a network of one feature map
                fakes, reals = [fakes], [reals]
            for fake, real in zip(fakes, reals):
                loss = loss + ops.mean(ops.sum(ops.square(fake - real), axis=-1))
        return loss, None

    def adversarial():
        return -ops.mean(model.discriminator(decoded(), training=True)), None

    _, (rec,) = backend.value_and_grad(reconstruction, [kernel])()
    _, (gan,) = backend.value_and_grad(adversarial, [kernel])()
    ratio = np.linalg.norm(_numpy(rec)) / (np.linalg.norm(_numpy(gan)) + 1e-4)
    return float(np.clip(ratio, 0.0, 1e4))


def test_the_adaptive_weight_of_a_training_step_equals_a_direct_computation(batch):
    model = tiny_vqgan()
    assert model.last_layer_kernel is model.decoder.layers[-1].kernel
    expected = adaptive_weight_by_hand(model, batch)
    assert 0.0 < expected < 1e4
    model.compile()
    # One step on the whole batch: the model update comes first, at the initial weights.
    history = model.fit(batch, batch_size=len(batch), epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["adaptive_weight"][0], expected, rtol=1e-4)
    # The perceptual term is in the objective and in the logs.
    assert history.history["perceptual"][0] > 0.0


def test_nothing_adversarial_before_the_start_and_the_discriminator_moves_only_after(batch):
    start = 2
    first, second = tiny_vqgan(discriminator_start=start), tiny_vqgan(discriminator_start=start)
    # Same encoder, decoder and codebook; a different discriminator.
    for a, b in zip(first.weights, second.weights):
        b.assign(np.array(ops.convert_to_numpy(a)))
    rng = np.random.default_rng(1)
    for variable in second.discriminator.trainable_variables:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    d_before = values(first.discriminator.trainable_variables)
    logs = []
    for model in (first, second):
        model.compile()
        logs.append(model.fit(batch, batch_size=8, epochs=1, shuffle=False,
                              verbose=0).history)     # two steps, both before the start
    # The model's loss has no adversarial part: the discriminator changes nothing.
    np.testing.assert_allclose(logs[0]["loss"], logs[1]["loss"], rtol=1e-6)
    assert abs(logs[0]["g_adv"][0] - logs[1]["g_adv"][0]) > 1e-3
    for a, b in zip(values(first.encoder.variables + first.decoder.variables),
                    values(second.encoder.variables + second.decoder.variables)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for a, b in zip(values(first.discriminator.trainable_variables), d_before):
        np.testing.assert_array_equal(a, b)
    assert int(ops.convert_to_numpy(first.steps_trained)) == start
    assert float(ops.convert_to_numpy(first.discriminator_started())) == 1.0

    # From the start on, the discriminator trains and the adversarial term acts.
    for model in (first, second):
        model.fit(batch[:8], batch_size=8, epochs=1, verbose=0)
    assert max(np.abs(a - b).max() for a, b in zip(
        values(first.discriminator.trainable_variables), d_before)) > 1e-6
    assert max(np.abs(a - b).max() for a, b in zip(
        values(first.decoder.variables), values(second.decoder.variables))) > 1e-6


def test_save_and_load_keep_the_networks_the_step_count_and_the_objective(batch, tmp_path):
    model = tiny_vqgan(discriminator_start=1, codebook_update="loss")
    model.compile()
    history = model.fit(batch, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    assert set(history) >= {"codebook", "perceptual", "d_loss", "perplexity", "usage"}
    model.save(tmp_path / "vqgan.keras")
    loaded = keras.saving.load_model(tmp_path / "vqgan.keras")
    assert type(loaded) is VQGAN and loaded.optimizer_names == ("model", "discriminator")
    assert int(ops.convert_to_numpy(loaded.steps_trained)) == 2
    assert loaded.get_config()["discriminator_start"] == 1 and loaded.codebook_update == "loss"
    np.testing.assert_allclose(loaded.reconstruct(batch), model.reconstruct(batch), atol=1e-6)
    # The perceptual network is saved with the model: the same loss, nothing downloaded.
    for a, b in zip(values(loaded.perceptual.weights), values(model.perceptual.weights)):
        np.testing.assert_array_equal(a, b)
    # The optimizers' states are restored.
    assert int(ops.convert_to_numpy(loaded.optimizer["discriminator"].iterations)) == 2


def test_a_latent_prior_fits_the_codes_of_a_vqgan(batch, tmp_path):
    vqgan = tiny_vqgan(perceptual="none", discriminator_start=1)
    vqgan.compile()
    vqgan.fit(batch, batch_size=8, epochs=1, verbose=0)
    model = kgen.models.LatentPrior.from_vqvae(vqgan, filters=8, num_layers=1, seed=0)
    model.compile()
    history = model.fit(batch, batch_size=8, epochs=2, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    np.testing.assert_array_equal(model.encode(batch)[..., 0], vqgan.encode(batch))
    samples = model.generate(2, seed=0)
    assert samples.shape == (2,) + SHAPE and np.all(np.isfinite(samples))
    model.save(tmp_path / "prior.keras")
    loaded = keras.saving.load_model(tmp_path / "prior.keras")
    assert type(loaded.vqvae) is VQGAN
    np.testing.assert_allclose(loaded.generate(2, seed=0), samples, atol=1e-5)


def test_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="discriminator must take the encoder's images"):
        model = tiny_vqgan(perceptual="none")
        VQGAN(model.encoder, model.decoder,
              kgen.networks.patchgan_discriminator((16, 16, 1), base_filters=4))
    model = tiny_vqgan(perceptual="none")
    with pytest.raises(TypeError, match="perceptual must be a Keras model"):
        VQGAN(model.encoder, model.decoder, model.discriminator, perceptual="vgg")
    with pytest.raises(ValueError, match="pixel_loss"):
        tiny_vqgan(perceptual="none", pixel_loss="l3")
    with pytest.raises(ValueError, match="discriminator_start must be an integer of at least 0"):
        tiny_vqgan(perceptual="none", discriminator_start=-1)
    with pytest.raises(TypeError, match="discriminator_start must be an integer"):
        tiny_vqgan(perceptual="none", discriminator_start=1.5)
    with pytest.raises(ValueError, match="adversarial_weight must be a number in"):
        tiny_vqgan(perceptual="none", adversarial_weight=-0.1)
    with pytest.raises(ValueError, match="Unknown adversarial loss"):
        tiny_vqgan(perceptual="none", loss="hinged")
    with pytest.raises(TypeError, match="perceptual_weights must be one of"):
        tiny_vqgan(perceptual=3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tiny_vqgan(perceptual="/nonexistent/vgg19.h5")
    decoder = keras.Sequential([keras.Input((4, 4, 4)), keras.layers.UpSampling2D(2),
                                keras.layers.Lambda(lambda t: t[..., :1])])
    with pytest.raises(ValueError, match="trainable kernel"):
        VQGAN(model.encoder, decoder, model.discriminator)

    # Offline, without a cached copy: the error names the file and the fallbacks.
    def offline(weights, **kwargs):
        raise RuntimeError(pretrained.unavailable_message(
            weights, weights.origin, "/tmp/x.h5", "no network"))

    monkeypatch.setattr(pretrained, "fetch_weights", offline)
    with pytest.raises(RuntimeError, match="perceptual_weights='none'") as error:
        tiny_vqgan(perceptual="imagenet")
    assert "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5" in str(error.value)
    assert perceptual_network(SHAPE, "none") is None
