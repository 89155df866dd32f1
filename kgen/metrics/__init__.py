"""Evaluation metrics for generative models (`keras.metrics.Metric` objects).

Two-sample metrics take batches of real and generated images in data space ([-1, 1]):
``metric.update_state(real, generated)``, any number of calls, then ``metric.result()``.
"""
from kgen.metrics.likelihood import BitsPerDim, bits_per_dim, dequantize  # noqa: E402,F401
from kgen.metrics.mode_coverage import ModeCoverage  # noqa: E402,F401
from kgen.metrics.features import (  # noqa: E402,F401
    DIGITS_CLASSIFIER_WEIGHTS,
    FeatureExtractor,
    digits_classifier,
    get_extractor,
    inception_v3,
)
from kgen.metrics.frechet import (  # noqa: E402,F401
    FrechetInceptionDistance,
    compute_reference_statistics,
    frechet_distance,
    load_statistics,
    save_statistics,
)
from kgen.metrics.inception_score import InceptionScore, inception_score  # noqa: E402,F401
from kgen.metrics.kernel_inception import (  # noqa: E402,F401
    KernelInceptionDistance,
    kernel_inception_distance,
)
from kgen.metrics.precision_recall import PrecisionRecall, precision_recall  # noqa: E402,F401
