"""`Sampler`: the reverse-diffusion loop shared by the DDPM and DDIM samplers.

A sampler walks down a decreasing sequence of timesteps ``t_1 > ... > t_S`` of the
model's `kgen.samplers.NoiseSchedule`. It respaces the schedule to those timesteps
(`NoiseSchedule.respaced`), so that each move is one step of a shorter chain, and at each
step asks the model for its prediction of the noise and of the clean data, then applies
its own update rule, written with the schedule's named math, to reach the next, less
noisy, timestep. The loop is written with `keras.ops` (one ``ops.fori_loop``), so a model
compiles it once per configuration with `kgen.backend.compile_function` and it can be
exported as one function.

Every per-step coefficient is computed once, in float64 numpy, from the schedule's
``alpha_bar``: the loop only gathers them.
"""

import keras
import numpy as np
from keras import ops


def _table(values):
    return ops.convert_to_tensor(np.asarray(values, dtype="float32"))


class Sampler:
    """Base class of the samplers of diffusion models (`kgen.samplers.DDPM`, `kgen.samplers.DDIM`).

    A subclass says which timesteps it visits (``timesteps``), what per-step
    coefficients of its chain it needs (``coefficients``) and how it moves from ``x_t``
    to the previous step of the chain (``step``); ``sample`` runs the loop, with
    optional inpainting.

    Args:
        clip_denoised: clip each prediction of the clean data to ``[-1, 1]`` (the data
            range of images) before the update, and recompute the noise from it.

    Example:

    ```python
    import kgen

    schedule = kgen.samplers.NoiseSchedule.from_name("linear", 100)
    chain = kgen.samplers.DDIM(steps=4).chain(schedule)
    chain.chain_timesteps   # array([ 0, 33, 66, 99]): the timesteps the sampler visits
    ```
    """

    #: Whether ``step`` uses fresh Gaussian noise.
    stochastic = True

    def __init__(self, clip_denoised=True):
        self.clip_denoised = bool(clip_denoised)

    # ---------------------------------------------------------------- subclass
    def timesteps(self, num_timesteps):
        """The decreasing timesteps the sampler visits, for a chain of ``num_timesteps``."""
        raise NotImplementedError

    def coefficients(self, chain):
        """Per-step float64 coefficients of ``step``, a dict of arrays indexed like ``chain``.

        Args:
            chain: the schedule respaced to the visited timesteps (`chain`).
        """
        raise NotImplementedError

    def step(self, chain, t, x_t, noise_pred, x0_pred, coefficients, noise):
        """``x`` at step ``t - 1`` of ``chain`` from ``x_t`` and the model's predictions.

        Args:
            chain: the respaced schedule (`chain`).
            t: the step of ``chain`` (a scalar integer tensor).
            x_t: the current sample.
            noise_pred: the model's prediction of the noise.
            x0_pred: the model's prediction of the clean data.
            coefficients: the values of `coefficients` at step ``t`` (scalars).
            noise: fresh standard normal noise like ``x_t`` (None if not ``stochastic``).
        """
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
    def chain(self, schedule):
        """The chain the sampler walks: ``schedule`` respaced to the visited timesteps."""
        return schedule.respaced(self.timesteps(schedule.num_timesteps))

    def tables(self, schedule):
        """Every per-step table of the loop, float64 numpy arrays keyed by name.

        Indexed by the steps of `chain` (from the least noisy visited timestep); ``"t"``
        is the model's timestep at each step.
        """
        chain = self.chain(schedule)
        return {"t": chain.chain_timesteps.astype("float64"), **self.coefficients(chain)}

    def sample(self, x_t, predict, schedule, seed_generator, known=None, mask=None,
               resample=1, record=False):
        """Runs the reverse chain from ``x_t`` (noise at the first timestep) to the data.

        Args:
            x_t: float tensor, the starting noise.
            predict: ``predict(x, t)`` returns the model's ``(noise, clean data)``
                predictions for ``x`` at timestep ``t`` of the model's chain (a float32
                scalar tensor).
            schedule: the model's `kgen.samplers.NoiseSchedule`.
            seed_generator: the `keras.random.SeedGenerator` of the noise drawn along the
                way; its state is carried through the loop and left advanced.
            known: for inpainting, the known images: after every step the known pixels
                are replaced by the known image noised to the new timestep
                (``q_sample_prev``), and at the end by the known image itself.
            mask: for inpainting, 1 where a pixel is known, 0 where it is generated.
            resample: RePaint's resampling: each step is done ``resample`` times, going
                back up one step with fresh noise between them (``q_forward_step``), so
                the generated region can agree with the known one.
            record: return every intermediate sample, not only the last.

        Returns:
            The sample at timestep 0 (a tensor like ``x_t``); with ``record``, a tensor
            ``(steps + 1,) + x_t.shape`` of the samples from the start to the end.

        References:
            Lugmayr et al., "RePaint: Inpainting using Denoising Diffusion Probabilistic
            Models", CVPR 2022.
        """
        chain = self.chain(schedule)
        tables = {name: _table(value) for name, value in self.tables(schedule).items()}
        num_steps = chain.num_timesteps
        resample = int(resample)

        def noise_like(x):
            return keras.random.normal(ops.shape(x), dtype=x.dtype, seed=seed_generator)

        def merge(x, noised):
            """The known pixels from ``noised``, the others from ``x``."""
            return mask * noised + (1.0 - mask) * x

        def reverse_step(i, x):
            t = num_steps - 1 - i   # the step of the chain, from the noisiest
            c = {name: ops.take(value, t) for name, value in tables.items()}
            noise_pred, x0_pred = predict(x, c["t"])
            if self.clip_denoised:
                x0_pred = ops.clip(x0_pred, -1.0, 1.0)
                noise_pred = chain.predict_noise_from_start(x, t, x0_pred)
            noise = noise_like(x) if self.stochastic else None
            x = self.step(chain, t, x, noise_pred, x0_pred, c, noise)
            if known is None:
                return x
            return merge(x, chain.q_sample_prev(known, t, noise_like(x)))

        def resampled_step(i, x):
            x = reverse_step(i, x)

            def again(_, x):
                up = chain.q_forward_step(x, num_steps - 1 - i, noise_like(x))
                return reverse_step(i, up)

            if resample > 1:
                x = _seeded_loop(0, resample - 1, again, x, seed_generator)
            return x

        if known is not None:
            x_t = merge(x_t, chain.q_sample(known, num_steps - 1, noise_like(x_t)))
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
