"""The PatchGAN discriminator (Isola et al. 2017): one logit per image patch.

Instead of one real/fake decision per image, the discriminator is a fully
convolutional network whose output is a grid of logits, each seeing one patch of the
image (70x70 pixels for the default three strided layers). It models only local
texture and structure, which is what an L1 or cycle loss misses (they already get the
low frequencies right), has fewer weights than a whole-image discriminator, and works
on images of any size. Used by pix2pix and CycleGAN.

References:
    Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
    Networks", CVPR 2017.
    Li & Wand, "Precomputed Real-Time Texture Synthesis with Markovian Generative
    Adversarial Networks", ECCV 2016.
"""

import keras

from kgen import checks
from kgen.networks.unet import check_image_shape

#: The normalisations of the image-to-image networks; ``"none"`` (the command line's
#: spelling) is the same as None.
NORMALIZATIONS = ("batch", "instance", "none", None)


def check_normalization(kind):
    """``kind`` checked to be one of `NORMALIZATIONS`, with ``"none"`` as None."""
    checks.one_of(kind, "normalization", NORMALIZATIONS)
    return None if kind == "none" else kind


def normalization_layer(kind, name):
    """A normalisation layer: ``"batch"``, ``"instance"`` (per image and channel) or None.

    Instance normalisation (Ulyanov et al. 2016) is
    ``keras.layers.GroupNormalization(groups=-1)``: one group per channel.
    """
    kind = check_normalization(kind)
    if kind == "batch":
        return keras.layers.BatchNormalization(momentum=0.9, name=name)
    if kind == "instance":
        return keras.layers.GroupNormalization(groups=-1, name=name)
    return None


def patchgan_layers(height, width, num_layers):
    """``num_layers`` clipped so that the output grid keeps at least 2x2 cells.

    Raises:
        ValueError: an image under 4 pixels on a side (not even one strided layer fits).
    """
    fit = 0
    h, w = height, width
    while (h + 1) // 2 >= 2 and (w + 1) // 2 >= 2:
        h, w, fit = (h + 1) // 2, (w + 1) // 2, fit + 1
    if fit == 0:
        raise ValueError(
            f"patchgan_discriminator needs images of at least 4x4 pixels (one strided "
            f"layer and a 2x2 grid of patches); got {height}x{width}.")
    return min(int(num_layers), fit)


def patchgan_discriminator(shape, condition_shape=None, base_filters=64, num_layers=3,
                           normalization="batch", name="patchgan_discriminator"):
    """A PatchGAN discriminator: an image of ``shape`` to a grid of logits.

    ``num_layers`` 4x4 convolutions with stride 2 (``base_filters * 2**i`` filters, at
    most ``8 * base_filters``; normalisation on all but the first), then a 4x4
    convolution with stride 1, and a last 4x4 convolution with stride 1 to one logit
    per cell; LeakyReLU(0.2) between them. With the default three strided layers each
    logit sees a 70x70 patch. For small images ``num_layers`` is clipped so that the grid
    keeps at least 2x2 cells (8x8 images: 2 strided layers, a 2x2 grid of logits whose
    34x34 receptive fields cover the image).

    With ``condition_shape`` the network takes ``[condition, image]`` and concatenates
    them on the channel axis: the discriminator of a conditional GAN such as pix2pix
    judges (input, output) pairs.

    Args:
        shape: image shape ``(height, width, channels)``.
        condition_shape: shape of the conditioning image (same height and width), or
            None for an unconditional discriminator.
        base_filters: filters of the first layer (64 in the paper).
        num_layers: number of strided layers (3: 70x70 patches; 1: 16x16; 4: 142x142),
            clipped by the image size.
        normalization: ``"batch"`` (pix2pix), ``"instance"`` (CycleGAN) or None.
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``shape`` (or ``[condition_shape, shape]``) to
        ``(grid_height, grid_width, 1)`` logits.

    Raises:
        TypeError: a size, width or layer count that is not an integer.
        ValueError: images under 4x4, a condition of another size, an unknown
            normalisation, fewer than one layer.

    Example:

    ```python
    from kgen.networks import patchgan_discriminator
    d = patchgan_discriminator((8, 8, 3), condition_shape=(8, 8, 1), base_filters=8)
    d.output_shape  # (None, 2, 2, 1)
    ```

    References:
        Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional
        Adversarial Networks", CVPR 2017.
    """
    height, width, channels = check_image_shape(shape, "patchgan_discriminator")
    normalization = check_normalization(normalization)
    base_filters = checks.integer(base_filters, "base_filters", 1)
    num_layers = patchgan_layers(height, width, checks.integer(num_layers, "num_layers", 1))
    image = keras.Input((height, width, channels), name=f"{name}_image")
    if condition_shape is None:
        inputs, x = image, image
    else:
        condition_shape = check_image_shape(condition_shape, "patchgan_discriminator")
        if condition_shape[:2] != (height, width):
            raise ValueError(
                f"The condition {condition_shape} and the image {(height, width, channels)} "
                "must have the same height and width (they are stacked on channels).")
        condition = keras.Input(condition_shape, name=f"{name}_condition")
        inputs = [condition, image]
        x = keras.layers.Concatenate(name=f"{name}_pair")([condition, image])

    def block(x, filters, stride, index, normalize):
        norm = normalization_layer(normalization, f"{name}_norm_{index}") if normalize \
            else None
        x = keras.layers.Conv2D(filters, 4, strides=stride, padding="same",
                                use_bias=norm is None, name=f"{name}_conv_{index}")(x)
        if norm is not None:
            x = norm(x)
        return keras.layers.LeakyReLU(0.2, name=f"{name}_act_{index}")(x)

    for i in range(num_layers):
        x = block(x, base_filters * 2 ** min(i, 3), 2, i, normalize=i > 0)
    x = block(x, base_filters * 2 ** min(num_layers, 3), 1, num_layers, normalize=True)
    outputs = keras.layers.Conv2D(1, 4, padding="same", name=f"{name}_logits")(x)
    return keras.Model(inputs, outputs, name=name)
