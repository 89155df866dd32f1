"""The scene classifier: the five attributes of a captioned digit scene, shipped with kgen.

It judges images of the bundled ``"captioned_digits"`` scenes (`kgen.data.captioned`):
which digit, in which colour, on which background, of which size, where. Text-to-image
models are measured with it (does a sample show what its prompt asked for?), and its
penultimate features are the offline stand-in for InceptionV3 in the FID of 32x32 scenes.
"""

import os

import keras
import numpy as np
from keras import ops

from kgen import checks
from kgen.data import captioned
from kgen.metrics.extractors.base import (
    FeatureExtractor,
    cached_model,
    check_output,
    load_shipped_weights,
    weights_path,
)

#: The shipped weights of the scene classifier (see `scene_classifier`).
SCENE_CLASSIFIER_WEIGHTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "scene_classifier.weights.h5"
)
#: The width of the features of `scene_classifier`.
SCENE_FEATURES = 128
_SCRIPT = "scripts/train_scene_classifier.py"


@keras.saving.register_keras_serializable(package="kgen")
class InkContrast(keras.layers.Layer):
    """The image and its ink: each pixel's distance from the background colour, as a channel.

    The background colour of an image is the median of each channel over its pixels (a
    scene's background covers most of it); the extra channel is the Euclidean distance of
    each pixel's colour from it, divided by its largest value, ``2 sqrt(3)`` in data space,
    so it lies in ``[0, 1]``. The digit's shape does not depend on its colours there,
    which the digit's classifier would otherwise have to learn for every pair.

    Example:

    ```python
    import numpy as np
    from kgen.metrics.extractors.scene_classifier import InkContrast

    x = -np.ones((1, 4, 4, 3), "float32"); x[0, 1, 1] = 1.0
    out = np.asarray(InkContrast()(x))
    out.shape, round(float(out[0, 1, 1, 3]), 4), float(out[0, 0, 0, 3])   # ((1, 4, 4, 4), 1.0, 0.0)
    ```
    """

    def call(self, images):
        shape = ops.shape(images)
        flat = ops.reshape(images, (shape[0], -1, shape[-1]))
        background = ops.median(flat, axis=1)[:, None, None, :]
        distance = ops.sqrt(ops.sum(ops.square(images - background), axis=-1, keepdims=True))
        return ops.concatenate([images, distance / (2.0 * np.sqrt(3.0))], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + 1,)


def build_scene_classifier(name="scene_classifier"):
    """The architecture of the scene classifier (untrained): 32x32x3 scenes -> 5 sets of logits.

    The scene and its ink (`InkContrast`: each pixel's distance from the median
    colour), then three levels of two 3x3 convolutions, each followed by batch
    normalisation and a ReLU (16, 32 and 64 filters; 2x2 max pooling after each level), a
    128-unit ReLU dense layer named ``"features"`` (the features of `scene_classifier`),
    dropout 0.3, and one dense layer of logits per attribute of
    `kgen.data.captioned.ATTRIBUTES`, named after it: ``"digit"`` (10),
    ``"colour"`` (7), ``"background"`` (7), ``"size"`` (2), ``"position"`` (5). Inputs
    are images in data space ``[-1, 1]``.

    Args:
        name: the model's name.

    Returns:
        A functional `keras.Model` from ``(32, 32, 3)`` images to a dict of logits,
        one entry per attribute.

    Example:

    ```python
    from kgen.metrics.extractors import build_scene_classifier

    model = build_scene_classifier()
    [model.get_layer(name).units for name in ("digit", "colour", "background", "size",
                                              "position")]   # [10, 7, 7, 2, 5]
    ```
    """
    layers = keras.layers
    size = captioned.SCENE_SIZE
    inputs = keras.Input((size, size, 3), name="images")
    x = InkContrast(name="ink")(inputs)
    for level, filters in enumerate((16, 32, 64), start=1):
        for index in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                              name=f"conv{level}_{index}")(x)
            x = layers.BatchNormalization(name=f"norm{level}_{index}")(x)
            x = layers.ReLU(name=f"relu{level}_{index}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = layers.Flatten(name="flatten")(x)
    features = layers.Dense(SCENE_FEATURES, activation="relu", name="features")(x)
    x = layers.Dropout(0.3, name="dropout")(features)
    logits = {attribute: layers.Dense(len(values), name=attribute)(x)
              for attribute, values in captioned.ATTRIBUTES.items()}
    return keras.Model(inputs, logits, name=name)


def load_scene_classifier(weights=None):
    """The scene classifier with trained weights (the shipped ones by default).

    Args:
        weights: path of a ``.weights.h5`` file for `build_scene_classifier`'s
            architecture; None for the weights shipped with kgen
            (`SCENE_CLASSIFIER_WEIGHTS`, made by ``scripts/train_scene_classifier.py``).

    Returns:
        The classifier, a `keras.Model` from ``(32, 32, 3)`` images in ``[-1, 1]`` to a
        dict of logits per attribute.

    Raises:
        TypeError: ``weights`` is not a path. ValueError: the file does not exist or does
        not hold the classifier's weights.

    Example:

    ```python
    import kgen
    from kgen.metrics.extractors import load_scene_classifier

    x = kgen.data.load("captioned_digits", split="test", num_samples=4)
    logits = load_scene_classifier().predict(kgen.data.to_data_space(x), verbose=0)
    logits["colour"].shape   # (4, 7)
    ```
    """
    path = weights_path(weights, SCENE_CLASSIFIER_WEIGHTS)
    return load_shipped_weights(build_scene_classifier(), path, what="scene classifier",
                                script=_SCRIPT)


def _classifier(weights):
    path = weights_path(weights, SCENE_CLASSIFIER_WEIGHTS)
    if not os.path.isfile(path):
        load_scene_classifier(path)  # the error that names the missing file
    return path, cached_model(("scene_classifier", path, "all"), path,
                              lambda: load_scene_classifier(path))


def scene_classifier(output="features", *, weights=None, batch_size=256):
    """The scene classifier as a feature extractor: 128-D features or the digit's 10 logits.

    A small CNN (`build_scene_classifier`) trained by ``scripts/train_scene_classifier.py``
    on scenes drawn from the training digits in every combination of attributes (the
    held-out digit-colour pairs of `kgen.data.captioned.HELD_OUT` included, so it judges
    them as well as the others); its weights ship with kgen. Its accuracy on the
    ``"test"`` and ``"heldout"`` scenes (digit images it never saw) is in the docs
    (Metrics guide). ``"features"`` (the 128 ReLU units before the five classification
    layers) serve FID, KID and precision/recall of 32x32 scenes; ``"logits"`` are the
    digit's, for the Inception Score.

    Args:
        output: ``"features"`` (128-D) or ``"logits"`` (the 10 digit classes).
        weights: None for the shipped weights, or a path to other weights.
        batch_size: images per forward pass.

    Returns:
        A `FeatureExtractor` named ``"scene_classifier"``, taking ``(N, 32, 32, 3)``
        images (uint8, or floats in data space).

    Example:

    ```python
    import kgen
    from kgen.metrics import scene_classifier

    x = kgen.data.load("captioned_digits", split="test", num_samples=8)
    scene_classifier()(x).shape   # (8, 128)
    ```
    """
    check_output(output)
    batch_size = checks.integer(batch_size, "batch_size", 1)
    path, classifier = _classifier(weights)
    layer = "features" if output == "features" else "digit"

    def build():
        return keras.Model(classifier.inputs, classifier.get_layer(layer).output,
                           name=f"scene_{output}")

    model = cached_model(("scene_classifier", path, output), path, build)
    size = captioned.SCENE_SIZE
    return FeatureExtractor(
        model,
        name="scene_classifier",
        batch_size=batch_size,
        images=True,
        image_shape=(size, size, 3),
        num_features=SCENE_FEATURES if output == "features" else len(captioned.DIGITS),
        protocol={
            "output": output,
            "weights": "kgen" if weights is None else os.path.basename(path),
            "resize": "none (32x32x3 scenes)",
        },
    )


def scene_attributes(images, *, weights=None, batch_size=256):
    """The attributes the scene classifier sees in each image.

    Args:
        images: ``(N, 32, 32, 3)`` scenes, uint8 ``0..255`` or floats in data space
            ``[-1, 1]`` (the package's rule, `kgen.checks.to_data_space`).
        weights: None for the shipped weights, or a path to other weights.
        batch_size: images per forward pass.

    Returns:
        A dict of int32 arrays ``(N,)``, one per attribute of
        `kgen.data.captioned.ATTRIBUTES`, each indexing that attribute's values (as the
        ``"attributes"`` of `kgen.data.captioned.load_scenes`).

    Raises:
        ValueError: images of another shape, or floats outside ``[-1, 1]``.

    Example:

    ```python
    import numpy as np
    import kgen
    from kgen.metrics import scene_attributes

    x, truth = kgen.data.load("captioned_digits", split="test", num_samples=16,
                              return_attributes=True)
    seen = scene_attributes(x)
    np.mean(seen["colour"] == truth["colour"])   # 1.0
    ```
    """
    batch_size = checks.integer(batch_size, "batch_size", 1)
    size = captioned.SCENE_SIZE
    x = checks.to_data_space(images)
    if x.shape[1:] != (size, size, 3):
        raise ValueError(f"The scene classifier takes ({size}, {size}, 3) images (the "
                         f"captioned_digits scenes); got a batch of shape {x.shape}.")
    _, classifier = _classifier(weights)
    logits = classifier.predict(x, batch_size=batch_size, verbose=0)
    return {name: np.argmax(logits[name], axis=-1).astype(np.int32)
            for name in captioned.ATTRIBUTES}


__all__ = [
    "SCENE_CLASSIFIER_WEIGHTS",
    "SCENE_FEATURES",
    "build_scene_classifier",
    "load_scene_classifier",
    "scene_attributes",
    "scene_classifier",
]
