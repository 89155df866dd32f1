"""Gated PixelCNN (van den Oord et al. 2016): masked convolutions, gated blocks, logits per level.

The network gives, for every pixel and channel of an image, logits over the discrete
values of that channel, such that the logits at position ``i`` (raster order over the
pixels, then channel order within a pixel) depend only on the inputs at positions
before ``i``. Three pieces make this so:

- `MaskedConv2D`: a convolution whose kernel is zero on the taps at and after the
  current pixel. At the current pixel itself it masks by channel groups: the features
  are split into ``color_channels`` groups in order (for an RGB image, R, G, B), and a
  feature of group ``g`` sees group ``g'`` of the current pixel when ``g' < g``
  (type ``"A"``, the first layer: R sees nothing of the current pixel, G sees R,
  B sees R and G) or ``g' <= g`` (type ``"B"``, later layers, which may also see their
  own group, itself computed only from what is allowed).
- Two stacks in each `GatedPixelCNNBlock`: a *vertical* stack, an unmasked
  ``(k//2 + 1) x k`` convolution over the current row and the rows above, and a
  *horizontal* stack, a ``1 x (k//2 + 1)`` masked convolution over the current row to
  the left. The vertical stack reaches the horizontal one only after a shift down by
  one row, so the horizontal stack at row ``r`` sees every pixel of the rows above
  within the receptive field (no blind spot, which stacked square masked convolutions
  have) and never the current row through the vertical stack.
- Gates: ``tanh(W_f * x) * sigmoid(W_g * x)`` in both stacks; a class label adds a
  learned embedding to both gates' pre-activations.

`GatedPixelCNN` exposes the two parts separately (`GatedPixelCNN.row_context` and
`GatedPixelCNN.row_logits`), so that a sampler can compute the vertical stack once per
row and only the horizontal stack of one row once per pixel
(`kgen.samplers.autoregressive`).

References:
    van den Oord, Kalchbrenner, Espeholt, Kavukcuoglu, Vinyals & Graves, "Conditional
    Image Generation with PixelCNN Decoders", NeurIPS 2016.
    van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks",
    ICML 2016.
"""

import keras
import numpy as np
from keras import ops

from kgen import checks
from kgen.networks.unet import check_image_shape

MASK_TYPES = ("A", "B", None)


def channel_groups(num_features, color_channels, blocks=1):
    """The colour group (0 .. color_channels - 1) of each of ``num_features`` features.

    Features are split into ``blocks`` equal blocks (a gate's two halves), and each
    block into ``color_channels`` consecutive groups: feature ``k`` of a block of ``n``
    belongs to group ``k * color_channels // n``. With ``num_features = C * L`` and one
    block, the ``L`` logits of channel ``c`` are group ``c``.

    Example:

    ```python
    from kgen.networks.pixelcnn import channel_groups
    channel_groups(6, 3)              # [0, 0, 1, 1, 2, 2]
    channel_groups(6, 3, blocks=2)    # [0, 1, 2, 0, 1, 2]
    ```
    """
    if num_features % blocks:
        raise ValueError(f"{num_features} features do not split into {blocks} equal blocks.")
    per_block = num_features // blocks
    return (np.arange(num_features) % per_block) * color_channels // per_block


def pixelcnn_mask(kernel_size, in_features, out_features, mask_type="B", color_channels=1,
                  anchor=None, input_blocks=1, output_blocks=1):
    """The 0/1 mask of a PixelCNN kernel, shape ``(kh, kw, in_features, out_features)``.

    The tap at ``anchor`` (default: the centre) is the current pixel. Taps in rows below
    it, and to its right in its row, are 0. At the anchor, input group ``g_in`` reaches
    output group ``g_out`` when ``g_in < g_out`` (type ``"A"``) or ``g_in <= g_out``
    (type ``"B"``), the groups given by `channel_groups`. ``mask_type=None`` masks
    nothing.

    Args:
        kernel_size: ``(kh, kw)`` or an int.
        in_features: input features.
        out_features: output features.
        mask_type: ``"A"``, ``"B"`` or None.
        color_channels: number of colour groups (the image's channels).
        anchor: ``(row, column)`` of the current pixel in the kernel.
        input_blocks: blocks of the input features (see `channel_groups`).
        output_blocks: blocks of the output features (2 for a gate's two halves).

    Returns:
        float32 numpy array.

    Example:

    ```python
    from kgen.networks.pixelcnn import pixelcnn_mask
    pixelcnn_mask(3, 1, 1, "A")[..., 0, 0]   # [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    ```

    References:
        van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016, section 3.4.
    """
    kh, kw = _pair(kernel_size)
    row, col = _anchor(kh, kw, anchor)
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be 'A', 'B' or None; got {mask_type!r}.")
    mask = np.ones((kh, kw, in_features, out_features), "float32")
    if mask_type is None:
        return mask
    mask[row + 1:] = 0.0
    mask[row, col + 1:] = 0.0
    group_in = channel_groups(in_features, color_channels, input_blocks)[:, None]
    group_out = channel_groups(out_features, color_channels, output_blocks)[None, :]
    allowed = group_in < group_out if mask_type == "A" else group_in <= group_out
    mask[row, col] = allowed.astype("float32")
    return mask


def _pair(value):
    if not isinstance(value, (list, tuple)):
        value = (value, value)
    if len(value) != 2:
        raise ValueError(f"kernel_size must be a positive int or a pair of them; got {value}.")
    return tuple(checks.integer(v, "kernel_size", 1) for v in value)


def _anchor(kh, kw, anchor):
    if anchor is None:
        return (kh - 1) // 2, (kw - 1) // 2
    row, col = (int(a) for a in anchor)
    if not (0 <= row < kh and 0 <= col < kw):
        raise ValueError(f"anchor {anchor} is outside the {kh}x{kw} kernel.")
    return row, col


def shift_down(x):
    """Shifts a feature map ``(N, H, W, F)`` down by one row (zeros enter at the top)."""
    return ops.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1]


def gate(x):
    """``tanh(a) * sigmoid(b)`` of the two halves ``a, b`` of the last axis."""
    a, b = ops.split(x, 2, axis=-1)
    return ops.tanh(a) * ops.sigmoid(b)


@keras.saving.register_keras_serializable(package="kgen")
class MaskedConv2D(keras.layers.Layer):
    """A 2-D convolution whose kernel is masked so that outputs never see later pixels.

    The output at a pixel is computed from the kernel taps laid over the input with the
    tap ``anchor`` on that pixel (zero padding around the image, stride 1, so the output
    has the input's height and width). See `pixelcnn_mask` for which taps are kept:
    type ``"A"`` (first layer) lets a colour group see only earlier groups of the current
    pixel, type ``"B"`` also its own; ``mask_type=None`` keeps every tap (the vertical
    stack of a gated PixelCNN, whose causality comes from its shift down).

    Args:
        filters: output features.
        kernel_size: int or ``(kh, kw)``.
        mask_type: ``"A"``, ``"B"`` or None.
        color_channels: colour groups (the image's channels: 1 or 3).
        anchor: ``(row, column)`` of the current pixel within the kernel; default centre.
        input_blocks: blocks of the input features (`channel_groups`).
        output_blocks: blocks of the output features (2 when the output feeds a gate).
        use_bias: add a bias.
        kernel_initializer: initializer of the (unmasked) kernel.
        **kwargs: `keras.layers.Layer` arguments (``name``).

    Example:

    ```python
    import numpy as np
    from kgen.networks import MaskedConv2D

    layer = MaskedConv2D(8, 3, mask_type="A", color_channels=1)
    layer(np.zeros((2, 8, 8, 1), "float32")).shape   # (2, 8, 8, 8)
    ```

    References:
        van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016.
    """

    def __init__(self, filters, kernel_size=3, mask_type="B", color_channels=1, anchor=None,
                 input_blocks=1, output_blocks=1, use_bias=True,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if mask_type not in MASK_TYPES:
            raise ValueError(f"mask_type must be 'A', 'B' or None; got {mask_type!r}.")
        self.filters = checks.integer(filters, "filters", 1)
        self.kernel_size = _pair(kernel_size)
        self.anchor = _anchor(*self.kernel_size, anchor)
        self.mask_type = mask_type
        self.color_channels = checks.integer(color_channels, "color_channels", 1)
        self.input_blocks = checks.integer(input_blocks, "input_blocks", 1)
        self.output_blocks = checks.integer(output_blocks, "output_blocks", 1)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        if self.filters % self.output_blocks:
            raise ValueError(
                f"filters ({self.filters}) must split into output_blocks={self.output_blocks}.")

    def build(self, input_shape):
        in_features = int(input_shape[-1])
        if in_features % self.input_blocks:
            raise ValueError(
                f"{in_features} input features do not split into input_blocks="
                f"{self.input_blocks}.")
        self._mask = pixelcnn_mask(self.kernel_size, in_features, self.filters, self.mask_type,
                                   self.color_channels, self.anchor, self.input_blocks,
                                   self.output_blocks)
        self.kernel = self.add_weight(
            shape=self._mask.shape, initializer=self.kernel_initializer, name="kernel")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, x):
        kh, kw = self.kernel_size
        row, col = self.anchor
        if (kh, kw) != (1, 1):
            x = ops.pad(x, [[0, 0], [row, kh - 1 - row], [col, kw - 1 - col], [0, 0]])
        kernel = self.kernel
        if self.mask_type is not None:
            kernel = kernel * ops.convert_to_tensor(self._mask, dtype=kernel.dtype)
        y = ops.conv(x, kernel, strides=1, padding="valid")
        if self.bias is not None:
            y = y + self.bias
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, mask_type=self.mask_type,
            color_channels=self.color_channels, anchor=self.anchor,
            input_blocks=self.input_blocks, output_blocks=self.output_blocks,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config


@keras.saving.register_keras_serializable(package="kgen")
class GatedPixelCNNBlock(keras.layers.Layer):
    """One gated block: a vertical and a horizontal stack with gates and a class embedding.

    With ``v`` and ``h`` the inputs of the vertical and horizontal stacks:

    - ``v_pre = V * v (+ e_v[y])``, ``v_out = gate(v_pre)``; ``V`` is a
      ``(k//2 + 1) x k`` convolution over the current row and the ``k//2`` rows above.
    - ``context = 1x1(shift_down(v_pre)) (+ e_h[y])``: what the horizontal stack gets from
      the rows above (shifted, so nothing of the current row).
    - ``h_out = h + 1x1_B(gate(H * h + context))``; ``H`` is a ``1 x (k//2 + 1)``
      masked convolution over the current pixel and the ``k//2`` to its left (type
      ``"A"`` in the first block, which has no residual connection, ``"B"`` after).

    ``e_v`` and ``e_h`` are learned class embeddings (when ``num_classes`` is set).

    Args:
        filters: features of each stack (the gates have twice as many pre-activations).
        kernel_size: odd ``k``.
        color_channels: the image's channels (colour groups of the masks).
        num_classes: number of classes of the conditioning label, or None.
        first: the first block (mask ``"A"``, no residual connection).
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from kgen.networks import GatedPixelCNNBlock

    block = GatedPixelCNNBlock(8, first=True)
    x = np.zeros((2, 4, 4, 1), "float32")
    v, context = block.vertical(x)
    block.horizontal(x, context).shape   # (2, 4, 4, 8)
    ```

    References:
        van den Oord et al., "Conditional Image Generation with PixelCNN Decoders",
        NeurIPS 2016, figure 2.
    """

    def __init__(self, filters, kernel_size=3, color_channels=1, num_classes=None, first=False,
                 **kwargs):
        super().__init__(**kwargs)
        kernel_size = checks.integer(kernel_size, "kernel_size", 3)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and at least 3; got {kernel_size}.")
        self.filters = checks.integer(filters, "filters", 1)
        self.kernel_size = kernel_size
        self.color_channels = checks.integer(color_channels, "color_channels", 1)
        self.num_classes = checks.optional_integer(num_classes, "num_classes", 1)
        self.first = bool(first)
        k, half = self.kernel_size, self.kernel_size // 2
        self.vertical_conv = MaskedConv2D(
            2 * filters, (half + 1, k), mask_type=None, anchor=(half, half), name="vertical")
        self.horizontal_conv = MaskedConv2D(
            2 * filters, (1, half + 1), mask_type="A" if first else "B",
            color_channels=color_channels, anchor=(0, half), output_blocks=2,
            name="horizontal")
        self.vertical_to_horizontal = keras.layers.Conv2D(2 * filters, 1, name="down_shifted")
        self.residual = MaskedConv2D(filters, 1, mask_type="B", color_channels=color_channels,
                                     name="residual")
        self.vertical_embedding = self.horizontal_embedding = None
        if self.num_classes is not None:
            self.vertical_embedding = keras.layers.Embedding(
                self.num_classes, 2 * filters, name="vertical_label")
            self.horizontal_embedding = keras.layers.Embedding(
                self.num_classes, 2 * filters, name="horizontal_label")

    def build(self, input_shape):
        """Creates the weights for inputs ``(N, H, W, features)`` of both stacks."""
        if isinstance(input_shape[0], (list, tuple)):   # the shapes of (v, h)
            input_shape = input_shape[0]
        features = tuple(input_shape[:-1]) + (2 * self.filters,)
        self.vertical_conv.build(input_shape)
        self.horizontal_conv.build(input_shape)
        self.vertical_to_horizontal.build(features)
        self.residual.build(tuple(input_shape[:-1]) + (self.filters,))
        if self.num_classes is not None:
            self.vertical_embedding.build((None,))
            self.horizontal_embedding.build((None,))

    def _label_bias(self, embedding, labels):
        if embedding is None:
            return 0.0
        if labels is None:
            raise ValueError("This block is class-conditional: pass labels.")
        return ops.reshape(embedding(labels), (-1, 1, 1, 2 * self.filters))

    def vertical(self, v, labels=None):
        """``(v_out, context)``: the next vertical input and the horizontal stack's context."""
        v_pre = self.vertical_conv(v) + self._label_bias(self.vertical_embedding, labels)
        context = self.vertical_to_horizontal(shift_down(v_pre))
        context = context + self._label_bias(self.horizontal_embedding, labels)
        return gate(v_pre), context

    def horizontal(self, h, context):
        """The next horizontal input, from ``h`` and this block's ``context`` (same rows)."""
        out = self.residual(gate(self.horizontal_conv(h) + context))
        return out if self.first else h + out

    def call(self, inputs, labels=None):
        v, h = inputs
        v_out, context = self.vertical(v, labels)
        return v_out, self.horizontal(h, context)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size,
                      color_channels=self.color_channels, num_classes=self.num_classes,
                      first=self.first)
        return config


@keras.saving.register_keras_serializable(package="kgen")
class GatedPixelCNN(keras.Model):
    """A gated PixelCNN: images ``(N, H, W, C)`` to logits ``(N, H, W, C, num_levels)``.

    ``num_layers`` `GatedPixelCNNBlock`s, then two masked ``1 x 1`` convolutions (type
    ``"B"``) with ReLUs give ``C * num_levels`` logits per pixel, reshaped to
    ``(C, num_levels)``: the logits of channel ``c`` at pixel ``(r, s)`` depend only on
    the pixels before ``(r, s)`` in raster order and on channels ``0 .. c-1`` of
    ``(r, s)``. Inputs are images in data space (``[-1, 1]``); the model feeds the
    quantised values ``-1 + 2 l / (num_levels - 1)``. A class-conditional network takes
    ``[images, labels]`` (int labels of shape ``(N,)``).

    The vertical stack's receptive field grows by ``kernel_size // 2`` rows up and columns
    to each side per block, the horizontal stack's by ``kernel_size // 2`` columns to the
    left: with ``num_layers * (kernel_size // 2) >= max(H, W) - 1`` every earlier pixel
    is seen.

    `row_context` and `row_logits` split the computation: the context of row ``r``
    depends only on rows ``< r``, and the logits of row ``r`` only on that row's pixels and
    its context. ``call`` is ``row_logits(x, row_context(x))``.

    Args:
        shape: image shape ``(H, W, C)``.
        num_levels: discrete values per channel.
        num_classes: number of classes of the conditioning label, or None.
        filters: features per stack (a multiple of ``C``).
        num_layers: gated blocks.
        kernel_size: odd kernel size ``k`` of the stacks.
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import numpy as np
    from kgen.networks import GatedPixelCNN

    network = GatedPixelCNN((8, 8, 1), num_levels=2, filters=8, num_layers=3)
    network(np.zeros((4, 8, 8, 1), "float32")).shape   # (4, 8, 8, 1, 2)
    ```

    References:
        van den Oord et al., "Conditional Image Generation with PixelCNN Decoders",
        NeurIPS 2016.
    """

    def __init__(self, shape, num_levels=256, num_classes=None, filters=32, num_layers=5,
                 kernel_size=3, **kwargs):
        kwargs.setdefault("name", "pixelcnn")
        super().__init__(**kwargs)
        shape = check_image_shape(shape, "GatedPixelCNN")
        num_levels = checks.integer(num_levels, "num_levels", 2)
        filters = checks.integer(filters, "filters", 1)
        num_layers = checks.integer(num_layers, "num_layers", 1)
        num_classes = checks.optional_integer(num_classes, "num_classes", 1)
        kernel_size = checks.integer(kernel_size, "kernel_size", 3)
        channels = shape[-1]
        if filters % channels:
            raise ValueError(
                f"filters ({filters}) must be a multiple of the image's channels ({channels}): "
                "the features are split into one group per channel.")
        self.image_shape = shape
        self.num_levels = int(num_levels)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.filters = int(filters)
        self.num_layers = int(num_layers)
        self.kernel_size = int(kernel_size)
        self.blocks = [
            GatedPixelCNNBlock(self.filters, self.kernel_size, channels, self.num_classes,
                               first=(i == 0), name=f"gated_block_{i}")
            for i in range(self.num_layers)
        ]
        self.hidden_head = MaskedConv2D(self.filters, 1, "B", channels, name="head_hidden")
        self.output_head = MaskedConv2D(channels * self.num_levels, 1, "B", channels,
                                        name="head_logits")
        # Create every weight now, so that the network is complete before training,
        # saving or loading.
        height, width = shape[:2]
        for block in self.blocks:
            block.build((None, height, width, channels if block.first else self.filters))
        self.hidden_head.build((None, height, width, self.filters))
        self.output_head.build((None, height, width, self.filters))
        self.built = True

    def build(self, input_shape=None):
        # Every weight is created by the constructor.
        self.built = True

    def _split_inputs(self, inputs):
        if isinstance(inputs, dict):
            return inputs["images"], inputs.get("labels")
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError("Pass images, or [images, labels] to a conditional network.")
            return inputs[0], inputs[1]
        return inputs, None

    def row_context(self, x, labels=None):
        """The vertical stack's contribution to every row: a list, one ``(N, H, W, 2F)`` a block.

        Row ``r`` of each tensor depends only on rows ``0 .. r-1`` of ``x`` (and the label).
        """
        if self.num_classes is not None:
            if labels is None:
                raise ValueError("This network is class-conditional: pass [images, labels].")
            labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        v = x
        contexts = []
        for block in self.blocks:
            v, context = block.vertical(v, labels)
            contexts.append(context)
        return contexts

    def row_logits(self, x, contexts):
        """Logits ``(N, R, W, C, num_levels)`` of rows ``x`` ``(N, R, W, C)`` given their contexts.

        ``contexts``: the matching rows of `row_context`'s tensors. Each row is computed on
        its own (the horizontal stack only looks along a row).
        """
        h = x
        for block, context in zip(self.blocks, contexts):
            h = block.horizontal(h, context)
        out = self.hidden_head(ops.relu(h))
        out = self.output_head(ops.relu(out))
        shape = ops.shape(out)
        return ops.reshape(out, (-1, shape[1], shape[2], self.image_shape[-1], self.num_levels))

    def call(self, inputs, training=False):
        x, labels = self._split_inputs(inputs)
        return self.row_logits(x, self.row_context(x, labels))

    def get_config(self):
        return {"name": self.name, "shape": self.image_shape, "num_levels": self.num_levels,
                "num_classes": self.num_classes, "filters": self.filters,
                "num_layers": self.num_layers, "kernel_size": self.kernel_size}


__all__ = ["GatedPixelCNN", "GatedPixelCNNBlock", "MaskedConv2D", "channel_groups",
           "pixelcnn_mask", "shift_down"]
