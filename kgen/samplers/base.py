"""`Sampler`: the reverse-diffusion loop shared by the DDPM and DDIM samplers.

A sampler walks down a decreasing sequence of timesteps ``t_1 > ... > t_S`` of the
model's `kgen.samplers.NoiseSchedule`. It respaces the schedule to those timesteps
(`NoiseSchedule.respaced`), so that each move is one step of a shorter chain, and at each
step asks the model for its prediction of the noise and of the clean data, then applies
its own update rule, written with the schedule's named math, to reach the next, less
noisy, timestep. The loop is written with `keras.ops` (one ``ops.fori_loop``), so a model
compiles it once per configuration with `kgen.backend.compile_function` and it can be
exported as one function.

The loop draws no random numbers itself: the standard normal noise of its stochastic
updates (DDPM, DDIM with ``eta > 0``, inpainting, RePaint's resampling) is an input,
drawn by the model with numpy from the seed, so a seed gives the same samples on every
backend.

Every per-step coefficient is computed once, in float64 numpy, from the schedule's
``alpha_bar``: the loop only gathers them.
"""

import copy

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
            range of images) before the update, and recompute the noise from it. None
            (the default): the model decides (`resolved`): clipped when its chain runs on
            images, not when it runs on an autoencoder's latents, which are scaled to
            unit variance and not bounded by 1 (`kgen.models.TextDiffusion`); the loop
            alone (`sample`) clips. True or False: always or never.

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
    #: Whether ``step`` also takes ``previous_x0``, the previous step's prediction of the
    #: clean data (a multistep method): the loop then carries it from step to step.
    multistep = False

    def __init__(self, clip_denoised=None):
        if clip_denoised is not None and not isinstance(clip_denoised, (bool, np.bool_)):
            raise TypeError(f"clip_denoised must be True, False or None (the model decides); "
                            f"got {clip_denoised!r}.")
        self.clip_denoised = None if clip_denoised is None else bool(clip_denoised)

    def resolved(self, clip):
        """This sampler with ``clip_denoised`` decided: its own choice, or ``clip`` when it
        left the choice to the model (None).

        Args:
            clip: whether the model's clean data lies in ``[-1, 1]`` (images) and its
                predictions should be clipped there.

        Returns:
            ``self`` when ``clip_denoised`` is set, else a copy with ``clip_denoised =
            clip``.

        Example:

        ```python
        import kgen

        kgen.samplers.DDIM(steps=10).resolved(False)   # DDIM(steps=10, eta=0.0, clip_denoised=False)
        ```
        """
        if self.clip_denoised is not None:
            return self
        chosen = copy.copy(self)
        chosen.clip_denoised = bool(clip)
        return chosen

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

    def noise_draws(self, inpaint=False, resample=1):
        """How many standard normal draws like ``x_t`` each step of the chain uses.

        A step uses one draw for its own update if the sampler is ``stochastic``, one
        more with inpainting (the known images noised to the new timestep), and each
        of RePaint's ``resample - 1`` repeats uses one draw to go back up a step plus
        the draws of the step again.

        Args:
            inpaint: the loop inpaints (`sample` gets ``known`` and ``mask``).
            resample: RePaint's resampling (see `sample`).

        Returns:
            An int, 0 for a deterministic loop (DDIM with ``eta=0``, no inpainting).

        Example:

        ```python
        import kgen

        kgen.samplers.DDPM().noise_draws()                           # 1
        kgen.samplers.DDIM(eta=0.0).noise_draws()                    # 0
        kgen.samplers.DDIM(eta=0.0).noise_draws(inpaint=True, resample=3)   # 5
        ```
        """
        per_pass = int(bool(self.stochastic)) + int(bool(inpaint))
        return int(resample) * per_pass + int(resample) - 1

    def inpainting_start(self, x_t, schedule, known, mask, noise):
        """The starting sample of an inpainting loop: ``x_t`` with the known pixels noised.

        The known pixels of ``x_t`` are replaced by ``known`` noised to the first
        (noisiest) visited timestep with ``noise`` (`kgen.samplers.NoiseSchedule.q_sample`).

        Args:
            x_t: the starting noise.
            schedule: the model's `kgen.samplers.NoiseSchedule`.
            known: the known images.
            mask: 1 where a pixel is known, 0 where it is generated.
            noise: standard normal noise like ``x_t``.

        Returns:
            A tensor like ``x_t``.
        """
        chain = self.chain(schedule)
        noised = chain.q_sample(known, chain.num_timesteps - 1, noise)
        mask = ops.convert_to_tensor(mask)
        return mask * noised + (1.0 - mask) * ops.convert_to_tensor(x_t)

    def sample(self, x_t, predict, schedule, noise=None, known=None, mask=None,
               resample=1, record=False, first=0, count=None):
        """Runs the reverse chain from ``x_t`` (noise at the first timestep) to the data.

        The loop draws no random numbers: the noise of its stochastic updates comes in
        ``noise`` (so the same noise gives the same samples on every backend, and an
        exported loop takes it as an input).

        Args:
            x_t: float tensor, the starting noise (for inpainting, the output of
                `inpainting_start`).
            predict: ``predict(x, t)`` returns the model's ``(noise, clean data)``
                predictions for ``x`` at timestep ``t`` of the model's chain (a float32
                scalar tensor).
            schedule: the model's `kgen.samplers.NoiseSchedule`.
            noise: standard normal noise, ``(S, D) + x_t.shape``: for each of the
                ``S >= count`` steps run, its ``D = noise_draws(inpaint, resample)``
                draws, in the order the step uses them (its own update, then the
                inpainting draw; then, for each repeat, the step back up and the step's
                draws again). None when ``D`` is 0.
            known: for inpainting, the known images: after every step the known pixels
                are replaced by the known image noised to the new timestep
                (``q_sample_prev``), and at the end by the known image itself.
            mask: for inpainting, 1 where a pixel is known, 0 where it is generated.
            resample: RePaint's resampling: each step is done ``resample`` times, going
                back up one step with fresh noise between them (``q_forward_step``), so
                the generated region can agree with the known one.
            record: return every intermediate sample, not only the last.
            first: the step of the chain to start from, counted from the noisiest
                (0); an int or a scalar integer tensor. A long chain can be run in
                parts, each with its own block of ``noise``.
            count: the number of steps to run (an int or a scalar integer tensor, at
                most the rows of ``noise``); default: every step from ``first`` on.

        Returns:
            The sample after the last step run (a tensor like ``x_t``; at timestep 0 for
            a whole chain); with ``record``, a tensor ``(R + 1,) + x_t.shape`` whose row
            0 is ``x_t`` and row ``j + 1`` the sample after step ``j`` of the run, ``R``
            being the rows of ``noise`` (or ``count``) (rows past ``count`` hold ``x_t``).

        Example:

        ```python
        import numpy as np
        import kgen

        schedule = kgen.samplers.NoiseSchedule.from_name("cosine", 20)
        ddpm = kgen.samplers.DDPM()
        x_t = np.random.default_rng(0).standard_normal((2, 4, 4, 1)).astype("float32")
        noise = np.random.default_rng(1).standard_normal(
            (20, ddpm.noise_draws()) + x_t.shape).astype("float32")
        perfect = lambda x, t: (x * 0.0, x * 0.0)   # predicts clean images of zeros
        ddpm.sample(x_t, perfect, schedule, noise).shape   # (2, 4, 4, 1)
        ```

        References:
            Lugmayr et al., "RePaint: Inpainting using Denoising Diffusion Probabilistic
            Models", CVPR 2022.
        """
        chain = self.chain(schedule)
        tables = {name: _table(value) for name, value in self.tables(schedule).items()}
        num_steps = chain.num_timesteps
        resample = int(resample)
        inpaint = known is not None
        multistep = self.multistep
        whole = isinstance(first, (int, np.integer)) and first == 0 and count is None
        if multistep and (inpaint or not whole):
            raise ValueError(
                f"{type(self).__name__} is a multistep sampler: it runs a whole chain in one "
                "call, so it cannot inpaint or sample in parts; use sampler='ddim' or 'ddpm'.")
        draws = self.noise_draws(inpaint, resample)
        per_pass = int(bool(self.stochastic)) + int(inpaint)
        if draws and noise is None:
            raise ValueError(
                f"{self!r} draws {draws} noise array(s) per step here: pass noise= of shape "
                "(steps, draws) + x_t.shape (see noise_draws()).")
        if noise is not None:
            noise = ops.convert_to_tensor(noise)
        if count is None:
            if not isinstance(first, (int, np.integer)):
                raise ValueError("Pass count= with a tensor first=.")
            count = num_steps - first
        rows = count
        if noise is not None:
            rows = noise.shape[0] if noise.shape[0] is not None else ops.shape(noise)[0]
        elif record and not isinstance(count, (int, np.integer)):
            raise ValueError("record=True needs an int count= or noise= (the rows recorded).")

        def merge(x, noised):
            """The known pixels from ``noised``, the others from ``x``."""
            return mask * noised + (1.0 - mask) * x

        def reverse_step(i, x, draw, k, previous_x0=None):
            t = num_steps - 1 - i   # the step of the chain, from the noisiest
            c = {name: ops.take(value, t) for name, value in tables.items()}
            noise_pred, x0_pred = predict(x, c["t"])
            if self.clip_denoised is not False:   # None: the loop alone clips
                x0_pred = ops.clip(x0_pred, -1.0, 1.0)
                noise_pred = chain.predict_noise_from_start(x, t, x0_pred)
            step_noise = None
            if self.stochastic:
                step_noise, k = draw(k), k + 1
            if multistep:
                # The first step has no previous prediction (its coefficient is 0).
                return self.step(chain, t, x, noise_pred, x0_pred, c, step_noise,
                                 previous_x0=previous_x0), x0_pred
            x = self.step(chain, t, x, noise_pred, x0_pred, c, step_noise)
            if known is None:
                return x
            return merge(x, chain.q_sample_prev(known, t, draw(k)))

        def run_step(j, x):
            i = first + j
            step_noise = None if noise is None else ops.take(noise, j, axis=0)

            def draw(k):
                return ops.take(step_noise, k, axis=0)

            x = reverse_step(i, x, draw, 0)
            if resample > 1:
                def again(r, x):
                    k = per_pass + r * (per_pass + 1)
                    up = chain.q_forward_step(x, num_steps - 1 - i, draw(k))
                    return reverse_step(i, up, draw, k + 1)

                x = ops.fori_loop(0, resample - 1, again, x)
            return x

        if multistep:
            # The loop carries the previous step's prediction of the clean data too.
            def advance(j, state):
                return reverse_step(j, state[0], None, 0, state[1])

            state, sample_of = (x_t, ops.zeros_like(x_t)), (lambda state: state[0])
        else:
            advance, state, sample_of = run_step, x_t, (lambda x: x)
        if not record:
            return sample_of(ops.fori_loop(0, count, advance, state))

        def recorded_step(j, carry):
            state, frames = carry
            state = advance(j, state)
            start = [j + 1] + [0] * len(ops.shape(x_t))
            return state, ops.slice_update(frames, start, ops.expand_dims(sample_of(state), 0))

        frames = ops.expand_dims(x_t, 0) * ops.ones((rows + 1,) + (1,) * len(ops.shape(x_t)))
        return ops.fori_loop(0, count, recorded_step, (state, frames))[1]
