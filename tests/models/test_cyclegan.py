"""CycleGAN: the residual generator, the image history pool, the cycle and identity losses,
the unpaired training step, generate, save/load."""

import keras
import numpy as np
import pytest

import kgen
from kgen.models import CycleGAN, ImageHistoryPool
from kgen.networks import ReflectionPadding2D, patchgan_discriminator, resnet_generator

from harness import values


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def unpaired_digits(n=32):
    """Domain A: upright digits; domain B: other digits rotated by 90 degrees."""
    x = kgen.data.to_data_space(kgen.data.load("digits")[: 2 * n])
    return x[:n], np.ascontiguousarray(np.rot90(x[n:], axes=(1, 2)))


def distinct_images(n, start, shape=(2, 2, 1)):
    """``n`` constant images with values start, start + 1, ... (told apart by one pixel)."""
    return (start + np.arange(n, dtype="float32")).reshape(n, 1, 1, 1) * np.ones(shape, "float32")


def ids(images):
    return sorted(numpy(images)[:, 0, 0, 0].tolist())


# -------------------------------------------------------------- networks
def test_reflection_padding_and_the_resnet_generator():
    x = np.arange(12, dtype="float32").reshape(1, 3, 4, 1)
    padded = numpy(ReflectionPadding2D((1, 2))(x))
    np.testing.assert_array_equal(padded[0, ..., 0],
                                  np.pad(x[0, ..., 0], ((1, 1), (2, 2)), mode="reflect"))
    with pytest.raises(ValueError, match="needs a height above 3"):
        ReflectionPadding2D(3)(x)

    def norms(model):
        return [layer for layer in model.layers
                if isinstance(layer, keras.layers.GroupNormalization)]

    # Under 32 pixels: no halving, a quarter of the side in blocks, no normalisation.
    g = resnet_generator((8, 8, 1), output_channels=3, base_filters=4)
    assert g.output_shape == (None, 8, 8, 3)
    adds = [layer for layer in g.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 2 and tuple(adds[0].output.shape[1:]) == (8, 8, 4)
    assert not norms(g)
    assert len(norms(resnet_generator((8, 8, 1), 3, 4, normalization="instance"))) == 1 + 2 * 2
    assert len(norms(resnet_generator((32, 32, 1), 3, 4, num_blocks=1))) == 1 + 2 * 1
    g = resnet_generator((64, 64, 1), 3, base_filters=4, num_blocks=1, normalization="none")
    assert tuple(g.get_layer("resnet_generator_res_0_add").output.shape[1:]) == (32, 32, 8)
    assert not norms(g)
    # Above 128 pixels: 9 residual blocks (a 4-pixel side allows no downsampling).
    wide = resnet_generator((4, 136, 1), 3, base_filters=4)
    assert sum(isinstance(layer, keras.layers.Add) for layer in wide.layers) == 9
    assert wide.output_shape == (None, 4, 136, 3)
    with pytest.raises(ValueError, match="at least 4x4"):
        resnet_generator((3, 8, 1))
    for build in (lambda kind: resnet_generator((8, 8, 1), normalization=kind),
                  lambda kind: CycleGAN.from_shape((8, 8, 1), normalization=kind)):
        with pytest.raises(ValueError, match="Unknown normalization 'group'; choose one of "
                                             "'auto', 'batch', 'instance', 'none', None"):
            build("group")


# ------------------------------------------------------------------- pool
def test_pool_returns_its_inputs_until_full_then_swaps_half_of_them():
    seed = keras.random.SeedGenerator(0)
    pool = ImageHistoryPool(4)
    pool.build((None, 2, 2, 1))
    assert [v.trainable for v in pool.weights] == [False, False]
    first = distinct_images(3, 1)
    np.testing.assert_array_equal(numpy(pool(first, seed=seed)), first)
    assert int(numpy(pool.count)) == 3
    assert ids(pool.images) == [0.0, 1.0, 2.0, 3.0]  # slot 3 still empty (zeros)

    # The first image of the next batch fills slot 3 and comes back as it is; the
    # others each come back as they are or as a stored image, which they replace.
    second = distinct_images(3, 11)
    out = numpy(pool(second, seed=seed))
    assert int(numpy(pool.count)) == 4
    assert out[0, 0, 0, 0] == 11.0
    stored = ids(pool.images)
    assert 11.0 in stored or 11.0 in out[1:, 0, 0, 0]
    for image, returned in zip(second[1:], out[1:]):
        assert returned[0, 0, 0] in (image[0, 0, 0], 1.0, 2.0, 3.0, 11.0)

    # Full pool: nothing is lost or made up, each new image is returned or stored, and
    # about half of them are swapped.
    big = ImageHistoryPool(64)
    big.build((None, 2, 2, 1))
    big(distinct_images(64, 0), seed=seed)
    new = distinct_images(64, 100)
    before = ids(big.images)
    out = big(new, seed=seed)
    assert sorted(ids(out) + ids(big.images)) == sorted(before + ids(new))
    swapped = int(np.sum(numpy(out)[:, 0, 0, 0] < 100))
    assert 16 <= swapped <= 48
    assert int(numpy(big.count)) == 64


def test_pool_of_size_zero_is_off_and_pool_size_is_checked():
    pool = ImageHistoryPool(0)
    pool.build((None, 2, 2, 1))
    images = distinct_images(3, 1)
    np.testing.assert_array_equal(numpy(pool(images, seed=0)), images)
    assert pool.weights == []
    with pytest.raises(ValueError, match="pool_size must be an integer of at least 0"):
        ImageHistoryPool(-1)
    with pytest.raises(TypeError, match="pool_size must be an integer"):
        ImageHistoryPool(2.5)
    assert ImageHistoryPool.from_config(ImageHistoryPool(7).get_config()).pool_size == 7


# ----------------------------------------------------------------- losses
def scaling(shape, factor, name):
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Rescaling(factor, name=f"{name}_scale")(inputs),
                       name=name)


def test_cycle_and_identity_losses_in_closed_form():
    a, b = unpaired_digits(8)
    d_a, d_b = (patchgan_discriminator((8, 8, 1), base_filters=4, num_layers=1,
                                       name=f"discriminator_{domain}") for domain in "ab")
    same = CycleGAN(scaling((8, 8, 1), 1.0, "generator_ab"),
                    scaling((8, 8, 1), 1.0, "generator_ba"), d_a, d_b, pool_size=0)
    assert float(numpy(same.cycle_loss(a, b))) == 0.0  # identity generators: exactly 0
    assert float(numpy(same.identity_loss(a, b))) == 0.0
    np.testing.assert_array_equal(same.generate(inputs=a), a)
    # G_AB halves, G_BA doubles: they invert each other (cycle 0), yet neither is the
    # identity: L_id = mean|b/2 - b| + mean|2a - a| = mean|b|/2 + mean|a|. The losses are
    # float32 means over 512 pixels, summed in the order the backend's compiler picks
    # (up to 1.5e-6 relative from the float64 mean, measured): within 1e-5.
    inverse = CycleGAN(scaling((8, 8, 1), 0.5, "generator_ab"),
                       scaling((8, 8, 1), 2.0, "generator_ba"), d_a, d_b, pool_size=0)
    assert float(numpy(inverse.cycle_loss(a, b))) == pytest.approx(0.0, abs=1e-7)
    assert float(numpy(inverse.identity_loss(a, b))) == pytest.approx(
        np.mean(np.abs(b), dtype="float64") / 2 + np.mean(np.abs(a), dtype="float64"),
        rel=1e-5)
    # G_AB halves, G_BA keeps: L_cyc = mean|a/2 - a| + mean|b/2 - b|.
    lossy = CycleGAN(scaling((8, 8, 1), 0.5, "generator_ab"),
                     scaling((8, 8, 1), 1.0, "generator_ba"), d_a, d_b, pool_size=0)
    assert float(numpy(lossy.cycle_loss(a, b))) == pytest.approx(
        (np.mean(np.abs(a), dtype="float64") + np.mean(np.abs(b), dtype="float64")) / 2,
        rel=1e-5)


# ------------------------------------------------------------------ model
def test_cyclegan_trains_fills_its_pools_and_round_trips(tmp_path):
    a, b = unpaired_digits(32)
    # Small networks keep the step quick to compile: no residual block, one strided layer.
    assert (CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=0).identity_weight
            == 0.0)  # off by default; on here, to check that its term is counted
    model = CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=0, num_layers=1,
                                pool_size=8, seed=0, identity_weight=0.5)
    assert (model.cycle_weight, model.identity_weight, model.loss) == (10.0, 0.5,
                                                                      "least_squares")
    pool_variables = model.pool_a.weights + model.pool_b.weights
    tracked = {id(v) for v in model.non_trainable_variables}
    assert len(pool_variables) == 4 and all(id(v) in tracked for v in pool_variables)
    model.compile()
    history = model.fit(a, b, batch_size=8, epochs=1, verbose=0, shuffle=False).history
    assert set(history) == {"d_loss", "d_a_loss", "d_b_loss", "g_loss", "g_ab_adv",
                            "g_ba_adv", "cycle", "identity"}
    for key, series in history.items():
        assert np.all(np.isfinite(series)), key
    # The logs add up: d = d_A + d_B; g = adversarial + 10 * cycle + 10 * 0.5 * identity.
    assert history["d_loss"][0] == pytest.approx(
        history["d_a_loss"][0] + history["d_b_loss"][0], rel=1e-5)
    assert history["g_loss"][0] == pytest.approx(
        history["g_ab_adv"][0] + history["g_ba_adv"][0] + 10.0 * history["cycle"][0]
        + 5.0 * history["identity"][0], rel=1e-5)
    for name in ("discriminator", "generator"):
        assert int(numpy(model.optimizer[name].iterations)) == 4
    # Four steps of 8 images each filled both pools with translated images (tanh outputs).
    for pool in (model.pool_a, model.pool_b):
        assert int(numpy(pool.count)) == 8
        stored = numpy(pool.images)
        assert np.all(np.abs(stored) < 1) and np.all(np.std(stored, axis=(1, 2, 3)) > 0)

    to_b = model.generate(inputs=a[:4])
    to_a = model.generate(inputs=b[:4], direction="b_to_a")
    assert to_b.shape == to_a.shape == (4, 8, 8, 1) and to_b.dtype == np.float32
    np.testing.assert_allclose(to_b, numpy(model.generator_ab(a[:4], training=False)),
                               rtol=1e-5, atol=1e-6)
    path = str(tmp_path / "cyclegan.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, CycleGAN) and loaded.pool_size == 8
    np.testing.assert_array_equal(loaded.generate(inputs=a[:4]), to_b)
    np.testing.assert_array_equal(loaded.generate(inputs=b[:4], direction="b_to_a"), to_a)
    for got, expected in zip(values(loaded.pool_b.weights), values(model.pool_b.weights)):
        np.testing.assert_array_equal(got, expected)


def test_cyclegan_between_different_channel_counts():
    model = CycleGAN.from_shape((8, 8, 1), (8, 8, 3), base_filters=4, num_blocks=0,
                                num_layers=1, identity_weight=0.0)
    gray = np.zeros((3, 8, 8, 1), "float32")
    colour = model.generate(inputs=gray)
    assert colour.shape == (3, 8, 8, 3)
    assert model.generate(inputs=colour, direction="b_to_a").shape == (3, 8, 8, 1)
    assert model.pool_b.images.shape == (50, 8, 8, 3)
    with pytest.raises(ValueError, match="Pass identity_weight=0"):
        CycleGAN.from_shape((8, 8, 1), (8, 8, 3), base_filters=4, num_blocks=0,
                            num_layers=1, identity_weight=0.5)


def test_cyclegan_bad_inputs_get_clear_errors():
    a, b = unpaired_digits(8)
    model = CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=0, num_layers=1,
                                pool_size=4)
    model.compile()
    with pytest.raises(ValueError, match="got no B images"):
        model.fit(a, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"CycleGAN expects training B images of shape "
                       r"\(8, 8, 1\).*got training B images of 3 channels"):
        model.fit(a, np.repeat(b, 3, axis=-1), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Unknown direction 'forward'; choose one of"):
        model.generate(inputs=a, direction="forward")
    with pytest.raises(ValueError, match="Unknown direction 'forward'; choose one of"):
        model.serving_functions(direction="forward")
    with pytest.raises(ValueError, match=r"must have shape \(n,\) \+ \(8, 8, 1\)"):
        model.generate(inputs=np.zeros((2, 16, 16, 1), "float32"), direction="b_to_a")
    with pytest.raises(TypeError, match="non-image dtype int64"):
        model.generate(inputs=kgen.data.load("digits")[:2].astype("int64"))
    with pytest.raises(TypeError, match=r"non-image dtype int32.*x\.astype\(np\.uint8\)"):
        model.fit(a, b.astype("int32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"Float training B images must lie in \[-1, 1\]"):
        model.fit(a, 255.0 * b, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="generator_ba must map"):
        CycleGAN(model.generator_ab, resnet_generator((8, 8, 1), 3, base_filters=4,
                                                      num_blocks=0),
                 model.discriminator_a, model.discriminator_b)
    with pytest.raises(ValueError, match="discriminator_b must take images of shape"):
        CycleGAN(model.generator_ab, model.generator_ba, model.discriminator_a,
                 patchgan_discriminator((16, 16, 1), base_filters=4, num_layers=1))
    with pytest.raises(TypeError, match="cycle_weight must be a number"):
        CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=0, num_layers=1,
                            cycle_weight="10")
    with pytest.raises(ValueError, match=r"identity_weight must be a number in \[0, inf\]"):
        CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=0, num_layers=1,
                            identity_weight=-0.5)


def test_cyclegan_converts_uint8_inputs_like_to_data_space():
    pixels = kgen.data.load("digits")[:4]
    model = CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=0, num_layers=1,
                                pool_size=0)
    data_space = kgen.data.to_data_space(pixels)
    for direction in ("a_to_b", "b_to_a"):
        np.testing.assert_array_equal(model.generate(inputs=pixels, direction=direction),
                                      model.generate(inputs=data_space, direction=direction))
    # The cycle of the step's losses sees the converted images too.
    model.compile()
    from_pixels = model.evaluate(pixels, pixels[::-1], batch_size=4, verbose=0,
                                 return_dict=True)
    from_floats = model.evaluate(data_space, data_space[::-1], batch_size=4, verbose=0,
                                 return_dict=True)
    for key in ("cycle", "identity", "d_loss", "g_loss"):
        assert from_pixels[key] == pytest.approx(from_floats[key], rel=1e-6, abs=1e-7), key
