"""VAE: the negative ELBO, its terms, training, encode/decode, saving."""

import keras
import numpy as np
import pytest
from scipy import stats

import kgen
from kgen import losses
from kgen.networks import mlp

from harness import tiny_vae, values


def test_gaussian_kl_matches_the_closed_form():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(3, 5)).astype("float32")
    log_var = rng.normal(size=(3, 5)).astype("float32")
    expected = 0.5 * np.sum(np.exp(log_var) + mean**2 - 1.0 - log_var, axis=1)
    got = keras.ops.convert_to_numpy(losses.gaussian_kl(mean, log_var))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    zero = keras.ops.convert_to_numpy(losses.gaussian_kl(np.zeros((2, 4), "float32"),
                                                         np.zeros((2, 4), "float32")))
    np.testing.assert_allclose(zero, 0.0, atol=1e-7)


def test_reconstruction_likelihoods_match_scipy():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(2, 4, 4, 1)).astype("float32")
    mean = rng.uniform(-1, 1, size=x.shape).astype("float32")
    log_scale = np.float32(-0.7)
    expected = -stats.norm.logpdf(x, mean, np.exp(log_scale)).reshape(2, -1).sum(1)
    got = keras.ops.convert_to_numpy(losses.gaussian_nll(x, mean, log_scale))
    np.testing.assert_allclose(got, expected, rtol=1e-5)

    targets = rng.uniform(0, 1, size=x.shape).astype("float32")
    logits = rng.normal(size=x.shape).astype("float32")
    p = 1 / (1 + np.exp(-logits))
    expected = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).reshape(2, -1).sum(1)
    got = keras.ops.convert_to_numpy(losses.bernoulli_nll(targets, logits))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_vae_trains_and_its_loss_goes_down(digits):
    vae = tiny_vae(beta=2.0)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = vae.fit(kgen.data.images(digits[:512], batch_size=64, seed=0), epochs=4,
                      verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert history["reconstruction"][-1] < history["reconstruction"][0]
    # The logged loss is reconstruction + beta * KL (means of per-example values).
    for loss, rec, kl in zip(history["loss"], history["reconstruction"], history["kl"]):
        assert loss == pytest.approx(rec + 2.0 * kl, rel=1e-4)
        assert kl >= 0


def test_gaussian_decoder_learns_its_scale_or_keeps_a_fixed_one(digits_small):
    learned = tiny_vae(likelihood="gaussian")
    learned.compile()
    start = float(keras.ops.convert_to_numpy(learned.log_sigma))
    learned.fit(digits_small, batch_size=64, epochs=2, verbose=0)
    assert float(keras.ops.convert_to_numpy(learned.log_sigma)) != start

    fixed = tiny_vae(likelihood="gaussian", sigma=0.1)
    assert fixed.log_sigma is None
    assert all("log_sigma" not in v.path for v in fixed.trainable_variables)
    fixed.compile()
    loss = fixed.fit(digits_small, batch_size=64, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss)


def test_encode_decode_reconstruct_generate_shapes(digits_small):
    vae = tiny_vae()
    mean, log_var = vae.encode(digits_small[:5])
    assert mean.shape == (5, 4) and log_var.shape == (5, 4)
    assert vae.decode(mean).shape == (5, 8, 8, 1)
    recon = vae.reconstruct(digits_small[:5])
    assert recon.shape == (5, 8, 8, 1)
    assert recon.min() >= -1 and recon.max() <= 1  # Bernoulli means, mapped to data space
    np.testing.assert_allclose(vae.reconstruct(digits_small[:5]), recon, atol=1e-6)  # no noise
    # uint8 inputs are scaled to data space first.
    raw = kgen.data.load("digits")[:5]
    np.testing.assert_allclose(vae.encode(raw)[0], vae.encode(kgen.data.to_data_space(raw))[0],
                               atol=1e-6)
    a, b, c = vae.generate(6, seed=1), vae.generate(6, seed=1), vae.generate(6, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    with pytest.raises(ValueError, match=r"z must have shape \(n, 4\)"):
        vae.decode(np.zeros((2, 5), "float32"))


def test_training_improves_reconstructions(digits):
    x = kgen.data.to_data_space(digits[:512])
    vae = tiny_vae()
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))

    def error():
        return float(np.mean(np.square(vae.reconstruct(x[:128]) - x[:128])))

    before = error()
    vae.fit(x, batch_size=64, epochs=6, verbose=0)
    assert error() < 0.8 * before


def test_encoder_with_two_outputs_and_mlp_networks():
    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    encoder = keras.Model(inputs, [keras.layers.Dense(3)(hidden), keras.layers.Dense(3)(hidden)])
    decoder = mlp(3, 2, (16,), name="decoder")
    vae = kgen.models.VAE(encoder, decoder, likelihood="gaussian", seed=0)
    assert vae.latent_dim == 3
    vae.compile()
    points = kgen.data.load("ring", num_samples=256)
    history = vae.fit(points, batch_size=64, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert vae.encode(points[:4])[0].shape == (4, 3)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="Unknown likelihood 'poisson'; choose one of "
                                         "'bernoulli', 'gaussian'"):
        tiny_vae(likelihood="poisson")
    with pytest.raises(ValueError, match=r"sigma must be a number in \(0, inf"):
        tiny_vae(likelihood="gaussian", sigma=-1.0)
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, inf"):
        tiny_vae(beta=-1.0)
    with pytest.raises(ValueError, match="sigma must be 'learned' or a positive number"):
        tiny_vae(likelihood="gaussian", sigma="fixed")
    # The wrong type is a TypeError, a value out of range a ValueError.
    with pytest.raises(TypeError, match="beta must be a number"):
        tiny_vae(beta="2")
    with pytest.raises(TypeError, match="latent_dim must be an integer"):
        kgen.models.VAE.from_shape((8, 8, 1), latent_dim=2.5)
    with pytest.raises(ValueError, match="latent_dim must be an integer of at least 1"):
        kgen.models.VAE.from_shape((8, 8, 1), latent_dim=0)
    with pytest.raises(ValueError, match=r"image shape \(height, width, channels\) or a vector"):
        kgen.models.VAE.from_shape((8, 8))


def test_samples_follow_the_data_space_rule(digits_small):
    vae = tiny_vae(likelihood="gaussian")
    raw = kgen.data.load("digits")[:4]
    # uint8 images are converted exactly as kgen.data.to_data_space converts them.
    np.testing.assert_array_equal(vae.encode(raw)[0],
                                  vae.encode(kgen.data.to_data_space(raw))[0])
    # Float images outside [-1, 1] (0..255 values, say) are refused ...
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
        vae.encode(raw.astype("float32"))
    with pytest.raises(ValueError, match=r"models samples of shape \(8, 8, 1\)"):
        vae.encode(np.zeros((2, 8, 8, 3), "float32"))
    # ... except by the likelihood estimates, which take dequantised images (half a level
    # past [-1, 1]) as they are.
    dequantised = kgen.metrics.dequantize(raw, seed=0)
    assert dequantised.max() > 1.0 or dequantised.min() < -1.0
    log_p = vae.log_likelihood(dequantised, num_samples=4, seed=0)
    assert log_p.shape == (4,) and np.all(np.isfinite(log_p))
    with pytest.raises(ValueError, match="NaN or infinite"):
        vae.log_likelihood(np.full((1, 8, 8, 1), np.nan, "float32"), num_samples=2)


def test_default_networks_keep_their_layer_names():
    # Checkpoints store these names: the builders must keep them.
    enc = kgen.networks.encoder((8, 8, 1), 8, base_filters=8)
    dec = kgen.networks.decoder((8, 8, 1), 4, base_filters=8)
    assert [layer.name for layer in enc.layers] == [
        "encoder_image", "encoder_conv_0", "encoder_act_0", "encoder_down_1",
        "encoder_act_1", "encoder_flatten", "encoder_out"]
    assert [layer.name for layer in dec.layers] == [
        "decoder_latent", "decoder_project", "decoder_reshape", "decoder_relu_0",
        "decoder_up_1", "decoder_relu_1", "decoder_out"]
    assert enc.output_shape == (None, 8) and dec.output_shape == (None, 8, 8, 1)
    # No batch normalisation, ReLU activations and a linear output.
    assert not any(isinstance(layer, keras.layers.BatchNormalization)
                   for layer in enc.layers + dec.layers)
    assert enc.get_layer("encoder_act_1").activation is keras.activations.relu
    assert dec.get_layer("decoder_out").activation is keras.activations.linear
    vectors = kgen.networks.encoder((2,), 6, base_filters=4)
    assert [layer.name for layer in vectors.layers] == [
        "encoder_input", "encoder_dense_0", "encoder_dense_1", "encoder_out"]
    assert [layer.units for layer in vectors.layers[1:]] == [16, 16, 6]
    assert [layer.name for layer in kgen.networks.decoder((2,), 3).layers] == [
        "decoder_input", "decoder_dense_0", "decoder_dense_1", "decoder_out"]
    # from_shape builds exactly these networks.
    vae = tiny_vae()
    assert [layer.name for layer in vae.encoder.layers] == [layer.name for layer in enc.layers]
    assert [layer.name for layer in vae.decoder.layers] == [layer.name for layer in dec.layers]


def test_importance_weighted_terms_in_closed_form():
    from kgen.models import importance_weighted

    # log_mean_exp is log (1/K) sum_k exp(log_w_k), to float32 precision relative to the
    # largest weight: very negative weights (exp(-1000) is 0 in float64) lose nothing.
    log_w = np.array([[np.log(1.0), np.log(3.0)], [-1000.0, -1000.0 + np.log(3.0)]])
    np.testing.assert_allclose(importance_weighted.log_mean_exp(log_w),
                               [np.log(2.0), -1000.0 + np.log(2.0)], rtol=0, atol=1e-6)
    # log w = log p(x|z) + log N(z; 0, I) - log N(z; mean, sigma^2).
    rng = np.random.default_rng(0)
    eps = rng.normal(size=(5, 3)).astype("float32")
    mean = rng.normal(size=(5, 3)).astype("float32")
    log_var = rng.normal(size=(5, 3)).astype("float32")
    z = mean + np.exp(0.5 * log_var) * eps
    log_px = rng.normal(size=5).astype("float32")
    expected = (log_px + stats.norm.logpdf(z).sum(1)
                - stats.norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(1))
    got = keras.ops.convert_to_numpy(
        importance_weighted.log_importance_weights(log_px, z, eps, log_var))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # The ELBO is the mean log p(x|z) less the KL; the IWAE estimate is above it.
    elbo, log_p = importance_weighted.bounds(log_w, log_w + 0.5, np.array([0.25, 0.25]))
    np.testing.assert_allclose(elbo, log_w.mean(1) + 0.25)
    assert np.all(log_p >= log_w.mean(1))
    # VAE.log_likelihood_bounds is these functions applied to the VAE's terms.
    vae = tiny_vae(likelihood="gaussian")
    x = kgen.data.to_data_space(kgen.data.load("digits")[:6])
    samples = importance_weighted.importance_samples(vae, vae.importance_terms, x, 8,
                                                     batch_size=16, seed=3)
    assert [part.shape for part in samples] == [(6, 8), (6, 8), (6,)]
    for got, want in zip(importance_weighted.bounds(*samples),
                         vae.log_likelihood_bounds(x, 8, batch_size=16, seed=3)):
        np.testing.assert_array_equal(got, want)


def test_save_load_round_trip_and_continued_training(tmp_path, digits_small):
    vae = tiny_vae(likelihood="gaussian")
    vae.compile()
    vae.fit(digits_small, batch_size=64, epochs=1, verbose=0)
    path = str(tmp_path / "vae.keras")
    vae.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kgen.models.VAE) and loaded.likelihood == "gaussian"
    np.testing.assert_allclose(loaded.generate(8, seed=0), vae.generate(8, seed=0), atol=1e-6)
    np.testing.assert_allclose(values([loaded.log_sigma]), values([vae.log_sigma]))
    before = int(keras.ops.convert_to_numpy(loaded.optimizer["model"].iterations))
    loaded.fit(digits_small, batch_size=64, epochs=1, verbose=0)
    assert int(keras.ops.convert_to_numpy(loaded.optimizer["model"].iterations)) == before + 4
