"""The residual image-to-image generator of CycleGAN (Johnson et al. 2016; Zhu et al. 2017).

A 7x7 convolution, two strided 3x3 convolutions (downsampling by 4), a stack of
residual blocks at that resolution, two strided transposed convolutions back up, and a
7x7 convolution to a tanh image. Reflection padding before the unstrided convolutions
avoids the dark borders that zero padding draws; instance normalisation normalises
each image on its own (Ulyanov et al. 2016), which suits style and appearance
transfer with batches of one.

References:
    Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
    Super-Resolution", ECCV 2016.
    Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using
    Cycle-Consistent Adversarial Networks", ICCV 2017.
    Ulyanov, Vedaldi & Lempitsky, "Instance Normalization: The Missing Ingredient for
    Fast Stylization", arXiv:1607.08022, 2016.
"""

import keras
from keras import ops

from kgen import checks
from kgen.networks.conv_transpose import Conv2DTranspose
from kgen.networks.patchgan import NORMALIZATIONS, check_normalization, normalization_layer
from kgen.networks.unet import check_image_shape


@keras.saving.register_keras_serializable(package="kgen")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads the height and width of ``(batch, height, width, channels)`` by reflection.

    The border is mirrored without repeating the edge pixel (``ops.pad`` with
    ``mode="reflect"``), so ``padding`` must be smaller than both sides.

    Args:
        padding: an integer for all four sides, or ``(pad_height, pad_width)``.
        **kwargs: `keras.layers.Layer` arguments (``name``).

    Example:

    ```python
    import numpy as np
    from kgen.networks import ReflectionPadding2D
    x = np.arange(3, dtype="float32").reshape(1, 1, 3, 1)
    ReflectionPadding2D((0, 2))(x)[0, 0, :, 0]   # [2, 1, 0, 1, 2, 1, 0]
    ```
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(padding, (list, tuple)):
            padding = (padding, padding)
        if len(padding) != 2:
            raise ValueError(
                f"padding must be a non-negative integer or (pad_height, pad_width); got "
                f"{padding!r}.")
        self.padding = tuple(checks.integer(p, "padding", 0) for p in padding)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"ReflectionPadding2D takes (batch, height, width, channels); got "
                f"{tuple(input_shape)}.")
        for size, pad, side in zip(input_shape[1:3], self.padding, ("height", "width")):
            if size is not None and pad >= size:
                raise ValueError(
                    f"Reflection padding of {pad} needs a {side} above {pad}; got {size}.")
        self.built = True

    def call(self, inputs):
        pad_h, pad_w = self.padding
        return ops.pad(inputs, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]],
                       mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        pad_h, pad_w = self.padding
        return (batch, None if height is None else height + 2 * pad_h,
                None if width is None else width + 2 * pad_w, channels)

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding)
        return config


#: The smallest side the residual blocks work at: the paper's generators halve 128- and
#: 256-pixel images twice, to 32 and 64 pixels, and never go below.
SMALLEST_BLOCK_SIDE = 32


def resnet_downsamplings(height, width, at_most=2):
    """How many stride-2 halvings the generator makes: up to 2, keeping both sides >= 32.

    Example:

    ```python
    from kgen.networks.resnet_generator import resnet_downsamplings
    [resnet_downsamplings(s, s) for s in (8, 32, 64, 128, 256)]  # [0, 0, 1, 2, 2]
    ```
    """
    count = 0
    while count < at_most and height % 2 == 0 and width % 2 == 0 \
            and min(height, width) // 2 >= SMALLEST_BLOCK_SIDE:
        height, width, count = height // 2, width // 2, count + 1
    return count


def resnet_normalization(height, width, kind="auto"):
    """The normalisation ``kind`` for images of ``height x width``, ``"auto"`` resolved.

    ``"auto"`` is the default: ``"instance"`` (the
    paper's) from 32 pixels a side, where the generator's feature maps hold at least
    32x32 positions to compute each image's statistics from, and None below. Any other
    kind (``"batch"``, ``"instance"``, ``"none"`` or None) is returned as given.

    On the 8x8 digits, instance normalisation let the discriminators win within the
    first epochs for two seeds of three, and CycleGAN's translations failed; without
    it, the generators and discriminators stay matched.

    Example:

    ```python
    from kgen.networks.resnet_generator import resnet_normalization
    resnet_normalization(8, 8), resnet_normalization(64, 64)  # (None, 'instance')
    resnet_normalization(8, 8, "batch")                         # 'batch'
    ```

    Raises:
        ValueError: ``kind`` is none of ``"auto"``, ``"batch"``, ``"instance"``,
            ``"none"`` or None (the message lists them).
    """
    checks.one_of(kind, "normalization", ("auto",) + NORMALIZATIONS)
    if kind != "auto":
        return kind
    return "instance" if min(height, width) >= SMALLEST_BLOCK_SIDE else None


def resnet_blocks(height, width):
    """The default number of residual blocks for images of ``height x width``.

    The paper's 6 blocks (9 above 128 pixels), but no more than a quarter of the
    larger side at the blocks' resolution: each block's two 3x3 convolutions widen the
    receptive field by 4 pixels there, and the paper's generators keep that growth
    within the side (6 blocks at 32 pixels for 128-pixel images, 9 at 64 for 256).
    On small images, a deeper stack sees the whole image many times over and can
    redraw it freely: on 8x8 digits, CycleGAN's translations then keep the style of
    the target domain but not the content of the input.

    Example:

    ```python
    from kgen.networks.resnet_generator import resnet_blocks
    [resnet_blocks(s, s) for s in (8, 16, 32, 128, 256)]  # [2, 4, 6, 6, 9]
    ```
    """
    halvings = resnet_downsamplings(height, width)
    side = max(height, width) // 2**halvings
    return max(1, min(6 if max(height, width) <= 128 else 9, side // 4))


def resnet_generator(shape, output_channels=None, base_filters=64, num_blocks=None,
                     normalization="auto", name="resnet_generator"):
    """A residual generator: an image of ``shape`` to an image of the same size.

    ``c7s1-f, d2f, d4f, R4f x num_blocks, u2f, uf, c7s1-out`` in the notation of Zhu et
    al. (``f = base_filters``): a reflection-padded 7x7 convolution; two 3x3
    convolutions with stride 2 (fewer for small images: halvings stop before a side
    drops under 32, the smallest the paper's generators work at, so images up to 32
    pixels get none and 64-pixel images one); residual blocks of two reflection-padded
    3x3 convolutions; 3x3 transposed convolutions with stride 2 back to full size; a
    reflection-padded 7x7 convolution to ``output_channels`` with a tanh. Every hidden
    convolution is followed by the normalisation and a ReLU (the second convolution of
    a residual block by the normalisation only, before the addition).

    Args:
        shape: input image shape ``(height, width, channels)``, at least 4x4.
        output_channels: channels of the output image (default: those of the input).
        base_filters: filters of the first convolution (64 in the paper).
        num_blocks: residual blocks; default `resnet_blocks`: 6 for images up to 128
            pixels on a side, 9 above (as in the paper), fewer for images under 32
            pixels (2 for 8x8, 4 for 16x16).
        normalization: ``"instance"`` (the paper's), ``"batch"``, None (``"none"``),
            or ``"auto"`` (default, `resnet_normalization`: instance normalisation
            from 32 pixels a side, none below).
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``shape`` to ``(height, width, output_channels)``.

    Raises:
        TypeError: a size, width or block count that is not an integer.
        ValueError: images under 4x4, an unknown normalisation, a negative ``num_blocks``.

    Example:

    ```python
    from kgen.networks import resnet_generator
    g = resnet_generator((16, 16, 3), base_filters=8, num_blocks=2)
    g.output_shape  # (None, 16, 16, 3)
    ```

    References:
        Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
        Super-Resolution", ECCV 2016.
        Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using
        Cycle-Consistent Adversarial Networks", ICCV 2017.
    """
    height, width, channels = check_image_shape(shape, "resnet_generator")
    if min(height, width) < 4:
        raise ValueError(
            f"resnet_generator needs images of at least 4x4 pixels (its 7x7 convolutions "
            f"are reflection-padded by 3); got {height}x{width}.")
    normalization = check_normalization(resnet_normalization(height, width, normalization))
    output_channels = checks.optional_integer(output_channels, "output_channels", 1)
    output_channels = channels if output_channels is None else output_channels
    base_filters = checks.integer(base_filters, "base_filters", 1)
    num_blocks = checks.optional_integer(num_blocks, "num_blocks", 0)
    if num_blocks is None:
        num_blocks = resnet_blocks(height, width)
    downsamplings = resnet_downsamplings(height, width)
    use_bias = normalization is None

    def norm_act(x, tag, activation=True):
        norm = normalization_layer(normalization, f"{name}_{tag}_norm")
        if norm is not None:
            x = norm(x)
        if activation:
            x = keras.layers.ReLU(name=f"{name}_{tag}_act")(x)
        return x

    inputs = keras.Input((height, width, channels), name=f"{name}_input")
    x = ReflectionPadding2D(3, name=f"{name}_in_pad")(inputs)
    x = keras.layers.Conv2D(base_filters, 7, use_bias=use_bias, name=f"{name}_in_conv")(x)
    x = norm_act(x, "in")
    for i in range(downsamplings):
        x = keras.layers.Conv2D(base_filters * 2 ** (i + 1), 3, strides=2, padding="same",
                                use_bias=use_bias, name=f"{name}_down_{i}")(x)
        x = norm_act(x, f"down_{i}")
    filters = base_filters * 2**downsamplings
    for i in range(num_blocks):
        y = ReflectionPadding2D(1, name=f"{name}_res_{i}_pad_a")(x)
        y = keras.layers.Conv2D(filters, 3, use_bias=use_bias, name=f"{name}_res_{i}_conv_a")(y)
        y = norm_act(y, f"res_{i}_a")
        y = ReflectionPadding2D(1, name=f"{name}_res_{i}_pad_b")(y)
        y = keras.layers.Conv2D(filters, 3, use_bias=use_bias, name=f"{name}_res_{i}_conv_b")(y)
        y = norm_act(y, f"res_{i}_b", activation=False)
        x = keras.layers.Add(name=f"{name}_res_{i}_add")([x, y])
    for i in reversed(range(downsamplings)):
        x = Conv2DTranspose(base_filters * 2**i, 3, strides=2, padding="same",
                                         use_bias=use_bias, name=f"{name}_up_{i}")(x)
        x = norm_act(x, f"up_{i}")
    x = ReflectionPadding2D(3, name=f"{name}_out_pad")(x)
    outputs = keras.layers.Conv2D(output_channels, 7, activation="tanh",
                                  name=f"{name}_out")(x)
    return keras.Model(inputs, outputs, name=name)
