"""Bad inputs to the models of every family: each a clear error or a documented conversion.

The checks run before training (arrays, dataset element specs) or as batches are read
(the guard of `kgen.data.guard`), so most tests here train nothing: they call ``fit()``
with data that is refused before the first step, or with ``epochs=0``. A few tests
train a tiny model end to end.
"""

import os
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import kgen
from kgen import checks
from kgen.cli import main as cli_main
from kgen.data import guard
from kgen.models import registry

from checks_catalogue import covers
from harness import NUM_CLASSES, build_tiny, tiny_gan, tiny_network, values

BATCHED = [f for f in registry.families() if f.trains_on_batches]
ALL = registry.families()
#: Families whose samples are images (a GAN or VAE of points is built from (2,)).
IMAGE_SAMPLES = BATCHED
LABELLED = [f for f in BATCHED if f.data == "samples" and f.labels != "none"]
PAIRED = [f for f in BATCHED if f.data in ("paired", "unpaired")]
#: Families whose fit() checks the shape of its arrays itself before the checks every
#: family shares: they refuse images of another shape, channels-first images and
#: grayscale images without a channel axis with their own message, which names the
#: shape they take and from_shape.
OWN_SHAPE_CHECKS = {"diffusion"}


def ids(families):
    return [f.name for f in families]


_MODELS = {}


def tiny(family):
    """The family's tiny model (built once per module: these checks do not train it)
    and its data as uint8 images (labels as int32)."""
    if family.name not in _MODELS:
        model, arrays = build_tiny(family)
        model.compile()
        x, y = arrays
        pixels = to_pixels(x)
        if family.data in ("paired", "unpaired"):
            y = to_pixels(y)
        _MODELS[family.name] = (model, pixels, y)
    return _MODELS[family.name]


def to_pixels(x):
    return np.round((np.asarray(x) + 1.0) * 127.5).astype("uint8")


def numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value))


# ------------------------------------------------------------------ conversion
@covers("fit-uint8", "fit-uint16")
@pytest.mark.parametrize("family", BATCHED, ids=ids(BATCHED))
def test_integer_images_become_data_space_in_the_training_step(family):
    model, pixels, y = tiny(family)
    x, target = model.prepare_batch((pixels, y))
    np.testing.assert_array_equal(numpy(x), kgen.data.to_data_space(pixels))
    assert numpy(x).dtype == np.float32
    if family.data in ("paired", "unpaired"):
        np.testing.assert_array_equal(numpy(target), kgen.data.to_data_space(y))
    elif y is not None:
        np.testing.assert_array_equal(numpy(target), y)   # labels pass as they are
    wide = pixels.astype("uint16") * 257   # the same images as 16-bit pixel values
    x16, _ = model.prepare_batch((wide, y))
    np.testing.assert_array_equal(numpy(x16), kgen.data.to_data_space(wide))
    np.testing.assert_allclose(numpy(x16), numpy(x), atol=1e-6)
    floats = kgen.data.to_data_space(pixels)
    np.testing.assert_array_equal(numpy(model.prepare_batch((floats, y))[0]), floats)


class _Batches(keras.utils.PyDataset):
    """A PyDataset of fixed batches."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


@covers("fit-uint8")
def test_diffusion_trains_on_a_uint8_dataset_exactly_as_on_data_space():
    pixels = kgen.data.load("digits")[:16]
    runs = []
    for images in (pixels, kgen.data.to_data_space(pixels)):
        keras.utils.set_random_seed(0)   # the same initial weights
        model = kgen.models.Diffusion(network=tiny_network(), timesteps=10,
                                      schedule="cosine", seed=0)
        model.compile()
        history = model.fit(tf.data.Dataset.from_tensor_slices(images).batch(8), epochs=1,
                            verbose=0)
        runs.append((values(model.network.weights), history.history["loss"]))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(runs[0][1], runs[1][1], atol=1e-6)
    assert np.isfinite(runs[0][1]).all()


# ------------------------------------------------------------- float range
@covers("fit-float-outside")
@pytest.mark.parametrize("family", BATCHED, ids=ids(BATCHED))
def test_float_images_outside_data_space_are_refused(family):
    model, pixels, y = tiny(family)
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\].*x / 127\.5 - 1"):
        model.fit(pixels.astype("float32"), y, epochs=1, verbose=0)
    if family.data in ("paired", "unpaired"):
        floats = kgen.data.to_data_space(pixels)
        with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
            model.fit(floats, y.astype("float32"), epochs=1, verbose=0)


@covers("fit-zero-to-one")
@pytest.mark.parametrize("family", BATCHED, ids=ids(BATCHED))
def test_zero_to_one_floats_warn_and_are_taken_as_given(family):
    model, pixels, y = tiny(family)
    unit = (pixels / 255.0).astype("float32")
    with pytest.warns(checks.ZeroToOneWarning, match=r"2 \* x - 1"):
        model.fit(unit, y, epochs=0, verbose=0)
    batches = tf.data.Dataset.from_tensor_slices(
        unit if y is None else (unit, y)).batch(8)
    guarded = guard.guard_dataset(batches, model.training_expectation())
    with pytest.warns(checks.ZeroToOneWarning):
        first = next(iter(guarded))
    np.testing.assert_array_equal(first if y is None else first[0], unit[:8])


@covers("fit-float-outside-dataset")
@pytest.mark.parametrize("family", BATCHED, ids=ids(BATCHED))
def test_float_images_outside_data_space_stop_a_dataset_at_their_batch(family):
    model, pixels, y = tiny(family)
    floats = kgen.data.to_data_space(pixels)
    floats[9] *= 3.0   # batch index 1 of batches of 8
    data = floats if y is None else (floats, y)
    guarded = guard.guard_dataset(tf.data.Dataset.from_tensor_slices(data).batch(8),
                                  model.training_expectation())
    with pytest.raises(Exception) as raised:
        list(guarded)
    bad = guard.bad_batch_of(raised.value)
    assert bad is not None and bad.batch == 1
    assert "outside kgen's data space [-1, 1]" in bad.message(0)
    parts = [floats[:8], floats[8:16]]
    batches = [p if y is None else (p, y[8 * i:8 * i + 8]) for i, p in enumerate(parts)]
    with pytest.raises(guard.BadBatch, match=r"batch 2 \(index 1\).*\[-1, 1\]"):
        [item for item in guard.GuardedPyDataset(_Batches(batches),
                                                  model.training_expectation())]


# ----------------------------------------------------------------- dtypes
@covers("fit-integer-dtype")
@pytest.mark.parametrize("family", BATCHED, ids=ids(BATCHED))
def test_other_integer_images_are_refused_with_the_fix(family):
    model, pixels, y = tiny(family)
    with pytest.raises(TypeError, match=r"astype\(np.uint8\)"):
        model.fit(pixels.astype("int32"), y, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="dtype bool"):
        model.fit(pixels > 0, y, epochs=1, verbose=0)
    data = pixels.astype("int64") if y is None else (pixels.astype("int64"), y)
    with pytest.raises(TypeError, match="cast them to uint8"):
        model.fit(tf.data.Dataset.from_tensor_slices(data).batch(8), epochs=1, verbose=0)


# ------------------------------------------------------------- NaN and inf
@covers("fit-nan")
@pytest.mark.parametrize("family", BATCHED, ids=ids(BATCHED))
def test_nan_in_arrays_is_refused_before_training(family):
    model, pixels, y = tiny(family)
    floats = kgen.data.to_data_space(pixels)
    floats[3, 0, 0, 0] = np.nan
    floats[4, 1, 1, 0] = np.inf
    with pytest.raises(ValueError, match="2 non-finite values"):
        model.fit(floats, y, epochs=1, verbose=0)


@covers("fit-nan-dataset")
@pytest.mark.parametrize("family", BATCHED, ids=ids(BATCHED))
def test_nan_in_a_dataset_names_its_batch(family):
    model, pixels, y = tiny(family)
    floats = kgen.data.to_data_space(pixels)
    floats[17, 2, 2, 0] = np.nan   # batch index 2 of batches of 8
    expectation = model.training_expectation()
    data = floats if y is None else (floats, y)
    with pytest.raises(Exception) as raised:
        list(guard.guard_dataset(tf.data.Dataset.from_tensor_slices(data).batch(8),
                                 expectation))
    bad = guard.bad_batch_of(raised.value)
    assert bad is not None and bad.batch == 2
    assert "NaN or infinite" in bad.message(0)
    batches = [floats[i:i + 8] if y is None else (floats[i:i + 8], y[i:i + 8])
               for i in range(0, 24, 8)]
    guarded = guard.GuardedPyDataset(_Batches(batches), expectation)
    guarded[1]
    with pytest.raises(guard.BadBatch, match=r"batch 3 \(index 2\).*NaN or infinite"):
        guarded[2]


@covers("fit-nan-dataset")
@pytest.mark.parametrize("kind", ["tf.data", "PyDataset"])
def test_fit_stops_at_a_nan_batch_with_its_epoch_and_batch(kind):
    floats = kgen.data.to_data_space(kgen.data.load("digits")[:24])
    floats[1] = np.nan   # the first batch: nothing trains on it
    batches = [floats[i:i + 8] for i in range(0, 24, 8)]
    data = tf.data.Dataset.from_tensor_slices(floats).batch(8) if kind == "tf.data" \
        else _Batches(batches)
    gan = tiny_gan()
    gan.compile()
    before = values(gan.weights)
    with pytest.raises(ValueError, match=r"Bad training data in epoch 2, batch 1 \(index 0\): "
                                         r"the images contain NaN or infinite values"):
        gan.fit(data, epochs=3, initial_epoch=1, verbose=0)   # starts at the second epoch
    # The model is left as it was, and usable.
    for a, b in zip(values(gan.weights), before):
        np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(gan.generate(2, seed=0)))


# ------------------------------------------------------------------- labels
@covers("fit-labels-out-of-range")
@pytest.mark.parametrize("family", LABELLED, ids=ids(LABELLED))
def test_labels_out_of_range_are_refused_before_training(family):
    model, pixels, y = tiny(family)
    bad = y.copy()
    bad[5] = NUM_CLASSES + 2
    with pytest.raises(ValueError, match=rf"0\.\.{NUM_CLASSES - 1}.*{NUM_CLASSES + 2}"):
        model.fit(pixels, bad, epochs=1, verbose=0)
    bad[5] = -1
    with pytest.raises(ValueError, match=r"-1"):
        model.fit(pixels, bad, epochs=1, verbose=0)


@covers("fit-labels-out-of-range-dataset")
@pytest.mark.parametrize("family", LABELLED, ids=ids(LABELLED))
def test_labels_out_of_range_in_a_pipeline_name_the_label_and_num_classes(family):
    model, pixels, y = tiny(family)
    bad = y.copy()
    bad[12] = 7   # batch index 1 of batches of 8
    pipeline = tf.data.Dataset.from_tensor_slices((pixels, bad)).batch(8)
    with pytest.raises(Exception) as raised:
        list(guard.guard_dataset(pipeline, model.training_expectation()))
    problem = guard.bad_batch_of(raised.value)
    assert problem is not None and problem.batch == 1
    assert f"the labels include 7, but {type(model).__name__} was built with " \
           f"num_classes={NUM_CLASSES}" in problem.message(0)


@covers("fit-labels-out-of-range-dataset")
def test_fit_on_a_pipeline_with_labels_out_of_range_stops_with_the_label():
    family = registry.get("conditional_gan")
    model, pixels, y = tiny(family)
    labels = y.copy()
    labels[0] = 5   # the first batch: nothing trains on it
    pipeline = kgen.data.images(pixels, 8, shuffle=False, labels=labels, seed=0)
    with pytest.raises(ValueError, match=rf"epoch 1, batch 1 .*the labels include 5, but "
                                         rf"ConditionalGAN was built with "
                                         rf"num_classes={NUM_CLASSES}"):
        model.fit(pipeline, epochs=1, verbose=0)


# -------------------------------------------------------------------- shapes
@covers("fit-wrong-shape")
@pytest.mark.parametrize("family", IMAGE_SAMPLES, ids=ids(IMAGE_SAMPLES))
def test_images_of_another_shape_name_the_model_and_from_shape(family):
    model, pixels, y = tiny(family)
    name = type(model).__name__
    big = np.zeros((len(pixels), 16, 16, 3), np.uint8)
    target = np.zeros_like(big) if family.data in ("paired", "unpaired") else y
    with pytest.raises(ValueError, match=r"\(8, 8, 1\).*"
                                         rf"{name}\.from_shape\(\(16, 16, 3\)\)"):
        model.fit(big, target, epochs=1, verbose=0)
    colour = np.zeros((len(pixels), 8, 8, 3), np.uint8)
    target = np.zeros_like(colour) if family.data in ("paired", "unpaired") else y
    channels = r"\(8, 8, 1\).*" + (
        "" if family.name in OWN_SHAPE_CHECKS else "3 channels where it takes 1.*") + \
        rf"{name}\.from_shape\(\(8, 8, 3\)\)"
    with pytest.raises(ValueError, match=channels):
        model.fit(colour, target, epochs=1, verbose=0)
    data = big if y is None else (big, np.zeros_like(big) if family.data != "samples" else y)
    with pytest.raises(ValueError, match=rf"{name}\.from_shape\(\(16, 16, 3\)\)"):
        model.fit(tf.data.Dataset.from_tensor_slices(data).batch(8), epochs=1, verbose=0)
    batch = big[:8] if y is None else (big[:8], data[1][:8])
    with pytest.raises(ValueError, match=rf"{name}\.from_shape\(\(16, 16, 3\)\)"):
        guard.GuardedPyDataset(_Batches([batch]), model.training_expectation())[0]


@covers("fit-channels-first")
@pytest.mark.parametrize("family", IMAGE_SAMPLES, ids=ids(IMAGE_SAMPLES))
def test_channels_first_images_are_named_so(family):
    model, pixels, y = tiny(family)
    first = np.transpose(pixels, (0, 3, 1, 2))
    target = np.transpose(y, (0, 3, 1, 2)) if family.data in ("paired", "unpaired") else y
    if family.name in OWN_SHAPE_CHECKS:
        with pytest.raises(ValueError, match=r"takes images of shape \(8, 8, 1\)"):
            model.fit(first, target, epochs=1, verbose=0)
        return
    with pytest.raises(ValueError, match=r"channels-first.*np\.transpose"):
        model.fit(first, target, epochs=1, verbose=0)


@covers("fit-grayscale-rank3")
@pytest.mark.parametrize("family", IMAGE_SAMPLES, ids=ids(IMAGE_SAMPLES))
def test_grayscale_images_without_a_channel_axis_get_one(family):
    model, pixels, y = tiny(family)
    checked = checks.training_array(pixels[..., 0], "samples", "images",
                                    expected=model.data_shapes()[0])
    np.testing.assert_array_equal(checked, pixels)
    target = y[..., 0] if family.data in ("paired", "unpaired") else y
    if family.name in OWN_SHAPE_CHECKS:
        with pytest.raises(ValueError, match=r"takes images of shape \(8, 8, 1\)"):
            model.fit(pixels[..., 0], target, batch_size=8, epochs=0, verbose=0)
        return
    model.fit(pixels[..., 0], target, batch_size=8, epochs=0, verbose=0)


@covers("fit-missing-targets")
@pytest.mark.parametrize("family", PAIRED, ids=ids(PAIRED))
def test_translation_families_need_their_targets(family):
    model, pixels, _ = tiny(family)
    with pytest.raises(ValueError, match=r"(pairs|both domains|B images|targets)"):
        model.fit(pixels, epochs=1, verbose=0)


@covers("fit-validation-data")
@pytest.mark.parametrize("family", BATCHED, ids=ids(BATCHED))
def test_validation_data_is_checked_as_the_training_data(family):
    model, pixels, y = tiny(family)
    floats = kgen.data.to_data_space(pixels)
    bad = floats.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="Validation images contain 1 non-finite"):
        model.fit(floats, y, validation_data=(bad, y), epochs=1, verbose=0)
    small = np.zeros((4, 4, 4, 1), np.uint8)
    target = np.zeros_like(small) if family.data in ("paired", "unpaired") else \
        (None if y is None else y[:4])
    with pytest.raises(ValueError, match=r"validation .*from_shape\(\(4, 4, 1\)\)"):
        model.fit(floats, y, validation_data=(small, target), epochs=1, verbose=0)


# -------------------------------------------------------------------- seeds
@covers("seed-negative")
@pytest.mark.parametrize("family", ALL, ids=ids(ALL))
def test_a_negative_seed_is_refused_by_every_family(family):
    model, _ = build_tiny(family)
    config = model.get_config()
    config["seed"] = -1   # the constructor of the family, with its networks
    with pytest.raises(ValueError, match=r"seed must be an integer in 0\.\.2147483647; got -1"):
        type(model).from_config(config)


@covers("seed-negative", "seed-not-integer")
def test_seeds_too_large_or_not_integers_are_refused():
    with pytest.raises(ValueError, match=r"seed must be an integer in 0\.\.2147483647; got -1"):
        tiny_gan(seed=-1)
    with pytest.raises(ValueError, match=r"seed must be an integer in 0\.\.2147483647"):
        tiny_gan(seed=2 ** 31)
    for seed in (1.5, "0", True):
        with pytest.raises(TypeError, match="seed must be a non-negative integer"):
            tiny_gan(seed=seed)
    assert tiny_gan(seed=2 ** 31 - 1).seed == 2 ** 31 - 1   # a seed every backend takes


# ------------------------------------------------------------ loading files
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A GAN and a VAE saved to .keras files."""
    folder = tmp_path_factory.mktemp("saved")
    files = {}
    for name in ("gan", "vae"):
        model, _ = build_tiny(registry.get(name))
        files[name] = str(folder / f"{name}.keras")
        model.save(files[name])
    return files


@covers("load-weights-other-family")
@pytest.mark.parametrize("family", ALL, ids=ids(ALL))
def test_weights_of_another_family_are_refused_by_name(family, saved):
    model, _ = build_tiny(family)
    other = "vae" if family.name == "gan" else "gan"
    other_class = "VAE" if other == "vae" else "GAN"
    with pytest.raises(ValueError, match=rf"holds a {other_class} \(family '{other}'\) with "
                                         rf".*this model is a {type(model).__name__} "
                                         rf"\(family '{family.name}'\).*kgen\.models\.load"):
        model.load_weights(saved[other])


@covers("load-weights-other-options")
def test_weights_of_other_options_list_the_options_that_differ(saved):
    wider, _ = build_tiny(registry.get("gan"), options={"latent_dim": 16})
    with pytest.raises(ValueError, match=r"latent_dim: 8 in the file, 16 here"):
        wider.load_weights(saved["gan"])
    thicker, _ = build_tiny(registry.get("gan"), options={"base_filters": 8})
    with pytest.raises(ValueError, match=r"networks differ .*base_filters"):
        thicker.load_weights(saved["gan"])
    same, _ = build_tiny(registry.get("gan"), seed=5)
    same.load_weights(saved["gan"])    # the same family and options load
    original = kgen.models.load(saved["gan"])
    for a, b in zip(values(same.weights), values(original.weights)):
        np.testing.assert_array_equal(a, b)


@covers("load-missing", "load-empty", "load-truncated", "load-weights-file", "load-foreign",
        "load-folder")
def test_kgen_models_load_names_what_is_wrong_with_a_file(saved, tmp_path):
    model = kgen.models.load(saved["gan"])
    assert type(model).__name__ == "GAN"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        kgen.models.load(tmp_path / "missing.keras")
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="the file is empty"):
        kgen.models.load(empty)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(open(saved["gan"], "rb").read()[:3000])
    with pytest.raises(ValueError, match="not a .keras archive.*truncated"):
        kgen.models.load(truncated)
    text = tmp_path / "notes.keras"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="not a .keras archive"):
        kgen.models.load(text)
    weights = tmp_path / "gan.weights.h5"
    model.save_weights(weights)
    with pytest.raises(ValueError, match="HDF5 file.*load_weights"):
        kgen.models.load(weights)
    foreign = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(foreign)
    with pytest.raises(ValueError, match=r"class Sequential .*not a kgen model.*"
                                         r"keras\.saving\.load_model"):
        kgen.models.load(foreign)
    with pytest.raises(ValueError, match="is a folder, not a .keras file"):
        kgen.models.load(tmp_path)
    with pytest.raises(TypeError, match="string or a path"):
        kgen.models.load(3)
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="without a config.json"):
        kgen.models.load(tmp_path / "other.keras")


@covers("cli-bad-checkpoint")
def test_the_command_line_loads_checkpoints_through_kgen_models_load(saved, tmp_path, capsys):
    foreign = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(foreign)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(open(saved["gan"], "rb").read()[:3000])
    for path, reason in ((foreign, "not a kgen model"), (truncated, "truncated")):
        with pytest.raises(SystemExit) as stopped:
            cli_main(["generate", str(path), "--out", str(tmp_path / "grid.png")])
        assert stopped.value.code == 2
        error = capsys.readouterr().err
        assert error.startswith("kgen: error: could not load") and reason in error
    assert not os.path.exists(tmp_path / "grid.png")
    assert cli_main(["generate", saved["gan"], "-n", "4", "--out",
                     str(tmp_path / "grid.png")]) in (0, None)
    assert os.path.exists(tmp_path / "grid.png")
