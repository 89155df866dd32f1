"""Improved precision and recall (Kynkäänniemi et al. 2019): k-NN manifolds in feature space."""

import numpy as np
from keras import ops

from kgen import checks
from kgen.metrics.feature_metrics import FeatureSetMetric
from kgen.metrics.kernel_inception import finite_features


def _squared_distances(a, b, b_sq):
    """``||a_i - b_j||^2`` for a batch ``a`` against all ``b``, clipped at 0 (round-off)."""
    a_sq = ops.sum(ops.square(a), axis=1, keepdims=True)
    d2 = a_sq + b_sq[None, :] - 2.0 * ops.matmul(a, ops.transpose(b))
    return ops.maximum(d2, 0.0)


def _row_batches(x, batch_size):
    """Batches of rows of ``x``, the last one zero-padded to the same size (one shape to
    compile); yields ``(batch, number_of_real_rows)``."""
    n = x.shape[0]
    size = min(batch_size, n)
    for start in range(0, n, size):
        batch = x[start:start + size]
        valid = batch.shape[0]
        if valid < size:
            batch = ops.pad(batch, [[0, size - valid], [0, 0]])
        yield batch, valid


def _kth_neighbour_radii(manifold, k, batch_size):
    """Squared distance from each point to its k-th nearest other point of the set."""
    sq = ops.sum(ops.square(manifold), axis=1)
    radii = []
    for batch, valid in _row_batches(manifold, batch_size):
        # The k+1 smallest distances include the point itself (distance 0).
        neg_smallest, _ = ops.top_k(-_squared_distances(batch, manifold, sq), k + 1)
        radii.append(-ops.convert_to_numpy(neg_smallest)[:valid, k])
    return np.concatenate(radii)


def _fraction_inside(manifold, radii, probes, batch_size):
    """Fraction of probes inside at least one ball (centre, squared radius) of the manifold."""
    sq = ops.sum(ops.square(manifold), axis=1)
    radii = ops.convert_to_tensor(radii[None, :])
    inside = []
    for batch, valid in _row_batches(probes, batch_size):
        hits = ops.any(_squared_distances(batch, manifold, sq) <= radii, axis=1)
        inside.append(ops.convert_to_numpy(hits)[:valid])
    return float(np.mean(np.concatenate(inside)))


def precision_recall(real_features, generated_features, *, k=3, batch_size=1000):
    """Improved precision and recall of generated features against real ones.

    Each set defines a manifold: the union of the balls centred on its points whose
    radius is the distance to the point's k-th nearest neighbour in the same set.
    Precision is the fraction of generated samples inside the real manifold (are the
    samples realistic?); recall the fraction of real samples inside the generated
    manifold (is the data covered?). Distances are computed with keras.ops in float32
    (on the accelerator when there is one), ``batch_size`` rows at a time.

    Args:
        real_features: ``(N_real, D)``, with ``N_real > k``.
        generated_features: ``(N_generated, D)``, with ``N_generated > k``.
        k: neighbourhood size (3 in the paper).
        batch_size: rows of the distance matrix computed at once (memory
            ``batch_size x N`` floats).

    Returns:
        ``(precision, recall)``, Python floats in ``[0, 1]``.

    Raises:
        ValueError: features that are not ``(N, D)`` or hold NaN or infinite values,
            too few samples for ``k``, or different dimensions.

    Example:

    ```python
    import numpy as np
    from kgen.metrics import precision_recall

    x = np.random.default_rng(0).normal(size=(100, 8))
    precision_recall(x, x)          # (1.0, 1.0)
    precision_recall(x, x + 100.0)  # (0.0, 0.0)
    ```

    References:
        Kynkäänniemi, Karras, Laine, Lehtinen & Aila, "Improved Precision and Recall
        Metric for Assessing Generative Models", NeurIPS 2019.
    """
    k = checks.integer(k, "k", 1)
    batch_size = checks.integer(batch_size, "batch_size", 1)
    sets = {}
    for what, x in (("real", real_features), ("generated", generated_features)):
        x = finite_features(x, f"{what} features")
        if len(x) <= k:
            raise ValueError(
                f"Precision/recall with k={k} needs more than {k} {what} samples (each "
                f"sample's k-th nearest neighbour); got {len(x)}."
            )
        sets[what] = x
    real, generated = sets["real"], sets["generated"]
    if real.shape[1] != generated.shape[1]:
        raise ValueError(
            f"real features have {real.shape[1]} dimensions but generated features "
            f"{generated.shape[1]}; both must come from the same extractor."
        )
    real_t, generated_t = ops.convert_to_tensor(real), ops.convert_to_tensor(generated)
    precision = _fraction_inside(
        real_t, _kth_neighbour_radii(real_t, k, batch_size), generated_t, batch_size
    )
    recall = _fraction_inside(
        generated_t, _kth_neighbour_radii(generated_t, k, batch_size), real_t, batch_size
    )
    return precision, recall


class PrecisionRecall(FeatureSetMetric):
    """Improved precision and recall (Kynkäänniemi et al. 2019) of generated images.

    ``update_state(real, generated)`` adds batches (either may be None); ``result()``
    returns ``{"precision": p, "recall": r}`` computed by `precision_recall` on all
    features seen. Precision measures sample quality (the fraction of generated
    images that lie on the real-image manifold), recall measures coverage (the
    fraction of real images that lie on the generated manifold); both are in
    ``[0, 1]``, higher is better.

    The manifolds are k-nearest-neighbour balls around the samples, so this metric
    keeps the features of every image seen (``N x D`` float32 numbers per side), not
    the images. The paper uses 50,000 images per side and VGG-16 features; any
    extractor works here (InceptionV3 by default).

    Args:
        extractor: feature extractor spec (see `kgen.metrics.get_extractor`).
        k: neighbourhood size (3).
        batch_size: rows of the distance matrices computed at once.
        name: metric name.
        dtype: dtype of the results.

    Example:

    ```python
    import kgen
    from kgen.metrics import PrecisionRecall

    pr = PrecisionRecall("digits")
    pr.update_state(kgen.data.load("digits", split="train"), kgen.data.load("digits", split="test"))
    {name: float(v) for name, v in pr.result().items()}
    ```

    References:
        Kynkäänniemi, Karras, Laine, Lehtinen & Aila, "Improved Precision and Recall
        Metric for Assessing Generative Models", NeurIPS 2019.
    """

    def __init__(self, extractor="inception_v3", k=3, batch_size=1000, name="precision_recall",
                 dtype=None):
        super().__init__(extractor, name=name, dtype=dtype)
        self.k = checks.integer(k, "k", 1)
        self.batch_size = checks.integer(batch_size, "batch_size", 1)

    def result(self):
        """``{"precision": p, "recall": r}`` as scalar tensors."""
        precision, recall = precision_recall(
            self.features("real"), self.features("generated"), k=self.k,
            batch_size=self.batch_size,
        )
        return {
            "precision": ops.convert_to_tensor(precision, dtype=self.dtype),
            "recall": ops.convert_to_tensor(recall, dtype=self.dtype),
        }

    def get_config(self):
        if self._extractor_spec is None:
            raise NotImplementedError(
                f"{type(self).__name__} with a custom extractor has no config; re-create it in code."
            )
        return {"name": self.name, "dtype": self.dtype, "extractor": self._extractor_spec,
                "k": self.k, "batch_size": self.batch_size}
