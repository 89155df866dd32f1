"""DDPM: ancestral sampling of a diffusion model through all its timesteps (Ho et al. 2020)."""

import numpy as np

from kgen import checks
from kgen.samplers.base import Sampler
from kgen.samplers.noise_schedule import posterior  # noqa: F401  (kgen.samplers.ddpm.posterior)

#: Variances ``DDPM`` knows.
VARIANCES = ("posterior", "beta")


class DDPM(Sampler):
    """Ancestral sampling: ``x_{t-1} ~ N(posterior mean, sigma_t^2 I)``, for every t from T-1 to 0.

    The model's prediction of the clean data ``x_0`` is put into the posterior
    ``q(x_{t-1} | x_t, x_0)`` (`kgen.samplers.NoiseSchedule.q_posterior`); its mean is the
    next sample, plus Gaussian noise of variance ``sigma_t^2``, except at the last step.
    This is the sampler the model is trained for; it needs one network evaluation per
    timestep (1000 by default).

    Args:
        variance: ``"posterior"`` (``sigma_t^2 = beta_t (1 - alpha_bar_{t-1}) /
            (1 - alpha_bar_t)``, the posterior's variance, the lower bound of Ho et al.)
            or ``"beta"`` (``sigma_t^2 = beta_t``, the upper bound).
        clip_denoised: clip each prediction of the clean data to ``[-1, 1]``; None (the
            default): the model decides (see `kgen.samplers.Sampler`).

    Example:

    ```python
    import kgen

    model = kgen.models.Diffusion.from_shape((8, 8, 1), timesteps=20, schedule="cosine",
                                             base_filters=8, channel_multipliers=(1,),
                                             num_res_blocks=1)
    samples = model.generate(4, seed=0, sampler=kgen.samplers.DDPM())   # 20 steps
    ```

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
    """

    stochastic = True

    def __init__(self, variance="posterior", clip_denoised=None):
        checks.one_of(variance, "variance", VARIANCES)
        super().__init__(clip_denoised=clip_denoised)
        self.variance = variance

    def timesteps(self, num_timesteps):
        return np.arange(num_timesteps - 1, -1, -1)

    def coefficients(self, chain):
        if self.variance == "beta":
            # beta_t, and no noise at the last step.
            variance = np.where(np.arange(chain.num_timesteps) > 0, chain.betas, 0.0)
        else:
            variance = chain.posterior_variance
        return {"sigma": np.sqrt(variance)}

    def step(self, chain, t, x_t, noise_pred, x0_pred, coefficients, noise):
        mean, _, _ = chain.q_posterior(x0_pred, x_t, t)
        return mean + coefficients["sigma"] * noise

    def get_config(self):
        return {"variance": self.variance, **super().get_config()}
