"""A convolutional image encoder: images to one feature vector that keeps where things are.

Strided convolutions halve the image until its side is at most 4 (or ``num_downsamplings``
times), with group normalisation and SiLU, and the last feature map is flattened into a
dense layer. Flattening (rather than averaging over positions) keeps the layout of the
image in the features, which a caption such as "in the top left" needs; the image
encoder of `kgen.models.CLIP` by default.

References:
    Radford et al., "Learning Transferable Visual Models From Natural Language
    Supervision", ICML 2021 (the image tower of a dual encoder).
"""

import math

import keras

from kgen import checks


def image_encoder(shape, width=64, base_filters=32, num_downsamplings=None,
                  name="image_encoder"):
    """A CNN from images ``shape`` to a feature vector ``(width,)``.

    Each stage is a stride-2 3x3 convolution and a 3x3 convolution, each followed by group
    normalisation and SiLU; stage ``i`` has ``base_filters * 2**i`` filters (at most
    ``8 * base_filters``). A first 3x3 convolution lifts the image to ``base_filters``
    channels, and a dense layer maps the flattened last map to ``width``.

    Args:
        shape: ``(height, width, channels)`` of the images (in ``[-1, 1]``).
        width: the size of the output vector.
        base_filters: filters of the first stage.
        num_downsamplings: the number of stride-2 stages; None: until the smaller side
            is at most 4.
        name: the model's name.

    Returns:
        A functional `keras.Model` from ``(N,) + shape`` to ``(N, width)``.

    Raises:
        ValueError: a shape that is not ``(H, W, C)``, or more downsamplings than the
            image has pixels for.

    Example:

    ```python
    from kgen.networks import image_encoder

    encoder = image_encoder((8, 8, 3), width=8, base_filters=4)
    encoder.output_shape   # (None, 8)
    ```
    """
    if not isinstance(shape, (tuple, list)) or len(shape) != 3:
        raise ValueError(f"image_encoder takes an image shape (height, width, channels); got "
                         f"{shape!r}.")
    height, wide, channels = (checks.integer(s, "shape", 1) for s in shape)
    width = checks.integer(width, "width", 1)
    base_filters = checks.integer(base_filters, "base_filters", 1)
    if num_downsamplings is None:
        num_downsamplings = max(0, math.ceil(math.log2(max(1, min(height, wide) / 4))))
    num_downsamplings = checks.integer(num_downsamplings, "num_downsamplings", 0)
    if 2 ** num_downsamplings > min(height, wide):
        raise ValueError(f"{num_downsamplings} downsamplings need images of at least "
                         f"{2 ** num_downsamplings} pixels a side; got {height}x{wide}.")

    def normalised(h, filters, stride, label):
        h = keras.layers.Conv2D(filters, 3, strides=stride, padding="same",
                                name=f"{label}_conv")(h)
        h = keras.layers.GroupNormalization(groups=math.gcd(filters, 8),
                                            name=f"{label}_norm")(h)
        return keras.layers.Activation("silu", name=f"{label}_silu")(h)

    images = keras.Input((height, wide, channels), name="images")
    h = normalised(images, base_filters, 1, "stem")
    for stage in range(num_downsamplings):
        filters = base_filters * min(2 ** stage, 8)
        h = normalised(h, filters, 2, f"down_{stage}")
        h = normalised(h, filters, 1, f"stage_{stage}")
    h = keras.layers.Flatten(name="flatten")(h)
    features = keras.layers.Dense(width, name="features")(h)
    return keras.Model(images, features, name=name)


__all__ = ["image_encoder"]
