"""Texture synthesis (Gatys et al. 2015) and neural style transfer (Gatys et al. 2016).

Both optimise the pixels of one image so that its deep features, from a frozen
convolutional network (VGG-19 by default, `kgen.networks.vgg19_features`), have the
statistics of an example: the Gram matrices of a texture (or style image), and, for
style transfer, the feature maps themselves of a content image.
"""

import keras
import numpy as np
from keras import ops

from kgen import losses
from kgen.models import registry
from kgen.models.base import Update
from kgen.models.single_image import SingleImageModel, image_to_data_space
from kgen.networks.vgg import vgg19_features

#: Gatys et al.'s style (texture) layers: the first convolution of each VGG-19 block.
DEFAULT_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                        "block5_conv1")
#: Gatys et al.'s content layer.
DEFAULT_CONTENT_LAYERS = ("block4_conv2",)
_INITS = ("noise", "content")
# The spread of the white-noise start, in data space.
_NOISE_SCALE = 0.25


def _to_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _layer_names(layers, what):
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    if not layers or not all(isinstance(layer, str) for layer in layers):
        raise ValueError(f"{what} must be a non-empty list of layer names; got {layers!r}.")
    return layers


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or value < 0:
        raise ValueError(f"{name} must be a non-negative number; got {value!r}.")
    return float(value)


class ImageSynthesis(SingleImageModel):
    """Base of `TextureSynthesis` and `StyleTransfer`: one trainable image, a frozen extractor.

    The trainable variable ``image`` is kept in data space, ``(1, H, W, 3)``, and clipped
    to ``[-1, 1]`` after every step (projected gradient descent: the gradient step is
    taken on the pixels themselves, then the pixels are put back in range). Subclasses
    set ``_extractor_layers()`` and ``synthesis_loss``.
    """

    network_names = ("extractor",)

    def _setup_extractor(self, extractor, weights_for_default="imagenet"):
        if extractor is None:
            extractor = vgg19_features(self._extractor_layers(), weights=weights_for_default)
        if not isinstance(extractor, keras.layers.Layer):
            raise TypeError(
                f"extractor must be a Keras model returning a list of feature maps; got "
                f"{type(extractor).__name__}.")
        extractor.trainable = False
        self.extractor = extractor

    def _features(self, images, what):
        outputs = _to_list(self.extractor(ops.convert_to_tensor(images), training=False))
        expected = len(self._extractor_layers())
        if len(outputs) != expected:
            raise ValueError(
                f"The extractor returns {len(outputs)} feature maps for the {what}, but "
                f"{expected} layers are named ({list(self._extractor_layers())}); it must "
                "return one map per layer, in that order.")
        return outputs

    def _add_constant(self, value, name):
        value = np.asarray(keras.ops.convert_to_numpy(value), "float32")
        return self.add_weight(shape=value.shape, name=name, trainable=False,
                               initializer=keras.initializers.Constant(value))

    def _add_image(self, start):
        self.image = self.add_weight(shape=start.shape, name="image", trainable=True,
                                     initializer=keras.initializers.Constant(start))

    def _noise_image(self, shape):
        noise = _NOISE_SCALE * self.standard_normal(shape, self.seed)
        return np.clip(noise, -1.0, 1.0)

    def default_optimizer(self, name):
        # Pixels live in [-1, 1]: Adam's steps of about 0.02 per pixel move an image from
        # noise to a texture in a few hundred steps.
        return keras.optimizers.Adam(learning_rate=0.02)

    def training_updates(self):
        return [Update("model", self.synthesis_loss, [self.image])]

    def after_updates(self, x, y):
        self.image.assign(ops.clip(self.image, -1.0, 1.0))

    def _generate(self, num_samples, *, seed=None):
        return ops.convert_to_tensor(self.image)


@keras.saving.register_keras_serializable(package="kgen")
class TextureSynthesis(ImageSynthesis):
    """Texture synthesis by matching Gram matrices of deep features (Gatys et al. 2015).

    An image, started from white noise, is optimised by gradient descent so that the
    Gram matrices of its features (`kgen.losses.gram_matrix`) match those of the example
    ``texture_image`` at every style layer (`kgen.losses.style_loss`, each layer's term
    relative to the size of its target). The result has the texture's local statistics
    but not its layout. Gram matrices are normalised by the number of positions, so the
    synthesised image may be larger than the example (``image_shape``).

    The trainable variable is the image, in data space, clipped to ``[-1, 1]`` after each
    step. ``fit(steps=...)`` runs the optimisation (no data); ``generate()`` returns the
    image ``(1, H, W, 3)``. Keras has no L-BFGS, which Gatys et al. used; Adam (default
    learning rate 0.02) needs more steps for the same loss. Logs: ``loss`` (the weighted
    total), ``style`` and ``tv`` (unweighted).

    Args:
        texture_image: the example texture, ``(H, W, 3)`` or ``(1, H, W, 3)``, uint8 or
            float in ``[-1, 1]``.
        extractor: a frozen feature network returning one feature map per style layer
            (default: `kgen.networks.vgg19_features` of ``style_layers`` with ImageNet
            weights; offline pass ``vgg19_features(style_layers, weights=None)``).
        style_layers: the layers whose Gram matrices are matched.
        image_shape: ``(H, W)`` or ``(H, W, 3)`` of the synthesised image (default: the
            texture's).
        init: ``"noise"``: white noise drawn from ``seed``.
        tv_weight: weight of `kgen.losses.total_variation_loss` (0 by default).
        seed: seed of the starting noise.
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import kgen
    from kgen.networks import vgg19_features

    texture = kgen.data.load_image("brick", size=32, channels=3)
    extractor = vgg19_features(["block1_conv1", "block2_conv1"], weights=None)
    model = kgen.models.TextureSynthesis(texture, extractor=extractor,
                                         style_layers=["block1_conv1", "block2_conv1"], seed=0)
    model.fit(steps=20, verbose=0)
    image = model.generate()   # (1, 32, 32, 3) in [-1, 1]
    ```

    References:
        Gatys, Ecker & Bethge, "Texture Synthesis Using Convolutional Neural Networks",
        NeurIPS 2015.
        Ustyuzhaninov et al., "What does it take to generate natural textures?", ICLR 2017.
    """

    log_names = ("loss", "style", "tv")

    def __init__(self, texture_image, extractor=None, style_layers=DEFAULT_STYLE_LAYERS,
                 image_shape=None, init="noise", tv_weight=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        texture = image_to_data_space(texture_image, "texture_image", channels=3)
        self.texture_image = texture[0]
        self.style_layers = _layer_names(style_layers, "style_layers")
        if init != "noise":
            raise ValueError(f"TextureSynthesis starts from init='noise'; got {init!r}.")
        self.init = init
        self.tv_weight = _non_negative(tv_weight, "tv_weight")
        self.image_shape = self._resolve_shape(image_shape, texture.shape[1:])
        self._setup_extractor(extractor)
        self.target_grams = [
            self._add_constant(losses.gram_matrix(f), f"target_gram_{i}")
            for i, f in enumerate(self._features(texture, "texture image"))
        ]
        self._add_image(self._noise_image((1,) + self.image_shape))
        self._ensure_built()

    @staticmethod
    def _resolve_shape(image_shape, default):
        if image_shape is None:
            return tuple(int(s) for s in default)
        shape = tuple(int(s) for s in image_shape)
        if len(shape) == 2:
            shape += (3,)
        if len(shape) != 3 or shape[-1] != 3 or min(shape) < 1:
            raise ValueError(
                f"image_shape must be (height, width) or (height, width, 3); got {image_shape}.")
        return shape

    def _extractor_layers(self):
        return self.style_layers

    def synthesis_loss(self, x=None, y=None, training=True):
        """The weighted loss of the current image and its logs (``x``, ``y`` are ignored)."""
        features = self._features(self.image, "image")
        style = losses.style_loss(features, self.target_grams, normalize=True)
        tv = losses.total_variation_loss(self.image)
        loss = style + self.tv_weight * tv
        return loss, {"loss": loss, "style": style, "tv": tv}

    def get_config(self):
        config = super().get_config()
        config.update(texture_image=self.texture_image.tolist(),
                      style_layers=list(self.style_layers), image_shape=list(self.image_shape),
                      init=self.init, tv_weight=self.tv_weight)
        return config


@keras.saving.register_keras_serializable(package="kgen")
class StyleTransfer(ImageSynthesis):
    """Neural style transfer: the content of one image in the style of another (Gatys et al. 2016).

    An image is optimised to minimise

    ``content_weight * content + style_weight * style + tv_weight * tv``:

    ``content`` is `kgen.losses.feature_loss` between its features and the content
    image's at ``content_layers``; ``style`` is `kgen.losses.style_loss` between its Gram
    matrices and the style image's at ``style_layers``; ``tv`` is
    `kgen.losses.total_variation_loss`. Each layer's content and style term is divided
    by the mean square of its target (``normalize=True``), so the weights do not depend
    on the scale of the extractor's activations and the defaults suit both ImageNet and
    random weights; raise ``style_weight`` for more style, ``content_weight`` for more
    content.

    The trainable variable is the image, in data space, clipped to ``[-1, 1]`` after each
    step; it starts from the content image (``init="content"``, which converges fastest)
    or white noise. ``fit(steps=...)`` runs the optimisation; ``generate()`` returns the
    image ``(1, H, W, 3)``, the content image's size (the style image may have any
    size). Keras has no L-BFGS (Gatys et al.'s optimiser); the default is Adam with
    learning rate 0.02. Logs: ``loss`` (weighted total), ``style``, ``content`` and
    ``tv`` (unweighted).

    Args:
        content_image: ``(H, W, 3)`` or ``(1, H, W, 3)``, uint8 or float in ``[-1, 1]``.
        style_image: the style example, same conventions, any size.
        content_weight: weight of the content term.
        style_weight: weight of the style term.
        tv_weight: weight of the total variation.
        init: ``"content"`` or ``"noise"`` (drawn from ``seed``).
        extractor: a frozen feature network returning the maps of ``style_layers`` then
            those of ``content_layers`` (default: `kgen.networks.vgg19_features` of those
            layers with ImageNet weights).
        style_layers: layers whose Gram matrices are matched.
        content_layers: layers whose feature maps are matched.
        seed: seed of the starting noise.
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import kgen
    from kgen.networks import vgg19_features

    content = kgen.data.load_image("astronaut", size=32)
    style = kgen.data.load_image("gravel", size=32, channels=3)
    layers = ["block1_conv1", "block2_conv1"]
    extractor = vgg19_features(layers + ["block2_conv2"], weights=None)
    model = kgen.models.StyleTransfer(content, style, extractor=extractor, style_layers=layers,
                                      content_layers=["block2_conv2"])
    model.fit(steps=20, verbose=0)
    image = model.generate()   # (1, 32, 32, 3)
    ```

    References:
        Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
        Networks", CVPR 2016.
        Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
        Super-Resolution", ECCV 2016.
    """

    log_names = ("loss", "style", "content", "tv")

    def __init__(self, content_image, style_image, content_weight=1.0, style_weight=10.0,
                 tv_weight=1.0, init="content", extractor=None,
                 style_layers=DEFAULT_STYLE_LAYERS, content_layers=DEFAULT_CONTENT_LAYERS,
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        content = image_to_data_space(content_image, "content_image", channels=3)
        style = image_to_data_space(style_image, "style_image", channels=3)
        self.content_image = content[0]
        self.style_image = style[0]
        self.content_weight = _non_negative(content_weight, "content_weight")
        self.style_weight = _non_negative(style_weight, "style_weight")
        self.tv_weight = _non_negative(tv_weight, "tv_weight")
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}; got {init!r}.")
        self.init = init
        self.style_layers = _layer_names(style_layers, "style_layers")
        self.content_layers = _layer_names(content_layers, "content_layers")
        self._setup_extractor(extractor)
        count = len(self.style_layers)
        self.target_grams = [
            self._add_constant(losses.gram_matrix(f), f"target_gram_{i}")
            for i, f in enumerate(self._features(style, "style image")[:count])
        ]
        self.target_features = [
            self._add_constant(f, f"target_features_{i}")
            for i, f in enumerate(self._features(content, "content image")[count:])
        ]
        start = content if init == "content" else self._noise_image(content.shape)
        self._add_image(start)
        self._ensure_built()

    def _extractor_layers(self):
        return self.style_layers + self.content_layers

    def synthesis_loss(self, x=None, y=None, training=True):
        """The weighted loss of the current image and its logs (``x``, ``y`` are ignored)."""
        features = self._features(self.image, "image")
        count = len(self.style_layers)
        style = losses.style_loss(features[:count], self.target_grams, normalize=True)
        content = losses.feature_loss(features[count:], self.target_features, normalize=True)
        tv = losses.total_variation_loss(self.image)
        loss = (self.content_weight * content + self.style_weight * style
                + self.tv_weight * tv)
        return loss, {"loss": loss, "style": style, "content": content, "tv": tv}

    def get_config(self):
        config = super().get_config()
        config.update(content_image=self.content_image.tolist(),
                      style_image=self.style_image.tolist(),
                      content_weight=self.content_weight, style_weight=self.style_weight,
                      tv_weight=self.tv_weight, init=self.init,
                      style_layers=list(self.style_layers),
                      content_layers=list(self.content_layers))
        return config


def _extractor(weights, layers):
    """VGG-19 features of ``layers`` with ``weights``: "imagenet", "none" or a file path."""
    return vgg19_features(layers, weights=None if weights in (None, "none") else weights)


_VGG_OPTIONS = (
    registry.Option("weights", str, "VGG-19 weights: imagenet (downloaded once), none "
                    "(random features) or the path of a weights file", default="imagenet"),
    registry.Option("style_layers", tuple, "VGG-19 layers whose Gram matrices are matched",
                    default=DEFAULT_STYLE_LAYERS, item=str),
    registry.Option("tv_weight", float, "weight of the total-variation loss"),
)
_TINY_VGG = {"weights": "none", "style_layers": ("block1_conv1", "block2_conv1")}


def _build_texture(data, weights="imagenet", style_layers=DEFAULT_STYLE_LAYERS, **options):
    layers = tuple(style_layers)
    return TextureSynthesis(data.images[0], extractor=_extractor(weights, layers),
                            style_layers=layers, **options)


def _build_style_transfer(data, weights="imagenet", style_layers=DEFAULT_STYLE_LAYERS,
                          content_layers=DEFAULT_CONTENT_LAYERS, **options):
    style_layers, content_layers = tuple(style_layers), tuple(content_layers)
    extractor = _extractor(weights, style_layers + content_layers)
    return StyleTransfer(data.images[0], data.images[1], extractor=extractor,
                         style_layers=style_layers, content_layers=content_layers, **options)


registry.register(registry.Family(
    name="texture_synthesis",
    model_class=TextureSynthesis,
    summary="Gram-matrix texture synthesis on VGG-19 features (Gatys et al. 2015)",
    data="image",
    options=_VGG_OPTIONS,
    build=_build_texture,
    default_data="brick",
    default_epochs=5,
    tiny=dict(_TINY_VGG),
    metrics=(),
    trains_on_batches=False,
    seeded=False,
))

registry.register(registry.Family(
    name="style_transfer",
    model_class=StyleTransfer,
    summary="neural style transfer on VGG-19 features (Gatys et al. 2016)",
    data="content_style",
    options=_VGG_OPTIONS + (
        registry.Option("content_layers", tuple, "VGG-19 layers whose features are kept",
                        default=DEFAULT_CONTENT_LAYERS, item=str),
        registry.Option("content_weight", float, "weight of the content loss", default=1.0),
        registry.Option("style_weight", float, "weight of the style loss", default=10.0),
        registry.Option("init", str, "the starting image", choices=_INITS, default="content"),
    ),
    build=_build_style_transfer,
    default_data="astronaut,brick",
    default_epochs=5,
    tiny=dict(_TINY_VGG, content_layers=("block1_conv2",)),
    metrics=(),
    trains_on_batches=False,
    seeded=False,
))
