"""Single test images shipped inside scikit-image, for single-image models.

Texture synthesis, style transfer and the Deep Image Prior work on one image; these
photographs and textures come with scikit-image's wheel (no download).
"""

import numpy as np

from kgen import checks

#: Names accepted by `load_image`: images whose files are inside scikit-image's package.
BUNDLED_IMAGES = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass",
                  "gravel", "moon", "rocket")


def _read(name):
    try:
        import skimage.data
    except ImportError:
        raise ImportError(
            f"load_image({name!r}) reads the images shipped with scikit-image, which is not "
            "installed: pip install scikit-image (or kgen-keras[all]).") from None
    return np.asarray(getattr(skimage.data, name)())


def _center_square(image):
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top:top + side, left:left + side]


def _resize(image, size):
    from PIL import Image

    squeeze = image.shape[-1] == 1
    picture = Image.fromarray(image[..., 0] if squeeze else image)
    # BOX averages the source pixels under each output pixel (area downsampling).
    picture = picture.resize((size[1], size[0]), Image.Resampling.BOX)
    array = np.asarray(picture)
    return array[..., None] if squeeze else array


def load_image(name, size=None, channels=None):
    """One of scikit-image's bundled images as a uint8 ``(H, W, C)`` array.

    Args:
        name: one of `BUNDLED_IMAGES`: photographs ``"astronaut"``, ``"coffee"``,
            ``"chelsea"``, ``"rocket"`` (RGB), ``"camera"``, ``"coins"``, ``"moon"``
            (grayscale), and grayscale textures ``"brick"``, ``"grass"``, ``"gravel"``.
        size: None for the full image; an integer ``s`` for the central square, resized
            to ``s x s``; ``(height, width)`` to resize the whole image.
        channels: None to keep the image's own (1 or 3); 3 repeats a grayscale image
            over three channels; 1 turns an RGB image into its luminance (ITU-R 601).

    Returns:
        A uint8 array ``(H, W, C)``; `kgen.data.to_data_space` maps it to ``[-1, 1]``.

    Raises:
        TypeError: a size or channel count that is not an integer.
        ValueError: an unknown name, size or channel count.
        ImportError: scikit-image is not installed.

    Example:

    ```python
    import kgen
    kgen.data.load_image("astronaut", size=64).shape            # (64, 64, 3)
    kgen.data.load_image("brick", size=32, channels=3).shape    # (32, 32, 3)
    ```
    """
    if name not in BUNDLED_IMAGES:
        raise ValueError(f"Unknown image {name!r}; the bundled images are {list(BUNDLED_IMAGES)}.")
    from kgen.data.folders import check_channels

    channels = check_channels(channels)
    image = _read(name)
    if image.ndim == 2:
        image = image[..., None]
    image = image[..., :3]
    if channels == 3 and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    elif channels == 1 and image.shape[-1] == 3:
        luminance = image.astype("float64") @ np.array([0.299, 0.587, 0.114])
        image = np.clip(np.round(luminance), 0, 255).astype("uint8")[..., None]
    if size is None:
        return np.ascontiguousarray(image)
    if np.ndim(size) == 0:
        size = checks.integer(size, "size", minimum=1)
        return _resize(np.ascontiguousarray(_center_square(image)), (size, size))
    if len(size) != 2:
        raise ValueError(f"size must be None, an integer or (height, width); got {size!r}.")
    height, width = (checks.integer(s, "size", minimum=1) for s in size)
    return _resize(np.ascontiguousarray(image), (height, width))
