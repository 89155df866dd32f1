"""pix2pix: the U-Net and PatchGAN networks, the paired training step, generate, save/load."""

import keras
import numpy as np
import pytest

import kgen
from kgen import replica
from kgen.networks import patchgan_discriminator, unet_generator
from kgen.networks.unet import max_unet_depth

from harness import values
from checks_catalogue import covers


def paired_digits(n=64):
    """Digits (8, 8, 1) as inputs and a colour version as targets (8, 8, 3), in [-1, 1].

    The targets are the inverted digit in red, the digit in green and a flat -0.5 in
    blue: a fixed, learnable function of the input with a change of channel count.
    """
    x = kgen.data.to_data_space(kgen.data.load("digits")[:n])
    y = np.concatenate([-x, x, np.full_like(x, -0.5)], axis=-1)
    return x, y


def layers_of(model, kind):
    return [layer for layer in model.layers if type(layer) is kind]


# ---------------------------------------------------------------- networks
def test_unet_generator_halves_to_1x1_with_skips_and_checks_the_shape():
    g = unet_generator((8, 8, 1), output_channels=3, base_filters=4)
    assert g.output_shape == (None, 8, 8, 3)
    downs = layers_of(g, keras.layers.Conv2D)
    assert [layer.output.shape[1] for layer in downs] == [4, 2, 1]  # depth 3: down to 1x1
    assert [layer.filters for layer in downs] == [4, 8, 16]
    # Batch norm on neither the first nor the innermost encoder block; skips of 4x4 and 2x2.
    assert [layer.name for layer in g.layers if "down_bn" in layer.name] == [
        "unet_generator_down_bn_1"]
    skips = layers_of(g, keras.layers.Concatenate)
    assert [tuple(layer.output.shape[1:]) for layer in skips] == [(2, 2, 16), (4, 4, 8)]
    assert g.layers[-1].activation is keras.activations.tanh
    assert len(layers_of(g, kgen.networks.Dropout)) == 1  # min(3, depth - 2)
    assert not layers_of(unet_generator((8, 8, 1), 3, base_filters=4, dropout=0),
                         kgen.networks.Dropout)

    # 32x32: depth 5, filters capped at 8 * base_filters, dropout in 3 decoder blocks
    # (the paper's 256x256 gets depth 8 and the same 3 dropout blocks).
    deep = unet_generator((32, 32, 1), base_filters=1)
    assert [layer.filters for layer in layers_of(deep, keras.layers.Conv2D)] == [1, 2, 4, 8, 8]
    assert len(layers_of(deep, kgen.networks.Dropout)) == 3
    assert (max_unet_depth(256, 256), max_unet_depth(28, 28), max_unet_depth(24, 16)) == (
        8, 2, 3)

    with pytest.raises(ValueError, match="odd side"):
        unet_generator((7, 7, 1))
    with pytest.raises(ValueError, match=r"depth=4 needs both sides divisible by 2\*\*4"):
        unet_generator((8, 8, 1), depth=4)
    with pytest.raises(ValueError, match="image shape"):
        unet_generator((8, 8))


def test_dropout_drops_per_example_scales_the_rest_and_round_trips(tmp_path):
    layer = kgen.networks.Dropout(0.25, seed=0)
    x = np.ones((64, 32), "float32")
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    kept = out != 0
    # The kept inputs are scaled by 1 / (1 - rate); about a quarter is dropped.
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    assert 0.2 < 1 - kept.mean() < 0.3
    # Each example and each call gets its own mask; inference passes the inputs.
    assert not np.array_equal(kept[0], kept[1])
    assert not np.array_equal(kept, keras.ops.convert_to_numpy(layer(x, training=True)) != 0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    # noise_shape (None, 1): one draw per example, shared by its features.
    rows = keras.ops.convert_to_numpy(
        kgen.networks.Dropout(0.5, noise_shape=(None, 1), seed=0)(x, training=True))
    assert np.all(rows == rows[:, :1]) and 0 < (rows[:, 0] == 0).sum() < 64
    model = keras.Sequential([keras.Input((32,)), kgen.networks.Dropout(0.5, seed=1)])
    model.save(tmp_path / "dropout.keras")
    loaded = keras.saving.load_model(tmp_path / "dropout.keras").layers[0]
    assert type(loaded) is kgen.networks.Dropout and loaded.rate == 0.5
    # The U-Net's dropout blocks are this layer (not Keras's, whose replicas would share
    # a mask under tf.distribute).
    unet = unet_generator((8, 8, 1), 1, base_filters=4, depth=3)
    assert len(layers_of(unet, kgen.networks.Dropout)) == 1
    assert not layers_of(unet, keras.layers.Dropout)


def test_dropout_draws_its_mask_through_kgen_replica_and_checks_its_rate():
    # Under tf.distribute, kgen.replica.batch_noise gives each replica its rows of the
    # global batch's noise; a stand-in that records the shapes and keeps everything
    # shows that the mask (and only the mask) comes from it.
    shapes = []

    def keep_all(draw, shape):
        shapes.append(tuple(shape))
        return keras.ops.ones(shape)

    layer = kgen.networks.Dropout(0.5, noise_shape=(None, 1), seed=0)
    x = np.ones((4, 3), "float32")
    previous = replica.install(batch_noise=keep_all)
    try:
        out = keras.ops.convert_to_numpy(layer(x, training=True))
        layer(x)                          # inference: no noise drawn
    finally:
        replica.install(**previous)
    assert shapes == [(4, 1)]
    np.testing.assert_allclose(out, 2.0 * x)
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\)"):
        kgen.networks.Dropout(1.0)
    with pytest.raises(TypeError, match="rate must be a number"):
        kgen.networks.Dropout("0.5")
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        unet_generator((8, 8, 1), dropout=1.5)


def test_patchgan_gives_a_grid_of_logits_for_pairs_and_clips_its_depth():
    d = patchgan_discriminator((8, 8, 3), condition_shape=(8, 8, 1), base_filters=4)
    assert [tuple(i.shape[1:]) for i in d.inputs] == [(8, 8, 1), (8, 8, 3)]
    assert d.output_shape == (None, 2, 2, 1)  # 3 strided layers clipped to 2: a 2x2 grid
    assert sum(layer.strides == (2, 2) for layer in layers_of(d, keras.layers.Conv2D)) == 2

    d = patchgan_discriminator((32, 32, 1), base_filters=2, normalization="instance")
    assert d.output_shape == (None, 4, 4, 1)  # the 70x70 PatchGAN: 3 strided layers
    assert len(layers_of(d, keras.layers.GroupNormalization)) == 3  # not on the first
    assert not layers_of(d, keras.layers.BatchNormalization)
    assert patchgan_discriminator((32, 32, 1), base_filters=2,
                                  num_layers=1).output_shape == (None, 16, 16, 1)

    with pytest.raises(ValueError, match="at least 4x4"):
        patchgan_discriminator((2, 2, 1))
    with pytest.raises(ValueError, match="same height and width"):
        patchgan_discriminator((8, 8, 3), condition_shape=(16, 16, 1))
    with pytest.raises(ValueError, match="Unknown normalization"):
        patchgan_discriminator((8, 8, 3), normalization="layer")
    with pytest.raises(ValueError, match="num_layers must be an integer of at least 1"):
        patchgan_discriminator((8, 8, 3), num_layers=0)
    with pytest.raises(TypeError, match="num_layers must be an integer"):
        patchgan_discriminator((8, 8, 3), num_layers=2.0)


# ------------------------------------------------------------------ model
def test_pix2pix_trains_on_pairs_translates_1_to_3_channels_and_round_trips(tmp_path):
    x, y = paired_digits(64)
    model = kgen.models.Pix2Pix.from_shape((8, 8, 1), (8, 8, 3), base_filters=4, seed=0)
    assert model.input_image_shape == (8, 8, 1) and model.target_image_shape == (8, 8, 3)
    assert model.l1_weight == 100.0 and model.adversarial_loss.name == "non_saturating"
    model.compile(generator_optimizer=keras.optimizers.Adam(3e-3, beta_1=0.5))
    assert float(keras.ops.convert_to_numpy(
        model.optimizer["discriminator"].learning_rate)) == pytest.approx(2e-4)
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", "g_adv", "l1", "real_accuracy",
                            "fake_accuracy"}
    for key, series in history.items():
        assert np.all(np.isfinite(series)), key
    assert history["l1"][-1] < history["l1"][0] - 0.02  # the generator learns the mapping
    # g_loss = g_adv + l1_weight * l1, batch by batch, hence also for the epoch means.
    np.testing.assert_allclose(history["g_loss"],
                               np.add(history["g_adv"], 100.0 * np.array(history["l1"])),
                               rtol=1e-4)
    assert int(keras.ops.convert_to_numpy(model.optimizer["generator"].iterations)) == 8

    outputs = model.generate(inputs=x[:5])
    assert outputs.shape == (5, 8, 8, 3) and outputs.dtype == np.float32
    np.testing.assert_allclose(
        outputs, keras.ops.convert_to_numpy(model.generator(x[:5], training=False)),
        rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.generate(5, inputs=x[:5], seed=3), outputs)
    assert model.generate(inputs=x[0]).shape == (1, 8, 8, 3)  # one image, no batch axis
    # Evaluation logs the L1 error of the inference-mode outputs.
    result = model.evaluate(x[:32], y[:32], batch_size=32, verbose=0, return_dict=True)
    expected = np.mean(np.abs(y[:32] - model.generate(inputs=x[:32])))
    assert result["l1"] == pytest.approx(expected, rel=1e-4)

    path = str(tmp_path / "pix2pix.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kgen.models.Pix2Pix) and loaded.l1_weight == 100.0
    np.testing.assert_array_equal(loaded.generate(inputs=x[:5]), outputs)
    for a, b in zip(values(loaded.discriminator.weights), values(model.discriminator.weights)):
        np.testing.assert_array_equal(a, b)


@covers("generate-condition-range")
def test_pix2pix_bad_inputs_get_clear_errors():
    x, y = paired_digits(8)
    model = kgen.models.Pix2Pix.from_shape((8, 8, 1), (8, 8, 3), base_filters=4, seed=0)
    model.compile()
    with pytest.raises(ValueError, match="got no targets"):
        model.fit(x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="got no targets"):
        model.fit(kgen.data.images(kgen.data.load("digits")[:8], batch_size=8), verbose=0)
    with pytest.raises(ValueError, match=r"Pix2Pix expects training target images of shape "
                       r"\(8, 8, 3\).*got training target images of 1 channel where"):
        model.fit(x, x, epochs=1, verbose=0)
    with pytest.raises(TypeError, match=r"non-image dtype int64.*x\.astype\(np\.uint8\)"):
        model.fit(kgen.data.load("digits")[:8].astype("int64"), y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"Float training target images must lie in \[-1, 1\]"):
        model.fit(x, 255.0 * y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Pass the images as inputs="):
        model.generate(4)
    with pytest.raises(ValueError, match=r"inputs must have shape \(n,\) \+ \(8, 8, 1\)"):
        model.generate(inputs=y)
    with pytest.raises(TypeError, match="non-image dtype int64"):
        model.generate(inputs=kgen.data.load("digits")[:2].astype("int64"))
    with pytest.raises(ValueError, match=r"Float inputs must lie in \[-1, 1\]"):
        model.generate(inputs=255.0 * x[:2])
    with pytest.raises(ValueError, match=r"num_samples \(3\) differs"):
        model.generate(3, inputs=x[:2])
    with pytest.raises(ValueError, match="must take \\[input, image\\] pairs"):
        kgen.models.Pix2Pix(unet_generator((8, 8, 1), 3, base_filters=4),
                            patchgan_discriminator((8, 8, 3), base_filters=4))
    with pytest.raises(ValueError, match="same size"):
        kgen.models.Pix2Pix.from_shape((8, 8, 1), (16, 16, 3))
    with pytest.raises(ValueError, match=r"l1_weight must be a number in \[0, inf\]"):
        kgen.models.Pix2Pix.from_shape((8, 8, 1), base_filters=4, l1_weight=-1.0)
    with pytest.raises(TypeError, match="l1_weight must be a number"):
        kgen.models.Pix2Pix.from_shape((8, 8, 1), base_filters=4, l1_weight="100")


def test_pix2pix_converts_uint8_images_like_to_data_space():
    pixels = kgen.data.load("digits")[:8]
    x, y = paired_digits(8)
    model = kgen.models.Pix2Pix.from_shape((8, 8, 1), (8, 8, 3), base_filters=4, seed=0)
    model.compile()
    # generate(inputs=uint8): the translations of kgen.data.to_data_space(inputs).
    np.testing.assert_array_equal(model.generate(inputs=pixels), model.generate(inputs=x))
    assert model.generate(inputs=pixels[0]).shape == (1, 8, 8, 3)
    # fit() and evaluate() on uint8 arrays: converted in the step, the same way.
    target_pixels = np.round((y + 1.0) * 127.5).astype(np.uint8)
    targets = kgen.data.to_data_space(target_pixels)
    from_pixels = model.evaluate(pixels, target_pixels, batch_size=8, verbose=0,
                                 return_dict=True)
    from_floats = model.evaluate(x, targets, batch_size=8, verbose=0, return_dict=True)
    for key in ("l1", "g_loss", "d_loss"):
        assert from_pixels[key] == pytest.approx(from_floats[key], rel=1e-6, abs=1e-7), key
    history = model.fit(pixels, target_pixels, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["l1"][0]) and history["l1"][0] > 0
