"""VGG-19 feature maps for perceptual and style losses (Simonyan & Zisserman 2015).

`vgg19_features` wraps `keras.applications.VGG19` into a model that takes images in
kgen's data space (``[-1, 1]``, RGB) and returns the activations of the named layers.
The ImageNet weights come from the Keras download cache (``~/.keras/models``); offline,
pass a local copy (``weights="/path/to/file.h5"``) or ``weights=None`` (random
weights, which still make usable texture statistics; Ustyuzhaninov et al. 2017).
"""

import keras
import numpy as np
from keras import ops

from kgen import checks, pretrained

#: File name of the ImageNet weights of VGG-19 without its classifier, as Keras caches it.
VGG19_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
#: Where Keras downloads that file from.
VGG19_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_WEIGHTS_FILE
)
#: The ImageNet weights of VGG-19 without its classifier (`kgen.pretrained`).
VGG19_WEIGHTS = pretrained.PretrainedWeights(
    description="the ImageNet weights of VGG-19 without its top",
    file_name=VGG19_WEIGHTS_FILE,
    origin=VGG19_WEIGHTS_URL,
    file_hash="253f8cb515780f3b799900260a226db6",
    used_by="kgen.networks.vgg19_features",
    random_weights=("a randomly initialised VGG-19 (enough for texture synthesis, not "
                    "for style transfer of quality)"),
)

#: The convolution layers of VGG-19, in order (keras.applications names).
VGG19_LAYERS = tuple(
    f"block{block}_conv{conv}"
    for block, convs in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
    for conv in range(1, convs + 1)
)
_POOLINGS = ("avg", "max")
# The filters of each block's convolutions, as in keras.applications.VGG19.
_BLOCK_FILTERS = (64, 128, 256, 512, 512)

# ImageNet channel means, in the BGR order of the original Caffe model.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="kgen")
class CaffePreprocessing(keras.layers.Layer):
    """Maps RGB images in ``[-1, 1]`` to VGG's input: BGR pixel values minus the ImageNet mean.

    ``x -> flip_channels(127.5 * (x + 1)) - (103.939, 116.779, 123.68)``, the "caffe"
    preprocessing of `keras.applications.vgg19.preprocess_input`, written with
    `keras.ops` so it runs inside the model (and is differentiated through).

    Example:

    ```python
    import numpy as np
    from kgen.networks.vgg import CaffePreprocessing

    CaffePreprocessing()(np.ones((1, 2, 2, 3), "float32"))[0, 0, 0]   # [151.061, 138.221, 131.32]
    ```

    References:
        Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
        Recognition", ICLR 2015.
    """

    def call(self, images):
        pixels = (ops.cast(images, self.compute_dtype) + 1.0) * 127.5
        bgr = ops.flip(pixels, axis=-1)
        return bgr - ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def imagenet_weights_path(cache_dir=None, origin=None, timeout=pretrained.DOWNLOAD_TIMEOUT):
    """The local path of VGG-19's ImageNet weights, downloading them into the Keras cache if needed.

    The file is looked for in Keras's cache (``$KERAS_HOME/models``, by default
    ``~/.keras/models``, or ``cache_dir/models``) and downloaded with
    `keras.utils.get_file` when missing (`kgen.pretrained.fetch_weights`), with
    ``timeout`` seconds allowed per network operation.

    Args:
        cache_dir: the cache folder (default: Keras's, ``$KERAS_HOME`` or ``~/.keras``).
        origin: the URL to download from (default `VGG19_WEIGHTS_URL`).
        timeout: seconds before a stalled connection counts as offline.

    Returns:
        The path of ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``.

    Raises:
        RuntimeError: the file is not cached and could not be downloaded; the message
            names the file, its URL, where to put it and how to pass a local copy.

    Example:

    ```python
    from kgen.networks.vgg import imagenet_weights_path

    try:  # an empty cache and an origin that refuses connections, as offline
        imagenet_weights_path(cache_dir="/tmp/kgen_empty_cache", origin="http://127.0.0.1:9/x.h5")
    except RuntimeError as error:
        print(error)   # what to download, where to put it, weights="/path/to/..." or None
    ```
    """
    return pretrained.fetch_weights(VGG19_WEIGHTS, origin=origin, cache_dir=cache_dir,
                                    timeout=timeout)


def vgg19_features(layers=("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                           "block5_conv1"),
                   weights="imagenet", input_shape=(None, None, 3), pooling="avg", seed=None,
                   name="vgg19_features"):
    """A model returning VGG-19's activations at ``layers`` for RGB images in ``[-1, 1]``.

    The images are converted to VGG's input inside the model (`CaffePreprocessing`).
    The convolution layers are those of `keras.applications.VGG19` (same names, each
    followed by its ReLU, so a ``blockN_convM`` output is the rectified activation), up
    to the deepest layer asked for: the rest of the network is not built. With weights,
    `keras.applications.VGG19` is built and loads them, and its layers' weights are
    copied. With ``pooling="avg"`` the max-pooling layers are replaced by average
    pooling, which Gatys et al. found to give smoother gradients for synthesis; pooling
    has no weights, so the ImageNet weights are unchanged. The model is not frozen: set
    ``trainable = False`` to use it as a fixed feature extractor (the kgen models that
    take it do so).

    Args:
        layers: names of convolution layers (``"block1_conv1"`` ... ``"block5_conv4"``,
            `VGG19_LAYERS`), in the order of the outputs.
        weights: ``"imagenet"`` (`VGG19_WEIGHTS`, downloaded once into the Keras cache,
            ``$KERAS_HOME/models`` or ``~/.keras/models``, by
            `kgen.pretrained.fetch_weights`), None (random initialisation), or the path
            of a ``.h5`` weights file for VGG-19 without its top.
        input_shape: ``(height, width, 3)``; None for any size.
        pooling: ``"avg"`` or ``"max"`` (VGG's own).
        seed: seed of the random weights (``weights=None``): Keras's default
            initialisation (Glorot uniform kernels, zero biases), drawn with numpy.
        name: the model's name.

    Returns:
        A functional `keras.Model` with one output per layer, as a list (also for one
        layer), each ``(batch, h, w, channels)``.

    Raises:
        RuntimeError: ``weights="imagenet"``, the file is not cached and cannot be
            downloaded; the message says which file to fetch and where to put it.
        FileNotFoundError: ``weights`` is the path of a missing file (a
            `kgen.pretrained.WeightsFileNotFoundError`, also a `ValueError`).
        ValueError: an unknown layer or pooling, or a file that does not hold the
            weights of VGG-19.

    Example:

    ```python
    import numpy as np
    from kgen.networks import vgg19_features

    extractor = vgg19_features(["block1_conv1", "block2_conv1"], weights=None)
    f1, f2 = extractor(np.zeros((1, 32, 32, 3), "float32"))   # (1, 32, 32, 64), (1, 16, 16, 128)
    ```

    References:
        Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
        Recognition", ICLR 2015.
        Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
        Networks", CVPR 2016.
        Ustyuzhaninov et al., "What does it take to generate natural textures?", ICLR 2017.
    """
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(layers)
    if not layers:
        raise ValueError("vgg19_features needs at least one layer name.")
    unknown = [layer for layer in layers if layer not in VGG19_LAYERS]
    if unknown:
        raise ValueError(f"Unknown VGG-19 layer(s) {unknown}; choose among {list(VGG19_LAYERS)}.")
    checks.one_of(pooling, "pooling", _POOLINGS)
    seed = checks.seed(seed)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            f"VGG-19 takes RGB images: input_shape must be (height, width, 3); got "
            f"{input_shape}. Repeat a grayscale image over 3 channels first "
            "(np.repeat(image, 3, axis=-1)).")
    weights_path = pretrained.weights_path(weights, VGG19_WEIGHTS)
    deepest = max(VGG19_LAYERS.index(layer) for layer in layers)
    inputs = keras.Input(input_shape, name="images")
    x = CaffePreprocessing(name="caffe_preprocessing")(inputs)
    pool = keras.layers.AveragePooling2D if pooling == "avg" else keras.layers.MaxPooling2D
    outputs, convs = {}, []
    for name_ in VGG19_LAYERS[: deepest + 1]:
        block = int(name_[len("block")])
        if convs and not convs[-1].name.startswith(f"block{block}_"):
            x = pool(2, name=f"block{block - 1}_pool")(x)
        layer = keras.layers.Conv2D(_BLOCK_FILTERS[block - 1], 3, padding="same",
                                    activation="relu", kernel_initializer="zeros", name=name_)
        x = layer(x)
        convs.append(layer)
        if name_ in layers:
            outputs[name_] = x
    model = keras.Model(inputs, [outputs[layer] for layer in layers], name=name)
    if weights_path is None:
        _glorot_uniform(convs, seed)
    else:
        _load_weights(convs, weights_path)
    return model


def _glorot_uniform(convs, seed):
    """Keras's default initialisation (Glorot uniform kernels, zero biases), drawn with numpy."""
    rng = np.random.default_rng(seed)
    for layer in convs:
        kernel_shape = tuple(layer.kernel.shape)
        fan_in = kernel_shape[0] * kernel_shape[1] * kernel_shape[2]
        fan_out = kernel_shape[0] * kernel_shape[1] * kernel_shape[3]
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        layer.kernel.assign(rng.uniform(-limit, limit, kernel_shape).astype("float32"))


def _load_weights(convs, weights_path):
    """Copies the weights of `keras.applications.VGG19`, loaded from ``weights_path``."""
    vgg = keras.applications.VGG19(include_top=False, weights=None)
    try:
        vgg.load_weights(weights_path)
    except Exception as error:  # noqa: BLE001 - h5py and keras raise many kinds
        raise ValueError(
            f"Could not load VGG-19 weights from {weights_path!r} ({error}). It must be "
            f"the weights of VGG-19 without its top, such as {VGG19_WEIGHTS_FILE}."
        ) from None
    for layer in convs:
        layer.set_weights(vgg.get_layer(layer.name).get_weights())
