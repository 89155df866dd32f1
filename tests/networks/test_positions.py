"""kgen.networks position encodings (learned, sinusoidal 1-D and 2-D) and image patches."""

import keras
import numpy as np
import pytest
from keras import ops

from kgen.networks import (
    LearnedPositions,
    PatchEmbedding,
    PatchUnembedding,
    SinusoidalPositions,
    SinusoidalPositions2D,
    patchify,
    sinusoidal_1d,
    sinusoidal_2d,
    unpatchify,
)


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_sinusoidal_1d_values():
    encoding = sinusoidal_1d(5, 8, base=100.0)
    assert encoding.shape == (5, 8) and encoding.dtype == np.float32
    np.testing.assert_array_equal(encoding[0], [0, 0, 0, 0, 1, 1, 1, 1])
    # Position 3, frequency k = 1 of 4: 100 ** (-1 / 4).
    frequency = 100.0 ** -0.25
    np.testing.assert_allclose(encoding[3, 1], np.sin(3 * frequency), rtol=1e-6)
    np.testing.assert_allclose(encoding[3, 5], np.cos(3 * frequency), rtol=1e-6)
    # Every position gets a different encoding.
    assert len({row.tobytes() for row in encoding}) == 5


def test_sinusoidal_2d_encodes_rows_then_columns():
    encoding = sinusoidal_2d(3, 4, 8)
    assert encoding.shape == (12, 8)
    rows, columns = sinusoidal_1d(3, 4), sinusoidal_1d(4, 4)
    for r in range(3):
        for c in range(4):
            np.testing.assert_array_equal(encoding[r * 4 + c], np.concatenate([rows[r],
                                                                                columns[c]]))


def test_position_layers_with_an_offset_match_the_whole_sequence():
    x = np.random.default_rng(0).normal(size=(2, 6, 8)).astype("float32")
    for layer in (LearnedPositions(10), SinusoidalPositions()):
        whole = numpy(layer(x))
        assert np.abs(whole - x).max() > 1e-3
        np.testing.assert_allclose(numpy(layer(x[:, 2:4], position=2)), whole[:, 2:4],
                                   atol=1e-6)
    np.testing.assert_allclose(numpy(SinusoidalPositions()(np.zeros((1, 6, 8), "float32")))[0],
                               sinusoidal_1d(6, 8), atol=1e-6)
    grid = SinusoidalPositions2D((2, 3))
    np.testing.assert_allclose(numpy(grid(np.zeros((1, 6, 8), "float32")))[0],
                               sinusoidal_2d(2, 3, 8), atol=1e-6)


def test_learned_positions_train_and_round_trip(tmp_path):
    inputs = keras.Input((4, 3))
    model = keras.Model(inputs, LearnedPositions(4, name="positions")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    x = np.zeros((8, 4, 3), "float32")
    target = np.ones((8, 4, 3), "float32")
    before = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=5, verbose=0)
    assert model.evaluate(x, target, verbose=0) < before
    model.save(tmp_path / "positions.keras")
    loaded = keras.saving.load_model(tmp_path / "positions.keras")
    np.testing.assert_allclose(numpy(loaded(x)), numpy(model(x)), atol=1e-7)
    for layer in (LearnedPositions(4), SinusoidalPositions(base=50.0),
                  SinusoidalPositions2D((2, 2))):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


def test_patches_round_trip_and_the_embedding_is_a_strided_convolution():
    images = np.random.default_rng(0).normal(size=(2, 8, 6, 3)).astype("float32")
    patches = numpy(patchify(images, 2))
    assert patches.shape == (2, 12, 12)
    np.testing.assert_array_equal(patches[0, 1], images[0, 0:2, 2:4].reshape(-1))
    np.testing.assert_array_equal(numpy(unpatchify(patches, 2, (4, 3), 3)), images)
    embed = PatchEmbedding(patch_size=2, width=5)
    tokens = numpy(embed(images))
    assert tokens.shape == (2, 12, 5)
    conv = keras.layers.Conv2D(5, 2, strides=2)
    conv.build((None, 8, 6, 3))
    kernel, bias = embed.projection.get_weights()
    conv.set_weights([kernel.reshape(2, 2, 3, 5), bias])
    np.testing.assert_allclose(numpy(conv(images)).reshape(2, 12, 5), tokens, atol=1e-5)
    out = PatchUnembedding(patch_size=2, channels=3, grid_shape=(4, 3))(tokens)
    assert tuple(out.shape) == (2, 8, 6, 3)


def test_patch_layers_save_and_load(tmp_path):
    inputs = keras.Input((4, 4, 1))
    tokens = PatchEmbedding(2, 8)(inputs)
    outputs = PatchUnembedding(2, 1)(SinusoidalPositions2D((2, 2))(tokens))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(3, 4, 4, 1)).astype("float32")
    model.save(tmp_path / "patches.keras")
    loaded = keras.saving.load_model(tmp_path / "patches.keras")
    np.testing.assert_allclose(numpy(loaded(x)), numpy(model(x)), atol=1e-6)
    for layer in (PatchEmbedding(2, 8, use_bias=False), PatchUnembedding(2, 3, (2, 5))):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


def test_clear_errors():
    with pytest.raises(ValueError, match="even number of channels"):
        sinusoidal_1d(4, 7)
    with pytest.raises(ValueError, match="multiple of 4 channels"):
        sinusoidal_2d(2, 2, 6)
    with pytest.raises(TypeError, match="length must be an integer"):
        sinusoidal_1d(4.0, 8)
    with pytest.raises(ValueError, match="has 4 positions"):
        LearnedPositions(4)(np.zeros((1, 3, 2), "float32"), position=2)
    with pytest.raises(ValueError, match="encodes a 2x2 grid"):
        SinusoidalPositions2D((2, 2))(np.zeros((1, 5, 4), "float32"))
    with pytest.raises(ValueError, match="multiples of patch_size=3"):
        PatchEmbedding(3, 4)(np.zeros((1, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="square number of tokens"):
        PatchUnembedding(2, 1)(np.zeros((1, 6, 4), "float32"))
    with pytest.raises(TypeError, match="grid_shape must be"):
        PatchUnembedding(2, 1, grid_shape=4)
    with pytest.raises(TypeError, match="patch_size must be an integer"):
        patchify(np.zeros((1, 4, 4, 1), "float32"), 2.0)
