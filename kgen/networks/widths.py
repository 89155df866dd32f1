"""The default width of kgen's convolutional image networks, chosen from the image size."""

from kgen import checks


def default_base_filters(shape):
    """The default ``base_filters`` of an image network: 32 up to 16 pixels a side, 64 above.

    64 is the width of the papers' networks (DCGAN, the pix2pix U-Net and PatchGAN, the
    CycleGAN generator) at 64x64 to 256x256; small images such as the 8x8 digits train as
    well, and faster, at half of it.

    Args:
        shape: an image shape ``(height, width, channels)``.

    Returns:
        32 or 64.

    Example:

    ```python
    from kgen.networks import default_base_filters
    default_base_filters((8, 8, 1)), default_base_filters((64, 64, 3))   # (32, 64)
    ```
    """
    sides = [checks.integer(side, "image side", 1) for side in tuple(shape)[:2]]
    if len(sides) != 2:
        raise ValueError(f"default_base_filters takes an image shape (height, width, "
                         f"channels); got {tuple(shape)!r}.")
    return 32 if max(sides) <= 16 else 64
