"""The diffusion transformer: shapes, adaLN-Zero's zero output, class conditioning, a
Diffusion model that trains and samples with it, save/load, and its errors."""

import keras
import numpy as np
import pytest

import kgen
from kgen.networks import DiTBlock, diffusion_transformer

from harness import values

SHAPE = (8, 8, 1)


def _inputs(n=4, shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + shape).astype("float32")
    t = rng.uniform(0, 100, size=(n,)).astype("float32")
    return x, t


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _randomise(network, seed=0):
    """Every weight drawn at random (the zero-initialised ones included)."""
    rng = np.random.default_rng(seed)
    for variable in network.trainable_variables:
        variable.assign(0.2 * rng.normal(size=variable.shape).astype("float32"))


def test_shapes_patches_and_position_encodings():
    for shape, patch_size, positions in [((8, 8, 1), 2, "sinusoidal"),
                                         ((8, 4, 3), 4, "learned")]:
        net = diffusion_transformer(shape, patch_size=patch_size, width=8, depth=1,
                                    num_heads=2, positions=positions)
        assert [tuple(i.shape[1:]) for i in net.inputs] == [shape, ()]
        assert net.output_shape == (None,) + shape
        x, t = _inputs(3, shape)
        assert _numpy(net([x, t])).shape == (3,) + shape
        tokens = (shape[0] // patch_size) * (shape[1] // patch_size)
        table = [v for v in net.trainable_variables if "table" in v.path]
        assert len(table) == (positions == "learned")
        if table:
            assert tuple(table[0].shape) == (tokens, 8)


def test_adaln_zero_makes_the_untrained_network_output_zero_and_each_block_the_identity():
    net = diffusion_transformer(SHAPE, width=16, depth=2, num_heads=2, num_classes=3)
    x, t = _inputs()
    labels = np.array([0, 1, 2, 3], "int32")
    np.testing.assert_array_equal(_numpy(net([x, t, labels])), 0.0)
    tokens = np.random.default_rng(1).normal(size=(4, 16, 16)).astype("float32")
    c = np.random.default_rng(2).normal(size=(4, 16)).astype("float32")
    block = net.get_layer("dit_block_0")
    np.testing.assert_allclose(_numpy(block(tokens, c)), tokens, atol=1e-6)
    # The zeros are the adaLN regressions' and the output projection's, not a dead path.
    _randomise(net)
    out = _numpy(net([x, t, labels]))
    assert np.abs(out).max() > 1e-3
    assert np.abs(_numpy(net([x, t + 50.0, labels])) - out).max() > 1e-4
    assert np.abs(_numpy(block(tokens, c)) - tokens).max() > 1e-3


def test_class_conditioning_with_a_null_label():
    net = diffusion_transformer(SHAPE, width=16, depth=1, num_heads=2, num_classes=3)
    assert [tuple(i.shape[1:]) for i in net.inputs] == [SHAPE, (), ()]
    embedding = net.get_layer("class_embedding")
    assert tuple(embedding.embeddings.shape) == (4, 16)   # 3 classes and the null label
    _randomise(net)
    x, t = _inputs(2)
    x, t = np.repeat(x[:1], 2, axis=0), np.repeat(t[:1], 2, axis=0)
    same = _numpy(net([x, t, np.array([1, 1], "int32")]))
    np.testing.assert_allclose(same[0], same[1], atol=1e-6)
    outputs = [_numpy(net([x, t, np.array([k, k], "int32")]))[0] for k in range(4)]
    for i in range(4):
        for j in range(i):
            assert np.abs(outputs[i] - outputs[j]).max() > 1e-4
    # Changing the null label's row changes the null-label output only.
    table = _numpy(embedding.embeddings).copy()
    table[3] += 1.0
    embedding.embeddings.assign(table)
    np.testing.assert_allclose(_numpy(net([x, t, np.array([1, 1], "int32")]))[0], outputs[1],
                               atol=1e-6)
    assert np.abs(_numpy(net([x, t, np.array([3, 3], "int32")]))[0] - outputs[3]).max() > 1e-4


def test_a_diffusion_model_with_the_transformer_trains_samples_and_round_trips(
        digits_small, tmp_path):
    x = digits_small[:64]
    labels = (np.arange(len(x)) % 3).astype("int32")
    model = kgen.models.Diffusion.from_shape(SHAPE, network="dit", width=16, depth=1,
                                             num_heads=2, num_classes=3, timesteps=20,
                                             schedule="cosine",
                                             ema=None, seed=0)
    assert model.network.get_layer("dit_block_0") is not None
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(x, labels, batch_size=16, epochs=3, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    samples = model.generate(4, seed=1, steps=4, labels=[0, 1, 2, 0], guidance_scale=2.0)
    assert samples.shape == (4,) + SHAPE and np.all(np.isfinite(samples))
    assert np.abs(samples).max() > 1e-3
    model.save(tmp_path / "dit.keras")
    loaded = keras.saving.load_model(tmp_path / "dit.keras")
    assert isinstance(loaded.network.get_layer("dit_block_0"), DiTBlock)
    for a, b in zip(values(loaded.network.weights), values(model.network.weights)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        loaded.generate(4, seed=1, steps=4, labels=[0, 1, 2, 0], guidance_scale=2.0),
        samples, atol=1e-5)


def test_clear_errors():
    with pytest.raises(ValueError, match="multiple of patch_size=3"):
        diffusion_transformer(SHAPE, patch_size=3, width=8, depth=1, num_heads=2)
    with pytest.raises(ValueError, match=r"width \(12\) must be a multiple of num_heads"):
        diffusion_transformer(SHAPE, width=12, depth=1, num_heads=5)
    with pytest.raises(ValueError, match="multiple of 4"):
        diffusion_transformer(SHAPE, width=6, depth=1, num_heads=2)
    with pytest.raises(ValueError, match="Unknown positions"):
        diffusion_transformer(SHAPE, width=8, depth=1, num_heads=2, positions="rotary")
    with pytest.raises(TypeError, match="depth must be an integer"):
        diffusion_transformer(SHAPE, width=8, depth=1.0, num_heads=2)
    with pytest.raises(ValueError, match="depth must be an integer of at least 1"):
        diffusion_transformer(SHAPE, width=8, depth=0, num_heads=2)
    with pytest.raises(ValueError, match="Unknown network"):
        kgen.models.Diffusion.from_shape(SHAPE, network="vit")
    with pytest.raises(ValueError, match=r"\['base_filters'\] are options of the U-Net"):
        kgen.models.Diffusion.from_shape(SHAPE, network="dit", base_filters=8)
    with pytest.raises(ValueError, match="pass network='dit'"):
        kgen.models.Diffusion.from_shape(SHAPE, base_filters=8, depth=2)
    with pytest.raises(ValueError, match="takes tokens"):
        DiTBlock(8, num_heads=2)(np.zeros((1, 4, 6), "float32"), np.zeros((1, 8), "float32"))
