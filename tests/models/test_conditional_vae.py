"""ConditionalVAE: training on (x, y), label-controlled sampling, conditional likelihood."""

import keras
import numpy as np
import pytest

import kgen


def tiny_cvae(**kwargs):
    kwargs.setdefault("seed", 0)
    return kgen.models.ConditionalVAE.from_shape((8, 8, 1), num_classes=10, latent_dim=4,
                                                 base_filters=8, **kwargs)


@pytest.fixture(scope="module")
def labelled():
    x, y = kgen.data.load("digits", return_labels=True)
    return kgen.data.to_data_space(x[:256]), y[:256]


def test_cvae_trains_and_labels_control_the_samples(tmp_path, labelled):
    x, y = labelled
    cvae = tiny_cvae()
    cvae.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = cvae.fit(x, y, batch_size=64, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    for loss, rec, kl in zip(history["loss"], history["reconstruction"], history["kl"]):
        assert loss == pytest.approx(rec + kl, rel=1e-4)

    # Same seed (same latent vectors), different label: different images.
    threes, sevens = cvae.generate(5, labels=3, seed=0), cvae.generate(5, labels=7, seed=0)
    assert threes.shape == (5, 8, 8, 1)
    np.testing.assert_array_equal(threes, cvae.generate(5, labels=3, seed=0))
    assert np.abs(threes - sevens).max() > 1e-3
    row = cvae.generate(labels=list(range(10)), seed=0)
    assert row.shape == (10, 8, 8, 1)
    np.testing.assert_allclose(row[3], threes[3], atol=1e-6)
    # Decoding with explicit labels is what generate does.
    z = cvae.standard_normal((5, 4), 0)
    np.testing.assert_allclose(cvae.decode(z, labels=np.full(5, 7)), sevens, atol=1e-6)

    # Conditional likelihood: the true labels explain the images better than wrong ones.
    true = cvae.log_likelihood(x[:64], labels=y[:64], num_samples=8, seed=0)
    wrong = cvae.log_likelihood(x[:64], labels=(y[:64] + 5) % 10, num_samples=8, seed=0)
    assert true.shape == (64,) and np.all(np.isfinite(true))
    assert true.mean() > wrong.mean()
    elbo, iwae = cvae.log_likelihood_bounds(x[:64], 8, labels=y[:64], seed=0)
    np.testing.assert_allclose(iwae, true, rtol=1e-5)
    assert np.mean(iwae >= elbo) > 0.5

    path = str(tmp_path / "cvae.keras")
    cvae.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kgen.models.ConditionalVAE) and loaded.num_classes == 10
    np.testing.assert_allclose(loaded.generate(labels=list(range(10)), seed=0), row, atol=1e-6)
    np.testing.assert_allclose(loaded.reconstruct(x[:4], labels=y[:4]),
                               cvae.reconstruct(x[:4], labels=y[:4]), atol=1e-6)


def test_labels_are_required_and_checked(labelled):
    x, y = labelled
    cvae = tiny_cvae()
    mean, log_var = cvae.encode(x[:3], labels=y[:3])
    assert mean.shape == (3, 4) and log_var.shape == (3, 4)
    with pytest.raises(ValueError, match="ConditionalVAE needs labels="):
        cvae.encode(x[:3])
    with pytest.raises(ValueError, match=r"class indices in 0\.\.9"):
        cvae.generate(2, labels=[1, 12], seed=0)
    with pytest.raises(ValueError, match="Got 2 labels for 3 samples"):
        cvae.reconstruct(x[:3], labels=[1, 2])
    with pytest.raises(ValueError, match=r"class indices in 0\.\.9"):
        cvae.fit(x[:8], np.full(8, 10), verbose=0)
    with pytest.raises(ValueError, match="num_classes must be an integer of at least 2"):
        kgen.models.ConditionalVAE.from_shape((8, 8, 1), num_classes=1)
    with pytest.raises(TypeError, match="labels must be integer class indices"):
        cvae.encode(x[:2], labels=[0.5, 1.5])
    with pytest.raises(TypeError, match="num_classes must be an integer"):
        kgen.models.ConditionalVAE.from_shape((8, 8, 1), num_classes=10.0)
    np.testing.assert_array_equal(cvae.check_labels([[1], [2]]), [1, 2])
    cvae.compile()
    with pytest.raises(ValueError, match=r"trains on \(samples, labels\) pairs"):
        cvae.fit(x[:8], epochs=1, verbose=0)
    # An unconditional VAE takes no labels.
    vae = kgen.models.VAE.from_shape((8, 8, 1), latent_dim=4, base_filters=8)
    with pytest.raises(ValueError, match="unconditional and takes no labels"):
        vae.encode(x[:2], labels=[0, 1])


def test_conditional_networks_take_labels_and_keep_their_layer_names():
    enc = kgen.networks.conditional_encoder((8, 8, 1), 10, 8, base_filters=8)
    dec = kgen.networks.conditional_decoder((8, 8, 1), 10, 4, base_filters=8)
    # Checkpoints store these names: the builders must keep them.
    assert [layer.name for layer in enc.layers] == [
        "encoder_label", "encoder_embed", "encoder_input", "encoder_label_map",
        "encoder_concat", "encoder_conv_0", "encoder_act_0", "encoder_down_1",
        "encoder_act_1", "encoder_flatten", "encoder_out"]
    assert [layer.name for layer in dec.layers] == [
        "decoder_label", "decoder_latent", "decoder_embed", "decoder_concat",
        "decoder_project", "decoder_reshape", "decoder_relu_0", "decoder_up_1",
        "decoder_relu_1", "decoder_out"]
    # One learned height x width map per class (images); the label changes the output.
    assert tuple(enc.get_layer("encoder_embed").embeddings.shape) == (10, 64)
    x = np.zeros((2, 8, 8, 1), "float32")
    z = np.zeros((2, 4), "float32")
    a = keras.ops.convert_to_numpy(dec([z, np.array([1, 1], "int32")]))
    b = keras.ops.convert_to_numpy(dec([z, np.array([1, 2], "int32")]))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[1], b[1])
    assert keras.ops.convert_to_numpy(enc([x, np.array([3, 7], "int32")])).shape == (2, 8)
    vectors = kgen.networks.conditional_encoder((2,), 3, 4, base_filters=4, embedding_dim=5)
    assert tuple(vectors.get_layer("encoder_embed").embeddings.shape) == (3, 5)
    assert [layer.units for layer in vectors.layers if hasattr(layer, "units")] == [16, 16, 4]
    with pytest.raises(ValueError, match="num_classes must be an integer of at least 2"):
        kgen.networks.conditional_decoder((2,), 1, 4)
