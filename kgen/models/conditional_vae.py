"""Conditional variational autoencoder (Sohn, Lee & Yan 2015)."""

import dataclasses

import keras
import numpy as np
from keras import ops

from kgen.models.serving import ServingInput
from kgen.models.autoencoder import VAE
from kgen.models.conditional_gan import ConditionalGAN
from kgen.networks.dcgan import _discriminator_features, _generator_body, num_upsamplings
from kgen.networks.mlp import _mlp_hidden


def _conditional_networks(shape, num_classes, latent_dim, base_filters, embedding_dim):
    """Encoder ``[x, y] -> 2 * latent_dim`` and decoder ``[z, y] -> x`` with label embeddings.

    Images: the encoder stacks a learned ``height x width`` map per class onto the image as
    an extra channel; the decoder concatenates a learned label embedding to ``z``. The
    bodies are `VAE`'s default DCGAN networks (no batch normalisation, linear output), or
    MLPs with two hidden layers of ``4 * base_filters`` units for vectors.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (1, 3):
        raise ValueError(
            f"ConditionalVAE.from_shape takes an image shape (height, width, channels) or a "
            f"vector shape (dim,); got {shape}.")
    samples = keras.Input(shape, name="encoder_input")
    labels = keras.Input((), dtype="int32", name="encoder_label")
    if len(shape) == 3:
        height, width, _ = shape
        num_upsamplings(height, width)
        maps = keras.layers.Embedding(num_classes, height * width, name="encoder_embed")(labels)
        maps = keras.layers.Reshape((height, width, 1), name="encoder_label_map")(maps)
        x = keras.layers.Concatenate(name="encoder_concat")([samples, maps])
        x = _discriminator_features(x, base_filters, False, "relu", False, "encoder")
    else:
        embedded = keras.layers.Embedding(num_classes, embedding_dim, name="encoder_embed")(labels)
        x = keras.layers.Concatenate(name="encoder_concat")([samples, embedded])
        x = _mlp_hidden(x, (4 * base_filters,) * 2, "relu", False, "encoder")
    outputs = keras.layers.Dense(2 * latent_dim, name="encoder_out")(x)
    encoder = keras.Model([samples, labels], outputs, name="encoder")

    latents = keras.Input((latent_dim,), name="decoder_latent")
    labels = keras.Input((), dtype="int32", name="decoder_label")
    embedded = keras.layers.Embedding(num_classes, embedding_dim, name="decoder_embed")(labels)
    x = keras.layers.Concatenate(name="decoder_concat")([latents, embedded])
    if len(shape) == 3:
        outputs = _generator_body(x, shape, base_filters, False, None, "decoder")
    else:
        x = _mlp_hidden(x, (4 * base_filters,) * 2, "relu", False, "decoder")
        outputs = keras.layers.Dense(shape[0], name="decoder_out")(x)
    decoder = keras.Model([latents, labels], outputs, name="decoder")
    return encoder, decoder


@keras.saving.register_keras_serializable(package="kgen")
class ConditionalVAE(VAE):
    """A VAE whose encoder and decoder both see the class label: ``q(z|x, y)``, ``p(x|z, y)``.

    The conditional VAE of Sohn et al. (2015) with the prior ``p(z|y) = N(0, I)``: the
    loss is `VAE`'s negative ELBO with every network call given the label,
    ``-E_q(z|x,y)[log p(x|z, y)] + beta * KL(q(z|x, y) || N(0, I))``, a bound on
    ``-log p(x|y)``. Training data come as ``(samples, labels)`` (``fit(x, y)`` or
    ``kgen.data.images(x, labels=y)``). The encoder takes ``[samples, labels]`` and the
    decoder ``[latents, labels]``, labels being int32 class indices of shape ``(n,)``.

    Everything else is `VAE`'s: the decoders (``likelihood``, ``sigma``), ``beta``,
    the logs, and `encode`, `decode`, `reconstruct`, `log_likelihood` and `elbo`, which
    here take ``labels=`` (one class index per sample, or one integer for all) and give
    conditional values (``log_likelihood(x, labels=y)`` estimates ``log p(x|y)``).

    ``generate(n, labels=..., seed=...)`` decodes latent vectors drawn from ``seed`` with
    the given labels, so with a fixed seed the labels alone decide what changes; labels
    left as None are drawn uniformly from a stream derived from the seed.

    Args:
        encoder: a Keras model from ``[samples, labels]`` to ``2 * latent_dim`` values (or
            ``[mean, log_variance]``).
        decoder: a Keras model from ``[latents (latent_dim,), labels]`` to samples.
        num_classes: number of classes; labels are integers ``0 .. num_classes - 1``.
        latent_dim: inferred from the decoder's first input if None.
        **kwargs: `VAE` arguments (``likelihood``, ``sigma``, ``beta``, ``seed``, ``name``).

    Example:

    ```python
    import kgen

    x, y = kgen.data.load("digits", return_labels=True)
    cvae = kgen.models.ConditionalVAE.from_shape(x.shape[1:], num_classes=10, latent_dim=8)
    cvae.compile()
    cvae.fit(kgen.data.images(x, labels=y), epochs=1, verbose=0)
    sevens = cvae.generate(16, labels=7, seed=0)          # (16, 8, 8, 1)
    row = cvae.generate(labels=list(range(10)), seed=0)   # one sample per class
    ```

    References:
        Sohn, Lee & Yan, "Learning Structured Output Representation using Deep
        Conditional Generative Models", NeurIPS 2015.
        Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with Deep
        Generative Models", NeurIPS 2014.
    """

    def __init__(self, encoder, decoder, num_classes, latent_dim=None, **kwargs):
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
                or num_classes < 2:
            raise ValueError(f"num_classes must be an integer of at least 2; got {num_classes!r}.")
        if latent_dim is None:
            try:
                latent_dim = int(decoder.input_shape[0][-1])
            except (AttributeError, TypeError, ValueError, IndexError):
                raise ValueError(
                    "latent_dim could not be inferred from the decoder's first input "
                    "(latents): pass it.") from None
        super().__init__(encoder, decoder, latent_dim=latent_dim, **kwargs)
        self.num_classes = int(num_classes)

    @classmethod
    def from_shape(cls, shape, num_classes, latent_dim=16, base_filters=32, embedding_dim=16,
                   **kwargs):
        """A conditional VAE with `VAE`'s default networks, given learned label embeddings.

        Args:
            shape: sample shape, ``(height, width, channels)`` or ``(dim,)``.
            num_classes: number of classes.
            latent_dim: size of the latent vector.
            base_filters: width of the networks (as in `VAE.from_shape`).
            embedding_dim: size of the decoder's label embedding (and of the encoder's,
                for vectors; images get one ``height x width`` map per class).
            **kwargs: constructor arguments (``likelihood``, ``beta``, ``seed``...).

        Example:

        ```python
        import kgen
        cvae = kgen.models.ConditionalVAE.from_shape((8, 8, 1), num_classes=10)
        ```
        """
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
                or num_classes < 2:
            raise ValueError(f"num_classes must be an integer of at least 2; got {num_classes!r}.")
        encoder, decoder = _conditional_networks(shape, int(num_classes), latent_dim,
                                                 base_filters, embedding_dim)
        return cls(encoder=encoder, decoder=decoder, num_classes=num_classes,
                   latent_dim=latent_dim, **kwargs)

    # ----------------------------------------------------------------- labels
    check_labels = ConditionalGAN.check_labels

    def _network_inputs(self, main, labels):
        if labels is None:
            raise ValueError(
                "ConditionalVAE trains on (samples, labels) pairs: pass fit(x, y) with integer "
                "class labels, or a dataset of (samples, labels) such as "
                "kgen.data.images(x, labels=y).")
        if not isinstance(labels, np.ndarray):
            labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        return [main, labels]

    def _checked_labels(self, labels, count):
        if labels is None:
            raise ValueError(
                "ConditionalVAE needs labels=: one class index per sample (or one integer "
                f"for all), in 0..{self.num_classes - 1}.")
        return self.check_labels(labels, count)

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, with array labels ``y`` checked first (`check_labels`)."""
        if y is not None and isinstance(y, (np.ndarray, list, tuple)):
            self.check_labels(y)
        return super().fit(x, y, *args, **kwargs)

    def call(self, inputs, training=False):
        x, labels = inputs
        mean, _ = self._posterior(x, training, labels)
        return self._mean_output(self.decoder(self._network_inputs(mean, labels),
                                              training=training))

    # --------------------------------------------------------------- sampling
    def _generate(self, num_samples, *, seed=None, labels=None, latents=None, batch_size=256):
        """Samples for ``labels``: an integer, a list/array of ``n``, or None (uniform)."""
        if num_samples is None and latents is None and labels is not None \
                and np.ndim(labels) > 0:
            num_samples = len(labels)
        if latents is None:
            if num_samples is None:
                raise ValueError("Pass num_samples, a list of labels, or latents= to generate().")
            latents = self.standard_normal((num_samples, self.latent_dim), seed)
        latents = np.asarray(ops.convert_to_numpy(latents), "float32")
        if labels is None:
            rng = np.random.default_rng(None if seed is None else [int(seed), 1])
            labels = rng.integers(0, self.num_classes, size=len(latents))
        return self.decode(latents, batch_size, labels=labels)

    def serving_functions(self):
        """The sampler for `export_generator`: ``(latent, labels)`` to the decoder's mean.

        ``generate_from_latent(latent, labels)`` equals ``generate(latents=latent,
        labels=labels)``; ``generate_with_labels(seed, labels)`` draws the latent vectors.
        """
        spec = super().serving_functions()
        labels = ServingInput("labels", (), "int32", noise="categorical",
                              classes=self.num_classes)
        return dataclasses.replace(spec, inputs=list(spec.inputs) + [labels])

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes)
        return config
