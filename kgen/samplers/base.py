"""`Sampler`: the reverse-diffusion loop shared by the DDPM and DDIM samplers.

A sampler walks down a decreasing sequence of timesteps ``t_1 > ... > t_S``. At each
one it asks the model for its prediction of the noise and of the clean data, then
applies its own update rule to reach the next, less noisy, timestep. The loop is written
with `keras.ops` (one ``ops.fori_loop``), so a model compiles it once per configuration
with `kgen.backend.compile_function` and it can be exported as one function.

Every per-step coefficient is computed once, in float64 numpy, from ``alpha_bar``: the
loop only gathers them.
"""

import keras
import numpy as np
from keras import ops


def _table(values):
    return ops.convert_to_tensor(np.asarray(values, dtype="float32"))


class Sampler:
    """Base class of the samplers of diffusion models (`kgen.samplers.DDPM`, `kgen.samplers.DDIM`).

    A subclass says which timesteps it visits (``timesteps``), what per-step
    coefficients it needs (``coefficients``) and how it moves from ``x_t`` to the next
    timestep (``step``); ``sample`` runs the loop, with optional inpainting.

    Args:
        clip_denoised: clip each prediction of the clean data to ``[-1, 1]`` (the data
            range of images) before the update, and recompute the noise from it.
    """

    #: Whether ``step`` uses fresh Gaussian noise.
    stochastic = True

    def __init__(self, clip_denoised=True):
        self.clip_denoised = bool(clip_denoised)

    # ---------------------------------------------------------------- subclass
    def timesteps(self, num_timesteps):
        """The decreasing timesteps the sampler visits, for a chain of ``num_timesteps``."""
        raise NotImplementedError

    def coefficients(self, alpha_bar, alpha_bar_prev):
        """Per-step float64 coefficients of ``step``, from ``alpha_bar`` at each visited
        timestep and at the next one (1 after the last step)."""
        raise NotImplementedError

    def step(self, x_t, noise_pred, x0_pred, coefficients, noise):
        """``x`` at the next timestep from ``x_t`` and the model's predictions."""
        raise NotImplementedError

    def get_config(self):
        """The sampler's options, a dict (its constructor arguments)."""
        return {"clip_denoised": self.clip_denoised}

    def cache_key(self):
        """A hashable key: equal for samplers that compile to the same loop."""
        return (type(self).__name__,) + tuple(sorted(self.get_config().items()))

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})"

    # -------------------------------------------------------------------- loop
    def tables(self, alphas_cumprod):
        """Every per-step coefficient of the loop, as float64 numpy arrays, keyed by name."""
        alphas_cumprod = np.asarray(alphas_cumprod, dtype="float64")
        steps = np.asarray(self.timesteps(len(alphas_cumprod)), dtype="int64")
        previous = np.append(steps[1:], -1)
        padded = np.concatenate([[1.0], alphas_cumprod])   # alpha_bar_{-1} = 1: clean data
        a, a_prev = alphas_cumprod[steps], padded[previous + 1]
        tables = {
            "t": steps.astype("float64"),
            "sqrt_alpha_bar": np.sqrt(a),
            "sqrt_one_minus_alpha_bar": np.sqrt(1.0 - a),
            "sqrt_alpha_bar_prev": np.sqrt(a_prev),
            "sqrt_one_minus_alpha_bar_prev": np.sqrt(1.0 - a_prev),
            # From the next timestep back up to this one (RePaint's resampling).
            "jump_mean": np.sqrt(a / a_prev),
            "jump_std": np.sqrt(1.0 - a / a_prev),
        }
        tables.update(self.coefficients(a, a_prev))
        return tables

    def sample(self, x_t, predict, alphas_cumprod, seed_generator, known=None, mask=None,
               resample=1, record=False):
        """Runs the reverse chain from ``x_t`` (noise at the first timestep) to the data.

        Args:
            x_t: float tensor, the starting noise.
            predict: ``predict(x, t, sqrt_alpha_bar, sqrt_one_minus_alpha_bar)`` returns
                the model's ``(noise, clean data)`` predictions for ``x`` at timestep
                ``t`` (a float32 scalar tensor).
            alphas_cumprod: the model's ``alpha_bar_t`` (numpy).
            seed_generator: the `keras.random.SeedGenerator` of the noise drawn along the
                way; its state is carried through the loop and left advanced.
            known, mask: for inpainting, the known images and a mask, 1 where a pixel is
                known: after every step the known pixels are replaced by the known image
                noised to the new timestep (``q_sample``), and at the end by the known
                image itself.
            resample: RePaint's resampling: each step is done ``resample`` times, going
                back up one step with fresh noise between them, so the generated region
                can agree with the known one.
            record: return every intermediate sample, not only the last.

        Returns:
            The sample at timestep 0 (a tensor like ``x_t``); with ``record``, a tensor
            ``(steps + 1,) + x_t.shape`` of the samples from the start to the end.

        References:
            Lugmayr et al., "RePaint: Inpainting using Denoising Diffusion Probabilistic
            Models", CVPR 2022.
        """
        tables = {name: _table(value) for name, value in self.tables(alphas_cumprod).items()}
        num_steps = int(tables["t"].shape[0])
        resample = int(resample)

        def noise_like(x):
            return keras.random.normal(ops.shape(x), dtype=x.dtype, seed=seed_generator)

        def merge(x, sqrt_a, sqrt_one_minus_a):
            if known is None:
                return x
            noised = sqrt_a * known + sqrt_one_minus_a * noise_like(x)
            return mask * noised + (1.0 - mask) * x

        def reverse_step(i, x):
            c = {name: ops.take(value, i) for name, value in tables.items()}
            a, one_minus_a = c["sqrt_alpha_bar"], c["sqrt_one_minus_alpha_bar"]
            noise_pred, x0_pred = predict(x, c["t"], a, one_minus_a)
            if self.clip_denoised:
                x0_pred = ops.clip(x0_pred, -1.0, 1.0)
                noise_pred = (x - a * x0_pred) / one_minus_a
            noise = noise_like(x) if self.stochastic else None
            x = self.step(x, noise_pred, x0_pred, c, noise)
            return merge(x, c["sqrt_alpha_bar_prev"], c["sqrt_one_minus_alpha_bar_prev"])

        def resampled_step(i, x):
            x = reverse_step(i, x)

            def again(_, x):
                up = ops.take(tables["jump_mean"], i) * x \
                    + ops.take(tables["jump_std"], i) * noise_like(x)
                return reverse_step(i, up)

            if resample > 1:
                x = _seeded_loop(0, resample - 1, again, x, seed_generator)
            return x

        if known is not None:
            x_t = merge(x_t, tables["sqrt_alpha_bar"][0], tables["sqrt_one_minus_alpha_bar"][0])
        if not record:
            return _seeded_loop(0, num_steps, resampled_step, x_t, seed_generator)

        def recorded_step(i, carry):
            x, frames = carry
            x = resampled_step(i, x)
            start = [i + 1] + [0] * len(ops.shape(x))
            return x, ops.slice_update(frames, start, ops.expand_dims(x, 0))

        frames = ops.expand_dims(x_t, 0) * ops.ones((num_steps + 1,) + (1,) * len(ops.shape(x_t)))
        return _seeded_loop(0, num_steps, recorded_step, (x_t, frames), seed_generator)[1]


def _seeded_loop(start, stop, body, x, seed_generator):
    """``ops.fori_loop`` of ``x = body(i, x)`` carrying ``seed_generator``'s state.

    A pure loop (JAX's) sees variable assignments made inside its body only through its
    carry: the state is set from the carry at the start of each iteration and read back
    at its end, so every iteration draws new noise on every backend.
    """
    def carried(i, carry):
        x, state = carry
        seed_generator.state.assign(state)
        x = body(i, x)
        return x, ops.convert_to_tensor(seed_generator.state.value) + 0

    x, state = ops.fori_loop(start, stop, carried, (x, seed_generator.state.value + 0))
    seed_generator.state.assign(state)
    return x
