"""Generative adversarial network (Goodfellow et al. 2014) with DCGAN defaults (Radford et al. 2016)."""

import keras
from keras import ops

from kgen import losses, networks
from kgen.models.base import GenerativeModel, Update


@keras.saving.register_keras_serializable(package="kgen")
class GAN(GenerativeModel):
    """A generative adversarial network trained with `fit()`.

    Each training step makes two updates, in order: the discriminator learns to tell the
    batch of real samples from a batch of generated ones; then the generator, facing the
    updated discriminator, learns to fool it. Both networks run in training mode (batch
    normalisation uses batch statistics and updates its moving averages).

    Logs: ``d_loss``, ``g_loss``, and the discriminator's accuracy on real
    (``real_accuracy``) and generated (``fake_accuracy``) samples.

    Args:
        generator: a Keras model from latent vectors ``(latent_dim,)`` to samples.
        discriminator: a Keras model from samples to one logit per sample.
        latent_dim: size of the latent vector; inferred from the generator's input if None.
        loss: ``"non_saturating"`` (default) or ``"minimax"``, or a
            `kgen.losses.AdversarialLoss`.
        seed: seed of the noise drawn during training.
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import kgen

    x = kgen.data.load("digits")
    gan = kgen.models.GAN.from_shape(x.shape[1:])
    gan.compile()
    gan.fit(kgen.data.images(x), epochs=1, verbose=0)
    samples = gan.generate(16, seed=0)   # (16, 8, 8, 1) in [-1, 1]
    ```

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
        Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
        Convolutional Generative Adversarial Networks", ICLR 2016.
    """

    optimizer_names = ("discriminator", "generator")
    log_names = ("d_loss", "g_loss", "real_accuracy", "fake_accuracy")
    network_names = ("generator", "discriminator")

    def __init__(self, generator, discriminator, latent_dim=None, loss="non_saturating",
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if latent_dim is None:
            try:
                latent_dim = int(generator.input_shape[-1])
            except (AttributeError, TypeError, ValueError):
                raise ValueError(
                    "latent_dim could not be inferred from the generator's input: pass it."
                ) from None
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.loss = loss if isinstance(loss, str) else loss.name
        self.adversarial_loss = losses.get_adversarial_loss(loss)
        self._check_networks()
        self._ensure_built()

    def _check_networks(self):
        for role, net in (("generator", self.generator), ("discriminator", self.discriminator)):
            if not isinstance(net, keras.layers.Layer):
                raise TypeError(f"{role} must be a Keras model or layer; got {type(net).__name__}.")
        if not self.generator.built:
            self.generator.build((None, self.latent_dim))
        if not self.discriminator.built:
            self.discriminator.build(self.generator.compute_output_shape((None, self.latent_dim)))
        gen_in = self.generator.input_shape if hasattr(self.generator, "input_shape") else None
        if gen_in is not None and gen_in[-1] is not None and gen_in[-1] != self.latent_dim:
            raise ValueError(
                f"The generator takes latent vectors of size {gen_in[-1]} but latent_dim is "
                f"{self.latent_dim}."
            )
        sample_shape = tuple(self.generator.compute_output_shape((1, self.latent_dim)))[1:]
        disc_in = getattr(self.discriminator, "input_shape", None)
        if disc_in is not None and tuple(disc_in[1:]) != sample_shape and None not in disc_in[1:]:
            raise ValueError(
                f"The generator makes samples of shape {sample_shape} but the discriminator "
                f"takes {tuple(disc_in[1:])}."
            )
        out = tuple(self.discriminator.compute_output_shape((1,) + sample_shape))
        if out[1:] not in ((1,), ()):
            raise ValueError(
                f"The discriminator must output one logit per sample; its output shape is "
                f"{out}. End it with Dense(1) and no activation."
            )

    @classmethod
    def from_shape(cls, shape, latent_dim=None, base_filters=None, **kwargs):
        """A GAN with default networks for samples of ``shape``.

        Images ``(height, width, channels)`` get DCGAN networks (`kgen.networks.dcgan_generator`,
        `kgen.networks.dcgan_discriminator`); vectors ``(dim,)`` (the 2-D toy mixtures) get
        MLPs (`kgen.networks.mlp`).

        Args:
            shape: sample shape, e.g. ``(8, 8, 1)`` or ``(2,)``.
            latent_dim: default 100 for images, 8 for vectors.
            base_filters: width of the convolutional networks (default 32 for images up to
                16x16, 64 above); for vectors, the width of the hidden layers (default 128).
            **kwargs: passed to the constructor (``loss``, ``seed``, ``name``).

        Example:

        ```python
        import kgen
        gan = kgen.models.GAN.from_shape((16, 16, 3), latent_dim=64, base_filters=32)
        ```
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) == 1:
            latent_dim = latent_dim or 8
            width = base_filters or 128
            generator = networks.mlp(latent_dim, shape[0], (width,) * 3, name="generator")
            discriminator = networks.mlp(shape[0], 1, (width,) * 3, activation="leaky_relu",
                                         name="discriminator")
        elif len(shape) == 3:
            latent_dim = latent_dim or 100
            width = base_filters or (32 if max(shape[:2]) <= 16 else 64)
            generator = networks.dcgan_generator(shape, latent_dim, width)
            discriminator = networks.dcgan_discriminator(shape, base_filters=width)
        else:
            raise ValueError(
                f"GAN.from_shape takes an image shape (height, width, channels) or a vector "
                f"shape (dim,); got {shape}."
            )
        return cls(generator=generator, discriminator=discriminator, latent_dim=latent_dim,
                   **kwargs)

    def default_optimizer(self, name):
        # Radford et al. 2016: Adam, learning rate 2e-4, beta_1 0.5, for both networks.
        return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)

    def call(self, latents, training=False):
        return self.generator(latents, training=training)

    def _latents_like(self, x):
        return keras.random.normal((ops.shape(x)[0], self.latent_dim), seed=self.seed_generator)

    def discriminator_loss(self, x, y=None, training=True):
        fake = ops.stop_gradient(self.generator(self._latents_like(x), training=training))
        real_logits = self.discriminator(x, training=training)
        fake_logits = self.discriminator(fake, training=training)
        loss = self.adversarial_loss.discriminator_loss(real_logits, fake_logits)
        return loss, {
            "d_loss": loss,
            "real_accuracy": losses.binary_accuracy(real_logits, True),
            "fake_accuracy": losses.binary_accuracy(fake_logits, False),
        }

    def generator_loss(self, x, y=None, training=True):
        fake = self.generator(self._latents_like(x), training=training)
        loss = self.adversarial_loss.generator_loss(self.discriminator(fake, training=training))
        return loss, {"g_loss": loss}

    def training_updates(self):
        return [
            Update("discriminator", self.discriminator_loss, self.discriminator.trainable_variables),
            Update("generator", self.generator_loss, self.generator.trainable_variables),
        ]

    def sample_latents(self, num_samples, seed=None):
        """Standard normal latent vectors, drawn with numpy from ``seed``."""
        return self.standard_normal((num_samples, self.latent_dim), seed)

    def _generate(self, num_samples, *, seed=None, latents=None, batch_size=256):
        """Samples for ``num_samples`` latent vectors drawn from ``seed``, or for ``latents``."""
        if latents is None:
            if num_samples is None:
                raise ValueError("Pass num_samples (or latents=) to generate().")
            latents = self.sample_latents(num_samples, seed)
        else:
            latents = keras.ops.convert_to_numpy(latents).astype("float32")
            if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
                raise ValueError(
                    f"latents must have shape (n, {self.latent_dim}); got {latents.shape}."
                )
            if num_samples is not None and num_samples != len(latents):
                raise ValueError("num_samples and the number of latents differ.")
        return self.generator.predict(latents, batch_size=batch_size, verbose=0)

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, loss=self.loss)
        return config
