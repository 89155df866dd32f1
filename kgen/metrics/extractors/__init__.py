"""Feature extractors for sample-quality metrics: images in data space -> ``(N, D)`` features.

The metrics (`kgen.metrics.FrechetInceptionDistance`, `kgen.metrics.KernelInceptionDistance`,
`kgen.metrics.InceptionScore`, `kgen.metrics.PrecisionRecall`) take an extractor by name
or as an object, resolved by `get_extractor`:

- ``"inception_v3"`` (`inception_v3`): the 2048-D pool features (or the 1000
  ImageNet logits) of ``keras.applications.InceptionV3``, the network of FID,
  KID and the Inception Score. Its ImageNet weights are downloaded once
  (`kgen.pretrained`).
- ``"digits"`` (`digits_classifier`): the 64-D penultimate features (or the 10
  logits) of a small CNN trained on the bundled 8x8 digits, shipped with kgen:
  offline and fast, for the digits models.
- ``"scenes"`` (`scene_classifier`): the 128-D penultimate features (or the digit's 10
  logits) of a small CNN trained on the bundled 32x32 captioned digit scenes, shipped
  with kgen; `scene_attributes` reads the five attributes of each scene with it.
- any `keras.Model` (its output is the feature vector) or any callable.

One module per extractor: `base` (the `FeatureExtractor` protocol), `inception_v3`,
`digits_classifier`, `scene_classifier`. Extraction runs in batches of ``batch_size``
(``model.predict`` for a Keras model, so the network is compiled once per input shape).
"""

from kgen.metrics.extractors.base import (  # noqa: F401
    OUTPUTS,
    FeatureExtractor,
    cached_model,
    check_output,
    extract_features,
)
from kgen.metrics.extractors.digits_classifier import (  # noqa: F401
    DIGITS_CLASSIFIER_WEIGHTS,
    build_digits_classifier,
    digits_classifier,
    load_digits_classifier,
)
from kgen.metrics.extractors.scene_classifier import (  # noqa: F401
    SCENE_CLASSIFIER_WEIGHTS,
    SCENE_FEATURES,
    build_scene_classifier,
    load_scene_classifier,
    scene_attributes,
    scene_classifier,
)
from kgen.metrics.extractors.inception_v3 import (  # noqa: F401
    INCEPTION_SIZE,
    INCEPTION_V3_WEIGHTS,
    InceptionInput,
    inception_v3,
)

#: The built-in extractors by name: each a function ``(output=...) -> FeatureExtractor``.
EXTRACTORS = {
    "inception_v3": inception_v3,
    "inception": inception_v3,
    "digits": digits_classifier,
    "digits_classifier": digits_classifier,
    "scenes": scene_classifier,
    "scene_classifier": scene_classifier,
}


def get_extractor(spec, *, output="features"):
    """Resolves a feature extractor specification.

    Args:
        spec: ``"inception_v3"`` (`inception_v3` with ImageNet weights), ``"digits"``
            (`digits_classifier`), ``"scenes"`` (`scene_classifier`), a `FeatureExtractor`
            (returned as is), a `keras.Model` (its output is the feature vector; run with
            ``predict``), or a callable ``batch -> (batch, D)`` (numpy array or tensor).
        output: for the named extractors, ``"features"`` or ``"logits"``.

    Returns:
        A `FeatureExtractor`. A model or callable passed by the user gets its inputs
        as float32 arrays, unchecked (they need not be images).

    Raises:
        ValueError: an unknown name. TypeError: an object that is not callable.

    Example:

    ```python
    from kgen.metrics import get_extractor

    extractor = get_extractor("digits")
    identity = get_extractor(lambda x: x)
    ```
    """
    if isinstance(spec, FeatureExtractor):
        return spec
    if isinstance(spec, str):
        key = spec.lower()
        if key not in EXTRACTORS:
            raise ValueError(
                f"Unknown feature extractor {spec!r}. Use one of "
                f"{', '.join(repr(name) for name in EXTRACTORS)}, a keras.Model or a "
                "callable batch -> (batch, D)."
            )
        return EXTRACTORS[key](output=output)
    if callable(spec):
        return FeatureExtractor(spec)
    raise TypeError(
        f"A feature extractor must be 'inception_v3', 'digits', 'scenes', a keras.Model or a "
        f"callable batch -> (batch, D); got {type(spec).__name__}."
    )


__all__ = [
    "DIGITS_CLASSIFIER_WEIGHTS",
    "EXTRACTORS",
    "INCEPTION_SIZE",
    "INCEPTION_V3_WEIGHTS",
    "OUTPUTS",
    "SCENE_CLASSIFIER_WEIGHTS",
    "SCENE_FEATURES",
    "FeatureExtractor",
    "InceptionInput",
    "build_digits_classifier",
    "build_scene_classifier",
    "digits_classifier",
    "extract_features",
    "get_extractor",
    "inception_v3",
    "load_digits_classifier",
    "load_scene_classifier",
    "scene_attributes",
    "scene_classifier",
]
