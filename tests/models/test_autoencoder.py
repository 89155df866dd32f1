"""Autoencoder: reconstruction loss, denoising (training only), the code Gaussian, saving."""

import keras
import numpy as np
import pytest

import kgen


def tiny_ae(**kwargs):
    kwargs.setdefault("seed", 0)
    return kgen.models.Autoencoder.from_shape((8, 8, 1), latent_dim=4, base_filters=8,
                                              **kwargs)


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_denoising_autoencoder_trains_and_corrupts_only_in_training(digits_small):
    ae = tiny_ae(noise="gaussian", noise_level=0.5)
    x = digits_small[:128]
    # The corruption: fresh Gaussian noise of the given scale in training, none otherwise.
    np.testing.assert_array_equal(_numpy(ae.corrupt(x, training=False)), x)
    noisy = _numpy(ae.corrupt(x, training=True))
    assert np.std(noisy - x) == pytest.approx(0.5, rel=0.05)
    assert not np.allclose(_numpy(ae.corrupt(x, training=True)), noisy)

    ae.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = ae.fit(x, batch_size=64, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    # Evaluation sees the clean input: its loss is the MSE of the clean reconstructions,
    # which are deterministic.
    recon = ae.reconstruct(x)
    np.testing.assert_array_equal(ae.reconstruct(x), recon)
    clean = float(np.mean((recon - x) ** 2))
    logs = ae.evaluate(x, batch_size=128, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(clean, rel=1e-4)
    # A training loss reconstructs the clean batch from the corrupted one: replay the
    # noise by resetting the seed generator.
    state = _numpy(ae.seed_generator.state)
    noisy = _numpy(ae.corrupt(x, training=True))
    ae.seed_generator.state.assign(state)
    loss, _ = ae.reconstruction_loss(x, training=True)
    expected = np.mean((_numpy(ae.decoder(ae.encoder(noisy))) - x) ** 2)
    assert float(_numpy(loss)) == pytest.approx(expected, rel=1e-4)
    assert float(_numpy(loss)) != pytest.approx(clean, rel=1e-3)


def test_masking_noise_and_bce_reconstructions(digits_small):
    ae = tiny_ae(noise="masking", noise_level=0.3, reconstruction="bce")
    x = digits_small[:64]
    masked = _numpy(ae.corrupt(x, training=True))
    changed = masked != x
    assert np.all(masked[changed] == -1.0)
    # Values already at -1 cannot change; among the others about 30% are masked.
    assert np.mean(changed[x != -1.0]) == pytest.approx(0.3, abs=0.06)
    recon = ae.reconstruct(x)
    assert recon.min() >= -1 and recon.max() <= 1
    # BCE per dimension, in closed form from the logits.
    logits = _numpy(ae.decoder(ae.encoder(x)))
    t = (x + 1) / 2
    expected = np.mean(np.logaddexp(0, logits) - t * logits)
    loss, _ = ae.reconstruction_loss(x, training=False)
    assert float(_numpy(loss)) == pytest.approx(expected, rel=1e-5)


def test_generate_from_the_fitted_code_gaussian_and_save_load(tmp_path, digits_small):
    ae = tiny_ae()
    with pytest.raises(ValueError, match="call fit_latent_gaussian"):
        ae.generate(4, seed=0)
    z = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(ae.generate(latents=z), ae.decode(z))

    ae.fit_latent_gaussian(digits_small)
    codes = ae.encode(digits_small).astype("float64")
    np.testing.assert_allclose(_numpy(ae.latent_mean), codes.mean(0), rtol=1e-4, atol=1e-6)
    chol = _numpy(ae.latent_cholesky).astype("float64")
    np.testing.assert_allclose(chol @ chol.T, np.cov(codes, rowvar=False), rtol=1e-3,
                               atol=1e-5)
    a, b, c = ae.generate(6, seed=1), ae.generate(6, seed=1), ae.generate(6, seed=2)
    assert a.shape == (6, 8, 8, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)

    ae.compile()
    path = str(tmp_path / "ae.keras")
    ae.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kgen.models.Autoencoder)
    assert loaded.get_config()["noise"] is None
    np.testing.assert_allclose(loaded.generate(6, seed=1), a, atol=1e-6)
    np.testing.assert_allclose(loaded.reconstruct(digits_small[:8]),
                               ae.reconstruct(digits_small[:8]), atol=1e-6)


def test_bad_options_and_inputs_are_rejected():
    with pytest.raises(ValueError, match="Unknown reconstruction 'l1'; choose one of 'mse', 'bce'"):
        tiny_ae(reconstruction="l1")
    with pytest.raises(ValueError, match="Unknown noise 'salt'"):
        tiny_ae(noise="salt")
    with pytest.raises(ValueError,
                       match=r"noise_level \(a masking probability\) must be a number in \[0, 1\)"):
        tiny_ae(noise="masking", noise_level=1.5)
    ae = tiny_ae()
    with pytest.raises(ValueError, match=r"latents must have shape \(n, 4\)"):
        ae.decode(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"models samples of shape \(8, 8, 1\)"):
        ae.encode(np.zeros((2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="at least 2 samples"):
        ae.fit_latent_gaussian(np.zeros((1, 8, 8, 1), "float32"))
