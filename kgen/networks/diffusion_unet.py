"""The U-Net of denoising diffusion models (Ho et al. 2020): ``[x_t, t] (+ labels) -> prediction``.

With a context (``context_dim``), the attention blocks also attend to a sequence of
context vectors, such as a caption's token vectors, as in latent diffusion (Rombach et al.
2022): ``[x_t, t, context, context_mask] -> prediction``.
"""

import math

import keras
from keras import layers, ops

from kgen import checks
from kgen.networks.attention import MultiHeadAttention
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


@keras.saving.register_keras_serializable(package="kgen")
class SpatialCrossAttention(layers.Layer):
    """Cross-attention of the pixels of a feature map to a context sequence, with a residual.

    ``y = x + Attention(LayerNorm(x), context)``: every pixel of ``x`` ``(N, H, W, C)`` is a
    query, the context vectors ``(N, L, D)`` are the keys and values, and the padding of
    the context (``context_mask`` False or 0) is masked out. The block of the U-Net of
    latent diffusion that lets a caption's tokens steer the denoising (Rombach et al. 2022).

    Args:
        num_heads: attention heads (``C`` must be a multiple of it); each head has size
            ``C // num_heads``.
        **kwargs: `keras.layers.Layer` arguments (``name``).

    Example:

    ```python
    import numpy as np
    from kgen.networks.diffusion_unet import SpatialCrossAttention

    x = np.zeros((2, 4, 4, 8), "float32")
    text = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], "int32")
    SpatialCrossAttention(2)(x, text, mask).shape   # (2, 4, 4, 8)
    ```

    References:
        Rombach et al., "High-Resolution Image Synthesis with Latent Diffusion Models",
        CVPR 2022.
    """

    def __init__(self, num_heads=1, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = checks.integer(num_heads, "num_heads", 1)
        self.norm = layers.LayerNormalization(epsilon=1e-5, name="norm")
        self.attention = None   # made in build(), when the channels are known

    def build(self, x_shape, context_shape=None, context_mask_shape=None):
        x_shape = tuple(x_shape)
        if len(x_shape) != 4 or x_shape[-1] is None:
            raise ValueError(f"SpatialCrossAttention takes feature maps (N, H, W, C); got "
                             f"shape {x_shape}.")
        if context_shape is None or len(context_shape) != 3 or context_shape[-1] is None:
            raise ValueError(f"The context must be a sequence (N, L, D) with a known D; got "
                             f"shape {context_shape}.")
        channels = int(x_shape[-1])
        if channels % self.num_heads:
            raise ValueError(f"The feature map's channels ({channels}) must be a multiple of "
                             f"num_heads ({self.num_heads}).")
        sequence = (x_shape[0], None, channels)
        self.norm.build(sequence)
        self.attention = MultiHeadAttention(self.num_heads, channels // self.num_heads,
                                            output_dim=channels, name="cross_attention")
        self.attention.build(sequence, tuple(context_shape))
        self.built = True

    def call(self, x, context, context_mask):
        shape = ops.shape(x)
        h = ops.reshape(x, (shape[0], shape[1] * shape[2], shape[3]))
        mask = ops.expand_dims(ops.not_equal(context_mask, 0), 1)   # (N, 1, L)
        h = self.attention(self.norm(h), context=context, mask=mask)
        return ops.add(x, ops.reshape(h, shape))

    def compute_output_shape(self, x_shape, context_shape=None, context_mask_shape=None):
        return tuple(x_shape)

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads)
        return config


@keras.saving.register_keras_serializable(package="kgen")
class MaskedMean(layers.Layer):
    """The mean of a sequence's vectors over its unmasked positions.

    ``MaskedMean()(sequence, mask)``: ``sequence`` ``(N, L, D)`` and ``mask`` ``(N, L)``
    (1 or True for a token, 0 or False for padding) give ``(N, D)``, computed in float32;
    a sequence with no unmasked position gives zeros. The U-Net adds a projection of this
    pooled text to its timestep embedding (``pooled_context=True``), so every residual
    block sees the whole caption, as in GLIDE and Imagen.

    Example:

    ```python
    import numpy as np
    from kgen.networks.diffusion_unet import MaskedMean

    sequence = np.arange(12, dtype="float32").reshape(2, 3, 2)
    MaskedMean()(sequence, np.array([[1, 1, 0], [0, 0, 0]], "int32"))
    # [[1., 2.], [0., 0.]]
    ```

    References:
        Nichol et al., "GLIDE: Towards Photorealistic Image Generation and Editing with
        Text-Guided Diffusion Models", ICML 2022.
        Saharia et al., "Photorealistic Text-to-Image Diffusion Models with Deep Language
        Understanding", NeurIPS 2022.
    """

    def call(self, sequence, mask):
        weights = ops.cast(ops.not_equal(mask, 0), "float32")
        total = ops.sum(ops.cast(sequence, "float32") * ops.expand_dims(weights, -1), axis=1)
        count = ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
        return total / count

    def compute_output_shape(self, sequence_shape, mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])


def _conditioned_attention(x, groups, name, context):
    """Self-attention, then, with a ``(context, context_mask)``, cross-attention to it."""
    x = _attention_block(x, groups, name)
    if context is None:
        return x
    return SpatialCrossAttention(context[2], name=f"{name}_cross")(x, context[0], context[1])


def diffusion_unet(shape, base_filters=64, channel_multipliers=(1, 2, 2), num_res_blocks=2,
                   attention_resolutions=None, num_classes=None, dropout=0.0, groups=8,
                   context_dim=None, num_heads=1, pooled_context=False,
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

    With ``context_dim``, every attention block (at ``attention_resolutions`` and in the
    middle) is self-attention followed by cross-attention (`SpatialCrossAttention`) to a
    context sequence, such as a text encoder's token vectors, whose padding is masked
    out by ``context_mask`` (1 or True for a token, 0 or False for padding): the
    conditioning of latent diffusion (Rombach et al. 2022). With ``pooled_context`` the
    mean of the context vectors is also added to the timestep embedding.

    Inputs: ``[x_t (H, W, C), t ()]``, plus ``labels ()`` (int32) with ``num_classes``,
    plus ``context (L, context_dim)`` (float32) and ``context_mask (L,)`` (int32) with
    ``context_dim`` (``L`` may vary from call to call).
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
        context_dim: size of the context vectors of a network conditioned on a sequence
            (cross-attention), or None.
        num_heads: attention heads of the cross-attention (the channels of each
            attention level must be a multiple of it).
        pooled_context: with ``context_dim``, also add a learned projection of the
            context's mean over its unmasked positions (`MaskedMean`) to the timestep
            embedding, so that every residual block, at every resolution, sees the
            whole text (GLIDE, Imagen); cross-attention still places it.
        name: the model's name.

    Returns:
        A functional `keras.Model`.

    Example:

    ```python
    import numpy as np
    from kgen.networks import diffusion_unet

    net = diffusion_unet((8, 8, 1), base_filters=16)
    net.output_shape   # (None, 8, 8, 1)
    text = diffusion_unet((8, 8, 1), base_filters=8, channel_multipliers=(1,),
                          num_res_blocks=1, context_dim=16)
    out = text([np.zeros((2, 8, 8, 1), "float32"), np.zeros(2, "float32"),
                np.zeros((2, 5, 16), "float32"), np.ones((2, 5), "int32")])   # (2, 8, 8, 1)
    ```

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
        Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021.
        Rombach et al., "High-Resolution Image Synthesis with Latent Diffusion Models",
        CVPR 2022.
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
    context_dim = checks.optional_integer(context_dim, "context_dim", 1)
    num_heads = checks.integer(num_heads, "num_heads", 1)
    if not isinstance(pooled_context, bool):
        raise TypeError(f"pooled_context must be True or False; got {pooled_context!r}.")
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
    context = None
    if context_dim is not None:
        sequence = keras.Input((None, context_dim), name="context")
        sequence_mask = keras.Input((None,), dtype="int32", name="context_mask")
        inputs += [sequence, sequence_mask]
        context = (sequence, sequence_mask, num_heads)
        if pooled_context:
            pooled = MaskedMean(name="context_pool")(sequence, sequence_mask)
            pooled = layers.Dense(width, name="context_embedding")(pooled)
            embedding = layers.Add(name="add_context")([embedding, pooled])
    elif pooled_context:
        raise ValueError("pooled_context needs a context (context_dim).")
    embedding = layers.Activation("silu", name="embedding_act")(embedding)

    h = layers.Conv2D(base_filters, 3, padding="same", name="conv_in")(x_in)
    skips = [h]
    size = shape[0]
    for level, mult in enumerate(multipliers):
        for block in range(num_res_blocks):
            h = _residual_block(h, embedding, base_filters * mult, groups, dropout,
                                f"down{level}_res{block}")
            if size in resolutions:
                h = _conditioned_attention(h, groups, f"down{level}_attn{block}", context)
            skips.append(h)
        if level < len(multipliers) - 1:
            h = layers.Conv2D(h.shape[-1], 3, strides=2, padding="same",
                              name=f"down{level}_downsample")(h)
            size //= 2
            skips.append(h)

    h = _residual_block(h, embedding, h.shape[-1], groups, dropout, "mid_res0")
    h = _conditioned_attention(h, groups, "mid_attn", context)
    h = _residual_block(h, embedding, h.shape[-1], groups, dropout, "mid_res1")

    for level, mult in reversed(list(enumerate(multipliers))):
        for block in range(num_res_blocks + 1):
            h = layers.Concatenate(name=f"up{level}_skip{block}")([h, skips.pop()])
            h = _residual_block(h, embedding, base_filters * mult, groups, dropout,
                                f"up{level}_res{block}")
            if size in resolutions:
                h = _conditioned_attention(h, groups, f"up{level}_attn{block}", context)
        if level > 0:
            h = layers.UpSampling2D(2, name=f"up{level}_upsample")(h)
            h = layers.Conv2D(h.shape[-1], 3, padding="same", name=f"up{level}_upconv")(h)
            size *= 2

    h = layers.GroupNormalization(groups, name="norm_out")(h)
    h = layers.Activation("silu", name="act_out")(h)
    out = layers.Conv2D(shape[-1], 3, padding="same", kernel_initializer="zeros",
                        name="conv_out")(h)
    return keras.Model(inputs, out, name=name)
