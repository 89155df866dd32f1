"""Conditional variational autoencoder (Sohn, Lee & Yan 2015)."""

import dataclasses

import keras
import numpy as np
from keras import ops

from kgen import checks, networks
from kgen.models.serving import ServingInput
from kgen.models import registry
from kgen.models.vae import VAE, VAE_OPTIONS


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
        num_classes = checks.integer(num_classes, "num_classes", 2)
        super().__init__(encoder, decoder, latent_dim=latent_dim, **kwargs)
        self.num_classes = num_classes

    @classmethod
    def from_shape(cls, shape, num_classes, latent_dim=16, base_filters=32, embedding_dim=16,
                   **kwargs):
        """A conditional VAE with `VAE`'s default networks, given learned label embeddings.

        The networks are `kgen.networks.conditional_encoder` and
        `kgen.networks.conditional_decoder`.

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
        num_classes = checks.integer(num_classes, "num_classes", 2)
        latent_dim = checks.integer(latent_dim, "latent_dim", 1)
        encoder = networks.conditional_encoder(shape, num_classes, 2 * latent_dim, base_filters,
                                               embedding_dim)
        decoder = networks.conditional_decoder(shape, num_classes, latent_dim, base_filters,
                                               embedding_dim)
        return cls(encoder=encoder, decoder=decoder, num_classes=num_classes,
                   latent_dim=latent_dim, **kwargs)

    # ----------------------------------------------------------------- labels
    def check_labels(self, labels, num_samples=None):
        """``labels`` as an int32 array of class indices in ``0 .. num_classes - 1``.

        The label semantics of every class-conditional family (`kgen.checks.labels`).

        Args:
            labels: an integer (repeated ``num_samples`` times), or a 1-D list or array
                of integers (``(n, 1)`` is flattened).
            num_samples: the number of labels expected, or None for any.

        Raises:
            TypeError: labels that are not integers.
            ValueError: the wrong shape or number of labels, or a class out of range.

        Example:

        ```python
        import kgen
        cvae = kgen.models.ConditionalVAE.from_shape((8, 8, 1), num_classes=10,
                                                     latent_dim=2, base_filters=4)
        cvae.check_labels(7, num_samples=3)   # array([7, 7, 7], dtype=int32)
        ```
        """
        return checks.labels(labels, self.num_classes, num_samples)

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
        inputs = self.serving_inputs(num_samples, seed=seed, labels=labels, latents=latents)
        return self.decode(inputs["latent"], batch_size, labels=inputs["labels"])

    def serving_inputs(self, num_samples=None, *, seed=None, labels=None, latents=None,
                       batch_size=256):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed,
        labels=labels)`` uses: ``{"latent": ..., "labels": ...}`` (the latent vectors of
        ``seed``, and the labels given or drawn from the seed's label stream).

        Example:

        ```python
        import kgen
        cvae = kgen.models.ConditionalVAE.from_shape((8, 8, 1), num_classes=3, latent_dim=2,
                                                     base_filters=4)
        cvae.serving_inputs(2, seed=0, labels=1)["labels"]   # array([1, 1], dtype=int32)
        ```
        """
        if num_samples is None and latents is None and labels is not None \
                and np.ndim(labels) > 0:
            num_samples = len(labels)
        if latents is None and num_samples is None:
            raise ValueError("Pass num_samples, a list of labels, or latents= to generate().")
        latents = self._latents(num_samples, seed, latents)
        if labels is None:
            labels = checks.draw_labels(self.num_classes, len(latents), seed)
        return {"latent": latents, "labels": self.check_labels(labels, len(latents))}

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


__all__ = ["ConditionalVAE"]


def _build(data, **options):
    if len(data.shape) == 1:
        options.setdefault("likelihood", "gaussian")
    return ConditionalVAE.from_shape(data.shape, num_classes=data.num_classes, **options)


registry.register(registry.Family(
    name="conditional_vae",
    model_class=ConditionalVAE,
    summary="class-conditional VAE: q(z|x, y) and p(x|z, y)",
    labels="required",
    options=VAE_OPTIONS + (
        registry.Option("embedding_dim", int, "size of the label embeddings", default=16),
    ),
    build=_build,
    conditions=("labels",),
    default_epochs=60,
    tiny={"latent_dim": 4, "base_filters": 4, "embedding_dim": 4},
    metrics=("fid", "kid", "is", "pr", "nll"),
))
