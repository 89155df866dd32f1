"""Images as sequences of patch tokens, and back (Dosovitskiy et al. 2021; Peebles & Xie 2023).

A vision transformer cuts an image ``(H, W, C)`` into non-overlapping ``p x p`` patches,
a ``(H / p) x (W / p)`` grid read in raster order, and maps each flattened patch of
``p * p * C`` values to a token of ``width`` values with one linear map (`PatchEmbedding`,
equal to a convolution of kernel and stride ``p``). A diffusion transformer maps its
output tokens back to patches with another linear map and reassembles the image
(`PatchUnembedding`). `patchify` and `unpatchify` are the weight-free rearrangements.

References:
    Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale", ICLR 2021.
    Peebles & Xie, "Scalable Diffusion Models with Transformers", ICCV 2023.
"""

import math

import keras
from keras import ops

from kgen import checks


def _check_patch_size(patch_size):
    return checks.integer(patch_size, "patch_size", 1)


def _grid(height, width, patch_size):
    if height is None or width is None:
        raise ValueError("Patches need images of a known height and width.")
    if height % patch_size or width % patch_size:
        raise ValueError(f"Images of {height}x{width} do not divide into {patch_size}x"
                         f"{patch_size} patches: both sides must be multiples of "
                         f"patch_size={patch_size}.")
    return height // patch_size, width // patch_size


def patchify(images, patch_size):
    """Cuts images ``(N, H, W, C)`` into flattened patches ``(N, (H/p) (W/p), p p C)``.

    The patches are in raster order; each holds its ``p x p x C`` values in row-major
    order (rows, columns, channels).

    Example:

    ```python
    import numpy as np
    from kgen.networks import patchify

    patchify(np.zeros((2, 8, 8, 3), "float32"), 4).shape   # (2, 4, 48)
    ```
    """
    patch_size = _check_patch_size(patch_size)
    images = ops.convert_to_tensor(images)
    if len(images.shape) != 4:
        raise ValueError(f"patchify takes images (N, H, W, C); got shape {images.shape}.")
    _, height, width, channels = images.shape
    rows, columns = _grid(height, width, patch_size)
    batch = ops.shape(images)[0]
    x = ops.reshape(images, (batch, rows, patch_size, columns, patch_size, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (batch, rows * columns, patch_size * patch_size * channels))


def unpatchify(patches, patch_size, grid_shape, channels):
    """The inverse of `patchify`: patches ``(N, h w, p p C)`` to images ``(N, h p, w p, C)``.

    Args:
        patches: flattened patches in raster order.
        patch_size: ``p``.
        grid_shape: ``(h, w)``, the grid of patches.
        channels: ``C``.

    Example:

    ```python
    import numpy as np
    from kgen.networks import patchify, unpatchify

    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.array_equal(unpatchify(patchify(x, 4), 4, (2, 2), 3), x)   # True
    ```
    """
    patch_size = _check_patch_size(patch_size)
    rows, columns = _check_grid(grid_shape)
    channels = checks.integer(channels, "channels", 1)
    patches = ops.convert_to_tensor(patches)
    expected = (rows * columns, patch_size * patch_size * channels)
    if len(patches.shape) != 3 or tuple(patches.shape[1:]) != expected:
        raise ValueError(f"unpatchify of a {rows}x{columns} grid of {patch_size}x{patch_size}"
                         f"x{channels} patches takes (N, {expected[0]}, {expected[1]}); got "
                         f"shape {tuple(patches.shape)}.")
    batch = ops.shape(patches)[0]
    x = ops.reshape(patches, (batch, rows, columns, patch_size, patch_size, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (batch, rows * patch_size, columns * patch_size, channels))


def _check_grid(grid_shape):
    if not isinstance(grid_shape, (tuple, list)) or len(grid_shape) != 2:
        raise TypeError(f"grid_shape must be (height, width); got {grid_shape!r}.")
    return (checks.integer(grid_shape[0], "grid height", 1),
            checks.integer(grid_shape[1], "grid width", 1))


@keras.saving.register_keras_serializable(package="kgen")
class PatchEmbedding(keras.layers.Layer):
    """Images ``(N, H, W, C)`` to patch tokens ``(N, (H/p) (W/p), width)``: a linear map per patch.

    Args:
        patch_size: the side ``p`` of the square patches (``H`` and ``W`` multiples of it).
        width: the size of each token.
        use_bias: a bias in the linear map.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from kgen.networks import PatchEmbedding

    PatchEmbedding(patch_size=2, width=16)(np.zeros((3, 8, 8, 1), "float32")).shape
    # (3, 16, 16)
    ```

    References:
        Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
        Recognition at Scale", ICLR 2021.
    """

    def __init__(self, patch_size, width, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = _check_patch_size(patch_size)
        self.width = checks.integer(width, "width", 1)
        if not isinstance(use_bias, bool):
            raise TypeError(f"use_bias must be True or False; got {use_bias!r}.")
        self.use_bias = use_bias
        self.projection = keras.layers.Dense(self.width, use_bias=use_bias, name="projection")

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"PatchEmbedding takes images (N, H, W, C); got shape "
                             f"{tuple(input_shape)}.")
        _grid(input_shape[1], input_shape[2], self.patch_size)
        self.projection.build((None, None, self.patch_size ** 2 * int(input_shape[3])))
        self.built = True

    def grid_shape(self, image_shape):
        """The ``(h, w)`` grid of patches of images of ``image_shape`` ``(H, W, C)``."""
        return _grid(image_shape[0], image_shape[1], self.patch_size)

    def call(self, images):
        return self.projection(patchify(images, self.patch_size))

    def compute_output_shape(self, input_shape):
        rows, columns = _grid(input_shape[1], input_shape[2], self.patch_size)
        return (input_shape[0], rows * columns, self.width)

    def get_config(self):
        config = super().get_config()
        config.update(patch_size=self.patch_size, width=self.width, use_bias=self.use_bias)
        return config


@keras.saving.register_keras_serializable(package="kgen")
class PatchUnembedding(keras.layers.Layer):
    """Patch tokens ``(N, h w, D)`` to images ``(N, h p, w p, channels)``: the inverse of `PatchEmbedding`.

    Each token is mapped linearly to a ``p x p x channels`` patch (`unpatchify`
    reassembles the grid), as the last layer of a diffusion transformer does.

    Args:
        patch_size: the side ``p`` of the patches.
        channels: the channels of the output images.
        grid_shape: ``(h, w)``, the grid of patches; None for a square grid (``h = w =
            sqrt(number of tokens)``).
        use_bias: a bias in the linear map.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from kgen.networks import PatchUnembedding

    PatchUnembedding(patch_size=2, channels=1)(np.zeros((3, 16, 32), "float32")).shape
    # (3, 8, 8, 1)
    ```

    References:
        Peebles & Xie, "Scalable Diffusion Models with Transformers", ICCV 2023.
    """

    def __init__(self, patch_size, channels, grid_shape=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = _check_patch_size(patch_size)
        self.channels = checks.integer(channels, "channels", 1)
        self.grid_shape = None if grid_shape is None else _check_grid(grid_shape)
        if not isinstance(use_bias, bool):
            raise TypeError(f"use_bias must be True or False; got {use_bias!r}.")
        self.use_bias = use_bias
        self.projection = keras.layers.Dense(self.patch_size ** 2 * self.channels,
                                             use_bias=use_bias, name="projection")

    def _grid_of(self, tokens):
        if self.grid_shape is not None:
            if tokens is not None and tokens != self.grid_shape[0] * self.grid_shape[1]:
                raise ValueError(f"PatchUnembedding reassembles a {self.grid_shape[0]}x"
                                 f"{self.grid_shape[1]} grid; got {tokens} tokens.")
            return self.grid_shape
        side = math.isqrt(tokens) if tokens is not None else None
        if side is None or side * side != tokens:
            raise ValueError(f"PatchUnembedding without grid_shape needs a square number of "
                             f"tokens; got {tokens}. Pass grid_shape=(h, w).")
        return side, side

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"PatchUnembedding takes tokens (N, T, D); got shape "
                             f"{tuple(input_shape)}.")
        self._grid_of(input_shape[1])
        self.projection.build(tuple(input_shape))
        self.built = True

    def call(self, tokens):
        grid = self._grid_of(tokens.shape[1])
        return unpatchify(self.projection(tokens), self.patch_size, grid, self.channels)

    def compute_output_shape(self, input_shape):
        rows, columns = self._grid_of(input_shape[1])
        return (input_shape[0], rows * self.patch_size, columns * self.patch_size,
                self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(patch_size=self.patch_size, channels=self.channels,
                      grid_shape=self.grid_shape, use_bias=self.use_bias)
        return config


__all__ = ["PatchEmbedding", "PatchUnembedding", "patchify", "unpatchify"]
