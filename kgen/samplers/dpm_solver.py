"""DPM-Solver++(2M): a second-order multistep solver of the diffusion ODE (Lu et al. 2022)."""

import numpy as np

from kgen import checks
from kgen.samplers.base import Sampler


def _log_snr_half(alpha_bar):
    """``lambda = log(alpha / sigma)`` of ``alpha_bar = alpha^2`` (``sigma^2 = 1 - alpha_bar``)."""
    return 0.5 * (np.log(alpha_bar) - np.log1p(-alpha_bar))


class DPMSolver(Sampler):
    """DPM-Solver++(2M): deterministic sampling in 10 to 25 steps, second order in the log-SNR.

    The sampler solves the probability-flow ODE of the model's diffusion written for the
    clean data: with ``alpha_t = sqrt(alpha_bar_t)``, ``sigma_t = sqrt(1 - alpha_bar_t)``
    and ``lambda_t = log(alpha_t / sigma_t)``, a step from timestep ``s`` to the less
    noisy ``t``, ``h = lambda_t - lambda_s``, is::

        x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - exp(-h)) D
        D   = (1 + 1 / (2 r)) x0_s - 1 / (2 r) x0_prev,    r = h_prev / h

    where ``x0_s`` is the model's prediction of the clean data at ``s`` and ``x0_prev``
    the one of the step before (``h_prev`` that step's size). ``D = x0_s`` (first order)
    is DDIM with ``eta = 0``; the multistep correction reuses the previous prediction, so
    each step still costs one network evaluation. Three steps are first order: the first
    (no previous prediction), the step into the least noisy visited timestep (0), the
    largest change of log-SNR, where the extrapolation overshoots, and the last one,
    which lands on the data (``sigma = 0``) and returns the prediction itself. The visited timesteps are those of `DDIM`
    (``round(linspace(T - 1, 0, steps))``), and the model is the one trained for DDPM.

    The loop is deterministic: no noise. It runs a whole chain in one call; it does not
    inpaint (use `DDIM` or `DDPM` there).

    Args:
        steps: number of network evaluations (timesteps visited), at most the model's
            ``timesteps``; at least 2.
        clip_denoised: clip each prediction of the clean data to ``[-1, 1]``; None (the
            default): the model decides (see `kgen.samplers.Sampler`).

    Example:

    ```python
    import kgen

    model = kgen.models.Diffusion.from_shape((8, 8, 1), timesteps=100, base_filters=8)
    samples = model.generate(4, seed=0, sampler="dpm++", steps=10)   # (4, 8, 8, 1)
    ```

    References:
        Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver++: Fast Solver for Guided Sampling of
        Diffusion Probabilistic Models", arXiv:2211.01095, 2022.
    """

    stochastic = False
    multistep = True

    def __init__(self, steps=20, clip_denoised=None):
        super().__init__(clip_denoised=clip_denoised)
        self.steps = checks.integer(steps, "steps", minimum=2)

    def timesteps(self, num_timesteps):
        if self.steps > num_timesteps:
            raise ValueError(
                f"DPMSolver(steps={self.steps}) needs at most as many steps as the model has "
                f"timesteps ({num_timesteps}); use steps <= {num_timesteps}.")
        return np.round(np.linspace(num_timesteps - 1, 0, self.steps)).astype("int64")

    def coefficients(self, chain):
        # Index k of the chain steps from the least noisy: the step leaves alpha_bar[k]
        # for alpha_bar_prev[k] (1, the data, for k = 0).
        alpha_bar = np.asarray(chain.alphas_cumprod, "float64")
        target = np.asarray(chain.alphas_cumprod_prev, "float64")
        count = len(alpha_bar)
        ratio, data = np.zeros(count), np.ones(count)
        current, previous = np.ones(count), np.zeros(count)
        inner = np.arange(1, count)   # every step but the last one
        h = np.zeros(count)   # h[k]: the step's change of log-SNR
        h[inner] = _log_snr_half(target[inner]) - _log_snr_half(alpha_bar[inner])
        ratio[inner] = np.sqrt((1.0 - target[inner]) / (1.0 - alpha_bar[inner]))
        data[inner] = np.sqrt(target[inner]) * -np.expm1(-h[inner])
        # Second order where a previous (noisier) step k + 1 exists, except on the step
        # into the least noisy timestep (k = 1): it spans the largest change of log-SNR,
        # where extrapolating the previous prediction overshoots (the lower-order final
        # steps of Lu et al.).
        second = np.arange(2, count - 1)
        r = h[second + 1] / h[second]
        current[second] = 1.0 + 0.5 / r
        previous[second] = -0.5 / r
        return {"ratio": ratio, "data": data, "current": current, "previous": previous}

    def step(self, chain, t, x_t, noise_pred, x0_pred, coefficients, noise,
             previous_x0=None):
        denoised = coefficients["current"] * x0_pred
        if previous_x0 is not None:
            denoised = denoised + coefficients["previous"] * previous_x0
        return coefficients["ratio"] * x_t + coefficients["data"] * denoised

    def get_config(self):
        return {"steps": self.steps, **super().get_config()}
