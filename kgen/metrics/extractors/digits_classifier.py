"""The digits classifier: a small CNN of the bundled 8x8 digits, shipped with kgen, as extractor."""

import os

import keras

from kgen import checks
from kgen.metrics.extractors.base import (
    FeatureExtractor,
    cached_model,
    check_output,
    load_shipped_weights,
    weights_path,
)

#: The shipped weights of the digits classifier (see `digits_classifier`).
DIGITS_CLASSIFIER_WEIGHTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "digits_classifier.weights.h5"
)


def build_digits_classifier(name="digits_classifier"):
    """The architecture of the digits classifier (untrained): 8x8x1 images -> 10 logits.

    Three 3x3 ReLU convolutions (32, 32, 64 filters; 2x2 max pooling after the second
    and third), a 64-unit ReLU dense layer named ``"features"`` (the features of
    `digits_classifier`), dropout 0.3 and a 10-unit dense layer named ``"logits"``.
    Inputs are images in data space ``[-1, 1]``.

    Args:
        name: the model's name.

    Returns:
        A functional `keras.Model` from ``(8, 8, 1)`` to ``(10,)`` logits.

    Example:

    ```python
    from kgen.metrics.extractors import build_digits_classifier

    model = build_digits_classifier()
    model.output_shape  # (None, 10)
    ```
    """
    layers = keras.layers
    inputs = keras.Input((8, 8, 1), name="images")
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    features = layers.Dense(64, activation="relu", name="features")(x)
    x = layers.Dropout(0.3, name="dropout")(features)
    logits = layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def load_digits_classifier(weights=None):
    """The digits classifier with trained weights (the shipped ones by default).

    Args:
        weights: path of a ``.weights.h5`` file for `build_digits_classifier`'s
            architecture; None for the weights shipped with kgen
            (`DIGITS_CLASSIFIER_WEIGHTS`, made by ``scripts/train_digits_classifier.py``).

    Returns:
        The classifier, a `keras.Model` from ``(8, 8, 1)`` images in ``[-1, 1]`` to 10
        logits.

    Raises:
        ValueError: the file does not exist or does not hold the classifier's weights.

    Example:

    ```python
    import numpy as np
    import kgen
    from kgen.metrics.extractors import load_digits_classifier

    x, y = kgen.data.load("digits", split="test", return_labels=True)
    logits = load_digits_classifier().predict(kgen.data.to_data_space(x), verbose=0)
    accuracy = np.mean(logits.argmax(-1) == y)   # about 0.99
    ```
    """
    path = weights_path(weights, DIGITS_CLASSIFIER_WEIGHTS)
    return load_shipped_weights(build_digits_classifier(), path, what="digits classifier",
                                script="scripts/train_digits_classifier.py")


def digits_classifier(output="features", *, weights=None, batch_size=256):
    """The digits classifier as a feature extractor: 64-D features or 10 logits.

    A small CNN (`build_digits_classifier`) trained on the bundled 8x8 digits
    (``kgen.data.load("digits", split="train")``) by
    ``scripts/train_digits_classifier.py``; its weights ship with kgen (about 200 kB)
    and it classifies the held-out test split with about 99% accuracy. It is the
    offline, fast stand-in for InceptionV3 when evaluating models of the digits:
    ``"features"`` (the 64 ReLU units before the classification layer) for FID, KID
    and precision/recall, ``"logits"`` for the Inception Score.

    Args:
        output: ``"features"`` (64-D) or ``"logits"`` (10 classes).
        weights: None for the shipped weights, or a path to other weights.
        batch_size: images per forward pass.

    Returns:
        A `FeatureExtractor` named ``"digits_classifier"``, taking ``(N, 8, 8, 1)``
        images in data space.

    Example:

    ```python
    import kgen
    from kgen.metrics import digits_classifier

    extractor = digits_classifier()
    x = kgen.data.to_data_space(kgen.data.load("digits", split="test"))
    extractor(x).shape   # (360, 64)
    ```

    References:
        The metrics it serves, with InceptionV3 replaced by this classifier: Heusel et
        al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium", NeurIPS 2017 (FID); Salimans et al., "Improved Techniques for
        Training GANs", NeurIPS 2016 (Inception Score).
    """
    check_output(output)
    batch_size = checks.integer(batch_size, "batch_size", 1)
    path = weights_path(weights, DIGITS_CLASSIFIER_WEIGHTS)
    if not os.path.isfile(path):
        load_digits_classifier(path)  # the error that names the missing file

    def build():
        classifier = load_digits_classifier(path)
        if output == "logits":
            return classifier
        return keras.Model(
            classifier.inputs, classifier.get_layer("features").output, name="digits_features"
        )

    model = cached_model(("digits_classifier", path, output), path, build)
    return FeatureExtractor(
        model,
        name="digits_classifier",
        batch_size=batch_size,
        images=True,
        image_shape=(8, 8, 1),
        num_features=64 if output == "features" else 10,
        protocol={
            "output": output,
            "weights": "kgen" if weights is None else os.path.basename(path),
            "resize": "none (8x8x1 digits)",
        },
    )


__all__ = [
    "DIGITS_CLASSIFIER_WEIGHTS",
    "build_digits_classifier",
    "digits_classifier",
    "load_digits_classifier",
]
