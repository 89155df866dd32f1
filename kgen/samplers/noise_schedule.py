"""`NoiseSchedule`: the forward process of a diffusion model and the math built on it.

One object holds the schedule's tables (computed once, in float64 numpy, from the
variances ``beta_t``) and names the formulas of the forward process, its posterior and
the conversions between the network's possible outputs. `kgen.models.Diffusion` owns one
(``model.noise_schedule``) for training; the samplers walk the same schedule, respaced to
the timesteps they visit (`NoiseSchedule.respaced`).
"""

import numpy as np
from keras import ops

from kgen import checks
from kgen.precision import float32
from kgen.samplers import schedules

#: What a diffusion network may predict: the noise, the clean data or the velocity.
PREDICTIONS = ("epsilon", "x0", "v")


def posterior(alpha_bar, alpha_bar_prev):
    """The Gaussian ``q(x_{t-1} | x_t, x_0)``: its mean's coefficients and its variance.

    With ``alpha_t = alpha_bar_t / alpha_bar_{t-1}`` and ``beta_t = 1 - alpha_t``::

        mean     = coef_x0 * x_0 + coef_xt * x_t
        coef_x0  = sqrt(alpha_bar_{t-1}) * beta_t / (1 - alpha_bar_t)
        coef_xt  = sqrt(alpha_t) * (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)
        variance = beta_t * (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)

    Written for any pair of timesteps (``alpha_bar_prev`` may belong to a timestep more
    than one step earlier, and is 1 before the first), so it also gives the posterior of
    a respaced chain (`NoiseSchedule.respaced`).

    Args:
        alpha_bar: ``alpha_bar_t`` (numpy arrays or numbers).
        alpha_bar_prev: ``alpha_bar`` at the earlier timestep.

    Returns:
        ``(coef_x0, coef_xt, variance)``, float64.

    Example:

    ```python
    from kgen.samplers.noise_schedule import posterior
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


def _tensors(*values):
    """The values as float32 tensors (numpy arrays included), for arithmetic on every
    backend: the outputs of a mixed-precision network meet the schedule in float32."""
    return tuple(float32(ops.convert_to_tensor(value)) for value in values)


class NoiseSchedule:
    """The noise schedule of a diffusion model: ``alpha_bar_t`` and the formulas built on it.

    The forward process ``q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)``
    with ``alpha_bar_t = prod_{s <= t} (1 - beta_s)``. Every table is computed once, in
    float64 with numpy (the small differences between neighbouring ``alpha_bar`` values
    keep their precision), and used as float32 constants by the methods, which are
    written with `keras.ops` and take timesteps ``t`` either per example (an integer
    array ``(n,)``, one value gathered for each example) or as one scalar (every example
    at the same step, as in a sampler's loop). Timesteps count from 0: ``t`` runs over
    ``0 .. T-1``. The methods compute in float32 whatever the precision of their inputs
    (the outputs of a network under a mixed dtype policy, `kgen.precision`).

    A sampler that visits a subsequence of the timesteps (DDIM) walks
    `respaced` (the same ``alpha_bar`` at the visited timesteps): on it, ``t - 1`` is the
    previous *visited* timestep, so `q_posterior` and the other methods hold between
    the visited steps unchanged.

    Attributes:
        betas: the variances ``beta_t`` (float64, ``(T,)``).
        alphas: ``alpha_t = 1 - beta_t``.
        alphas_cumprod: ``alpha_bar_t``, decreasing.
        alphas_cumprod_prev: ``alpha_bar_{t-1}``, with 1 before the first step.
        posterior_variance: the variance of `q_posterior`, 0 at ``t = 0``.
        snr: the signal-to-noise ratio ``alpha_bar_t / (1 - alpha_bar_t)``.
        chain_timesteps: the timestep of the model's chain that each step stands for
            (``0 .. T-1``; the visited timesteps on a respaced schedule): the network's
            timestep input.

    Args:
        betas: the variances ``beta_t``, a 1-D array of numbers in (0, 1) (see
            `kgen.samplers.schedules`).

    Example:

    ```python
    import numpy as np
    from kgen.samplers import NoiseSchedule

    schedule = NoiseSchedule.from_name("cosine", 100)
    x0 = np.zeros((2, 8, 8, 1), "float32")
    noise = np.ones((2, 8, 8, 1), "float32")
    t = np.array([10, 90])
    x_t = schedule.q_sample(x0, t, noise)
    x0_again = schedule.predict_start_from_noise(x_t, t, noise)   # x0, up to round-off
    ```

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
        Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021.
        Salimans & Ho, "Progressive Distillation for Fast Sampling of Diffusion Models",
        ICLR 2022.
    """

    def __init__(self, betas):
        betas = np.asarray(betas, dtype="float64")
        alphas_cumprod = schedules.alphas_cumprod(betas)   # checks the betas
        self._set(betas, alphas_cumprod, np.arange(len(betas)))

    @classmethod
    def from_name(cls, schedule, timesteps):
        """The schedule named ``schedule`` (``"linear"`` or ``"cosine"``) over ``timesteps`` steps.

        Example:

        ```python
        from kgen.samplers import NoiseSchedule
        NoiseSchedule.from_name("linear", 1000).alphas_cumprod[-1]   # about 4e-5
        ```
        """
        return cls(schedules.betas(schedule, timesteps))

    def _set(self, betas, alphas_cumprod, chain_timesteps):
        alphas_cumprod_prev = np.concatenate([[1.0], alphas_cumprod[:-1]])
        coef_x0, coef_xt, variance = posterior(alphas_cumprod, alphas_cumprod_prev)
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = alphas_cumprod
        self.alphas_cumprod_prev = alphas_cumprod_prev
        self.posterior_variance = variance
        self.snr = alphas_cumprod / (1.0 - alphas_cumprod)
        self.chain_timesteps = np.asarray(chain_timesteps, dtype="int64")
        # The log of the variance, its 0 at t = 0 replaced by the value at t = 1 (Ho et
        # al.'s clipping); a one-step chain has no t = 1 and keeps a tiny floor.
        first = variance[1] if len(variance) > 1 else 1e-20
        tables = {
            "sqrt_alphas_cumprod": np.sqrt(alphas_cumprod),
            "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - alphas_cumprod),
            "sqrt_alphas_cumprod_prev": np.sqrt(alphas_cumprod_prev),
            "sqrt_one_minus_alphas_cumprod_prev": np.sqrt(1.0 - alphas_cumprod_prev),
            "sqrt_alphas": np.sqrt(self.alphas),
            "sqrt_betas": np.sqrt(betas),
            "posterior_coef_x0": coef_x0,
            "posterior_coef_xt": coef_xt,
            "posterior_variance": variance,
            "posterior_log_variance": np.log(np.append(first, variance[1:])),
        }
        self._tables = {name: value.astype("float32") for name, value in tables.items()}

    @property
    def num_timesteps(self):
        """The number of steps ``T`` of the chain."""
        return len(self.alphas_cumprod)

    def respaced(self, timesteps):
        """The chain restricted to ``timesteps``: the same ``alpha_bar`` at those steps only.

        Step ``i`` of the respaced schedule is the ``i``-th smallest of ``timesteps``; its
        variance is ``beta_i = 1 - alpha_bar_{t_i} / alpha_bar_{t_{i-1}}``, so that
        ``q(x_{t_i} | x_0)`` is unchanged and `q_posterior` is the posterior between
        consecutive visited timesteps. ``chain_timesteps`` keeps the original timesteps
        (what the network is told).

        Args:
            timesteps: distinct integer timesteps in ``0 .. T-1``, in any order.

        Returns:
            A `NoiseSchedule` of ``len(timesteps)`` steps.

        Example:

        ```python
        from kgen.samplers import NoiseSchedule
        short = NoiseSchedule.from_name("cosine", 100).respaced([99, 66, 33, 0])
        short.chain_timesteps   # array([ 0, 33, 66, 99])
        ```

        References:
            Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models",
            ICML 2021 (section 4).
        """
        steps = np.asarray(timesteps)
        if steps.ndim != 1 or steps.size == 0 or steps.dtype.kind not in "iu":
            raise ValueError(f"timesteps must be a non-empty 1-D array of integers; got "
                             f"{timesteps!r}.")
        steps = np.sort(steps.astype("int64"))
        if steps[0] < 0 or steps[-1] >= self.num_timesteps or np.any(np.diff(steps) == 0):
            raise ValueError(f"timesteps must be distinct integers in 0..{self.num_timesteps - 1};"
                             f" got {timesteps!r}.")
        alphas_cumprod = self.alphas_cumprod[steps]
        previous = np.concatenate([[1.0], alphas_cumprod[:-1]])
        schedule = object.__new__(type(self))
        schedule._set(1.0 - alphas_cumprod / previous, alphas_cumprod,
                      self.chain_timesteps[steps])
        return schedule

    # ------------------------------------------------------------------ gather
    def _at(self, name, t, x):
        """``table[t]`` shaped to broadcast against ``x`` (one value per example)."""
        values = ops.take(ops.convert_to_tensor(self._tables[name]), ops.cast(t, "int32"))
        return ops.reshape(values, (-1,) + (1,) * (len(ops.shape(x)) - 1))

    # ------------------------------------------------------ the forward process
    def q_sample(self, x0, t, noise):
        """``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise``, a draw of ``q(x_t | x_0)``.

        Args:
            x0: clean data, ``(n, ...)``.
            t: integer timesteps, ``(n,)`` or a scalar, in ``0 .. T-1``.
            noise: standard normal noise of the shape of ``x0``.
        """
        x0, noise = _tensors(x0, noise)
        return self._at("sqrt_alphas_cumprod", t, x0) * x0 \
            + self._at("sqrt_one_minus_alphas_cumprod", t, x0) * noise

    def q_sample_prev(self, x0, t, noise):
        """A draw of ``q(x_{t-1} | x_0)``, where a reverse step from ``t`` lands (``x_0`` at ``t = 0``).

        ``sqrt(alpha_bar_{t-1}) x_0 + sqrt(1 - alpha_bar_{t-1}) noise``, with
        ``alpha_bar_{-1} = 1``.
        """
        x0, noise = _tensors(x0, noise)
        return self._at("sqrt_alphas_cumprod_prev", t, x0) * x0 \
            + self._at("sqrt_one_minus_alphas_cumprod_prev", t, x0) * noise

    def q_forward_step(self, x_prev, t, noise):
        """``x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) noise``, a draw of ``q(x_t | x_{t-1})``.

        One step forward, back up the chain (RePaint's resampling, Lugmayr et al. 2022).
        """
        x_prev, noise = _tensors(x_prev, noise)
        return self._at("sqrt_alphas", t, x_prev) * x_prev \
            + self._at("sqrt_betas", t, x_prev) * noise

    def q_posterior(self, x0, x_t, t):
        """The Gaussian ``q(x_{t-1} | x_t, x_0)``: ``(mean, variance, log_variance)``.

        The mean is ``coef_x0 x_0 + coef_xt x_t`` (`posterior`); the log variance at
        ``t = 0`` (where the variance is 0) is clipped to its value at ``t = 1``, as in Ho
        et al. (2020).

        References:
            Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020,
            eq. 6-7.
        """
        x0, x_t = _tensors(x0, x_t)
        mean = self._at("posterior_coef_x0", t, x_t) * x0 \
            + self._at("posterior_coef_xt", t, x_t) * x_t
        return (mean, self._at("posterior_variance", t, x_t),
                self._at("posterior_log_variance", t, x_t))

    # -------------------------------------------------------- parameterisations
    def predict_start_from_noise(self, x_t, t, noise):
        """``x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)``."""
        x_t, noise = _tensors(x_t, noise)
        return (x_t - self._at("sqrt_one_minus_alphas_cumprod", t, x_t) * noise) \
            / self._at("sqrt_alphas_cumprod", t, x_t)

    def predict_noise_from_start(self, x_t, t, x0):
        """``eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t)``."""
        x_t, x0 = _tensors(x_t, x0)
        return (x_t - self._at("sqrt_alphas_cumprod", t, x_t) * x0) \
            / self._at("sqrt_one_minus_alphas_cumprod", t, x_t)

    def predict_v(self, x0, t, noise):
        """The velocity ``v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0`` (Salimans & Ho 2022)."""
        x0, noise = _tensors(x0, noise)
        return self._at("sqrt_alphas_cumprod", t, x0) * noise \
            - self._at("sqrt_one_minus_alphas_cumprod", t, x0) * x0

    def predict_start_from_v(self, x_t, t, v):
        """``x_0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v``."""
        x_t, v = _tensors(x_t, v)
        return self._at("sqrt_alphas_cumprod", t, x_t) * x_t \
            - self._at("sqrt_one_minus_alphas_cumprod", t, x_t) * v

    def predict_noise_from_v(self, x_t, t, v):
        """``eps = sqrt(1 - alpha_bar_t) x_t + sqrt(alpha_bar_t) v``."""
        x_t, v = _tensors(x_t, v)
        return self._at("sqrt_one_minus_alphas_cumprod", t, x_t) * x_t \
            + self._at("sqrt_alphas_cumprod", t, x_t) * v

    def target(self, prediction, x0, t, noise):
        """What a network of the given ``prediction`` is trained to output: ``eps``, ``x_0`` or ``v``.

        Args:
            prediction: ``"epsilon"``, ``"x0"`` or ``"v"`` (`PREDICTIONS`).
            x0: the clean data.
            t: the timesteps of ``x_t``.
            noise: the noise of ``x_t``.
        """
        checks.one_of(prediction, "prediction", PREDICTIONS)
        if prediction == "epsilon":
            return noise
        if prediction == "x0":
            return x0
        return self.predict_v(x0, t, noise)

    def noise_and_start(self, prediction, output, x_t, t):
        """``(eps, x_0)`` from a network's ``output`` for ``x_t``: the inverse of `target`.

        Args:
            prediction: what ``output`` is: ``"epsilon"``, ``"x0"`` or ``"v"``.
            output: the network's output, like ``x_t``.
            x_t: the noisy data the network saw.
            t: its timesteps.
        """
        checks.one_of(prediction, "prediction", PREDICTIONS)
        if prediction == "epsilon":
            return output, self.predict_start_from_noise(x_t, t, output)
        if prediction == "x0":
            return self.predict_noise_from_start(x_t, t, output), output
        return self.predict_noise_from_v(x_t, t, output), self.predict_start_from_v(x_t, t, output)

    def __repr__(self):
        return f"NoiseSchedule(num_timesteps={self.num_timesteps})"
