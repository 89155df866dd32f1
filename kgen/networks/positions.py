"""Position encodings of token sequences: learned, sinusoidal 1-D and sinusoidal 2-D.

Attention is blind to the order of its inputs: a transformer sees where each token is
from a vector added to the token's embedding, either learned (one trainable vector per
position, as in GPT and image GPT) or fixed sinusoids of the position at geometrically
spaced frequencies (Vaswani et al. 2017). For the patches of an image, the 2-D version
encodes the row with half of the channels and the column with the other half (as in
MAE and DiT).

References:
    Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    Radford et al., "Improving Language Understanding by Generative Pre-Training", 2018.
    He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022.
"""

import math

import keras
import numpy as np
from keras import ops

from kgen import checks


def _static(size):
    """A known size as a Python int (a traced PyTorch call gives sizes as 0-d tensors)."""
    return None if size is None else int(size)


def _frequencies(channels, base):
    """``channels // 2`` frequencies ``base ** (-k / (channels / 2))``, ``k = 0 ..``."""
    half = channels // 2
    return np.exp(-math.log(base) * np.arange(half, dtype="float64") / half)


def _check_base(base):
    return checks.number(base, "base", 1.0, exclusive_minimum=True)


def sinusoidal_1d(length, channels, base=10000.0):
    """The fixed sinusoidal encoding of positions ``0 .. length - 1``: ``(length, channels)``.

    Row ``p`` holds the sines of ``p * f_k`` then their cosines, for the ``channels / 2``
    frequencies ``f_k = base ** (-k / (channels / 2))`` (the sines and cosines of
    Vaswani et al. 2017, grouped rather than interleaved).

    Args:
        length: number of positions.
        channels: size of each encoding, an even number.
        base: the longest wavelength is ``2 pi base``.

    Returns:
        float32 numpy array ``(length, channels)``.

    Example:

    ```python
    from kgen.networks import sinusoidal_1d

    sinusoidal_1d(16, 8).shape   # (16, 8)
    ```
    """
    length = checks.integer(length, "length", 1)
    channels = checks.integer(channels, "channels", 2)
    if channels % 2:
        raise ValueError(f"sinusoidal_1d needs an even number of channels; got {channels}.")
    angles = np.arange(length, dtype="float64")[:, None] * _frequencies(channels, _check_base(
        base))[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype("float32")


def sinusoidal_2d(height, width, channels, base=10000.0):
    """The fixed 2-D sinusoidal encoding of a ``height x width`` grid: ``(height * width, channels)``.

    The tokens are in raster order (row by row). The first ``channels / 2`` channels are
    the 1-D encoding (`sinusoidal_1d`) of the row, the others that of the column.

    Args:
        height, width: the grid (of patches, of codes).
        channels: size of each encoding, a multiple of 4.
        base: as in `sinusoidal_1d`.

    Returns:
        float32 numpy array ``(height * width, channels)``.

    Example:

    ```python
    from kgen.networks import sinusoidal_2d

    sinusoidal_2d(4, 4, 16).shape   # (16, 16)
    ```
    """
    height = checks.integer(height, "height", 1)
    width = checks.integer(width, "width", 1)
    channels = checks.integer(channels, "channels", 4)
    if channels % 4:
        raise ValueError(f"sinusoidal_2d needs a multiple of 4 channels; got {channels}.")
    rows = sinusoidal_1d(height, channels // 2, base)
    columns = sinusoidal_1d(width, channels // 2, base)
    grid = np.concatenate([np.repeat(rows, width, axis=0), np.tile(columns, (height, 1))],
                          axis=1)
    return grid.astype("float32")


def _positions(length, position):
    """The positions ``position .. position + length - 1`` (int32; ``position`` may be a tensor)."""
    if isinstance(length, int) and isinstance(position, (int, np.integer)):
        return np.arange(position, position + length, dtype="int32")
    return ops.arange(length, dtype="int32") + ops.cast(position, "int32")


def _check_static_length(length, position, max_length, name):
    if isinstance(length, int) and isinstance(position, (int, np.integer)) \
            and position + length > max_length:
        raise ValueError(f"{name} has {max_length} positions; got a sequence of {length} "
                         f"starting at position {position}.")


@keras.saving.register_keras_serializable(package="kgen")
class LearnedPositions(keras.layers.Layer):
    """Adds a learned vector per position to a sequence ``(N, T, D)``.

    ``layer(x)`` returns ``x + P[0:T]``; ``layer(x, position=i)`` returns ``x + P[i:i+T]``
    (one step of incremental decoding; ``i`` may be a scalar tensor). ``P`` is a
    trainable ``(max_length, D)`` table.

    Args:
        max_length: the number of positions.
        initializer: the table's initializer (default: normal, standard deviation 0.02).
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from kgen.networks import LearnedPositions

    layer = LearnedPositions(10)
    layer(np.zeros((2, 6, 8), "float32")).shape   # (2, 6, 8)
    ```

    References:
        Radford et al., "Improving Language Understanding by Generative Pre-Training",
        2018.
    """

    def __init__(self, max_length, initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.max_length = checks.integer(max_length, "max_length", 1)
        self.initializer = keras.initializers.get(
            initializer or keras.initializers.RandomNormal(stddev=0.02))

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"LearnedPositions takes sequences (N, T, D) with a known D; got "
                             f"shape {tuple(input_shape)}.")
        self.table = self.add_weight(shape=(self.max_length, int(input_shape[-1])),
                                     initializer=self.initializer, name="table")
        self.built = True

    def call(self, x, position=0):
        length = x.shape[1]
        _check_static_length(length, position, self.max_length, "LearnedPositions")
        length = ops.shape(x)[1] if length is None else length
        table = ops.take(self.table, _positions(length, position), axis=0)
        return x + ops.cast(ops.expand_dims(table, 0), x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(max_length=self.max_length,
                      initializer=keras.initializers.serialize(self.initializer))
        return config


@keras.saving.register_keras_serializable(package="kgen")
class SinusoidalPositions(keras.layers.Layer):
    """Adds the fixed sinusoidal encoding of each position (`sinusoidal_1d`) to ``(N, T, D)``.

    ``layer(x, position=i)`` encodes positions ``i .. i + T - 1`` (incremental decoding).
    No weights, any length.

    Args:
        base: as in `sinusoidal_1d`.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from kgen.networks import SinusoidalPositions

    SinusoidalPositions()(np.zeros((2, 6, 8), "float32")).shape   # (2, 6, 8)
    ```

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """

    def __init__(self, base=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.base = _check_base(base)

    def call(self, x, position=0):
        channels = _static(x.shape[-1])
        if channels is None or channels % 2:
            raise ValueError(f"SinusoidalPositions needs an even, known number of channels; "
                             f"got {channels}.")
        length = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        positions = ops.cast(_positions(length, position), "float32")
        frequencies = ops.convert_to_tensor(_frequencies(channels, self.base), "float32")
        angles = ops.expand_dims(positions, 1) * ops.expand_dims(frequencies, 0)
        encoding = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
        return x + ops.cast(ops.expand_dims(encoding, 0), x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(base=self.base)
        return config


@keras.saving.register_keras_serializable(package="kgen")
class SinusoidalPositions2D(keras.layers.Layer):
    """Adds the fixed 2-D sinusoidal encoding (`sinusoidal_2d`) of a grid to its tokens.

    The input ``(N, height * width, D)`` holds the tokens of a ``height x width`` grid
    (image patches, `kgen.networks.PatchEmbedding`) in raster order.

    Args:
        grid_shape: ``(height, width)``.
        base: as in `sinusoidal_1d`.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from kgen.networks import SinusoidalPositions2D

    SinusoidalPositions2D((4, 4))(np.zeros((2, 16, 8), "float32")).shape   # (2, 16, 8)
    ```

    References:
        He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022.
        Peebles & Xie, "Scalable Diffusion Models with Transformers", ICCV 2023.
    """

    def __init__(self, grid_shape, base=10000.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(grid_shape, (tuple, list)) or len(grid_shape) != 2:
            raise TypeError(f"grid_shape must be (height, width); got {grid_shape!r}.")
        self.grid_shape = (checks.integer(grid_shape[0], "grid height", 1),
                           checks.integer(grid_shape[1], "grid width", 1))
        self.base = _check_base(base)

    def call(self, x):
        tokens, channels = _static(x.shape[1]), _static(x.shape[-1])
        height, width = self.grid_shape
        if tokens is not None and tokens != height * width:
            raise ValueError(f"SinusoidalPositions2D encodes a {height}x{width} grid "
                             f"({height * width} tokens); got {tokens} tokens.")
        encoding = sinusoidal_2d(height, width, channels, self.base)
        return x + ops.cast(ops.expand_dims(ops.convert_to_tensor(encoding), 0), x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(grid_shape=self.grid_shape, base=self.base)
        return config


__all__ = ["LearnedPositions", "SinusoidalPositions", "SinusoidalPositions2D", "sinusoidal_1d",
           "sinusoidal_2d"]
