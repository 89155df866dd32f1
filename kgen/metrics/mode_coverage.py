"""Mode coverage and sample quality on the 2-D Gaussian mixtures (VEEGAN, PacGAN)."""

import keras
import numpy as np
from keras import ops

from kgen import checks


@keras.saving.register_keras_serializable(package="kgen")
class ModeCoverage(keras.metrics.Metric):
    """Modes captured and the fraction of high-quality samples on a 2-D Gaussian mixture.

    The mode-collapse metrics of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al.
    2018) on their 2D-ring and 2D-grid mixtures, with the rule of PacGAN's released code
    (``MetricLogger`` in ``synthetic_data_experiments/PacGAN/pacgan/extensions.py`` of
    github.com/fjxmlzn/PacGAN, with ``dis_thre=3``):

    - each sample is assigned to its nearest mode, the distance being measured in units
      of the mode's standard deviation, ``||x - mu_k|| / sigma``;
    - a sample is **high quality** if that distance is below ``num_std = 3``;
    - a mode is **captured** if at least ``min_samples = 1`` high-quality sample is
      assigned to it.

    ``result()`` returns ``{"modes": number of modes captured, "high_quality": fraction of
    all samples that are high quality}``. PacGAN's code draws 2,500 samples from the
    generator. Note that "within 3 standard deviations" is a radius in 2-D: a sample of
    the true mixture is high quality with probability ``1 - exp(-9/2) = 0.9889``, not
    0.997.

    The metric streams: ``update_state`` may be called on any number of batches and keeps
    the high-quality count of each mode (``mode_counts``) and the number of samples seen.

    Args:
        mixture: ``"ring"`` (8 modes, std 0.01) or ``"grid"`` (25 modes, std 0.05): the
            mixtures of `kgen.data.mixture_modes`; or None with ``means`` and ``std``.
        num_std: the high-quality radius in standard deviations (3 in PacGAN's code).
        min_samples: high-quality samples a mode needs to count as captured (1 in
            PacGAN's code; raise it to ignore modes hit by a stray sample).
        means: ``(K, 2)`` (or ``(K, d)``) mode centres, instead of ``mixture``.
        std: the modes' common standard deviation, with ``means``.
        name: metric name (default ``"mode_coverage"``).
        dtype: the metric's dtype.

    Example:

    ```python
    import kgen

    metric = kgen.metrics.ModeCoverage("ring")
    metric.update_state(kgen.data.load("ring", num_samples=2500, seed=0))
    {k: float(v) for k, v in metric.result().items()}  # {'modes': 8.0, 'high_quality': ~0.99}
    ```

    References:
        Srivastava, Valkov, Russell, Gutmann & Sutton, "VEEGAN: Reducing Mode Collapse in
        GANs using Implicit Variational Learning", NeurIPS 2017.
        Lin, Khetan, Fanti & Oh, "PacGAN: The power of two samples in generative
        adversarial networks", NeurIPS 2018.
    """

    def __init__(self, mixture=None, num_std=3.0, min_samples=1, means=None, std=None,
                 name="mode_coverage", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if mixture is not None:
            if means is not None or std is not None:
                raise ValueError("Pass either a mixture name or means= and std=, not both.")
            from kgen.data import mixture_modes

            means, std = mixture_modes(mixture)
        elif means is None or std is None:
            raise ValueError(
                "ModeCoverage needs the modes: a mixture name ('ring' or 'grid'), or "
                "means= (K, d) and std=."
            )
        means = np.asarray(means, dtype="float32")
        if means.ndim != 2 or len(means) < 1:
            raise ValueError(f"means must have shape (num_modes, dims); got {means.shape}.")
        self.mixture = mixture
        self.means = means
        self.std = checks.number(std, "std", 0.0, exclusive_minimum=True)
        self.num_std = checks.number(num_std, "num_std", 0.0, exclusive_minimum=True)
        self.min_samples = checks.integer(min_samples, "min_samples", 1)
        self.num_modes = int(len(means))
        self.mode_counts = self.add_variable(
            shape=(self.num_modes,), initializer="zeros", dtype="int32", name="mode_counts")
        self.num_seen = self.add_variable(
            shape=(), initializer="zeros", dtype="int32", name="num_seen")

    def assign_modes(self, samples):
        """Nearest mode of each sample and its distance in standard deviations.

        Returns:
            ``(index, distance)``: numpy arrays of shape ``(n,)``, int64 and float64.
        """
        samples = self._as_points(samples)
        squared = np.sum(np.square(samples[:, None, :] - self.means[None, :, :]), axis=-1)
        index = np.argmin(squared, axis=-1)
        distance = np.sqrt(squared[np.arange(len(samples)), index]) / self.std
        return index, distance

    def _as_points(self, samples):
        samples = np.asarray(ops.convert_to_numpy(samples), dtype="float64")
        if samples.ndim != 2 or samples.shape[1] != self.means.shape[1]:
            raise ValueError(
                f"ModeCoverage takes points of shape (n, {self.means.shape[1]}); got "
                f"{samples.shape}. It measures the 2-D mixtures ('ring', 'grid'), not images."
            )
        return samples

    def update_state(self, samples, sample_weight=None):
        """Counts the high-quality samples of a batch ``(n, d)`` per nearest mode.

        The assignment runs eagerly in numpy (float64), on any backend; the counts are
        the metric's variables.
        """
        if sample_weight is not None:
            raise ValueError("ModeCoverage counts samples; it takes no sample_weight.")
        index, distance = self.assign_modes(samples)
        hits = np.bincount(index[distance < self.num_std], minlength=self.num_modes)
        self.mode_counts.assign_add(hits.astype("int32"))
        self.num_seen.assign_add(np.int32(len(index)))

    def result(self):
        modes = ops.sum(ops.cast(self.mode_counts >= self.min_samples, "int32"))
        good = ops.cast(ops.sum(self.mode_counts), "float32")
        seen = ops.cast(self.num_seen, "float32")
        return {"modes": modes, "high_quality": ops.divide_no_nan(good, seen)}

    def reset_state(self):
        self.mode_counts.assign(ops.zeros((self.num_modes,), "int32"))
        self.num_seen.assign(0)

    def get_config(self):
        config = super().get_config()
        config.update(mixture=self.mixture, num_std=self.num_std, min_samples=self.min_samples)
        if self.mixture is None:
            config.update(means=self.means.tolist(), std=self.std)
        return config


__all__ = ["ModeCoverage"]
