"""Turn model samples into pictures: uint8 conversion, tile grids, image files.

Samples come out of ``model.generate()`` in data space (float32 in
``[-1, 1]``); `save_grid` writes them as one grid, and
`save_scatter` plots 2-D points (the ``"ring"`` and ``"grid"`` toy data).
Both write the format of the file's extension (`FORMATS`: ``.png``, ``.jpg``,
``.bmp``, ...) and refuse an extension they do not know.
"""

import math
import os
import tempfile

import numpy as np

_CHANNELS = (1, 3, 4)

#: The image formats `save_grid` and `save_scatter` write, by file extension (any case).
FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
#: Formats without an alpha channel: four-channel images are refused for them.
_NO_ALPHA = ("JPEG", "BMP")


def image_format(path):
    """The format written for ``path``, from its extension (`FORMATS`).

    Raises:
        ValueError: no extension, or one that is not in `FORMATS`.

    Example:

    ```python
    import kgen
    kgen.images.image_format("grid.JPG")   # 'JPEG'
    ```
    """
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        what = f"the extension {extension!r}" if extension else "no extension"
        raise ValueError(f"Cannot tell which image format to write for {os.fspath(path)!r} "
                         f"({what}): name the file with one of {known}.")
    return FORMATS[extension]


def to_uint8(x, value_range=(-1.0, 1.0)):
    """Convert images from data space to uint8 pixel values.

    Values are mapped linearly from ``value_range`` to ``0..255``, clipped and
    rounded. uint8 input is returned unchanged. The shape is kept, so any of
    ``(H, W)``, ``(H, W, C)``, ``(N, H, W)`` or ``(N, H, W, C)`` works.

    Args:
        x: array of images (numpy or anything ``np.asarray`` converts).
        value_range: ``(low, high)`` of the input values; ``low`` maps to 0
            and ``high`` to 255.

    Returns:
        uint8 numpy array of the same shape.

    Raises:
        TypeError: a non-numeric dtype (bool, complex, strings, objects).
        ValueError: non-finite values, or ``low >= high``.

    Example:

    ```python
    import numpy as np
    import kgen

    kgen.images.to_uint8(np.array([-1.0, 0.0, 1.0]))  # array([  0, 128, 255], dtype=uint8)
    ```
    """
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.copy()
    if x.dtype.kind not in "iuf":
        raise TypeError(
            f"Images have a non-image dtype {x.dtype}: expected floats in data space "
            "or integer pixel values."
        )
    low, high = (float(v) for v in value_range)
    if not low < high:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}.")
    x = x.astype(np.float64)
    finite = np.isfinite(x)
    if not finite.all():
        raise ValueError(
            f"Images contain {x.size - np.count_nonzero(finite)} non-finite values "
            f"(NaN or inf) out of {x.size}: the model may have diverged."
        )
    scaled = (x - low) * (255.0 / (high - low))
    return np.round(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def _as_batch(images):
    """Return images as (N, H, W, C); rank 2 and 3 are read as in make_grid."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None, ..., None]
    elif images.ndim == 3:
        # (H, W, C) when the last axis looks like channels, else (N, H, W) grayscale.
        images = images[None] if images.shape[-1] in _CHANNELS else images[..., None]
    if images.ndim != 4:
        raise ValueError(
            f"Expected images of shape (N, H, W, C), (H, W, C), (N, H, W) or (H, W), "
            f"got shape {images.shape}."
        )
    if images.shape[-1] not in _CHANNELS:
        if images.shape[1] in _CHANNELS:
            raise ValueError(
                f"Images of shape {images.shape} look channels-first (N, C, H, W); use "
                "np.transpose(images, (0, 2, 3, 1)) to make them channels-last."
            )
        raise ValueError(
            f"Images must have 1, 3 or 4 channels in the last axis, got shape {images.shape}."
        )
    if 0 in images.shape:
        raise ValueError(f"No images to draw: got an empty array of shape {images.shape}.")
    return images


def _positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def make_grid(
    images,
    ncols=None,
    padding=1,
    pad_value=255,
    scale=None,
    value_range=(-1.0, 1.0),
):
    """Tile a batch of images into one uint8 picture.

    Args:
        images: ``(N, H, W, C)`` with ``C`` in 1, 3, 4; ``(N, H, W)`` grayscale;
            or one image ``(H, W, C)`` / ``(H, W)``. A rank-3 array whose last
            axis is 1, 3 or 4 is read as one ``(H, W, C)`` image. Floats are
            converted with :func:`to_uint8` using ``value_range``; uint8 is
            used as is.
        ncols: tiles per row; default ``ceil(sqrt(N))``, at most ``N``.
        padding: pixels between tiles and around the border.
        pad_value: pixel value (0..255) of the padding; 255 is white.
        scale: integer nearest-neighbour upscaling of each tile; by default
            the smallest factor that makes a tile at least 32 pixels wide
            (8x8 digits get 4).
        value_range: ``(low, high)`` of float input.

    Returns:
        uint8 numpy array ``(grid_height, grid_width, C)``.

    Example:

    ```python
    import numpy as np
    import kgen

    grid = kgen.images.make_grid(np.zeros((16, 8, 8, 1), np.float32))
    grid.shape  # (4 * 33 + 1, 4 * 33 + 1, 1) == (133, 133, 1)
    ```
    """
    batch = to_uint8(_as_batch(images), value_range)
    n, height, width, channels = batch.shape
    ncols = math.ceil(math.sqrt(n)) if ncols is None else _positive_int(ncols, "ncols")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    padding = _positive_int(padding, "padding", minimum=0)
    if scale is None:
        scale = max(1, math.ceil(32 / width))
    scale = _positive_int(scale, "scale")
    if not 0 <= pad_value <= 255:
        raise ValueError(f"pad_value must be a pixel value in 0..255, got {pad_value!r}.")
    if scale > 1:
        batch = batch.repeat(scale, axis=1).repeat(scale, axis=2)
    tile_h, tile_w = height * scale, width * scale
    grid = np.full(
        (nrows * (tile_h + padding) + padding, ncols * (tile_w + padding) + padding, channels),
        pad_value,
        dtype=np.uint8,
    )
    for i, tile in enumerate(batch):
        top = padding + (i // ncols) * (tile_h + padding)
        left = padding + (i % ncols) * (tile_w + padding)
        grid[top : top + tile_h, left : left + tile_w] = tile
    return grid


def save_grid(images, path, ncols=None, value_range=(-1.0, 1.0), scale=None, padding=1):
    """Save a batch of images as one grid, in the format of the file's extension.

    ``.png`` writes a PNG, ``.jpg``/``.jpeg`` a JPEG (quality 95), ``.bmp`` a BMP, and
    so on (`FORMATS`); another extension, or none, is refused. One channel is written
    as grayscale, three as RGB, four as RGBA (refused for JPEG and BMP, which have no
    alpha channel: drop it with ``images[..., :3]`` or write a PNG). The file is
    written atomically (a temporary file in the same folder, then ``os.replace``), and
    missing parent folders are created.

    Args:
        images: images as accepted by `make_grid`, usually the output of
            ``model.generate()``.
        path: destination file name; its extension chooses the format.
        ncols: tiles per row; default ``ceil(sqrt(N))``.
        value_range: ``(low, high)`` of float input; data space by default.
        scale: integer upscaling of each tile; see `make_grid`.
        padding: pixels between tiles.

    Returns:
        ``path``, as given.

    Raises:
        ValueError: an unknown extension, four channels for a format without alpha, or
            bad images (see `make_grid`).

    Example:

    ```python
    import numpy as np
    import kgen

    samples = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype("float32")
    kgen.images.save_grid(samples, "/tmp/kgen_example/samples.png")
    kgen.images.save_grid(samples, "/tmp/kgen_example/samples.jpg")   # a JPEG file
    ```
    """
    file_format = image_format(path)
    grid = make_grid(images, ncols=ncols, padding=padding, scale=scale, value_range=value_range)
    if grid.shape[-1] == 4 and file_format in _NO_ALPHA:
        raise ValueError(
            f"{file_format} has no alpha channel, so four-channel (RGBA) images cannot be "
            f"written to {os.fspath(path)!r}: drop the alpha with images[..., :3], or "
            "write a .png.")
    from PIL import Image

    # Pillow reads (H, W) uint8 as grayscale "L", (H, W, 3) as "RGB", (H, W, 4) as "RGBA".
    picture = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    _save_atomically(picture, path, file_format)
    return path


def save_scatter(points, path, reference=None, size=256):
    """Save a scatter plot of 2-D points, in the format of the file's extension.

    Meant for the ``"ring"`` and ``"grid"`` toy data: the generated points are
    drawn in blue over optional reference points (the real data or the mode
    centres) in orange. Both axes share one scale, chosen from the data with
    a 5% margin. Written atomically, like `save_grid`.

    Args:
        points: array ``(N, 2)`` of finite points.
        path: destination file name; its extension chooses the format (`FORMATS`).
        reference: optional array ``(M, 2)`` drawn underneath in another colour.
        size: width and height of the picture in pixels (at least 16).

    Returns:
        ``path``, as given.

    Example:

    ```python
    import kgen

    real = kgen.data.load("ring", num_samples=1000)
    means, _ = kgen.data.mixture_modes("ring")
    kgen.images.save_scatter(real, "ring.png", reference=means)
    ```
    """
    file_format = image_format(path)
    points = _check_points(points, "points")
    reference = None if reference is None else _check_points(reference, "reference")
    size = _positive_int(size, "size", minimum=16)
    everything = points if reference is None else np.concatenate([points, reference])
    low, high = everything.min(axis=0), everything.max(axis=0)
    center = (low + high) / 2
    half = max(float((high - low).max()) / 2, 1e-6) * 1.05  # same scale on both axes

    def to_pixels(p):
        # x to the right, y upwards; [center - half, center + half] -> [0, size - 1].
        u = (p - center + half) / (2 * half) * (size - 1)
        return np.stack([u[:, 0], (size - 1) - u[:, 1]], axis=1)

    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(picture)
    if reference is not None:
        _dots(draw, to_pixels(reference), radius=2, colour=(255, 140, 0))
    _dots(draw, to_pixels(points), radius=1, colour=(31, 89, 180))
    _save_atomically(picture, path, file_format)
    return path


def _check_points(points, name):
    points = np.asarray(points)
    if points.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be numeric, got dtype {points.dtype}.")
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"{name} must have shape (N, 2) with N >= 1, got {points.shape}.")
    points = points.astype(np.float64)
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"{name} contain {int((~finite).sum())} rows with NaN or inf out of {len(points)}."
        )
    return points


def _dots(draw, pixels, radius, colour):
    for x, y in pixels:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)


def _save_atomically(picture, path, file_format="PNG"):
    """Write a PIL image in ``file_format`` to a temporary file beside ``path``, then
    rename it."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".image.tmp", dir=folder)
    options = {"quality": 95} if file_format in ("JPEG", "WEBP") else {}
    try:
        with os.fdopen(handle, "wb") as file:
            picture.save(file, format=file_format, **options)
        os.chmod(temporary, 0o644)  # mkstemp makes the file private (0600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
