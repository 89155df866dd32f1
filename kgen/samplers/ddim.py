"""DDIM: deterministic (or partly stochastic) sampling in a few steps (Song et al. 2021)."""

import numpy as np

from kgen import checks
from kgen.samplers.base import Sampler


class DDIM(Sampler):
    """Denoising diffusion implicit sampling over ``steps`` evenly spaced timesteps.

    From ``x_t`` and the model's predictions ``eps`` (noise) and ``x0`` (clean data), the
    next sample, at the earlier timestep ``s`` of the subsequence, is::

        x_s = sqrt(alpha_bar_s) x0 + sqrt(1 - alpha_bar_s - sigma^2) eps + sigma z
        sigma = eta * sqrt((1 - alpha_bar_s) / (1 - alpha_bar_t)) * sqrt(1 - alpha_bar_t / alpha_bar_s)

    With ``eta = 0`` the map from the starting noise to the sample is deterministic
    (an ODE-like path, so a few dozen steps suffice). ``sigma^2 / eta^2`` is the variance
    of the posterior between the visited timesteps (``posterior_variance`` of the
    schedule respaced to them, `kgen.samplers.NoiseSchedule.respaced`), so ``eta = 1``
    with every timestep is the DDPM sampler. The model is the one trained for DDPM: no
    retraining.

    Args:
        steps: number of network evaluations (timesteps visited), at most the model's
            ``timesteps``. The visited timesteps are ``round(linspace(T - 1, 0, steps))``.
        eta: amount of fresh noise per step, from 0 (deterministic) to 1.
        clip_denoised: clip each prediction of the clean data to ``[-1, 1]``; None (the
            default): the model decides (see `kgen.samplers.Sampler`).

    Example:

    ```python
    import kgen

    model = kgen.models.Diffusion.from_shape((8, 8, 1), timesteps=100, base_filters=8)
    samples = model.generate(4, seed=0, sampler=kgen.samplers.DDIM(steps=10, eta=0.0))
    ```

    References:
        Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.
    """

    def __init__(self, steps=50, eta=0.0, clip_denoised=None):
        super().__init__(clip_denoised=clip_denoised)
        self.steps = checks.integer(steps, "steps", minimum=1)
        self.eta = checks.number(eta, "eta", 0.0, 1.0)

    @property
    def stochastic(self):
        return self.eta > 0.0

    def timesteps(self, num_timesteps):
        if self.steps > num_timesteps:
            raise ValueError(
                f"DDIM(steps={self.steps}) needs at most as many steps as the model has "
                f"timesteps ({num_timesteps}); use steps <= {num_timesteps}."
            )
        if self.steps == 1:
            return np.array([num_timesteps - 1])
        return np.round(np.linspace(num_timesteps - 1, 0, self.steps)).astype("int64")

    def coefficients(self, chain):
        # On the chain of visited timesteps, sigma^2 / eta^2 is the posterior's variance
        # between consecutive visited timesteps.
        sigma = self.eta * np.sqrt(chain.posterior_variance)
        direction = np.sqrt(np.maximum(1.0 - chain.alphas_cumprod_prev - sigma ** 2, 0.0))
        return {"sigma": sigma, "direction": direction,
                "sqrt_alpha_bar_prev": np.sqrt(chain.alphas_cumprod_prev)}

    def step(self, chain, t, x_t, noise_pred, x0_pred, coefficients, noise):
        x = coefficients["sqrt_alpha_bar_prev"] * x0_pred + coefficients["direction"] * noise_pred
        if noise is not None:
            x = x + coefficients["sigma"] * noise
        return x

    def get_config(self):
        return {"steps": self.steps, "eta": self.eta, **super().get_config()}
