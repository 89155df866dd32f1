"""Pre-norm transformer blocks and a causal decoder over token sequences (Vaswani et al. 2017).

A `TransformerBlock` is the pre-normalisation block of GPT-2 and the vision
transformers: ``x + Attention(LayerNorm(x))``, optionally ``+ CrossAttention(LayerNorm(x),
context)``, then ``+ MLP(LayerNorm(x))`` with a GELU between two linear maps. A
`CausalDecoder` stacks them behind a token embedding and learned positions, with a final
normalisation and a linear head to logits: the autoregressive model of image GPT and
Parti, ``p(t_i | t_<i)`` for every position in one call. Both run incrementally with a
key/value cache (`kgen.networks.MultiHeadAttention`), one tensor carried through
``keras.ops.fori_loop``, for fast sampling.

References:
    Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    Radford et al., "Language Models are Unsupervised Multitask Learners", 2019 (GPT-2).
    Chen et al., "Generative Pretraining from Pixels", ICML 2020 (image GPT).
"""

import keras
import numpy as np
from keras import ops

from kgen import checks
from kgen.networks.attention import MultiHeadAttention, _apply
from kgen.networks.dropout import Dropout
from kgen.networks.positions import LearnedPositions


def _flag(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}.")
    return value


def _offset_seed(seed, offset):
    return None if seed is None else (seed + offset) % (2 ** 32)


def _padding_mask(context_mask):
    """A context padding mask ``(N, S)`` (True: a token to attend to) as ``(N, 1, S)``."""
    if context_mask is None:
        return None
    context_mask = ops.convert_to_tensor(context_mask)
    if len(context_mask.shape) != 2:
        raise ValueError(f"context_mask must be (N, S) booleans (True for the context tokens "
                         f"to attend to); got shape {tuple(context_mask.shape)}.")
    return ops.expand_dims(ops.cast(context_mask, "bool"), 1)


@keras.saving.register_keras_serializable(package="kgen")
class TransformerBlock(keras.layers.Layer):
    """A pre-norm transformer block: attention, optional cross-attention and an MLP, each residual.

    ``y = x + Attn(LN(x))``; with ``cross_attention=True``, ``y = y + CrossAttn(LN(y),
    context)``; then ``y = y + W_2 GELU(W_1 LN(y))``, the hidden layer
    ``mlp_ratio * width`` wide. Dropout (``dropout``) acts on the attention weights and
    on the output of each branch before its residual sum.

    ``block(x)`` maps ``(N, T, width)`` to the same shape; ``block(x, cache=cache,
    position=i)`` runs positions ``i .. i + T - 1`` of an incremental decoding and returns
    ``(y, new_cache)`` (`init_cache`, see `kgen.networks.MultiHeadAttention`); the
    cross-attention, when present, reads the whole context at each step.

    Args:
        width: size of the token vectors (a multiple of ``num_heads``).
        num_heads: attention heads, each of size ``width // num_heads``.
        mlp_ratio: the MLP's hidden width over ``width``.
        dropout: dropout rate (attention weights and branch outputs) in training.
        causal: causal self-attention (a decoder block).
        cross_attention: add a cross-attention branch over a ``context``.
        epsilon: the layer normalisations' epsilon.
        seed: seed of the dropout draws.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from kgen.networks import TransformerBlock

    x = np.random.default_rng(0).normal(size=(2, 6, 16)).astype("float32")
    text = np.random.default_rng(1).normal(size=(2, 3, 8)).astype("float32")
    block = TransformerBlock(16, num_heads=2, causal=True, cross_attention=True)
    block(x, context=text).shape    # (2, 6, 16)
    ```

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
        Xiong et al., "On Layer Normalization in the Transformer Architecture", ICML 2020.
    """

    def __init__(self, width, num_heads, mlp_ratio=4, dropout=0.0, causal=False,
                 cross_attention=False, epsilon=1e-5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.width = checks.integer(width, "width", 1)
        self.num_heads = checks.integer(num_heads, "num_heads", 1)
        if self.width % self.num_heads:
            raise ValueError(f"width ({self.width}) must be a multiple of num_heads "
                             f"({self.num_heads}).")
        self.mlp_ratio = checks.number(mlp_ratio, "mlp_ratio", 0.0, exclusive_minimum=True)
        self.dropout = checks.number(dropout, "dropout", 0.0, 1.0, exclusive_maximum=True)
        self.causal = _flag(causal, "causal")
        self.cross_attention = _flag(cross_attention, "cross_attention")
        self.epsilon = checks.number(epsilon, "epsilon", 0.0, exclusive_minimum=True)
        self.seed = checks.seed(seed)
        key_dim = self.width // self.num_heads
        self.hidden = max(1, int(round(self.width * self.mlp_ratio)))
        self.attention_norm = keras.layers.LayerNormalization(epsilon=self.epsilon,
                                                              name="attention_norm")
        self.attention = MultiHeadAttention(self.num_heads, key_dim, output_dim=self.width,
                                            dropout=self.dropout, causal=self.causal,
                                            seed=_offset_seed(self.seed, 1), name="attention")
        if self.cross_attention:
            self.cross_norm = keras.layers.LayerNormalization(epsilon=self.epsilon,
                                                              name="cross_norm")
            self.cross = MultiHeadAttention(self.num_heads, key_dim, output_dim=self.width,
                                            dropout=self.dropout,
                                            seed=_offset_seed(self.seed, 2),
                                            name="cross_attention")
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=self.epsilon, name="mlp_norm")
        self.mlp_in = keras.layers.Dense(self.hidden, activation="gelu", name="mlp_in")
        self.mlp_out = keras.layers.Dense(self.width, name="mlp_out")
        self.residual_dropout = Dropout(self.dropout, seed=_offset_seed(self.seed, 3),
                                        name="residual_dropout") if self.dropout > 0 else None
        self.supports_masking = True   # masks are explicit arguments, not Keras masks

    def build(self, x_shape, context_shape=None):
        x_shape = tuple(x_shape)
        if len(x_shape) != 3 or x_shape[-1] != self.width:
            raise ValueError(f"TransformerBlock(width={self.width}) takes sequences (N, T, "
                             f"{self.width}); got shape {x_shape}.")
        self.attention_norm.build(x_shape)
        self.attention.build(x_shape)
        if self.cross_attention:
            if context_shape is None:
                raise ValueError("A TransformerBlock with cross_attention=True needs a context "
                                 "(N, S, D_c) to build: call it with context=.")
            self.cross_norm.build(x_shape)
            self.cross.build(x_shape, tuple(context_shape))
        self.mlp_norm.build(x_shape)
        self.mlp_in.build(x_shape)
        self.mlp_out.build(x_shape[:-1] + (self.hidden,))
        self.built = True

    def init_cache(self, batch_size, max_length, dtype="float32"):
        """An empty key/value cache of the self-attention (`MultiHeadAttention.init_cache`)."""
        return self.attention.init_cache(batch_size, max_length, dtype)

    def _drop(self, x, training):
        if self.residual_dropout is None or not training:
            return x
        return self.residual_dropout(x, training=training)

    def call(self, x, context=None, mask=None, context_mask=None, cache=None, position=None,
             training=None):
        """The block on ``x`` ``(N, T, width)``.

        Args:
            x: the token vectors.
            context: ``(N, S, D_c)``, the keys and values of the cross-attention.
            mask: the self-attention's mask (`MultiHeadAttention`).
            context_mask: ``(N, S)`` booleans, True for the context tokens to attend to
                (padding False).
            cache: incremental decoding (`MultiHeadAttention`).
            position: incremental decoding (`MultiHeadAttention`).
            training: dropout when True.

        Returns:
            ``y`` ``(N, T, width)``, or ``(y, new_cache)`` with a cache.
        """
        if self.cross_attention and context is None:
            raise ValueError("This TransformerBlock has cross_attention=True: pass context=.")
        if not self.cross_attention and (context is not None or context_mask is not None):
            raise ValueError("This TransformerBlock has no cross-attention "
                             "(cross_attention=False): it takes no context.")
        # A decoding step calls the built layers' call() directly, without Keras's dtype
        # casts: under a mixed policy its tensors mix float32 and the compute dtype, so the
        # residual sums promote (ops.add).
        fast = cache is not None
        h = _apply(self.attention_norm, fast, x)
        if cache is None:
            h = self.attention(h, mask=mask, training=training)
        else:
            h, cache = self.attention.call(h, mask=mask, cache=cache, position=position,
                                           training=training)
        x = ops.add(x, self._drop(h, training))
        if self.cross_attention:
            h = _apply(self.cross, fast, _apply(self.cross_norm, fast, x), context=context,
                       mask=_padding_mask(context_mask), training=training)
            x = ops.add(x, self._drop(h, training))
        h = _apply(self.mlp_norm, fast, x)
        h = _apply(self.mlp_out, fast, _apply(self.mlp_in, fast, h))
        x = ops.add(x, self._drop(h, training))
        return x if cache is None else (x, cache)

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def compute_output_shape(self, x_shape, context_shape=None):
        return tuple(x_shape)

    def get_config(self):
        config = super().get_config()
        config.update(width=self.width, num_heads=self.num_heads, mlp_ratio=self.mlp_ratio,
                      dropout=self.dropout, causal=self.causal,
                      cross_attention=self.cross_attention, epsilon=self.epsilon,
                      seed=self.seed)
        return config


def check_stack(width, num_layers, num_heads, mlp_ratio, dropout):
    """The sizes of a stack of `TransformerBlock` s, checked: ``(width, num_layers,
    num_heads, mlp_ratio, dropout)``.

    Raises:
        ValueError: a size below 1, a width that ``num_heads`` does not divide, a
            non-positive ``mlp_ratio`` or a dropout rate outside ``[0, 1)``.
    """
    width = checks.integer(width, "width", 1)
    num_layers = checks.integer(num_layers, "num_layers", 1)
    num_heads = checks.integer(num_heads, "num_heads", 1)
    if width % num_heads:
        raise ValueError(f"width ({width}) must be a multiple of num_heads ({num_heads}).")
    mlp_ratio = checks.number(mlp_ratio, "mlp_ratio", 0.0, exclusive_minimum=True)
    dropout = checks.number(dropout, "dropout", 0.0, 1.0, exclusive_maximum=True)
    return width, num_layers, num_heads, mlp_ratio, dropout


@keras.saving.register_keras_serializable(package="kgen")
class CausalDecoder(keras.Model):
    """A causal transformer over token sequences: logits of ``p(t_i | t_<=i)`` at every position.

    Token ids ``(N, T)`` are embedded (``vocabulary_size`` entries), added to learned
    position vectors (`kgen.networks.LearnedPositions`), passed through ``num_layers``
    causal `TransformerBlock` s, normalised, and mapped to ``output_size`` logits per
    position: the output at position ``i`` depends on the tokens ``0 .. i`` only, so it
    is the prediction of token ``i + 1`` of an autoregressive model. ``output_size``
    may be smaller than ``vocabulary_size``: the extra input ids can be start, class or
    text tokens that are never predicted.

    **Incremental decoding.** ``logits, cache = decoder.step(tokens, cache, position)``
    runs the tokens ``(N, T_new)`` at positions ``position .. position + T_new - 1`` with
    the key/value cache of every block, a tuple of ``num_layers`` fixed-size tensors
    ``(N, 2, num_heads, max_length, width // num_heads)`` from `init_cache`, so a
    sampling loop runs one position per step and carries the cache through
    ``keras.ops.fori_loop``. A prefix of several tokens can be run in one step.

    Args:
        vocabulary_size: number of input token ids.
        max_length: the longest sequence (the number of learned positions).
        width: size of the token vectors.
        num_layers: transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden width over ``width``.
        dropout: dropout rate in training.
        output_size: number of logits per position (default ``vocabulary_size``).
        cross_attention: blocks with cross-attention over a ``context`` (text features).
        context_dim: size of the context vectors (default ``width``).
        seed: seed of the dropout draws.
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.networks import CausalDecoder

    decoder = CausalDecoder(vocabulary_size=10, max_length=6, width=8, num_layers=1,
                            num_heads=2)
    tokens = np.array([[1, 4, 2, 7, 0, 3]], "int32")
    logits = decoder(tokens)                        # (1, 6, 10)
    cache = decoder.init_cache(batch_size=1)
    step_logits, cache = decoder.step(tokens[:, :3], cache, position=0)   # a prefix at once
    np.allclose(keras.ops.convert_to_numpy(step_logits),
                keras.ops.convert_to_numpy(logits[:, :3]), atol=1e-5)      # True
    ```

    References:
        Radford et al., "Language Models are Unsupervised Multitask Learners", 2019.
        Chen et al., "Generative Pretraining from Pixels", ICML 2020.
    """

    def __init__(self, vocabulary_size, max_length, width=256, num_layers=4, num_heads=4,
                 mlp_ratio=4, dropout=0.0, output_size=None, cross_attention=False,
                 context_dim=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = checks.integer(vocabulary_size, "vocabulary_size", 1)
        self.max_length = checks.integer(max_length, "max_length", 1)
        (self.width, self.num_layers, self.num_heads, self.mlp_ratio,
         self.dropout) = check_stack(width, num_layers, num_heads, mlp_ratio, dropout)
        self.output_size = checks.integer(output_size, "output_size", 1) \
            if output_size is not None else self.vocabulary_size
        self.cross_attention = _flag(cross_attention, "cross_attention")
        self.context_dim = checks.optional_integer(context_dim, "context_dim", 1)
        self.seed = checks.seed(seed)
        self.key_dim = self.width // self.num_heads
        self.token_embedding = keras.layers.Embedding(
            self.vocabulary_size, self.width,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="token_embedding")
        self.positions = LearnedPositions(self.max_length, name="positions")
        self.blocks = [
            TransformerBlock(self.width, self.num_heads, mlp_ratio=self.mlp_ratio,
                             dropout=self.dropout, causal=True,
                             cross_attention=self.cross_attention,
                             seed=_offset_seed(self.seed, 10 * i), name=f"block_{i}")
            for i in range(self.num_layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        self.head = keras.layers.Dense(self.output_size, name="logits")

    def build(self, tokens_shape, context_shape=None):
        tokens_shape = tuple(tokens_shape)
        if len(tokens_shape) != 2:
            raise ValueError(f"CausalDecoder takes token ids (N, T); got shape {tokens_shape}.")
        if self.cross_attention and context_shape is None:
            context_shape = (None, None, self.context_dim or self.width)
        sequence = (None, None, self.width)
        self.token_embedding.build(tokens_shape)
        self.positions.build(sequence)
        for block in self.blocks:
            block.build(sequence, context_shape if self.cross_attention else None)
        self.final_norm.build(sequence)
        self.head.build(sequence)
        self.built = True

    def init_cache(self, batch_size, dtype="float32"):
        """An empty cache of every block for ``batch_size`` sequences: a tuple of
        ``num_layers`` zeros ``(batch_size, 2, num_heads, max_length, width // num_heads)``
        (`kgen.networks.MultiHeadAttention.init_cache`).

        One tensor per block rather than one stacked tensor: a decoding step then
        rewrites each block's cache, not a copy of all of them.
        """
        if isinstance(batch_size, (int, np.integer)):   # else a tensor or a traced size
            batch_size = checks.integer(batch_size, "batch_size", 1)
        return tuple(block.init_cache(batch_size, self.max_length, dtype)
                     for block in self.blocks)

    def _check_tokens(self, tokens):
        tokens = ops.convert_to_tensor(tokens)
        if len(tokens.shape) != 2:
            raise ValueError(f"CausalDecoder takes token ids (N, T); got shape "
                             f"{tuple(tokens.shape)}.")
        if not keras.backend.standardize_dtype(tokens.dtype).startswith(("int", "uint")):
            raise TypeError(f"Token ids must be integers; got dtype {tokens.dtype}.")
        length = tokens.shape[1]
        if length is not None and length > self.max_length:
            raise ValueError(f"The decoder has {self.max_length} positions (max_length); got "
                             f"{length} tokens.")
        return tokens

    def call(self, tokens, context=None, context_mask=None, training=None):
        """Logits ``(N, T, output_size)`` of token ids ``(N, T)`` (``T <= max_length``).

        ``context`` ``(N, S, context_dim)`` and its padding mask ``context_mask``
        ``(N, S)`` feed the cross-attention of a decoder built with
        ``cross_attention=True``.
        """
        x = self.positions(self.token_embedding(self._check_tokens(tokens)))
        for block in self.blocks:
            x = block(x, context=context, context_mask=context_mask, training=training)
        return self.head(self.final_norm(x))

    def step(self, tokens, cache, position, context=None, context_mask=None):
        """Logits of ``tokens`` ``(N, T_new)`` at ``position ..`` with the cache (inference).

        Args:
            tokens: int token ids of the new positions.
            cache: the cache from `init_cache` (or from the previous step).
            position: the position of the first new token (int or scalar int tensor).
            context: as in `call`.
            context_mask: as in `call`.

        Returns:
            ``(logits, new_cache)``: logits ``(N, T_new, output_size)``.
        """
        tokens = self._check_tokens(tokens)
        if not isinstance(cache, (tuple, list)) or len(cache) != self.num_layers:
            raise ValueError(f"cache must be the tuple of {self.num_layers} tensors of "
                             "init_cache() (or of the previous step).")
        # The built layers' call() directly: see kgen.networks.attention._apply.
        x = self.positions.call(self.token_embedding.call(tokens), position=position)
        caches = []
        for index, block in enumerate(self.blocks):
            x, layer_cache = block.call(x, context=context, context_mask=context_mask,
                                        cache=cache[index], position=position, training=False)
            caches.append(layer_cache)
        return self.head.call(self.final_norm.call(x)), tuple(caches)

    def compute_output_shape(self, tokens_shape, context_shape=None):
        return tuple(tokens_shape) + (self.output_size,)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "vocabulary_size": self.vocabulary_size, "max_length": self.max_length,
                "width": self.width, "num_layers": self.num_layers,
                "num_heads": self.num_heads, "mlp_ratio": self.mlp_ratio,
                "dropout": self.dropout, "output_size": self.output_size,
                "cross_attention": self.cross_attention, "context_dim": self.context_dim,
                "seed": self.seed}


def transformer_decoder(vocabulary_size, max_length, width=256, num_layers=4, num_heads=4,
                        mlp_ratio=4, dropout=0.0, output_size=None, cross_attention=False,
                        context_dim=None, seed=None, name="transformer_decoder"):
    """A built `CausalDecoder` (token ids to logits), ready to train or to sample from.

    Args: as `CausalDecoder`.

    Example:

    ```python
    from kgen.networks import transformer_decoder

    decoder = transformer_decoder(vocabulary_size=17, max_length=16, width=16,
                                  num_layers=1, num_heads=4, output_size=16)
    decoder.count_params() > 0   # True: built
    ```
    """
    decoder = CausalDecoder(vocabulary_size, max_length, width=width, num_layers=num_layers,
                            num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                            output_size=output_size, cross_attention=cross_attention,
                            context_dim=context_dim, seed=seed, name=name)
    context = (None, None, context_dim or width) if cross_attention else None
    decoder.build((None, max_length), context)
    return decoder


__all__ = ["CausalDecoder", "TransformerBlock", "transformer_decoder"]
