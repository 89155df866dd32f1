"""Image-to-image translation data: paired and unpaired sets, and image folders.

Paired data (pix2pix) is two aligned arrays, ``inputs[i]`` translating to
``targets[i]``; unpaired data (CycleGAN) is two unaligned domains. Both come
from bundled data made from the scikit-learn digits, from image folders, or
(unpaired) from prepared TensorFlow Datasets ``cycle_gan`` data sets. Every
loader returns uint8 ``(N, H, W, C)`` numpy arrays; `kgen.data.paired_images`
and `kgen.data.unpaired_images` turn them into training pipelines.
"""

import os

import numpy as np

from kgen import checks
from kgen.data.bundled import _TFDS_PREFIX, SPLITS, _load_tfds, load
from kgen.data.photo_patches import photo_patches
from kgen.data.folders import IMAGE_EXTENSIONS, check_channels, list_images  # noqa: F401

#: Bundled paired data sets accepted by `load_paired`.
PAIRED = ("digits-edges", "digits-inverted")

#: Bundled unpaired data sets accepted by `load_unpaired`.
UNPAIRED = ("digits-inverted", "digits-rotated", "photos-negative")


# Edge maps mark pixels whose Sobel gradient magnitude is at least this fraction of
# the image's largest magnitude, so the maps do not depend on the image size.
_EDGE_FRACTION = 0.4


def load_paired(name_or_folders, *, split="all", image_size=None):
    """Load aligned ``(inputs, targets)`` image pairs for paired translation.

    Args:
        name_or_folders: one of

            - ``"digits-edges"``: the input is the digit's edge map
              (`edge_map` of the target: 255 where the Sobel gradient is at
              least 0.4 of the image's steepest, else 0); the target is the
              digit.
            - ``"digits-inverted"``: the input is the inverted digit
              (``255 - x``); the target is the digit.
            - a pair of folders ``(folder_a, folder_b)``: images with the same
              file name in both folders form a pair (input from ``folder_a``,
              target from ``folder_b``).
            - one folder of side-by-side images, as the pix2pix data sets ship
              them: the left half of each image is the input, the right half
              the target. Swap the returned arrays for the other direction.
        split: ``"all"``, ``"train"`` or ``"test"``: for the digits, the same
            fixed 80/20 split as ``kgen.data.load("digits")``. Folders are read
            whole and take ``"all"`` only: pass the split's folder instead.
        image_size: resize every image to ``image_size`` (an int for square
            images, or ``(height, width)``) with bilinear interpolation. The
            digits are natively 8x8; ``None`` keeps the native size. Edge maps
            are computed at the new size.

    Returns:
        ``(inputs, targets)``: two uint8 arrays ``(N, H, W, C)`` whose ``i``-th
        images are a pair.

    Raises:
        ValueError: an unknown name or split, files that do not match between
            two folders, or bad images (see `load_folder`).
        FileNotFoundError: a folder that does not exist.

    Example:

    ```python
    import kgen

    inputs, targets = kgen.data.load_paired("digits-edges", split="train")
    inputs.shape, targets.shape  # ((1437, 8, 8, 1), (1437, 8, 8, 1))
    ```

    References:
        Isola et al., "Image-to-Image Translation with Conditional Adversarial
        Networks", CVPR 2017.
    """
    size = _check_size(image_size)
    if isinstance(name_or_folders, (tuple, list)):
        folder_a, folder_b = _two_folders(name_or_folders, "load_paired")
        _check_folder_split(split, "load_paired")
        names_a, a = _read_folder(folder_a, size, None)
        names_b, b = _read_folder(folder_b, size, None)
        return _match_by_name(folder_a, names_a, a, folder_b, names_b, b)
    if name_or_folders in PAIRED:
        targets = _digits(split, size)
        if name_or_folders == "digits-edges":
            return edge_map(targets), targets
        return 255 - targets, targets
    path = _as_path(name_or_folders)
    if path is not None and os.path.isdir(path):
        _check_folder_split(split, "load_paired")
        return _split_side_by_side(path, size)
    raise ValueError(
        f"{name_or_folders!r} is neither a bundled paired data set "
        f"({', '.join(repr(n) for n in PAIRED)}) nor an existing folder of side-by-side "
        "A|B images. For two folders of matching file names pass a tuple: "
        "load_paired((folder_a, folder_b))."
    )


def load_unpaired(name_or_folders, *, split="all", image_size=None):
    """Load two unaligned image domains ``(domain_a, domain_b)`` for unpaired translation.

    Args:
        name_or_folders: one of

            - ``"digits-rotated"``: A holds upright digits, B digits rotated by
              90 degrees counter-clockwise.
            - ``"digits-inverted"``: A holds digits, B inverted digits
              (``255 - x``).
            - ``"photos-negative"``: A holds 16x16 RGB patches of
              scikit-image's colour photographs, B other patches of them as
              colour negatives (``255 - x``); training patches come from the
              left 96 columns of each photograph, test patches from the right
              32 (`kgen.data.photo_patches.photo_patches`).
            - a pair of folders ``(folder_a, folder_b)``, read with `load_folder`.
            - one folder laid out as the CycleGAN data sets ship:
              ``trainA``, ``trainB``, ``testA``, ``testB`` subfolders.
            - ``"tfds:<name>"``: a prepared TensorFlow Datasets data set with
              the same splits, such as ``"tfds:cycle_gan/horse2zebra"``.

            For the bundled sets, the split's images are divided into two
            disjoint halves (fixed; stratified by class for the digits): A is
            made from one half and B from the other, so no image appears in
            both domains and nothing pairs them.
        split: ``"all"``, ``"train"`` or ``"test"``. The digits use the fixed
            80/20 split of ``kgen.data.load("digits")``; the photo patches
            `kgen.data.photo_patches.photo_patches`'s. For a CycleGAN folder
            or TensorFlow Datasets name, ``"train"`` (and ``"all"``) reads
            ``trainA``/``trainB`` and ``"test"`` reads ``testA``/``testB``.
            A pair of folders is read whole and takes ``"all"`` only.
        image_size: resize every image to ``image_size`` (an int for square
            images, or ``(height, width)``) with bilinear interpolation, after
            the rotation or inversion; ``None`` keeps the native size.

    Returns:
        ``(domain_a, domain_b)``: two uint8 arrays ``(N_a, H, W, C)`` and
        ``(N_b, H, W, C)``, in no particular correspondence.

    Raises:
        ValueError: an unknown name or split, or bad images (see `load_folder`).
        FileNotFoundError: a folder that does not exist.
        RuntimeError: a ``"tfds:"`` data set that is not installed or prepared;
            the message says how to prepare it.

    Example:

    ```python
    import kgen

    a, b = kgen.data.load_unpaired("digits-rotated", split="train", image_size=16)
    a.shape, b.shape  # ((718, 16, 16, 1), (719, 16, 16, 1))
    ```

    References:
        Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent
        Adversarial Networks", ICCV 2017.
    """
    size = _check_size(image_size)
    if isinstance(name_or_folders, (tuple, list)):
        folder_a, folder_b = _two_folders(name_or_folders, "load_unpaired")
        _check_folder_split(split, "load_unpaired")
        return load_folder(folder_a, image_size=size), load_folder(folder_b, image_size=size)
    if name_or_folders in UNPAIRED:
        a, b = _halves(photo_patches(split)) if name_or_folders == "photos-negative" \
            else _digit_halves(split)
        b = true_translation(name_or_folders, b)
        return (_resize(a, size), _resize(b, size)) if size else (a, b)
    if isinstance(name_or_folders, str) and name_or_folders.startswith(_TFDS_PREFIX):
        part = _cycle_split(split)
        a, b = (_load_tfds(name_or_folders[len(_TFDS_PREFIX):], part + d, False) for d in "AB")
        return (_resize(a, size), _resize(b, size)) if size else (a, b)
    path = _as_path(name_or_folders)
    if path is not None and os.path.isdir(path):
        part = _cycle_split(split)
        folders = [os.path.join(path, part + d) for d in "AB"]
        missing = [f for f in folders if not os.path.isdir(f)]
        if missing:
            raise FileNotFoundError(
                f"Folder {path!r} has no {' or '.join(os.path.basename(f) for f in missing)} "
                f"subfolder: a single folder must hold {part}A and {part}B (the CycleGAN "
                "layout). For two folders of your own pass a tuple: "
                "load_unpaired((folder_a, folder_b))."
            )
        return tuple(load_folder(f, image_size=size) for f in folders)
    raise ValueError(
        f"{name_or_folders!r} is neither a bundled unpaired data set "
        f"({', '.join(repr(n) for n in UNPAIRED)}), a 'tfds:<name>' TensorFlow Datasets "
        "name, nor an existing folder with trainA/trainB/testA/testB subfolders. For two "
        "folders pass a tuple: load_unpaired((folder_a, folder_b))."
    )


def true_translation(name, images):
    """The true A -> B translation of a bundled unpaired data set, applied to ``images``.

    The bundled unpaired sets are made by a known map, which a translator trained on
    them without pairs should find: ``"digits-inverted"`` inverts (``255 - x``),
    ``"digits-rotated"`` turns by 90 degrees counter-clockwise, ``"photos-negative"``
    inverts every channel (``255 - x``). Comparing a model's translations of
    held-out A images with this gives its translation error (``kgen evaluate RUN
    --metric l1``).

    Args:
        name: one of `UNPAIRED`.
        images: uint8 domain A images ``(N, H, W, C)``, as `load_unpaired` returns them.

    Returns:
        uint8 array: what a perfect translator gives for ``images``.

    Raises:
        ValueError: an unknown name, or images that are not uint8 ``(N, H, W, C)``.

    Example:

    ```python
    import kgen

    a, _ = kgen.data.load_unpaired("digits-inverted", split="test")
    target = kgen.data.true_translation("digits-inverted", a)   # 255 - a
    ```
    """
    checks.one_of(name, "name", UNPAIRED)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(
            f"true_translation takes the uint8 (N, H, W, C) images load_unpaired returns; "
            f"got dtype {images.dtype} and shape {images.shape}.")
    if name == "digits-rotated":
        return np.ascontiguousarray(np.rot90(images, k=1, axes=(1, 2)))
    return 255 - images


def load_folder(path, *, image_size=None, channels=None):
    """Load every image of a folder as one uint8 array.

    PNG, JPEG, BMP and GIF files (by their ending, any case; a GIF gives its
    first frame) are read with Pillow in order of file name; other files and
    subfolders are ignored. The whole folder is held in memory: for large
    folders, `kgen.data.open_source` (``"folder:PATH"``) streams the images
    instead.

    Args:
        path: the folder.
        image_size: resize every image to ``image_size`` (an int for square
            images, or ``(height, width)``) with bilinear interpolation.
            Required when the images differ in size.
        channels: ``1`` (convert to grayscale) or ``3`` (convert to RGB).
            ``None``: 1 if every image is grayscale, else 3. Transparency is
            dropped.

    Returns:
        uint8 array ``(N, H, W, C)``.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: no images in the folder, an unreadable or corrupt image
            (named), images of different sizes without ``image_size``, or a
            bad ``image_size`` or ``channels``.

    Example:

    ```python
    import tempfile
    import numpy as np
    from PIL import Image
    import kgen

    folder = tempfile.mkdtemp(dir="/tmp")
    for i in range(3):
        Image.fromarray(np.full((6, 6), 50 * i, np.uint8)).save(f"{folder}/{i}.png")
    x = kgen.data.load_folder(folder, image_size=4, channels=3)  # (3, 4, 4, 3)
    ```
    """
    return _read_folder(path, _check_size(image_size), channels)[1]


def edge_map(images):
    """Edge maps of uint8 images: 255 where the Sobel gradient is steep, else 0.

    The gradient is the Sobel filter of each channel (borders padded by
    repeating the edge pixel), divided by 8 so that it is in gray levels per
    pixel; its magnitude is the channels' Euclidean norm. Pixels where the
    magnitude is at least 0.4 times the image's largest magnitude are edges,
    so the map does not depend on the image size; a flat image has none.
    ``"digits-edges"`` uses this map.

    Args:
        images: uint8 array ``(N, H, W, C)``.

    Returns:
        uint8 array ``(N, H, W, 1)`` of 0 and 255.

    Example:

    ```python
    import kgen

    edges = kgen.data.edge_map(kgen.data.load("digits"))  # (1797, 8, 8, 1)
    ```

    References:
        Sobel and Feldman, "A 3x3 Isotropic Gradient Operator for Image
        Processing", 1968.
    """
    x = np.asarray(images, dtype=np.float64)
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = x.shape[1:3]

    def shifted(dy, dx):
        return p[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    smooth_rows = {dx: shifted(-1, dx) + 2 * shifted(0, dx) + shifted(1, dx) for dx in (-1, 1)}
    smooth_cols = {dy: shifted(dy, -1) + 2 * shifted(dy, 0) + shifted(dy, 1) for dy in (-1, 1)}
    gx = (smooth_rows[1] - smooth_rows[-1]) / 8.0
    gy = (smooth_cols[1] - smooth_cols[-1]) / 8.0
    magnitude = np.sqrt(np.sum(gx**2 + gy**2, axis=-1, keepdims=True))
    peak = magnitude.max(axis=(1, 2, 3), keepdims=True)
    edges = (magnitude >= _EDGE_FRACTION * peak) & (peak > 0)
    return np.where(edges, 255, 0).astype(np.uint8)


# ---------------------------------------------------------------------------
# digits


def _digits(split, size):
    """The digits of a split as uint8 (N, H, W, 1), resized when size is given."""
    images = load("digits", split=split)
    return _resize(images, size) if size else images


def _halves(images):
    """Two disjoint halves of ``images``, picked by a fixed permutation."""
    order = np.random.default_rng(0).permutation(len(images))
    half = len(images) // 2
    return images[np.sort(order[:half])], images[np.sort(order[half:])]


def _digit_halves(split):
    """Two disjoint, class-stratified halves of a split's digits (fixed)."""
    from sklearn.model_selection import train_test_split

    images, labels = load("digits", split=split, return_labels=True)
    index_a, index_b = train_test_split(
        np.arange(len(labels)), test_size=0.5, random_state=0, stratify=labels
    )
    return images[np.sort(index_a)], images[np.sort(index_b)]


# ---------------------------------------------------------------------------
# folders


def _as_path(value):
    """A str path for str / os.PathLike values, else None."""
    return os.fspath(value) if isinstance(value, (str, os.PathLike)) else None


def _two_folders(folders, caller):
    paths = [_as_path(f) for f in folders]
    if len(paths) != 2 or None in paths:
        raise ValueError(
            f"{caller} takes a pair of folders (folder_a, folder_b), got {folders!r}."
        )
    return paths


def _check_folder_split(split, caller):
    if split != "all":
        raise ValueError(
            f"{caller} reads folders whole, so split must be 'all', got {split!r}. Pass "
            "the folder of that split instead, e.g. 'facades/train'."
        )


def _cycle_split(split):
    """The CycleGAN split prefix ("train" or "test") for a kgen split."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; use one of {', '.join(SPLITS)}.")
    return "test" if split == "test" else "train"


def _check_size(image_size):
    """image_size as a (height, width) tuple of positive ints, or None."""
    if image_size is None:
        return None
    if np.ndim(image_size) == 0:
        side = checks.integer(image_size, "image_size", minimum=1)
        return (side, side)
    size = tuple(image_size)
    if len(size) != 2:
        raise ValueError(f"image_size must be an integer or a (height, width) pair; got "
                         f"{image_size!r}.")
    return tuple(checks.integer(s, "image_size", minimum=1) for s in size)


def _resize(images, size):
    """Bilinear resize of uint8 (N, H, W, C) images to size = (height, width)."""
    from PIL import Image

    if images.shape[1:3] == size:
        return images
    out = np.empty((len(images), *size, images.shape[-1]), np.uint8)
    for i, image in enumerate(images):
        for c in range(images.shape[-1]):
            plane = Image.fromarray(image[..., c])
            out[i, ..., c] = plane.resize(size[::-1], Image.Resampling.BILINEAR)
    return out


def _open_image(file):
    """A Pillow image of one file, fully read, or a ValueError naming the file."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            image.load()
            if image.mode.startswith("I;16"):  # 16-bit grayscale: keep the top 8 bits
                return Image.fromarray((np.asarray(image, np.uint16) >> 8).astype(np.uint8))
            return image.copy()
    except Exception as error:  # Pillow raises several types for bad files
        raise ValueError(
            f"Could not read image {file!r}: {error}. Remove or replace this file."
        ) from None


def _is_gray(image):
    return image.mode in ("1", "L", "LA", "I", "F")


def _read_folder(path, size, channels, halves=False):
    """(file names, uint8 (N, H, W, C) images) of a folder.

    With halves=True each image is cut into its left and right halves, and the
    images are a pair of arrays.
    """
    channels = check_channels(channels)
    if _as_path(path) is None:
        raise TypeError(f"An image folder must be a path (str or os.PathLike), got {path!r}.")
    path = os.fspath(path)
    names = list_images(path)
    files = [os.path.join(path, n) for n in names]
    opened = [_open_image(f) for f in files]
    if channels is None:
        channels = 1 if all(_is_gray(im) for im in opened) else 3
    mode = "L" if channels == 1 else "RGB"
    arrays = []
    for file, image in zip(files, opened):
        array = np.asarray(image.convert(mode), np.uint8).reshape(image.height, image.width, -1)
        if halves:
            if array.shape[1] % 2:
                raise ValueError(
                    f"Side-by-side image {file!r} has an odd width {array.shape[1]}: it "
                    "must be the input and target images of equal width, left and right."
                )
            half = array.shape[1] // 2
            arrays.append((array[:, :half], array[:, half:]))
        else:
            arrays.append((array,))
    stacked = []
    for part in zip(*arrays):
        if size:
            part = [_resize(a[None], size)[0] for a in part]
        stacked.append(_stack_same_size(path, names, part))
    return names, (tuple(stacked) if halves else stacked[0])


def _stack_same_size(path, names, arrays):
    shapes = {}
    for name, array in zip(names, arrays):
        shapes.setdefault(array.shape[:2], name)
    if len(shapes) > 1:
        examples = "; ".join(f"{n!r} is {h}x{w}" for (h, w), n in list(shapes.items())[:3])
        raise ValueError(
            f"Images in {path!r} have {len(shapes)} different sizes ({examples}). Pass "
            "image_size= (e.g. image_size=64) to resize them all."
        )
    return np.stack(arrays)


def _split_side_by_side(path, size):
    return _read_folder(path, size, None, halves=True)[1]


def _match_by_name(folder_a, names_a, a, folder_b, names_b, b):
    """Keep the images whose file names are in both folders, or raise listing the rest."""
    only_a = sorted(set(names_a) - set(names_b))
    only_b = sorted(set(names_b) - set(names_a))
    if only_a or only_b:

        def listing(names):
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            return shown or "none"

        raise ValueError(
            f"Paired folders must hold the same file names. Only in {folder_a!r}: "
            f"{listing(only_a)}. Only in {folder_b!r}: {listing(only_b)}. Rename or remove "
            "these files."
        )
    return a, b
