"""The diffusion transformer (DiT, Peebles & Xie 2023): ``[x_t, t] (+ labels) -> prediction``.

The image is cut into ``p x p`` patches, each mapped to a token (`PatchEmbedding`), and
2-D positions are added (fixed sinusoids, `SinusoidalPositions2D`, or learned). The
timestep (sinusoidal embedding and a two-layer MLP) plus, for a class-conditional
network, a learned class embedding make one conditioning vector ``c`` per image. The
tokens go through ``depth`` DiT blocks with *adaLN-Zero* conditioning: each block
regresses from ``c`` the shift and scale of its two layer normalisations and a gate
on each of its two residual branches (attention and MLP), the regression starting at
zero, so that every block starts as the identity. A final adaptive layer norm and a
linear map (also starting at zero) turn each token into a ``p x p`` patch of the
prediction, and the patches are reassembled (`unpatchify`): the untrained network
outputs zero.

References:
    Peebles & Xie, "Scalable Diffusion Models with Transformers", ICCV 2023.
    Perez et al., "FiLM: Visual Reasoning with a General Conditioning Layer", AAAI 2018.
"""

import keras
from keras import layers, ops

from kgen import checks
from kgen.networks.attention import MultiHeadAttention
from kgen.networks.diffusion_unet import SinusoidalEmbedding
from kgen.networks.patches import PatchEmbedding, unpatchify
from kgen.networks.positions import LearnedPositions, SinusoidalPositions2D
from kgen.networks.unet import check_image_shape

#: The position encodings of the patch tokens.
POSITIONS = ("sinusoidal", "learned")
#: Size of the sinusoidal timestep features before the timestep MLP (DiT's).
TIMESTEP_FEATURES = 256


def _modulate(x, shift, scale):
    """``x * (1 + scale) + shift``, the shift and scale ``(N, D)`` broadcast over tokens."""
    return x * (1.0 + ops.expand_dims(scale, 1)) + ops.expand_dims(shift, 1)


def _check_sequence(x_shape, c_shape, width, what):
    x_shape, c_shape = tuple(x_shape), tuple(c_shape)
    if len(x_shape) != 3 or x_shape[-1] != width:
        raise ValueError(f"{what}(width={width}) takes tokens (N, T, {width}); got shape "
                         f"{x_shape}.")
    if len(c_shape) != 2 or c_shape[-1] is None:
        raise ValueError(f"{what} takes a conditioning vector (N, D) per image; got shape "
                         f"{c_shape}.")
    return x_shape, c_shape


@keras.saving.register_keras_serializable(package="kgen")
class DiTBlock(keras.layers.Layer):
    """A transformer block with adaLN-Zero conditioning: ``block(x, c)``.

    From the conditioning vector ``c`` ``(N, D_c)`` a linear map of ``SiLU(c)``, whose
    weights start at zero, gives six vectors: shift, scale and gate of the attention
    branch and of the MLP branch. Then, with layer norms without learned parameters,

    ``x = x + gate_1 * Attn(LN(x) * (1 + scale_1) + shift_1)``,
    ``x = x + gate_2 * MLP(LN(x) * (1 + scale_2) + shift_2)``,

    the MLP ``mlp_ratio * width`` wide with a (tanh-approximated) GELU. At
    initialisation the gates are zero: the block is the identity.

    Args:
        width: size of the token vectors (a multiple of ``num_heads``).
        num_heads: attention heads, each of size ``width // num_heads``
            (`kgen.networks.MultiHeadAttention`).
        mlp_ratio: the MLP's hidden width over ``width``.
        epsilon: the layer norms' epsilon.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.networks.diffusion_transformer import DiTBlock

    x = np.random.default_rng(0).normal(size=(2, 16, 8)).astype("float32")
    c = np.random.default_rng(1).normal(size=(2, 8)).astype("float32")
    y = keras.ops.convert_to_numpy(DiTBlock(8, num_heads=2)(x, c))
    np.allclose(y, x)   # True: the identity at first
    ```

    References:
        Peebles & Xie, "Scalable Diffusion Models with Transformers", ICCV 2023.
    """

    def __init__(self, width, num_heads, mlp_ratio=4, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.width = checks.integer(width, "width", 1)
        self.num_heads = checks.integer(num_heads, "num_heads", 1)
        if self.width % self.num_heads:
            raise ValueError(f"width ({self.width}) must be a multiple of num_heads "
                             f"({self.num_heads}).")
        self.mlp_ratio = checks.number(mlp_ratio, "mlp_ratio", 0.0, exclusive_minimum=True)
        self.epsilon = checks.number(epsilon, "epsilon", 0.0, exclusive_minimum=True)
        self.hidden = max(1, int(round(self.width * self.mlp_ratio)))
        self.attention_norm = layers.LayerNormalization(
            epsilon=self.epsilon, center=False, scale=False, name="attention_norm")
        self.attention = MultiHeadAttention(self.num_heads, self.width // self.num_heads,
                                            output_dim=self.width, name="attention")
        self.mlp_norm = layers.LayerNormalization(
            epsilon=self.epsilon, center=False, scale=False, name="mlp_norm")
        self.mlp_in = layers.Dense(self.hidden, name="mlp_in")
        self.mlp_out = layers.Dense(self.width, name="mlp_out")
        self.modulation = layers.Dense(6 * self.width, kernel_initializer="zeros",
                                       bias_initializer="zeros", name="modulation")

    def build(self, x_shape, c_shape):
        x_shape, c_shape = _check_sequence(x_shape, c_shape, self.width, "DiTBlock")
        self.attention_norm.build(x_shape)
        self.attention.build(x_shape)
        self.mlp_norm.build(x_shape)
        self.mlp_in.build(x_shape)
        self.mlp_out.build(x_shape[:-1] + (self.hidden,))
        self.modulation.build(c_shape)
        self.built = True

    def call(self, x, c):
        shift_1, scale_1, gate_1, shift_2, scale_2, gate_2 = ops.split(
            self.modulation(ops.silu(c)), 6, axis=-1)
        h = self.attention(_modulate(self.attention_norm(x), shift_1, scale_1))
        x = x + ops.expand_dims(gate_1, 1) * h
        h = _modulate(self.mlp_norm(x), shift_2, scale_2)
        h = self.mlp_out(ops.gelu(self.mlp_in(h), approximate=True))
        return x + ops.expand_dims(gate_2, 1) * h

    def compute_output_shape(self, x_shape, c_shape):
        return tuple(x_shape)

    def get_config(self):
        config = super().get_config()
        config.update(width=self.width, num_heads=self.num_heads, mlp_ratio=self.mlp_ratio,
                      epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="kgen")
class DiTOutput(keras.layers.Layer):
    """DiT's final layer: adaptive layer norm, a linear map to patches, the image reassembled.

    ``y = Linear(LN(x) * (1 + scale) + shift)``, the shift and scale a linear map of
    ``SiLU(c)``; each token becomes a ``patch_size x patch_size x channels`` patch and
    the ``grid_shape`` grid of patches becomes the image (`kgen.networks.unpatchify`).
    Both linear maps start at zero, so the output starts at zero.

    Args:
        patch_size: the side ``p`` of the patches.
        channels: the channels of the output image.
        grid_shape: ``(h, w)``, the grid of patches.
        epsilon: the layer norm's epsilon.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from kgen.networks.diffusion_transformer import DiTOutput

    out = DiTOutput(patch_size=2, channels=1, grid_shape=(4, 4))
    out(np.ones((3, 16, 8), "float32"), np.ones((3, 8), "float32")).shape   # (3, 8, 8, 1)
    ```

    References:
        Peebles & Xie, "Scalable Diffusion Models with Transformers", ICCV 2023.
    """

    def __init__(self, patch_size, channels, grid_shape, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = checks.integer(patch_size, "patch_size", 1)
        self.channels = checks.integer(channels, "channels", 1)
        if not isinstance(grid_shape, (tuple, list)) or len(grid_shape) != 2:
            raise TypeError(f"grid_shape must be (height, width); got {grid_shape!r}.")
        self.grid_shape = (checks.integer(grid_shape[0], "grid height", 1),
                           checks.integer(grid_shape[1], "grid width", 1))
        self.epsilon = checks.number(epsilon, "epsilon", 0.0, exclusive_minimum=True)
        self.norm = layers.LayerNormalization(epsilon=self.epsilon, center=False,
                                              scale=False, name="norm")
        self.modulation = None
        self.projection = layers.Dense(self.patch_size ** 2 * self.channels,
                                       kernel_initializer="zeros", bias_initializer="zeros",
                                       name="projection")

    def build(self, x_shape, c_shape):
        width = None if len(tuple(x_shape)) != 3 else x_shape[-1]
        x_shape, c_shape = _check_sequence(x_shape, c_shape, width, "DiTOutput")
        tokens = x_shape[1]
        if tokens is not None and tokens != self.grid_shape[0] * self.grid_shape[1]:
            raise ValueError(f"DiTOutput reassembles a {self.grid_shape[0]}x"
                             f"{self.grid_shape[1]} grid; got {tokens} tokens.")
        self.norm.build(x_shape)
        self.modulation = layers.Dense(2 * int(width), kernel_initializer="zeros",
                                       bias_initializer="zeros", name="modulation")
        self.modulation.build(c_shape)
        self.projection.build(x_shape)
        self.built = True

    def call(self, x, c):
        shift, scale = ops.split(self.modulation(ops.silu(c)), 2, axis=-1)
        patches = self.projection(_modulate(self.norm(x), shift, scale))
        return unpatchify(patches, self.patch_size, self.grid_shape, self.channels)

    def compute_output_shape(self, x_shape, c_shape):
        return (x_shape[0], self.grid_shape[0] * self.patch_size,
                self.grid_shape[1] * self.patch_size, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(patch_size=self.patch_size, channels=self.channels,
                      grid_shape=self.grid_shape, epsilon=self.epsilon)
        return config


def diffusion_transformer(shape, patch_size=2, width=128, depth=4, num_heads=4,
                          num_classes=None, mlp_ratio=4, positions="sinusoidal",
                          name="diffusion_transformer"):
    """A diffusion transformer (DiT): noisy image and timestep to the noise (or x0, or v).

    Patchify (`kgen.networks.PatchEmbedding`, ``patch_size x patch_size`` patches),
    add 2-D positions, run ``depth`` `DiTBlock` s conditioned on ``c = MLP(sin(t))``
    (plus a class embedding), then `DiTOutput` (adaptive layer norm, linear, unpatchify).
    The timestep MLP is two linear maps with a SiLU between them, on 256 sinusoidal
    features (`kgen.networks.SinusoidalEmbedding`). With ``num_classes`` a learned class
    embedding of ``num_classes + 1`` rows, the last one the null label of classifier-free
    guidance, is added to ``c``, as in `kgen.networks.diffusion_unet`. The adaLN
    regressions and the output projection start at zero (adaLN-Zero), so the untrained
    network outputs zero and every block starts as the identity.

    Inputs: ``[x_t (H, W, C), t ()]``, plus ``labels ()`` (int32) with ``num_classes``;
    output ``(H, W, C)``, linear: the inputs and output of `kgen.networks.diffusion_unet`,
    so `kgen.models.Diffusion` takes either.

    Args:
        shape: image shape ``(height, width, channels)``; height and width multiples of
            ``patch_size``.
        patch_size: the side ``p`` of the patches (``(H / p) (W / p)`` tokens).
        width: size of the tokens (a multiple of ``num_heads``, and of 4 with sinusoidal
            positions).
        depth: number of DiT blocks.
        num_heads: attention heads per block.
        num_classes: number of classes of a class-conditional network, or None.
        mlp_ratio: the blocks' MLP hidden width over ``width``.
        positions: ``"sinusoidal"`` (fixed 2-D sinusoids, the paper's) or ``"learned"``.
        name: the model's name.

    Returns:
        A functional `keras.Model`.

    Raises:
        TypeError: a size that is not an integer.
        ValueError: an image size that is not a multiple of ``patch_size``, a width that
            does not divide into the heads, an unknown position encoding.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.networks import diffusion_transformer

    net = diffusion_transformer((8, 8, 1), patch_size=2, width=16, depth=2, num_heads=2)
    x, t = np.ones((3, 8, 8, 1), "float32"), np.array([0.0, 5.0, 9.0], "float32")
    float(np.abs(keras.ops.convert_to_numpy(net([x, t]))).max())   # 0.0: adaLN-Zero
    ```

    References:
        Peebles & Xie, "Scalable Diffusion Models with Transformers", ICCV 2023.
        Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
        Recognition at Scale", ICLR 2021.
    """
    shape = check_image_shape(shape, "diffusion_transformer")
    patch_size = checks.integer(patch_size, "patch_size", 1)
    width = checks.integer(width, "width", 1)
    depth = checks.integer(depth, "depth", 1)
    num_heads = checks.integer(num_heads, "num_heads", 1)
    num_classes = checks.optional_integer(num_classes, "num_classes", 1)
    checks.one_of(positions, "positions", POSITIONS)
    if width % num_heads:
        raise ValueError(f"width ({width}) must be a multiple of num_heads ({num_heads}).")
    if positions == "sinusoidal" and width % 4:
        raise ValueError(f"2-D sinusoidal positions need a width that is a multiple of 4; "
                         f"got width={width}. Use another width or positions='learned'.")
    if shape[0] % patch_size or shape[1] % patch_size:
        raise ValueError(f"The image size {shape[:2]} must be a multiple of patch_size="
                         f"{patch_size}: pad the images or use another patch size.")
    grid = (shape[0] // patch_size, shape[1] // patch_size)

    x_in = keras.Input(shape, name="x_t")
    t_in = keras.Input((), name="t")
    inputs = [x_in, t_in]
    normal = keras.initializers.RandomNormal(stddev=0.02)
    c = SinusoidalEmbedding(TIMESTEP_FEATURES, name="timestep_embedding")(t_in)
    c = layers.Dense(width, activation="silu", kernel_initializer=normal, name="time_mlp1")(c)
    c = layers.Dense(width, kernel_initializer=normal, name="time_mlp2")(c)
    if num_classes is not None:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
        classes = layers.Embedding(num_classes + 1, width, embeddings_initializer=normal,
                                   name="class_embedding")(labels)
        c = layers.Add(name="add_class")([c, classes])

    h = PatchEmbedding(patch_size, width, name="patch_embedding")(x_in)
    if positions == "sinusoidal":
        h = SinusoidalPositions2D(grid, name="positions")(h)
    else:
        h = LearnedPositions(grid[0] * grid[1], name="positions")(h)
    for index in range(depth):
        h = DiTBlock(width, num_heads, mlp_ratio=mlp_ratio, name=f"dit_block_{index}")(h, c)
    out = DiTOutput(patch_size, shape[-1], grid, name="dit_output")(h, c)
    return keras.Model(inputs, out, name=name)


__all__ = ["DiTBlock", "DiTOutput", "diffusion_transformer"]
