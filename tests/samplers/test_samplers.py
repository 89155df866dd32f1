"""Noise schedules, the NoiseSchedule object and the DDPM / DDIM samplers, checked against
closed forms."""

import keras
import numpy as np
import pytest

import kgen
from kgen.samplers import DDIM, DDPM, NoiseSchedule, schedules
from kgen.samplers.noise_schedule import posterior

from checks_catalogue import covers
from harness import tiny_network

SHAPE = (8, 8, 1)
T = 50


class PerfectNoise(keras.layers.Layer):
    """The exact noise of ``x_t`` for known clean images: ``(x_t - sqrt(a_t) x0) / sqrt(1 - a_t)``."""

    def __init__(self, x0, alphas_cumprod, **kwargs):
        super().__init__(**kwargs)
        self.x0 = np.asarray(x0, "float32")
        self.alphas_cumprod = np.asarray(alphas_cumprod, "float64")

    def call(self, inputs):
        x_t, t = inputs
        index = keras.ops.cast(keras.ops.round(t), "int32")
        a = keras.ops.take(keras.ops.convert_to_tensor(
            self.alphas_cumprod.astype("float32")), index)
        a = keras.ops.reshape(a, (-1, 1, 1, 1))
        x0 = keras.ops.convert_to_tensor(self.x0)
        return (x_t - keras.ops.sqrt(a) * x0) / keras.ops.sqrt(1.0 - a)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


def perfect_model(x0, schedule="linear"):
    """A Diffusion model whose network knows the answer ``x0`` (no weights, no EMA)."""
    alphas = schedules.alphas_cumprod(schedules.betas(schedule, T))
    x_t, t = keras.Input(SHAPE), keras.Input(())
    network = keras.Model([x_t, t], PerfectNoise(x0, alphas)([x_t, t]))
    return kgen.models.Diffusion(network, timesteps=T, schedule=schedule, ema=None)


@pytest.fixture
def clean(digits):
    return kgen.data.to_data_space(digits[:4])


def test_linear_and_cosine_schedules():
    linear = schedules.linear_betas(1000)
    assert linear[0] == pytest.approx(1e-4) and linear[-1] == pytest.approx(0.02)
    # Scaled for shorter chains: the same total destruction of the signal.
    assert schedules.linear_betas(100)[-1] == pytest.approx(0.2)
    for name in schedules.SCHEDULES:
        beta = schedules.betas(name, 1000)
        alpha_bar = schedules.alphas_cumprod(beta)
        assert np.all((beta > 0) & (beta < 1)) and np.all(np.diff(alpha_bar) < 0)
        assert alpha_bar[0] > 0.999 and alpha_bar[-1] < 1e-4
    # The cosine schedule: alpha_bar(t) = f(t + 1) / f(0), f a squared cosine.
    f = np.cos((np.arange(1001) / 1000 + 0.008) / 1.008 * np.pi / 2) ** 2
    cosine = schedules.alphas_cumprod(schedules.cosine_betas(1000))
    np.testing.assert_allclose(cosine[:900], (f[1:] / f[0])[:900], rtol=1e-10)
    with pytest.raises(ValueError, match="Unknown schedule"):
        schedules.betas("quadratic", 10)
    with pytest.raises(ValueError, match="at least 2"):
        schedules.linear_betas(1)
    with pytest.raises(TypeError, match="timesteps must be an integer"):
        schedules.cosine_betas(10.0)


def test_posterior_matches_its_closed_form():
    beta = schedules.linear_betas(T)
    alpha_bar = np.cumprod(1 - beta)
    t = np.arange(1, T)
    coef_x0, coef_xt, variance = posterior(alpha_bar[t], alpha_bar[t - 1])
    np.testing.assert_allclose(coef_x0, beta[t] * np.sqrt(alpha_bar[t - 1]) / (1 - alpha_bar[t]))
    np.testing.assert_allclose(
        coef_xt, (1 - alpha_bar[t - 1]) * np.sqrt(1 - beta[t]) / (1 - alpha_bar[t]))
    np.testing.assert_allclose(variance, beta[t] * (1 - alpha_bar[t - 1]) / (1 - alpha_bar[t]))
    # The schedule's tables are this posterior, and the name stays importable from ddpm.
    schedule = NoiseSchedule(beta)
    np.testing.assert_array_equal(schedule.posterior_variance[t], variance)
    assert schedule.posterior_variance[0] == 0.0
    assert kgen.samplers.ddpm.posterior is posterior


def test_noise_schedule_holds_the_forward_process_and_its_conversions():
    schedule = NoiseSchedule.from_name("cosine", T)
    np.testing.assert_array_equal(schedule.betas, schedules.cosine_betas(T))
    np.testing.assert_array_equal(schedule.alphas_cumprod, np.cumprod(1 - schedule.betas))
    np.testing.assert_array_equal(schedule.alphas_cumprod_prev[1:], schedule.alphas_cumprod[:-1])
    assert schedule.alphas_cumprod_prev[0] == 1.0 and schedule.num_timesteps == T
    rng = np.random.default_rng(0)
    x0 = np.clip(rng.standard_normal((3,) + SHAPE), -1, 1).astype("float32")
    noise = rng.standard_normal((3,) + SHAPE).astype("float32")
    a = schedule.alphas_cumprod
    b = (slice(None),) + (None,) * 3
    # Per example (one timestep each) and with one scalar timestep for all (a loop's step).
    for t in (np.array([0, 17, 49]), np.int32(30)):
        a_t = a[t][b] if np.ndim(t) else a[t]
        x_t = np.asarray(keras.ops.convert_to_numpy(schedule.q_sample(x0, t, noise)))
        np.testing.assert_allclose(x_t, np.sqrt(a_t) * x0 + np.sqrt(1 - a_t) * noise, atol=1e-6)
        for prediction in ("epsilon", "x0", "v"):
            output = schedule.target(prediction, x0, t, noise)
            eps, start = (keras.ops.convert_to_numpy(v) for v in
                          schedule.noise_and_start(prediction, output, x_t, t))
            np.testing.assert_allclose(eps, noise, atol=2e-4, err_msg=prediction)
            np.testing.assert_allclose(start, x0, atol=2e-4, err_msg=prediction)
    with pytest.raises(ValueError, match="Unknown prediction"):
        schedule.target("score", x0, 0, noise)
    with pytest.raises(ValueError, match="betas must be"):
        NoiseSchedule([0.1, 1.5])


def test_a_respaced_schedule_is_the_chain_between_the_visited_timesteps():
    schedule = NoiseSchedule.from_name("linear", T)
    chain = schedule.respaced(DDIM(steps=5).timesteps(T))
    visited = [0, 12, 24, 37, 49]
    assert list(chain.chain_timesteps) == visited and chain.num_timesteps == 5
    a = schedule.alphas_cumprod[visited]
    np.testing.assert_array_equal(chain.alphas_cumprod, a)
    # Its posterior is the posterior between consecutive visited timesteps.
    coef_x0, coef_xt, variance = posterior(a[1:], a[:-1])
    np.testing.assert_allclose(chain.posterior_variance[1:], variance, rtol=1e-12)
    rng = np.random.default_rng(1)
    x0, x_t, noise = rng.standard_normal((3, 4) + SHAPE).astype("float32")
    b = (slice(None),) + (None,) * 3
    mean, var, _ = (keras.ops.convert_to_numpy(v) for v in
                    chain.q_posterior(x0, x_t, np.arange(1, 5)))
    np.testing.assert_allclose(mean, coef_x0[b] * x0 + coef_xt[b] * x_t, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var.ravel(), variance, rtol=1e-5)
    # q(x_t | x_0) is unchanged at the visited timesteps.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(chain.q_sample(x0, 3, noise)),
        keras.ops.convert_to_numpy(schedule.q_sample(x0, np.full(4, 37), noise)), atol=1e-6)
    # One forward step from where a reverse step lands gives q(x_t | x_0) back:
    # sqrt(alpha) sqrt(alpha_bar_prev) = sqrt(alpha_bar), alpha (1 - alpha_bar_prev) + beta
    # = 1 - alpha_bar.
    zero = np.zeros_like(x0)
    up = chain.q_forward_step(chain.q_sample_prev(x0, 3, zero), 3, zero)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(up), np.sqrt(a[3]) * x0, atol=1e-6)
    np.testing.assert_allclose(chain.alphas * (1 - chain.alphas_cumprod_prev) + chain.betas,
                               1 - chain.alphas_cumprod, rtol=1e-12)
    # A reverse step from the first step lands on the data itself.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(chain.q_sample_prev(x0, 0, noise)), x0)
    for bad in ([3, 3], [T], [-1, 2], []):
        with pytest.raises(ValueError, match="timesteps must be"):
            schedule.respaced(bad)


def test_ddim_timesteps_and_coefficients():
    assert list(DDIM(steps=5).timesteps(T)) == [49, 37, 24, 12, 0]
    assert list(DDPM().timesteps(4)) == [3, 2, 1, 0]
    schedule = NoiseSchedule(schedules.linear_betas(T))
    # eta = 1 over every timestep: DDIM's noise is the DDPM posterior's.
    ddim = DDIM(steps=T, eta=1.0).tables(schedule)
    ddpm = DDPM().tables(schedule)
    np.testing.assert_allclose(ddim["sigma"], ddpm["sigma"], rtol=1e-10)
    assert DDIM(steps=T).tables(schedule)["sigma"].max() == 0.0
    # The tables follow the chain, from the least noisy visited timestep.
    np.testing.assert_array_equal(DDIM(steps=5).tables(schedule)["t"], [0, 12, 24, 37, 49])
    with pytest.raises(ValueError, match="at most as many steps"):
        DDIM(steps=T + 1).timesteps(T)
    with pytest.raises(ValueError, match="eta must be"):
        DDIM(eta=1.5)
    with pytest.raises(TypeError, match="steps must be an integer"):
        DDIM(steps=2.5)
    with pytest.raises(ValueError, match="steps must be an integer of at least 1"):
        DDIM(steps=0)
    with pytest.raises(ValueError, match="Unknown variance"):
        DDPM(variance="learned")
    with pytest.raises(ValueError, match="Unknown sampler"):
        kgen.samplers.get("euler")
    with pytest.raises(ValueError, match="already configured"):
        kgen.samplers.get(DDIM(), steps=10)
    assert kgen.samplers.get("ddim", steps=7).steps == 7


def test_perfect_predictor_recovers_the_data(clean):
    model = perfect_model(clean)
    for sampler in (DDIM(steps=10, eta=0.0), DDIM(steps=7, eta=1.0), DDPM()):
        samples = model.generate(4, seed=0, sampler=sampler)
        # The last step outputs the prediction of x0 at the smallest t, where alpha_bar is
        # ~1: float32 round-off only.
        np.testing.assert_allclose(samples, clean, atol=1e-5, err_msg=repr(sampler))


@covers("sampler-clips-latents")
def test_clipping_is_the_models_choice_unless_the_sampler_makes_it(clean):
    """The predictions of the clean data are clipped to [-1, 1], the range of images, by a
    sampler left to decide on a model of images, and not when the sampler says so or the
    model's data is not bounded by 1 (`kgen.models.TextDiffusion` in a latent space)."""
    beyond = 3.0 * clean    # up to 3, as latents of unit variance reach
    model = perfect_model(beyond)
    assert model.clips_denoised
    clipped = model.generate(4, seed=0, sampler=DDIM(steps=10))
    assert np.abs(clipped).max() <= 1.0 + 1e-5
    np.testing.assert_allclose(clipped, model.generate(
        4, seed=0, sampler=DDIM(steps=10, clip_denoised=True)), atol=1e-6)
    np.testing.assert_allclose(model.generate(
        4, seed=0, sampler=DDIM(steps=10, clip_denoised=False)), beyond, atol=1e-4)
    # resolved(): the sampler's own choice stands; an open one takes the model's.
    open_choice, explicit = DDIM(steps=10), DDIM(steps=10, clip_denoised=True)
    assert open_choice.clip_denoised is None
    assert open_choice.resolved(False).clip_denoised is False
    assert open_choice.clip_denoised is None        # a copy: the instance is unchanged
    assert explicit.resolved(False) is explicit
    with pytest.raises(TypeError, match="True, False or None"):
        DDIM(clip_denoised="no")


def test_ddim_with_eta_1_over_every_timestep_is_ddpm():
    # The same noise is drawn in the same order: the two update rules agree up to
    # float32 round-off, for a network that knows nothing.
    model = kgen.models.Diffusion(tiny_network(), timesteps=T, ema=None, seed=0)
    ddpm = model.generate(3, seed=6, sampler=DDPM())
    np.testing.assert_allclose(model.generate(3, seed=6, sampler=DDIM(steps=T, eta=1.0)),
                               ddpm, atol=1e-4)
    assert not np.allclose(model.generate(3, seed=6, sampler=DDPM(variance="beta")), ddpm)


def test_trajectory_goes_from_the_noise_to_the_sample(clean):
    model = perfect_model(clean, schedule="cosine")
    visited, frames = model.denoising_trajectory(4, seed=3, steps=6)
    assert list(visited) == [49, 39, 29, 20, 10, 0, -1] and frames.shape == (7, 4) + SHAPE
    np.testing.assert_allclose(frames[0], model.standard_normal((4,) + SHAPE, 3), atol=1e-6)
    np.testing.assert_allclose(frames[-1], model.generate(4, seed=3, steps=6), atol=1e-6)
    # Deterministic DDIM: x_t stays on the line between the data and the starting noise.
    errors = np.abs(frames - clean).mean(axis=(1, 2, 3, 4))
    assert np.all(np.diff(errors) < 0)


def test_sampling_steps_shows_the_chain_in_parts_and_ends_at_generate():
    model = kgen.models.Diffusion(tiny_network(), timesteps=T, ema=None, seed=0)
    parts = list(model.sampling_steps(3, seed=2, steps=6, every=4))
    visited, frames = model.denoising_trajectory(3, seed=2, steps=6)
    assert [t for t, _ in parts] == [int(visited[4]), -1] == [10, -1]
    np.testing.assert_allclose(parts[0][1], frames[4], atol=1e-5)
    np.testing.assert_allclose(parts[-1][1], model.generate(3, seed=2, steps=6), atol=1e-5)
    # A stochastic chain in parts of 7 steps draws the noise generate() draws.
    last = list(model.sampling_steps(3, seed=2, sampler="ddpm", every=7))
    assert len(last) == 8 and last[-1][0] == -1
    np.testing.assert_allclose(last[-1][1], model.generate(3, seed=2, sampler="ddpm"),
                               atol=1e-4)
    with pytest.raises(ValueError, match="in one call"):
        next(model.sampling_steps(3, seed=2, sampler="dpm++"))
    with pytest.raises(ValueError, match="every"):
        next(model.sampling_steps(3, every=0))


def test_inpainting_keeps_the_known_pixels(clean):
    # A predictor that knows other images than the known ones: the generated region
    # follows it, the known region stays what it was.
    model = perfect_model(-clean)
    mask = np.zeros(SHAPE, "float32")
    mask[:, :3] = 1.0
    for options in ({"steps": 5}, {"sampler": "ddpm"}, {"steps": 5, "eta": 1.0, "resample": 3}):
        out = model.generate(images=clean, mask=mask, seed=0, **options)
        np.testing.assert_array_equal(out[:, :, :3], clean[:, :, :3])
        np.testing.assert_allclose(out[:, :, 3:], -clean[:, :, 3:], atol=1e-4)
    # uint8 images are converted to data space; floats must already be in it.
    digits = np.round((clean + 1) * 127.5).astype("uint8")
    np.testing.assert_array_equal(model.generate(images=digits, mask=mask, seed=0, steps=5),
                                  model.generate(images=kgen.data.to_data_space(digits),
                                                 mask=mask, seed=0, steps=5))
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
        model.generate(images=clean * 3.0, mask=mask, seed=0)
    with pytest.raises(ValueError, match="both images= .* and mask="):
        model.generate(images=clean, seed=0)
    with pytest.raises(ValueError, match="only 0 .* and 1"):
        model.generate(images=clean, mask=mask * 0.5, seed=0)
    with pytest.raises(ValueError, match=r"images must have shape \(n,\) \+ \(8, 8, 1\)"):
        model.generate(images=np.zeros((2, 6, 6, 1), "float32"), mask=1, seed=0)
    with pytest.raises(ValueError, match="resample= is for inpainting"):
        model.generate(2, seed=0, resample=2)
