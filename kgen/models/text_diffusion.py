"""Text-conditioned diffusion, in pixel space or in the latent space of a trained autoencoder
(Rombach et al. 2022), with classifier-free guidance (Ho & Salimans 2022)."""

import copy
import dataclasses
import math
import os

import keras
import numpy as np
from keras import ops

from kgen import backend, checks
from kgen.data import captioned
from kgen.models import registry
from kgen.models.autoencoder import Autoencoder
from kgen.models.base import GenerativeModel, Update
from kgen.models.captions import choose_captions
from kgen.models.conditional_vae import ConditionalVAE
from kgen.models.diffusion import EXPORT_OPTIONS, PROCESS_OPTIONS, Diffusion
from kgen.models.ema import ExponentialMovingAverage
from kgen.models.serving import ServingFunctions, ServingInput, TextInput
from kgen.models.vae import VAE
from kgen.models.vqvae import VQVAE
from kgen.networks.text_encoder import Tokenizer, _texts
from kgen.precision import float32

#: The kinds of trained autoencoder whose latent space a `TextDiffusion` can run in.
AUTOENCODERS = (VAE, Autoencoder, VQVAE)

#: The most images `fit_latent_scale` encodes to measure the latents' spread.
_SCALE_SAMPLES = 2048


@keras.saving.register_keras_serializable(package="kgen")
class TextDiffusion(Diffusion):
    """A diffusion model conditioned on text: ``generate(prompt="a red seven on blue")``.

    A `kgen.models.Diffusion` whose network is conditioned on a caption instead of a class:
    the caption is tokenized (`kgen.networks.Tokenizer`, part of the model), a text
    encoder (`kgen.networks.TextEncoder`) turns the ids into token vectors, and every
    attention block of the U-Net (`kgen.networks.diffusion_unet` with ``context_dim``)
    attends to them through cross-attention, the padding masked out (`from_shape` also
    adds their mean to the timestep embedding, ``pooled_context``). The text encoder is
    trained jointly with the U-Net (and averaged with it, ``ema``), or is a trained
    one kept frozen (``train_text_encoder=False``, such as a trained
    `kgen.models.CLIP`'s: `from_shape(..., clip=...)`).

    **Guidance.** In training, a share ``caption_dropout`` of the captions is replaced
    by the empty text, so the same network is also the unconditional model: its
    prediction for the empty prompt. `generate` then uses classifier-free guidance,
    ``eps = eps_uncond + w * (eps_cond - eps_uncond)``: ``w = 0`` is the unconditional
    model, ``w = 1`` (the default) the conditional one, ``w > 1`` follows the prompt
    more closely at the cost of diversity. A ``negative_prompt`` takes the place of the
    empty text in the unconditional branch, so guidance also moves away from it.

    **Latent space.** With an ``autoencoder`` (a trained kgen `kgen.models.VAE`,
    `kgen.models.Autoencoder` or `kgen.models.VQVAE` / `kgen.models.VQGAN`, kept frozen),
    the chain runs on its latents, as in latent diffusion: a training batch is encoded
    (a VAE's latent drawn from ``q(z|x)``, an autoencoder's code, a VQ-VAE's encoder
    output before quantisation), multiplied by ``latent_scale`` (so the latents have
    unit variance; measured by `fit_latent_scale` from the training images when
    ``fit()`` starts, and stored in the config) and reshaped to ``latent_shape``; a
    sampled latent is divided by ``latent_scale`` and decoded (a VQ-VAE's first replaced
    by its nearest codebook vectors, the quantisation as part of the decoder, as in
    Rombach et al.'s VQ-regularised models). A VQ-VAE's latents keep their grid ``(h, w,
    embedding_dim)``, so the U-Net works on a small image of the scene instead of pixels:
    `latent_shape_of` gives the grid of any autoencoder. The samplers do not clip the
    predicted latents to ``[-1, 1]`` as they do images (`clips_denoised`). Without an
    autoencoder, the chain runs on the pixels.

    **Data.** ``fit(images, captions)``: images (uint8, or floats in ``[-1, 1]``) and
    their captions as strings ``(N,)`` or a table ``(N, T)`` of several captions per
    image (``""`` for a missing one; a step uses one caption per image, drawn at
    random), or token ids of the model's tokenizer ``(N, L)`` or ``(N, T, L)``. A
    dataset must yield token ids: `kgen.data.tokenized` makes a captioned source do so.

    Logs: ``loss`` (the mean squared error of the prediction).

    Args:
        network: a Keras model from ``[x_t, t, context (L, D), context_mask (L,)]`` to a
            prediction of the shape of ``x_t`` (`kgen.networks.diffusion_unet` with
            ``context_dim=D``).
        text_encoder: a Keras model from token ids ``(N, L)`` to ``(tokens (N, L, D),
            pooled)`` (`kgen.networks.TextEncoder`).
        tokenizer: the `kgen.networks.Tokenizer` of the text encoder's ids.
        autoencoder: a trained `kgen.models.VAE`, `kgen.models.Autoencoder` or
            `kgen.models.VQVAE` (`kgen.models.VQGAN`) whose latents the chain runs on, or
            None (pixel space).
        latent_shape: the shape ``(h, w, c)`` of the latents (`latent_shape_of` the
            autoencoder); None: the network's input.
        latent_scale: the factor of the latents (None: measured when ``fit()`` starts).
        caption_dropout: share of the training captions replaced by the empty text.
        train_text_encoder: train the text encoder with the U-Net (True), or keep it
            frozen (False: the encoder is set ``trainable=False``, so a CLIP whose text
            encoder is shared sees it frozen too).
        **kwargs: `kgen.models.Diffusion` arguments (``timesteps``, ``schedule``,
            ``prediction``: ``"v"`` by default here, ``loss_weighting``, ``ema``, ``ema_warmup``,
            ``timestep_input``, ``seed``, ``name``); not ``num_classes``.

    Example:

    ```python
    import kgen

    x, captions = kgen.data.load("captioned_digits", split="test", num_samples=16,
                                 return_captions=True)
    x = x[:, ::4, ::4]                     # 8x8 scenes, for a quick example
    model = kgen.models.TextDiffusion.from_shape(
        x.shape[1:], captions, timesteps=20, schedule="cosine", base_filters=4,
        channel_multipliers=(1,), num_res_blocks=1, groups=2, width=8, num_layers=1,
        num_heads=2)
    model.compile()
    model.fit(x, captions, batch_size=16, epochs=1, verbose=0)
    images = model.generate(2, prompt="a red seven", guidance_scale=3.0, seed=0, steps=4)
    ```

    References:
        Rombach, Blattmann, Lorenz, Esser & Ommer, "High-Resolution Image Synthesis with
        Latent Diffusion Models", CVPR 2022.
        Ho & Salimans, "Classifier-Free Diffusion Guidance", NeurIPS 2021 workshop.
        Saharia et al., "Photorealistic Text-to-Image Diffusion Models with Deep Language
        Understanding", NeurIPS 2022.
    """

    network_names = ("network", "text_encoder")

    def __init__(self, network, text_encoder, tokenizer, autoencoder=None, latent_shape=None,
                 latent_scale=None, caption_dropout=0.1, train_text_encoder=True, **kwargs):
        if kwargs.pop("num_classes", None) is not None:
            raise ValueError("TextDiffusion is conditioned on captions, not classes: "
                             "num_classes is for kgen.models.Diffusion.")
        if "label_dropout" in kwargs:
            raise ValueError("label_dropout is for class labels: the captions' share "
                             "replaced by the empty text is caption_dropout.")
        # v prediction by default: with noise prediction, the colour of a scene's background,
        # decided at the noisiest steps, stayed at chance (docs: "Results").
        kwargs.setdefault("prediction", "v")
        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(f"tokenizer must be a kgen.networks.Tokenizer; got "
                            f"{type(tokenizer).__name__}.")
        tokenizer.get_vocabulary()   # a ValueError if it has none
        if not isinstance(text_encoder, keras.layers.Layer):
            raise TypeError(f"text_encoder must be a Keras model; got "
                            f"{type(text_encoder).__name__}.")
        if autoencoder is not None and (not isinstance(autoencoder, AUTOENCODERS)
                                        or isinstance(autoencoder, ConditionalVAE)):
            raise TypeError(f"autoencoder must be a trained kgen.models.VAE, "
                            f"kgen.models.Autoencoder (unconditional) or kgen.models.VQVAE; "
                            f"got {type(autoencoder).__name__}.")
        if not isinstance(train_text_encoder, bool):
            raise TypeError(f"train_text_encoder must be True or False; got "
                            f"{train_text_encoder!r}.")
        super().__init__(network, num_classes=None, **kwargs)
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.autoencoder = autoencoder
        self.caption_dropout = checks.number(caption_dropout, "caption_dropout", 0.0, 1.0,
                                             exclusive_maximum=True)
        self.train_text_encoder = train_text_encoder
        if not train_text_encoder:
            text_encoder.trainable = False
        self.context_dim = self._check_text_encoder()
        self.latent_shape = self._check_latents(latent_shape)
        self.latent_scale = None if latent_scale is None else checks.number(
            latent_scale, "latent_scale", 0.0, exclusive_minimum=True)
        #: The token ids of the empty text: the unconditional branch.
        self.empty_ids = np.asarray(tokenizer([""]), "int32")
        self._text_average = None
        self.ema_text_encoder = None
        if self.ema is not None and train_text_encoder:
            self._text_average = ExponentialMovingAverage(text_encoder, self.ema)
            self.ema_text_encoder = self._text_average.average
        self._ensure_built()

    # ---------------------------------------------------------------- set-up
    def _check_network(self):
        inputs = getattr(self.network, "inputs", None)
        if not inputs or len(inputs) != 4:
            raise ValueError(
                f"The network of a TextDiffusion model must be a built Keras model with 4 "
                f"inputs [x_t, t, context, context_mask]; got "
                f"{0 if not inputs else len(inputs)} input(s). Build it with "
                "kgen.networks.diffusion_unet(shape, context_dim=...) (the text encoder's "
                "width).")
        return self._network_shapes(inputs)

    def _check_text_encoder(self):
        length = self.tokenizer.context_length
        outputs = self.text_encoder.compute_output_spec(
            keras.KerasTensor((None, length), "int32"))
        if not isinstance(outputs, (list, tuple)) or len(outputs[0].shape) != 3:
            raise ValueError(
                "The text encoder must return (tokens (N, L, D), pooled) for token ids "
                f"(N, {length}), as kgen.networks.TextEncoder does.")
        width = int(outputs[0].shape[-1])
        context = self.network.inputs[2].shape[-1]
        if context != width:
            raise ValueError(f"The network takes context vectors of size {context}; the text "
                             f"encoder's token vectors have size {width}.")
        return width

    def _check_latents(self, latent_shape):
        if self.autoencoder is None:
            if latent_shape is not None:
                raise ValueError("latent_shape is for a model in an autoencoder's latent "
                                 "space: pass autoencoder= too.")
            return None
        latent_shape = tuple(self.sample_shape if latent_shape is None else latent_shape)
        if latent_shape != self.sample_shape:
            raise ValueError(f"latent_shape {latent_shape} must be the network's input "
                             f"shape {self.sample_shape}.")
        if isinstance(self.autoencoder, VQVAE):
            grid = latent_shape_of(self.autoencoder)
            if latent_shape != grid:
                raise ValueError(
                    f"The VQ-VAE's encoder outputs latents of shape {grid}; the network's "
                    f"input is {latent_shape}. Build the network for latent_shape_of(vqvae) = "
                    f"{grid}.")
            return latent_shape
        dim = self.autoencoder.latent_dim
        if int(np.prod(latent_shape)) != dim:
            raise ValueError(
                f"The autoencoder's latents have {dim} values; the network's input "
                f"{latent_shape} holds {int(np.prod(latent_shape))}. Build the network for "
                f"latent_grid({dim}) = {latent_grid(dim)}.")
        return latent_shape

    def _networks(self):
        names = self.network_names + (("autoencoder",) if getattr(self, "autoencoder", None)
                                      is not None else ())
        return [getattr(self, name) for name in names if getattr(self, name, None)
                is not None]

    @property
    def clips_denoised(self):
        """Whether a sampler left to decide clips the predicted clean data to ``[-1, 1]``:
        on pixels, yes; in an autoencoder's latent space, no (the latents are scaled to
        unit variance: about a third of them lie beyond 1)."""
        return self.autoencoder is None

    @property
    def image_shape(self):
        """The shape of the images the model makes (the autoencoder's, in latent space)."""
        if self.autoencoder is None:
            return self.sample_shape
        return tuple(checks.first_input_shape(self.autoencoder.encoder)[1:])

    def data_shapes(self):
        return self.image_shape, None

    @classmethod
    def from_shape(cls, shape, captions=None, *, tokenizer=None, text_encoder=None, clip=None,
                   autoencoder=None, width=64, num_layers=2, num_heads=4, context_length=None,
                   max_words=None, base_filters=None, channel_multipliers=(1, 2, 2),
                   num_res_blocks=2, attention_resolutions=None, dropout=0.0, groups=8,
                   pooled_context=True, **kwargs):
        """A text-conditioned diffusion model with a default U-Net and text encoder.

        Args:
            shape: ``(height, width, channels)`` of the images.
            captions: the training captions (strings, any shape; ``""`` entries are
                skipped), for the tokenizer's vocabulary and, by default, its context
                (the longest caption's words plus one). Not needed with ``tokenizer``
                or ``clip``.
            tokenizer: a `kgen.networks.Tokenizer` to use instead.
            text_encoder: a trained text encoder to keep frozen (with its
                ``tokenizer``), instead of a new one trained with the U-Net.
            clip: a trained `kgen.models.CLIP` whose tokenizer and text encoder (frozen)
                the model uses.
            autoencoder: a trained `kgen.models.VAE`, `kgen.models.Autoencoder` or
                `kgen.models.VQVAE`: the model runs in its latent space (the U-Net is
                built for the grid `latent_shape_of` gives: a VQ-VAE's encoder grid, or
                `latent_grid` of a VAE's ``latent_dim``).
            width, num_layers, num_heads: the new text encoder's token size,
                transformer blocks and attention heads; ``num_heads`` is also the number
                of heads of the U-Net's cross-attention when it divides the U-Net's
                channels (``base_filters``), else the cross-attention has one head.
            context_length: the tokenizer's context (None: from the captions).
            max_words: the most words in the vocabulary (None: every word).
            base_filters, channel_multipliers, num_res_blocks, attention_resolutions,
                dropout, groups: the U-Net's (`kgen.models.Diffusion.from_shape`).
            pooled_context: also add the mean of the text's token vectors to the
                U-Net's timestep embedding (`kgen.networks.diffusion_unet`), so the
                whole caption reaches every residual block (GLIDE, Imagen); False: the
                text enters through cross-attention only.
            **kwargs: constructor arguments (``timesteps``, ``schedule``, ``prediction``,
                ``caption_dropout``, ``ema``, ``seed``...).

        Example:

        ```python
        import kgen

        model = kgen.models.TextDiffusion.from_shape(
            (8, 8, 1), ["a dark square", "a light one"], timesteps=10, schedule="cosine",
            base_filters=4, channel_multipliers=(1,), num_res_blocks=1, groups=2, width=8,
            num_layers=1, num_heads=2)
        model.tokenizer.context_length   # 4
        ```
        """
        from kgen.networks import text_encoder as make_text_encoder
        from kgen.networks.diffusion_unet import diffusion_unet

        shape = tuple(int(s) for s in shape)
        if len(shape) != 3:
            raise ValueError(f"TextDiffusion.from_shape takes an image shape (height, width, "
                             f"channels); got {shape}.")
        train = kwargs.pop("train_text_encoder", None)
        if clip is not None:
            if tokenizer is not None or text_encoder is not None:
                raise ValueError("Pass clip= or tokenizer=/text_encoder=, not both.")
            tokenizer, text_encoder = clip.tokenizer, clip.text_encoder
        if text_encoder is not None:
            if tokenizer is None:
                raise ValueError("A trained text_encoder= needs the tokenizer= of its ids.")
            train = False if train is None else train
        if tokenizer is None:
            if captions is None:
                raise ValueError("TextDiffusion.from_shape needs the training captions "
                                 "(captions=) to build its tokenizer's vocabulary, or a "
                                 "tokenizer=, or a trained clip=.")
            texts = [t for t in _texts(captions, "captions").reshape(-1) if t != ""]
            if not texts:
                raise ValueError("The captions are all empty strings.")
            tokenizer = Tokenizer.adapted(texts, context_length=context_length,
                                          max_words=max_words)
        if text_encoder is None:
            text_encoder = make_text_encoder(tokenizer.vocabulary_size,
                                             tokenizer.context_length, width=width,
                                             num_layers=num_layers, num_heads=num_heads,
                                             seed=kwargs.get("seed"))
        sample_shape = shape
        if autoencoder is not None:
            sample_shape = latent_shape_of(autoencoder)
        base_filters = checks.optional_integer(base_filters, "base_filters", 1)
        filters = base_filters or (32 if max(sample_shape[:2]) <= 16 else 64)
        context_dim = int(text_encoder.compute_output_spec(
            keras.KerasTensor((None, tokenizer.context_length), "int32"))[0].shape[-1])
        heads = num_heads if filters % num_heads == 0 else 1
        network = diffusion_unet(sample_shape, base_filters=filters,
                                 channel_multipliers=channel_multipliers,
                                 num_res_blocks=num_res_blocks,
                                 attention_resolutions=attention_resolutions, dropout=dropout,
                                 groups=groups, context_dim=context_dim, num_heads=heads,
                                 pooled_context=pooled_context)
        if train is not None:
            kwargs["train_text_encoder"] = train
        return cls(network, text_encoder, tokenizer, autoencoder=autoencoder, **kwargs)

    # ------------------------------------------------------------- the text
    @property
    def sampling_text_encoder(self):
        """The text encoder `generate()` runs: its moving average when it is trained and
        ``ema`` is on, else the text encoder."""
        return self.text_encoder if self.ema_text_encoder is None else self.ema_text_encoder

    def tokenize(self, texts):
        """Token ids ``texts.shape + (context_length,)`` of strings (the model's tokenizer)."""
        return self.tokenizer(texts)

    def encode_text(self, ids, training=False, encoder=None):
        """``(context, context_mask)`` of token ids ``(N, L)``: the text encoder's token
        vectors ``(N, L, D)`` (float32) and int32 ``ids != 0`` (the padding masked out)."""
        encoder = self.text_encoder if encoder is None else encoder
        ids = ops.cast(ops.convert_to_tensor(ids), "int32")
        tokens = encoder(ids, training=training)[0]
        return float32(tokens), ops.cast(ops.not_equal(ids, 0), "int32")

    def denoise(self, x_t, t, labels=None, guidance_scale=None, training=False, network=None):
        """The network's output for ``x_t`` at timesteps ``t``, conditioned on encoded text.

        Args:
            x_t: noisy data ``(n, ...)``; t: timesteps ``(n,)``.
            labels: the text condition ``(conditional, unconditional)``, each a
                ``(context, context_mask)`` pair from `encode_text` (the unconditional
                one used with guidance only: the empty text's or a negative prompt's);
                None: the empty text (the unconditional model).
            guidance_scale: None, or ``w`` of ``out_uncond + w (out_cond - out_uncond)``.
            training: run the network in training mode.
            network: the network to run (default `sampling_network`).
        """
        selected = self.sampling_network if network is None else network
        x_t = ops.convert_to_tensor(x_t)
        t = self.network_timesteps(t)
        n = ops.shape(x_t)[0]
        if labels is None:
            empty = ops.tile(ops.convert_to_tensor(self.empty_ids), (n, 1))
            labels = (self.encode_text(empty, encoder=self.sampling_text_encoder), None)
        conditional, unconditional = labels

        def run(condition):
            return float32(selected([x_t, t, condition[0], condition[1]], training=training))

        out = run(conditional)
        if guidance_scale is None:
            return out
        if unconditional is None:
            raise ValueError("Guidance needs the unconditional branch's text.")
        base = run(unconditional)
        return base + ops.cast(guidance_scale, x_t.dtype) * (out - base)

    # ------------------------------------------------------------- training
    def training_data(self, x, training=True):
        """The batch in the space the chain runs in: the images, or their scaled latents."""
        if self.autoencoder is None:
            return x
        if self.latent_scale is None:
            raise ValueError(
                "The latent scale is not set: fit() measures it from the training images "
                "(numpy arrays or a dataset); or call model.fit_latent_scale(images), or "
                "pass latent_scale=.")
        z = self._latents(x, sample=True)
        return ops.reshape(z * self.latent_scale, (-1,) + self.latent_shape)

    def _latents(self, x, sample):
        """The frozen autoencoder's latents of images ``x`` (a draw of a VAE's posterior
        with ``sample``, else its mean; a VQ-VAE's encoder output before quantisation),
        unscaled, ``(n, latent_dim)`` or a VQ-VAE's ``(n, h, w, embedding_dim)``."""
        if isinstance(self.autoencoder, VAE):
            mean, log_var = self.autoencoder._posterior(x, training=False)
            mean, log_var = ops.stop_gradient(mean), ops.stop_gradient(log_var)
            if not sample:
                return mean
            eps = backend.batch_noise(lambda shape: keras.random.normal(
                shape, seed=self.seed_generator), ops.shape(mean))
            return mean + ops.exp(0.5 * log_var) * eps
        return ops.stop_gradient(float32(self.autoencoder.encoder(x, training=False)))

    def training_condition(self, x, y, training=True):
        """The encoded captions of a batch, a share ``caption_dropout`` replaced by the
        empty text (the unconditional branch)."""
        if y is None:
            raise ValueError("TextDiffusion trains on (images, captions): pass the captions "
                             "as y (fit(images, captions)), or a dataset of (images, token "
                             "ids).")
        ids = ops.cast(choose_captions(y, self.seed_generator, training,
                                       model="TextDiffusion"), "int32")
        if self.caption_dropout > 0:
            drop = backend.batch_noise(
                lambda shape: keras.random.uniform(shape, seed=self.seed_generator),
                (ops.shape(ids)[0],)) < self.caption_dropout
            ids = ops.where(ops.expand_dims(drop, 1), ops.convert_to_tensor(self.empty_ids),
                            ids)
        return self.encode_text(ids, training=training and self.train_text_encoder), None

    def _check_batch(self, x, y):
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"The model takes images of shape {self.image_shape}; got a batch of shape "
                f"{tuple(x.shape)}.")
        if y is None:
            self.training_condition(x, y)   # the error: captions are needed

    def training_updates(self):
        variables = list(self.network.trainable_variables)
        if self.train_text_encoder:
            variables += list(self.text_encoder.trainable_variables)
        return [Update("model", self.diffusion_loss, variables)]

    def after_updates(self, x, y):
        super().after_updates(x, y)
        if self._text_average is None:
            return
        decay = None
        if self.ema_warmup:
            step = ops.cast(self.optimizer.iterations, "float32")
            decay = ops.minimum(self.ema, (1.0 + step) / (10.0 + step))
        self._text_average.update(decay)

    def check_labels(self, labels, num_samples=None):
        """The prompt ids of a sampling call (`prompt_ids`), checked; class labels are
        refused: the model is conditioned on text (``prompt=``)."""
        ids = np.asarray(keras.ops.convert_to_numpy(labels))
        expected = (2, self.tokenizer.context_length)
        if ids.dtype.kind not in "iu" or ids.ndim != 3 or ids.shape[1:] != expected or (
                num_samples is not None and len(ids) != num_samples):
            raise ValueError("TextDiffusion is conditioned on text: pass prompt= (or "
                             "prompts=), not labels=.")
        return ids.astype("int32")

    def _caption_ids(self, y):
        """Captions given to ``fit()`` as token ids (strings tokenized; ids as they are)."""
        if y is None:
            return None
        if hasattr(y, "element_spec") or isinstance(y, keras.utils.PyDataset):
            return y
        array = np.asarray(y.numpy() if hasattr(y, "numpy") else y)
        if array.dtype.kind in "iu":
            if array.ndim not in (2, 3) or array.shape[-1] != self.tokenizer.context_length:
                raise ValueError(
                    f"Caption token ids must be (N, {self.tokenizer.context_length}) or (N, "
                    f"T, {self.tokenizer.context_length}); got shape {array.shape}.")
            return array.astype("int32")
        return captioned.caption_tokens(y, self.tokenizer)

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        """`keras.Model.fit` on ``(images, captions)``; captions given as strings are
        tokenized first, and in latent space the latent scale is measured first
        (`fit_latent_scale`) when it is not set.

        ``x``: images (numpy uint8, or floats in ``[-1, 1]``) or a dataset of ``(images,
        token_ids)``; ``y``: the captions (see the class description).
        """
        spec = getattr(x, "element_spec", None)
        if spec is not None and any(getattr(getattr(s, "dtype", None), "name", "") == "string"
                                    for s in keras.tree.flatten(spec)):
            raise TypeError(
                "TextDiffusion trains on token ids: this dataset yields strings. Tokenize "
                "the captions first: kgen.data.tokenized(source, model.tokenizer).")
        if isinstance(x, np.ndarray):
            if y is None:
                self.training_condition(x, None)
            y = self._caption_ids(y)
            if len(y) != len(x):
                raise ValueError(f"Got {len(x)} images and {len(y)} captions (rows).")
        if isinstance(validation_data, (tuple, list)) and len(validation_data) >= 2:
            validation_data = (validation_data[0], self._caption_ids(validation_data[1]),
                               *validation_data[2:])
        if self.autoencoder is not None and self.latent_scale is None:
            self.fit_latent_scale(x)
        return GenerativeModel.fit(self, x, y, *args, validation_data=validation_data,
                                   **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.evaluate` on ``(images, captions)``, the denoising loss at random
        timesteps; captions given as strings are tokenized first, as in `fit`."""
        if isinstance(x, np.ndarray):
            if y is None:
                self.training_condition(x, None)
            y = self._caption_ids(y)
            if len(y) != len(x):
                raise ValueError(f"Got {len(x)} images and {len(y)} captions (rows).")
        return super().evaluate(x, y, *args, **kwargs)

    def fit_latent_scale(self, images):
        """Sets ``latent_scale`` to one over the standard deviation of the latents of
        ``images`` (up to 2,048 of them), so the chain runs on latents of unit variance.

        Args:
            images: images (uint8, or floats in ``[-1, 1]``), or a dataset of ``(images,
                ...)`` batches (its first batches are read).

        Returns:
            The scale.
        """
        if self.autoencoder is None:
            raise ValueError("fit_latent_scale is for a model in an autoencoder's latent "
                             "space (autoencoder=).")
        if hasattr(images, "element_spec") or isinstance(images, keras.utils.PyDataset):
            parts, count = [], 0
            for batch in images:
                batch = batch[0] if isinstance(batch, (tuple, list)) else batch
                part = np.asarray(keras.ops.convert_to_numpy(batch))
                parts.append(part)
                count += len(part)
                if count >= _SCALE_SAMPLES:
                    break
            images = np.concatenate(parts)
        images = checks.to_data_space(np.asarray(images)[:_SCALE_SAMPLES], "images")
        if isinstance(self.autoencoder, VAE):
            latents = self.autoencoder.encode(images)[0]
        elif isinstance(self.autoencoder, VQVAE):     # before quantisation, as trained
            latents = self.autoencoder.encoder.predict(images, batch_size=256, verbose=0)
        else:
            latents = self.autoencoder.encode(images)
        std = float(np.std(latents))
        if not np.isfinite(std) or std <= 0:
            raise ValueError(f"The latents of the images have standard deviation {std}: "
                             "the autoencoder is not usable.")
        self.latent_scale = 1.0 / std
        return self.latent_scale

    # ------------------------------------------------------------- sampling
    def _sampling_variables(self):
        variables = list(self.sampling_network.variables)
        return variables + list(self.sampling_text_encoder.variables)

    def _predictor(self, network, labels, guidance_scale):
        """``predict(x, t)`` of a sampler's loop; ``labels`` are the prompt ids ``(n, 2,
        L)`` (the prompt's, then the unconditional branch's), encoded once per call."""
        encoder = self.sampling_text_encoder
        ids = ops.cast(ops.convert_to_tensor(labels), "int32")
        conditional = self.encode_text(ids[:, 0], encoder=encoder)
        unconditional = None
        if guidance_scale is not None:
            unconditional = self.encode_text(ids[:, 1], encoder=encoder)

        def predict(x, t):
            return self.model_predictions(x, t, (conditional, unconditional),
                                          guidance_scale, network=network)

        return predict

    def prompt_ids(self, num_samples=None, prompt=None, prompts=None, negative_prompt=None):
        """The token ids of a `generate` call's prompts: int32 ``(n, 2, L)``, the prompt's
        ids then the unconditional branch's (the empty text's, or the negative prompt's).

        Raises:
            TypeError: a prompt that is not a string, prompts that are not a list of
                strings.
            ValueError: an empty list, prompts and ``num_samples`` that disagree, both
                ``prompt`` and ``prompts``, or a prompt longer than the tokenizer's
                context.
        """
        if prompt is not None and prompts is not None:
            raise ValueError("Pass prompt= (one text for every sample) or prompts= (one per "
                             "sample), not both.")
        if prompt is not None:
            if not isinstance(prompt, str):
                raise TypeError(f"prompt must be a string; got {type(prompt).__name__}. For "
                                "one prompt per sample, pass prompts=[...].")
            texts = [prompt] * (1 if num_samples is None else num_samples)
        elif prompts is not None:
            texts = list(_texts(prompts, "prompts").reshape(-1))
            if np.ndim(np.asarray(prompts, dtype=object)) != 1:
                raise ValueError("prompts must be a flat list of strings, one per sample.")
            if not texts:
                raise ValueError("prompts is empty: pass at least one string.")
            if num_samples is not None and num_samples != len(texts):
                raise ValueError(f"Got {len(texts)} prompts for num_samples={num_samples}: "
                                 "give one prompt per sample, or leave num_samples out.")
        else:
            if num_samples is None:
                raise ValueError("Pass num_samples, or prompt=/prompts=, to generate().")
            texts = [""] * num_samples
        n = len(texts)
        if negative_prompt is None:
            negatives = [""] * n
        elif isinstance(negative_prompt, str):
            negatives = [negative_prompt] * n
        else:
            negatives = list(_texts(negative_prompt, "negative_prompt").reshape(-1))
            if len(negatives) != n:
                raise ValueError(f"Got {len(negatives)} negative prompts for {n} samples: "
                                 "give one string, or one per sample.")
        ids = self.tokenizer(np.asarray(texts + negatives, dtype=object))
        return np.stack([ids[:n], ids[n:]], axis=1).astype("int32")

    def _prompted(self, num_samples, prompt, prompts, negative_prompt, guidance_scale, images,
                  mask):
        """The prompt ids ``(n, 2, L)`` and the guidance scale of a sampling call, checked."""
        num_samples = checks.optional_integer(num_samples, "num_samples", minimum=1)
        guidance_scale = checks.optional_number(guidance_scale, "guidance_scale")
        if negative_prompt is not None and guidance_scale in (None, 1.0):
            raise ValueError("negative_prompt= acts through guidance (it replaces the "
                             "unconditional branch): pass guidance_scale= other than 1.")
        if images is not None or mask is not None:
            if self.autoencoder is not None:
                raise ValueError(
                    "Inpainting keeps known pixels, and this model samples the latents of "
                    "its autoencoder, not pixels: inpaint with a pixel-space TextDiffusion "
                    "(one built without autoencoder=).")
            if num_samples is None and prompts is None and images is not None:
                num_samples = len(checks.data_space_images(images, self.sample_shape,
                                                           "images", "TextDiffusion"))
        ids = self.prompt_ids(num_samples, prompt, prompts, negative_prompt)
        if self.autoencoder is not None and self.latent_scale is None:
            raise ValueError("The latent scale is not set: train the model (fit) first, or "
                             "call fit_latent_scale(images).")
        return ids, guidance_scale

    def _generate(self, num_samples, *, seed=None, prompt=None, prompts=None,
                  negative_prompt=None, guidance_scale=None, sampler="ddim", steps=None,
                  eta=None, images=None, mask=None, resample=1, batch_size=256):
        """Images for prompts.

        Args:
            num_samples: number of images (may be left out with ``prompts=``, with
                ``images=``, or with ``prompt=`` for one image).
            seed: the seed of the starting noise and of the noise along the chain.
            prompt: one text for every image; prompts: one text per image; neither:
                the empty text (the unconditional model).
            negative_prompt: a text (or one per image) that replaces the empty text in
                the unconditional branch of guidance.
            guidance_scale: classifier-free guidance ``w`` (None: 1, the conditional
                model; 0: the unconditional branch).
            images, mask: inpainting (pixel space only): known images and a mask, 1 where
                a pixel is kept; the prompt describes the whole image.
            sampler, steps, eta, resample, batch_size: as `kgen.models.Diffusion.generate`.
        """
        ids, guidance_scale = self._prompted(num_samples, prompt, prompts, negative_prompt,
                                             guidance_scale, images, mask)
        samples = self._sample(len(ids), seed, sampler, steps, eta, ids, guidance_scale,
                               images, mask, resample, batch_size, record=False)
        return self.decode_latents(samples, batch_size)

    def decode_latents(self, samples, batch_size=256):
        """Images of samples of the chain: the samples themselves in pixel space, else
        the autoencoder's decoding of ``samples / latent_scale`` (a VQ-VAE's of their
        nearest codes, clipped to ``[-1, 1]``)."""
        if self.autoencoder is None:
            return samples
        if self.latent_scale is None:
            raise ValueError("The latent scale is not set: train the model (fit) first, or "
                             "call fit_latent_scale(images).")
        samples = np.asarray(samples, "float32")
        if isinstance(self.autoencoder, VQVAE):   # the exported graph's decoding, in batches
            return np.concatenate([
                np.asarray(ops.convert_to_numpy(self._decode_in_graph(
                    samples[i:i + batch_size])), "float32")
                for i in range(0, len(samples), batch_size)])
        z = samples.reshape(len(samples), -1) / self.latent_scale
        return self.autoencoder.decode(z, batch_size=batch_size)

    def denoising_trajectory(self, num_samples=None, *, seed=None, prompt=None, prompts=None,
                             negative_prompt=None, guidance_scale=None, sampler="ddim",
                             steps=None, eta=None, images=None, mask=None, resample=1,
                             batch_size=256):
        """The images at every timestep of the reverse chain, from noise to the samples.

        Takes the arguments of `generate()`; the last frame equals ``generate()``'s
        output for the same arguments. In latent space every frame is decoded by the
        autoencoder (frame 0 is then the decoding of the starting noise).

        Returns:
            ``(timesteps, frames)``: the timesteps visited (``-1`` marks the end), and a
            float32 array ``(len(timesteps), n, H, W, C)`` of images.

        Example:

        ```python
        import kgen

        model = kgen.models.TextDiffusion.from_shape(
            (8, 8, 1), ["a dark square", "a light one"], timesteps=20, schedule="cosine",
            base_filters=4, channel_multipliers=(1,), num_res_blocks=1, groups=2, width=8,
            num_layers=1, num_heads=2)
        t, frames = model.denoising_trajectory(2, prompt="a dark square", seed=0, steps=5)
        frames.shape   # (6, 2, 8, 8, 1)
        ```
        """
        ids, guidance_scale = self._prompted(num_samples, prompt, prompts, negative_prompt,
                                             guidance_scale, images, mask)
        chosen = self._sampler(sampler, steps, eta)
        visited = np.append(chosen.timesteps(self.timesteps), -1)
        frames = np.asarray(self._sample(len(ids), seed, chosen, None, None, ids,
                                         guidance_scale, images, mask, resample, batch_size,
                                         record=True), "float32")
        if self.autoencoder is not None:
            decoded = np.asarray(self.decode_latents(
                frames.reshape((-1,) + frames.shape[2:]), batch_size), "float32")
            frames = decoded.reshape(frames.shape[:2] + decoded.shape[1:])
        return visited, frames

    def sampling_steps(self, num_samples=None, *, every=10, seed=None, prompt=None,
                       prompts=None, negative_prompt=None, guidance_scale=None,
                       sampler="ddim", steps=None, eta=None, images=None, mask=None,
                       resample=1, batch_size=256):
        """Images step by step: yields ``(timestep, images)`` along the chain as it runs.

        Takes the arguments of `generate()` and runs the same chain in parts of ``every``
        steps (one compiled call each), yielding after each part the timestep reached
        (``-1`` at the end) and the current samples as float32 images (in latent space,
        decoded by the autoencoder). The last images equal ``generate()``'s for the same
        arguments. DPM-Solver++ runs its chain in one call and is refused.

        Args:
            every: steps per part (an integer, at least 1).

        Example:

        ```python
        import kgen

        tiny = dict(timesteps=20, schedule="cosine", base_filters=4, channel_multipliers=(1,),
                    num_res_blocks=1, groups=2, width=8, num_layers=1, num_heads=2)
        model = kgen.models.TextDiffusion.from_shape((8, 8, 1), ["a light one"], **tiny)
        for t, x in model.sampling_steps(2, prompt="a light one", seed=0, steps=4, every=2):
            print(t, x.shape)   # 9 (2, 8, 8, 1), then -1 (2, 8, 8, 1)
        ```
        """
        every = checks.integer(every, "every", 1)
        seed = checks.seed(seed)
        ids, guidance_scale = self._prompted(num_samples, prompt, prompts, negative_prompt,
                                             guidance_scale, images, mask)
        chosen = self._sampler(sampler, steps, eta)
        visited = np.append(chosen.timesteps(self.timesteps), -1)
        for done, x, _ in self._sampling_parts(
                len(ids), seed, chosen, None, None, ids, guidance_scale, images, mask,
                resample, batch_size, False, every):
            yield int(visited[done]), np.asarray(self.decode_latents(x, batch_size), "float32")

    def serving_functions(self, steps=None, guidance_scale=None):
        """The sampler for `export_generator`: the whole DDIM loop (eta 0) from ``x_T`` and
        the prompts' token ids, then, in latent space, the autoencoder's decoder.

        The SavedModel's ``generate_from_latent(latent, prompt_ids)`` takes the starting
        noise ``x_T`` (``(N,) + sample_shape``) and int32 ids ``(N, 2, L)``: each
        sample's prompt ids, then the unconditional branch's (the empty text's, or a
        negative prompt's), as `prompt_ids` makes them; it equals ``generate(seed=s,
        prompt..., sampler="ddim", steps=steps, eta=0, guidance_scale=guidance_scale)``
        when ``latent`` is the starting noise of seed ``s`` (`serving_inputs`).
        ``generate_with_prompt_ids(seed, prompt_ids)`` draws the noise in the graph, and
        ``generate_from_prompt(seed, prompt, negative_prompt)`` takes the texts as
        strings ``(N,)`` (``""`` for no negative prompt) and tokenizes them in the graph
        (`kgen.models.serving.TextInput`); each returns uint8 ``images``.

        Args:
            steps: DDIM steps of the exported loop (default 50, or every timestep of a
                chain of fewer than 50).
            guidance_scale: classifier-free guidance ``w``, fixed in the SavedModel
                (None: the conditional model, ``w = 1``).
        """
        sampler = self._sampler("ddim", steps, 0.0)
        sampler.timesteps(self.timesteps)   # checks the steps fit the model
        guidance = checks.optional_number(guidance_scale, "guidance_scale")
        guidance = None if guidance in (None, 1.0) else guidance
        network = self.sampling_network
        if self.autoencoder is not None and self.latent_scale is None:
            raise ValueError("The latent scale is not set: train the model (fit) before "
                             "exporting it.")

        def sample(x_t, prompt_ids):
            predict = self._predictor(network, prompt_ids, guidance)
            return self._decode_in_graph(sampler.sample(x_t, predict, self.noise_schedule))

        inputs = [ServingInput("latent", self.sample_shape),
                  ServingInput("prompt_ids", (2, self.tokenizer.context_length), "int32",
                               noise=None)]
        networks = [network, self.sampling_text_encoder]
        if isinstance(self.autoencoder, VQVAE):
            networks.append(self.autoencoder.quantizer)
        if self.autoencoder is not None:
            networks.append(self.autoencoder.decoder)
        vocabulary = tuple(self.tokenizer.get_vocabulary()[2:])   # ids 2, 3, ...
        return ServingFunctions(sample, inputs, networks, text=TextInput(
            "prompt_ids", vocabulary, self.tokenizer.context_length))

    def _decode_in_graph(self, z):
        """`decode_latents` written with `keras.ops` (for the exported graph)."""
        if self.autoencoder is None:
            return z
        if isinstance(self.autoencoder, VQVAE):
            quantizer = self.autoencoder.quantizer
            vectors = quantizer.lookup(quantizer.nearest_codes(z / self.latent_scale))
            # The decoder is linear: its images are clipped to [-1, 1], the range of the
            # images of a pixel-space model.
            return ops.clip(self.autoencoder.decoder(vectors, training=False), -1.0, 1.0)
        z = ops.reshape(z, (-1, self.autoencoder.latent_dim)) / self.latent_scale
        decoded = self.autoencoder.decoder(z, training=False)
        if isinstance(self.autoencoder, VAE):
            return self.autoencoder._mean_output(decoded)
        return self.autoencoder._output(decoded)

    def serving_inputs(self, num_samples=None, *, seed=None, prompt=None, prompts=None,
                       negative_prompt=None, guidance_scale=None, sampler="ddim", steps=None,
                       eta=None, batch_size=256):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed,
        prompt=..., steps=steps, guidance_scale=guidance_scale)`` uses: ``{"latent": ...,
        "prompt_ids": ...}``, the starting noise of ``seed`` and `prompt_ids`. The
        SavedModel runs deterministic DDIM; ``steps`` and ``guidance_scale`` are fixed in
        it (its export options): give ``generate()`` the same values.
        """
        if sampler != "ddim" or eta not in (None, 0, 0.0):
            raise ValueError("The exported sampler is deterministic DDIM (sampler='ddim', "
                             "eta=0): only those generate() calls have SavedModel inputs.")
        ids = self.prompt_ids(num_samples, prompt, prompts, negative_prompt)
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2 ** 31 - 1))
        latent = self.standard_normal((len(ids),) + self.sample_shape, seed)
        return {"latent": latent, "prompt_ids": ids}

    # ------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        for name in ("num_classes", "label_dropout"):
            config.pop(name, None)
        config.update(
            tokenizer=keras.saving.serialize_keras_object(self.tokenizer),
            autoencoder=None if self.autoencoder is None
            else keras.saving.serialize_keras_object(self.autoencoder),
            latent_shape=self.latent_shape, latent_scale=self.latent_scale,
            caption_dropout=self.caption_dropout,
            train_text_encoder=self.train_text_encoder)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)
        for name in cls.network_names + ("tokenizer", "autoencoder"):
            if config.get(name) is not None:
                config[name] = keras.saving.deserialize_keras_object(
                    config[name], custom_objects=custom_objects)
        if config.get("latent_shape") is not None:
            config["latent_shape"] = tuple(config["latent_shape"])
        return cls(**config)


def latent_shape_of(autoencoder):
    """The shape of the latents a `TextDiffusion` runs on in ``autoencoder``'s latent space:
    a `kgen.models.VQVAE`'s encoder grid ``(h, w, embedding_dim)``, or the `latent_grid`
    a VAE's or autoencoder's latent vectors are reshaped to.

    Example:

    ```python
    import kgen
    from kgen.models.text_diffusion import latent_shape_of

    vq = kgen.models.VQVAE.from_shape((32, 32, 3), embedding_dim=4, downsamples=2)
    vae = kgen.models.VAE.from_shape((32, 32, 3), latent_dim=64)
    latent_shape_of(vq), latent_shape_of(vae)   # (8, 8, 4), (8, 8, 1)
    ```
    """
    if isinstance(autoencoder, VQVAE):
        return autoencoder.code_shape + (autoencoder.embedding_dim,)
    if not isinstance(autoencoder, AUTOENCODERS):
        raise TypeError(f"autoencoder must be a kgen.models.VAE, kgen.models.Autoencoder or "
                        f"kgen.models.VQVAE; got {type(autoencoder).__name__}.")
    return latent_grid(autoencoder.latent_dim)


def latent_grid(latent_dim):
    """The grid ``(s, s, c)`` a latent vector of ``latent_dim`` values is reshaped to for the
    U-Net: the largest square side ``s >= 2`` with ``s * s`` dividing ``latent_dim``.

    Example:

    ```python
    from kgen.models.text_diffusion import latent_grid

    latent_grid(16), latent_grid(32), latent_grid(64)   # (4, 4, 1), (4, 4, 2), (8, 8, 1)
    ```
    """
    dim = checks.integer(latent_dim, "latent_dim", 1)
    for side in range(int(math.isqrt(dim)), 1, -1):
        if dim % (side * side) == 0:
            return (side, side, dim // (side * side))
    raise ValueError(f"A latent vector of {dim} values has no square grid (s, s, c) with "
                     "s >= 2: use an autoencoder whose latent_dim is a multiple of 4 (16, "
                     "32, 64...).")


__all__ = ["TextDiffusion", "latent_grid", "latent_shape_of"]


def trained_model(value, model_class, what, option):
    """A trained model given as a model, a ``.keras`` file or a run folder (``last.keras``)."""
    if value is None or isinstance(value, model_class):
        return value
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if os.path.isdir(path):
            path = os.path.join(path, "last.keras")
        if not os.path.isfile(path):
            raise ValueError(f"No {what} checkpoint at {path!r} (--{option}).")
        value = keras.saving.load_model(path)
    if not isinstance(value, model_class):
        raise ValueError(f"{option} must be a trained {what}; got {type(value).__name__}.")
    return value


def _build(data, autoencoder=None, clip=None, ema=None, **options):
    from kgen.models.clip import CLIP

    captions = getattr(data, "captions", None)
    if ema is not None:
        options["ema"] = None if ema == 0 else ema
    return TextDiffusion.from_shape(
        data.shape, captions,
        autoencoder=trained_model(autoencoder, AUTOENCODERS, "VAE, autoencoder or VQ-VAE",
                                  "autoencoder"),
        clip=trained_model(clip, CLIP, "CLIP", "clip"), **options)


registry.register(registry.Family(
    name="text_diffusion",
    model_class=TextDiffusion,
    summary="text-conditioned diffusion (cross-attention to a text encoder, classifier-free "
            "guidance), in pixel space or in a trained VAE's or VQ-VAE's latent space",
    data="captioned",
    options=(
        *(dataclasses.replace(option, default="v") if option.name == "prediction" else option
          for option in PROCESS_OPTIONS),
        registry.Option("base_filters", int, "channels of the U-Net's first level"),
        registry.Option("channel_multipliers", tuple, "channel multiplier of each U-Net "
                        "level", default=(1, 2, 2)),
        registry.Option("num_res_blocks", int, "residual blocks per level", default=2),
        registry.Option("attention_resolutions", tuple, "resolutions with self- and "
                        "cross-attention"),
        registry.Option("groups", int, "groups of the group normalisation", default=8),
        registry.Option("pooled_context", bool, "also add the mean of the text's token "
                        "vectors to the U-Net's timestep embedding", default=True),
        registry.Option("width", int, "token size of the text encoder", default=64),
        registry.Option("num_layers", int, "transformer blocks of the text encoder",
                        default=2),
        registry.Option("num_heads", int, "attention heads of the text encoder and the "
                        "cross-attention", default=4),
        registry.Option("context_length", int, "tokens per caption (default: the longest "
                        "training caption's words plus one)"),
        registry.Option("caption_dropout", float, "share of captions replaced by the empty "
                        "text for classifier-free guidance", default=0.1, minimum=0.0),
        registry.Option("ema", float, "decay of the moving average of the weights used "
                        "for sampling (0: none)", default=0.999, minimum=0.0),
        registry.Option("autoencoder", str, "a trained VAE, autoencoder or VQ-VAE (run "
                        "folder or .keras file): diffuse in its latent space"),
        registry.Option("clip", str, "a trained CLIP (run folder or .keras file) whose text "
                        "encoder is used, frozen"),
    ),
    build=_build,
    conditions=("prompt", "negative_prompt", "sampler", "steps", "eta", "guidance_scale",
                "images", "mask"),
    export_options=EXPORT_OPTIONS,
    default_data="captioned_digits",
    default_epochs=100,
    # x0 prediction in the tests' tiny model: its loss starts at the data's mean square,
    # which a few steps lower whatever noise they draw (the epsilon loss of eight steps
    # moves with the noise drawn more than with learning).
    tiny={"timesteps": 20, "schedule": "cosine", "prediction": "x0", "base_filters": 4,
          "channel_multipliers": (1,), "num_res_blocks": 1, "attention_resolutions": (),
          "groups": 2, "width": 8,
          "num_layers": 1, "num_heads": 2},
    metrics=("fid", "kid"),
))
