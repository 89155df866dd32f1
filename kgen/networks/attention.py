"""Multi-head scaled dot-product attention with masks and a key/value cache (Vaswani et al. 2017).

Attention maps each query vector to a weighted mean of value vectors, the weights a
softmax over the scaled dot products of the query with the keys:

``Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + M) V``,

computed by ``num_heads`` heads of size ``key_dim`` in parallel on learned projections
of the inputs, whose outputs are concatenated and projected back. Self-attention takes
the queries, keys and values from the same sequence; cross-attention takes the keys and
values from a second one (the *context*: a caption's tokens, a class embedding).

For autoregressive decoding, `MultiHeadAttention` keeps a *cache* of the keys and values
of the positions decoded so far, one fixed-size tensor, so that a decoding step runs the
projections of the new positions only and the loop can carry the cache through
``keras.ops.fori_loop``.

References:
    Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
"""

import math

import keras
import numpy as np
from keras import ops

from kgen import checks
from kgen.networks.dropout import Dropout

#: The value added to the logits of masked keys (softmax weight ``exp(-1e9) = 0``).
MASKED_LOGIT = -1e9


def _as(x, dtype):
    """``x`` cast to ``dtype`` (no operation when it has it already)."""
    if keras.backend.standardize_dtype(x.dtype) == dtype:
        return x
    return ops.cast(x, dtype)


def _apply(layer, fast, *args, **kwargs):
    """``layer(*args, **kwargs)``, or, with ``fast``, ``layer.call`` of the built layer.

    A decoding step of a few tokens does less arithmetic than the bookkeeping of Keras's
    ``Layer.__call__`` (dtype policies, masks, name scopes, argument binding) around each
    of its layers, which then sets the step's time on an eager backend: the cached path
    calls the built layers' ``call`` directly.
    """
    return layer.call(*args, **kwargs) if fast else layer(*args, **kwargs)


@keras.saving.register_keras_serializable(package="kgen")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention: self- or cross-attention, masks, causal masking and a key/value cache.

    ``layer(x)`` is self-attention over ``x`` ``(N, T, D)``; ``layer(x, context=c)`` is
    cross-attention of ``x`` over ``c`` ``(N, S, D_c)``. Both return ``(N, T,
    output_dim)`` (``output_dim`` defaults to ``D``).

    **Masks.** ``mask`` says which keys each query may attend to: a boolean tensor
    (True: attend) or a float tensor added to the attention logits (0 to attend, a large
    negative number not to), of shape ``(T, S)``, ``(N, T, S)`` or ``(N, num_heads, T,
    S)`` (``S = T`` for self-attention, the cache length with a cache). With
    ``causal=True`` the query at position ``i`` attends only to positions ``j <= i``, so
    no output depends on a later input (the layer of a decoder). A query whose keys are
    all masked gets the mean of all values (its weights are uniform).

    **Key/value cache.** Autoregressive decoding feeds the positions one (or a few) at a
    time: ``y, cache = layer(x_new, cache=cache, position=i)`` runs the new positions
    ``i .. i + T_new - 1`` only. ``cache`` is one fixed-size tensor ``(N, 2, num_heads,
    max_length, key_dim)`` (keys, then values) from `init_cache`; the new keys and values
    are written at ``position`` and the new positions attend to every position written
    so far (with ``causal=True``, to those up to their own), so decoding a sequence
    position by position gives the outputs of one call on the whole sequence. The
    position may be a tensor, so that the cache is carried through
    ``keras.ops.fori_loop``. The cache is for self-attention; ``context`` may be given
    with it only to a layer without a cache path (see `kgen.networks.TransformerBlock`,
    whose cross-attention runs on the whole context at every step).

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head's queries, keys and values.
        output_dim: size of the output vectors; default the input's last axis.
        dropout: dropout rate of the attention weights in training.
        causal: mask every key after the query's position (self-attention only).
        use_bias: biases in the four projections.
        seed: seed of the dropout's random draws.
        **kwargs: `keras.layers.Layer` arguments (``name``...).

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.networks import MultiHeadAttention

    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    layer = MultiHeadAttention(num_heads=2, key_dim=4, causal=True)
    y = layer(x)                                   # (2, 5, 8)
    cache = layer.init_cache(batch_size=2, max_length=5)
    steps = []
    for i in range(5):                             # one position at a time
        y_i, cache = layer(x[:, i:i + 1], cache=cache, position=i)
        steps.append(y_i)
    steps = keras.ops.convert_to_numpy(keras.ops.concatenate(steps, axis=1))
    np.allclose(steps, keras.ops.convert_to_numpy(y), atol=1e-5)   # True
    ```

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """

    def __init__(self, num_heads, key_dim, output_dim=None, dropout=0.0, causal=False,
                 use_bias=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = checks.integer(num_heads, "num_heads", 1)
        self.key_dim = checks.integer(key_dim, "key_dim", 1)
        self.output_dim = checks.optional_integer(output_dim, "output_dim", 1)
        self.dropout = checks.number(dropout, "dropout", 0.0, 1.0, exclusive_maximum=True)
        if not isinstance(causal, bool):
            raise TypeError(f"causal must be True or False; got {causal!r}.")
        if not isinstance(use_bias, bool):
            raise TypeError(f"use_bias must be True or False; got {use_bias!r}.")
        self.causal = causal
        self.use_bias = use_bias
        self.seed = checks.seed(seed)
        inner = self.num_heads * self.key_dim
        self.query_dense = keras.layers.Dense(inner, use_bias=use_bias, name="query")
        self.key_dense = keras.layers.Dense(inner, use_bias=use_bias, name="key")
        self.value_dense = keras.layers.Dense(inner, use_bias=use_bias, name="value")
        self.output_dense = None   # made in build(), when the output size is known
        self.weights_dropout = Dropout(self.dropout, seed=self.seed, name="attention_dropout") \
            if self.dropout > 0 else None
        # ``mask`` is the attention mask, given explicitly; outputs carry no Keras mask.
        self.supports_masking = True

    def build(self, x_shape, context_shape=None):
        x_shape = tuple(x_shape)
        if len(x_shape) != 3 or x_shape[-1] is None:
            raise ValueError(f"MultiHeadAttention takes sequences (N, T, D) with a known D; "
                             f"got an input of shape {x_shape}.")
        source = x_shape if context_shape is None else tuple(context_shape)
        if len(source) != 3 or source[-1] is None:
            raise ValueError(f"The context must be a sequence (N, S, D) with a known D; got "
                             f"shape {source}.")
        self.query_dense.build(x_shape)
        self.key_dense.build(source)
        self.value_dense.build(source)
        output_dim = self.output_dim or int(x_shape[-1])
        self.output_dense = keras.layers.Dense(output_dim, use_bias=self.use_bias,
                                               name="attention_output")
        self.output_dense.build(x_shape[:-1] + (self.num_heads * self.key_dim,))
        self.built = True

    # ---------------------------------------------------------------- the cache
    def init_cache(self, batch_size, max_length, dtype="float32"):
        """An empty cache for ``batch_size`` sequences of up to ``max_length`` positions.

        Returns:
            zeros ``(batch_size, 2, num_heads, max_length, key_dim)``: the keys (index 0
            of axis 1) and values (index 1) of every head and position.
        """
        if isinstance(batch_size, (int, np.integer)):   # else a tensor or a traced size
            batch_size = checks.integer(batch_size, "batch_size", 1)
        max_length = checks.integer(max_length, "max_length", 1)
        return ops.zeros((batch_size, 2, self.num_heads, max_length, self.key_dim), dtype)

    # ---------------------------------------------------------------- the math
    def _heads(self, x):
        """``(N, T, H * K)`` to ``(N, H, T, K)``."""
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], self.num_heads, self.key_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, x, context=None, mask=None, cache=None, position=None, training=None):
        """Attention of ``x`` over itself (or over ``context``).

        Args:
            x: queries ``(N, T, D)``.
            context: keys and values ``(N, S, D_c)`` of cross-attention, or None.
            mask: a boolean or additive mask, ``(T, S)``, ``(N, T, S)`` or ``(N, H, T, S)``.
            cache: a cache from `init_cache` (self-attention): the call runs the
                positions ``position .. position + T - 1`` and returns ``(y, new_cache)``.
            position: the position of ``x``'s first vector in the cache (an int or a
                scalar int tensor); required with ``cache``.
            training: dropout of the attention weights when True.

        Returns:
            ``y`` ``(N, T, output_dim)``, or ``(y, new_cache)`` with a cache.
        """
        if context is not None and self.causal:
            raise ValueError("causal=True masks later positions of the same sequence: it "
                             "applies to self-attention; pass no context to a causal "
                             "MultiHeadAttention.")
        if cache is not None and context is not None:
            raise ValueError("The key/value cache is for self-attention; cross-attention "
                             "reads the whole context at each step (call without cache=).")
        if (cache is None) != (position is None):
            raise ValueError("Incremental decoding needs both cache= (from init_cache) and "
                             "position= (where the new positions start).")
        fast = cache is not None
        query = self._heads(_apply(self.query_dense, fast, x))
        source = x if context is None else context
        key = self._heads(_apply(self.key_dense, fast, source))
        value = self._heads(_apply(self.value_dense, fast, source))
        length = ops.shape(x)[1]
        if cache is not None:
            new = ops.stack([_as(key, cache.dtype), _as(value, cache.dtype)], axis=1)
            if isinstance(position, (int, np.integer)):
                # A Python position (a loop run eagerly, as on PyTorch): static slices.
                position = int(position)
                start = (0, 0, 0, position, 0)
            else:
                position = ops.cast(position, "int32")
                zero = ops.zeros((), "int32")
                start = (zero, zero, zero, position, zero)
            cache = ops.slice_update(cache, start, new)
            key, value = cache[:, 0], cache[:, 1]
            offset = position
        else:
            offset = 0
        output = self._attend(query, key, value, mask, offset, length, cache is not None,
                              training)
        output = _apply(self.output_dense, fast, output)
        return output if cache is None else (output, cache)

    def _attend(self, query, key, value, mask, offset, length, cached, training):
        """``softmax(q k^T / sqrt(K) + mask) v`` of ``(N, H, T, K)`` heads, merged: ``(N, T,
        H * K)``."""
        dtype = query.dtype
        query = _as(query, "float32") * (1.0 / math.sqrt(self.key_dim))
        logits = ops.matmul(query, ops.swapaxes(_as(key, "float32"), -1, -2))
        keys = ops.shape(key)[2]
        allowed = None
        if self.causal or cached:
            # Absolute positions of the queries (rows) and keys (columns): numpy when they
            # are known in Python, tensors in a compiled loop.
            static = all(isinstance(v, (int, np.integer)) for v in (offset, length, keys))
            backend = np if static else ops
            rows = backend.arange(length, dtype="int32")[:, None] + offset
            columns = backend.arange(keys, dtype="int32")[None, :]
            # With a cache, only the positions written so far exist.
            allowed = columns < offset + length if cached else None
            if self.causal:
                below = columns <= rows
                allowed = below if allowed is None else backend.logical_and(allowed, below)
            allowed = ops.convert_to_tensor(allowed[None, None])
        if mask is not None:
            mask = ops.convert_to_tensor(mask)
            rank = len(mask.shape)
            if rank not in (2, 3, 4):
                raise ValueError(f"mask must have shape (T, S), (N, T, S) or (N, heads, T, "
                                 f"S); got a mask of rank {rank}.")
            if rank == 2:
                mask = ops.reshape(mask, (1, 1) + tuple(ops.shape(mask)))
            elif rank == 3:
                mask = ops.expand_dims(mask, 1)
            if keras.backend.standardize_dtype(mask.dtype) == "bool":
                allowed = mask if allowed is None else ops.logical_and(allowed, mask)
            else:
                logits = logits + ops.cast(mask, "float32")
        if allowed is not None:
            logits = ops.where(allowed, logits, MASKED_LOGIT)
        weights = ops.softmax(logits, axis=-1)
        if self.weights_dropout is not None:
            weights = self.weights_dropout(weights, training=training)
        output = ops.transpose(ops.matmul(weights, _as(value, "float32")), (0, 2, 1, 3))
        shape = ops.shape(output)
        return _as(ops.reshape(output, (shape[0], shape[1], self.num_heads * self.key_dim)),
                   dtype)

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def compute_output_shape(self, x_shape, context_shape=None):
        return tuple(x_shape[:-1]) + (self.output_dim or x_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, key_dim=self.key_dim,
                      output_dim=self.output_dim, dropout=self.dropout, causal=self.causal,
                      use_bias=self.use_bias, seed=self.seed)
        return config


__all__ = ["MultiHeadAttention"]
