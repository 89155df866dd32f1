"""Noise schedules of diffusion models: the variances ``beta_t`` and ``alpha_bar_t``.

A schedule is computed in float64 with numpy (once, when a model is built) so that the
small differences between neighbouring ``alpha_bar`` values keep their precision;
`kgen.samplers.NoiseSchedule` holds the tables built from it and turns them into float32
constants.
"""

import math

import numpy as np

from kgen import checks

#: The schedules `betas` knows.
SCHEDULES = ("linear", "cosine")


def linear_betas(timesteps, beta_start=1e-4, beta_end=0.02):
    """Variances growing linearly from ``beta_start`` to ``beta_end`` (Ho et al. 2020).

    The end points are given for 1000 steps and scaled by ``1000 / timesteps``, so a
    shorter chain destroys the data as completely as the 1000-step one (as in Nichol &
    Dhariwal 2021).

    Args:
        timesteps: number of diffusion steps ``T``.
        beta_start: first variance, for ``T = 1000``.
        beta_end: last variance, for ``T = 1000``.

    Returns:
        A float64 array of ``T`` variances.

    Example:

    ```python
    from kgen.samplers.schedules import linear_betas
    linear_betas(1000)[[0, -1]]   # array([1.e-04, 2.e-02])
    ```

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
    """
    timesteps = checks.integer(timesteps, "timesteps", minimum=2)
    scale = 1000.0 / timesteps
    if beta_end * scale >= 1.0:
        raise ValueError(
            f"The linear schedule scaled to {timesteps} timesteps would have beta_end = "
            f"{beta_end * scale:g} >= 1: use more timesteps (at least "
            f"{int(1000 * beta_end) + 1}) or schedule='cosine'.")
    return np.linspace(beta_start * scale, beta_end * scale, timesteps, dtype="float64")


def cosine_betas(timesteps, offset=0.008, max_beta=0.999):
    """Variances for which ``alpha_bar_t`` follows a squared cosine (Nichol & Dhariwal 2021).

    ``alpha_bar(t) = f(t) / f(0)`` with ``f(t) = cos(((t / T) + s) / (1 + s) * pi / 2) ** 2``;
    ``beta_t = 1 - alpha_bar(t + 1) / alpha_bar(t)``, clipped to ``max_beta`` to avoid the
    singularity at the end of the chain. The noise is added more gradually than with the
    linear schedule, which suits small images.

    Args:
        timesteps: number of diffusion steps ``T``.
        offset: the small offset ``s`` that keeps ``beta_0`` from being too small.
        max_beta: upper bound of every ``beta_t``.

    Returns:
        A float64 array of ``T`` variances.

    Example:

    ```python
    from kgen.samplers.schedules import cosine_betas
    cosine_betas(1000)[-1]   # 0.999
    ```

    References:
        Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021.
    """
    timesteps = checks.integer(timesteps, "timesteps", minimum=2)
    steps = np.arange(timesteps + 1, dtype="float64") / timesteps
    f = np.cos((steps + offset) / (1.0 + offset) * math.pi / 2.0) ** 2
    return np.minimum(1.0 - f[1:] / f[:-1], max_beta)


def betas(schedule, timesteps):
    """The variances of the schedule named ``schedule`` (``"linear"`` or ``"cosine"``).

    Args:
        schedule: ``"linear"`` (`linear_betas`) or ``"cosine"`` (`cosine_betas`).
        timesteps: number of diffusion steps ``T``.

    Returns:
        A float64 array of ``T`` variances.

    Example:

    ```python
    from kgen.samplers.schedules import betas
    betas("cosine", 100).shape   # (100,)
    ```
    """
    checks.one_of(schedule, "schedule", SCHEDULES)
    if schedule == "linear":
        return linear_betas(timesteps)
    return cosine_betas(timesteps)


def alphas_cumprod(beta):
    """``alpha_bar_t = prod_{s <= t} (1 - beta_s)``: the share of the signal left at step t.

    Args:
        beta: the variances ``beta_t``, an array of ``T`` numbers in (0, 1).

    Returns:
        A float64 array of ``T`` values, decreasing from ``1 - beta_0``.

    Example:

    ```python
    from kgen.samplers.schedules import alphas_cumprod, linear_betas
    alphas_cumprod(linear_betas(1000))[-1]   # about 4e-5: almost pure noise
    ```
    """
    beta = np.asarray(beta, dtype="float64")
    if beta.ndim != 1 or np.any(beta <= 0) or np.any(beta >= 1):
        raise ValueError("betas must be a 1-D array of numbers strictly between 0 and 1.")
    return np.cumprod(1.0 - beta)
