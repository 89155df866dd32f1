"""Evaluation metrics of generative models (`keras.metrics.Metric` objects), and their driver.

Two-sample metrics take batches of real and generated images in data space ([-1, 1]):
``metric.update_state(real, generated)``, any number of calls, then ``metric.result()``.
`compute_metric` feeds a metric with a model's samples (and real data) batch by batch.
The feature extractors of the sample-quality metrics live in `kgen.metrics.extractors`,
one module each.
"""
from kgen.metrics.accuracy import binary_accuracy  # noqa: F401
from kgen.metrics.colour_distance import colour_distance  # noqa: F401
from kgen.metrics.evaluate import compute_metric  # noqa: F401
from kgen.metrics.extractors import (  # noqa: F401
    DIGITS_CLASSIFIER_WEIGHTS,
    FeatureExtractor,
    digits_classifier,
    get_extractor,
    inception_v3,
    scene_attributes,
    scene_classifier,
)
from kgen.metrics.feature_metrics import FeatureSetMetric, FeatureStore  # noqa: F401
from kgen.metrics.frechet import (  # noqa: F401
    FrechetInceptionDistance,
    compute_reference_statistics,
    frechet_distance,
    load_statistics,
    save_statistics,
)
from kgen.metrics.inception_score import InceptionScore, inception_score  # noqa: F401
from kgen.metrics.kernel_inception import (  # noqa: F401
    KernelInceptionDistance,
    kernel_inception_distance,
)
from kgen.metrics.likelihood import BitsPerDim, bits_per_dim, dequantize  # noqa: F401
from kgen.metrics.mode_coverage import ModeCoverage  # noqa: F401
from kgen.metrics.precision_recall import PrecisionRecall, precision_recall  # noqa: F401
from kgen.metrics.prompt_adherence import prompt_adherence  # noqa: F401
from kgen.metrics.psnr import psnr  # noqa: F401

__all__ = [
    "DIGITS_CLASSIFIER_WEIGHTS",
    "BitsPerDim",
    "FeatureExtractor",
    "FeatureSetMetric",
    "FeatureStore",
    "FrechetInceptionDistance",
    "InceptionScore",
    "KernelInceptionDistance",
    "ModeCoverage",
    "PrecisionRecall",
    "binary_accuracy",
    "colour_distance",
    "bits_per_dim",
    "compute_metric",
    "compute_reference_statistics",
    "dequantize",
    "digits_classifier",
    "frechet_distance",
    "get_extractor",
    "inception_score",
    "inception_v3",
    "kernel_inception_distance",
    "load_statistics",
    "precision_recall",
    "prompt_adherence",
    "psnr",
    "save_statistics",
    "scene_attributes",
    "scene_classifier",
]
