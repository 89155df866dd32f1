"""Text for models: a word tokenizer whose vocabulary lives in the model's config, and a
transformer text encoder that returns every token's vector and a pooled vector.

**Tokens.** `Tokenizer` lower-cases a text, strips its punctuation and splits it on
whitespace (``keras.layers.TextVectorization``), maps each word to its id in a vocabulary
built from the training captions (`Tokenizer.adapt`), appends the end token and pads
with zeros to a fixed ``context_length``:

- id 0 pads, id 1 is any word outside the vocabulary (``"[UNK]"``), id 2 ends every text
  (`END_WORD`, the word reserved for it), and the words follow from id 3;
- a text whose words and end token do not fit in ``context_length`` is an error (a
  `ValueError` naming it and its length), never cut silently.

The vocabulary is a constructor argument, so it is part of the tokenizer's config and
of the ``.keras`` file of the model that holds it: a checkpoint encodes a string.

**Encoder.** `TextEncoder` embeds the ids, adds learned positions and runs causal
pre-norm `kgen.networks.TransformerBlock` s (as CLIP's text transformer does); it returns
the normalised token vectors ``(N, L, width)`` (for cross-attention; mask the padding
with ``ids != 0``) and the vector at each text's end token ``(N, width)``, which under
causal attention has seen the whole text.

References:
    Radford et al., "Learning Transferable Visual Models From Natural Language
    Supervision", ICML 2021.
    Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
"""

import keras
import numpy as np
from keras import ops

from kgen import checks
from kgen.networks.positions import LearnedPositions
from kgen.networks.transformer import TransformerBlock, check_stack

#: The id of padding.
PAD = 0
#: The id of a word outside the vocabulary.
OOV = 1
#: The id of the end token, which ends every text.
END = 2
#: The word reserved for the end token (a text that contains it gets an end token there).
END_WORD = "endoftext"
#: The standardisation of ``keras.layers.TextVectorization`` used: lower case, no
#: punctuation.
STANDARDIZE = "lower_and_strip_punctuation"


def _texts(texts, name="texts"):
    """``texts`` as a numpy array of str, any shape; TypeError for anything but strings."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{name} must be a list or array of strings; got a single string "
                        f"{texts!r}: wrap it in a list.")
    if hasattr(texts, "numpy") and not isinstance(texts, np.ndarray):
        texts = texts.numpy()
    try:
        array = np.asarray(texts, dtype=object)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be strings; could not read them ({error}).") from None
    flat = []
    for value in array.reshape(-1):
        if isinstance(value, (bytes, np.bytes_)):
            value = bytes(value).decode("utf-8")
        if not isinstance(value, str):
            raise TypeError(f"{name} must be strings; got {value!r} ({type(value).__name__}).")
        flat.append(str(value))
    return np.asarray(flat, dtype=object).reshape(array.shape)


@keras.saving.register_keras_serializable(package="kgen")
class Tokenizer:
    """Texts to int32 token ids of a fixed length, with the vocabulary in its config.

    ``tokenizer(texts)`` maps an array of strings of any shape to ids of shape
    ``texts.shape + (context_length,)`` (see the module's description of the ids). It
    runs eagerly on numpy values, outside any compiled function, on every backend.

    Args:
        vocabulary: the words, most frequent first (ids 3, 4, ...), or None for a
            tokenizer to `adapt`. Words are taken as they are (lower case, no
            punctuation, as texts become after standardisation).
        context_length: the ids per text, the end token included.

    Example:

    ```python
    import kgen

    tokenizer = kgen.networks.Tokenizer.adapted(["a red seven", "a blue two"])
    ids = tokenizer(["A red two!", "a green seven"])    # (2, 4) int32
    tokenizer.detokenize(ids)   # ['a red two', 'a [UNK] seven']
    ```

    References:
        Radford et al., "Learning Transferable Visual Models From Natural Language
        Supervision", ICML 2021 (a context of tokens ending with an end token).
    """

    def __init__(self, vocabulary=None, context_length=16):
        self.context_length = checks.integer(context_length, "context_length", minimum=2)
        self.vocabulary = None
        self._layer = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # ---------------------------------------------------------- vocabulary
    @classmethod
    def adapted(cls, texts, context_length=None, max_words=None):
        """A tokenizer whose vocabulary is the words of ``texts`` (`adapt`).

        Args:
            texts: the training texts (strings of any shape).
            context_length: the ids per text; None: the longest text's words plus one.
            max_words: keep at most this many words (the most frequent), or None.
        """
        tokenizer = cls(None, context_length=context_length or 2)
        tokenizer.adapt(texts, max_words=max_words)
        if context_length is None:
            tokenizer.context_length = max(2, tokenizer._longest(texts) + 1)
        else:
            tokenizer.check_lengths(texts)
        return tokenizer

    def adapt(self, texts, max_words=None):
        """Sets the vocabulary to the words of ``texts``, the most frequent first.

        Args:
            texts: strings (any shape; empty strings count no words).
            max_words: keep at most this many words, or None for all.

        Raises:
            TypeError: texts that are not strings.
            ValueError: no words at all.
        """
        texts = _texts(texts)
        max_words = checks.optional_integer(max_words, "max_words", minimum=1)
        counter = keras.layers.TextVectorization(
            max_tokens=None if max_words is None else max_words + 3, standardize=STANDARDIZE,
            split="whitespace")
        counter.adapt(list(texts.reshape(-1)))
        words = [w for w in counter.get_vocabulary()[2:] if w != END_WORD]
        if max_words is not None:
            words = words[:max_words]
        if not words:
            raise ValueError("The texts hold no words to build a vocabulary from.")
        self.set_vocabulary(words)

    def set_vocabulary(self, vocabulary):
        """Sets the words (ids 3, 4, ... in order)."""
        if isinstance(vocabulary, str) or not isinstance(vocabulary, (list, tuple, np.ndarray)):
            raise TypeError(f"vocabulary must be a list of words; got "
                            f"{type(vocabulary).__name__}.")
        words = [str(w) for w in _texts(list(vocabulary), "vocabulary")]
        reserved = [w for w in words if w in ("", "[UNK]", END_WORD)]
        if reserved:
            raise ValueError(f"The vocabulary may not contain the reserved entries "
                             f"{reserved}: '' pads, '[UNK]' is unknown, {END_WORD!r} ends.")
        if len(set(words)) != len(words):
            repeated = sorted({w for w in words if words.count(w) > 1})
            raise ValueError(f"The vocabulary repeats the words {repeated[:10]}.")
        if not words:
            raise ValueError("The vocabulary must hold at least one word.")
        self.vocabulary = words
        self._layer = None

    @property
    def vocabulary_size(self):
        """The number of ids: the words plus padding, unknown and end."""
        self._check_ready()
        return len(self.vocabulary) + 3

    def get_vocabulary(self):
        """Every id's word: ``["", "[UNK]", END_WORD, word, ...]``."""
        self._check_ready()
        return ["", "[UNK]", END_WORD] + list(self.vocabulary)

    def _check_ready(self):
        if self.vocabulary is None:
            raise ValueError("This Tokenizer has no vocabulary yet: call adapt(texts) with the "
                             "training texts, or pass vocabulary=.")

    def _vectorizer(self):
        self._check_ready()
        if self._layer is None:
            # Dense ids padded to the longest text of each call; fitted to the context here.
            self._layer = keras.layers.TextVectorization(
                standardize=STANDARDIZE, split="whitespace", output_mode="int",
                vocabulary=[END_WORD] + list(self.vocabulary), name="words")
        return self._layer

    # ---------------------------------------------------------- tokenizing
    def _raw(self, flat):
        """Ids of the flat texts with their end token, padded to the longest: (n, m)."""
        layer = self._vectorizer()
        ids = np.zeros((len(flat), 1), np.int64)
        if len(flat):
            ids = np.asarray(keras.ops.convert_to_numpy(
                layer([t + " " + END_WORD for t in flat])), np.int64)
        return ids

    def _longest(self, texts):
        flat = list(_texts(texts).reshape(-1))
        return int(np.max(np.count_nonzero(self._raw(flat), axis=1))) - 1 if flat else 0

    def check_lengths(self, texts, name="text"):
        """Raises a ValueError naming the first texts whose words and end token do not fit
        in ``context_length``."""
        flat = list(_texts(texts).reshape(-1))
        lengths = np.count_nonzero(self._raw(flat), axis=1)
        self._refuse_long(flat, lengths, name)

    def _refuse_long(self, flat, lengths, name):
        long = np.flatnonzero(lengths > self.context_length)
        if len(long):
            first = int(long[0])
            raise ValueError(
                f"{len(long)} {name}(s) are longer than the context of {self.context_length} "
                f"tokens ({self.context_length - 1} words and the end token): {name} {first} "
                f"({flat[first][:60]!r}) has {int(lengths[first]) - 1} words. Shorten it; "
                "texts are never cut.")

    def __call__(self, texts):
        """int32 ids ``texts.shape + (context_length,)`` of strings of any shape.

        Raises:
            TypeError: values that are not strings.
            ValueError: no vocabulary yet, or a text longer than the context.
        """
        array = _texts(texts)
        flat = list(array.reshape(-1))
        raw = self._raw(flat)
        lengths = np.count_nonzero(raw, axis=1)
        self._refuse_long(flat, lengths, "text")
        out = np.zeros((len(flat), self.context_length), np.int32)
        width = min(raw.shape[1], self.context_length)
        out[:, :width] = raw[:, :width]
        return out.reshape(array.shape + (self.context_length,))

    def detokenize(self, ids):
        """The words of ids ``(..., L)``, up to each end token, joined by spaces.

        Returns:
            A str for ids ``(L,)``, else a nested list of str of the leading shape.
        """
        ids = np.asarray(keras.ops.convert_to_numpy(ids))
        if ids.ndim < 1 or ids.dtype.kind not in "iu":
            raise TypeError(f"detokenize takes int ids (..., L); got {ids.dtype} of shape "
                            f"{ids.shape}.")
        words = self.get_vocabulary()

        def one(row):
            out = []
            for token in row.tolist():
                if token in (PAD, END):
                    break
                if not 0 <= token < len(words):
                    raise ValueError(f"Token id {token} is outside the vocabulary "
                                     f"(0..{len(words) - 1}).")
                out.append(words[token])
            return " ".join(out)

        if ids.ndim == 1:
            return one(ids)
        flat = [one(row) for row in ids.reshape(-1, ids.shape[-1])]
        return np.asarray(flat, dtype=object).reshape(ids.shape[:-1]).tolist()

    # ---------------------------------------------------------- config
    def get_config(self):
        return {"vocabulary": None if self.vocabulary is None else list(self.vocabulary),
                "context_length": self.context_length}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        size = "no vocabulary" if self.vocabulary is None else f"{len(self.vocabulary)} words"
        return f"<Tokenizer {size}, context_length={self.context_length}>"


def end_positions(ids):
    """The position of each text's end token: its last non-zero id (0 for an all-zero row).

    Args:
        ids: int token ids ``(N, L)`` of a `Tokenizer`.

    Returns:
        int32 ``(N,)``.

    Example:

    ```python
    import numpy as np
    from kgen.networks.text_encoder import end_positions

    end_positions(np.array([[5, 7, 2, 0], [2, 0, 0, 0]]))   # [2, 0]
    ```
    """
    ids = ops.convert_to_tensor(ids)
    length = ops.sum(ops.cast(ops.not_equal(ids, PAD), "int32"), axis=-1)
    return ops.maximum(length - 1, 0)


@keras.saving.register_keras_serializable(package="kgen")
class TextEncoder(keras.Model):
    """Token ids to token vectors and a pooled text vector: a causal transformer.

    ``tokens, pooled = encoder(ids)``: ids ``(N, L)`` from a `Tokenizer` are embedded,
    given learned positions, passed through ``num_layers`` pre-norm
    `kgen.networks.TransformerBlock` s and normalised: ``tokens`` is ``(N, L, width)``
    and ``pooled`` ``(N, width)`` the vector at each text's end token. With
    ``causal=True`` (CLIP's choice) no position attends to a later one, so the pooled
    vector has seen the whole text and no padding; with ``causal=False`` the padding is
    masked out instead. Padding positions of ``tokens`` hold no meaning: a model that
    attends to them (cross-attention) masks them with ``ids != 0``.

    Args:
        vocabulary_size: the number of ids (`Tokenizer.vocabulary_size`).
        context_length: the ids per text (`Tokenizer.context_length`).
        width: the size of the token vectors.
        num_layers: transformer blocks.
        num_heads: attention heads per block (``width`` a multiple of it).
        mlp_ratio: the MLP's hidden width over ``width``.
        dropout: dropout rate in training.
        causal: causal self-attention.
        seed: seed of the dropout draws.
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import numpy as np
    from kgen.networks import TextEncoder

    encoder = TextEncoder(vocabulary_size=10, context_length=6, width=16, num_layers=1,
                          num_heads=2)
    tokens, pooled = encoder(np.array([[4, 5, 2, 0, 0, 0]], "int32"))
    tokens.shape, pooled.shape   # (1, 6, 16), (1, 16)
    ```

    References:
        Radford et al., "Learning Transferable Visual Models From Natural Language
        Supervision", ICML 2021.
    """

    def __init__(self, vocabulary_size, context_length, width=64, num_layers=2, num_heads=4,
                 mlp_ratio=4, dropout=0.0, causal=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = checks.integer(vocabulary_size, "vocabulary_size", 4)
        self.context_length = checks.integer(context_length, "context_length", 2)
        (self.width, self.num_layers, self.num_heads, self.mlp_ratio,
         self.dropout) = check_stack(width, num_layers, num_heads, mlp_ratio, dropout)
        if not isinstance(causal, bool):
            raise TypeError(f"causal must be True or False; got {causal!r}.")
        self.causal = causal
        self.seed = checks.seed(seed)
        self.token_embedding = keras.layers.Embedding(
            self.vocabulary_size, self.width,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="token_embedding")
        self.positions = LearnedPositions(self.context_length, name="positions")
        self.blocks = [
            TransformerBlock(self.width, self.num_heads, mlp_ratio=self.mlp_ratio,
                             dropout=self.dropout, causal=self.causal,
                             seed=None if self.seed is None else self.seed + 10 * i,
                             name=f"text_block_{i}")
            for i in range(self.num_layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="text_norm")

    def build(self, ids_shape=None):
        sequence = (None, self.context_length, self.width)
        self.token_embedding.build((None, self.context_length))
        self.positions.build(sequence)
        for block in self.blocks:
            block.build(sequence)
        self.final_norm.build(sequence)
        self.built = True

    def call(self, ids, training=None):
        """``(tokens, pooled)`` of int ids ``(N, context_length)``."""
        ids = ops.convert_to_tensor(ids)
        if len(ids.shape) != 2 or (ids.shape[1] is not None
                                   and ids.shape[1] != self.context_length):
            raise ValueError(f"TextEncoder takes token ids (N, {self.context_length}); got "
                             f"shape {tuple(ids.shape)}.")
        if not keras.backend.standardize_dtype(ids.dtype).startswith(("int", "uint")):
            raise TypeError(f"Token ids must be integers; got dtype {ids.dtype}.")
        x = self.positions(self.token_embedding(ids))
        mask = None
        if not self.causal:   # every position attends to the text's tokens, not the padding
            mask = ops.expand_dims(ops.not_equal(ids, PAD), 1)
        for block in self.blocks:
            x = block(x, mask=mask, training=training)
        tokens = self.final_norm(x)
        end = ops.expand_dims(ops.expand_dims(end_positions(ids), -1), -1)
        pooled = ops.take_along_axis(tokens, ops.cast(end, "int32"), axis=1)[:, 0]
        return tokens, pooled

    def compute_output_shape(self, ids_shape):
        return ((ids_shape[0], self.context_length, self.width), (ids_shape[0], self.width))

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "vocabulary_size": self.vocabulary_size,
                "context_length": self.context_length, "width": self.width,
                "num_layers": self.num_layers, "num_heads": self.num_heads,
                "mlp_ratio": self.mlp_ratio, "dropout": self.dropout, "causal": self.causal,
                "seed": self.seed}


def text_encoder(vocabulary_size, context_length, width=64, num_layers=2, num_heads=4,
                 mlp_ratio=4, dropout=0.0, causal=True, seed=None, name="text_encoder"):
    """A built `TextEncoder` (token ids to token vectors and a pooled vector).

    Args: as `TextEncoder`.

    Example:

    ```python
    import kgen

    tokenizer = kgen.networks.Tokenizer(["a", "red", "seven", "two", "blue", "one", "six"],
                                        context_length=6)
    encoder = kgen.networks.text_encoder(tokenizer.vocabulary_size, 6, width=16,
                                         num_layers=1, num_heads=2)
    tokens, pooled = encoder(tokenizer(["a red seven"]))   # (1, 6, 16), (1, 16)
    ```
    """
    encoder = TextEncoder(vocabulary_size, context_length, width=width, num_layers=num_layers,
                          num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                          causal=causal, seed=seed, name=name)
    encoder.build((None, context_length))
    return encoder


__all__ = ["TextEncoder", "Tokenizer", "end_positions", "text_encoder"]
