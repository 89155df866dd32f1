"""VQ-GAN: a VQ-VAE trained with a perceptual and an adversarial loss (Esser et al. 2021)."""

import keras
from keras import ops

from kgen import backend, checks, losses, replica
from kgen.models import registry
from kgen.models.base import Update
from kgen.models.vqvae import VQVAE
from kgen.networks.patchgan import NORMALIZATIONS, patchgan_discriminator
from kgen.networks.unet import check_image_shape
from kgen.networks.vgg import vgg19_features
from kgen.precision import float32

#: Pixel losses of the reconstruction term.
PIXEL_LOSSES = ("l1", "l2")
#: The ``perceptual_weights`` names of `VQGAN.from_shape` (besides the path of a file).
PERCEPTUAL_WEIGHTS = ("imagenet", "random", "none")
#: The last convolution of each VGG-19 block: the layers of the perceptual term.
PERCEPTUAL_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv4", "block4_conv4",
                     "block5_conv4")
#: The upper bound of the adaptive weight (Esser et al.'s code clips it to [0, 1e4]).
MAX_ADAPTIVE_WEIGHT = 1e4
#: Added to the adversarial gradient's norm in the adaptive weight's denominator.
ADAPTIVE_EPSILON = 1e-4


def default_perceptual_layers(height, width):
    """The VGG-19 layers of the perceptual term for ``height x width`` images.

    The last convolution of each block whose feature maps keep at least 4x4 pixels
    (each block halves the image): 8x8 images use blocks 1 and 2, 32x32 blocks 1 to 4,
    64x64 and larger all five (LPIPS's layers, on VGG-19).

    Example:

    ```python
    from kgen.models.vqgan import default_perceptual_layers
    default_perceptual_layers(8, 8)   # ('block1_conv2', 'block2_conv2')
    ```
    """
    side, count = min(int(height), int(width)), 0
    while count < len(PERCEPTUAL_LAYERS) and side >= 4:
        side, count = side // 2, count + 1
    return PERCEPTUAL_LAYERS[:max(count, 1)]


def perceptual_network(shape, weights="imagenet", layers=None, seed=0,
                       name="vqgan_perceptual"):
    """The feature network of VQ-GAN's perceptual term: unit-normalised VGG-19 features.

    `kgen.networks.vgg19_features` at ``layers``, each feature map normalised to unit
    length along its channels (`keras.layers.UnitNormalization`), as LPIPS does before
    comparing two images (Zhang et al. 2018). The perceptual term of `VQGAN` sums, over
    the layers, the mean over positions of the squared distance of those unit vectors:
    LPIPS with uniform layer weights (its "baseline" variant, without the learned
    linear layers), on VGG-19. Grey images are repeated over the three channels.

    Args:
        shape: image shape ``(height, width, channels)``.
        weights: ``"imagenet"`` (the ImageNet weights, from the Keras cache or downloaded
            there once: `kgen.networks.vgg.imagenet_weights_path`), ``"random"`` (a
            randomly initialised VGG-19, seeded by ``seed``), ``"none"`` (no perceptual
            term: returns None) or the path of a weights file.
        layers: VGG-19 layer names; default `default_perceptual_layers`.
        seed: seed of the random weights.
        name: the model's name.

    Returns:
        A frozen functional `keras.Model` from ``(height, width, 3)`` images in
        ``[-1, 1]`` to a list of feature maps, or None for ``weights="none"``.

    Raises:
        RuntimeError: ``"imagenet"`` weights that are neither cached nor downloadable;
            the message says where to put the file, and that ``perceptual_weights="none"``
            trains without the perceptual term.

    Example:

    ```python
    from kgen.models.vqgan import perceptual_network
    net = perceptual_network((8, 8, 1), weights="random")
    len(net.outputs)   # 2
    ```

    References:
        Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of Deep
        Features as a Perceptual Metric", CVPR 2018.
    """
    height, width, _ = check_image_shape(shape, "perceptual_network")
    if weights is None or (isinstance(weights, str) and weights == "none"):
        return None
    if layers is None:
        layers = default_perceptual_layers(height, width)
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(layers)
    vgg_weights = None if (isinstance(weights, str) and weights == "random") else weights
    try:
        vgg = vgg19_features(layers, weights=vgg_weights, input_shape=(height, width, 3),
                             seed=seed, name=f"{name}_vgg19")
    except RuntimeError as error:
        raise RuntimeError(
            f"{error} VQGAN: to train offline without these weights, pass "
            "perceptual_weights='none' (no perceptual term; `kgen train vqgan "
            "--perceptual-weights none`) or perceptual_weights='random' (random VGG-19 "
            "features).") from None
    outputs = [keras.layers.UnitNormalization(axis=-1, name=f"{name}_unit_{layer}")(f)
               for layer, f in zip(layers, vgg.outputs)]
    network = keras.Model(vgg.inputs, outputs, name=name)
    network.trainable = False
    return network


def decoder_last_kernel(decoder):
    """The kernel of the decoder's last layer with one (``G_L`` of the adaptive weight).

    Raises:
        ValueError: no layer of ``decoder.layers`` has a trainable ``kernel``.
    """
    for layer in reversed(getattr(decoder, "layers", [])):
        kernel = getattr(layer, "kernel", None)
        if isinstance(kernel, keras.Variable) and kernel.trainable:
            return kernel
    raise ValueError(
        "VQGAN's adaptive weight needs the decoder's last layer: no layer of "
        f"decoder.layers ({[layer.name for layer in getattr(decoder, 'layers', [])]}) has a "
        "trainable kernel. End the decoder with a convolution or a dense layer.")


def _rgb(images):
    """Images with 1, 3 or 4 channels as 3 channels (grey repeated, alpha dropped)."""
    channels = images.shape[-1]
    if channels == 1:
        return ops.repeat(images, 3, axis=-1)
    return images if channels == 3 else images[..., :3]


@keras.saving.register_keras_serializable(package="kgen")
class VQGAN(VQVAE):
    """VQ-GAN: a VQ-VAE with a perceptual loss and a PatchGAN, for sharper reconstructions.

    A `VQVAE` (encoder, codebook, decoder; the codebook learned the same way) whose
    reconstruction term is a pixel loss plus a perceptual loss, with an adversarial
    loss from a patch discriminator ``D`` (`kgen.networks.patchgan_discriminator`)
    added once training has run ``discriminator_start`` steps. Each step makes two
    updates, with the optimizers ``"model"`` and ``"discriminator"``:

    1. model (encoder, decoder, codebook with ``"loss"``):
       ``L = L_rec + beta * commitment (+ codebook) + [step >= start] * w * lambda * L_GAN``
       with ``L_rec = pixel + perceptual_weight * perceptual`` and, with the hinge loss,
       ``L_GAN = -mean D(x_hat)``. The adaptive weight
       ``lambda = ||grad_{G_L} L_rec|| / (||grad_{G_L} L_GAN|| + 1e-4)``, clipped to
       ``[0, 1e4]`` and not differentiated, balances the two terms at the decoder's last
       layer ``G_L`` (`decoder_last_kernel`); both gradients are taken inside the step
       with `kgen.backend.value_and_grad`. ``w`` is ``adversarial_weight``.
    2. discriminator: ``[step >= start] * (mean relu(1 - D(x)) + mean relu(1 + D(x_hat)))``
       on the reconstructions of the updated model.

    Before ``discriminator_start`` steps the adversarial term is zero and the
    discriminator's gradients are zero, so its weights do not move (its batch
    normalisation statistics do follow the batches). The steps are counted by the
    model (``steps_trained``, saved with it), not by the optimizers, so a recompiled or
    resumed model keeps its place.

    The perceptual term compares unit-normalised VGG-19 features
    (`perceptual_network`: LPIPS without its learned layer weights). Offline, without
    the ImageNet weights in the Keras cache, `from_shape` raises an error that names the
    file to fetch; ``perceptual_weights="none"`` trains without the perceptual term and
    ``"random"`` with random VGG-19 features.

    Sampling works as for `VQVAE`: ``generate()`` decodes uniform codes; fit a prior over
    the code grids with `kgen.models.LatentPrior` (``LatentPrior.from_vqvae(vqgan)``).

    Logs: ``loss``, ``reconstruction`` (mean squared error in data space), ``pixel``
    (the L1 or L2 pixel term), ``perceptual`` (with a perceptual network),
    ``commitment``, ``codebook`` (with ``"loss"``), ``g_adv`` (``L_GAN``),
    ``adaptive_weight`` (``lambda``), ``perplexity``, ``usage``, ``d_loss`` (the
    discriminator's loss, computed but not minimised before the start),
    ``real_accuracy`` and ``fake_accuracy`` (of its patch logits).

    Args:
        encoder: a Keras model from images to ``(h, w, embedding_dim)`` grids.
        decoder: a Keras model from those grids to images; its last layer with a kernel
            is ``G_L``.
        discriminator: a Keras model from images to logits (one or a grid per image).
        perceptual: a frozen Keras model from RGB images in ``[-1, 1]`` to a list of
            feature maps (`perceptual_network`), or None for no perceptual term.
        pixel_loss: ``"l1"`` (Esser et al.'s code) or ``"l2"``.
        perceptual_weight: weight of the perceptual term in ``L_rec``.
        adversarial_weight: ``w``, multiplying ``lambda`` (0.8 in Esser et al.'s code).
        discriminator_start: training steps before the adversarial term and the
            discriminator's updates start.
        loss: the adversarial loss (a name of `kgen.losses.ADVERSARIAL_LOSSES`); the
            paper's ``"hinge"``.
        **kwargs: `VQVAE` arguments (``num_embeddings``, ``embedding_dim``, ``beta``,
            ``codebook_update``, ``decay``, ``epsilon``, ``restart_after``, ``seed``,
            ``name``).

    Example:

    ```python
    import kgen

    x = kgen.data.to_data_space(kgen.data.load("digits")[:64])
    vq = kgen.models.VQGAN.from_shape(x.shape[1:], num_embeddings=16, embedding_dim=4,
                                      base_filters=8, perceptual_weights="none",
                                      discriminator_start=1)
    vq.compile()
    vq.fit(x, batch_size=32, epochs=1, verbose=0)
    images = vq.reconstruct(x[:4])            # (4, 8, 8, 1)
    ```

    References:
        Esser, Rombach & Ommer, "Taming Transformers for High-Resolution Image
        Synthesis", CVPR 2021.
        van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning",
        NeurIPS 2017.
        Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional
        Adversarial Networks", CVPR 2017.
        Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of Deep
        Features as a Perceptual Metric", CVPR 2018.
    """

    optimizer_names = ("model", "discriminator")
    network_names = ("encoder", "decoder", "discriminator", "perceptual")

    def __init__(self, encoder, decoder, discriminator, perceptual=None, pixel_loss="l1",
                 perceptual_weight=1.0, adversarial_weight=0.8, discriminator_start=0,
                 loss="hinge", **kwargs):
        checks.one_of(pixel_loss, "pixel_loss", PIXEL_LOSSES)
        perceptual_weight = checks.number(perceptual_weight, "perceptual_weight", 0)
        adversarial_weight = checks.number(adversarial_weight, "adversarial_weight", 0)
        discriminator_start = checks.integer(discriminator_start, "discriminator_start", 0)
        adversarial = losses.get_adversarial_loss(loss)
        if perceptual is not None and not isinstance(perceptual, keras.layers.Layer):
            raise TypeError(f"perceptual must be a Keras model returning feature maps, or "
                            f"None; got {type(perceptual).__name__}.")
        logs = ("loss", "reconstruction", "pixel") \
            + (("perceptual",) if perceptual is not None else ()) + ("commitment",) \
            + (("codebook",) if kwargs.get("codebook_update") == "loss" else ()) \
            + ("g_adv", "adaptive_weight", "perplexity", "usage", "d_loss",
               "real_accuracy", "fake_accuracy")
        kwargs.setdefault("log_names", logs)
        super().__init__(encoder, decoder, **kwargs)
        image_shape = checks.network_input_shapes(encoder, "encoder")
        got = checks.network_input_shapes(discriminator, "discriminator")
        if got != image_shape:
            raise ValueError(
                f"The discriminator must take the encoder's images {image_shape}; it takes "
                f"{got}. Build it with kgen.networks.patchgan_discriminator({image_shape}).")
        self.image_shape = tuple(image_shape)
        if perceptual is not None:
            perceptual.trainable = False
        self.discriminator = discriminator
        self.perceptual = perceptual
        self.pixel_loss = pixel_loss
        self.perceptual_weight = perceptual_weight
        self.adversarial_weight = adversarial_weight
        self.discriminator_start = discriminator_start
        self.loss = adversarial.name
        self.adversarial_loss = adversarial
        self.last_layer_kernel = decoder_last_kernel(decoder)
        #: Training steps run so far (it decides when the discriminator starts).
        self.steps_trained = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                             trainable=False, name="steps_trained")
        self._perceptual_layer_weights = None if perceptual is None \
            else _feature_channels(perceptual, self.image_shape)
        self._ensure_built()

    @classmethod
    def from_shape(cls, shape, num_embeddings=64, embedding_dim=16, base_filters=32,
                   downsamples=None, discriminator_filters=None, discriminator_layers=3,
                   discriminator_normalization="batch", perceptual_weights="imagenet",
                   perceptual_layers=None, **kwargs):
        """A VQ-GAN with `VQVAE.from_shape`'s encoder and decoder, a PatchGAN and VGG-19.

        Args:
            shape: image shape ``(height, width, channels)``.
            num_embeddings: as `VQVAE.from_shape`.
            embedding_dim: as `VQVAE.from_shape`.
            base_filters: as `VQVAE.from_shape`.
            downsamples: as `VQVAE.from_shape`.
            discriminator_filters: filters of the PatchGAN's first layer (default
                ``base_filters``).
            discriminator_layers: its strided layers (3 in the paper; clipped for small
                images).
            discriminator_normalization: ``"batch"`` (the paper's), ``"instance"`` or
                ``"none"``.
            perceptual_weights: ``"imagenet"`` (VGG-19's ImageNet weights, downloaded
                once into the Keras cache), ``"random"`` (random VGG-19 features),
                ``"none"`` (no perceptual term) or the path of a weights file. Offline
                and without a cached copy, ``"imagenet"`` raises a `RuntimeError` that
                names the file to fetch and these alternatives.
            perceptual_layers: VGG-19 layers of the perceptual term (default
                `default_perceptual_layers`).
            **kwargs: constructor arguments (``pixel_loss``, ``perceptual_weight``,
                ``adversarial_weight``, ``discriminator_start``, ``loss``, ``beta``,
                ``codebook_update``, ``seed``...).

        Example:

        ```python
        import kgen
        vq = kgen.models.VQGAN.from_shape((8, 8, 1), num_embeddings=16, embedding_dim=4,
                                          base_filters=8, perceptual_weights="random")
        vq.code_shape   # (4, 4)
        ```
        """
        shape = check_image_shape(shape, "VQGAN.from_shape")
        base_filters = checks.integer(base_filters, "base_filters", 1)
        width = checks.optional_integer(discriminator_filters, "discriminator_filters", 1) \
            or base_filters
        normalization = None if discriminator_normalization in (None, "none") \
            else discriminator_normalization
        checks.one_of(normalization, "discriminator_normalization", NORMALIZATIONS)
        if not (perceptual_weights is None or isinstance(perceptual_weights, str)
                or hasattr(perceptual_weights, "__fspath__")):
            raise TypeError(
                f"perceptual_weights must be one of {PERCEPTUAL_WEIGHTS} or the path of a "
                f"weights file; got {perceptual_weights!r}.")
        discriminator = patchgan_discriminator(shape, base_filters=width,
                                               num_layers=discriminator_layers,
                                               normalization=normalization,
                                               name="vqgan_discriminator")
        seed = kwargs.get("seed")
        perceptual = perceptual_network(shape, perceptual_weights, perceptual_layers,
                                        seed=0 if seed is None else int(seed))
        return super().from_shape(shape, num_embeddings=num_embeddings,
                                  embedding_dim=embedding_dim, base_filters=base_filters,
                                  downsamples=downsamples, discriminator=discriminator,
                                  perceptual=perceptual, **kwargs)

    def default_optimizer(self, name):
        # Esser et al.: Adam with betas (0.5, 0.9) for both networks.
        return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.9)

    def _networks(self):
        return [network for network in (getattr(self, name, None)
                                        for name in self.network_names)
                if network is not None]

    # ---------------------------------------------------------------- the math
    def discriminator_started(self):
        """1.0 once ``discriminator_start`` steps have run, else 0.0 (a float tensor)."""
        return ops.cast(ops.greater_equal(ops.convert_to_tensor(self.steps_trained),
                                          self.discriminator_start), "float32")

    def _quantize_decode(self, x, training):
        z = float32(self.encoder(x, training=training))
        codes = self.quantizer.nearest_codes(z)
        e = self.quantizer.lookup(codes)
        decoded = float32(self.decoder(z + ops.stop_gradient(e - z), training=training))
        return z, codes, e, decoded

    def perceptual_features(self, images):
        """The perceptual network's feature maps of ``images`` (a list), or None without one."""
        if self.perceptual is None:
            return None
        features = self.perceptual(_rgb(ops.convert_to_tensor(images)), training=False)
        return list(features) if isinstance(features, (list, tuple)) else [features]

    def reconstruction_terms(self, x, decoded, training=True, target_features=None):
        """``(L_rec, pixel, perceptual)`` of reconstructions ``decoded`` of ``x``.

        ``L_rec = pixel + perceptual_weight * perceptual``; ``perceptual`` is
        ``sum_l mean_positions ||f_l(x_hat) - f_l(x)||^2`` over the perceptual network's
        feature maps (`perceptual_network`), None without a perceptual network.
        ``target_features`` are those of ``x`` when already computed.
        """
        difference = decoded - x
        pixel = ops.mean(ops.abs(difference)) if self.pixel_loss == "l1" \
            else ops.mean(ops.square(difference))
        if self.perceptual is None:
            return pixel, pixel, None
        if target_features is None:
            target_features = self.perceptual_features(x)
        # feature_loss averages over channels too: weighting each map by its channels
        # sums the squared distance over them.
        perceptual = losses.feature_loss(
            self.perceptual_features(decoded), [ops.stop_gradient(t) for t in target_features],
            weights=self._perceptual_layer_weights)
        return pixel + self.perceptual_weight * perceptual, pixel, perceptual

    def generator_adversarial_loss(self, decoded, training=True):
        """``L_GAN``: the adversarial loss of the reconstructions (``-mean D(x_hat)``)."""
        return self.adversarial_loss.generator_loss(
            float32(self.discriminator(decoded, training=training)))

    def adaptive_weight(self, x, training=True, target_features=None):
        """``lambda = ||grad_{G_L} L_rec|| / (||grad_{G_L} L_GAN|| + 1e-4)`` on batch ``x``.

        Both gradients are taken with `kgen.backend.value_and_grad` with respect to the
        decoder's last kernel ``G_L``; the result is clipped to ``[0, 1e4]`` and carries
        no gradient. Inside a training step it sees the step's current weights.
        ``target_features`` are the perceptual features of ``x``, when already computed.

        Example:

        ```python
        import kgen
        x = kgen.data.to_data_space(kgen.data.load("digits")[:8])
        vq = kgen.models.VQGAN.from_shape(x.shape[1:], num_embeddings=8, embedding_dim=4,
                                          base_filters=4, perceptual_weights="none")
        float(vq.adaptive_weight(x))   # a positive number
        ```
        """
        x = ops.convert_to_tensor(x)
        if target_features is None:
            target_features = self.perceptual_features(x)

        def reconstruction():
            decoded = self._quantize_decode(x, training)[-1]
            return self.reconstruction_terms(x, decoded, training, target_features)[0], None

        def adversarial():
            return self.generator_adversarial_loss(
                self._quantize_decode(x, training)[-1], training), None

        kernel = [self.last_layer_kernel]
        _, (rec_grad,) = backend.value_and_grad(reconstruction, kernel)()
        _, (gan_grad,) = backend.value_and_grad(adversarial, kernel)()
        # On several replicas, the norms are those of the global batch's gradients (the
        # sum of the replicas' gradients, as the optimizer's all-reduce makes it).
        rec_grad, gan_grad = _global_gradient(rec_grad), _global_gradient(gan_grad)
        ratio = _norm(rec_grad) / (_norm(gan_grad) + ADAPTIVE_EPSILON)
        return ops.stop_gradient(ops.clip(ratio, 0.0, MAX_ADAPTIVE_WEIGHT))

    def model_loss(self, x, y=None, training=True):
        """The model's loss on a batch and its logs (update 1 of the class docstring)."""
        x = ops.convert_to_tensor(x)
        z, codes, e, decoded = self._quantize_decode(x, training)
        targets = self.perceptual_features(x)
        rec, pixel, perceptual = self.reconstruction_terms(x, decoded, training, targets)
        commitment = ops.mean(ops.square(z - ops.stop_gradient(e)))
        adversarial = self.generator_adversarial_loss(decoded, training)
        weight = self.adaptive_weight(x, training, targets)
        loss = rec + self.beta * commitment + self.discriminator_started() \
            * self.adversarial_weight * weight * adversarial
        logs = {"reconstruction": ops.mean(ops.square(decoded - x)), "pixel": pixel,
                "commitment": commitment, "g_adv": adversarial, "adaptive_weight": weight}
        if perceptual is not None:
            logs["perceptual"] = perceptual
        if self.codebook_update == "loss":
            logs["codebook"] = ops.mean(ops.square(ops.stop_gradient(z) - e))
            loss = loss + logs["codebook"]
        counts = self.quantizer.histogram(replica.gather_batch(codes))
        logs.update(loss=loss, perplexity=self.quantizer.perplexity(counts),
                    usage=self.quantizer.usage(counts))
        return loss, logs

    def discriminator_loss(self, x, y=None, training=True):
        """The discriminator's loss on real ``x`` and the reconstructions, and its logs."""
        x = ops.convert_to_tensor(x)
        fake = ops.stop_gradient(self._quantize_decode(x, training)[-1])
        real_logits = float32(self.discriminator(x, training=training))
        fake_logits = float32(self.discriminator(fake, training=training))
        value = self.adversarial_loss.discriminator_loss(real_logits, fake_logits)
        threshold = self.adversarial_loss.threshold
        return self.discriminator_started() * value, {
            "d_loss": value,
            "real_accuracy": losses.binary_accuracy(real_logits, True, threshold),
            "fake_accuracy": losses.binary_accuracy(fake_logits, False, threshold),
        }

    def vq_loss(self, x, y=None, training=True):
        """The model's loss (`model_loss`)."""
        return self.model_loss(x, y, training)

    def model_variables(self):
        """The variables of the model update: encoder, decoder and a trained codebook."""
        return (self.encoder.trainable_variables + self.decoder.trainable_variables
                + self.quantizer.trainable_variables)

    def training_updates(self):
        return [
            Update("model", self.model_loss, self.model_variables()),
            Update("discriminator", self.discriminator_loss,
                   self.discriminator.trainable_variables),
        ]

    def after_updates(self, x, y):
        """Moves the codebook (as `VQVAE`) and counts the step."""
        super().after_updates(x, y)
        self.steps_trained.assign_add(1)

    def get_config(self):
        config = super().get_config()
        config.update(pixel_loss=self.pixel_loss, perceptual_weight=self.perceptual_weight,
                      adversarial_weight=self.adversarial_weight,
                      discriminator_start=self.discriminator_start, loss=self.loss)
        return config


def _feature_channels(perceptual, image_shape):
    """The channels of each feature map of the perceptual network (its layer weights)."""
    try:
        outputs = perceptual(ops.zeros((1,) + tuple(image_shape[:2]) + (3,)))
    except Exception as error:  # noqa: BLE001 - a user's network may raise anything
        raise ValueError(
            f"The perceptual network must take RGB images of shape {image_shape[:2] + (3,)}"
            f" in [-1, 1]; calling it failed: {error}") from None
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    if any(len(o.shape) != 4 for o in outputs):
        raise ValueError(
            "The perceptual network must return feature maps (batch, height, width, "
            f"channels); it returns shapes {[tuple(o.shape) for o in outputs]}.")
    return [float(o.shape[-1]) for o in outputs]


def _global_gradient(gradient):
    """The gradient of the global batch's mean loss, from one replica's share of it
    (`kgen.backend.value_and_grad` gives each replica its part of the global gradient):
    their sum over the replicas; the gradient itself on one device."""
    return ops.sum(replica.gather_batch(ops.expand_dims(gradient, 0)), axis=0)


def _norm(tensor):
    return ops.sqrt(ops.sum(ops.square(tensor)))


__all__ = ["VQGAN"]


def _build(data, perceptual_weights="imagenet", **options):
    return VQGAN.from_shape(data.shape, perceptual_weights=perceptual_weights, **options)


registry.register(registry.Family(
    name="vqgan",
    model_class=VQGAN,
    summary="VQ-GAN: a VQ-VAE with perceptual and PatchGAN losses (pair it with "
            "latent_prior)",
    options=(
        registry.Option("num_embeddings", int, "codebook size", default=64),
        registry.Option("embedding_dim", int, "size of each code vector", default=16),
        registry.Option("base_filters", int, "width of the encoder and decoder", default=32),
        registry.Option("downsamples", int, "halvings of the image by the encoder", minimum=0),
        registry.Option("beta", float, "commitment weight", default=0.25, minimum=0),
        registry.Option("codebook_update", str, "how the codebook learns",
                        choices=("ema", "loss"), default="ema"),
        registry.Option("discriminator_filters", int, "width of the PatchGAN"),
        registry.Option("discriminator_layers", int, "strided layers of the PatchGAN",
                        default=3),
        registry.Option("discriminator_normalization", str, "normalisation of the PatchGAN",
                        choices=("batch", "instance", "none"), default="batch"),
        registry.Option("discriminator_start", int, "training steps before the adversarial "
                        "loss starts", default=0, minimum=0),
        registry.Option("adversarial_weight", float, "weight of the adaptive adversarial "
                        "term", default=0.8, minimum=0),
        registry.Option("perceptual_weights", str, "VGG-19 weights of the perceptual loss: "
                        "imagenet (downloaded once), random, none (no perceptual term) or "
                        "the path of a weights file", default="imagenet"),
        registry.Option("perceptual_weight", float, "weight of the perceptual loss",
                        default=1.0, minimum=0),
        registry.Option("pixel_loss", str, "pixel loss of the reconstruction",
                        choices=PIXEL_LOSSES, default="l1"),
    ),
    build=_build,
    default_epochs=30,
    monitor="reconstruction",
    tiny={"num_embeddings": 8, "embedding_dim": 4, "base_filters": 4,
          "discriminator_layers": 1, "perceptual_weights": "none"},
))
