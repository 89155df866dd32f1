"""Bad inputs to the metrics: non-finite features and predictions, covariances that are no
covariances, probabilities given as logits, a likelihood metric without data."""

import math
import warnings

import numpy as np
import pytest

from kgen.metrics import (
    BitsPerDim,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    precision_recall,
)
from kgen.metrics.inception_score import ProbabilitiesAsLogitsWarning

from checks_catalogue import covers


def _features(seed=0, n=40, d=6):
    return np.random.default_rng(seed).normal(size=(n, d)).astype("float32")


@covers("kid-nonfinite")
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_kid_refuses_non_finite_features(bad):
    real, generated = _features(0), _features(1)
    generated[3, 2] = bad
    with pytest.raises(ValueError, match=r"generated_features hold NaN or infinite values "
                                         r"in 1 of 40 rows"):
        kernel_inception_distance(real, generated, subset_size=20, num_subsets=2)
    real[[0, 5], 0] = bad
    with pytest.raises(ValueError, match="real_features hold NaN or infinite values in 2 of 40"):
        kernel_inception_distance(real, _features(1), subset_size=20, num_subsets=2)


@covers("pr-nonfinite")
def test_precision_recall_refuses_non_finite_features():
    real, generated = _features(0), _features(1)
    assert precision_recall(real, real) == (1.0, 1.0)
    generated[7] = np.nan
    with pytest.raises(ValueError, match="generated features hold NaN or infinite values"):
        precision_recall(real, generated)
    with pytest.raises(ValueError, match="real features hold NaN or infinite values"):
        precision_recall(np.where(real > 2, np.inf, real), _features(1))


@covers("is-nonfinite")
def test_inception_score_refuses_non_finite_predictions():
    logits = 100.0 * np.eye(10)[np.arange(50) % 10]
    assert inception_score(logits, splits=5)[0] == pytest.approx(10.0, rel=1e-3)
    logits[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite values in 1 of 50 rows"):
        inception_score(logits, splits=5)
    probabilities = np.full((50, 10), 0.1)
    probabilities[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        inception_score(probabilities, splits=5, from_logits=False)


@covers("is-probabilities-as-logits")
def test_probabilities_given_as_logits_warn():
    probabilities = np.eye(10)[np.arange(50) % 10]   # confident and balanced: IS = 10
    with pytest.warns(ProbabilitiesAsLogitsWarning, match="from_logits=False"):
        flattened, _ = inception_score(probabilities, splits=5)
    assert flattened < 2.0   # what the softmax of probabilities makes of them
    score, _ = inception_score(probabilities, splits=5, from_logits=False)
    assert score == pytest.approx(10.0)
    with _no_warning():   # logits do not look like probabilities
        inception_score(np.random.default_rng(0).normal(size=(50, 10)), splits=5)


class _no_warning:
    """Fails when a ProbabilitiesAsLogitsWarning is raised inside."""

    def __enter__(self):
        self._context = warnings.catch_warnings()
        self._context.__enter__()
        warnings.simplefilter("error", ProbabilitiesAsLogitsWarning)

    def __exit__(self, *exc):
        self._context.__exit__(*exc)
        return False


@covers("fid-not-psd")
def test_frechet_distance_refuses_matrices_that_are_not_covariances():
    mu = np.zeros(2)
    with pytest.raises(ValueError, match=r"cov1 is not positive semi-definite \(its smallest "
                                         r"eigenvalue is -1\)"):
        frechet_distance(mu, -np.eye(2), mu, -np.eye(2))   # the formula gives -4 here
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])         # eigenvalues 3 and -1
    with pytest.raises(ValueError, match="cov2 is not positive semi-definite"):
        frechet_distance(mu, np.eye(2), mu, indefinite)
    # Covariances of fewer samples than dimensions (singular, with round-off negative
    # eigenvalues) and float32 statistics are covariances: accepted, never negative.
    features = np.random.default_rng(0).normal(size=(20, 64))
    cov = np.cov(features, rowvar=False)
    assert np.linalg.eigvalsh(cov).min() < 0   # round-off below zero
    same = frechet_distance(features.mean(0), cov, features.mean(0),
                            cov.astype("float32").astype("float64"))
    assert 0.0 <= same < 1e-4
    assert frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)) == \
        pytest.approx(4.0)


@covers("bits-per-dim-empty")
def test_bits_per_dim_without_data_is_nan():
    metric = BitsPerDim(num_dims=64)
    assert math.isnan(float(metric.result()))
    assert math.isnan(float(metric.mean_nll()))
    metric.update_state(np.array([64 * math.log(2.0)], "float32"))
    assert float(metric.result()) == pytest.approx(1.0 + math.log2(127.5), rel=1e-6)
    metric.reset_state()
    assert math.isnan(float(metric.result()))
