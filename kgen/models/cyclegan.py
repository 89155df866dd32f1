"""CycleGAN: unpaired image-to-image translation with cycle consistency (Zhu et al. 2017)."""

import keras
import numpy as np
from keras import ops

from kgen import checks, losses, networks
from kgen.models import registry
from kgen.models.base import GenerativeModel, Update
from kgen.models.network_checks import check_data_space, check_logits
from kgen.models.image_pool import ImageHistoryPool
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.models.translation import (
    check_image_array,
    data_space_batch,
    image_network_shapes,
    mean_absolute_error,
)
from kgen.networks.resnet_generator import resnet_normalization
from kgen.networks.unet import check_image_shape
from kgen.precision import float32

DIRECTIONS = ("a_to_b", "b_to_a")


@keras.saving.register_keras_serializable(package="kgen")
class CycleGAN(GenerativeModel):
    """CycleGAN: two generators translating between two image domains without pairs.

    ``G_AB`` maps domain A to domain B and ``G_BA`` back; ``D_A`` and ``D_B`` tell real
    images of each domain from translated ones. With no pairs to compare against, the
    translations are tied to their inputs by *cycle consistency*: translating there and
    back must give the input again, ``G_BA(G_AB(a)) ~ a`` and ``G_AB(G_BA(b)) ~ b``. Each
    training step makes two updates:

    1. discriminators: ``L_D = loss(D_A(a), D_A(pool_A(G_BA(b)))) +
       loss(D_B(b), D_B(pool_B(G_AB(a))))``, on translated images drawn through an
       `ImageHistoryPool` of ``pool_size`` images per domain;
    2. generators: ``L_G = loss_G(D_B(G_AB(a))) + loss_G(D_A(G_BA(b)))
       + cycle_weight * L_cyc + cycle_weight * identity_weight * L_id``, with
       ``L_cyc = mean|G_BA(G_AB(a)) - a| + mean|G_AB(G_BA(b)) - b|`` and the identity
       term ``L_id = mean|G_AB(b) - b| + mean|G_BA(a) - a|``, which keeps colours
       when an image is already in the target domain.

    Training data come as ``(a, b)`` batches, the Keras ``(x, y)`` with ``x`` from
    domain A and ``y`` from domain B, unrelated to each other:
    ``fit(tf.data.Dataset.zip((ds_a, ds_b)))``, `kgen.data.unpaired_images`, or
    ``fit(a, b)`` with float arrays in [-1, 1] or uint8 arrays (converted as
    `kgen.data.to_data_space` converts them). `generate()` translates ``inputs=`` in
    either ``direction``, in inference mode (deterministic; ``seed`` has no effect).

    Logs: ``d_loss`` (``d_a_loss + d_b_loss``), ``g_loss`` (the whole weighted generator
    objective), ``g_ab_adv`` and ``g_ba_adv`` (its adversarial parts), ``cycle`` and
    ``identity`` (unweighted).

    Args:
        generator_ab: a Keras model from A images to B images
            (`kgen.networks.resnet_generator`).
        generator_ba: a Keras model from B images to A images.
        discriminator_a: a Keras model from A images to logits (one or a grid per image;
            `kgen.networks.patchgan_discriminator`).
        discriminator_b: the same for B images.
        cycle_weight: the cycle loss's weight (the paper's lambda, 10).
        identity_weight: the identity loss's weight *relative to* ``cycle_weight``; 0
            (the default) turns it off. The paper uses 0.5 (5 in absolute terms) for
            paintings to photos, where it keeps the colours: it asks ``G_AB`` to leave B
            images unchanged, which suits translations that keep colours and works
            against those that change them (inversion, recolouring). It needs domains
            of the same image shape.
        loss: adversarial loss; the paper's is ``"least_squares"`` (Mao et al. 2017).
        pool_size: images in each history pool (50 in the paper; 0 turns the pools off).
        seed: seed of the model's noise generator (the pools' random choices).
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import kgen

    digits = kgen.data.to_data_space(kgen.data.load("digits")[:256])
    a, b = digits[:128], -digits[128:]          # digits and other, inverted digits
    model = kgen.models.CycleGAN.from_shape((8, 8, 1), base_filters=8, num_blocks=1)
    model.compile()
    model.fit(a, b, batch_size=16, epochs=1, verbose=0)
    inverted = model.generate(inputs=a[:8])                      # A -> B
    back = model.generate(inputs=inverted, direction="b_to_a")   # B -> A
    ```

    References:
        Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using
        Cycle-Consistent Adversarial Networks", ICCV 2017.
        Shrivastava et al., "Learning from Simulated and Unsupervised Images through
        Adversarial Training", CVPR 2017.
        Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017.
    """

    optimizer_names = ("discriminator", "generator")
    log_names = ("d_loss", "d_a_loss", "d_b_loss", "g_loss", "g_ab_adv", "g_ba_adv",
                 "cycle", "identity")
    network_names = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")

    def __init__(self, generator_ab, generator_ba, discriminator_a, discriminator_b,
                 cycle_weight=10.0, identity_weight=0.0, loss="least_squares", pool_size=50,
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.generator_ab = generator_ab
        self.generator_ba = generator_ba
        self.discriminator_a = discriminator_a
        self.discriminator_b = discriminator_b
        self.cycle_weight = checks.number(cycle_weight, "cycle_weight", 0)
        self.identity_weight = checks.number(identity_weight, "identity_weight", 0)
        self.loss = loss if isinstance(loss, str) else loss.name
        self.adversarial_loss = losses.get_adversarial_loss(loss)
        self.shape_a, self.shape_b = self._check_networks()
        self.pool_size = checks.integer(pool_size, "pool_size", 0)
        self.pool_a = ImageHistoryPool(self.pool_size, name="pool_a")
        self.pool_b = ImageHistoryPool(self.pool_size, name="pool_b")
        self.pool_a.build((None,) + self.shape_a)
        self.pool_b.build((None,) + self.shape_b)
        self._ensure_built()

    def _check_networks(self):
        shape_a, shape_b = image_network_shapes(self.generator_ab, "generator_ab")
        back = image_network_shapes(self.generator_ba, "generator_ba")
        if back != (shape_b, shape_a):
            raise ValueError(
                f"generator_ab maps {shape_a} to {shape_b}, so generator_ba must map "
                f"{shape_b} to {shape_a}; it maps {back[0]} to {back[1]}.")
        for role, network, shape in (("discriminator_a", self.discriminator_a, shape_a),
                                     ("discriminator_b", self.discriminator_b, shape_b)):
            got = checks.network_input_shapes(network, role)
            if got != shape:
                raise ValueError(
                    f"{role} must take images of shape {shape}; it takes {got}.")
        for role in ("generator_ab", "generator_ba"):
            check_data_space(getattr(self, role), role, "CycleGAN",
                             "End it with a tanh activation: kgen's images live in [-1, 1].")
        for role in ("discriminator_a", "discriminator_b"):
            check_logits(getattr(self, role), role, "CycleGAN",
                         "End it with a convolution and no activation: kgen's losses take "
                         "logits.")
        if self.identity_weight and shape_a != shape_b:
            raise ValueError(
                f"The identity loss feeds B images to generator_ab (and A images to "
                f"generator_ba), so it needs domains of the same shape; A is {shape_a} and "
                f"B is {shape_b}. Pass identity_weight=0.")
        return shape_a, shape_b

    @classmethod
    def from_shape(cls, shape_a, shape_b=None, base_filters=None, num_blocks=None,
                   num_layers=3, normalization="auto", **kwargs):
        """A CycleGAN with the paper's networks for domains of ``shape_a`` and ``shape_b``.

        Generators: `kgen.networks.resnet_generator`; discriminators:
        `kgen.networks.patchgan_discriminator` (both with instance normalisation from 32
        pixels a side, and none below).

        Args:
            shape_a: image shape of domain A ``(height, width, channels)``.
            shape_b: image shape of domain B (same height and width); default ``shape_a``.
                With other channels, pass ``identity_weight=0``.
            base_filters: width of all four networks (default 32 for images up to 16
                pixels on a side, 64 above, the paper's).
            num_blocks: residual blocks per generator (default
                `kgen.networks.resnet_generator.resnet_blocks`: 6, or 9 above 128
                pixels, and fewer under 32 pixels, 2 for the 8x8 digits).
            num_layers: strided layers of the PatchGANs (clipped for small images).
            normalization: normalisation of all four networks: ``"instance"``,
                ``"batch"``, None (``"none"``), or ``"auto"`` (default,
                `kgen.networks.resnet_generator.resnet_normalization`: ``"instance"``,
                the paper's, for images of at least 32 pixels a side, none below).
            **kwargs: constructor arguments (``cycle_weight``, ``identity_weight``,
                ``loss``, ``pool_size``, ``seed``, ``name``).

        Example:

        ```python
        import kgen
        model = kgen.models.CycleGAN.from_shape((16, 16, 3), base_filters=8, num_blocks=2)
        ```
        """
        shape_a = check_image_shape(shape_a, "CycleGAN.from_shape")
        shape_b = shape_a if shape_b is None else check_image_shape(shape_b,
                                                                    "CycleGAN.from_shape")
        if shape_a[:2] != shape_b[:2]:
            raise ValueError(
                f"The default networks translate between images of the same size; A is "
                f"{shape_a} and B is {shape_b}. Resize one domain or pass your own networks.")
        width = checks.optional_integer(base_filters, "base_filters", 1) \
            or networks.default_base_filters(shape_a)
        normalization = resnet_normalization(*shape_a[:2], normalization)

        def generator(source, target, name):
            return networks.resnet_generator(source, target[-1], width, num_blocks,
                                             normalization, name=name)

        def discriminator(shape, name):
            return networks.patchgan_discriminator(shape, base_filters=width,
                                                   num_layers=num_layers,
                                                   normalization=normalization, name=name)

        return cls(generator(shape_a, shape_b, "generator_ab"),
                   generator(shape_b, shape_a, "generator_ba"),
                   discriminator(shape_a, "discriminator_a"),
                   discriminator(shape_b, "discriminator_b"), **kwargs)

    def default_optimizer(self, name):
        # Zhu et al. 2017: Adam, learning rate 2e-4, beta_1 0.5, for all networks.
        return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)

    def call(self, inputs, training=False):
        return self.generator_ab(inputs, training=training)

    # ------------------------------------------------------------ the step
    def _fix(self):
        return (f"Pass batches (a, b): a of shape (n,) + {self.shape_a} and b of shape "
                f"(m,) + {self.shape_b}, e.g. fit(tf.data.Dataset.zip((ds_a, ds_b))) or "
                "kgen.data.unpaired_images(a, b).")

    def _no_b_images(self):
        return ValueError(f"CycleGAN trains on (a, b) batches of both domains, but got no "
                          f"B images. {self._fix()}")

    def _domains(self, a, b):
        """The batch's A and B images, checked, as data space (uint8 converted)."""
        if b is None:
            raise self._no_b_images()
        return (data_space_batch(a, self.shape_a, "A images", self._fix()),
                data_space_batch(b, self.shape_b, "B images", self._fix()))

    def cycle_loss(self, a, b, training=False):
        """The unweighted cycle loss ``mean|G_BA(G_AB(a)) - a| + mean|G_AB(G_BA(b)) - b|``.

        Args:
            a: a batch of domain A images.
            b: a batch of domain B images.
            training: run the generators in training mode.

        Example:

        ```python
        import numpy as np
        import kgen

        model = kgen.models.CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=1)
        x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 1)).astype("float32")
        loss = model.cycle_loss(x, x)   # a scalar >= 0; 0 when the generators invert each other
        ```
        """
        a = ops.convert_to_tensor(a)
        b = ops.convert_to_tensor(b)
        return self._cycle(a, b, self.generator_ab(a, training=training),
                           self.generator_ba(b, training=training), training)

    def _cycle(self, a, b, fake_b, fake_a, training):
        return (mean_absolute_error(a, self.generator_ba(fake_b, training=training))
                + mean_absolute_error(b, self.generator_ab(fake_a, training=training)))

    def identity_loss(self, a, b, training=False):
        """The unweighted identity loss ``mean|G_AB(b) - b| + mean|G_BA(a) - a|``."""
        a = ops.convert_to_tensor(a)
        b = ops.convert_to_tensor(b)
        return (mean_absolute_error(b, self.generator_ab(b, training=training))
                + mean_absolute_error(a, self.generator_ba(a, training=training)))

    def discriminator_loss(self, x, y=None, training=True):
        """The loss of both discriminators; generated images pass through the pools."""
        a, b = self._domains(x, y)
        fake_b = ops.stop_gradient(self.generator_ab(a, training=training))
        fake_a = ops.stop_gradient(self.generator_ba(b, training=training))
        if training:
            fake_a = self.pool_a(fake_a, seed=self.seed_generator)
            fake_b = self.pool_b(fake_b, seed=self.seed_generator)
        d_a = self.adversarial_loss.discriminator_loss(
            float32(self.discriminator_a(a, training=training)),
            float32(self.discriminator_a(fake_a, training=training)))
        d_b = self.adversarial_loss.discriminator_loss(
            float32(self.discriminator_b(b, training=training)),
            float32(self.discriminator_b(fake_b, training=training)))
        loss = d_a + d_b
        return loss, {"d_loss": loss, "d_a_loss": d_a, "d_b_loss": d_b}

    def generator_loss(self, x, y=None, training=True):
        """Both generators' adversarial losses plus the weighted cycle and identity losses."""
        a, b = self._domains(x, y)
        fake_b = self.generator_ab(a, training=training)
        fake_a = self.generator_ba(b, training=training)
        adv_ab = self.adversarial_loss.generator_loss(
            float32(self.discriminator_b(fake_b, training=training)))
        adv_ba = self.adversarial_loss.generator_loss(
            float32(self.discriminator_a(fake_a, training=training)))
        cycle = self._cycle(a, b, fake_b, fake_a, training)
        loss = adv_ab + adv_ba + self.cycle_weight * cycle
        if self.identity_weight:
            identity = self.identity_loss(a, b, training=training)
            loss = loss + self.cycle_weight * self.identity_weight * identity
        else:
            identity = ops.zeros_like(cycle)
        return loss, {"g_loss": loss, "g_ab_adv": adv_ab, "g_ba_adv": adv_ba,
                      "cycle": cycle, "identity": identity}

    def training_updates(self):
        return [
            Update("discriminator", self.discriminator_loss,
                   self.discriminator_a.trainable_variables
                   + self.discriminator_b.trainable_variables),
            Update("generator", self.generator_loss,
                   self.generator_ab.trainable_variables
                   + self.generator_ba.trainable_variables),
        ]

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`; arrays are checked first (both domains given, shapes, dtypes,
        range).

        uint8 (and uint16) arrays are converted to data space in the training step, as
        `kgen.data.to_data_space` converts them; float arrays must lie in [-1, 1].
        """
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            if y is None:
                raise self._no_b_images()
            check_image_array(x, self.shape_a, "A images", self._fix())
            check_image_array(y if hasattr(y, "dtype") else np.asarray(y), self.shape_b,
                              "B images", self._fix())
        return super().fit(x, y, *args, **kwargs)

    # ------------------------------------------------------------ sampling
    def _generate(self, num_samples, *, seed=None, inputs=None, direction="a_to_b",
                  batch_size=256):
        """Translations of ``inputs``: A -> B (``direction="a_to_b"``) or B -> A."""
        inputs = self.serving_inputs(num_samples, seed=seed, inputs=inputs,
                                     direction=direction)["inputs"]
        generator = self.generator_ab if self._forward(direction) else self.generator_ba
        batch_size = checks.integer(batch_size, "batch_size", 1)
        return generator.predict(inputs, batch_size=batch_size, verbose=0)

    def serving_inputs(self, num_samples=None, *, seed=None, inputs=None, direction="a_to_b",
                       batch_size=256):
        """The inputs of the exported translator (of ``direction``, an export option) that
        ``generate(inputs=inputs, direction=direction)`` uses: ``{"inputs": ...}``, the
        images in data space (float32, uint8 converted). The seed has no effect.

        Example:

        ```python
        import kgen
        model = kgen.models.CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=0)
        model.serving_inputs(inputs=kgen.data.load("digits")[:2],
                             direction="b_to_a")["inputs"].shape   # (2, 8, 8, 1)
        ```
        """
        del seed  # inference mode: deterministic
        forward = self._forward(direction)
        generator = self.generator_ab if forward else self.generator_ba
        inputs = checks.data_space_images(inputs, self.shape_a if forward else self.shape_b,
                                          "inputs", f"{type(self).__name__}.{generator.name}")
        if num_samples is not None and num_samples != len(inputs):
            raise ValueError(
                f"num_samples ({num_samples}) differs from the number of inputs "
                f"({len(inputs)}); leave it out.")
        return {"inputs": np.asarray(inputs, "float32")}

    @staticmethod
    def _forward(direction):
        """Whether ``direction`` is ``"a_to_b"`` (checked to be one of `DIRECTIONS`)."""
        return checks.one_of(direction, "direction", DIRECTIONS) == "a_to_b"

    def serving_functions(self, direction="a_to_b"):
        """The translator for `export_generator`: ``inputs`` images of one domain to the other.

        Args:
            direction: ``"a_to_b"`` (``generator_ab``, the default) or ``"b_to_a"``; export
                each direction to its own SavedModel
                (``model.export_generator(path, direction="b_to_a")``).

        ``generate_from_latent(inputs)`` equals ``generate(inputs=inputs,
        direction=direction)``.
        """
        forward = self._forward(direction)
        generator = self.generator_ab if forward else self.generator_ba
        shape = self.shape_a if forward else self.shape_b

        def sample(images):
            return generator(images, training=False)

        return ServingFunctions(sample, [ServingInput("inputs", shape, noise=None)],
                                [generator])

    def get_config(self):
        config = super().get_config()
        config.update(cycle_weight=self.cycle_weight, identity_weight=self.identity_weight,
                      loss=self.loss, pool_size=self.pool_size)
        return config


def _build(data, **options):
    return CycleGAN.from_shape(data.shape, data.target_shape, **options)


registry.register(registry.Family(
    name="cyclegan",
    model_class=CycleGAN,
    summary="CycleGAN: unpaired translation between two domains (ResNet generators, "
            "PatchGANs, cycle and identity losses, image pools)",
    data="unpaired",
    options=(
        registry.Option("base_filters", int, "width of the four networks"),
        registry.Option("num_blocks", int, "residual blocks of each generator", minimum=0),
        registry.Option("num_layers", int, "strided layers of each PatchGAN", default=3),
        registry.Option("normalization", str, "normalisation of the networks",
                        choices=("auto", "instance", "batch", "none"), default="auto"),
        registry.Option("cycle_weight", float, "weight of the cycle loss", default=10.0),
        registry.Option("identity_weight", float, "weight of the identity loss, as a share "
                        "of the cycle weight", default=0.0),
        registry.Option("loss", str, "adversarial loss", default="least_squares",
                        choices=tuple(losses.ADVERSARIAL_LOSSES)),
        registry.Option("pool_size", int, "generated images kept for the discriminators",
                        default=50, minimum=0),
    ),
    build=_build,
    conditions=("inputs", "direction"),
    export_options=(registry.Option("direction", str, "the generator to export",
                                    choices=DIRECTIONS, default="a_to_b"),),
    default_data="digits-inverted",
    default_epochs=30,
    monitor="cycle",
    tiny={"base_filters": 4, "num_blocks": 0, "num_layers": 1, "pool_size": 8},
    metrics=("fid", "kid", "pr", "l1"),
    seeded=False,
))
