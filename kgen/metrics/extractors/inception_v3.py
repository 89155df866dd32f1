"""InceptionV3 as a feature extractor: the network of FID, KID and the Inception Score."""

import os

import keras
from keras import ops

from kgen import checks, pretrained
from kgen.precision import policy_scope
from kgen.metrics.extractors.base import FeatureExtractor, cached_model, check_output

#: Input size of InceptionV3: images are resized to it.
INCEPTION_SIZE = (299, 299)

_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
_RANDOM = "a random initialisation (only to test a pipeline)"

#: keras.applications' ImageNet weights of InceptionV3, for each ``output``.
INCEPTION_V3_WEIGHTS = {
    "features": pretrained.PretrainedWeights(
        description="the ImageNet weights of InceptionV3 without its top",
        file_name="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        origin=_URL + "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        file_hash="bcbd6486424b2319ff4ef7d526e38f63",
        used_by="kgen.metrics.inception_v3",
        random_weights=_RANDOM,
    ),
    "logits": pretrained.PretrainedWeights(
        description="the ImageNet weights of InceptionV3 with its top",
        file_name="inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        origin=_URL + "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        file_hash="9a0d58056eeedaa3f26cb7ebd46da564",
        used_by="kgen.metrics.inception_v3",
        random_weights=_RANDOM,
    ),
}


@keras.saving.register_keras_serializable(package="kgen")
class InceptionInput(keras.Model):
    """Resizes images to InceptionV3's input and runs the network.

    Grayscale images are repeated to 3 channels; images of another size are resized to
    ``size`` with ``keras.ops.image.resize`` (bilinear, half-pixel centres,
    antialiased when ``antialias`` and shrinking). Values stay in ``[-1, 1]``, the
    input range of keras.applications' InceptionV3.

    Args:
        network: the InceptionV3 `keras.Model` (input ``size + (3,)``).
        size: ``(height, width)`` the network takes.
        antialias: antialias filter when downsampling (no effect when upsampling).

    Example:

    ```python
    import keras, numpy as np
    from kgen.metrics.extractors import InceptionInput

    network = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Identity()])
    InceptionInput(network, size=(4, 4))(np.zeros((1, 2, 2, 1), "float32")).shape   # (1, 4, 4, 3)
    ```
    """

    def __init__(self, network, size=INCEPTION_SIZE, antialias=True, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.size = tuple(size)
        self.antialias = bool(antialias)
        # No weights of its own: built once the network is, so predict() compiles the
        # forward pass directly instead of first building the model by running it.
        self.built = network.built

    def call(self, images):
        if images.shape[-1] == 1:
            images = ops.repeat(images, 3, axis=-1)
        if tuple(images.shape[1:3]) != self.size:
            images = ops.image.resize(
                images, self.size, interpolation="bilinear", antialias=self.antialias
            )
        return self.network(images, training=False)

    def get_config(self):
        return {
            "name": self.name,
            "network": keras.saving.serialize_keras_object(self.network),
            "size": self.size,
            "antialias": self.antialias,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


def inception_v3(weights="imagenet", *, output="features", antialias=True, batch_size=32):
    """InceptionV3 features (FID, KID, precision/recall) or logits (Inception Score).

    The network is ``keras.applications.InceptionV3``: ``output="features"`` gives the
    2048-D average-pooled features of its last block (``include_top=False,
    pooling="avg"``), ``output="logits"`` the 1000 ImageNet logits of its top layer
    (before the softmax).

    Preprocessing, applied inside the compiled model: grayscale images are repeated
    to 3 channels; images are resized to 299x299 with ``keras.ops.image.resize``,
    bilinear with half-pixel centres (the convention of TF2's ``tf.image.resize``,
    ``jax.image.resize`` and ``torch.nn.functional.interpolate(align_corners=False)``;
    measured to agree within 2e-6 across the three backends), with an antialiasing
    filter when shrinking large images (``antialias=True``, as recommended by Parmar
    et al. 2022; upsampling small images is unaffected). Values stay in ``[-1, 1]``:
    kgen's data space is InceptionV3's input range, so there is no other scaling.

    Comparability: scores computed with this extractor are comparable with each other
    (same protocol, stored with cached statistics), *not* with published FID/IS
    numbers. The reference implementation (TTUR's ``fid.py``, Heusel et al.) feeds
    uint8-range images to the 2015 TF-Inception graph (``pool_3`` features, 1008
    classes): other weights than keras.applications' ImageNet weights, and a resize
    done inside that graph by TF1's ``ResizeBilinear`` (``align_corners=False``
    without half-pixel centres: a sampling grid shifted by half an input pixel, no
    antialiasing). ``pytorch-fid`` ports those weights but resizes with PyTorch's
    bilinear ``interpolate``, so it differs from both.

    Args:
        weights: ``"imagenet"`` (`INCEPTION_V3_WEIGHTS`, looked up in the Keras cache,
            ``$KERAS_HOME/models`` or ``~/.keras/models``, and downloaded there once
            when missing by `kgen.pretrained.fetch_weights`), a path to the weights
            file, or None for a random initialisation (to test a pipeline).
        output: ``"features"`` (2048-D) or ``"logits"`` (1000 ImageNet classes).
        antialias: antialias when resizing images larger than 299x299.
        batch_size: images per forward pass.

    Returns:
        A `FeatureExtractor` named ``"inception_v3"``.

    Raises:
        RuntimeError: ``weights="imagenet"``, the file is not in the Keras cache, and it
            cannot be downloaded (no network). The message says how to provide it.
        ValueError: ``weights`` names a file that does not exist
            (`kgen.pretrained.WeightsFileNotFoundError`) or does not hold the
            InceptionV3 weights; an unknown ``output``.
        TypeError: ``weights`` is not a string, a path or None.

    Example:

    ```python
    import numpy as np
    from kgen.metrics import inception_v3

    extractor = inception_v3(weights=None)               # random init: a quick check
    extractor(np.zeros((2, 8, 8, 1), "float32")).shape   # (2, 2048)
    ```

    References:
        Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
        CVPR 2016.
        Parmar, Zhang & Zhu, "On Aliased Resizing and Surprising Subtleties in GAN
        Evaluation", CVPR 2022.
    """
    check_output(output)
    published = INCEPTION_V3_WEIGHTS[output]
    path = pretrained.weights_path(weights, published)
    batch_size = checks.integer(batch_size, "batch_size", 1)

    def build():
        with policy_scope("float32"):   # whatever the global policy: comparable scores
            return _build_inception(path, output, antialias)

    if path is None:
        model = build()  # a new random initialisation every time
        weights_name = "random"
    else:
        model = cached_model(("inception_v3", os.path.abspath(path), output, bool(antialias)),
                             path, build)
        if weights == published.name or pretrained.is_published_file(path, published):
            weights_name = "imagenet"  # the same file, from the cache or a path
        else:
            weights_name = os.path.basename(path)
    top = output == "logits"
    return FeatureExtractor(
        model,
        name="inception_v3",
        batch_size=batch_size,
        images=True,
        channels=(1, 3),
        num_features=1000 if top else 2048,
        protocol={
            "output": output,
            "weights": weights_name,
            "resize": (
                f"keras.ops.image.resize bilinear to {INCEPTION_SIZE[0]}x{INCEPTION_SIZE[1]},"
                f" antialias={bool(antialias)}; grayscale repeated to RGB"
            ),
        },
    )


def _build_inception(path, output, antialias):
    top = output == "logits"
    network = keras.applications.InceptionV3(
        include_top=top,
        weights=None,
        input_shape=INCEPTION_SIZE + (3,),
        pooling=None if top else "avg",
        classes=1000,
        classifier_activation=None,
    )
    if path is not None:
        try:
            network.load_weights(path)
        except Exception as error:  # noqa: BLE001 (wrong file: h5py, shape or layer-count errors)
            raise ValueError(
                f"Could not load InceptionV3 weights ({'with' if top else 'without'} the "
                f"top layer, output={output!r}) from {path!r}: {error}. Use keras."
                f"applications' file {INCEPTION_V3_WEIGHTS[output].file_name!r}."
            ) from None
    return InceptionInput(network, INCEPTION_SIZE, antialias, name=f"inception_v3_{output}")


__all__ = ["INCEPTION_SIZE", "INCEPTION_V3_WEIGHTS", "InceptionInput", "inception_v3"]
