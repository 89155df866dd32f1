"""Deep Image Prior (Ulyanov et al. 2018): image restoration by fitting a randomly initialised network."""

import re

import keras
import numpy as np
from keras import ops

from kgen import backend, checks
from kgen.models import registry
from kgen.models.base import Update
from kgen.models.single_image import SingleImageModel, image_to_data_space
from kgen.networks.image_prior import skip_network
from kgen.precision import float32

TASKS = ("denoise", "inpaint", "super_resolution")
# The paper fills the code with uniform noise in [0, 1/10].
_CODE_SCALE = 0.1


def _check_mask(mask, image_shape):
    array = np.asarray(mask)
    if array.dtype == bool:
        array = array.astype("float32")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"mask must be numeric or boolean; got dtype {array.dtype}.")
    height, width, channels = image_shape
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or array.shape[:2] != (height, width) or \
            array.shape[2] not in (1, channels):
        raise ValueError(
            f"mask must have the image's height and width, ({height}, {width}), "
            f"({height}, {width}, 1) or ({height}, {width}, {channels}); got shape "
            f"{np.shape(mask)}.")
    array = array.astype("float32")
    if not np.all((array == 0) | (array == 1)):
        raise ValueError("mask must hold 1 for known pixels and 0 for missing ones only.")
    if not array.any():
        raise ValueError("mask marks no pixel as known (all zeros): nothing to fit.")
    return array[None]


@keras.saving.register_keras_serializable(package="kgen")
class DeepImagePrior(SingleImageModel):
    """Deep Image Prior: restores one image by fitting a network's output to its degraded copy.

    A randomly initialised encoder-decoder (`kgen.networks.skip_network`) maps a fixed
    noise code ``z`` (uniform in ``[0, 0.1]``, drawn from ``seed``, a non-trainable
    variable) to an image, and its weights are optimised so that the *degraded* output
    matches the observation ``x0``: ``min_theta E(f_theta(z); x0)``. The structure of
    the network fits natural images long before it fits noise, so stopping early gives
    a restored image (Ulyanov et al. 2018). Each step adds fresh Gaussian noise of std
    ``input_noise_std`` to the code (from the model's seed generator), the paper's
    regularisation.

    Tasks (``E``, a mean squared error in data space):

    - ``"denoise"``: ``E = mean((f(z) - x0)^2)``.
    - ``"inpaint"``: ``mask`` is 1 on known pixels, 0 on missing ones;
      ``E = sum(mask (f(z) - x0)^2) / sum(mask)`` over the known pixels only.
    - ``"super_resolution"``: ``x0`` is the low-resolution image; the output is
      ``factor`` times larger and is downsampled by averaging ``factor x factor``
      blocks (area downsampling; the paper used a Lanczos kernel) before the comparison.

    Early stopping matters for denoising: past a point the network starts to fit the
    noise and the restored image gets worse. With a clean reference (a benchmark), the
    `kgen.callbacks.PSNR` callback records the PSNR and, with
    `keras.callbacks.EarlyStopping`, keeps the best weights; without one, use the step
    count the paper (or the docs' measured curve) suggests.

    ``fit(steps=...)`` runs the optimisation (no data; default Adam, learning rate
    0.01, the paper's); ``generate()`` returns the restored image ``f(z)`` (without the
    code noise), ``(1, H, W, C)`` in ``[-1, 1]``. The network's batch normalisation
    normalises with the statistics of the image itself in both training and
    generation, as in the paper's code. Logs: ``loss``.

    Args:
        image: the degraded observation, ``(H, W, C)`` or ``(1, H, W, C)``, uint8 or
            float in ``[-1, 1]`` (the low-resolution image for super-resolution).
        mask: for ``"inpaint"``: 1 (known) / 0 (missing), ``(H, W)``, ``(H, W, 1)`` or
            ``(H, W, C)``.
        task: ``"denoise"``, ``"inpaint"`` or ``"super_resolution"``.
        factor: the upsampling factor of ``"super_resolution"``.
        network: a Keras model from the code ``(1, H', W', channels)`` to an image of
            the output size (default: `kgen.networks.skip_network` with 32 input
            channels and the paper's widths, 128 filters at 5 levels).
        input_noise_std: std of the noise added to the code at each step (0: none).
        seed: seed of the noise code (and of the per-step noise).
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import numpy as np
    import kgen

    clean = kgen.data.to_data_space(kgen.data.load_image("astronaut", size=32)[None])
    noisy = np.clip(clean + 0.2 * np.random.default_rng(0).normal(size=clean.shape), -1, 1)
    net = kgen.networks.skip_network(8, 3, down_channels=(16, 16), skip_channels=(4, 4))
    dip = kgen.models.DeepImagePrior(noisy, network=net, seed=0)
    dip.fit(steps=10, verbose=0)
    restored = dip.generate()   # (1, 32, 32, 3)
    ```

    References:
        Ulyanov, Vedaldi & Lempitsky, "Deep Image Prior", CVPR 2018 / IJCV 2020.
    """

    log_names = ("loss",)
    network_names = ("network",)

    def __init__(self, image, mask=None, task="denoise", factor=4, network=None,
                 input_noise_std=1.0 / 30.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if task not in TASKS:
            raise ValueError(f"Unknown task {task!r}; choose one of {TASKS}.")
        self.task = task
        observed = image_to_data_space(image, "image")
        self.image = observed[0]
        height, width, channels = self.image.shape
        if task == "inpaint":
            if mask is None:
                raise ValueError(
                    "task='inpaint' needs mask= (1 on known pixels, 0 on missing ones).")
            mask_array = _check_mask(mask, self.image.shape)
        elif mask is not None:
            raise ValueError(f"mask is only used by task='inpaint'; got task={task!r}.")
        self.mask = None if mask is None else mask_array[0]
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
            raise ValueError(f"factor must be a positive integer; got {factor!r}.")
        self.factor = int(factor)
        scale = self.factor if task == "super_resolution" else 1
        self.restored_shape = (height * scale, width * scale, channels)
        if isinstance(input_noise_std, bool) or not isinstance(
                input_noise_std, (int, float, np.floating)) or input_noise_std < 0:
            raise ValueError(
                f"input_noise_std must be a non-negative number; got {input_noise_std!r}.")
        self.input_noise_std = float(input_noise_std)
        if network is None:
            network = skip_network(32, channels)
        if not isinstance(network, keras.layers.Layer):
            raise TypeError(f"network must be a Keras model; got {type(network).__name__}.")
        self.network = network
        code_channels = self._code_channels(network)
        self._check_output(code_channels)

        code = _CODE_SCALE * np.random.default_rng(seed).uniform(
            size=(1,) + self.restored_shape[:2] + (code_channels,))
        self.code = self._constant(code, "code")
        self.observation = self._constant(observed, "observation")
        self.observation_mask = (
            None if self.mask is None else self._constant(mask_array, "observation_mask"))
        self._ensure_built()

    def _constant(self, value, name):
        value = np.asarray(value, "float32")
        return self.add_weight(shape=value.shape, name=name, trainable=False,
                               initializer=keras.initializers.Constant(value))

    @staticmethod
    def _code_channels(network):
        try:
            shape = network.input_shape
        except (AttributeError, ValueError):
            shape = None
        if shape is None or isinstance(shape, list) or shape[-1] is None:
            raise ValueError(
                "The network must have one input (batch, height, width, channels) with a "
                "known channel count; build it with keras.Input((None, None, channels)).")
        return int(shape[-1])

    def _check_output(self, code_channels):
        height, width, channels = self.restored_shape
        levels = sum(1 for layer in self.network.layers
                     if re.fullmatch(r"down\d+_conv1", layer.name))
        if levels:   # a kgen.networks.skip_network: each level halves the resolution
            reflect = any(layer.name.endswith("_pad") for layer in self.network.layers)
            multiple = 2 ** (levels + 1 if reflect else levels)
            if height % 2**levels or width % 2**levels or min(height, width) < multiple:
                raise ValueError(
                    f"The network has {levels} levels, so the output's height and width "
                    f"must be multiples of {2**levels} (and at least {multiple}); the output "
                    f"is {height}x{width}. Crop or pad the image, or pass a network with "
                    "fewer levels (skip_network(down_channels=...)).")
        try:
            out = tuple(self.network.compute_output_shape((1, height, width, code_channels)))
        except Exception as error:  # noqa: BLE001 - shape errors come in many kinds
            raise ValueError(
                f"The network cannot map a code of shape (1, {height}, {width}, "
                f"{code_channels}) to an image ({error}).") from None
        if out != (1, height, width, channels):
            raise ValueError(
                f"The network maps a code of shape (1, {height}, {width}, {code_channels}) "
                f"to {out}, but the output must be (1, {height}, {width}, {channels}).")

    def default_optimizer(self, name):
        return keras.optimizers.Adam(learning_rate=0.01)

    def degrade(self, images):
        """The degradation of the task applied to ``images`` (the model's output space).

        Identity for ``"denoise"`` and ``"inpaint"`` (the mask is applied in the loss);
        for ``"super_resolution"``, the mean over ``factor x factor`` blocks.
        """
        if self.task == "super_resolution" and self.factor > 1:
            return ops.average_pool(images, self.factor, strides=self.factor, padding="valid")
        return images

    def data_loss(self, x=None, y=None, training=True):
        """The loss of the degraded output against the observation (``x``, ``y`` are ignored)."""
        code = ops.convert_to_tensor(self.code)
        if self.input_noise_std > 0:
            code = code + self.input_noise_std * keras.random.normal(
                ops.shape(code), seed=self.seed_generator)
        squared = ops.square(self.degrade(float32(self.network(code, training=training)))
                             - self.observation)
        if self.observation_mask is None:
            loss = ops.mean(squared)
        else:
            weights = ops.broadcast_to(self.observation_mask, ops.shape(squared))
            loss = ops.sum(weights * squared) / ops.sum(weights)
        return loss, {"loss": loss}

    def training_updates(self):
        return [Update("model", self.data_loss, self.network.trainable_variables)]

    def call(self, inputs=None, training=False):
        return self.network(self.code, training=training)

    def restore(self, code):
        """The network's image for ``code``, normalised with the statistics of that image.

        Batch normalisation runs in training mode, as in training and in the paper's
        code; the moving averages it would update are left untouched.
        """
        current = [(variable, variable.value) for variable in self.network.variables]
        with keras.StatelessScope(state_mapping=current):
            return self.network(code, training=True)

    def _generate(self, num_samples, *, seed=None):
        if getattr(self, "_compiled_restore", None) is None:
            self._compiled_restore = backend.compile_function(self.restore,
                                                              self.network.variables)
        return self._compiled_restore(ops.convert_to_tensor(self.code))

    def get_config(self):
        config = super().get_config()
        config.update(image=self.image.tolist(),
                      mask=None if self.mask is None else self.mask.tolist(),
                      task=self.task, factor=self.factor,
                      input_noise_std=self.input_noise_std)
        return config


def _read_mask(path, shape):
    """A mask image (white where a pixel is known) as 0/1 floats of ``shape[:2]``."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            grey = np.asarray(picture.convert("L").resize((shape[1], shape[0])))
    except OSError as error:
        raise ValueError(f"Could not read the mask {path!r}: {error}") from None
    return (grey > 127).astype("float32")


def _build(data, code_channels=32, down_channels=(128, 128, 128, 128, 128),
           skip_channels=(4, 4, 4, 4, 4), mask=None, noise_std=0.0, missing=0.0, seed=None,
           **options):
    """The family's builder: the image of ``data``, with, for demonstrations on a clean
    picture, Gaussian noise of std ``noise_std`` added or a share ``missing`` of its pixels
    hidden (both drawn from ``seed``); ``mask`` is the path of a mask image."""
    image = checks.to_data_space(np.asarray(data.images)[:1], "image")[0]
    rng = np.random.default_rng(seed)
    noise_std = checks.number(noise_std, "noise_std", 0.0)
    missing = checks.number(missing, "missing", 0.0, 1.0, exclusive_maximum=True)
    if noise_std:
        image = np.clip(image + noise_std * rng.standard_normal(image.shape), -1.0, 1.0)
    if mask is not None:
        mask = _read_mask(mask, image.shape)
    elif missing:
        mask = (rng.uniform(size=image.shape[:2]) >= missing).astype("float32")
    elif data.mask is not None:
        mask = data.mask
    if mask is not None and options.get("task") == "inpaint":
        image = image * mask[..., None] - (1.0 - mask[..., None])   # missing pixels: black
    network = skip_network(code_channels, image.shape[-1], down_channels=tuple(down_channels),
                           skip_channels=tuple(skip_channels))
    return DeepImagePrior(image.astype("float32"), mask=mask, network=network, seed=seed,
                          **options)


registry.register(registry.Family(
    name="deep_image_prior",
    model_class=DeepImagePrior,
    summary="Deep Image Prior: denoising, inpainting and super-resolution of one image",
    data="image",
    options=(
        registry.Option("task", str, "what to restore", choices=TASKS, default="denoise"),
        registry.Option("factor", int, "upsampling factor of super_resolution", default=4),
        registry.Option("input_noise_std", float, "noise added to the code at each step"),
        registry.Option("code_channels", int, "channels of the random code", default=32),
        registry.Option("down_channels", tuple, "channels of each level of the skip network",
                        default=(128,) * 5),
        registry.Option("skip_channels", tuple, "channels of each skip connection",
                        default=(4,) * 5),
        registry.Option("mask", str, "inpainting: a mask image, white where a pixel is known"),
        registry.Option("noise_std", float, "demonstration: Gaussian noise added to a clean "
                        "image first (data space, from the seed)", default=0.0, minimum=0.0),
        registry.Option("missing", float, "demonstration: share of a clean image's pixels "
                        "hidden first (from the seed)", default=0.0, minimum=0.0),
    ),
    build=_build,
    default_data="coffee",
    default_epochs=30,
    tiny={"code_channels": 8, "down_channels": (16, 16), "skip_channels": (4, 4)},
    metrics=("psnr",),
    trains_on_batches=False,
    seeded=False,
))
