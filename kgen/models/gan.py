"""Generative adversarial network (Goodfellow et al. 2014) with DCGAN defaults (Radford et al. 2016).

Options for the objective and its stabilisation: the hinge, Wasserstein and
least-squares losses, the WGAN-GP and R1 gradient penalties, several discriminator
updates per generator update, spectral normalisation (through the networks) and an
exponential moving average of the generator's weights for sampling.
"""

import keras
import numpy as np
from keras import ops

from kgen import backend, checks, losses, networks
from kgen.models import registry
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.models.base import GenerativeModel, Update
from kgen.models.ema import ExponentialMovingAverage
from kgen.models.network_checks import check_data_space, check_logits, input_count, \
    input_shapes
from kgen.networks.diff_augment import DiffAugment
from kgen.networks.spectral_norm import SpectralNormalization
from kgen.precision import float32

#: What each objective trains with when its options are left to their defaults: the
#: gradient penalty and its weight, discriminator updates per generator update, the moving
#: average of the generator, and Adam's (learning rate, beta_1, beta_2). ``"default"``
#: serves the non-saturating, minimax, hinge and least-squares losses;
#: ``"spectral_norm"`` any of them with a spectrally normalised discriminator (no
#: penalty: the discriminator is already Lipschitz). Images use the settings of the
#: papers: Radford et al. 2016 for the default, Gulrajani et al. 2017 for the Wasserstein
#: loss, Miyato et al. 2018 (their setting C) for spectral normalisation. Vectors (the
#: 2-D mixtures) use those that cover every mode in benchmarks/mode_coverage.py.
OBJECTIVES = {
    "images": {
        "default": {"gradient_penalty": None, "penalty_weight": None,
                    "discriminator_steps": 1, "ema": None, "adam": (2e-4, 0.5, 0.999)},
        "wasserstein": {"gradient_penalty": "wgan-gp", "penalty_weight": 10.0,
                        "discriminator_steps": 5, "ema": None, "adam": (1e-4, 0.0, 0.9)},
        "spectral_norm": {"gradient_penalty": None, "penalty_weight": None,
                          "discriminator_steps": 1, "ema": None, "adam": (2e-4, 0.5, 0.999)},
    },
    "vectors": {
        "default": {"gradient_penalty": "r1", "penalty_weight": 0.1,
                    "discriminator_steps": 1, "ema": 0.999, "adam": (1e-3, 0.5, 0.999)},
        "wasserstein": {"gradient_penalty": "wgan-gp", "penalty_weight": 1.0,
                        "discriminator_steps": 5, "ema": 0.999, "adam": (1e-3, 0.0, 0.9)},
        "spectral_norm": {"gradient_penalty": None, "penalty_weight": None,
                          "discriminator_steps": 5, "ema": 0.999, "adam": (1e-3, 0.0, 0.9)},
    },
}


def objective_defaults(loss, vectors, spectral_norm=False):
    """The defaults of a GAN objective (`OBJECTIVES`), for images or vectors.

    A discriminator with spectral normalisation is already Lipschitz: with any loss but
    the Wasserstein one (whose WGAN-GP settings stay), it gets the ``"spectral_norm"``
    row, without a gradient penalty (Miyato et al. 2018).

    Args:
        loss: the adversarial loss's name (None for a custom `kgen.losses.AdversarialLoss`).
        vectors: the samples are vectors (2-D points) rather than images.
        spectral_norm: the discriminator has spectral normalisation.

    Returns:
        A dict with ``gradient_penalty``, ``penalty_weight``, ``discriminator_steps``,
        ``ema`` and ``adam`` (learning rate, beta_1, beta_2).

    Example:

    ```python
    from kgen.models.gan import objective_defaults

    objective_defaults("wasserstein", vectors=False)["discriminator_steps"]   # 5
    objective_defaults("hinge", vectors=True, spectral_norm=True)["adam"]    # (0.001, 0.0, 0.9)
    ```
    """
    table = OBJECTIVES["vectors" if vectors else "images"]
    if spectral_norm and loss != "wasserstein":
        return dict(table["spectral_norm"])
    return dict(table.get(loss, table["default"]))


def _has_spectral_norm(network):
    """Whether ``network`` holds a spectral normalisation layer (kgen's or Keras's)."""
    try:
        layers = network._flatten_layers(include_self=True, recursive=True)
    except AttributeError:
        return False
    kinds = (SpectralNormalization, keras.layers.SpectralNormalization)
    return any(isinstance(layer, kinds) for layer in layers)


@keras.saving.register_keras_serializable(package="kgen")
class GAN(GenerativeModel):
    """A generative adversarial network trained with `fit()`.

    The defaults are those of the objective (`OBJECTIVES`), whatever the networks: a GAN
    built from a user's own networks trains as one from `from_shape` does, with the
    optimizer, penalty, critic steps and moving average its loss is known to work with.

    Each training step makes two updates, in order: the discriminator learns to tell the
    batch of real samples from a batch of generated ones (``discriminator_steps`` times,
    on the same real batch with fresh noise each time); then the generator, facing the
    updated discriminator, learns to fool it. Both networks run in training mode (batch
    normalisation uses batch statistics and updates its moving averages). With ``ema``,
    an exponential moving average of the generator's weights is updated after each step
    and `generate()` samples with it.

    Logs: ``d_loss`` (including the penalty), ``g_loss``, the discriminator's accuracy on
    real (``real_accuracy``) and generated (``fake_accuracy``) samples, and, with a
    gradient penalty, ``gp`` (the weighted penalty, already part of ``d_loss``). With
    ``discriminator_steps > 1`` the discriminator's logs are averaged over its updates.

    Args:
        generator: a Keras model from latent vectors ``(latent_dim,)`` to samples.
        discriminator: a Keras model from samples to one logit per sample.
        latent_dim: size of the latent vector; inferred from the generator's input if None.
        loss: ``"non_saturating"`` (default), ``"minimax"``, ``"hinge"``,
            ``"wasserstein"`` or ``"least_squares"`` (`kgen.losses.ADVERSARIAL_LOSSES`),
            or a `kgen.losses.AdversarialLoss` instance.
        gradient_penalty: ``"auto"`` (the objective's default, `objective_defaults`),
            None, ``"wgan-gp"`` (Gulrajani et al. 2017, at random interpolates of real and
            generated samples) or ``"r1"`` (Mescheder et al. 2018, on real samples), added
            to the discriminator's loss.
        penalty_weight: the penalty's coefficient (lambda for WGAN-GP, gamma for R1);
            default: the objective's (`OBJECTIVES`) when the penalty is too, else 10.
        discriminator_steps: discriminator updates per generator update (default: the
            objective's, 5 for the Wasserstein loss, 1 for the others).
        ema: ``"auto"`` (the objective's default: 0.999 for vectors, none for images),
            None, or the decay (in [0, 1), such as 0.999) of an exponential moving
            average of the generator's weights, kept in ``ema_generator`` and used by
            `generate()`.
        ema_warmup: use the decay ``min(ema, (1 + n) / (10 + n))`` at step ``n``, so the
            average forgets the random initial weights within the first few hundred steps.
        augment: None, or the DiffAugment transforms (`kgen.networks.DiffAugment`, Zhao et
            al. 2020) applied to real and generated samples alike before the
            discriminator, such as ``"color,translation,cutout"``: for small data sets.
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

    wgan = kgen.models.GAN.from_shape(x.shape[1:], loss="wasserstein",
                                      gradient_penalty="wgan-gp", discriminator_steps=5,
                                      ema=0.999)
    ```

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
        Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
        Convolutional Generative Adversarial Networks", ICLR 2016.
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
        Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually
        Converge?", ICML 2018.
        Yazici et al., "The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019.
    """

    optimizer_names = ("discriminator", "generator")
    log_names = ("d_loss", "g_loss", "real_accuracy", "fake_accuracy")
    network_names = ("generator", "discriminator")

    def __init__(self, generator, discriminator, latent_dim=None, loss="non_saturating",
                 gradient_penalty="auto", penalty_weight=None, discriminator_steps=None,
                 ema="auto", ema_warmup=True, augment=None, seed=None, **kwargs):
        loss_name = loss if isinstance(loss, str) else getattr(loss, "name", None)
        adversarial_loss = losses.get_adversarial_loss(loss)
        if gradient_penalty not in ("auto", None) and \
                gradient_penalty not in losses.GRADIENT_PENALTIES:
            raise ValueError(
                f"Unknown gradient_penalty {gradient_penalty!r}; choose None, 'auto' or one of "
                f"{sorted(losses.GRADIENT_PENALTIES)}."
            )
        if latent_dim is None:
            latent_dim = self._infer_latent_dim(generator)
        latent_dim = checks.integer(latent_dim, "latent_dim", 1)
        vectors = self._makes_vectors(generator, latent_dim)
        defaults = objective_defaults(loss_name, vectors, _has_spectral_norm(discriminator))
        auto_penalty = gradient_penalty == "auto"
        if auto_penalty:
            gradient_penalty = defaults["gradient_penalty"]
        if penalty_weight is None and auto_penalty and gradient_penalty is not None:
            penalty_weight = defaults["penalty_weight"]
        if penalty_weight is not None:
            penalty_weight = checks.number(penalty_weight, "penalty_weight", 0.0)
            if gradient_penalty is None:
                raise ValueError(
                    "penalty_weight is set but gradient_penalty is None: choose a penalty.")
        if discriminator_steps is None:
            discriminator_steps = defaults["discriminator_steps"]
        if ema == "auto":
            ema = defaults["ema"]
        log_names = type(self).log_names + (("gp",) if gradient_penalty else ())
        super().__init__(seed=seed, log_names=log_names, **kwargs)
        self.loss = loss_name
        self.latent_dim = latent_dim
        self.generator = generator
        self.discriminator = discriminator
        self.adversarial_loss = adversarial_loss
        self.gradient_penalty = gradient_penalty
        self.penalty_weight = penalty_weight
        self.discriminator_steps = checks.integer(discriminator_steps, "discriminator_steps", 1)
        self.vectors = vectors
        self.spectral_norm = _has_spectral_norm(discriminator)
        self._check_networks()
        self.ema = ema
        self.ema_warmup = bool(ema_warmup)
        self._generator_average = (
            None if ema is None else ExponentialMovingAverage(self.generator, ema))
        self.ema_generator = (
            None if ema is None else self._generator_average.average)
        self.augment = augment
        self.augmentation = None if augment is None else DiffAugment(
            augment, seed=seed, name="diff_augment")
        self._ensure_built()

    @staticmethod
    def _makes_vectors(generator, latent_dim):
        """Whether ``generator`` makes vectors (2-D points) rather than images."""
        try:
            shape = tuple(generator.compute_output_shape((1, latent_dim)))
        except Exception:  # noqa: BLE001 - a conditional generator takes [z, labels]
            try:
                shape = tuple(generator.output_shape)
            except (AttributeError, ValueError):
                return False
        return len(shape) == 2

    # ------------------------------------------------------------- networks
    def _infer_latent_dim(self, generator):
        shape = checks.first_input_shape(generator)
        if shape is None or shape[-1] is None:
            raise ValueError(
                "latent_dim could not be inferred from the generator's input: pass it.")
        return int(shape[-1])

    def _generator_input_shape(self, batch):
        """The shape(s) of the generator's input(s) for ``batch`` samples."""
        return (batch, self.latent_dim)

    def _discriminator_input_shape(self, sample_shape, batch):
        """The shape(s) of the discriminator's input(s) for ``batch`` samples."""
        return (batch,) + tuple(sample_shape)

    def _check_input_counts(self):
        """A GAN's networks take one input each: latent vectors, and samples."""
        for role, net, what in (("generator", self.generator, "latent vectors (n, latent_dim)"),
                                ("discriminator", self.discriminator, "samples")):
            count = input_count(net)
            if count is not None and count != 1:
                raise ValueError(
                    f"A GAN's {role} takes one input, {what}; this one takes {count} "
                    f"(shapes {input_shapes(net)}). For class labels use "
                    "kgen.models.ConditionalGAN, whose networks take [inputs, labels].")

    def _check_networks(self):
        for role, net in (("generator", self.generator), ("discriminator", self.discriminator)):
            if not isinstance(net, keras.layers.Layer):
                raise TypeError(f"{role} must be a Keras model or layer; got {type(net).__name__}.")
        self._check_input_counts()
        if not self.generator.built:
            self.generator.build(self._generator_input_shape(None))
        gen_in = checks.first_input_shape(self.generator)
        if gen_in is not None and gen_in[-1] is not None and gen_in[-1] != self.latent_dim:
            raise ValueError(
                f"The generator takes latent vectors of size {gen_in[-1]} but latent_dim is "
                f"{self.latent_dim}."
            )
        sample_shape = tuple(
            self.generator.compute_output_shape(self._generator_input_shape(1)))[1:]
        if not self.discriminator.built:
            self.discriminator.build(self._discriminator_input_shape(sample_shape, None))
        disc_in = checks.first_input_shape(self.discriminator)
        if disc_in is not None and disc_in[1:] != sample_shape and None not in disc_in[1:]:
            raise ValueError(
                f"The generator makes samples of shape {sample_shape} but the discriminator "
                f"takes {disc_in[1:]}."
            )
        out = tuple(self.discriminator.compute_output_shape(
            self._discriminator_input_shape(sample_shape, 1)))
        if out[1:] not in ((1,), ()):
            raise ValueError(
                f"The discriminator must output one logit per sample; its output shape is "
                f"{out}. End it with Dense(1) and no activation."
            )
        name = type(self).__name__
        check_logits(self.discriminator, "discriminator", name,
                     "End the discriminator with Dense(1) and no activation: kgen's losses "
                     "take logits.")
        check_data_space(self.generator, "generator", name,
                         "End the generator with a tanh activation (images) or none.",
                         images=len(sample_shape) == 3)

    @classmethod
    def from_shape(cls, shape, latent_dim=None, base_filters=None, spectral_norm=False,
                   **kwargs):
        """A GAN with default networks for samples of ``shape``.

        Images ``(height, width, channels)`` get DCGAN networks (`kgen.networks.dcgan_generator`,
        `kgen.networks.dcgan_discriminator`); vectors ``(dim,)`` (the 2-D toy mixtures) get
        MLPs (`kgen.networks.mlp`). With a gradient penalty or spectral normalisation the
        discriminator has no batch normalisation (a penalty is per sample, and batch
        statistics would tie the samples of a batch together; Gulrajani et al. 2017).

        Vectors get networks and defaults of their own, chosen on the mode-coverage
        benchmark (``benchmarks/mode_coverage.py``): 3x128 MLPs, a 2-D latent space (as in
        PacGAN) and, per objective (`OBJECTIVES`), the penalty, critic steps, moving
        average of the generator and Adam settings that cover the 25-Gaussian grid; pass
        ``gradient_penalty=None`` for no penalty.

        Args:
            shape: sample shape, e.g. ``(8, 8, 1)`` or ``(2,)``.
            latent_dim: default 100 for images, 2 for vectors.
            base_filters: width of the convolutional networks (default 32 for images up to
                16x16, 64 above); for vectors, the width of the hidden layers (default 128).
            spectral_norm: spectral normalisation of every discriminator layer
                (`kgen.networks.SpectralNormalization`; Miyato et al. 2018).
            **kwargs: passed to the constructor (``loss``, ``gradient_penalty``,
                ``penalty_weight``, ``discriminator_steps``, ``ema``, ``seed``, ``name``).

        Example:

        ```python
        import kgen
        gan = kgen.models.GAN.from_shape((16, 16, 3), latent_dim=64, base_filters=32)
        sngan = kgen.models.GAN.from_shape((16, 16, 3), loss="hinge", spectral_norm=True)
        ```
        """
        shape = tuple(int(s) for s in shape)
        latent_dim = checks.optional_integer(latent_dim, "latent_dim", 1)
        base_filters = checks.optional_integer(base_filters, "base_filters", 1)
        penalty = kwargs.get("gradient_penalty", "auto")
        if penalty == "auto":
            penalty = objective_defaults(kwargs.get("loss", "non_saturating"), len(shape) == 1,
                                         spectral_norm)["gradient_penalty"]
        plain_critic = bool(spectral_norm or penalty)
        if len(shape) == 1:
            latent_dim = latent_dim or 2
            width = base_filters or 128
            generator = networks.mlp(latent_dim, shape[0], (width,) * 3, name="generator")
            discriminator = networks.mlp(shape[0], 1, (width,) * 3, activation="leaky_relu",
                                         spectral_norm=spectral_norm, name="discriminator")
        elif len(shape) == 3:
            latent_dim = latent_dim or 100
            width = base_filters or (32 if max(shape[:2]) <= 16 else 64)
            generator = networks.dcgan_generator(shape, latent_dim, width)
            discriminator = networks.dcgan_discriminator(
                shape, base_filters=width, batch_norm=not plain_critic,
                spectral_norm=spectral_norm)
        else:
            raise ValueError(
                f"GAN.from_shape takes an image shape (height, width, channels) or a vector "
                f"shape (dim,); got {shape}."
            )
        return cls(generator=generator, discriminator=discriminator, latent_dim=latent_dim,
                   **kwargs)

    def default_optimizer(self, name):
        """Adam with the settings of the objective (`objective_defaults`), for both networks."""
        rate, beta_1, beta_2 = objective_defaults(self.loss, self.vectors,
                                                  self.spectral_norm)["adam"]
        return keras.optimizers.Adam(learning_rate=rate, beta_1=beta_1, beta_2=beta_2)

    @property
    def sampling_generator(self):
        """The generator `generate()` runs: ``ema_generator`` with ``ema``, else ``generator``."""
        return self.generator if self.ema_generator is None else self.ema_generator

    def call(self, latents, training=False):
        return self.sampling_generator(latents, training=training)

    # ------------------------------------------------------------ the step
    def _latents_like(self, x):
        return backend.batch_noise(lambda shape: keras.random.normal(
            shape, seed=self.seed_generator), (ops.shape(x)[0], self.latent_dim))

    def generate_batch(self, latents, labels=None, training=True):
        """The generator's samples for ``latents`` (``labels`` are for conditional models)."""
        return self.generator(latents, training=training)

    def augmented(self, samples, training=True):
        """``samples`` through the DiffAugment transforms (``augment``) when training."""
        if self.augmentation is None:
            return samples
        return self.augmentation(samples, training=training)

    def discriminate(self, samples, labels=None, training=True):
        """The discriminator's logits for ``samples`` (``labels`` are for conditional models).

        With ``augment``, the samples (real and generated alike) go through the same random
        differentiable transforms first, in training (Zhao et al. 2020).
        """
        return float32(
            self.discriminator(self.augmented(samples, training), training=training))

    @property
    def resolved_penalty_weight(self):
        """The penalty's coefficient: ``penalty_weight``, or the penalty's default (10)."""
        if self.gradient_penalty is None:
            return 0.0
        if self.penalty_weight is not None:
            return float(self.penalty_weight)
        return losses.GRADIENT_PENALTIES[self.gradient_penalty]

    def penalty(self, real, fake, labels=None, training=True):
        """The discriminator's weighted gradient penalty on this batch (``gradient_penalty``).

        WGAN-GP takes the discriminator's input gradient at ``fake + eps * (real - fake)``,
        one ``eps ~ U[0, 1]`` per example drawn from the model's seed generator
        (`kgen.losses.interpolate`, `kgen.losses.wgan_gradient_penalty`); R1 takes it at
        the real samples (`kgen.losses.r1_penalty`). The gradients come from
        `kgen.backend.input_gradient`, so the penalty trains the discriminator.
        """
        def critic(samples):
            return self.discriminate(samples, labels, training=training)

        weight = self.resolved_penalty_weight
        real = ops.convert_to_tensor(real, dtype=keras.backend.floatx())
        if self.gradient_penalty == "wgan-gp":
            shape = (ops.shape(real)[0],) + (1,) * (len(real.shape) - 1)
            eps = backend.batch_noise(lambda s: keras.random.uniform(
                s, dtype=real.dtype, seed=self.seed_generator), shape)
            points = losses.interpolate(real, fake, eps)
            return losses.wgan_gradient_penalty(backend.input_gradient(critic, points), weight)
        return losses.r1_penalty(backend.input_gradient(critic, real), weight)

    def discriminator_loss(self, x, y=None, training=True):
        fake = ops.stop_gradient(
            self.generate_batch(self._latents_like(x), y, training=training))
        real_logits = self.discriminate(x, y, training=training)
        fake_logits = self.discriminate(fake, y, training=training)
        loss = self.adversarial_loss.discriminator_loss(real_logits, fake_logits)
        threshold = self.adversarial_loss.threshold
        logs = {
            "real_accuracy": losses.binary_accuracy(real_logits, True, threshold),
            "fake_accuracy": losses.binary_accuracy(fake_logits, False, threshold),
        }
        if self.gradient_penalty is not None:
            penalty = self.penalty(x, fake, y, training=training)
            loss = loss + penalty
            logs["gp"] = penalty
        logs["d_loss"] = loss
        return loss, logs

    def generator_loss(self, x, y=None, training=True):
        fake = self.generate_batch(self._latents_like(x), y, training=training)
        loss = self.adversarial_loss.generator_loss(self.discriminate(fake, y, training=training))
        return loss, {"g_loss": loss}

    def training_updates(self):
        return [
            Update("discriminator", self.discriminator_loss,
                   self.discriminator.trainable_variables, repeat=self.discriminator_steps),
            Update("generator", self.generator_loss, self.generator.trainable_variables),
        ]

    def after_updates(self, x, y):
        if self._generator_average is None:
            return
        decay = None
        if self.ema_warmup:
            step = ops.cast(self.optimizer.iterations, "float32")
            decay = ops.minimum(self.ema, (1.0 + step) / (10.0 + step))
        self._generator_average.update(decay)

    # ------------------------------------------------------------ sampling
    def sample_latents(self, num_samples, seed=None):
        """Standard normal latent vectors, drawn with numpy from ``seed``."""
        return self.standard_normal((num_samples, self.latent_dim), seed)

    def _resolve_latents(self, num_samples, seed, latents):
        if latents is None:
            if num_samples is None:
                raise ValueError("Pass num_samples (or latents=) to generate().")
            return self.sample_latents(num_samples, seed)
        latents = keras.ops.convert_to_numpy(latents).astype("float32")
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ValueError(
                f"latents must have shape (n, {self.latent_dim}); got {latents.shape}."
            )
        if num_samples is not None and num_samples != len(latents):
            raise ValueError("num_samples and the number of latents differ.")
        return latents

    def _generate(self, num_samples, *, seed=None, latents=None, batch_size=256):
        """Samples for ``num_samples`` latent vectors drawn from ``seed``, or for ``latents``."""
        latents = self._resolve_latents(num_samples, seed, latents)
        return self.sampling_generator.predict(latents, batch_size=batch_size, verbose=0)

    def serving_functions(self):
        """The sampler for `export_generator`: latent vectors to ``sampling_generator``'s samples.

        The SavedModel's ``generate_from_latent(latent)`` equals ``generate(latents=latent)``;
        ``generate(seed, num_samples)`` draws the latent vectors from a standard normal.
        """
        generator = self.sampling_generator

        def sample(z):
            return generator(z, training=False)

        return ServingFunctions(sample, [ServingInput("latent", (self.latent_dim,))],
                                [generator])

    def serving_inputs(self, num_samples=None, *, seed=None, latents=None, batch_size=256):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed)``
        uses: ``{"latent": ...}``, the latent vectors drawn from ``seed`` (or ``latents``).

        Example:

        ```python
        import kgen
        gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=16, base_filters=8)
        gan.serving_inputs(4, seed=0)["latent"].shape   # (4, 16)
        ```
        """
        return {"latent": self._resolve_latents(num_samples, seed, latents)}

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, loss=self.loss,
                      gradient_penalty=self.gradient_penalty,
                      penalty_weight=self.penalty_weight,
                      discriminator_steps=self.discriminator_steps, ema=self.ema,
                      ema_warmup=self.ema_warmup, augment=self.augment)
        return config


__all__ = ["GAN", "OBJECTIVES", "objective_defaults"]

#: The GAN options shared by the adversarial families' command line.
ADVERSARIAL_OPTIONS = (
    registry.Option("loss", str, "adversarial loss", choices=tuple(losses.ADVERSARIAL_LOSSES),
                    default="non_saturating"),
    registry.Option("gradient_penalty", str, "gradient penalty of the discriminator (auto: "
                    "the objective's default)", choices=("auto", "none", "wgan-gp", "r1"),
                    default="auto"),
    registry.Option("penalty_weight", float, "the penalty's weight"),
    registry.Option("discriminator_steps", int, "discriminator updates per generator update"),
    registry.Option("ema", float, "decay of the moving average of the generator's weights "
                    "used for sampling (0: none)"),
    registry.Option("augment", str, "DiffAugment transforms of real and generated images, "
                    "e.g. color,translation,cutout"),
    registry.Option("spectral_norm", bool, "spectral normalisation of the discriminator"),
)


def adversarial_options(options):
    """The command line's values of `ADVERSARIAL_OPTIONS` as constructor arguments."""
    options = dict(options)
    if options.get("gradient_penalty") == "none":
        options["gradient_penalty"] = None
    if options.get("ema") == 0:
        options["ema"] = None
    return options


def _build(data, **options):
    return GAN.from_shape(data.shape, **adversarial_options(options))


registry.register(registry.Family(
    name="gan",
    model_class=GAN,
    summary="GAN: DCGAN networks (MLPs for 2-D points), five losses, WGAN-GP and R1, "
            "spectral norm, EMA, DiffAugment",
    options=(
        registry.Option("latent_dim", int, "size of the latent vector (default: 100 for "
                        "images, 2 for points)"),
        registry.Option("base_filters", int, "width of the networks"),
    ) + ADVERSARIAL_OPTIONS,
    build=_build,
    default_epochs=100,
    monitor="d_loss",
    tiny={"latent_dim": 8, "base_filters": 4},
    metrics=("fid", "kid", "is", "pr", "modes"),
))
