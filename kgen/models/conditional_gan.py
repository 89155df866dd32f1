"""Class-conditional GAN (Mirza & Osindero 2014), with a projection discriminator option
(Miyato & Koyama 2018)."""

import keras
import numpy as np
from keras import ops

from kgen import checks, networks
from kgen.models import registry
from kgen.models.gan import ADVERSARIAL_OPTIONS, GAN, adversarial_options, objective_defaults
from kgen.models.network_checks import input_count, input_shapes
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.networks.conditional import sample_shape
from kgen.precision import float32


@keras.saving.register_keras_serializable(package="kgen")
class ConditionalGAN(GAN):
    """A GAN whose generator and discriminator both see the class label.

    The generator maps a latent vector and a label to a sample, ``G(z, y)``; the
    discriminator scores a sample *for a label*, ``D(x, y)``. Training data come as
    ``(samples, labels)`` the Keras way (``fit(x, y)`` or
    ``kgen.data.images(x, labels=y)``); the generated half of each batch uses the real
    batch's labels, so the generator learns the class-conditional distributions and
    the label frequencies of the data. Everything else is `GAN`'s: the losses,
    gradient penalties (at interpolates with the same labels), ``discriminator_steps``,
    ``ema``, the logs and the optimizers.

    Args:
        generator: a Keras model from ``[latents (latent_dim,), labels ()]`` to samples
            (`kgen.networks.conditional_generator`).
        discriminator: a Keras model from ``[samples, labels ()]`` to one logit per sample
            (`kgen.networks.conditional_discriminator`).
        num_classes: number of classes; labels are integers ``0 .. num_classes - 1``.
        latent_dim: size of the latent vector; inferred from the generator's first input
            if None.
        **kwargs: `GAN` arguments (``loss``, ``gradient_penalty``, ``penalty_weight``,
            ``discriminator_steps``, ``ema``, ``seed``, ``name``).

    Example:

    ```python
    import kgen

    x, y = kgen.data.load("digits", return_labels=True)
    cgan = kgen.models.ConditionalGAN.from_shape(x.shape[1:], num_classes=10)
    cgan.compile()
    cgan.fit(kgen.data.images(x, labels=y), epochs=1, verbose=0)
    sevens = cgan.generate(16, labels=7, seed=0)          # (16, 8, 8, 1)
    row = cgan.generate(labels=list(range(10)), seed=0)   # one sample per class
    ```

    References:
        Mirza & Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784, 2014.
        Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018.
    """

    def __init__(self, generator, discriminator, num_classes, latent_dim=None, **kwargs):
        num_classes = checks.integer(num_classes, "num_classes", 2)
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)
        self.num_classes = num_classes

    @classmethod
    def from_shape(cls, shape, num_classes, latent_dim=None, base_filters=None,
                   discriminator="projection", embedding_dim=32, spectral_norm=False,
                   **kwargs):
        """A conditional GAN with default networks for samples of ``shape``.

        The networks are `kgen.networks.conditional_generator` and
        `kgen.networks.conditional_discriminator`: DCGAN bodies for images, MLPs for
        vectors. With a gradient penalty or spectral normalisation the discriminator has
        no batch normalisation.

        Args:
            shape: sample shape, e.g. ``(8, 8, 1)`` or ``(2,)``.
            num_classes: number of classes.
            latent_dim: default 100 for images, 8 for vectors.
            base_filters: width (default 32 for images up to 16x16, 64 above; 128 for
                vectors).
            discriminator: ``"projection"`` (Miyato & Koyama 2018) or ``"concat"``.
            embedding_dim: size of the generator's label embedding.
            spectral_norm: spectral normalisation of every discriminator layer.
            **kwargs: constructor arguments (``loss``, ``gradient_penalty``, ``ema``,
                ``seed``, ...).

        Example:

        ```python
        import kgen
        cgan = kgen.models.ConditionalGAN.from_shape((8, 8, 1), num_classes=10,
                                                     discriminator="concat")
        ```
        """
        shape = sample_shape(shape, "ConditionalGAN.from_shape")
        images = len(shape) == 3
        latent_dim = checks.optional_integer(latent_dim, "latent_dim", 1) \
            or (100 if images else 8)
        width = checks.optional_integer(base_filters, "base_filters", 1) \
            or (networks.default_base_filters(shape) if images else 128)
        penalty = kwargs.get("gradient_penalty", "auto")
        if penalty == "auto":
            penalty = objective_defaults(kwargs.get("loss", "non_saturating"), not images,
                                         spectral_norm)["gradient_penalty"]
        plain_critic = bool(spectral_norm or penalty)
        generator = networks.conditional_generator(
            shape, num_classes, latent_dim, width, embedding_dim=embedding_dim)
        disc = networks.conditional_discriminator(
            shape, num_classes, kind=discriminator, base_filters=width,
            batch_norm=(not plain_critic) if images else None, spectral_norm=spectral_norm)
        return cls(generator=generator, discriminator=disc, num_classes=num_classes,
                   latent_dim=latent_dim, **kwargs)

    # ------------------------------------------------------------- networks
    def _check_input_counts(self):
        """The networks take two inputs each: kgen passes the labels as int class indices."""
        for role, net, what in (
                ("generator", self.generator,
                 "[latents (n, latent_dim) float32, labels (n,) int32]"),
                ("discriminator", self.discriminator,
                 "[samples (n, ...) float32, labels (n,) int32]")):
            count = input_count(net)
            if count is not None and count != 2:
                raise ValueError(
                    f"A ConditionalGAN's {role} takes two inputs, {what}: kgen passes the "
                    f"labels as integer class indices, separately; this {role} takes "
                    f"{count} input(s) of shape(s) {input_shapes(net)}. A network that "
                    "takes labels one-hot encoded and concatenated to its input (as in "
                    "the keras-io conditional GAN) needs its own label input: build it with "
                    "two keras.Input, the labels with shape () and dtype int32 (one-hot "
                    "encode them inside, e.g. keras.ops.one_hot), as "
                    "kgen.networks.conditional_generator and conditional_discriminator do.")

    def _generator_input_shape(self, batch):
        return [(batch, self.latent_dim), (batch,)]

    def _discriminator_input_shape(self, sample_shape, batch):
        return [(batch,) + tuple(sample_shape), (batch,)]

    @staticmethod
    def _label_tensor(labels):
        if labels is None:
            raise ValueError(
                "ConditionalGAN trains on (samples, labels) pairs: pass fit(x, y) with integer "
                "class labels, or a dataset of (samples, labels) such as "
                "kgen.data.images(x, labels=y)."
            )
        return ops.reshape(ops.cast(labels, "int32"), (-1,))

    def generate_batch(self, latents, labels=None, training=True):
        return self.generator([latents, self._label_tensor(labels)], training=training)

    def discriminate(self, samples, labels=None, training=True):
        return float32(self.discriminator([self.augmented(samples, training),
                                           self._label_tensor(labels)], training=training))

    def call(self, inputs, training=False):
        latents, labels = inputs
        return self.sampling_generator([latents, self._label_tensor(labels)], training=training)

    # ---------------------------------------------------------- labels
    def check_labels(self, labels, num_samples=None):
        """``labels`` as an int32 array of class indices ``0 .. num_classes - 1``, checked.

        The labels of every class-conditional family, `kgen.checks.labels`: an integer
        (repeated ``num_samples`` times), a 1-D list or array of integers (``(n, 1)`` is
        flattened), or floats that are all whole numbers.

        Args:
            labels: the labels.
            num_samples: the number of labels expected, or None for any.

        Raises:
            TypeError: labels that are not integer class indices (booleans, strings,
                fractions).
            ValueError: one-hot or other 2-D labels, labels out of range, or the wrong
                number.

        Example:

        ```python
        import kgen
        cgan = kgen.models.ConditionalGAN.from_shape((2,), num_classes=3, latent_dim=2,
                                                     base_filters=8)
        cgan.check_labels([2, 0, 1.0])   # array([2, 0, 1], dtype=int32)
        ```
        """
        return checks.labels(labels, self.num_classes, num_samples)

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, with array labels ``y`` checked first (`check_labels`)."""
        if y is not None and isinstance(y, (np.ndarray, list, tuple)):
            self.check_labels(y)
        return super().fit(x, y, *args, **kwargs)

    # ------------------------------------------------------------ sampling
    def _generate(self, num_samples, *, seed=None, labels=None, latents=None, batch_size=256):
        """Samples for ``labels``: an integer, a list/array of ``n``, or None (uniform).

        Latent vectors come from ``seed`` as in `GAN.generate`, so with a fixed seed the
        labels alone decide what changes. Labels left as None are drawn uniformly from a
        stream derived from ``seed``.
        """
        batch_size = checks.integer(batch_size, "batch_size", 1)
        inputs = self.serving_inputs(num_samples, seed=seed, labels=labels, latents=latents)
        return self.sampling_generator.predict([inputs["latent"], inputs["labels"]],
                                               batch_size=batch_size, verbose=0)

    def serving_functions(self):
        """The sampler for `export_generator`: ``(latent, labels)`` to samples.

        ``generate_from_latent(latent, labels)`` equals ``generate(latents=latent,
        labels=labels)``; ``generate_with_labels(seed, labels)`` draws the latent vectors.
        """
        generator = self.sampling_generator
        inputs = [ServingInput("latent", (self.latent_dim,)),
                  ServingInput("labels", (), "int32", noise="categorical",
                               classes=self.num_classes)]

        def sample(z, labels):
            return generator([z, labels], training=False)

        return ServingFunctions(sample, inputs, [generator])

    def serving_inputs(self, num_samples=None, *, seed=None, labels=None, latents=None,
                       batch_size=256):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed,
        labels=labels)`` uses: ``{"latent": ..., "labels": ...}`` (the latent vectors of
        ``seed``, and the labels given or drawn from the seed's label stream).

        Example:

        ```python
        import kgen
        cgan = kgen.models.ConditionalGAN.from_shape((8, 8, 1), num_classes=3, latent_dim=4,
                                                     base_filters=4)
        cgan.serving_inputs(seed=0, labels=[2, 0])["labels"]   # array([2, 0], dtype=int32)
        ```
        """
        if num_samples is None and latents is None and labels is not None \
                and np.ndim(labels) > 0:
            num_samples = len(labels)
        latents = self._resolve_latents(num_samples, seed, latents)
        count = len(latents)
        if labels is None:
            labels = checks.draw_labels(self.num_classes, count, seed)
        return {"latent": latents, "labels": self.check_labels(labels, count)}

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes)
        return config


def _build(data, **options):
    return ConditionalGAN.from_shape(data.shape, num_classes=data.num_classes,
                                     **adversarial_options(options))


registry.register(registry.Family(
    name="conditional_gan",
    model_class=ConditionalGAN,
    summary="class-conditional GAN: labels to both networks (projection or concatenation "
            "discriminator)",
    labels="required",
    options=(
        registry.Option("latent_dim", int, "size of the latent vector"),
        registry.Option("base_filters", int, "width of the networks"),
        registry.Option("embedding_dim", int, "size of the generator's label embedding",
                        default=32),
        registry.Option("discriminator", str, "how the discriminator takes the label",
                        choices=("projection", "concat"), default="projection"),
    ) + ADVERSARIAL_OPTIONS,
    build=_build,
    conditions=("labels",),
    default_epochs=100,
    monitor="d_loss",
    tiny={"latent_dim": 8, "base_filters": 4, "embedding_dim": 4},
    metrics=("fid", "kid", "is", "pr", "modes"),
))
