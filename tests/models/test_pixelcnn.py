"""PixelCNN: masks, causality, the exact likelihood, sampling loops, training, saving."""

import itertools
import math

import keras
import numpy as np
import pytest
from keras import ops

import kgen
from kgen import backend
from kgen.models import PixelCNN
from kgen.networks import GatedPixelCNN, MaskedConv2D
from kgen.networks.pixelcnn import pixelcnn_mask


def tiny(shape=(4, 4, 1), num_levels=4, filters=4, num_layers=2, **kwargs):
    kwargs.setdefault("seed", 0)
    return PixelCNN.from_shape(shape, num_levels=num_levels, filters=filters,
                               num_layers=num_layers, **kwargs)


def test_masks_a_and_b_with_channel_ordering():
    spatial = pixelcnn_mask(3, 1, 1, "A")[..., 0, 0]
    np.testing.assert_array_equal(spatial, [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(pixelcnn_mask(3, 1, 1, "B")[..., 0, 0],
                                  [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    # RGB at the current pixel: input group (rows) -> output group (columns).
    np.testing.assert_array_equal(pixelcnn_mask(1, 3, 3, "A", color_channels=3)[0, 0],
                                  [[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(pixelcnn_mask(1, 3, 3, "B", color_channels=3)[0, 0],
                                  [[1, 1, 1], [0, 1, 1], [0, 0, 1]])
    # Six features in two gate halves: groups R G B R G B.
    centre = pixelcnn_mask(1, 3, 6, "A", color_channels=3, output_blocks=2)[0, 0]
    np.testing.assert_array_equal(centre[:, :3], centre[:, 3:])
    # The layer applies the mask: a pixel reaches only the outputs after it (type A).
    layer = MaskedConv2D(2, 3, mask_type="A")
    x = np.zeros((1, 3, 3, 1), "float32")
    x[0, 1, 1, 0] = 5.0
    out = ops.convert_to_numpy(layer(x) - layer(np.zeros_like(x)))[0]
    assert np.all(out[0] == 0) and np.all(out[1, :2] == 0)
    assert np.all(out[1, 2] != 0) and np.all(out[2] != 0)


@pytest.mark.parametrize("channels", [1, 3])
def test_logits_depend_on_every_earlier_position_and_no_later_one(channels):
    shape = (4, 4, channels)
    network = GatedPixelCNN(shape, num_levels=4, filters=4 * channels, num_layers=3)
    positions = 4 * 4 * channels
    weights = np.random.default_rng(1).normal(size=(1, 1, 1, 1, 4)).astype("float32")
    # Row i of the batch selects the logits of position i (raster, then channel order).
    select = np.eye(positions, dtype="float32").reshape((positions,) + shape)[..., None] * weights
    select = ops.convert_to_tensor(select)
    gradient = backend.compile_function(   # compiled: one trace for the three inputs
        lambda x: backend.input_gradient(
            lambda t: ops.sum(network(t) * select, axis=(1, 2, 3, 4)), x),
        network.variables)
    depends = np.zeros((positions, positions), bool)
    for seed in range(3):   # an input where no ReLU of a path is off, for every pair
        x = np.random.default_rng(seed).uniform(-1, 1, (positions,) + shape).astype("float32")
        grad = ops.convert_to_numpy(gradient(x))
        depends |= np.abs(grad).reshape(positions, positions) > 0
    later = np.triu(np.ones((positions, positions), bool))   # j >= i
    assert not depends[later].any(), "a logit depends on its own or a later position"
    assert depends[~later].all(), "a logit misses an earlier position (blind spot)"


def test_log_prob_is_the_sum_of_per_position_log_probabilities():
    model = tiny((3, 3, 3), filters=12)
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 4, (2, 3, 3, 3)).astype("int32")
    logits_fn = backend.compile_function(model.logits, model.network.variables)
    expected = np.zeros(2)
    for t, (r, c, ch) in enumerate(itertools.product(range(3), range(3), range(3))):
        # Everything from position t on is replaced by junk: it must not matter.
        junk = levels.reshape(2, -1).copy()
        junk[:, t:] = rng.integers(0, 4, junk[:, t:].shape)
        logits = ops.convert_to_numpy(logits_fn(junk.reshape(levels.shape)))
        log_p = logits[:, r, c, ch] - np.log(np.exp(logits[:, r, c, ch]).sum(-1, keepdims=True))
        expected += log_p[np.arange(2), levels[:, r, c, ch]]
    np.testing.assert_allclose(model.level_log_prob(levels), expected, rtol=1e-5)
    # Data space in, the same numbers out; bits/dim is the mean NLL over 27 dims, in bits.
    np.testing.assert_allclose(model.log_prob(model.to_values(levels)), expected, rtol=1e-5)
    assert model.bits_per_dim(model.to_values(levels)) == pytest.approx(
        -expected.mean() / (27 * math.log(2)), rel=1e-5)


def test_binary_model_is_a_distribution_over_all_2x2_images(digits):
    model = tiny((2, 2, 1), num_levels=2)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model.fit(kgen.data.to_data_space(digits[:64, 3:5, 3:5]), batch_size=32, epochs=2, verbose=0)
    images = np.array(list(itertools.product([0, 1], repeat=4)), "int32").reshape(16, 2, 2, 1)
    probabilities = np.exp(model.level_log_prob(images))
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    # x > 0 is level 1; level l is the value -1 + 2 l / (L - 1).
    np.testing.assert_array_equal(model.to_levels(np.array([-1.0, -0.2, 0.0, 0.01, 1.0])),
                                  [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(model.to_levels(np.array([0, 127, 128, 255], np.uint8)),
                                  [0, 0, 1, 1])


def test_sampling_loops_agree_seeds_and_completion():
    model = tiny((2, 3, 3), filters=12)
    naive = model.sample_levels(4, seed=3, sampler="naive")
    compiled = model.sample_levels(4, seed=3, sampler="compiled")
    fast = model.sample_levels(4, seed=3, sampler="fast")
    assert naive.dtype == np.int32 and naive.shape == (4, 2, 3, 3)
    np.testing.assert_array_equal(compiled, naive)
    np.testing.assert_array_equal(fast, naive)
    np.testing.assert_array_equal(model.sample_levels(4, seed=3), fast)
    assert (model.sample_levels(4, seed=4) != fast).any()
    samples = model.generate(4, seed=3)
    np.testing.assert_array_equal(samples, model.to_values(fast))
    np.testing.assert_allclose(np.unique(samples), [-1, -1 / 3, 1 / 3, 1], rtol=1e-6)

    # Completion: the first row (and the red channel of the second) is known.
    images = model.to_values(np.random.default_rng(0).integers(0, 4, (4, 2, 3, 3)))
    images = np.asarray(images)
    mask = np.zeros((2, 3, 3), bool)
    mask[0] = True
    mask[1, :, 0] = True
    for sampler in ("fast", "naive"):
        done = model.generate(images=images, mask=mask, seed=5, sampler=sampler)
        np.testing.assert_array_equal(done[:, mask], images[:, mask])
    assert (model.generate(images=images, mask=mask, seed=6)[:, ~mask] != done[:, ~mask]).any()


def test_training_lowers_the_loss_and_logs_bits_per_dim(digits):
    model = tiny((8, 8, 1), num_levels=2, num_layers=3)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    history = model.fit(kgen.data.images(digits[:256], batch_size=64, seed=0), epochs=3,
                        verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 0.05
    for loss, bits in zip(history["loss"], history["bits_per_dim"]):
        assert bits == pytest.approx(loss / math.log(2), rel=1e-5)
    assert model.bits_per_dim(digits[:64]) < 1.0


def test_save_load_keeps_likelihood_and_samples(tmp_path):
    model = tiny((2, 2, 3), filters=12, num_classes=2)
    model.compile()
    path = str(tmp_path / "pixelcnn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, PixelCNN) and loaded.num_classes == 2 and loaded.num_levels == 4
    levels = np.random.default_rng(0).integers(0, 4, (5, 2, 2, 3))
    np.testing.assert_allclose(loaded.level_log_prob(levels, labels=1),
                               model.level_log_prob(levels, labels=1), rtol=1e-6)
    np.testing.assert_array_equal(loaded.generate(3, seed=0, labels=[0, 1, 1], sampler="naive"),
                                  model.generate(3, seed=0, labels=[0, 1, 1], sampler="naive"))


def test_labels_change_the_distribution_and_are_checked():
    model = tiny((3, 3, 1), num_classes=2)
    levels = np.random.default_rng(0).integers(0, 4, (6, 3, 3, 1))
    by_label = [model.level_log_prob(levels, labels=k) for k in range(2)]
    assert not np.allclose(by_label[0], by_label[1])
    np.testing.assert_allclose(model.level_log_prob(levels, labels=[0, 1] * 3),
                               np.where(np.arange(6) % 2, by_label[1], by_label[0]), rtol=1e-6)
    with pytest.raises(ValueError, match=r"labels must be class indices in 0\.\.1 \(num_classes=2\); got \[2\]"):
        model.level_log_prob(levels, labels=2)
    with pytest.raises(ValueError, match="class-conditional"):
        model.level_log_prob(levels)
    with pytest.raises(ValueError, match="6 labels for 2 samples"):
        model.sample_levels(2, labels=np.arange(6) % 2)
    with pytest.raises(ValueError, match="not class-conditional"):
        tiny((3, 3, 1)).log_prob(np.zeros((1, 3, 3, 1), "float32"), labels=0)


def test_levels_inputs_train_with_fit():
    rng = np.random.default_rng(0)
    # Code maps (N, H, W) where code k is mostly followed by code k + 1.
    codes = (rng.integers(0, 4, (256, 1, 1)) + np.arange(16).reshape(1, 4, 4)) % 4
    model = tiny((4, 4), inputs="levels")
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    history = model.fit(codes.astype("int32"), batch_size=64, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    np.testing.assert_allclose(model.log_prob(codes[:4]), model.level_log_prob(codes[:4]))
    assert model.sample_levels(2, seed=0, sampler="naive").shape == (2, 4, 4, 1)


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="num_levels must be an integer of at least 2"):
        PixelCNN.from_shape((4, 4, 1), num_levels=1)
    with pytest.raises(ValueError, match="inputs must be one of"):
        tiny(inputs="pixels")
    with pytest.raises(ValueError, match="multiple of the image's channels"):
        GatedPixelCNN((4, 4, 3), filters=4)
    model = tiny()
    with pytest.raises(ValueError, match=r"images of shape \(4, 4, 1\)"):
        model.log_prob(np.zeros((2, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="levels must lie in 0 .. 3"):
        model.level_log_prob(np.full((1, 4, 4, 1), 4))
    with pytest.raises(TypeError, match="levels must be integers"):
        model.level_log_prob(np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        model.generate(2, temperature=0.0)
    with pytest.raises(ValueError, match="mask must have shape"):
        model.generate(images=np.zeros((2, 4, 4, 1), "float32"), mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="needs both images="):
        model.generate(images=np.zeros((2, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="network was built with num_levels=4"):
        PixelCNN(model.network, num_levels=8)
    # Any Keras network with causal logits (N, H, W, C, L) will do; its L must match.
    inputs = keras.Input((4, 4, 1))
    logits = keras.layers.Reshape((4, 4, 1, 3))(MaskedConv2D(3, 3, "A")(inputs))
    with pytest.raises(ValueError, match=r"must output logits \(N, H, W, C, num_levels=4\)"):
        PixelCNN(keras.Model(inputs, logits), num_levels=4)
