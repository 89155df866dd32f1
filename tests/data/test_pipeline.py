"""Tests for kgen.data: bundled data sets, validation, and the tf.data pipeline."""

import sys

import numpy as np
import pytest

from kgen import data

# ---------------------------------------------------------------------------
# digits


def test_digits_shape_dtype_and_range():
    from sklearn.datasets import load_digits

    x = data.load("digits")
    assert x.shape == (1797, 8, 8, 1)
    assert x.dtype == np.uint8
    assert x.min() == 0 and x.max() == 255
    expected = np.round(load_digits().images * 255.0 / 16.0).astype(np.uint8)
    np.testing.assert_array_equal(x[..., 0], expected)


def test_digits_labels():
    x, y = data.load("digits", return_labels=True)
    assert y.dtype == np.int32
    assert y.shape == (len(x),)
    assert set(np.unique(y)) == set(range(10))


def _rows(images, labels):
    """Each (image, label) pair as one sortable row."""
    return np.concatenate([images.reshape(len(images), -1), labels[:, None]], axis=1).astype(int)


def _sorted_rows(rows):
    return rows[np.lexsort(rows.T[::-1])]


def test_digits_split_is_stratified_disjoint_and_complete():
    x_all, y_all = data.load("digits", return_labels=True)
    x_train, y_train = data.load("digits", split="train", return_labels=True)
    x_test, y_test = data.load("digits", split="test", return_labels=True)
    assert (len(x_train), len(x_test)) == (1437, 360)
    # Together the two parts are exactly "all" (as a multiset of (image, label) pairs).
    together = np.concatenate([_rows(x_train, y_train), _rows(x_test, y_test)])
    np.testing.assert_array_equal(_sorted_rows(together), _sorted_rows(_rows(x_all, y_all)))
    # Stratified: every class is split 80/20.
    for k in range(10):
        assert abs(np.sum(y_test == k) - 0.2 * np.sum(y_all == k)) <= 1
    # Fixed: the same split on every call.
    np.testing.assert_array_equal(data.load("digits", split="test"), x_test)


# ---------------------------------------------------------------------------
# 2-D mixtures


def test_mixture_modes_definitions():
    ring, ring_std = data.mixture_modes("ring")
    assert ring.shape == (8, 2) and ring.dtype == np.float32 and ring_std == 0.01
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(ring[2], [0.0, 1.0], atol=1e-6)  # angle 2*pi*2/8 = pi/2
    grid, grid_std = data.mixture_modes("grid")
    assert grid.shape == (25, 2) and grid.dtype == np.float32 and grid_std == 0.05
    assert len({tuple(m) for m in grid}) == 25
    assert set(np.unique(grid)) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    with pytest.raises(ValueError, match="'ring' and 'grid'"):
        data.mixture_modes("moons")


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_mixture_sample_statistics(name):
    means, std = data.mixture_modes(name)
    points, labels = data.load(name, num_samples=10000, seed=0, return_labels=True)
    assert points.shape == (10000, 2) and points.dtype == np.float32
    assert labels.dtype == np.int32 and labels.min() == 0 and labels.max() == len(means) - 1
    distance = np.linalg.norm(points - means[labels], axis=1)
    # Radially, P(r > 4 std) = exp(-8) ~ 3e-4 per point: a few of 10,000 may lie beyond
    # 4 std, none beyond 5 std, and about 98.9% within 3 std.
    assert np.all(distance < 5 * std)
    assert np.mean(distance < 4 * std) > 0.999
    assert abs(np.mean(distance < 3 * std) - (1 - np.exp(-4.5))) < 0.01
    # Each point is nearest to its own mode, and each cluster centres on its mode.
    nearest = np.argmin(np.linalg.norm(points[:, None] - means[None], axis=2), axis=1)
    np.testing.assert_array_equal(nearest, labels)
    expected_count = len(points) / len(means)
    for k, mean in enumerate(means):
        cluster = points[labels == k]
        assert abs(len(cluster) - expected_count) < 5 * np.sqrt(expected_count)
        np.testing.assert_allclose(cluster.mean(axis=0), mean, atol=5 * std / np.sqrt(len(cluster)))
        np.testing.assert_allclose(cluster.std(axis=0), std, rtol=0.2)


def test_mixture_seed_and_split():
    a = data.load("ring", num_samples=500, seed=3)
    np.testing.assert_array_equal(a, data.load("ring", num_samples=500, seed=3))
    assert not np.array_equal(a, data.load("ring", num_samples=500, seed=4))
    assert not np.array_equal(a, data.load("ring", num_samples=500, seed=3, split="test"))
    np.testing.assert_array_equal(a, data.load("ring", num_samples=500, seed=3, split="train"))


def test_load_errors():
    listing = "Unknown data set 'cifar'.*'digits'.*'ring'.*'grid'.*tfds"
    with pytest.raises(ValueError, match=listing):
        data.load("cifar")
    with pytest.raises(ValueError, match="Unknown split 'valid'"):
        data.load("digits", split="valid")
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        data.load("ring", num_samples=0)


def test_tfds_without_package_explains_how_to_prepare(monkeypatch):
    # A None entry in sys.modules makes `import tensorflow_datasets` fail as if the
    # package were not installed.
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(RuntimeError, match="pip install tensorflow-datasets") as info:
        data.load("tfds:mnist")
    message = str(info.value)
    assert "tfds.load('mnist')" in message
    assert "TFDS_DATA_DIR" in message and "~/tensorflow_datasets" in message


# ---------------------------------------------------------------------------
# validate_images / to_data_space


def test_validate_images_adds_channel_and_keeps_dtype():
    x = data.validate_images(np.zeros((5, 6, 7), np.uint16))
    assert x.shape == (5, 6, 7, 1) and x.dtype == np.uint16
    assert data.validate_images([[[[0.5]]]]).shape == (1, 1, 1, 1)  # array-like works


def test_to_data_space_scaling():
    u8 = np.array([0, 51, 255], np.uint8).reshape(1, 1, 3, 1)
    expected = np.float32([0, 51, 255]) / 127.5 - 1
    np.testing.assert_array_equal(data.to_data_space(u8).ravel(), expected)
    u16 = np.array([0, 65535], np.uint16).reshape(1, 1, 2, 1)
    np.testing.assert_allclose(data.to_data_space(u16).ravel(), [-1.0, 1.0])
    f64 = np.array([-1.0, 0.25, 1.0]).reshape(1, 1, 3, 1)
    out = data.to_data_space(f64)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.ravel(), np.float32([-1.0, 0.25, 1.0]))


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros((4, 3, 8, 8), np.uint8), r"channels-first.*np\.transpose\(x, \(0, 2, 3, 1\)\)"),
        (np.zeros((4, 8, 8, 5), np.uint8), r"1, 3 or 4 channels.*\(4, 8, 8, 5\)"),
        (np.zeros((8, 8), np.uint8), r"rank 4.*\(8, 8\)"),
        (np.zeros((2, 8, 8, 1, 1), np.uint8), r"rank 4.*rank 5"),
        (np.zeros((0, 8, 8, 1), np.uint8), r"empty.*\(0, 8, 8, 1\)"),
        (np.zeros((2, 0, 8, 1), np.uint8), r"empty.*\(2, 0, 8, 1\)"),
        (np.full((2, 4, 4, 1), 200.0, np.float32), r"\[-1, 1\].*200.*uint8"),
        ([[[1, 2]], [[3]]], r"could not convert.*equal-sized"),
    ],
)
def test_validate_images_rejects_bad_shapes_and_ranges(x, match):
    with pytest.raises(ValueError, match=match):
        data.validate_images(x)


def test_validate_images_counts_non_finite_values():
    x = np.zeros((2, 4, 4, 1), np.float32)
    x[0, 0, 0, 0] = np.nan
    x[1, 2, 2, 0] = np.inf
    x[1, 3, 3, 0] = -np.inf
    with pytest.raises(ValueError, match=r"3 non-finite values"):
        data.validate_images(x)


@pytest.mark.parametrize(
    "dtype", [bool, np.int32, np.int64, np.uint32, np.complex64, np.str_, object]
)
def test_validate_images_rejects_non_image_dtypes(dtype):
    with pytest.raises(TypeError, match="non-image dtype"):
        data.validate_images(np.zeros((2, 4, 4, 1), dtype=dtype))


# ---------------------------------------------------------------------------
# the tf.data pipeline


def _indexed_images(n=100):
    """uint8 images whose pixel value is their index, so order can be read back."""
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 2, 2, 1)).copy()


def _order(batch):
    """Indices of the images in a float batch made from _indexed_images."""
    return np.round((np.asarray(batch)[:, 0, 0, 0] + 1) * 127.5).astype(int)


def test_images_batches_in_data_space():
    x = data.load("digits")
    batches = [np.asarray(b) for b in data.images(x, batch_size=64, seed=0)]
    assert len(batches) == 1797 // 64  # shuffled: the last partial batch is dropped
    for batch in batches:
        assert batch.shape == (64, 8, 8, 1) and batch.dtype == np.float32
        assert batch.min() >= -1.0 and batch.max() <= 1.0
    assert min(b.min() for b in batches) == -1.0 and max(b.max() for b in batches) == 1.0


def test_images_keeps_order_and_values_without_shuffle():
    x = data.load("digits")
    batches = [np.asarray(b) for b in data.images(x, batch_size=64, shuffle=False)]
    assert [len(b) for b in batches] == [64] * 28 + [5]  # no shuffle: every image kept
    np.testing.assert_array_equal(np.concatenate(batches), x.astype(np.float32) / 127.5 - 1)


def test_images_without_cache_gives_the_same_values():
    x = data.load("digits")[:100]
    cached = np.concatenate([np.asarray(b) for b in data.images(x, 32, shuffle=False)])
    ds = data.images(x, 32, shuffle=False, cache=False)
    streamed = np.concatenate([np.asarray(b) for b in ds])
    np.testing.assert_array_equal(cached, streamed)


@pytest.mark.parametrize("cache", [True, False])
def test_images_reshuffles_every_epoch(cache):
    ds = data.images(_indexed_images(100), batch_size=10, seed=0, cache=cache)
    first = np.concatenate([_order(b) for b in ds])
    second = np.concatenate([_order(b) for b in ds])
    assert sorted(first) == list(range(100)) and sorted(second) == list(range(100))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(100))


def test_images_with_labels_stay_paired():
    x = _indexed_images(50)
    labels = np.arange(50)
    ds = data.images(x, batch_size=8, labels=labels, seed=1, drop_remainder=False)
    seen = []
    for batch, y in ds:
        assert batch.dtype == "float32" and y.dtype == "int32"
        np.testing.assert_array_equal(_order(batch), np.asarray(y))
        seen.extend(np.asarray(y))
    assert sorted(seen) == list(range(50))


@pytest.mark.parametrize(
    "labels, error, match",
    [
        (np.arange(9), ValueError, r"9 labels for 10 samples"),
        (np.arange(10) + 0.5, TypeError, r"integer class indices.*not whole numbers"),
        (np.arange(10) - 1, ValueError, r"class indices in 0\.\.8.*\[-1\]"),
        (np.zeros((10, 2), int), ValueError, r"1-D array of class indices.*\(10, 2\).*argmax"),
        (np.array(["a"] * 10), TypeError, r"integer class indices"),
    ],
)
def test_images_rejects_bad_labels(labels, error, match):
    with pytest.raises(error, match=match):
        data.images(_indexed_images(10), labels=labels)


def test_images_takes_whole_float_labels_as_class_indices():
    ds = data.images(_indexed_images(10), batch_size=10, labels=np.arange(10.0), shuffle=False)
    _, y = next(iter(ds))
    assert y.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(y), np.arange(10))


@pytest.mark.parametrize("batch_size", [0, -1])
def test_images_rejects_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size must be an integer of at least 1"):
        data.images(_indexed_images(10), batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [2.5, True, "64"])
def test_images_rejects_batch_size_of_the_wrong_type(batch_size):
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        data.images(_indexed_images(10), batch_size=batch_size)


def test_images_rejects_batch_larger_than_data_when_dropping():
    match = r"batch_size 64 is larger than the 10 images.*drop_remainder"
    with pytest.raises(ValueError, match=match):
        data.images(_indexed_images(10), batch_size=64)
    batches = list(data.images(_indexed_images(10), batch_size=64, drop_remainder=False))
    assert [len(b) for b in batches] == [10]


def test_images_validates_the_images():
    with pytest.raises(ValueError, match="channels-first"):
        data.images(np.zeros((4, 3, 8, 8), np.uint8))
    with pytest.raises(TypeError, match="non-image dtype"):
        data.images(np.zeros((4, 8, 8, 1), np.int64))
