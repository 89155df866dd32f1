"""The encoder-decoder with skip connections of the Deep Image Prior (Ulyanov et al. 2018)."""

import keras

from kgen import checks
from kgen.networks.resnet_generator import ReflectionPadding2D

_PADDINGS = ("reflect", "zero")


def _counts(values, name, minimum):
    """A list of filter counts as a tuple of integers of at least ``minimum``."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must list one filter count per level; got {values!r}.")
    return tuple(checks.integer(value, name, minimum) for value in values)


def _conv(x, filters, kernel_size, strides, padding, name):
    if padding == "reflect" and kernel_size > 1:
        x = ReflectionPadding2D((kernel_size - 1) // 2, name=f"{name}_pad")(x)
        mode = "valid"
    else:
        mode = "same"
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=mode, name=name)(x)


def _conv_bn_act(x, filters, kernel_size, strides, padding, name):
    x = _conv(x, filters, kernel_size, strides, padding, name)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.LeakyReLU(0.2, name=f"{name}_act")(x)


def skip_network(input_channels=32, output_channels=3, down_channels=(128, 128, 128, 128, 128),
                 up_channels=None, skip_channels=(4, 4, 4, 4, 4), kernel_size=3,
                 skip_kernel_size=1, padding="reflect", output_activation="tanh",
                 name="skip_network"):
    """The "skip" encoder-decoder of the Deep Image Prior, as a functional Keras model.

    Level ``i`` (of ``len(down_channels)``) halves the resolution with a stride-2
    convolution and applies a second convolution (``down_channels[i]`` filters each),
    runs the deeper levels, and upsamples the result bilinearly by 2; a skip branch
    (a ``skip_kernel_size`` convolution with ``skip_channels[i]`` filters, usually few)
    carries the level's input to its output, where it is concatenated with the
    upsampled path and batch-normalised, then a ``kernel_size`` and a 1x1 convolution
    (``up_channels[i]`` filters) follow. Every convolution is followed by batch
    normalisation and LeakyReLU(0.2). A 1x1 convolution maps the result to
    ``output_channels``, with ``output_activation`` (``"tanh"`` for images in
    ``[-1, 1]``; the paper's sigmoid for ``[0, 1]``). Height and width must be multiples
    of ``2 ** len(down_channels)``.

    The paper's settings: 32 input channels, 128 filters at 5 levels, 4 skip channels
    (denoising, super-resolution), or no skip branch and more levels for large holes
    in inpainting (``skip_channels=0``).

    Args:
        input_channels: channels of the noise code.
        output_channels: channels of the image.
        down_channels: filters of the downsampling convolutions, one per level.
        up_channels: filters of the upsampling convolutions (default ``down_channels``).
        skip_channels: filters of the skip branches, one per level (0: no skip), or one
            integer for all levels.
        kernel_size: kernel of the down and up convolutions.
        skip_kernel_size: kernel of the skip convolutions.
        padding: ``"reflect"`` (reflection padding, the paper's) or ``"zero"``.
        output_activation: activation of the output (a Keras activation name or None).
        name: the model's name.

    Returns:
        A `keras.Model` from ``(batch, H, W, input_channels)`` to
        ``(batch, H, W, output_channels)``.

    Example:

    ```python
    import numpy as np
    from kgen.networks import skip_network

    net = skip_network(8, 3, down_channels=(8, 16), skip_channels=(2, 2))
    net(np.zeros((1, 16, 16, 8), "float32")).shape   # (1, 16, 16, 3)
    ```

    References:
        Ulyanov, Vedaldi & Lempitsky, "Deep Image Prior", CVPR 2018 / IJCV 2020
        (supplementary material, the "skip" architecture).
    """
    down_channels = _counts(down_channels, "down_channels", 1)
    depth = len(down_channels)
    if depth < 1:
        raise ValueError(
            f"down_channels must list at least one positive filter count; got {down_channels}.")
    up_channels = down_channels if up_channels is None else _counts(up_channels,
                                                                     "up_channels", 1)
    if not isinstance(skip_channels, (list, tuple)):
        skip_channels = (skip_channels,) * depth
    skip_channels = _counts(skip_channels, "skip_channels", 0)
    if len(up_channels) != depth or len(skip_channels) != depth:
        raise ValueError(
            f"down_channels, up_channels and skip_channels need one entry per level; got "
            f"{len(down_channels)}, {len(up_channels)} and {len(skip_channels)}.")
    input_channels = checks.integer(input_channels, "input_channels", 1)
    output_channels = checks.integer(output_channels, "output_channels", 1)
    kernel_size = checks.integer(kernel_size, "kernel_size", 1)
    skip_kernel_size = checks.integer(skip_kernel_size, "skip_kernel_size", 1)
    checks.one_of(padding, "padding", _PADDINGS)

    def level(x, i):
        skip = None
        if skip_channels[i] > 0:
            skip = _conv_bn_act(x, skip_channels[i], skip_kernel_size, 1, padding,
                                f"skip{i}_conv")
        deeper = _conv_bn_act(x, down_channels[i], kernel_size, 2, padding, f"down{i}_conv1")
        deeper = _conv_bn_act(deeper, down_channels[i], kernel_size, 1, padding,
                              f"down{i}_conv2")
        if i + 1 < depth:
            deeper = level(deeper, i + 1)
        deeper = keras.layers.UpSampling2D(2, interpolation="bilinear",
                                           name=f"up{i}_upsample")(deeper)
        x = deeper if skip is None else keras.layers.Concatenate(name=f"up{i}_concat")(
            [skip, deeper])
        x = keras.layers.BatchNormalization(name=f"up{i}_bn")(x)
        x = _conv_bn_act(x, up_channels[i], kernel_size, 1, padding, f"up{i}_conv1")
        return _conv_bn_act(x, up_channels[i], 1, 1, padding, f"up{i}_conv2")

    inputs = keras.Input((None, None, input_channels), name="code")
    x = level(inputs, 0)
    outputs = keras.layers.Conv2D(output_channels, 1, activation=output_activation,
                                  name="output")(x)
    return keras.Model(inputs, outputs, name=name)
