"""Samplers of diffusion models and their noise schedules.

- `schedules`: the variances ``beta_t`` (linear, cosine) and ``alpha_bar_t``.
- `NoiseSchedule`: the schedule's tables and named math (``q_sample``, ``q_posterior``,
  ``predict_start_from_noise``, ...), one object shared by a `kgen.models.Diffusion`
  model and the samplers that walk it.
- `DDPM`: ancestral sampling through every timestep (Ho et al. 2020).
- `DDIM`: implicit sampling in any number of steps, deterministic with ``eta=0``
  (Song et al. 2021).
- `DPMSolver`: DPM-Solver++(2M), a second-order multistep ODE solver for 10 to 25
  steps (Lu et al. 2022).
- `Sampler`: their base class, which runs the loop (with inpainting).
- `autoregressive`: the sampling loops of autoregressive models (`kgen.models.PixelCNN`).

A sampler is an object separate from the model, chosen per call:
``model.generate(16, sampler="ddim", steps=50)`` or
``model.generate(16, sampler=kgen.samplers.DDIM(steps=20, eta=0.5))``.
"""

from kgen.samplers import autoregressive, schedules  # noqa: F401
from kgen.samplers.noise_schedule import NoiseSchedule  # noqa: F401
from kgen.samplers.base import Sampler  # noqa: F401
from kgen.samplers.ddim import DDIM  # noqa: F401
from kgen.samplers.ddpm import DDPM  # noqa: F401
from kgen.samplers.dpm_solver import DPMSolver  # noqa: F401

#: Sampler names accepted by `get`.
SAMPLERS = {"ddpm": DDPM, "ddim": DDIM, "dpm++": DPMSolver}


def get(sampler="ddim", steps=None, eta=None):
    """A sampler from a name (``"ddim"``, ``"ddpm"``, ``"dpm++"``) and options, or an instance as is.

    Args:
        sampler: ``"ddim"``, ``"ddpm"``, ``"dpm++"`` (`DPMSolver`) or a `Sampler`
            instance.
        steps: for ``"ddim"``, the number of steps (default 50); for ``"dpm++"``, the
            number of steps (default 20).
        eta: for ``"ddim"``, the noise level in [0, 1] (default 0).

    Returns:
        A `Sampler`.

    Example:

    ```python
    import kgen
    kgen.samplers.get("ddim", steps=20)   # DDIM(steps=20, eta=0.0, clip_denoised=None)
    ```
    """
    if isinstance(sampler, Sampler):
        if steps is not None or eta is not None:
            raise ValueError(
                f"steps= and eta= configure a sampler chosen by name; {sampler!r} is already "
                "configured: pass its options to its constructor instead."
            )
        return sampler
    if sampler == "ddim":
        options = {k: v for k, v in (("steps", steps), ("eta", eta)) if v is not None}
        return DDIM(**options)
    if sampler == "ddpm":
        if steps is not None or eta is not None:
            raise ValueError(
                "The DDPM sampler visits every timestep and has no eta: drop steps= and eta=, "
                "or use sampler='ddim'."
            )
        return DDPM()
    if sampler == "dpm++":
        if eta is not None:
            raise ValueError("DPM-Solver++ is deterministic and has no eta: drop eta=, or use "
                             "sampler='ddim'.")
        return DPMSolver(**({} if steps is None else {"steps": steps}))
    raise ValueError(
        f"Unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)} or pass a "
        "kgen.samplers.Sampler instance."
    )
