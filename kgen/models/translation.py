"""What the image-to-image translation families share: their networks' image shapes, the
check of their training batches, and the L1 distance they train with.

`kgen.models.Pix2Pix` and `kgen.models.CycleGAN` both map images to images: they read the
image shapes of the networks they are given the same way, check the batches of a
training step the same way (uint8/uint16 batches become data space by the conversion of
every family, `kgen.checks.data_space_batch`, in ``GenerativeModel.prepare_batch``),
and pull outputs towards targets with the same mean absolute error (pix2pix's L1 term;
CycleGAN's cycle and identity terms).
"""

import keras
from keras import ops

from kgen import checks
from kgen.precision import float32

#: Integer image dtypes and the divisor ``d`` of their conversion ``x / d - 1`` to data
#: space (the package rule, `kgen.checks.INTEGER_IMAGES`).
INTEGER_IMAGES = checks.INTEGER_IMAGES


def image_network_shapes(network, role):
    """``(input_shape, output_shape)`` of a network from one image to one image.

    Args:
        network: a Keras model or layer with a known input shape.
        role: what the network is (``"generator_ab"``), for the messages.

    Returns:
        Two tuples ``(height, width, channels)``.

    Raises:
        TypeError: not a Keras model or layer.
        ValueError: a network of several inputs, or whose input or output is not an
            image of fixed shape.

    Example:

    ```python
    from kgen.models.translation import image_network_shapes
    from kgen.networks import unet_generator

    image_network_shapes(unet_generator((8, 8, 1), 3, base_filters=4), "generator")
    # ((8, 8, 1), (8, 8, 3))
    ```
    """
    shape = checks.network_input_shapes(network, role)
    if isinstance(shape, list) or len(shape) != 3 or None in shape:
        raise ValueError(
            f"The {role} must take one image of fixed shape (height, width, channels); "
            f"its input shape is {shape}.")
    output = checks.network_output_shape(network, shape, role)
    if isinstance(output, list) or len(output) != 3:
        raise ValueError(
            f"The {role} must output images (height, width, channels); its output shape "
            f"is {output}.")
    return tuple(shape), tuple(output)


def check_image_batch(batch, shape, role, fix):
    """Checks that ``batch`` (an array or a traced tensor) holds images of ``shape``.

    Args:
        batch: a batch of images, ``(n,) + shape``.
        shape: the image shape the networks take.
        role: what the images are (``"targets"``, ``"B images"``), for the messages.
        fix: a sentence that says what to pass instead.

    Raises:
        ValueError: another image shape.
        TypeError: a dtype that is neither float nor uint8/uint16 (pixel values).

    Example:

    ```python
    import numpy as np
    from kgen.models.translation import check_image_batch

    check_image_batch(np.zeros((2, 8, 8, 1), np.uint8), (8, 8, 1), "inputs", "")
    ```
    """
    got = tuple(batch.shape[1:])
    if got != tuple(shape):
        raise ValueError(f"The {role} have shape {got}; the networks take {tuple(shape)}. "
                         f"{fix}")
    dtype = keras.backend.standardize_dtype(batch.dtype)
    if dtype not in INTEGER_IMAGES and not keras.backend.is_float_dtype(dtype):
        raise TypeError(
            f"The {role} have dtype {dtype}; the networks take images in [-1, 1] (floats) "
            "or pixel values (uint8, uint16). Convert them with kgen.data.to_data_space "
            "(or build the data with kgen.data.paired_images / kgen.data.unpaired_images).")


def check_image_array(array, shape, role, fix):
    """What the translation families check of an array given to ``fit()`` themselves:
    nothing beyond what every family's ``fit()`` checks.

    ``GenerativeModel.fit`` checks the arrays of every family with the package's rule
    (`kgen.checks.training_array`: image dtype, the shape the model takes, NaN and
    infinite values, floats in ``[-1, 1]``, a warning for ``[0, 1]``), naming the model
    and ``from_shape`` for data of another shape; this function leaves those checks to
    it, so that a family's arrays get the same messages as any other family's. It only
    refuses what is not an array of images at all.

    Args:
        array: the array given to ``fit()``.
        shape, role, fix: as in `check_image_batch` (kept for the callers).

    Raises:
        TypeError: something without a shape and a dtype.
    """
    del shape, fix
    if not (hasattr(array, "shape") and hasattr(array, "dtype")):
        raise TypeError(f"The {role} must be an array of images; got "
                        f"{type(array).__name__}.")


def data_space_batch(batch, shape, role, fix):
    """A training batch as float images in data space ([-1, 1]), checked (in-graph).

    The conversion of every family (`kgen.checks.data_space_batch`): uint8 and uint16
    pixel values become ``x / 127.5 - 1`` and ``x / 32767.5 - 1`` in float32, float
    batches pass as they are. ``GenerativeModel.prepare_batch`` has converted the
    batches of a training step already; this also converts batches given to the
    translation losses directly.

    Args:
        batch: a batch of images, ``(n,) + shape`` (a tensor of the step).
        shape, role, fix: as in `check_image_batch`.

    Example:

    ```python
    import numpy as np
    from kgen.models.translation import data_space_batch

    pixels = np.array([0, 255], np.uint8).reshape(2, 1, 1, 1)
    data_space_batch(pixels, (1, 1, 1), "inputs", "")   # [-1, 1] as float32
    ```
    """
    check_image_batch(batch, shape, role, fix)
    return checks.data_space_batch(batch, role)


def mean_absolute_error(target, output):
    """``mean |target - output|`` over every axis, in float32 (or the output's wider dtype): the L1
    distance.

    Example:

    ```python
    import numpy as np
    from kgen.models.translation import mean_absolute_error

    mean_absolute_error(np.zeros(4, "float32"), np.array([1, -1, 2, 0], "float32"))  # 1.0
    ```
    """
    output = float32(ops.convert_to_tensor(output))
    return ops.mean(ops.abs(ops.cast(target, output.dtype) - output))
