"""Two-sample metrics that keep the features of every image seen (KID, precision/recall).

Metrics such as KID and precision/recall cannot be computed from running statistics:
they keep the features (not the images) of each side in a `FeatureStore`.
`FeatureSetMetric` is their base: it resolves the extractor and fills the store.
"""

import keras
import numpy as np

from kgen.metrics.extractors import extract_features, get_extractor


class FeatureStore:
    """The features of every batch seen by a metric that needs the features themselves.

    One list of ``(n, D)`` float32 arrays per side; every batch goes through the
    metric's extractor, and all of them must give features of one size.

    Args:
        sides: the names of the sides (``("real", "generated")``).

    Example:

    ```python
    import numpy as np
    from kgen.metrics.extractors import get_extractor
    from kgen.metrics.feature_metrics import FeatureStore

    class Holder:                       # anything with an ``extractor``
        extractor = get_extractor(lambda x: x)

    store = FeatureStore(("real", "generated"))
    store.add(Holder(), real=np.zeros((3, 4)), generated=np.ones((2, 4)))
    store.count("real"), store.get("generated", Holder()).shape   # (3, (2, 4))
    ```
    """

    def __init__(self, sides):
        self.sides = tuple(sides)
        self.clear()

    def clear(self):
        """Forgets all features."""
        self.parts = {side: [] for side in self.sides}

    def add(self, metric, **batches):
        """Extracts the features of each non-None batch with ``metric.extractor`` and keeps them.

        All batches are checked (one feature size for everything kept) before any is stored.
        """
        batches = {side: x for side, x in batches.items() if x is not None}
        if not batches:
            raise ValueError(
                f"update_state got no {' or '.join(self.sides)} images; pass at least one batch."
            )
        new = {
            side: extract_features(metric.extractor, x, what=f"{side} images")
            for side, x in batches.items()
        }
        dims = {f.shape[1] for parts in self.parts.values() for f in parts}
        dims |= {f.shape[1] for f in new.values()}
        if len(dims) > 1:
            raise ValueError(
                f"Features of different sizes {sorted(dims)}: every batch (real and generated) "
                "must go through the same extractor to features of one size."
            )
        for side, features in new.items():
            self.parts[side].append(features)

    def count(self, side):
        """Number of feature vectors kept for ``side``."""
        return sum(len(f) for f in self.parts[side])

    def get(self, side, metric):
        """All features of ``side`` as one ``(N, D)`` array; a clear error when there are none."""
        if side not in self.parts:
            raise ValueError(f"side must be one of {self.sides}, got {side!r}.")
        if not self.parts[side]:
            raise ValueError(
                f"{type(metric).__name__} has no {side} images yet; call update_state with "
                f"{side} images first."
            )
        return np.concatenate(self.parts[side], axis=0)


class FeatureSetMetric(keras.metrics.Metric):
    """Base of the two-sample metrics that keep the features of both sets (KID, precision/recall).

    Handles the extractor and the `FeatureStore`: ``update_state(real, generated)`` adds
    the features of either batch, ``features(side)`` returns all of one side, and
    ``reset_state()`` forgets them. Subclasses compute ``result()`` from the features.

    Args:
        extractor: feature extractor spec (see `kgen.metrics.get_extractor`).
        name: metric name.
        dtype: dtype of the result.

    Example:

    ```python
    import numpy as np
    from keras import ops
    from kgen.metrics.feature_metrics import FeatureSetMetric

    class MeanGap(FeatureSetMetric):    # distance between the mean features of the two sets
        def result(self):
            gap = self.features("real").mean(0) - self.features("generated").mean(0)
            return ops.convert_to_tensor(float(np.sum(gap ** 2)))

    metric = MeanGap(lambda x: x, name="mean_gap")
    metric.update_state(np.zeros((4, 2)), np.ones((3, 2)))
    float(metric.result())   # 2.0
    ```
    """

    def __init__(self, extractor, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._extractor_spec = extractor if isinstance(extractor, str) else None
        self.extractor = get_extractor(extractor)
        self._store = FeatureStore(("real", "generated"))

    def update_state(self, real=None, generated=None):
        """Adds the features of a batch of real and/or generated images (either may be None)."""
        self._store.add(self, real=real, generated=generated)

    def features(self, side):
        """All ``"real"`` or ``"generated"`` features kept so far, ``(N, D)`` float32."""
        return self._store.get(side, self)

    def reset_state(self):
        self._store.clear()


__all__ = ["FeatureSetMetric", "FeatureStore"]
