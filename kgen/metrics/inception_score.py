"""Inception Score (Salimans et al. 2016): exp E_x KL(p(y|x) || p(y)) from a classifier's predictions."""

import warnings

import keras
import numpy as np
from keras import ops

from kgen import checks
from kgen.metrics.extractors import get_extractor
from kgen.metrics.feature_metrics import FeatureStore


class ProbabilitiesAsLogitsWarning(UserWarning):
    """Predictions that look like probabilities were given as logits (``from_logits=True``)."""


def looks_like_probabilities(predictions):
    """Whether every row lies in ``[0, 1]`` and sums to 1 (within 1e-3): probabilities.

    Logits almost never look so; softmax of probabilities taken as logits flattens them
    towards uniform, and the Inception Score then falls towards 1.

    Example:

    ```python
    import numpy as np
    from kgen.metrics.inception_score import looks_like_probabilities

    looks_like_probabilities(np.full((4, 2), 0.5))     # True
    looks_like_probabilities(np.array([[3.0, -1.0]]))  # False
    ```
    """
    x = np.asarray(predictions, dtype=np.float64)
    return bool(x.size) and bool(np.all((x >= 0) & (x <= 1))) and bool(
        np.allclose(x.sum(axis=-1), 1.0, atol=1e-3))


def _log_probabilities(predictions, from_logits):
    x = np.asarray(predictions, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x).all(axis=1)))
        raise ValueError(
            f"The predictions hold NaN or infinite values in {bad} of {len(x)} rows: the "
            "images (or the model that generated them) are not finite. Check them with "
            "np.isfinite before computing the Inception Score.")
    if from_logits and looks_like_probabilities(x):
        warnings.warn(
            "The predictions look like probabilities (every row in [0, 1], summing to 1), "
            "but from_logits=True takes them as logits and applies a softmax, which "
            "flattens them and lowers the score: pass from_logits=False for "
            "probabilities.", ProbabilitiesAsLogitsWarning, stacklevel=3)
    if from_logits:
        shifted = x - x.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    if (x < 0).any() or not np.allclose(x.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(
            "With from_logits=False the predictions must be probabilities (non-negative, "
            "each row summing to 1); pass from_logits=True for logits."
        )
    with np.errstate(divide="ignore"):
        return np.log(x / x.sum(axis=1, keepdims=True))


def inception_score(predictions, *, splits=10, from_logits=True):
    """The Inception Score of a set of class predictions: mean and std over splits.

    The predictions are cut, in order, into ``splits`` parts of ``N // splits`` or
    ``N // splits + 1`` (rows ``i N // splits`` to ``(i + 1) N // splits``); for each part,
    ``IS = exp(mean_x KL(p(y|x) || p(y)))`` with ``p(y)`` the part's mean prediction.
    It is 1 when every prediction is the same and reaches the number of classes when
    predictions are confident (one-hot) and spread evenly over the classes.

    Args:
        predictions: ``(N, num_classes)`` logits (or probabilities with
            ``from_logits=False``), with ``N >= splits``.
        splits: number of parts (10 in the reference).
        from_logits: the predictions are logits (softmax applied here) rather than
            probabilities. Predictions whose rows all lie in ``[0, 1]`` and sum to 1
            given with ``from_logits=True`` warn (`ProbabilitiesAsLogitsWarning`).

    Returns:
        ``(mean, std)`` over the splits, Python floats.

    Raises:
        ValueError: predictions that are not ``(N, num_classes)``, hold NaN or infinite
            values, or (``from_logits=False``) are not probabilities; fewer rows than
            ``splits``.

    Example:

    ```python
    import numpy as np
    from kgen.metrics import inception_score

    inception_score(np.zeros((100, 10)))                           # (1.0, 0.0)
    inception_score(100.0 * np.eye(10)[np.arange(100) % 10])       # (10.0, 0.0)
    ```

    References:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.
        Barratt & Sharma, "A Note on the Inception Score", 2018.
    """
    if ops.is_tensor(predictions):
        predictions = ops.convert_to_numpy(predictions)
    predictions = np.asarray(predictions)
    if predictions.ndim != 2 or predictions.shape[1] < 2:
        raise ValueError(
            f"predictions must have shape (N, num_classes) with at least 2 classes; got "
            f"shape {predictions.shape}."
        )
    splits = checks.integer(splits, "splits", 1)
    n = len(predictions)
    if n < splits:
        raise ValueError(
            f"The Inception Score with splits={splits} needs at least {splits} images (one "
            f"per split); got {n}. Pass more images or fewer splits."
        )
    log_p = _log_probabilities(predictions, from_logits)
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]
        p = np.exp(part)
        marginal = p.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore"):
            log_marginal = np.log(marginal)
        # p log p is 0 where p is 0 (probabilities with exact zeros): mask the -inf logs.
        part = np.where(p > 0, part, 0.0)
        log_marginal = np.where(marginal > 0, log_marginal, 0.0)
        kl = (p * (part - log_marginal)).sum(axis=1).mean()
        scores.append(np.exp(kl))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())


class InceptionScore(keras.metrics.Metric):
    """Inception Score of generated images (Salimans et al. 2016).

    ``update_state(generated)`` adds a batch of generated images (only generated
    images: the score needs no real ones); ``result()`` is the mean Inception Score
    over ``splits`` parts of all images seen, ``result_with_std()`` gives the std too.
    Higher is better: confident class predictions (recognisable images) spread over
    all classes (diversity); the maximum is the number of classes.

    The classifier's predictions of every image are kept (``N x num_classes``
    numbers), not the images. With ``"inception_v3"`` the classifier is
    keras.applications' InceptionV3 with its ImageNet top (1000 classes; see
    `kgen.metrics.inception_v3` for the protocol); its values are not comparable to
    published Inception Scores, which use the 2015 TF-Inception graph (1008
    classes). ``"digits"`` uses the bundled digits classifier (10 classes).

    Args:
        classifier: ``"inception_v3"``, ``"digits"``, or a `keras.Model`/callable
            returning ``(batch, num_classes)`` predictions.
        splits: number of parts (10, as the reference).
        from_logits: the classifier returns logits (True for the built-in ones) rather
            than probabilities.
        name: metric name.
        dtype: dtype of the result.

    Example:

    ```python
    import kgen
    from kgen.metrics import InceptionScore

    score = InceptionScore("digits")
    score.update_state(kgen.data.load("digits", split="test"))
    float(score.result())   # about 8.9: real digits are recognisable and balanced
    ```

    References:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.
    """

    def __init__(self, classifier="inception_v3", splits=10, from_logits=True,
                 name="inception_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        splits = checks.integer(splits, "splits", 1)
        self._classifier_spec = classifier if isinstance(classifier, str) else None
        self.extractor = get_extractor(classifier, output="logits")
        self.splits = int(splits)
        self.from_logits = bool(from_logits)
        self._store = FeatureStore(("generated",))

    def update_state(self, generated):
        """Adds a batch of generated images ``(N, H, W, C)`` in data space."""
        self._store.add(self, generated=generated)

    def predictions(self):
        """The classifier's predictions of all images seen, ``(N, num_classes)``."""
        return self._store.get("generated", self)

    def result_with_std(self):
        """``(mean, std)`` of the Inception Score over the splits, Python floats."""
        return inception_score(self.predictions(), splits=self.splits, from_logits=self.from_logits)

    def result(self):
        """The mean Inception Score over the splits."""
        return ops.convert_to_tensor(self.result_with_std()[0], dtype=self.dtype)

    def reset_state(self):
        self._store.clear()

    def get_config(self):
        if self._classifier_spec is None:
            raise NotImplementedError(
                f"{type(self).__name__} with a custom classifier has no config; re-create it in code."
            )
        return {"name": self.name, "dtype": self.dtype, "classifier": self._classifier_spec,
                "splits": self.splits, "from_logits": self.from_logits}
