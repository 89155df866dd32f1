"""Tests for streaming image folders: layouts, corrupt files, resizing, bounded decoding."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kgen import data
from kgen.data import folders


def _save(folder, name, array, **kwargs):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(folder / name, **kwargs)


def _flat(value, size=(8, 8), channels=None):
    shape = size if channels is None else (*size, channels)
    return np.full(shape, value, np.uint8)


def _corrupt(folder, name="broken.png"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n not really a png")


def _values(x):
    """The first pixel of each image of a uint8 batch."""
    return np.asarray(x)[:, 0, 0, 0].astype(int).tolist()


def _ids(batch):
    """The first pixel of each image of a data-space batch, back in 0..255."""
    return np.round((np.asarray(batch)[:, 0, 0, 0] + 1) * 127.5).astype(int).tolist()


def _open(spec, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = data.open_source(spec, **kwargs)
    return source, [str(w.message) for w in caught]


# ---------------------------------------------------------------- formats and corrupt files
def test_folder_of_every_format_with_one_corrupt_file(tmp_path):
    for i in range(4):
        _save(tmp_path, f"{i}.png", _flat(10 * i))
    _save(tmp_path, "4.jpg", _flat(40), quality=100)
    _save(tmp_path, "5.bmp", _flat(50))
    frames = [Image.fromarray(_flat(v)) for v in (60, 200)]
    frames[0].save(tmp_path / "6.gif", save_all=True, append_images=frames[1:])
    _corrupt(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    source, messages = _open(f"folder:{tmp_path}")
    assert source.num_examples == 7 and source.kind == "samples"
    assert source.shape == (8, 8, 1)  # every image grey, the GIF's colours included
    assert [p for p, _ in source.skipped] == [str(tmp_path / "broken.png")]
    assert "PNG" in source.skipped[0][1]
    assert len(messages) == 1
    assert "Skipped 1 of 8 image files" in messages[0]
    assert "broken.png: " in messages[0]
    assert "1 corrupt file skipped" in source.description
    x = source.arrays()
    assert x.dtype == np.uint8 and x.shape == (7, 8, 8, 1)
    values = _values(x)
    assert values[:4] == [0, 10, 20, 30] and abs(values[4] - 40) <= 1
    assert values[5:] == [50, 60]  # the GIF gives its first frame


def test_warning_names_files_up_to_a_limit_and_counts_all(tmp_path):
    _save(tmp_path, "good.png", _flat(1))
    for i in range(folders.WARN_LIMIT + 3):
        _corrupt(tmp_path, f"bad{i:02d}.png")
    source, messages = _open(str(tmp_path))
    assert len(source.skipped) == folders.WARN_LIMIT + 3
    lines = messages[0].splitlines()
    assert lines[0].startswith(f"Skipped {folders.WARN_LIMIT + 3} of {folders.WARN_LIMIT + 4}")
    assert sum(": " in line and "bad" in line for line in lines) == folders.WARN_LIMIT
    assert "and 3 more" in lines[-1]


def test_a_folder_of_corrupt_files_only_is_an_error(tmp_path):
    _corrupt(tmp_path, "a.png")
    _corrupt(tmp_path, "b.png")
    with pytest.raises(ValueError, match=r"None of the 2 image files .* could be decoded.*a\.png"):
        data.open_source(f"folder:{tmp_path}")


def test_channels_grey_rgb_and_alpha(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 255
    _save(tmp_path, "a.png", rgb)
    _save(tmp_path, "b.png", _flat(100))
    _save(tmp_path, "c.png", np.dstack([_flat(30, channels=3), _flat(0)]))  # RGBA
    source = data.open_source(tmp_path)
    assert source.shape == (8, 8, 3)  # not every image is grey
    x = source.arrays()
    np.testing.assert_array_equal(x[0, 0, 0], [255, 0, 0])
    np.testing.assert_array_equal(x[1, 0, 0], [100, 100, 100])
    np.testing.assert_array_equal(x[2, 0, 0], [30, 30, 30])  # alpha dropped
    grey = data.open_source(tmp_path, channels=1).arrays()
    assert grey.shape == (3, 8, 8, 1)
    assert _values(grey) == [round(0.299 * 255), 100, 30]  # ITU-R 601 luma


def test_image_size_scales_the_short_side_and_crops_the_centre(tmp_path):
    wide = np.zeros((8, 24), np.uint8)
    wide[:, 6:18] = 200  # the centre half
    _save(tmp_path, "wide.png", wide)
    _save(tmp_path, "square.png", _flat(90, (16, 16)))
    with pytest.raises(ValueError, match=r"different sizes.*'square\.png' is 16x16.*"
                                          r"'wide\.png' is 8x24.*image_size.*--image-size"):
        data.open_source(tmp_path)
    source = data.open_source(tmp_path, image_size=8)
    assert source.shape == (8, 8, 1)
    square, centre = source.arrays()
    assert np.all(square == 90)
    assert np.all(centre == 200)  # 8x24 is already 8 high: only the centre 8x8 is kept
    halved = data.open_source(tmp_path, image_size=4).arrays()
    assert halved.shape == (2, 4, 4, 1)
    np.testing.assert_array_equal(halved[1], 200)  # the centre 4x4 of the 4x12 image
    tall = data.open_source(tmp_path, image_size=12).arrays()[1]
    assert tall.shape == (12, 12, 1) and np.all(tall == 200)  # 12x36, centre 12x12


# ---------------------------------------------------------------- layouts
def test_labels_from_sorted_class_sub_folders(tmp_path):
    for label, name in enumerate(["cat", "dog", "emu"]):
        for i in range(label + 2):
            _save(tmp_path / name, f"{i}.png", _flat(50 * label + i))
    source = data.open_source(f"folder:{tmp_path}", labels=True)
    assert source.class_names == ("cat", "dog", "emu") and source.num_classes == 3
    assert source.num_examples == 2 + 3 + 4
    x, y = source.arrays()
    assert y.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(_values(x)) // 50, y)
    ds = source.dataset(3, seed=0, repeat=False)
    for batch, labels in ds:
        assert labels.dtype == "int32"
        np.testing.assert_array_equal(np.asarray(_ids(batch)) // 50, np.asarray(labels))
    assert "3 classes" in source.description


def test_label_layout_errors(tmp_path):
    _save(tmp_path / "flat", "a.png", _flat(1))
    with pytest.raises(ValueError, match=r"one sub-folder of images per class.*no sub-folder"):
        data.open_source(tmp_path / "flat", labels=True)
    _save(tmp_path / "classes" / "cat", "a.png", _flat(1))
    (tmp_path / "classes" / "dog").mkdir()
    (tmp_path / "classes" / "dog" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"Class sub-folder .* with no images: 'dog'"):
        data.open_source(tmp_path / "classes", labels=True)
    _corrupt(tmp_path / "classes" / "dog")
    with pytest.warns(UserWarning, match=r"(?s)Skipped 1 of 2.*broken\.png"), \
            pytest.raises(ValueError, match=r"no image that could be decoded: 'dog'"):
        data.open_source(tmp_path / "classes", labels=True)
    # Without labels, the images of every class sub-folder are used together.
    with pytest.warns(UserWarning, match=r"(?s)Skipped 1 of 2.*broken\.png"):
        together = data.open_source(tmp_path / "classes")
    assert together.arrays().shape == (1, 8, 8, 1)


def test_paired_folders_match_file_names_without_endings(tmp_path):
    for i in range(5):
        _save(tmp_path / "A", f"{i}.png", _flat(10 * i))
        _save(tmp_path / "B", f"{i}.bmp", _flat(10 * i + 1, (12, 12), 3))
    _save(tmp_path / "A", "lonely.png", _flat(0))
    _corrupt(tmp_path / "B", "3.png")  # a second file of stem 3 in B
    with pytest.raises(ValueError, match=r"'3\.bmp' and '3\.png'.*each name must be used once"):
        data.open_source(tmp_path, kind="paired")
    (tmp_path / "B" / "3.png").unlink()
    (tmp_path / "B" / "3.bmp").unlink()
    _corrupt(tmp_path / "B", "3.bmp")
    source, messages = _open(f"folder:{tmp_path}", kind="paired")
    assert any("lonely.png" in m and "no partner" in m for m in messages)
    assert [p for p, _ in source.skipped] == [str(tmp_path / "B" / "3.bmp")]
    assert source.num_examples == 4  # pair 3 lost its target
    assert source.shape == (8, 8, 1) and source.target_shape == (12, 12, 3)
    a, b = source.arrays()
    assert _values(a) == [0, 10, 20, 40] and _values(b) == [1, 11, 21, 41]
    for x, y in source.dataset(2, seed=3, flip=True, repeat=False):
        assert x.shape == (2, 8, 8, 1) and y.shape == (2, 12, 12, 3)
        np.testing.assert_array_equal(_ids(x), np.asarray(_ids(y)) - 1)


def test_paired_folder_errors(tmp_path):
    _save(tmp_path / "A", "a.png", _flat(1))
    with pytest.raises(FileNotFoundError, match=r"needs two sub-folders, A/ and B/; B/ missing"):
        data.open_source(tmp_path, kind="paired")
    _save(tmp_path / "B", "b.png", _flat(1))
    with pytest.raises(ValueError, match=r"share no file name.*only in .*A'?: a\.png.*only in "
                                         r".*B'?: b\.png"):
        data.open_source(tmp_path, kind="paired")


def test_unpaired_folders(tmp_path):
    for i in range(3):
        _save(tmp_path / "A", f"a{i}.png", _flat(i))
    for i in range(7):
        _save(tmp_path / "B", f"b{i}.jpg", _flat(100, (10, 10), 3))
    source = data.open_source(f"folder:{tmp_path}", kind="unpaired")
    assert source.domain_sizes == (3, 7) and source.num_examples == 7
    assert source.shape == (8, 8, 1) and source.target_shape == (10, 10, 3)
    assert source.steps_per_epoch(2) == 3
    batches = list(source.dataset(2, seed=0, repeat=False))
    assert len(batches) == 3
    seen_a = [v for a, _ in batches for v in _ids(a)]
    assert sorted(seen_a[:3]) == [0, 1, 2]  # domain A cycles through whole permutations
    a, b = source.arrays(limit=2)
    assert a.shape == (2, 8, 8, 1) and b.shape == (2, 10, 10, 3)


@pytest.mark.parametrize("layout", ["empty", "text", "missing"])
def test_folder_errors(tmp_path, layout):
    folder = tmp_path / "photos"
    if layout == "empty":
        folder.mkdir()
        error, match = ValueError, r"'.*photos' is empty"
    elif layout == "text":
        folder.mkdir()
        (folder / "notes.txt").write_text("x")
        (folder / "data.csv").write_text("x")
        error, match = (ValueError, r"holds no images: looked for files ending in \.png, \.jpg, "
                                    r"\.jpeg, \.bmp, \.gif .*found 2 other files \(data\.csv, "
                                    r"notes\.txt\)")
    else:
        error, match = FileNotFoundError, r"'.*photos' does not exist"
    with pytest.raises(error, match=match):
        data.open_source(f"folder:{folder}")


# ---------------------------------------------------------------- streaming
def _numbered(folder, count, size=(8, 8)):
    for i in range(count):
        _save(folder, f"{i:03d}.png", _flat(i, size))


@pytest.fixture()
def decode_counter(monkeypatch):
    """Counts the images the streaming pipelines decode."""
    counter = tf.Variable(0, dtype=tf.int64)
    original = folders.decode

    def counting(path):
        with tf.control_dependencies([counter.assign_add(1)]):
            return tf.identity(original(path))

    monkeypatch.setattr(folders, "decode", counting)
    return counter


def test_streaming_a_folder_larger_than_its_decoding_budget(tmp_path, decode_counter):
    # The pipeline may hold at most `allowed` decoded images beyond those the loop took (its
    # parallel reads and its batches); the folder holds several times more, and one epoch
    # over it completes without ever getting further ahead of the training loop than that.
    count, batch_size = 160, 4
    _numbered(tmp_path, count)
    source = data.open_source(tmp_path)
    assert int(decode_counter.numpy()) == count  # the check pass decoded each file once
    allowed = folders.decoded_ahead(batch_size)
    assert allowed * 2 < count
    counter = decode_counter
    counter.assign(0)
    consumed, ahead, seen = 0, [], []
    for batch in source.dataset(batch_size, seed=0, repeat=False):
        consumed += len(batch)
        seen += _ids(batch)
        ahead.append(int(counter.numpy()) - consumed)
    assert consumed == count and sorted(seen) == list(range(count))
    assert max(ahead) <= allowed
    assert int(counter.numpy()) == count  # each image decoded once, as it was needed


def test_a_resumed_stream_decodes_no_image_of_the_skipped_epochs(tmp_path, decode_counter):
    _numbered(tmp_path, 20)
    source = data.open_source(tmp_path)
    decode_counter.assign(0)
    steps = source.steps_per_epoch(6)  # 3 batches, 2 images of each epoch left out
    iterator = iter(source.dataset(6, seed=4, first_epoch=50))
    resumed = [_ids(next(iterator)) for _ in range(2 * steps)]
    allowed = folders.decoded_ahead(6)
    assert int(decode_counter.numpy()) <= 2 * steps * 6 + allowed
    reference = data.open_source(tmp_path).dataset(6, seed=4, first_epoch=49)
    iterator = iter(reference)
    expected = [_ids(next(iterator)) for _ in range(3 * steps)][steps:]
    assert resumed == expected


def test_streamed_batches_are_the_arrays_in_data_space(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(6):
        _save(tmp_path, f"{i}.png", rng.integers(0, 256, (9, 12, 3)))
    source = data.open_source(tmp_path, image_size=8)
    images = source.arrays()
    batches = [np.asarray(b) for b in source.dataset(3, seed=2, repeat=False)]
    streamed = np.concatenate(batches)
    expected = data.to_data_space(images)
    # Each streamed image is one of the arrays' images, each used once per epoch.
    matches = [int(np.argmin(np.abs(expected - x).sum(axis=(1, 2, 3)))) for x in streamed]
    assert sorted(matches) == list(range(6))
    for x, m in zip(streamed, matches):
        np.testing.assert_array_equal(x, expected[m])


def test_without_the_check_pass_a_corrupt_file_stops_the_stream(tmp_path, decode_counter):
    _numbered(tmp_path, 3)
    _corrupt(tmp_path, "zz.png")
    source, messages = _open(tmp_path, check_files=False)
    assert messages == [] and source.skipped == [] and source.num_examples == 4
    assert int(decode_counter.numpy()) == 1  # only the first image was decoded
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(source.dataset(4, repeat=False))


def test_without_the_check_pass_a_different_size_is_named(tmp_path):
    _numbered(tmp_path, 2)
    _save(tmp_path, "odd.png", _flat(1, (9, 8)))
    source = data.open_source(tmp_path, check_files=False)
    assert source.shape == (8, 8, 1)  # the first image's
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"odd\.png.*--image-size"):
        list(source.dataset(3, repeat=False))


def test_arrays_streams_a_fixed_even_subset(tmp_path):
    for label, name in enumerate(["a", "b"]):
        for i in range(10):
            _save(tmp_path / name, f"{i}.png", _flat(100 * label + i))
    source = data.open_source(tmp_path, labels=True, seed=3)
    x, y = source.arrays(limit=8)
    assert x.shape == (8, 8, 8, 1) and len(set(_values(x))) == 8
    assert 0 < y.sum() < 8  # both classes, not the first 8 files
    again, _ = data.open_source(tmp_path, labels=True, seed=3).arrays(limit=8)
    np.testing.assert_array_equal(x, again)
    with pytest.raises(ValueError, match="limit must be an integer of at least 1"):
        source.arrays(limit=0)
