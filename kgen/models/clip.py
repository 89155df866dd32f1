"""CLIP: a dual encoder of images and texts, trained with a symmetric contrastive loss
(Radford et al. 2021)."""

import copy
import math
import weakref

import keras
import numpy as np
from keras import ops

from kgen import backend, checks, networks
from kgen.data import captioned
from kgen.models import registry
from kgen.models.base import GenerativeModel, Update
from kgen.models.captions import choose_captions
from kgen.networks.text_encoder import Tokenizer, _texts

# Compiled encoders of each model, kept outside the model so that Keras does not track them.
_FUNCTIONS = weakref.WeakKeyDictionary()


def clip_loss(logits):
    """The symmetric contrastive loss of an ``(N, N)`` matrix of logits.

    Row ``i`` holds the logits of image ``i`` against every text of the batch, and its
    own caption is text ``i``: the loss is the mean of the cross-entropy of each row
    (image to text) and of each column (text to image) with the diagonal as the target,
    ``(CE_rows + CE_columns) / 2``.

    Args:
        logits: float ``(N, N)``: ``scale * cos(image_i, text_j)``.

    Returns:
        A scalar tensor (nats).

    Example:

    ```python
    import numpy as np
    from kgen.models.clip import clip_loss

    float(clip_loss(np.zeros((4, 4), "float32")))   # log(4) = 1.386...
    ```

    References:
        Radford et al., "Learning Transferable Visual Models From Natural Language
        Supervision", ICML 2021 (Figure 3); Oord, Li & Vinyals, "Representation Learning
        with Contrastive Predictive Coding", 2018 (InfoNCE).
    """
    logits = ops.cast(ops.convert_to_tensor(logits), "float32")
    diagonal = ops.diagonal(logits)
    image_to_text = ops.mean(ops.logsumexp(logits, axis=1) - diagonal)
    text_to_image = ops.mean(ops.logsumexp(logits, axis=0) - diagonal)
    return (image_to_text + text_to_image) / 2.0


def _unit(x):
    x = ops.cast(x, "float32")
    return x * ops.rsqrt(ops.sum(ops.square(x), axis=-1, keepdims=True) + 1e-12)


def _pad(array, size):
    """``array`` padded to ``size`` rows by repeating its last row (one compiled shape)."""
    if len(array) == size:
        return array
    return np.concatenate([array, np.repeat(array[-1:], size - len(array), axis=0)])


def _is_strings(values):
    if isinstance(values, (list, tuple)):
        values = np.asarray(values, dtype=object)
    return isinstance(values, np.ndarray) and (values.dtype.kind in "US" or (
        values.dtype.kind == "O" and values.size and isinstance(
            values.reshape(-1)[0], (str, bytes))))


@keras.saving.register_keras_serializable(package="kgen")
class CLIP(GenerativeModel):
    """Contrastive language-image pre-training: images and texts in one embedding space.

    An image encoder and a text encoder, each followed by a linear projection to
    ``embed_dim`` and a normalisation to unit length, are trained together so that an
    image and its caption have a high cosine similarity and mismatched pairs a low one.
    For a batch of ``N`` pairs the logits are ``s * I T^T`` (``I``, ``T`` the unit image
    and text embeddings, ``s = exp(t)`` a learned scale, the inverse temperature,
    starting at ``1 / temperature`` and clipped at ``max_scale``) and the loss is the
    symmetric cross-entropy `clip_loss` with the matching pairs on the diagonal.

    **Data.** ``fit(images, captions)`` takes images (uint8, or floats in ``[-1, 1]``) and
    their captions: strings ``(N,)``, a table ``(N, T)`` of several captions per image
    (``""`` for a missing one), or token ids from the model's tokenizer, ``(N, L)`` or
    ``(N, T, L)``. With several captions per image, each training step uses one caption
    of each image, drawn at random (evaluation uses the first). A dataset must yield
    token ids: `kgen.data.captioned.tokenized` makes a captioned data source do so.

    **Text.** The `kgen.networks.Tokenizer` is part of the model (its vocabulary is in
    the ``.keras`` file): `encode_text`, `similarity` and `zero_shot` take lists of
    strings. A word outside the vocabulary becomes the unknown id (1). A prompt longer
    than the tokenizer's context is a `ValueError` naming it (prompts are never cut); a
    single string instead of a list, or a value that is not a string, is a `TypeError`;
    an empty list of prompts is a `ValueError`.

    CLIP draws no samples: `generate` and `serving_functions` raise
    `NotImplementedError`.

    Logs: ``loss`` (the contrastive loss), ``accuracy`` (the fraction of images whose
    own caption has the highest logit in the batch) and ``scale`` (``s``).

    Args:
        image_encoder: a Keras model from images ``(N, H, W, C)`` in ``[-1, 1]`` to
            feature vectors ``(N, D_i)`` (`kgen.networks.image_encoder`).
        text_encoder: a Keras model from token ids ``(N, L)`` to ``(tokens, pooled)``
            (`kgen.networks.TextEncoder`) or to pooled vectors ``(N, D_t)``.
        tokenizer: the `kgen.networks.Tokenizer` whose ids the text encoder takes (with
            a vocabulary).
        embed_dim: the size of the shared embedding.
        temperature: the initial temperature (``s = 1 / temperature``; 0.07 in the paper).
        max_scale: the largest scale ``s`` (100 in the paper).
        seed: seed of the caption draws.

    Example (train with ``clip.compile()`` and ``clip.fit(x, captions, epochs=...)``; the
    recipe ``recipes/clip_captioned_digits.py`` trains on the bundled scenes):

    ```python
    import kgen

    x, captions = kgen.data.load("captioned_digits", split="test", num_samples=8,
                                 return_captions=True)
    clip = kgen.models.CLIP.from_shape(x.shape[1:], captions, embed_dim=8, width=8,
                                       num_layers=1, num_heads=2, base_filters=4)
    clip.tokenizer.detokenize(clip.tokenize(captions[:1, 1]))   # ['green 4 centre black ...']
    clip.zero_shot(x[:2], ["a photo of the digit three", "a photo of the digit seven"])
    ```

    References:
        Radford et al., "Learning Transferable Visual Models From Natural Language
        Supervision", ICML 2021.
    """

    optimizer_names = ("model",)
    log_names = ("loss", "accuracy", "scale")
    network_names = ("image_encoder", "text_encoder")

    def __init__(self, image_encoder, text_encoder, tokenizer, embed_dim=64, temperature=0.07,
                 max_scale=100.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(f"tokenizer must be a kgen.networks.Tokenizer; got "
                            f"{type(tokenizer).__name__}.")
        tokenizer.get_vocabulary()   # a ValueError if it has none
        self.embed_dim = checks.integer(embed_dim, "embed_dim", 1)
        self.temperature = checks.number(temperature, "temperature", 0.0,
                                         exclusive_minimum=True)
        self.max_scale = checks.number(max_scale, "max_scale", 1.0)
        if 1.0 / self.temperature > self.max_scale:
            raise ValueError(f"The initial scale 1 / temperature = {1 / self.temperature:g} "
                             f"is above max_scale = {self.max_scale:g}.")
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.image_shape = checks.network_input_shapes(image_encoder, "image encoder")
        if not isinstance(self.image_shape, tuple) or len(self.image_shape) != 3:
            raise ValueError(f"The image encoder must take images (N, H, W, C); it takes "
                             f"{self.image_shape}.")
        image_features = checks.network_output_shape(image_encoder, self.image_shape,
                                                      "image encoder")
        if len(image_features) != 1:
            raise ValueError(f"The image encoder must output vectors (N, D); it outputs "
                             f"(N,) + {tuple(image_features)}.")
        text_features = checks.network_output_shape(
            text_encoder, (tokenizer.context_length,), "text encoder")
        if isinstance(text_features, list):   # (tokens, pooled)
            text_features = text_features[-1]
        if len(text_features) != 1:
            raise ValueError(f"The text encoder must output (tokens, pooled) or pooled "
                             f"vectors (N, D); its pooled output has shape (N,) + "
                             f"{tuple(text_features)}.")
        self.image_projection = keras.layers.Dense(self.embed_dim, use_bias=False,
                                                   name="image_projection")
        self.image_projection.build((None, int(image_features[0])))
        self.text_projection = keras.layers.Dense(self.embed_dim, use_bias=False,
                                                  name="text_projection")
        self.text_projection.build((None, int(text_features[0])))
        self.logit_scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(math.log(1.0 / self.temperature)),
            name="logit_scale")
        self._ensure_built()

    @classmethod
    def from_shape(cls, shape, captions=None, *, tokenizer=None, embed_dim=64, width=64,
                   num_layers=2, num_heads=4, base_filters=32, context_length=None,
                   max_words=None, **kwargs):
        """A CLIP with default encoders for images of ``shape`` and a tokenizer of ``captions``.

        The image encoder is `kgen.networks.image_encoder` (a CNN whose flattened last
        map keeps the layout); the text encoder a causal `kgen.networks.TextEncoder`
        pooled at the end token.

        Args:
            shape: ``(height, width, channels)`` of the images.
            captions: the training captions (strings, any shape; ``""`` entries are
                skipped): the tokenizer's vocabulary and, by default, its context (the
                longest caption's words plus one). Not needed with ``tokenizer``.
            tokenizer: a `kgen.networks.Tokenizer` to use instead.
            embed_dim: the size of the shared embedding.
            width: the size of both encoders' features and of the text's token vectors.
            num_layers: the text encoder's transformer blocks.
            num_heads: their attention heads (``width`` a multiple of it).
            base_filters: filters of the image encoder's first stage.
            context_length: the tokenizer's context (None: from the captions).
            max_words: the most words in the vocabulary (None: every word).
            **kwargs: constructor arguments (``temperature``, ``max_scale``, ``seed``).

        Raises:
            ValueError: neither ``captions`` nor ``tokenizer``, or a caption longer than
                ``context_length``.

        Example:

        ```python
        import kgen

        clip = kgen.models.CLIP.from_shape((8, 8, 1), ["a dark square", "a light one"],
                                           embed_dim=8, width=8, num_layers=1,
                                           num_heads=2, base_filters=4)
        clip.tokenizer.context_length   # 4
        ```
        """
        if tokenizer is None:
            if captions is None:
                raise ValueError("CLIP.from_shape needs the training captions (captions=) to "
                                 "build its tokenizer's vocabulary, or a tokenizer=.")
            texts = _texts(captions, "captions").reshape(-1)
            texts = [t for t in texts if t != ""]
            if not texts:
                raise ValueError("The captions are all empty strings.")
            tokenizer = Tokenizer.adapted(texts, context_length=context_length,
                                          max_words=max_words)
        image = networks.image_encoder(tuple(shape), width=width, base_filters=base_filters)
        text = networks.text_encoder(tokenizer.vocabulary_size, tokenizer.context_length,
                                     width=width, num_layers=num_layers, num_heads=num_heads)
        return cls(image, text, tokenizer, embed_dim=embed_dim, **kwargs)

    # ----------------------------------------------------------------- the math
    @staticmethod
    def _pooled(output):
        return output[-1] if isinstance(output, (list, tuple)) else output

    def embed_images(self, images, training=False):
        """Unit image embeddings ``(N, embed_dim)`` of images in ``[-1, 1]`` (tensors)."""
        return _unit(self.image_projection(self.image_encoder(images, training=training)))

    def embed_text(self, ids, training=False):
        """Unit text embeddings ``(N, embed_dim)`` of token ids ``(N, L)`` (tensors)."""
        pooled = self._pooled(self.text_encoder(ids, training=training))
        return _unit(self.text_projection(pooled))

    def scale(self):
        """The logit scale ``s = exp(t)``, at most ``max_scale`` (a scalar tensor)."""
        return ops.exp(ops.minimum(ops.cast(self.logit_scale, "float32"),
                                   math.log(self.max_scale)))

    def call(self, inputs, training=False):
        """The logits ``s * cos(image_i, text_j)`` of ``(images, token_ids)``."""
        images, ids = inputs
        image = self.embed_images(images, training)
        text = self.embed_text(self.choose_captions(ids, training=False), training)
        return self.scale() * ops.matmul(image, ops.transpose(text))

    def choose_captions(self, ids, training=True):
        """One caption's ids ``(N, L)`` of each image of ids ``(N, T, L)``.

        In training, a caption drawn uniformly among each image's captions (the rows
        that are not all zero), with the model's seed generator; else the first.
        Ids ``(N, L)`` are returned as they are.
        """
        return choose_captions(ids, self.seed_generator, training, model="CLIP")

    def contrastive_loss(self, x, y, training=True):
        """The contrastive loss of images ``x`` and captions ``y`` (token ids), and its logs.

        Under ``tf.distribute`` the embeddings of every replica are gathered, so the loss
        is that of the global batch, as on one device.
        """
        if y is None:
            raise ValueError("CLIP trains on (images, captions) pairs: pass the captions as "
                             "y (fit(images, captions)), or a dataset of (images, token ids).")
        ids = self.choose_captions(y, training)
        image = backend.gather_batch(self.embed_images(x, training))
        text = backend.gather_batch(self.embed_text(ids, training))
        scale = self.scale()
        logits = scale * ops.matmul(image, ops.transpose(text))
        loss = clip_loss(logits)
        count = ops.shape(logits)[0]
        hits = ops.equal(ops.argmax(logits, axis=1), ops.arange(count))
        accuracy = ops.mean(ops.cast(hits, "float32"))
        return loss, {"loss": loss, "accuracy": accuracy, "scale": scale}

    def training_updates(self):
        return [Update("model", self.contrastive_loss, self.trainable_variables)]

    def after_updates(self, x, y):
        """Clips the logit scale at ``log(max_scale)``, as in the paper."""
        self.logit_scale.assign(ops.minimum(self.logit_scale, math.log(self.max_scale)))

    # ----------------------------------------------------------------- fit
    def _inputs(self, x, y):
        """String captions as token ids (images are checked and converted as every
        family's are); captions missing and datasets of strings refused."""
        spec = getattr(x, "element_spec", None)
        if spec is not None and any(getattr(getattr(s, "dtype", None), "name", "") == "string"
                                    for s in keras.tree.flatten(spec)):
            raise TypeError(
                "CLIP trains on token ids: this dataset yields strings. Tokenize the captions "
                "first: kgen.data.tokenized(source, clip.tokenizer) for a data source, or "
                "kgen.data.captioned.caption_tokens(captions, clip.tokenizer).")
        if y is None and hasattr(x, "shape") and hasattr(x, "dtype"):
            raise ValueError(
                "CLIP trains on (images, captions) pairs: pass the captions as y "
                "(fit(images, captions)), or a dataset of (images, token ids).")
        if y is not None and _is_strings(y):
            y = captioned.caption_tokens(y, self.tokenizer)
        return x, y

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        """`keras.Model.fit`, with captions given as strings tokenized first.

        ``x``: images (numpy uint8, or floats in ``[-1, 1]``) or a dataset of
        ``(images, token_ids)``; ``y``: the captions (see the class description).
        ``validation_data`` may be ``(images, captions)`` the same way.
        """
        x, y = self._inputs(x, y)
        if isinstance(validation_data, (tuple, list)) and len(validation_data) >= 2:
            validation_data = (*self._inputs(*validation_data[:2]), *validation_data[2:])
        elif validation_data is not None:
            self._inputs(validation_data, None)
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.evaluate`, with captions given as strings tokenized first."""
        x, y = self._inputs(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    # ----------------------------------------------------------------- using it
    def tokenize(self, texts):
        """Token ids ``texts.shape + (context_length,)`` of strings (`Tokenizer`)."""
        return self.tokenizer(texts)

    def _compiled(self, name, function, variables):
        functions = _FUNCTIONS.setdefault(self, {})
        if name not in functions:
            functions[name] = backend.compile_function(function, variables)
        return functions[name]

    @staticmethod
    def _in_batches(function, array, batch_size):
        batch_size = max(1, min(checks.integer(batch_size, "batch_size", 1), len(array)))
        out = []
        for start in range(0, len(array), batch_size):
            chunk = array[start:start + batch_size]
            result = function(_pad(chunk, batch_size))
            out.append(np.asarray(keras.ops.convert_to_numpy(result))[:len(chunk)])
        return np.concatenate(out).astype(np.float32)

    def encode_images(self, images, batch_size=256):
        """Unit embeddings of images: float32 ``(N, embed_dim)``.

        Args:
            images: ``(N, H, W, C)`` (or one image ``(H, W, C)``), uint8 or floats in
                ``[-1, 1]``, of the model's image shape.
            batch_size: images per call of the compiled encoder.

        Raises:
            ValueError: images of another shape.

        Example:

        ```python
        import kgen

        clip = kgen.models.CLIP.from_shape((8, 8, 1), ["a dark square", "a light one"],
                                           embed_dim=8, width=8, num_layers=1,
                                           num_heads=2, base_filters=4)
        clip.encode_images(kgen.data.load("digits")[:3]).shape   # (3, 8)
        ```
        """
        x = checks.data_space_images(images, self.image_shape, "images", "CLIP")
        variables = self.image_encoder.variables + self.image_projection.variables
        function = self._compiled("images", lambda t: self.embed_images(t), variables)
        return self._in_batches(function, x, batch_size)

    def _prompts(self, texts, name):
        array = _texts(texts, name)
        if array.ndim != 1:
            raise ValueError(f"{name} must be a list of strings; got an array of shape "
                             f"{array.shape}.")
        if len(array) == 0:
            raise ValueError(f"No {name}: pass at least one string.")
        return array

    def encode_text(self, texts, batch_size=256):
        """Unit embeddings of texts: float32 ``(N, embed_dim)``.

        Args:
            texts: a list (or 1-D array) of strings.
            batch_size: texts per call of the compiled encoder.

        Raises:
            TypeError: a single string, or values that are not strings.
            ValueError: no texts, or a text longer than the tokenizer's context.

        Example:

        ```python
        import kgen

        clip = kgen.models.CLIP.from_shape((8, 8, 1), ["a dark square", "a light one"],
                                           embed_dim=8, width=8, num_layers=1,
                                           num_heads=2, base_filters=4)
        clip.encode_text(["a dark one", "a square"]).shape   # (2, 8)
        ```
        """
        ids = self.tokenize(self._prompts(texts, "texts"))
        variables = self.text_encoder.variables + self.text_projection.variables
        function = self._compiled("text", lambda t: self.embed_text(t), variables)
        return self._in_batches(function, ids, batch_size)

    def similarity(self, images, texts, batch_size=256):
        """Cosine similarities ``(N_images, N_texts)`` of images and texts, in ``[-1, 1]``.

        Example:

        ```python
        import kgen

        clip = kgen.models.CLIP.from_shape((8, 8, 1), ["a dark square", "a light one"],
                                           embed_dim=8, width=8, num_layers=1,
                                           num_heads=2, base_filters=4)
        clip.similarity(kgen.data.load("digits")[:3], ["a dark square"]).shape   # (3, 1)
        ```
        """
        texts = self.encode_text(texts, batch_size)
        return self.encode_images(images, batch_size) @ texts.T

    def zero_shot(self, images, prompts, batch_size=256):
        """The probability of each prompt for each image: ``softmax(s * cos)`` over prompts.

        Classifies images without training a classifier: one prompt per class (``"a
        photo of the digit three"``), the class of the most probable prompt.

        Args:
            images: ``(N, H, W, C)``, uint8 or floats in ``[-1, 1]``.
            prompts: a list of strings.
            batch_size: images or texts per compiled call.

        Returns:
            float32 ``(N, len(prompts))``, rows summing to one.

        Raises:
            TypeError: prompts that are not a list of strings.
            ValueError: no prompts, or a prompt longer than the tokenizer's context.

        Example:

        ```python
        import kgen

        clip = kgen.models.CLIP.from_shape((8, 8, 1), ["a dark square", "a light one"],
                                           embed_dim=8, width=8, num_layers=1,
                                           num_heads=2, base_filters=4)
        clip.zero_shot(kgen.data.load("digits")[:3], ["dark", "light"]).argmax(axis=1)
        ```
        """
        prompts = self._prompts(prompts, "prompts")
        logits = float(keras.ops.convert_to_numpy(self.scale())) * \
            self.similarity(images, prompts, batch_size)
        logits = logits - logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)

    # ----------------------------------------------------------------- no sampling
    def generate(self, num_samples=None, *, seed=None, **conditions):
        """CLIP draws no samples: always raises `NotImplementedError`."""
        raise NotImplementedError(
            "CLIP is a dual encoder: it scores images against texts and draws no samples. "
            "Use encode_images, encode_text, similarity or zero_shot; for images from "
            "text, train a text-conditioned generative model.")

    def serving_functions(self):
        """CLIP has no sampler to export: always raises `NotImplementedError`."""
        raise NotImplementedError(
            "CLIP draws no samples, so it has no generator to export. Save it with "
            "model.save('clip.keras'); its encoders are clip.image_encoder and "
            "clip.text_encoder.")

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(tokenizer=keras.saving.serialize_keras_object(self.tokenizer),
                      embed_dim=self.embed_dim, temperature=self.temperature,
                      max_scale=self.max_scale)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)
        for name in cls.network_names + ("tokenizer",):
            config[name] = keras.saving.deserialize_keras_object(
                config[name], custom_objects=custom_objects)
        return cls(**config)


__all__ = ["CLIP", "clip_loss"]


def _build(data, **options):
    captions = getattr(data, "captions", None)
    return CLIP.from_shape(data.shape, captions, **options)


#: The options of `CLIP.from_shape` on the command line.
CLIP_OPTIONS = (
    registry.Option("embed_dim", int, "size of the shared embedding", default=64),
    registry.Option("width", int, "width of both encoders", default=64),
    registry.Option("num_layers", int, "transformer blocks of the text encoder", default=2),
    registry.Option("num_heads", int, "attention heads of the text encoder", default=4),
    registry.Option("base_filters", int, "filters of the image encoder's first stage",
                    default=32),
    registry.Option("context_length", int, "tokens per caption (default: the longest "
                    "training caption's words plus one)"),
)

registry.register(registry.Family(
    name="clip",
    model_class=CLIP,
    summary="CLIP: image and text encoders trained with a contrastive loss; zero-shot "
            "classification (draws no samples)",
    data="captioned",
    options=CLIP_OPTIONS,
    build=_build,
    default_data="captioned_digits",
    default_epochs=30,
    tiny={"embed_dim": 16, "width": 16, "num_layers": 1, "num_heads": 2,
          "base_filters": 4},
    metrics=(),
    seeded=False,
    generates=False,
))
