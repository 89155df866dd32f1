"""pix2pix: paired image-to-image translation with a conditional GAN (Isola et al. 2017)."""

import keras
import numpy as np
from keras import ops

from kgen import checks, losses, networks
from kgen.models import registry
from kgen.models.base import GenerativeModel, Update
from kgen.models.network_checks import check_data_space, check_logits
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.models.translation import (
    check_image_array,
    data_space_batch,
    image_network_shapes,
    mean_absolute_error,
)
from kgen.networks.unet import check_image_shape
from kgen.precision import float32


@keras.saving.register_keras_serializable(package="kgen")
class Pix2Pix(GenerativeModel):
    """pix2pix: a conditional GAN that translates images, trained on (input, target) pairs.

    The generator ``G`` maps an input image ``x`` to an output ``G(x)`` (edges to photos,
    labels to scenes, grey to colour); the discriminator ``D`` judges *pairs*: it sees
    ``(x, y)`` with the real target ``y`` and ``(x, G(x))``, so it checks that the output
    fits its input, not just that it looks real. Each training step makes two updates:

    1. discriminator: ``L_D = loss(D(x, y) real, D(x, G(x)) fake)``;
    2. generator: ``L_G = loss_G(D(x, G(x))) + l1_weight * mean|y - G(x)|``.

    The L1 term gets the low frequencies right (on its own it gives blurry outputs); the
    adversarial term, with a PatchGAN discriminator (one logit per patch), adds the
    sharp local detail. Training data come as ``(inputs, targets)`` the Keras way:
    ``fit(x, y)`` with float arrays in [-1, 1] or uint8 arrays (converted to [-1, 1] as
    `kgen.data.to_data_space` converts them), or a dataset of ``(input, target)``
    batches (`kgen.data.paired_images`).

    `generate()` runs the generator in inference mode: batch normalisation uses its
    moving statistics and dropout is off, so the output is a deterministic function of
    the input and ``seed`` has no effect (the paper keeps dropout at test time as its
    noise; this class does not).

    Logs: ``d_loss``, ``g_loss`` (adversarial + weighted L1), ``g_adv`` (its adversarial
    part), ``l1`` (the unweighted mean absolute error of ``G(x)``), ``real_accuracy`` and
    ``fake_accuracy`` (of the discriminator's patch logits).

    Args:
        generator: a Keras model from input images to target images
            (`kgen.networks.unet_generator`).
        discriminator: a Keras model from ``[input, image]`` to logits, one or a grid
            per pair (`kgen.networks.patchgan_discriminator` with ``condition_shape``).
        l1_weight: weight of the L1 term (the paper's lambda, 100).
        loss: adversarial loss (a name of `kgen.losses.ADVERSARIAL_LOSSES` or an
            `kgen.losses.AdversarialLoss`); the paper's is ``"non_saturating"``.
        seed: seed of the model's noise generator.
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import kgen

    x = kgen.data.to_data_space(kgen.data.load("digits")[:256])
    model = kgen.models.Pix2Pix.from_shape(x.shape[1:], base_filters=8)
    model.compile()
    model.fit(x, -x, batch_size=32, epochs=1, verbose=0)   # learn to invert
    outputs = model.generate(inputs=x[:16])                  # (16, 8, 8, 1)
    ```

    References:
        Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional
        Adversarial Networks", CVPR 2017.
    """

    optimizer_names = ("discriminator", "generator")
    log_names = ("d_loss", "g_loss", "g_adv", "l1", "real_accuracy", "fake_accuracy")
    network_names = ("generator", "discriminator")

    def __init__(self, generator, discriminator, l1_weight=100.0, loss="non_saturating",
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.l1_weight = checks.number(l1_weight, "l1_weight", 0)
        self.loss = loss if isinstance(loss, str) else loss.name
        self.adversarial_loss = losses.get_adversarial_loss(loss)
        self.input_image_shape, self.target_image_shape = self._check_networks()
        self._ensure_built()

    def _check_networks(self):
        source, target = image_network_shapes(self.generator, "generator")
        expected = [source, target]
        got = checks.network_input_shapes(self.discriminator, "discriminator")
        if not isinstance(got, list) or [tuple(s) for s in got] != expected:
            raise ValueError(
                f"The discriminator must take [input, image] pairs of shapes {expected} "
                f"(the generator maps {source} to {target}); it takes {got}. Build it "
                "with kgen.networks.patchgan_discriminator(target_shape, "
                "condition_shape=input_shape).")
        check_data_space(self.generator, "generator", "Pix2Pix",
                         "End it with a tanh activation: kgen's images live in [-1, 1].")
        check_logits(self.discriminator, "discriminator", "Pix2Pix",
                     "End it with a convolution and no activation: kgen's losses take "
                     "logits.")
        return source, target

    @classmethod
    def from_shape(cls, input_shape, target_shape=None, base_filters=None, depth=None,
                   dropout=0.5, num_layers=3, normalization="batch", **kwargs):
        """A pix2pix model with the paper's networks for ``input_shape`` -> ``target_shape``.

        The generator is `kgen.networks.unet_generator`, the discriminator
        `kgen.networks.patchgan_discriminator` on (input, output) pairs.

        Args:
            input_shape: input image shape ``(height, width, channels)``.
            target_shape: target image shape, of the same height and width; default:
                ``input_shape``. Only its channels may differ (1 -> 3 for colouring).
            base_filters: width of both networks (default 32 for images up to 16 pixels
                on a side, 64 above, the paper's).
            depth: the U-Net's number of halvings (default: down to 1x1).
            dropout: the U-Net's dropout rate.
            num_layers: strided layers of the PatchGAN (clipped for small images).
            normalization: the PatchGAN's normalisation (``"batch"``, ``"instance"``, None).
            **kwargs: constructor arguments (``l1_weight``, ``loss``, ``seed``, ``name``).

        Example:

        ```python
        import kgen
        model = kgen.models.Pix2Pix.from_shape((8, 8, 1), (8, 8, 3), base_filters=8)
        ```
        """
        input_shape = check_image_shape(input_shape, "Pix2Pix.from_shape")
        if target_shape is None:
            target_shape = input_shape
        target_shape = check_image_shape(target_shape, "Pix2Pix.from_shape")
        if target_shape[:2] != input_shape[:2]:
            raise ValueError(
                f"pix2pix translates images to images of the same size; the inputs are "
                f"{input_shape} and the targets {target_shape}. Resize one of them.")
        width = checks.optional_integer(base_filters, "base_filters", 1) \
            or networks.default_base_filters(input_shape)
        generator = networks.unet_generator(input_shape, target_shape[-1], width, depth=depth,
                                            dropout=dropout, name="pix2pix_generator")
        discriminator = networks.patchgan_discriminator(
            target_shape, condition_shape=input_shape, base_filters=width,
            num_layers=num_layers, normalization=normalization,
            name="pix2pix_discriminator")
        return cls(generator, discriminator, **kwargs)

    def default_optimizer(self, name):
        # Isola et al. 2017: Adam, learning rate 2e-4, beta_1 0.5, for both networks.
        return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    # ------------------------------------------------------------ the step
    def _fix(self):
        return ("Pass fit(inputs, targets) with inputs of shape (n,) + "
                f"{self.input_image_shape} and targets of shape (n,) + "
                f"{self.target_image_shape}, or a dataset of such (input, target) batches.")

    def _pairs(self, x, y):
        """The batch's inputs and targets, checked, as data space (uint8 converted)."""
        if y is None:
            raise ValueError(
                f"Pix2Pix trains on (input, target) pairs, but got no targets. {self._fix()}")
        return (data_space_batch(x, self.input_image_shape, "inputs", self._fix()),
                data_space_batch(y, self.target_image_shape, "targets", self._fix()))

    def discriminator_loss(self, x, y=None, training=True):
        """The conditional discriminator's loss on real pairs ``(x, y)`` and fake ``(x, G(x))``."""
        x, y = self._pairs(x, y)
        fake = ops.stop_gradient(self.generator(x, training=training))
        real_logits = float32(self.discriminator([x, y], training=training))
        fake_logits = float32(self.discriminator([x, fake], training=training))
        loss = self.adversarial_loss.discriminator_loss(real_logits, fake_logits)
        threshold = self.adversarial_loss.threshold
        return loss, {
            "d_loss": loss,
            "real_accuracy": losses.binary_accuracy(real_logits, True, threshold),
            "fake_accuracy": losses.binary_accuracy(fake_logits, False, threshold),
        }

    def generator_loss(self, x, y=None, training=True):
        """The generator's adversarial loss on ``(x, G(x))`` plus ``l1_weight`` times L1."""
        x, y = self._pairs(x, y)
        fake = self.generator(x, training=training)
        adversarial = self.adversarial_loss.generator_loss(
            float32(self.discriminator([x, fake], training=training)))
        l1 = mean_absolute_error(y, fake)
        loss = adversarial + self.l1_weight * l1
        return loss, {"g_loss": loss, "g_adv": adversarial, "l1": l1}

    def training_updates(self):
        return [
            Update("discriminator", self.discriminator_loss,
                   self.discriminator.trainable_variables),
            Update("generator", self.generator_loss, self.generator.trainable_variables),
        ]

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`; arrays are checked first (targets given, shapes, dtypes, range).

        uint8 (and uint16) arrays are converted to data space in the training step, as
        `kgen.data.to_data_space` converts them; float arrays must lie in [-1, 1].
        """
        if isinstance(x, np.ndarray):
            if y is None:
                raise ValueError(f"Pix2Pix trains on (input, target) pairs, but got no "
                                 f"targets. {self._fix()}")
            check_image_array(x, self.input_image_shape, "inputs", self._fix())
            check_image_array(np.asarray(y), self.target_image_shape, "targets", self._fix())
        return super().fit(x, y, *args, **kwargs)

    # ------------------------------------------------------------ sampling
    def _generate(self, num_samples, *, seed=None, inputs=None, batch_size=256):
        """The translations of ``inputs``: images of the input shape, uint8 (converted as
        `kgen.data.to_data_space` converts them) or floats in [-1, 1]."""
        inputs = self.serving_inputs(num_samples, seed=seed, inputs=inputs)["inputs"]
        batch_size = checks.integer(batch_size, "batch_size", 1)
        return self.generator.predict(inputs, batch_size=batch_size, verbose=0)

    def serving_inputs(self, num_samples=None, *, seed=None, inputs=None, batch_size=256):
        """The inputs of the exported translator that ``generate(inputs=inputs)`` uses:
        ``{"inputs": ...}``, the images in data space (float32, uint8 converted). The seed
        has no effect (inference mode: no dropout, no noise).

        Example:

        ```python
        import kgen
        model = kgen.models.Pix2Pix.from_shape((8, 8, 1), base_filters=4, depth=1,
                                               num_layers=1)
        model.serving_inputs(inputs=kgen.data.load("digits")[:2])["inputs"].dtype   # float32
        ```
        """
        del seed  # inference mode: no dropout, no noise
        inputs = checks.data_space_images(inputs, self.input_image_shape, "inputs",
                                          type(self).__name__)
        if num_samples is not None and num_samples != len(inputs):
            raise ValueError(
                f"num_samples ({num_samples}) differs from the number of inputs "
                f"({len(inputs)}); leave it out.")
        return {"inputs": np.asarray(inputs, "float32")}

    def serving_functions(self):
        """The translator for `export_generator`: ``inputs`` images to the generator's output.

        ``generate_from_latent(inputs)`` (float32 images in [-1, 1]) equals
        ``generate(inputs=inputs)``; there is no noise, so no ``generate`` signature.
        """
        generator = self.generator

        def sample(images):
            return generator(images, training=False)

        return ServingFunctions(sample, [ServingInput("inputs", self.input_image_shape,
                                                      noise=None)], [generator])

    def get_config(self):
        config = super().get_config()
        config.update(l1_weight=self.l1_weight, loss=self.loss)
        return config


def _build(data, **options):
    return Pix2Pix.from_shape(data.shape, data.target_shape, **options)


registry.register(registry.Family(
    name="pix2pix",
    model_class=Pix2Pix,
    summary="pix2pix: paired image-to-image translation (U-Net, PatchGAN, cGAN + L1)",
    data="paired",
    options=(
        registry.Option("base_filters", int, "width of both networks"),
        registry.Option("depth", int, "down-sampling blocks of the U-Net"),
        registry.Option("dropout", float, "dropout of the U-Net's decoder (the noise)",
                        default=0.5),
        registry.Option("num_layers", int, "strided layers of the PatchGAN", default=3),
        registry.Option("normalization", str, "normalisation of both networks",
                        choices=("batch", "instance", "none"), default="batch"),
        registry.Option("l1_weight", float, "weight of the L1 loss", default=100.0),
        registry.Option("loss", str, "adversarial loss", default="non_saturating",
                        choices=tuple(losses.ADVERSARIAL_LOSSES)),
    ),
    build=_build,
    conditions=("inputs",),
    default_data="digits-edges",
    default_epochs=30,
    monitor="l1",
    tiny={"base_filters": 4, "depth": 1, "num_layers": 1},
    metrics=("l1", "fid", "kid", "pr"),
    seeded=False,
))
