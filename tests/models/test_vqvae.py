"""VQ-VAE: quantisation, straight-through gradients, EMA codebook, restarts, logs, the prior."""

import keras
import numpy as np
import pytest

import kgen
from kgen import backend, replica
from kgen.networks import VectorQuantizer

from harness import values


def tiny_vqvae(**kwargs):
    kwargs.setdefault("seed", 0)
    return kgen.models.VQVAE.from_shape((8, 8, 1), num_embeddings=8, embedding_dim=4,
                                        base_filters=8, **kwargs)


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_quantizer_picks_the_nearest_code_and_passes_gradients_straight_through():
    vq = VectorQuantizer(num_embeddings=6, embedding_dim=3, seed=0)
    z = np.random.default_rng(0).normal(size=(2, 4, 5, 3)).astype("float32")
    codebook = _numpy(vq.embeddings)
    distances = ((z[..., None, :] - codebook) ** 2).sum(-1)
    expected = distances.argmin(-1)
    np.testing.assert_array_equal(_numpy(vq.nearest_codes(z)), expected)
    np.testing.assert_allclose(_numpy(vq(z)), codebook[expected], atol=1e-6)
    # Straight-through: d sum(c * vq(z)) / dz = c.
    c = np.random.default_rng(1).normal(size=z.shape).astype("float32")
    grad = backend.input_gradient(lambda t: keras.ops.multiply(vq(t), c), z)
    np.testing.assert_allclose(_numpy(grad), c, atol=1e-6)


def test_ema_update_moves_used_codes_to_their_assigned_means_and_keeps_unused_ones():
    vq = VectorQuantizer(num_embeddings=4, embedding_dim=2, decay=0.5, epsilon=1e-5,
                         restart_after=None, seed=0)
    codebook = np.array([[0, 0], [10, 0], [0, 10], [-50, -50]], "float32")
    vq.embeddings.assign(codebook)
    z = np.array([[1, 0], [0, 1], [9, 1], [11, -1], [10, 2]], "float32")
    vq.update_codebook(z)
    # Closed form: N = 0.5 n, m = 0.5 sum z, N' = (N + eps) / (sum N + K eps) * sum N.
    n = np.array([2, 3, 0, 0], "float64")
    sums = np.array([[1, 1], [30, 2], [0, 0], [0, 0]], "float64")
    size, total = 0.5 * n, 0.5 * n.sum()
    smoothed = (size + 1e-5) / (total + 4e-5) * total
    new = _numpy(vq.embeddings)
    np.testing.assert_allclose(new[:2], (0.5 * sums / smoothed[:, None])[:2], rtol=1e-5)
    np.testing.assert_array_equal(new[2:], codebook[2:])      # unused: unchanged
    np.testing.assert_allclose(_numpy(vq.ema_cluster_size), size, rtol=1e-6)
    # The used codes moved toward the mean of their assigned vectors.
    means = sums[:2] / n[:2, None]
    assert np.all(np.linalg.norm(new[:2] - means, axis=1)
                  < np.linalg.norm(codebook[:2] - means, axis=1))
    np.testing.assert_array_equal(_numpy(vq.unused_steps), [0, 0, 1, 1])


def test_dead_codes_are_restarted_from_the_batch():
    vq = VectorQuantizer(num_embeddings=5, embedding_dim=2, restart_after=2, seed=3)
    codebook = np.array([[0, 0], [90, 90], [-90, 90], [90, -90], [-90, -90]], "float32")
    vq.embeddings.assign(codebook)
    z = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    vq.update_codebook(z)
    np.testing.assert_array_equal(_numpy(vq.embeddings)[1:], codebook[1:])  # not dead yet
    vq.update_codebook(z)
    new = _numpy(vq.embeddings)
    for row in new[1:]:   # each dead code is now one of the batch's vectors
        assert np.min(np.abs(z - row).sum(1)) < 1e-6
    np.testing.assert_array_equal(_numpy(vq.unused_steps), 0)
    np.testing.assert_allclose(_numpy(vq.ema_cluster_size)[1:], 1.0)


def test_quantizer_options_are_checked():
    with pytest.raises(ValueError, match="num_embeddings must be an integer of at least 1"):
        VectorQuantizer(num_embeddings=0, embedding_dim=2)
    with pytest.raises(TypeError, match="embedding_dim must be an integer"):
        VectorQuantizer(num_embeddings=4, embedding_dim=2.0)
    with pytest.raises(ValueError, match=r"decay must be a number in \[0, 1\)"):
        VectorQuantizer(num_embeddings=4, embedding_dim=2, decay=1.0)
    with pytest.raises(ValueError, match=r"epsilon must be a number in \(0, inf\]"):
        VectorQuantizer(num_embeddings=4, embedding_dim=2, epsilon=0.0)
    with pytest.raises(TypeError, match="restart_after must be an integer"):
        VectorQuantizer(num_embeddings=4, embedding_dim=2, restart_after=True)
    assert VectorQuantizer(num_embeddings=4, embedding_dim=2, restart_after=0).restart_after \
        is None


def test_the_codebook_update_gathers_the_batch_through_kgen_replica():
    # Under tf.distribute, kgen.replica.gather_batch is an all-gather: the statistics are
    # those of the global batch. Here a stand-in "gathers" two replicas holding the same
    # rows, which must double the counts of the update.
    z = np.array([[1, 0], [0, 1], [9, 1], [11, -1], [10, 2]], "float32")
    codebook = np.array([[0, 0], [10, 0], [0, 10], [-50, -50]], "float32")
    counts = {}
    for copies in (1, 2):
        vq = VectorQuantizer(num_embeddings=4, embedding_dim=2, decay=0.5,
                             restart_after=None, seed=0)
        vq.embeddings.assign(codebook)
        previous = replica.install(
            gather_batch=lambda x: keras.ops.concatenate([x] * copies, axis=0))
        try:
            counts[copies] = _numpy(vq.update_codebook(z))
        finally:
            replica.install(**previous)
    np.testing.assert_array_equal(counts[1], [2, 3, 0, 0])
    np.testing.assert_array_equal(counts[2], 2 * counts[1])


def test_vqvae_trains_with_ema_restarts_logs_and_round_trips(tmp_path, digits_small):
    vq = tiny_vqvae(restart_after=2)
    codebook = _numpy(vq.quantizer.embeddings)
    codebook[0] = 100.0   # never the nearest code: restarted inside the compiled step
    vq.quantizer.embeddings.assign(codebook)
    assert all("embeddings" not in v.path for v in vq.trainable_variables)
    vq.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = vq.fit(digits_small, batch_size=64, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert history["reconstruction"][-1] < history["reconstruction"][0]
    for loss, rec, com in zip(history["loss"], history["reconstruction"], history["commitment"]):
        assert loss == pytest.approx(rec + 0.25 * com, rel=1e-4)
    assert all(1.0 <= p <= 8.0 for p in history["perplexity"])
    assert all(0.0 < u <= 1.0 for u in history["usage"])
    new = _numpy(vq.quantizer.embeddings)
    assert np.abs(new[0]).max() < 50           # the dead code was restarted
    assert not np.allclose(new[1:], codebook[1:])
    assert _numpy(vq.quantizer.ema_cluster_size).sum() > 0
    assert _numpy(vq.quantizer.unused_steps).max() < 2

    # The logged perplexity is exp(entropy) of the code histogram (one batch: all data).
    codes = vq.encode(digits_small)
    assert codes.shape == (256, 4, 4) and codes.dtype == np.int32
    counts = np.bincount(codes.ravel(), minlength=8)
    p = counts / counts.sum()
    entropy = -np.sum(p[p > 0] * np.log(p[p > 0]))
    logs = vq.evaluate(digits_small, batch_size=256, verbose=0, return_dict=True)
    assert logs["perplexity"] == pytest.approx(np.exp(entropy), rel=1e-4)
    assert logs["usage"] == pytest.approx(np.mean(counts > 0))

    # Reconstruction = decoding the nearest codebook vectors.
    recon = vq.reconstruct(digits_small[:16])
    np.testing.assert_allclose(vq.decode_codes(codes[:16]), recon, atol=1e-5)

    path = str(tmp_path / "vq.keras")
    vq.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kgen.models.VQVAE) and loaded.restart_after == 2
    np.testing.assert_array_equal(loaded.encode(digits_small[:16]), codes[:16])
    np.testing.assert_allclose(loaded.reconstruct(digits_small[:16]), recon, atol=1e-6)
    state = ("embeddings", "ema_cluster_size", "ema_embedding_sum", "unused_steps")
    for name in state:
        np.testing.assert_array_equal(_numpy(getattr(loaded.quantizer, name)),
                                      _numpy(getattr(vq.quantizer, name)))
    np.testing.assert_allclose(loaded.generate(4, seed=0), vq.generate(4, seed=0), atol=1e-6)


def test_codebook_trained_by_the_loss(digits_small):
    vq = tiny_vqvae(codebook_update="loss", restart_after=None)
    assert any("embeddings" in v.path for v in vq.trainable_variables)
    assert not hasattr(vq.quantizer, "ema_cluster_size")
    before = _numpy(vq.quantizer.embeddings)
    vq.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = vq.fit(digits_small[:128], batch_size=64, epochs=1, verbose=0).history
    loss, rec, com, book = (history[k][0] for k in
                            ("loss", "reconstruction", "commitment", "codebook"))
    assert loss == pytest.approx(rec + 0.25 * com + book, rel=1e-4)
    assert book == pytest.approx(com, rel=1e-4)   # the same distance, other gradient
    assert not np.allclose(_numpy(vq.quantizer.embeddings), before)


def test_generate_decode_codes_and_clear_errors(digits_small):
    vq = tiny_vqvae()
    a, b, c = vq.generate(3, seed=1), vq.generate(3, seed=1), vq.generate(3, seed=2)
    assert a.shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    codes = np.zeros((2, 4, 4), "int32")
    np.testing.assert_allclose(vq.generate(codes=codes), vq.decode_codes(codes[..., None]))
    with pytest.raises(ValueError, match=r"codes must be in 0\.\.7"):
        vq.decode_codes(np.full((1, 4, 4), 8))
    with pytest.raises(ValueError, match=r"codes must have shape \(n, 4, 4\)"):
        vq.decode_codes(np.zeros((1, 3, 3), "int32"))
    with pytest.raises(TypeError, match="integer code indices"):
        vq.decode_codes(np.zeros((1, 4, 4), "float32"))
    with pytest.raises(ValueError, match=r"models samples of shape \(8, 8, 1\)"):
        vq.encode(np.zeros((2, 16, 16, 1), "float32"))
    with pytest.raises(ValueError, match="Unknown codebook_update 'kmeans'; choose one of"):
        tiny_vqvae(codebook_update="kmeans")
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, inf\]"):
        tiny_vqvae(beta=-1.0)
    encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 1)])
    decoder = keras.Sequential([keras.Input((8, 8, 4)), keras.layers.Conv2D(1, 1)])
    with pytest.raises(ValueError, match="encoder outputs 3 channels but embedding_dim=4"):
        kgen.models.VQVAE(encoder, decoder, num_embeddings=8, embedding_dim=4)


def test_images_are_clipped_to_the_data_range_that_the_linear_decoder_can_leave(digits_small):
    vq = tiny_vqvae()
    vq.quantizer.embeddings.assign(100.0 * _numpy(vq.quantizer.embeddings))
    codes = (np.arange(32).reshape(2, 4, 4) % 8).astype("int32")
    raw = _numpy(vq.decoder(vq.quantizer.lookup(codes)))
    assert raw.min() < -1.0 and raw.max() > 1.0
    np.testing.assert_allclose(vq.decode_codes(codes), np.clip(raw, -1.0, 1.0), atol=1e-5)
    for images in (vq.generate(4, seed=0), vq.reconstruct(digits_small[:4])):
        assert images.min() >= -1.0 and images.max() <= 1.0
    sample = vq.serving_functions().sample
    np.testing.assert_allclose(_numpy(sample(codes)), vq.decode_codes(codes), atol=1e-5)


def test_latent_prior_trains_on_frozen_codes_and_samples(tmp_path, digits_small):
    vq = tiny_vqvae()
    frozen = values(vq.variables)
    model = kgen.models.LatentPrior.from_vqvae(vq, filters=8, num_layers=2, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(digits_small, batch_size=64, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    for before, after in zip(frozen, values(vq.variables)):
        np.testing.assert_array_equal(before, after)     # the VQ-VAE is frozen
    # The logged loss is the prior's NLL of the VQ-VAE's codes, per code.
    codes = model.encode(digits_small)
    nll = -model.prior.level_log_prob(codes).mean() / 16
    assert model.evaluate(digits_small, batch_size=256, verbose=0, return_dict=True)[
        "loss"] == pytest.approx(nll, rel=1e-4)
    assert model.bits_per_code(digits_small) == pytest.approx(nll / np.log(2), rel=1e-4)

    a, b, c = (model.generate(4, seed=s) for s in (0, 0, 1))
    assert a.shape == (4, 8, 8, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    sampled = model.sample_codes(4, seed=0)
    assert sampled.shape == (4, 4, 4) and sampled.min() >= 0 and sampled.max() < 8
    np.testing.assert_allclose(vq.decode_codes(sampled), a, atol=1e-6)

    path = str(tmp_path / "prior.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kgen.models.LatentPrior)
    np.testing.assert_allclose(loaded.generate(4, seed=0), a, atol=1e-6)


def test_latent_prior_rejects_mismatched_priors():
    vq = tiny_vqvae()
    wrong_levels = kgen.models.PixelCNN.from_shape((4, 4, 1), num_levels=16, filters=4,
                                                   num_layers=1, inputs="levels")
    with pytest.raises(ValueError, match="give the prior num_levels=8"):
        kgen.models.LatentPrior(vq, wrong_levels)
    wrong_shape = kgen.models.PixelCNN.from_shape((8, 8, 1), num_levels=8, filters=4,
                                                  num_layers=1, inputs="levels")
    with pytest.raises(ValueError, match=r"Build the prior for shape \(4, 4, 1\)"):
        kgen.models.LatentPrior(vq, wrong_shape)
    images = kgen.models.PixelCNN.from_shape((4, 4, 1), num_levels=8, filters=4,
                                             num_layers=1)
    with pytest.raises(ValueError, match="inputs='levels'"):
        kgen.models.LatentPrior(vq, images)
    with pytest.raises(TypeError, match="needs a kgen.models.VQVAE"):
        kgen.models.LatentPrior(images, images)
