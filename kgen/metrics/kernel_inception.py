"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2 with a cubic polynomial kernel."""

import numpy as np
from keras import ops

from kgen import checks
from kgen.metrics.feature_metrics import FeatureSetMetric


def _polynomial_kernel(x, y):
    """``k(x, y) = (x . y / d + 1)^3`` for all pairs, as a float64 numpy matrix.

    The kernel values are computed with keras.ops in float32 (on the accelerator when
    there is one); the sums of the estimator are then taken in float64.
    """
    d = x.shape[1]
    k = ops.power(ops.matmul(x, ops.transpose(y)) / float(d) + 1.0, 3)
    return ops.convert_to_numpy(k).astype(np.float64)


def polynomial_mmd2_unbiased(x, y):
    """Unbiased estimate of MMD^2 between the samples ``x`` and ``y`` (same size m).

    ``(sum_{i!=j} k(x_i,x_j) + sum_{i!=j} k(y_i,y_j)) / (m(m-1)) - 2 sum_{i,j} k(x_i,y_j) / m^2``
    with ``k(x, y) = (x . y / d + 1)^3``, the estimator of the reference implementation.

    Args:
        x, y: float arrays ``(m, d)``.

    Returns:
        The estimate, a Python float (may be slightly negative: it is unbiased).

    Example:

    ```python
    import numpy as np
    from kgen.metrics.kernel_inception import polynomial_mmd2_unbiased

    rng = np.random.default_rng(0)
    polynomial_mmd2_unbiased(rng.normal(size=(100, 4)), rng.normal(2, 1, (100, 4)))  # > 0
    ```

    References:
        Gretton et al., "A Kernel Two-Sample Test", JMLR 2012 (the unbiased estimator).
        Bińkowski et al., "Demystifying MMD GANs", ICLR 2018 (the kernel).
    """
    m = x.shape[0]
    x = ops.convert_to_tensor(np.asarray(x, np.float32))
    y = ops.convert_to_tensor(np.asarray(y, np.float32))
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(real_features, generated_features, *, subset_size=1000,
                              num_subsets=100, seed=0):
    """KID from features: the unbiased MMD^2 with a cubic kernel, averaged over random subsets.

    Subsets of ``m = min(subset_size, N_real, N_generated)`` features are drawn without
    replacement from each set, ``num_subsets`` times, with ``numpy.random.default_rng(seed)``
    (for each subset: generated indices, then real indices), as in the reference
    implementation. When both sets have exactly ``m`` features, every subset would be
    the whole set, so one subset of all features is used (std 0).

    Args:
        real_features: ``(N_real, D)`` features of real images.
        generated_features: ``(N_generated, D)`` features of generated images.
        subset_size: features per subset (1000 in the reference).
        num_subsets: number of subsets (100 in the reference).
        seed: seed of the subset draws.

    Returns:
        ``(mean, std)`` of the per-subset estimates, Python floats (population std).

    Raises:
        ValueError: features that are not ``(N, D)`` or hold NaN or infinite values,
            different dimensions, or fewer than 2 samples on a side.

    Example:

    ```python
    import numpy as np
    from kgen.metrics import kernel_inception_distance

    rng = np.random.default_rng(0)
    kid, std = kernel_inception_distance(rng.normal(size=(200, 8)), rng.normal(1, 1, (300, 8)),
                                         subset_size=100, num_subsets=10)
    ```

    References:
        Bińkowski, Sutherland, Arbel & Gretton, "Demystifying MMD GANs", ICLR 2018.
    """
    real = _as_features(real_features, "real_features")
    generated = _as_features(generated_features, "generated_features")
    if real.shape[1] != generated.shape[1]:
        raise ValueError(
            f"real features have {real.shape[1]} dimensions but generated features "
            f"{generated.shape[1]}; both must come from the same extractor."
        )
    subset_size = checks.integer(subset_size, "subset_size", 1)
    num_subsets = checks.integer(num_subsets, "num_subsets", 1)
    seed = checks.seed(seed)
    m = min(subset_size, len(real), len(generated))
    if m < 2:
        raise ValueError(
            f"KID needs at least 2 real and 2 generated samples; got {len(real)} real and "
            f"{len(generated)} generated."
        )
    if len(real) == m and len(generated) == m:
        estimates = [polynomial_mmd2_unbiased(generated, real)]
    else:
        rng = np.random.default_rng(seed)
        estimates = []
        for _ in range(num_subsets):
            g = generated[rng.choice(len(generated), m, replace=False)]
            r = real[rng.choice(len(real), m, replace=False)]
            estimates.append(polynomial_mmd2_unbiased(g, r))
    estimates = np.asarray(estimates)
    return float(estimates.mean()), float(estimates.std())


def _as_features(x, what):
    return finite_features(x, what)


def finite_features(x, what):
    """Features ``(N, D)`` as float32 numpy, checked: rank 2, every value finite.

    Args:
        x: the features (numpy array or tensor).
        what: what they are (``"real_features"``), for the messages.

    Raises:
        ValueError: another rank, or NaN or infinite values (a diverged model's samples
            give them; a metric of them would be NaN or meaningless).

    Example:

    ```python
    import numpy as np
    from kgen.metrics.kernel_inception import finite_features

    finite_features(np.zeros((3, 2)), "real_features").shape   # (3, 2)
    ```
    """
    if ops.is_tensor(x):
        x = ops.convert_to_numpy(x)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{what} must have shape (N, D); got shape {x.shape}.")
    finite = np.isfinite(x)
    if not finite.all():
        rows = int(np.count_nonzero(~finite.all(axis=1)))
        raise ValueError(
            f"{what} hold NaN or infinite values in {rows} of {len(x)} rows: the images "
            "(or the model that generated them) are not finite. Check them with "
            "np.isfinite before computing the metric.")
    return x


class KernelInceptionDistance(FeatureSetMetric):
    """Kernel Inception Distance between real and generated images.

    KID is the squared maximum mean discrepancy (MMD^2) between the features of real
    and generated images under the kernel ``k(x, y) = (x . y / d + 1)^3``, estimated
    without bias and averaged over random subsets (`kernel_inception_distance`).
    Unlike FID it has an unbiased estimator, so values from small samples are
    comparable. Lower is better; 0 means equal distributions (the estimate may dip
    slightly below 0).

    A kernel estimate needs the features themselves, not summary statistics: this
    metric keeps the features of every image seen (``N x D`` float32 numbers per side,
    8 MB per 1,000 images with InceptionV3), not the images.

    Args:
        extractor: feature extractor spec (see `kgen.metrics.get_extractor`).
        subset_size: features per subset (default 1000, as the reference).
        num_subsets: number of subsets (default 100, as the reference).
        seed: seed of the subset draws, so the result is reproducible.
        name: metric name.
        dtype: dtype of the result.

    Example:

    ```python
    import kgen
    from kgen.metrics import KernelInceptionDistance

    kid = KernelInceptionDistance("digits", subset_size=100, num_subsets=10)
    kid.update_state(kgen.data.load("digits", split="train"), kgen.data.load("digits", split="test"))
    mean, std = kid.result_with_std()
    ```

    References:
        Bińkowski, Sutherland, Arbel & Gretton, "Demystifying MMD GANs", ICLR 2018.
    """

    def __init__(self, extractor="inception_v3", subset_size=1000, num_subsets=100, seed=0,
                 name="kid", dtype=None):
        super().__init__(extractor, name=name, dtype=dtype)
        self.subset_size = checks.integer(subset_size, "subset_size", 1)
        self.num_subsets = checks.integer(num_subsets, "num_subsets", 1)
        self.seed = checks.seed(seed)

    def result_with_std(self):
        """``(mean, std)`` of the MMD^2 estimates over the subsets, Python floats."""
        return kernel_inception_distance(
            self.features("real"), self.features("generated"),
            subset_size=self.subset_size, num_subsets=self.num_subsets, seed=self.seed,
        )

    def result(self):
        """The KID: the mean of the MMD^2 estimates over the subsets."""
        return ops.convert_to_tensor(self.result_with_std()[0], dtype=self.dtype)

    def get_config(self):
        if self._extractor_spec is None:
            raise NotImplementedError(
                f"{type(self).__name__} with a custom extractor has no config; re-create it in code."
            )
        return {"name": self.name, "dtype": self.dtype, "extractor": self._extractor_spec,
                "subset_size": self.subset_size, "num_subsets": self.num_subsets, "seed": self.seed}
