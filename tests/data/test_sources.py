"""Tests for kgen.data.open_source: every spec form, the clear errors, and DataSource."""

import sys

import numpy as np
import pytest
from PIL import Image

from kgen import data


def _save(folder, name, array):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(folder / name)


# ---------------------------------------------------------------- bundled
def test_bundled_digits_with_labels():
    source = data.open_source("digits", labels=True, split="train")
    assert source.kind == "samples" and source.spec == "digits"
    assert source.shape == (8, 8, 1) and source.num_examples == 1437
    assert source.num_classes == 10 and source.class_names == tuple("0123456789")
    assert source.description == "digits: 1437 images of 8x8x1 (split train), 10 classes"
    x, y = source.arrays()
    reference, labels = data.load("digits", split="train", return_labels=True)
    np.testing.assert_array_equal(x, reference)
    np.testing.assert_array_equal(y, labels)
    batch, batch_labels = next(iter(source.dataset(32, seed=0)))
    assert batch.shape == (32, 8, 8, 1) and batch.dtype == "float32"
    assert batch_labels.dtype == "int32"
    assert np.min(batch) >= -1 and np.max(batch) <= 1


def test_bundled_digits_resized_to_rgb_without_labels():
    source = data.open_source("digits", image_size=16, channels=3)
    assert source.shape == (16, 16, 3) and source.num_classes is None
    x = source.arrays(limit=5)
    assert x.shape == (5, 16, 16, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    assert not isinstance(next(iter(source.dataset(8))), tuple)


def test_bundled_points():
    source = data.open_source("ring", labels=True, seed=3)
    assert source.shape == (2,) and source.num_classes == 8 and len(source.class_names) == 8
    points, modes = source.arrays()
    expected, expected_modes = data.load("ring", seed=3, return_labels=True)
    np.testing.assert_array_equal(points, expected)
    np.testing.assert_array_equal(modes, expected_modes)
    x, y = next(iter(source.dataset(100, seed=0)))
    assert x.shape == (100, 2) and x.dtype == "float32" and y.dtype == "int32"
    with pytest.raises(ValueError, match="2-D points.*nothing to flip"):
        source.dataset(100, flip=True)
    with pytest.raises(ValueError, match="2-D points, not images: image_size"):
        data.open_source("grid", image_size=8)


@pytest.mark.parametrize("kind, spec", [("paired", "digits-edges"), ("paired", "digits-inverted"),
                                        ("unpaired", "digits-rotated"),
                                        ("unpaired", "digits-inverted")])
def test_bundled_translation_sets(kind, spec):
    source = data.open_source(spec, kind=kind, split="test", image_size=16)
    assert source.kind == kind and source.shape == source.target_shape == (16, 16, 1)
    a, b = source.arrays()
    loader = data.load_paired if kind == "paired" else data.load_unpaired
    expected_a, expected_b = loader(spec, split="test", image_size=16)
    np.testing.assert_array_equal(a, expected_a)
    np.testing.assert_array_equal(b, expected_b)
    x, y = next(iter(source.dataset(16, seed=0)))
    assert x.shape == y.shape == (16, 16, 16, 1)


def test_pictures_and_content_style(tmp_path):
    image = data.open_source("astronaut", kind="image", image_size=16)
    np.testing.assert_array_equal(image.images[0], data.load_image("astronaut", size=16))
    assert image.shape == (16, 16, 3) and image.num_examples == 1
    np.testing.assert_array_equal(image.arrays(), image.images)
    pair = data.open_source("astronaut, brick", kind="content_style", image_size=16)
    assert pair.images.shape == (2, 16, 16, 3) and pair.images.dtype == np.uint8
    np.testing.assert_array_equal(pair.images[1], data.load_image("brick", size=16, channels=3))
    picture = np.zeros((10, 20, 3), np.uint8)
    picture[:, 3:17] = 255  # wider than the centre square
    _save(tmp_path, "wide.png", picture)
    from_file = data.open_source(str(tmp_path / "wide.png"), kind="image", image_size=5)
    assert from_file.images.shape == (1, 5, 5, 3) and np.all(from_file.images == 255)
    mixed = data.open_source(f"coffee,{tmp_path / 'wide.png'}", kind="content_style",
                             image_size=8)
    assert mixed.images.shape == (2, 8, 8, 3)
    with pytest.raises(ValueError, match="no batches.*source.images"):
        image.dataset(1)
    with pytest.raises(ValueError, match="no batches"):
        pair.steps_per_epoch(1)
    with pytest.raises(ValueError,
                       match=r"content image is 512x512.*style image 10x20.*image_size"):
        data.open_source(f"astronaut,{tmp_path / 'wide.png'}", kind="content_style")


# ---------------------------------------------------------------- folders
def test_folder_spec_forms(tmp_path):
    for i in range(4):
        _save(tmp_path / "imgs", f"{i}.png", np.full((8, 8), 60 * i))
    by_prefix = data.open_source(f"folder:{tmp_path / 'imgs'}")
    by_path = data.open_source(str(tmp_path / "imgs"))
    by_pathlike = data.open_source(tmp_path / "imgs")
    for source in (by_prefix, by_path, by_pathlike):
        assert source.num_examples == 4 and source.shape == (8, 8, 1)
        np.testing.assert_array_equal(source.arrays()[:, 0, 0, 0], [0, 60, 120, 180])
    assert by_prefix.description.startswith(f"folder:{tmp_path / 'imgs'}: 4 images of 8x8x1")


# ---------------------------------------------------------------- TensorFlow Datasets
_BUILDERS = {}


def _tiny_tfds_builder():
    """A two-class TensorFlow Datasets builder of 8x8 images, made without network."""
    if "builder" not in _BUILDERS:
        tfds = pytest.importorskip("tensorflow_datasets")

        class KgenTinySquares(tfds.core.GeneratorBasedBuilder):
            VERSION = tfds.core.Version("1.0.0")

            def _info(self):
                return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(names=["dark", "light"])}))

            def _split_generators(self, dl_manager):
                return {"train": self._generate_examples(6), "test": self._generate_examples(2)}

            def _generate_examples(self, count):
                for i in range(count):
                    yield i, {"image": np.full((8, 8, 1), 40 * i, np.uint8), "label": i % 2}

        tfds.disable_progress_bar()
        _BUILDERS["builder"] = KgenTinySquares
    return _BUILDERS["builder"]


def test_tfds_spec_loads_a_prepared_set(tmp_path, monkeypatch):
    builder = _tiny_tfds_builder()
    builder(data_dir=str(tmp_path)).download_and_prepare()
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    source = data.open_source("tfds:kgen_tiny_squares", labels=True)  # "all": the train split
    assert source.num_examples == 6 and source.shape == (8, 8, 1)
    assert source.class_names == ("dark", "light") and source.num_classes == 2
    x, y = source.arrays()
    assert sorted(x[:, 0, 0, 0].tolist()) == [0, 40, 80, 120, 160, 200]
    np.testing.assert_array_equal(y, (x[:, 0, 0, 0] // 40) % 2)
    test = data.open_source("tfds:kgen_tiny_squares:test", split="train", image_size=4,
                            channels=3)
    assert test.num_examples == 2 and test.shape == (4, 4, 3)  # the spec's split wins
    assert "split test" in test.description
    assert next(iter(test.dataset(2))).shape == (2, 4, 4, 3)


def test_tfds_spec_offline_explains_how_to_prepare(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))  # an empty data folder
    with pytest.raises(RuntimeError) as info:
        data.open_source("tfds:mnist:test")
    message = str(info.value)
    assert "'mnist'" in message and "split 'test'" in message
    assert "tfds.load('mnist')" in message
    assert "TFDS_DATA_DIR" in message and "~/tensorflow_datasets" in message


def test_tfds_spec_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(RuntimeError, match=r"needs the tensorflow-datasets package.*"
                                           r"pip install tensorflow-datasets"):
        data.open_source("tfds:mnist")


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "spec, options, error, match",
    [
        ("cifar", {}, ValueError,
         r"Unknown data source 'cifar' for kind='samples'.*'digits', 'ring', 'grid', "
         r"'captioned_digits', 'tfds:NAME\[:SPLIT\]'.*'folder:PATH'"),
        ("edges", {"kind": "paired"}, ValueError,
         r"Unknown data source 'edges'.*'digits-edges', 'digits-inverted'"),
        ("digits-edges", {}, ValueError, r"'digits-edges' is a paired data set.*kind='paired'"),
        ("digits", {"kind": "unpaired"}, ValueError, r"'digits' is a samples data set"),
        ("astronaut", {}, ValueError, r"'astronaut' is an image data set.*kind='image'"),
        ("digits", {"kind": "image"}, ValueError, r"kind='samples'"),
        ("teapot", {"kind": "image"}, ValueError, r"Unknown picture 'teapot'.*'astronaut'"),
        ("astronaut", {"kind": "content_style"}, ValueError, r"'CONTENT,STYLE'"),
        ("tfds:", {}, ValueError, r"Empty TensorFlow Datasets name.*'tfds:mnist'"),
        ("tfds:mnist", {"kind": "paired"}, ValueError, r"unpaired data; paired data comes"),
        ("folder:/no/such/folder", {}, FileNotFoundError, r"'/no/such/folder' does not exist"),
        ("./no/such/folder", {}, FileNotFoundError, r"Folder './no/such/folder' does not exist"),
        ("/no/such.png", {"kind": "image"}, FileNotFoundError, r"'/no/such\.png' does not exist"),
        ("", {}, ValueError, r"Empty data source spec"),
        (3, {}, TypeError, r"spec must be a string or a path; got int"),
        ("digits", {"kind": "points"}, ValueError, r"Unknown kind 'points'.*'samples'"),
        ("digits", {"split": "valid"}, ValueError, r"Unknown split 'valid'"),
        ("digits", {"labels": 1}, TypeError, r"labels must be True or False"),
        ("digits-edges", {"kind": "paired", "labels": True}, ValueError, r"labels=True needs"),
        ("digits", {"image_size": 0}, ValueError, r"image_size must be an integer of at least 1"),
        ("digits", {"image_size": 8.0}, TypeError, r"image_size must be an integer"),
        ("digits", {"channels": 2}, ValueError, r"channels must be 1, 3 or None"),
        ("digits", {"seed": -1}, ValueError, r"seed must be an integer"),
    ],
)
def test_bad_specs_and_options(spec, options, error, match):
    with pytest.raises(error, match=match):
        data.open_source(spec, **options)


def test_folder_split_and_file_errors(tmp_path):
    _save(tmp_path, "a.png", np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"read whole, so split must be 'all'; got 'train'"):
        data.open_source(tmp_path, split="train")
    with pytest.raises(ValueError, match=r"is a file; kind='samples' takes a folder"):
        data.open_source(str(tmp_path / "a.png"))
    with pytest.raises(ValueError, match=r"is a folder; kind='image' takes one image file"):
        data.open_source(str(tmp_path), kind="image")


# ---------------------------------------------------------------- DataSource
def test_batch_size_larger_than_the_data_names_both_numbers_and_the_option():
    source = data.open_source("digits", split="test")
    assert source.steps_per_epoch(360) == 1 and source.steps_per_epoch(100) == 3
    for call in (source.steps_per_epoch, source.dataset):
        with pytest.raises(ValueError, match=r"Batch size 361 is larger than the 360 examples of "
                                             r"'digits'.*at most 360 \(--batch-size"):
            call(361)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        source.dataset(8.0)
    with pytest.raises(ValueError, match="first_epoch must be an integer of at least 0"):
        source.dataset(8, first_epoch=-1)
    with pytest.raises(TypeError, match="flip must be True or False"):
        source.dataset(8, flip="yes")


def test_dataset_cardinality_and_steps():
    import tensorflow as tf

    source = data.open_source("digits", split="test")
    assert source.dataset(100, repeat=False).cardinality().numpy() == 3
    assert source.dataset(100).cardinality().numpy() == tf.data.INFINITE_CARDINALITY
    batches = list(source.dataset(100, repeat=False))
    assert [len(b) for b in batches] == [100, 100, 100]  # the remainder of 60 is dropped
