"""The U-Net generator of pix2pix (Isola et al. 2017), from 8x8 to 256x256 images.

An encoder of strided 4x4 convolutions halves the image ``depth`` times (down to 1x1
when the sides are powers of two); a decoder of strided 4x4 transposed convolutions
doubles it back, and each decoder block is concatenated with the encoder block of the
same size (the skip connections that let low-level detail, such as edges, pass straight
from input to output). The encoder uses LeakyReLU(0.2) and batch normalisation except
in its first block and in its innermost one (a 1x1 map has nothing to normalise over
when the batch is small); the decoder uses ReLU, batch normalisation and dropout in its
innermost blocks, which the paper uses as the generator's only source of noise; the
output is a tanh image in [-1, 1].

References:
    Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
    Networks", CVPR 2017.
    Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
    Segmentation", MICCAI 2015.
"""

import keras

from kgen import checks
from kgen.networks.conv_transpose import Conv2DTranspose
from kgen.networks.dropout import Dropout

_MOMENTUM = 0.9
_AXES = ("height", "width", "channels")


def check_image_shape(shape, what):
    """``shape`` as a tuple of three positive integers ``(height, width, channels)``.

    Args:
        shape: the image shape to check.
        what: what the shape is for, named in the error (``"unet_generator"``).

    Raises:
        TypeError: not a sequence of integers.
        ValueError: not three sizes, or a size under 1.

    Example:

    ```python
    from kgen.networks.unet import check_image_shape
    check_image_shape([8, 8, 1], "unet_generator")   # (8, 8, 1)
    ```
    """
    message = f"{what} takes an image shape (height, width, channels); got {shape!r}."
    if isinstance(shape, (str, bytes)):
        raise TypeError(message)
    try:
        sizes = tuple(shape)
    except TypeError:
        raise TypeError(message) from None
    if len(sizes) != 3:
        raise ValueError(message)
    return tuple(checks.integer(size, f"{what}: the image {axis}", 1)
                 for size, axis in zip(sizes, _AXES))


def max_unet_depth(height, width):
    """How many times both sides can be halved exactly: 8x8 -> 3, 256x256 -> 8, 28x28 -> 2."""
    depth = 0
    while height % 2 == 0 and width % 2 == 0:
        height, width, depth = height // 2, width // 2, depth + 1
    return depth


def unet_generator(shape, output_channels=None, base_filters=64, depth=None, dropout=0.5,
                   name="unet_generator"):
    """The pix2pix U-Net: an image of ``shape`` to an image of the same size.

    Encoder block ``i`` (``i = 0 .. depth - 1``) is a 4x4 convolution with stride 2 and
    ``base_filters * 2**i`` filters (at most ``8 * base_filters``), batch normalisation
    (not in the first and the innermost block) and LeakyReLU(0.2). Decoder block ``i``
    mirrors it with a 4x4 transposed convolution, batch normalisation, dropout (in the
    innermost ``min(3, depth - 2)`` decoder blocks: 3 at 256x256, as in the paper) and
    ReLU, and is concatenated with encoder block ``i - 1``; the last transposed
    convolution makes ``output_channels`` channels with a tanh.

    Args:
        shape: input image shape ``(height, width, channels)``; both sides must be
            divisible by ``2**depth``.
        output_channels: channels of the output image (default: those of the input).
        base_filters: filters of the first encoder block (64 in the paper).
        depth: number of halvings; default: as many as the shape allows (down to 1x1
            for sides that are powers of two: 3 for 8x8, 8 for 256x256; 2 for 28x28).
        dropout: dropout rate of the innermost decoder blocks; 0 or None for none.
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``shape`` to ``(height, width, output_channels)``.

    Raises:
        TypeError: a size, width or depth that is not an integer (a rate not a number).
        ValueError: a shape whose sides cannot be halved ``depth`` times exactly, a size
            under 1, a dropout rate outside [0, 1).

    Example:

    ```python
    from kgen.networks import unet_generator
    g = unet_generator((8, 8, 1), output_channels=3, base_filters=8)
    g.output_shape  # (None, 8, 8, 3)
    ```

    References:
        Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional
        Adversarial Networks", CVPR 2017.
    """
    height, width, channels = check_image_shape(shape, "unet_generator")
    output_channels = checks.optional_integer(output_channels, "output_channels", 1)
    output_channels = channels if output_channels is None else output_channels
    base_filters = checks.integer(base_filters, "base_filters", 1)
    depth = checks.optional_integer(depth, "depth", 1)
    dropout = checks.number(0.0 if dropout is None else dropout, "dropout", 0.0, 1.0,
                            exclusive_maximum=True)
    allowed = max_unet_depth(height, width)
    if depth is None:
        depth = allowed
        if depth == 0:
            raise ValueError(
                f"unet_generator halves the image with strided convolutions, but "
                f"{height}x{width} has an odd side. Resize or crop the images to sides "
                "divisible by a power of two (8x8, 28x28, 256x256, ...).")
    if height % 2**depth or width % 2**depth:
        raise ValueError(
            f"unet_generator with depth={depth} needs both sides divisible by "
            f"2**{depth} = {2**depth}; {height}x{width} allows depth 1 to {allowed}. "
            "Pass a smaller depth or resize the images.")
    dropout_blocks = min(3, depth - 2) if dropout else 0

    def filters(i):
        return base_filters * 2 ** min(i, 3)

    inputs = keras.Input((height, width, channels), name=f"{name}_input")
    x, skips = inputs, []
    for i in range(depth):
        normalize = 0 < i < depth - 1
        x = keras.layers.Conv2D(filters(i), 4, strides=2, padding="same",
                                use_bias=not normalize, name=f"{name}_down_{i}")(x)
        if normalize:
            x = keras.layers.BatchNormalization(momentum=_MOMENTUM,
                                                name=f"{name}_down_bn_{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_down_act_{i}")(x)
        skips.append(x)
    for i in range(depth - 1, 0, -1):
        x = Conv2DTranspose(filters(i - 1), 4, strides=2, padding="same",
                                         use_bias=False, name=f"{name}_up_{i}")(x)
        x = keras.layers.BatchNormalization(momentum=_MOMENTUM, name=f"{name}_up_bn_{i}")(x)
        if depth - 1 - i < dropout_blocks:
            x = Dropout(dropout, name=f"{name}_up_dropout_{i}")(x)
        x = keras.layers.ReLU(name=f"{name}_up_act_{i}")(x)
        x = keras.layers.Concatenate(name=f"{name}_skip_{i}")([x, skips[i - 1]])
    outputs = Conv2DTranspose(output_channels, 4, strides=2, padding="same",
                                           activation="tanh", name=f"{name}_out")(x)
    return keras.Model(inputs, outputs, name=name)
