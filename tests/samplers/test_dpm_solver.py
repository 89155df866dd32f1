"""DPM-Solver++(2M): its first-order steps are DDIM's, its order shows on a Gaussian ODE."""

import numpy as np
import pytest
from keras import ops

import kgen
from kgen.samplers import DDIM, DPMSolver, NoiseSchedule

from checks_catalogue import covers
from harness import tiny_network

MEAN, STD = 0.3, 0.2   # the data: independent N(MEAN, STD^2) pixels


def gaussian_predictor(schedule):
    """The exact ``(noise, x0)`` predictions for Gaussian data: E[x0 | x_t] and its noise."""
    alphas = ops.convert_to_tensor(schedule.alphas_cumprod.astype("float32"))

    def predict(x, t):
        x = ops.convert_to_tensor(x)
        a = ops.take(alphas, ops.cast(ops.round(t), "int32"))
        alpha, sigma2 = ops.sqrt(a), 1.0 - a
        x0 = MEAN + alpha * STD ** 2 / (a * STD ** 2 + sigma2) * (x - alpha * MEAN)
        return (x - alpha * x0) / ops.sqrt(sigma2), x0

    return predict


def exact_ode_solution(x_t, schedule):
    """The probability-flow ODE's map from ``x_T`` to the data for Gaussian data (affine)."""
    a = float(schedule.alphas_cumprod[-1])
    return MEAN + STD * (x_t - np.sqrt(a) * MEAN) / np.sqrt(a * STD ** 2 + 1.0 - a)


def test_the_solver_converges_to_the_ode_solution_at_second_order():
    """On Gaussian data, where the ODE's solution is known: doubling the steps from 20 to
    40 divides DPM-Solver++'s error by more than 4 (second order), DDIM's by about 2."""
    schedule = NoiseSchedule.from_name("cosine", 1000)
    x_t = np.random.default_rng(0).standard_normal((64, 4)).astype("float32")
    exact = exact_ode_solution(x_t, schedule)
    errors = {}
    for steps in (20, 40):
        for name, sampler in (("ddim", DDIM(steps=steps, eta=0.0, clip_denoised=False)),
                              ("dpm++", DPMSolver(steps=steps, clip_denoised=False))):
            solved = ops.convert_to_numpy(sampler.sample(x_t, gaussian_predictor(schedule),
                                                         schedule))
            errors[name, steps] = float(np.abs(solved - exact).max())
    # Measured in float64 numpy: DDIM 9.7e-2 and 4.9e-2, DPM-Solver++ 5.1e-2 and 8.7e-3.
    assert errors["dpm++", 20] / errors["dpm++", 40] > 4.0, errors
    assert errors["ddim", 20] / errors["ddim", 40] < 2.5, errors
    assert errors["dpm++", 40] < errors["ddim", 40] / 4, errors


def test_two_steps_are_first_order_and_equal_ddim():
    # Two steps: the first has no previous prediction, the last lands on the data; both
    # are DDIM's (eta 0) update written in the log-SNR.
    model = kgen.models.Diffusion(tiny_network(), timesteps=50, ema=None, seed=0)
    np.testing.assert_allclose(model.generate(3, seed=1, sampler="dpm++", steps=2),
                               model.generate(3, seed=1, sampler="ddim", steps=2), atol=1e-5)
    ten = model.generate(3, seed=1, sampler=DPMSolver(steps=10))
    assert ten.shape == (3, 8, 8, 1) and np.all(np.isfinite(ten))
    frames = model.denoising_trajectory(3, seed=1, sampler="dpm++", steps=10)[1]
    np.testing.assert_allclose(frames[-1], ten, atol=1e-5)


@covers("generate-sampler-options")
def test_dpm_solver_options_and_refusals():
    assert kgen.samplers.get("dpm++").steps == 20
    assert kgen.samplers.get("dpm++", steps=12).get_config() == {"steps": 12,
                                                                 "clip_denoised": None}
    with pytest.raises(ValueError, match="no eta"):
        kgen.samplers.get("dpm++", eta=0.5)
    with pytest.raises(ValueError, match="has no eta"):
        kgen.samplers.get("ddpm", eta=1.0)
    with pytest.raises(ValueError, match="steps"):
        DPMSolver(steps=1)
    model = kgen.models.Diffusion(tiny_network(), timesteps=50, ema=None, seed=0)
    with pytest.raises(ValueError, match="at most"):
        model.generate(2, seed=0, sampler="dpm++", steps=51)
    known = np.zeros((2, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match="cannot inpaint.*sampler='ddim'"):
        model.generate(seed=0, sampler="dpm++", images=known, mask=np.ones((8, 8, 1)))
