"""The U-Net of denoising diffusion models (Ho et al. 2020): ``[x_t, t] (+ labels) -> prediction``."""

import math

import keras
from keras import layers, ops

from kgen import checks
from kgen.networks.dropout import Dropout
from kgen.networks.unet import check_image_shape


@keras.saving.register_keras_serializable(package="kgen")
class SinusoidalEmbedding(layers.Layer):
    """Sinusoidal embedding of a scalar per example (a diffusion timestep), as in Transformers.

    ``t`` of shape ``(batch,)`` (or ``(batch, 1)``) becomes ``(batch, dim)``: the sines
    then the cosines of ``t * f_k``, with frequencies ``f_k = max_period ** (-k / (dim/2))``
    spaced geometrically from 1 down to ``1 / max_period``. Computed in float32 under any
    dtype policy (a mixed-precision network keeps its timesteps exact).

    Args:
        dim: embedding size, an even number.
        max_period: the longest period (the smallest frequency is its inverse).

    Example:

    ```python
    import numpy as np
    from kgen.networks import SinusoidalEmbedding

    SinusoidalEmbedding(16)(np.array([0.0, 10.0, 999.0], "float32")).shape   # (3, 16)
    ```

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
    """

    def __init__(self, dim, max_period=10000.0, **kwargs):
        super().__init__(**kwargs)
        dim = checks.integer(dim, "SinusoidalEmbedding dim", 2)
        if dim % 2:
            raise ValueError(f"SinusoidalEmbedding needs an even dim of at least 2; got {dim!r}.")
        self.dim = dim
        self.max_period = checks.number(max_period, "max_period", 0, exclusive_minimum=True)

    @property
    def input_dtype(self):
        # The timesteps stay float32 under a mixed dtype policy: bfloat16 holds integers
        # exactly only up to 256 (timestep 999 would read 1000), float16 up to 2048.
        return "float32"

    def call(self, t):
        t = ops.reshape(ops.cast(t, "float32"), (-1, 1))
        half = self.dim // 2
        frequencies = ops.exp(
            -math.log(self.max_period) * ops.arange(half, dtype="float32") / half)
        angles = t * ops.expand_dims(frequencies, 0)
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, max_period=self.max_period)
        return config


def _residual_block(x, embedding, filters, groups, dropout, name):
    """GroupNorm-SiLU-conv twice, the embedding added in between; 1x1 conv on the skip."""
    h = layers.GroupNormalization(groups, name=f"{name}_norm1")(x)
    h = layers.Activation("silu", name=f"{name}_act1")(h)
    h = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv1")(h)
    shift = layers.Dense(filters, name=f"{name}_embedding")(embedding)
    h = layers.Add(name=f"{name}_add_embedding")([h, layers.Reshape((1, 1, filters))(shift)])
    h = layers.GroupNormalization(groups, name=f"{name}_norm2")(h)
    h = layers.Activation("silu", name=f"{name}_act2")(h)
    if dropout:
        h = Dropout(dropout, name=f"{name}_dropout")(h)
    h = layers.Conv2D(filters, 3, padding="same", kernel_initializer="zeros",
                      name=f"{name}_conv2")(h)
    if x.shape[-1] != filters:
        x = layers.Conv2D(filters, 1, name=f"{name}_skip")(x)
    return layers.Add(name=f"{name}_out")([x, h])


def _attention_block(x, groups, name):
    """Single-head self-attention over the pixels of a feature map, with a residual."""
    height, width, channels = x.shape[1:]
    h = layers.GroupNormalization(groups, name=f"{name}_norm")(x)
    h = layers.Reshape((height * width, channels), name=f"{name}_flatten")(h)
    h = layers.MultiHeadAttention(1, channels, name=f"{name}_attention")(h, h)
    h = layers.Reshape((height, width, channels), name=f"{name}_unflatten")(h)
    return layers.Add(name=f"{name}_out")([x, h])


def diffusion_unet(shape, base_filters=64, channel_multipliers=(1, 2, 2), num_res_blocks=2,
                   attention_resolutions=None, num_classes=None, dropout=0.0, groups=8,
                   name="diffusion_unet"):
    """A U-Net that predicts, from a noisy image and its timestep, the noise (or x0, or v).

    The architecture of Ho et al. (2020), scaled down: a 3x3 convolution, then one level
    per channel multiplier, each with ``num_res_blocks`` residual blocks (group
    normalisation, SiLU, 3x3 convolutions, the timestep embedding added in between) and
    a strided-convolution downsampling between levels; a middle of residual, attention,
    residual; the mirrored upsampling path (nearest-neighbour upsampling and a
    convolution), each block taking the matching skip connection; then group norm,
    SiLU and a 3x3 convolution to the image's channels. The timestep goes through a
    sinusoidal embedding and a two-layer MLP (SiLU); with ``num_classes`` a learned class
    embedding (``num_classes + 1`` rows, the last one the null label of classifier-free
    guidance) is added to it. Self-attention runs at the resolutions in
    ``attention_resolutions``. The last convolution of every residual branch starts at
    zero, so the network starts close to the identity through its skips.

    Inputs: ``[x_t (H, W, C), t ()]``, plus ``labels ()`` (int32) with ``num_classes``.
    Output: ``(H, W, C)``, linear.

    Args:
        shape: image shape ``(height, width, channels)``; height and width must be
            divisible by ``2 ** (len(channel_multipliers) - 1)`` (8x8 to 64x64 with the
            defaults).
        base_filters: channels of the first level (a multiple of ``groups``).
        channel_multipliers: channels of each level, as multiples of ``base_filters``.
        num_res_blocks: residual blocks per level (the upsampling path has one more).
        attention_resolutions: feature-map sizes (height) with self-attention; default
            the lowest resolution only.
        num_classes: number of classes of a class-conditional network, or None.
        dropout: dropout rate inside the residual blocks.
        groups: groups of the group normalisations.
        name: the model's name.

    Returns:
        A functional `keras.Model`.

    Example:

    ```python
    from kgen.networks import diffusion_unet

    net = diffusion_unet((8, 8, 1), base_filters=16)
    net.output_shape   # (None, 8, 8, 1)
    ```

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
        Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021.
    """
    shape = check_image_shape(shape, "diffusion_unet")
    if isinstance(channel_multipliers, (str, bytes)) \
            or not hasattr(channel_multipliers, "__iter__"):
        raise TypeError(f"channel_multipliers must list positive integers; got "
                        f"{channel_multipliers!r}.")
    multipliers = tuple(checks.integer(m, "channel_multipliers", 1)
                        for m in channel_multipliers)
    if not multipliers:
        raise ValueError(
            f"channel_multipliers must be positive integers; got {channel_multipliers!r}.")
    base_filters = checks.integer(base_filters, "base_filters", 1)
    num_res_blocks = checks.integer(num_res_blocks, "num_res_blocks", 1)
    groups = checks.integer(groups, "groups", 1)
    dropout = checks.number(dropout, "dropout", 0.0, 1.0, exclusive_maximum=True)
    factor = 2 ** (len(multipliers) - 1)
    if shape[0] % factor or shape[1] % factor:
        raise ValueError(
            f"The image size {shape[:2]} must be divisible by {factor} for "
            f"{len(multipliers)} levels: pad the images or use fewer channel_multipliers.")
    if base_filters % groups:
        raise ValueError(
            f"base_filters ({base_filters}) must be a multiple of groups ({groups}).")
    num_classes = checks.optional_integer(num_classes, "num_classes", 1)
    lowest = shape[0] // factor
    resolutions = (lowest,) if attention_resolutions is None else tuple(attention_resolutions)

    x_in = keras.Input(shape, name="x_t")
    t_in = keras.Input((), name="t")
    inputs = [x_in, t_in]
    width = 4 * base_filters
    embedding = SinusoidalEmbedding(base_filters, name="timestep_embedding")(t_in)
    embedding = layers.Dense(width, activation="silu", name="time_mlp1")(embedding)
    embedding = layers.Dense(width, name="time_mlp2")(embedding)
    if num_classes is not None:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
        classes = layers.Embedding(num_classes + 1, width, name="class_embedding")(labels)
        embedding = layers.Add(name="add_class")([embedding, classes])
    embedding = layers.Activation("silu", name="embedding_act")(embedding)

    h = layers.Conv2D(base_filters, 3, padding="same", name="conv_in")(x_in)
    skips = [h]
    size = shape[0]
    for level, mult in enumerate(multipliers):
        for block in range(num_res_blocks):
            h = _residual_block(h, embedding, base_filters * mult, groups, dropout,
                                f"down{level}_res{block}")
            if size in resolutions:
                h = _attention_block(h, groups, f"down{level}_attn{block}")
            skips.append(h)
        if level < len(multipliers) - 1:
            h = layers.Conv2D(h.shape[-1], 3, strides=2, padding="same",
                              name=f"down{level}_downsample")(h)
            size //= 2
            skips.append(h)

    h = _residual_block(h, embedding, h.shape[-1], groups, dropout, "mid_res0")
    h = _attention_block(h, groups, "mid_attn")
    h = _residual_block(h, embedding, h.shape[-1], groups, dropout, "mid_res1")

    for level, mult in reversed(list(enumerate(multipliers))):
        for block in range(num_res_blocks + 1):
            h = layers.Concatenate(name=f"up{level}_skip{block}")([h, skips.pop()])
            h = _residual_block(h, embedding, base_filters * mult, groups, dropout,
                                f"up{level}_res{block}")
            if size in resolutions:
                h = _attention_block(h, groups, f"up{level}_attn{block}")
        if level > 0:
            h = layers.UpSampling2D(2, name=f"up{level}_upsample")(h)
            h = layers.Conv2D(h.shape[-1], 3, padding="same", name=f"up{level}_upconv")(h)
            size *= 2

    h = layers.GroupNormalization(groups, name="norm_out")(h)
    h = layers.Activation("silu", name="act_out")(h)
    out = layers.Conv2D(shape[-1], 3, padding="same", kernel_initializer="zeros",
                        name="conv_out")(h)
    return keras.Model(inputs, out, name=name)
