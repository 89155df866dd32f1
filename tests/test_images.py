"""Tests for kgen.images: uint8 conversion, grids and PNG files."""

import os

import numpy as np
import pytest
from PIL import Image

from kgen import images

from checks_catalogue import covers


def test_to_uint8_maps_data_space_to_pixels():
    out = images.to_uint8(np.array([-1.0, 0.0, 1.0, -3.0, 2.0], np.float32))
    np.testing.assert_array_equal(out, [0, 128, 255, 0, 255])
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(images.to_uint8(np.array([0.0, 0.5, 1.0]), (0, 1)), [0, 128, 255])


def test_to_uint8_keeps_shape_and_uint8_input():
    for shape in [(4, 5), (4, 5, 3), (2, 4, 5), (2, 4, 5, 1)]:
        assert images.to_uint8(np.zeros(shape, np.float32)).shape == shape
    pixels = np.array([[0, 7, 255]], np.uint8)
    np.testing.assert_array_equal(images.to_uint8(pixels), pixels)


def test_to_uint8_errors():
    with pytest.raises(ValueError, match="1 non-finite"):
        images.to_uint8(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="low < high"):
        images.to_uint8(np.zeros(3), value_range=(1, 1))
    with pytest.raises(TypeError, match="non-image dtype"):
        images.to_uint8(np.zeros(3, bool))


def _constant_tiles(n, size=8, channels=1):
    """Tile i is filled with the data-space value that maps to pixel 10 * i."""
    values = (10.0 * np.arange(n)) / 127.5 - 1.0
    tiles = np.broadcast_to(values[:, None, None, None], (n, size, size, channels))
    return tiles.astype(np.float32)


def test_make_grid_layout_and_pixels():
    grid = images.make_grid(_constant_tiles(10))  # 10 tiles of 8x8: 4 columns, 3 rows, scale 4
    assert grid.dtype == np.uint8
    assert grid.shape == (3 * 33 + 1, 4 * 33 + 1, 1)
    for i in range(10):
        top, left = 1 + (i // 4) * 33, 1 + (i % 4) * 33
        np.testing.assert_array_equal(grid[top : top + 32, left : left + 32], 10 * i)
    assert np.all(grid[0] == 255) and np.all(grid[:, 0] == 255)  # white padding
    assert np.all(grid[1 + 2 * 33 :, 1 + 2 * 33 :] == 255)  # two empty cells at the end


def test_make_grid_options_and_default_scale():
    assert images.make_grid(np.zeros((6, 28, 28, 3), np.uint8)).shape == (2 * 57 + 1, 3 * 57 + 1, 3)
    assert images.make_grid(np.zeros((6, 32, 32, 4), np.uint8)).shape == (2 * 33 + 1, 3 * 33 + 1, 4)
    zeros = np.zeros((6, 8, 8, 1), np.uint8)
    grid = images.make_grid(zeros, ncols=6, padding=0, scale=1, pad_value=7)
    assert grid.shape == (8, 48, 1) and np.all(grid == 0)
    # (N, H, W) grayscale batches, one (H, W, C) image and one (H, W) image.
    assert images.make_grid(np.zeros((4, 8, 8), np.uint8), scale=1).shape == (19, 19, 1)
    assert images.make_grid(np.zeros((8, 9, 3), np.uint8), scale=1).shape == (10, 11, 3)
    assert images.make_grid(np.zeros((8, 9), np.uint8), scale=1).shape == (10, 11, 1)


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((4, 3, 8, 8)), r"channels-first.*np\.transpose"),
        (np.zeros((4, 8, 8, 2)), r"1, 3 or 4 channels.*\(4, 8, 8, 2\)"),
        (np.zeros(5), r"shape \(N, H, W, C\).*\(5,\)"),
        (np.zeros((0, 8, 8, 1)), r"empty"),
    ],
)
def test_make_grid_rejects_non_images(array, match):
    with pytest.raises(ValueError, match=match):
        images.make_grid(array)


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB"), (4, "RGBA")])
def test_save_grid_reads_back(tmp_path, channels, mode):
    path = tmp_path / "new" / "folder" / "grid.png"
    returned = images.save_grid(_constant_tiles(4, channels=channels), path, ncols=2, scale=1)
    assert returned == path
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.mode == mode
        assert picture.size == (2 * 9 + 1, 2 * 9 + 1)  # (width, height)
        pixels = np.asarray(picture).reshape(19, 19, channels)
    np.testing.assert_array_equal(pixels[1:9, 1:9], 0)
    np.testing.assert_array_equal(pixels[1:9, 10:18], 10)
    np.testing.assert_array_equal(pixels[10:18, 1:9], 20)
    np.testing.assert_array_equal(pixels[10:18, 10:18], 30)
    assert np.all(pixels[0] == 255)
    assert os.listdir(path.parent) == ["grid.png"]  # no temporary file left behind


def test_save_grid_value_range_and_overwrite(tmp_path):
    path = tmp_path / "grid.png"
    images.save_grid(np.zeros((1, 8, 8, 1)), path)
    images.save_grid(np.ones((1, 8, 8, 1)), path, value_range=(0, 1), scale=2)
    with Image.open(path) as picture:
        assert picture.size == (18, 18)  # 16 + padding on both sides
        assert np.all(np.asarray(picture)[1:17, 1:17] == 255)


def test_save_grid_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="channels-first"):
        images.save_grid(np.zeros((4, 3, 16, 16)), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_save_scatter(tmp_path):
    path = tmp_path / "plots" / "scatter.png"
    points = np.array([[0.0, 0.0], [1.0, 1.0]])
    assert images.save_scatter(points, path, size=256) == path
    with Image.open(path) as picture:
        assert picture.size == (256, 256) and picture.mode == "RGB"
        pixels = np.asarray(picture)
    blue = (31, 89, 180)
    # (0, 0) is drawn near the bottom-left corner, (1, 1) near the top-right (5% margin).
    assert tuple(pixels[249, 6]) == blue and tuple(pixels[6, 249]) == blue
    assert tuple(pixels[6, 6]) == (255, 255, 255) and tuple(pixels[249, 249]) == (255, 255, 255)


def test_save_scatter_draws_reference_in_another_colour(tmp_path):
    path = tmp_path / "ring.png"
    points = np.random.default_rng(0).normal(size=(200, 2))
    images.save_scatter(points, path, reference=np.array([[5.0, 5.0]]), size=128)
    with Image.open(path) as picture:
        colours = {tuple(c) for c in np.asarray(picture).reshape(-1, 3)}
    assert (31, 89, 180) in colours and (255, 140, 0) in colours


def test_save_scatter_errors(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(N, 2\).*\(5, 3\)"):
        images.save_scatter(np.zeros((5, 3)), tmp_path / "a.png")
    with pytest.raises(ValueError, match="1 rows with NaN"):
        images.save_scatter(np.array([[0.0, np.nan], [1.0, 1.0]]), tmp_path / "a.png")
    with pytest.raises(ValueError, match="size must be an integer >= 16"):
        images.save_scatter(np.zeros((5, 2)), tmp_path / "a.png", size=4)


# --------------------------------------------------------------- file formats
@covers("save-grid-extension")
@pytest.mark.parametrize("extension, expected", [
    (".png", "PNG"), (".jpg", "JPEG"), (".JPEG", "JPEG"), (".bmp", "BMP"), (".gif", "GIF"),
    (".tif", "TIFF"), (".webp", "WEBP")])
def test_save_grid_writes_the_format_of_the_extension(tmp_path, extension, expected):
    samples = _constant_tiles(4, channels=3)
    path = tmp_path / f"grid{extension}"
    assert images.save_grid(samples, path) == path
    with Image.open(path) as picture:
        assert picture.format == expected
        assert picture.size == (2 * 32 + 3, 2 * 32 + 3)
    points = np.random.default_rng(0).normal(size=(20, 2))
    scatter = tmp_path / f"points{extension}"
    images.save_scatter(points, scatter)
    with Image.open(scatter) as picture:
        assert picture.format == expected
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, scatter.name])


@covers("save-grid-unknown-extension")
def test_save_grid_refuses_an_extension_it_does_not_write(tmp_path):
    samples = _constant_tiles(4)
    for name in ("grid.xyz", "grid", "grid.npy"):
        with pytest.raises(ValueError, match=r"Cannot tell which image format.*\.jpg.*\.png"):
            images.save_grid(samples, tmp_path / name)
    with pytest.raises(ValueError, match="Cannot tell which image format"):
        images.save_scatter(np.zeros((3, 2)), tmp_path / "points.txt")
    assert os.listdir(tmp_path) == []


@covers("save-grid-alpha-jpeg")
def test_four_channels_are_refused_for_formats_without_alpha(tmp_path):
    rgba = _constant_tiles(4, channels=4)
    for name in ("grid.jpg", "grid.bmp"):
        with pytest.raises(ValueError, match=r"no alpha channel.*images\[\.\.\., :3\]"):
            images.save_grid(rgba, tmp_path / name)
    images.save_grid(rgba, tmp_path / "grid.png")
    with Image.open(tmp_path / "grid.png") as picture:
        assert picture.mode == "RGBA"
    assert os.listdir(tmp_path) == ["grid.png"]
