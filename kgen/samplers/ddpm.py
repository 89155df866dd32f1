"""DDPM: ancestral sampling of a diffusion model through all its timesteps (Ho et al. 2020)."""

import numpy as np

from kgen.samplers.base import Sampler

#: Variances ``DDPM`` knows.
VARIANCES = ("posterior", "beta")


def posterior(alpha_bar, alpha_bar_prev):
    """The Gaussian ``q(x_{t-1} | x_t, x_0)``: its mean's coefficients and its variance.

    With ``alpha_t = alpha_bar_t / alpha_bar_{t-1}`` and ``beta_t = 1 - alpha_t``::

        mean     = coef_x0 * x_0 + coef_xt * x_t
        coef_x0  = sqrt(alpha_bar_{t-1}) * beta_t / (1 - alpha_bar_t)
        coef_xt  = sqrt(alpha_t) * (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)
        variance = beta_t * (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)

    Written for any pair of timesteps (``alpha_bar_prev`` may belong to a timestep more
    than one step earlier, and is 1 before the first).

    Args:
        alpha_bar: ``alpha_bar_t`` (numpy arrays or numbers).
        alpha_bar_prev: ``alpha_bar`` at the earlier timestep.

    Returns:
        ``(coef_x0, coef_xt, variance)``.

    Example:

    ```python
    from kgen.samplers.ddpm import posterior
    posterior(0.5, 1.0)   # (1.0, 0.0, 0.0): before the first step x_0 is known
    ```

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020, eq. 7.
    """
    alpha_bar = np.asarray(alpha_bar, dtype="float64")
    alpha_bar_prev = np.asarray(alpha_bar_prev, dtype="float64")
    alpha = alpha_bar / alpha_bar_prev
    beta = 1.0 - alpha
    coef_x0 = np.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar)
    coef_xt = np.sqrt(alpha) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    variance = beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    return coef_x0, coef_xt, variance


class DDPM(Sampler):
    """Ancestral sampling: ``x_{t-1} ~ N(posterior mean, sigma_t^2 I)``, for every t from T-1 to 0.

    The model's prediction of the clean data ``x_0`` is put into the posterior
    ``q(x_{t-1} | x_t, x_0)`` (`posterior`); its mean is the next sample, plus Gaussian
    noise of variance ``sigma_t^2``, except at the last step. This is the sampler the
    model is trained for; it needs one network evaluation per timestep (1000 by default).

    Args:
        variance: ``"posterior"`` (``sigma_t^2 = beta_t (1 - alpha_bar_{t-1}) /
            (1 - alpha_bar_t)``, the lower bound of Ho et al.) or ``"beta"``
            (``sigma_t^2 = beta_t``, the upper bound).
        clip_denoised: clip each prediction of ``x_0`` to ``[-1, 1]``.

    Example:

    ```python
    import kgen

    model = kgen.models.Diffusion.from_shape((8, 8, 1), timesteps=100, base_filters=8)
    samples = model.generate(4, seed=0, sampler=kgen.samplers.DDPM())
    ```

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
    """

    stochastic = True

    def __init__(self, variance="posterior", clip_denoised=True):
        if variance not in VARIANCES:
            raise ValueError(f"Unknown variance {variance!r}; choose one of {VARIANCES}.")
        super().__init__(clip_denoised=clip_denoised)
        self.variance = variance

    def timesteps(self, num_timesteps):
        return np.arange(num_timesteps - 1, -1, -1)

    def coefficients(self, alpha_bar, alpha_bar_prev):
        coef_x0, coef_xt, variance = posterior(alpha_bar, alpha_bar_prev)
        if self.variance == "beta":
            variance = np.where(alpha_bar_prev < 1.0, 1.0 - alpha_bar / alpha_bar_prev, 0.0)
        return {"coef_x0": coef_x0, "coef_xt": coef_xt, "sigma": np.sqrt(variance)}

    def step(self, x_t, noise_pred, x0_pred, coefficients, noise):
        mean = coefficients["coef_x0"] * x0_pred + coefficients["coef_xt"] * x_t
        return mean + coefficients["sigma"] * noise

    def get_config(self):
        return {"variance": self.variance, **super().get_config()}

