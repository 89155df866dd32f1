"""Tests for the translation data of kgen.data: paired/unpaired sets, image folders, pipelines."""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from checks_catalogue import covers
from kgen import data

# ---------------------------------------------------------------------------
# bundled paired data


@pytest.mark.parametrize("name", ["digits-edges", "digits-inverted"])
@pytest.mark.parametrize("split, count", [("all", 1797), ("train", 1437), ("test", 360)])
def test_paired_digits_targets_are_the_split_digits(name, split, count):
    inputs, targets = data.load_paired(name, split=split)
    assert inputs.shape == targets.shape == (count, 8, 8, 1)
    assert inputs.dtype == targets.dtype == np.uint8
    np.testing.assert_array_equal(targets, data.load("digits", split=split))


def test_digits_inverted_inputs_are_inverted_targets():
    inputs, targets = data.load_paired("digits-inverted", split="test")
    np.testing.assert_array_equal(inputs.astype(int), 255 - targets.astype(int))


def _sobel_edges(images, fraction=0.4):
    """Edge maps from scipy's Sobel filter, image by image (an independent computation)."""
    out = []
    for image in images[..., 0].astype(float):
        gx = ndimage.sobel(image, axis=1, mode="nearest") / 8
        gy = ndimage.sobel(image, axis=0, mode="nearest") / 8
        magnitude = np.hypot(gx, gy)
        out.append(np.where(magnitude >= fraction * magnitude.max(), 255, 0))
    return np.asarray(out, np.uint8)[..., None]


@pytest.mark.parametrize("image_size", [None, 16])
def test_digits_edges_inputs_are_the_edges_of_the_targets(image_size):
    inputs, targets = data.load_paired("digits-edges", split="test", image_size=image_size)
    side = image_size or 8
    assert inputs.shape == (360, side, side, 1)
    assert set(np.unique(inputs)) == {0, 255}
    np.testing.assert_array_equal(inputs, _sobel_edges(targets))
    np.testing.assert_array_equal(data.edge_map(targets), inputs)
    # Every digit has an outline, and none is all edge.
    fraction = (inputs > 0).mean(axis=(1, 2, 3))
    assert fraction.min() > 0.05 and fraction.max() < 0.95


def test_edge_map_of_a_flat_image_is_empty_and_of_a_step_is_the_step():
    flat = np.full((1, 6, 6, 1), 200, np.uint8)
    assert not data.edge_map(flat).any()
    step = np.zeros((1, 6, 6, 3), np.uint8)
    step[:, :, 3:] = 255
    edges = data.edge_map(step)[0, :, :, 0]
    np.testing.assert_array_equal(edges, np.tile([0, 0, 255, 255, 0, 0], (6, 1)))


def test_image_size_resizes_bilinearly():
    _, native = data.load_paired("digits-inverted", split="test")
    inputs, targets = data.load_paired("digits-inverted", split="test", image_size=(16, 24))
    assert inputs.shape == targets.shape == (360, 16, 24, 1)
    np.testing.assert_array_equal(inputs.astype(int), 255 - targets.astype(int))
    # Upsampling 2x: output pixel o samples the input at (o + 0.5) / 2 - 0.5 (pixel centres
    # aligned), clamped at the borders, interpolating linearly along each axis.
    _, square = data.load_paired("digits-inverted", split="test", image_size=16)
    source = np.clip((np.arange(16) + 0.5) / 2 - 0.5, 0, 7)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, 7)
    weight = source - low
    rows = native[:, low] * (1 - weight)[:, None, None] + native[:, high] * weight[:, None, None]
    expected = rows[:, :, low] * (1 - weight)[:, None] + rows[:, :, high] * weight[:, None]
    assert np.abs(square - expected).max() <= 1
    np.testing.assert_array_equal(data.load_paired("digits-inverted", image_size=8)[1],
                                  data.load("digits"))


# ---------------------------------------------------------------------------
# bundled unpaired data


def _rows(images):
    return {row.tobytes() for row in images.reshape(len(images), -1)}


@pytest.mark.parametrize("split", ["train", "test"])
def test_digits_rotated_domains_are_disjoint_halves(split):
    a, b = data.load_unpaired("digits-rotated", split=split)
    digits = data.load("digits", split=split)
    assert a.dtype == b.dtype == np.uint8 and a.shape[1:] == b.shape[1:] == (8, 8, 1)
    assert abs(len(a) - len(b)) <= 1 and len(a) + len(b) == len(digits)
    unrotated = np.rot90(b, k=-1, axes=(1, 2))
    # B is rotated: B's images are not digits as they stand, but are once turned back.
    assert not _rows(b) & _rows(digits)
    # Disjoint halves whose union is the split.
    assert not _rows(a) & _rows(unrotated)
    assert _rows(a) | _rows(unrotated) == _rows(digits)
    # Fixed: the same halves on every call.
    np.testing.assert_array_equal(data.load_unpaired("digits-rotated", split=split)[0], a)


def test_digits_inverted_unpaired_domains():
    a, b = data.load_unpaired("digits-inverted", split="test")
    digits = data.load("digits", split="test")
    assert not _rows(a) & _rows(255 - b)
    assert _rows(a) | _rows(255 - b) == _rows(digits)
    # Train and test domains share no digit.
    a_train, b_train = data.load_unpaired("digits-inverted", split="train")
    assert not (_rows(a) | _rows(b)) & (_rows(a_train) | _rows(b_train))


def test_photos_negative_domains_come_from_disjoint_columns():
    from kgen.data.photo_patches import photo_patches

    train, test = photo_patches("train"), photo_patches("test")
    assert train.shape == (660, 16, 16, 3) and test.shape == (180, 16, 16, 3)
    # The training patches lie left of column 96 of each 128x128 photograph, the test
    # patches right of it: the test split's pixels are all in columns 96-127.
    photo = data.load_image("astronaut", size=128, channels=3)
    np.testing.assert_array_equal(test[0], photo[:16, 96:112])
    np.testing.assert_array_equal(train[10], photo[:16, 80:96])
    a, b = data.load_unpaired("photos-negative", split="test")
    assert a.shape == b.shape == (90, 16, 16, 3) and a.dtype == b.dtype == np.uint8
    # B is the other half, as negatives: turned back, it gives the patches A lacks.
    assert _rows(a) | _rows(255 - b) == _rows(test)
    assert not _rows(a) & _rows(255 - b)
    with pytest.raises(ValueError, match="Unknown split 'valid'"):
        photo_patches("valid")


@covers("true-translation-unknown")
@pytest.mark.parametrize("name", ["digits-inverted", "digits-rotated", "photos-negative"])
def test_true_translation_is_the_map_that_made_domain_b(name):
    from kgen.data.photo_patches import photo_patches

    # B is the true translation of the half of the split that A does not hold.
    a, b = data.load_unpaired(name, split="test")
    translated = data.true_translation(name, a)
    assert translated.dtype == np.uint8 and translated.shape == a.shape
    whole = photo_patches("test") if name == "photos-negative" else data.load("digits", split="test")
    assert _rows(translated) | _rows(b) == _rows(data.true_translation(name, whole))
    if name == "digits-inverted":
        np.testing.assert_array_equal(translated, 255 - a)
    with pytest.raises(ValueError, match="Unknown name 'digits-edges'"):
        data.true_translation("digits-edges", a)
    with pytest.raises(ValueError, match="uint8 \\(N, H, W, C\\)"):
        data.true_translation(name, a[0])


@pytest.mark.parametrize("name", ["digits-rotated", "digits-inverted"])
def test_unpaired_image_size_applies_to_both_domains(name):
    a, b = data.load_unpaired(name, split="test", image_size=(16, 12))
    assert a.shape == (180, 16, 12, 1) and b.shape == (180, 16, 12, 1)
    # Domain A is the resized upright digits, as the paired loader resizes them.
    resized_digits = data.load_paired("digits-inverted", split="test", image_size=(16, 12))[1]
    assert _rows(a) <= _rows(resized_digits)


def test_tfds_unpaired_without_data_explains_how_to_prepare(monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))  # an empty data folder
    with pytest.raises(RuntimeError) as info:
        data.load_unpaired("tfds:cycle_gan/horse2zebra", split="test")
    message = str(info.value)
    assert "cycle_gan/horse2zebra" in message
    assert "tfds.load('cycle_gan/horse2zebra')" in message
    assert "TFDS_DATA_DIR" in message and "~/tensorflow_datasets" in message


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: data.load_paired("digits"), ValueError, r"'digits' is neither.*'digits-edges'"),
        (lambda: data.load_unpaired("digits-edges"), ValueError, r"neither.*'digits-rotated'.*tfds"),
        (lambda: data.load_paired("digits-edges", split="valid"), ValueError, "Unknown split 'valid'"),
        (lambda: data.load_unpaired("tfds:x", split="valid"), ValueError, "Unknown split 'valid'"),
        (lambda: data.load_paired("digits-edges", image_size=0), ValueError, "image_size must be"),
        (lambda: data.load_paired("digits-edges", image_size=(8, 8, 8)), ValueError,
         "image_size must be"),
        (lambda: data.load_paired(("only-one",)), ValueError, "pair of folders"),
    ],
)
def test_loader_argument_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------
# image folders


def _save(folder, name, array):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(folder / name)


def _gray(value, size=(4, 6)):
    return np.full(size, value, np.uint8)


def test_load_folder_reads_sorted_images_and_ignores_other_files(tmp_path):
    for name, value in [("b.png", 20), ("a.png", 10), ("c.bmp", 30)]:
        _save(tmp_path, name, _gray(value))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    _save(tmp_path / "sub", "z.png", _gray(99))
    x = data.load_folder(tmp_path)
    assert x.shape == (3, 4, 6, 1) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[:, 0, 0, 0], [10, 20, 30])


def test_load_folder_channels_and_resize(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255
    _save(tmp_path, "a.png", rgb)
    _save(tmp_path, "b.jpg", np.full((4, 4, 3), 128, np.uint8))
    x = data.load_folder(tmp_path)
    assert x.shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(x[0], rgb)
    assert np.abs(x[1].astype(int) - 128).max() <= 2  # JPEG is lossy
    gray = data.load_folder(tmp_path, channels=1)
    assert gray.shape == (2, 4, 4, 1)
    assert abs(int(gray[0, 0, 0, 0]) - round(0.299 * 255)) <= 1  # ITU-R 601 luma of red
    big = data.load_folder(tmp_path, image_size=8, channels=3)
    assert big.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(big[0], np.broadcast_to(rgb[0, 0], (8, 8, 3)))
    _save(tmp_path / "g", "g.png", _gray(77))
    np.testing.assert_array_equal(data.load_folder(tmp_path / "g", channels=3)[0, 0, 0], [77] * 3)


def test_load_paired_folders_pairs_by_file_name(tmp_path):
    for i in (3, 1, 2):
        _save(tmp_path / "A", f"{i}.png", _gray(i))
        _save(tmp_path / "B", f"{i}.png", np.full((4, 6, 3), 10 * i, np.uint8))
    inputs, targets = data.load_paired((tmp_path / "A", str(tmp_path / "B")))
    assert inputs.shape == (3, 4, 6, 1) and targets.shape == (3, 4, 6, 3)
    np.testing.assert_array_equal(targets[:, 0, 0, 0], 10 * inputs[:, 0, 0, 0].astype(int))
    _save(tmp_path / "A", "extra_a.png", _gray(0))
    _save(tmp_path / "B", "extra_b.png", _gray(0))
    with pytest.raises(ValueError, match=r"Only in .*A'?: extra_a\.png.*Only in .*B'?: extra_b\.png"):
        data.load_paired((tmp_path / "A", tmp_path / "B"))


def test_load_paired_side_by_side_folder(tmp_path):
    for i in range(3):
        left = np.full((4, 5, 3), 10 + i, np.uint8)
        right = np.full((4, 5, 3), 200 + i, np.uint8)
        _save(tmp_path, f"{i}.png", np.concatenate([left, right], axis=1))
    inputs, targets = data.load_paired(tmp_path)
    assert inputs.shape == targets.shape == (3, 4, 5, 3)
    np.testing.assert_array_equal(inputs[:, 0, 0, 0], [10, 11, 12])
    np.testing.assert_array_equal(targets[:, -1, -1, 2], [200, 201, 202])
    inputs, targets = data.load_paired(str(tmp_path), image_size=6)
    assert inputs.shape == targets.shape == (3, 6, 6, 3)
    assert targets.min() >= 200  # resized after splitting: no left half bleeds in
    _save(tmp_path, "odd.png", np.zeros((4, 9, 3), np.uint8))
    with pytest.raises(ValueError, match=r"odd\.png.*odd width 9"):
        data.load_paired(tmp_path)


def test_load_unpaired_folders_and_cycle_gan_layout(tmp_path):
    for split in ("train", "test"):
        for domain, value in (("A", 50), ("B", 150)):
            for i in range(2 if domain == "A" else 3):
                _save(tmp_path / f"{split}{domain}", f"{i}.png", _gray(value + (split == "test")))
    a, b = data.load_unpaired((tmp_path / "trainA", tmp_path / "trainB"))
    assert a.shape == (2, 4, 6, 1) and b.shape == (3, 4, 6, 1)
    a, b = data.load_unpaired(tmp_path, split="test", image_size=5)
    assert a.shape == (2, 5, 5, 1) and b.shape == (3, 5, 5, 1)
    assert set(np.unique(a)) == {51} and set(np.unique(b)) == {151}
    with pytest.raises(FileNotFoundError, match=r"no trainA or trainB subfolder"):
        data.load_unpaired(tmp_path / "trainA")


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'.*missing' does not exist"):
        data.load_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"empty' holds no images.*\.png"):
        data.load_folder(tmp_path / "empty")
    _save(tmp_path / "bad", "good.png", _gray(1))
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ValueError, match=r"Could not read image '.*broken\.png'"):
        data.load_folder(tmp_path / "bad")
    _save(tmp_path / "mixed", "a.png", _gray(1, (4, 4)))
    _save(tmp_path / "mixed", "b.png", _gray(1, (5, 4)))
    with pytest.raises(ValueError, match=r"2 different sizes.*'b\.png' is 5x4.*image_size="):
        data.load_folder(tmp_path / "mixed")
    assert data.load_folder(tmp_path / "mixed", image_size=4).shape == (2, 4, 4, 1)
    with pytest.raises(ValueError, match="channels must be 1, 3 or None"):
        data.load_folder(tmp_path / "mixed", channels=4)
    with pytest.raises(ValueError, match=r"split must be 'all'.*folder of that split"):
        data.load_paired(tmp_path / "mixed", split="train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_paired((tmp_path / "nowhere", tmp_path / "mixed"))


# ---------------------------------------------------------------------------
# pipelines


def _indexed(n, offset=0, channels=1):
    """uint8 images whose pixel value is offset + their index."""
    values = (offset + np.arange(n)).astype(np.uint8)[:, None, None, None]
    return np.broadcast_to(values, (n, 3, 3, channels)).copy()


def _ids(batch, offset=0):
    return np.round((np.asarray(batch)[:, 0, 0, 0] + 1) * 127.5).astype(int) - offset


def test_paired_images_keep_pairs_under_shuffle():
    inputs, targets = _indexed(50), _indexed(50, offset=100, channels=3)
    ds = data.paired_images(inputs, targets, batch_size=8, seed=0)
    order = []
    for x, y in ds:
        assert x.shape == (8, 3, 3, 1) and y.shape == (8, 3, 3, 3)
        assert x.dtype == y.dtype == "float32"
        assert np.min(x) >= -1 and np.max(y) <= 1
        np.testing.assert_array_equal(_ids(x), _ids(y, offset=100))
        order.extend(_ids(x))
    assert len(order) == 48 and len(set(order)) == 48  # shuffled: the partial batch is dropped
    assert order != sorted(order)
    second = np.concatenate([_ids(x) for x, _ in ds])
    assert not np.array_equal(order, second)  # a new order every epoch


def test_paired_images_scaling_without_shuffle():
    inputs, targets = data.load_paired("digits-edges", split="test")
    batches = list(data.paired_images(inputs, targets, batch_size=100, shuffle=False))
    assert [len(x) for x, _ in batches] == [100, 100, 100, 60]
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    np.testing.assert_array_equal(x, data.to_data_space(inputs))
    np.testing.assert_array_equal(y, data.to_data_space(targets))
    assert x.min() == -1 and x.max() == 1 and y.min() == -1 and y.max() == 1


def test_unpaired_images_epoch_is_the_larger_domain():
    a, b = _indexed(30), _indexed(70, offset=100)
    ds = data.unpaired_images(a, b, batch_size=10, seed=0)
    batches = list(ds)
    assert len(batches) == 7
    seq_a = np.concatenate([_ids(x) for x, _ in batches])
    seq_b = np.concatenate([_ids(y, offset=100) for _, y in batches])
    assert sorted(seq_b) == list(range(70))  # every B image once
    # A repeats to keep up, a full permutation per pass, reshuffled between passes.
    assert sorted(seq_a[:30]) == sorted(seq_a[30:60]) == list(range(30))
    assert len(set(seq_a[60:])) == 10
    assert not np.array_equal(seq_a[:30], seq_a[30:60])
    assert not np.array_equal(seq_b[:30], seq_a[:30])  # the domains are shuffled independently
    for x, y in batches:
        assert x.dtype == y.dtype == "float32" and np.min(x) >= -1 and np.max(y) <= 1


def test_unpaired_images_drop_remainder_and_order_without_shuffle():
    a, b = _indexed(30), _indexed(20, offset=100)
    shapes = [(x.shape[0], y.shape[0]) for x, y in data.unpaired_images(a, b, batch_size=8, seed=1)]
    assert shapes == [(8, 8)] * 3
    batches = list(data.unpaired_images(a, b, batch_size=8, shuffle=False))
    assert [len(x) for x, _ in batches] == [8, 8, 8, 6]
    np.testing.assert_array_equal(np.concatenate([_ids(x) for x, _ in batches]), np.arange(30))
    seq_b = np.concatenate([_ids(y, offset=100) for _, y in batches])
    np.testing.assert_array_equal(seq_b, np.concatenate([np.arange(20), np.arange(10)]))


def test_pipeline_errors():
    with pytest.raises(ValueError, match=r"50 inputs and 49 targets.*unpaired_images"):
        data.paired_images(_indexed(50), _indexed(49))
    with pytest.raises(ValueError, match=r"batch_size 64 is larger than the 10 images"):
        data.paired_images(_indexed(10), _indexed(10))
    with pytest.raises(ValueError, match=r"batch_size 64 is larger than the 20 images"):
        data.unpaired_images(_indexed(10), _indexed(20))
    with pytest.raises(ValueError, match="batch_size must be an integer of at least 1"):
        data.unpaired_images(_indexed(10), _indexed(20), batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        data.paired_images(_indexed(10), _indexed(10), batch_size=2.0)
    with pytest.raises(ValueError, match="channels-first"):
        data.unpaired_images(_indexed(10), np.zeros((4, 3, 8, 8), np.uint8))
    with pytest.raises(TypeError, match="non-image dtype"):
        data.paired_images(_indexed(4), np.zeros((4, 8, 8, 1), np.int64))
