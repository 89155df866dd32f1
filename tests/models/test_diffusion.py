"""Diffusion: the forward process, the parameterisations, training, guidance, saving."""

import keras
import numpy as np
import pytest

import kgen
from kgen.networks import SinusoidalEmbedding, diffusion_unet

from harness import tiny_network, values

SHAPE = (8, 8, 1)


def tiny_model(num_classes=None, **kwargs):
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("timesteps", 50)
    return kgen.models.Diffusion(tiny_network(num_classes), num_classes=num_classes, **kwargs)


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_unet_for_each_image_size():
    big = diffusion_unet((64, 64, 3), base_filters=8, channel_multipliers=(1, 1, 2, 2),
                         num_res_blocks=1)
    assert big.output_shape == (None, 64, 64, 3)
    attention = [layer.name for layer in big.layers if "attention" in layer.name]
    assert attention and all(name.startswith(("down3", "mid", "up3")) for name in attention)
    model = kgen.models.Diffusion.from_shape((8, 8, 1), num_classes=10, base_filters=8)
    net = model.network
    assert net.name == "diffusion_unet" and len(net.inputs) == 3
    kinds = {type(layer).__name__ for layer in net.layers}
    assert {"GroupNormalization", "MultiHeadAttention", "SinusoidalEmbedding"} <= kinds
    out = net([np.zeros((2, 8, 8, 1), "float32"), np.array([0.0, 999.0], "float32"),
               np.array([0, 10], "int32")])
    assert tuple(out.shape) == (2, 8, 8, 1)
    with pytest.raises(ValueError, match="divisible by 4"):
        diffusion_unet((10, 10, 1), channel_multipliers=(1, 2, 2))
    with pytest.raises(ValueError, match="multiple of groups"):
        diffusion_unet((8, 8, 1), base_filters=12)


def test_q_sample_at_the_ends_of_the_chain(digits):
    model = tiny_model(timesteps=1000)
    x0 = kgen.data.to_data_space(digits[:256])
    noise = np.random.default_rng(0).standard_normal(x0.shape).astype("float32")
    n = len(x0)
    # t = 0: the data, up to sqrt(beta_0) = 0.01 of noise.
    start = to_numpy(model.q_sample(x0, np.zeros(n, "int32"), noise))
    np.testing.assert_allclose(start, np.sqrt(1 - 1e-4) * x0 + 0.01 * noise, atol=1e-6)
    assert np.abs(start - x0).max() < 0.01 * np.abs(noise).max() + 1e-4
    # t = T - 1: alpha_bar ~ 4e-5, x_t ~ N(0, 1). With N = 16384 values the sample mean
    # has standard error 1/sqrt(N) = 0.008 and the sample variance sqrt(2/N) = 0.011:
    # the tolerances are 5 standard errors (plus the signal's 0.0064 * |x0| left).
    end = to_numpy(model.q_sample(x0, np.full(n, 999, "int32"), noise))
    assert abs(end.mean()) < 5 / np.sqrt(end.size) + 0.0064
    assert abs(end.var() - 1.0) < 5 * np.sqrt(2 / end.size) + 0.0064


def test_q_posterior_matches_the_closed_form():
    model = tiny_model(timesteps=100)
    beta = np.linspace(1e-3, 0.2, 100)   # the linear schedule scaled to T = 100
    alpha_bar = np.cumprod(1 - beta)
    rng = np.random.default_rng(1)
    x0, x_t = rng.standard_normal((2, 5) + SHAPE).astype("float32")
    t = np.array([1, 2, 30, 70, 99])
    mean, variance, log_variance = (to_numpy(v) for v in model.q_posterior(x0, x_t, t))
    c0 = beta[t] * np.sqrt(alpha_bar[t - 1]) / (1 - alpha_bar[t])
    ct = (1 - alpha_bar[t - 1]) * np.sqrt(1 - beta[t]) / (1 - alpha_bar[t])
    var = beta[t] * (1 - alpha_bar[t - 1]) / (1 - alpha_bar[t])
    b = (slice(None),) + (None,) * 3
    np.testing.assert_allclose(mean, c0[b] * x0 + ct[b] * x_t, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(variance.ravel(), var, rtol=1e-5)
    np.testing.assert_allclose(log_variance.ravel(), np.log(var), rtol=1e-5)
    # At t = 0 the posterior is the data itself.
    mean0, var0, _ = model.q_posterior(x0, x_t, np.zeros(5, "int32"))
    np.testing.assert_allclose(to_numpy(mean0), x0, atol=1e-6)
    assert to_numpy(var0).max() == 0.0


def test_parameterisations_round_trip():
    rng = np.random.default_rng(2)
    x0 = np.clip(rng.standard_normal((4,) + SHAPE), -1, 1).astype("float32")
    noise = rng.standard_normal((4,) + SHAPE).astype("float32")
    t = np.array([0, 5, 30, 49])
    for prediction in ("epsilon", "x0", "v"):
        model = tiny_model(prediction=prediction, ema=None)
        x_t = model.q_sample(x0, t, noise)
        eps, start = model.noise_schedule.noise_and_start(
            prediction, model.target(x0, t, noise), x_t, t)
        np.testing.assert_allclose(to_numpy(eps), noise, atol=2e-4, err_msg=prediction)
        np.testing.assert_allclose(to_numpy(start), x0, atol=2e-4, err_msg=prediction)
    v = model.predict_v(x0, t, noise)
    np.testing.assert_allclose(to_numpy(model.predict_start_from_v(x_t, t, v)), x0, atol=1e-5)
    np.testing.assert_allclose(to_numpy(model.predict_noise_from_v(x_t, t, v)), noise, atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(model.predict_noise_from_start(x_t, t, x0)), noise, atol=2e-4)
    np.testing.assert_allclose(
        to_numpy(model.predict_start_from_noise(x_t, t, noise)), x0, atol=2e-4)


def test_the_model_and_its_samplers_share_one_noise_schedule():
    model = tiny_model(schedule="cosine", timesteps=40)
    schedule = model.noise_schedule
    assert isinstance(schedule, kgen.samplers.NoiseSchedule) and schedule.num_timesteps == 40
    assert model.betas is schedule.betas and model.alphas_cumprod is schedule.alphas_cumprod
    np.testing.assert_array_equal(model.betas, kgen.samplers.schedules.cosine_betas(40))
    rng = np.random.default_rng(4)
    x0, noise = rng.standard_normal((2, 3) + SHAPE).astype("float32")
    t = np.array([0, 20, 39])
    np.testing.assert_array_equal(to_numpy(model.q_sample(x0, t, noise)),
                                  to_numpy(schedule.q_sample(x0, t, noise)))
    # The network's output is read as the prediction in one place, for training and sampling.
    x_t = schedule.q_sample(x0, t, noise)
    eps, start = model.model_predictions(x_t, t)
    expected = schedule.noise_and_start("epsilon", model.denoise(x_t, t), x_t, t)
    np.testing.assert_allclose(to_numpy(eps), to_numpy(expected[0]), atol=1e-6)
    np.testing.assert_allclose(to_numpy(start), to_numpy(expected[1]), atol=1e-6)
    # The sampler walks the same schedule, respaced to the timesteps it visits.
    chain = kgen.samplers.DDIM(steps=4).chain(schedule)
    np.testing.assert_array_equal(chain.alphas_cumprod,
                                  model.alphas_cumprod[chain.chain_timesteps])


def test_training_lowers_the_loss_and_saving_keeps_the_average(digits, tmp_path):
    model = tiny_model(ema=0.9, loss_weighting="min_snr")
    x = kgen.data.to_data_space(digits[:64])
    rng = np.random.default_rng(3)
    t = np.arange(64) % 50
    noise = rng.standard_normal(x.shape).astype("float32")

    def fixed_loss():
        return float(to_numpy(model.p_losses(x, t, noise)))

    before = fixed_loss()
    initial = values(model.network.weights)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x, batch_size=16, epochs=6, shuffle=False, verbose=0).history
    after = fixed_loss()
    assert len(history["loss"]) == 6 and np.all(np.isfinite(history["loss"]))
    assert after < 0.7 * before, (before, after)
    # The moving average trails the trained weights; with the warm-up (decay
    # min(0.9, (1 + n) / (10 + n)) at step n) it has left the initial weights behind.
    trained, average = values(model.network.weights), values(model.ema_network.weights)
    assert not all(np.allclose(a, b) for a, b in zip(trained, average))
    def distance(a, b):
        return sum(float(np.sum((u - v) ** 2)) for u, v in zip(a, b))

    assert model.ema_warmup and distance(average, trained) < distance(average, initial)

    samples = model.generate(3, seed=5, steps=4)
    path = str(tmp_path / "diffusion.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kgen.models.Diffusion) and loaded.ema == 0.9
    assert loaded.loss_weighting == "min_snr" and loaded.timesteps == 50
    for a, b in zip(average, values(loaded.ema_network.weights)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.generate(3, seed=5, steps=4), samples, atol=1e-6)


def test_same_seed_same_samples_and_other_seed_other_samples():
    model = tiny_model()
    for options in ({"steps": 4}, {"steps": 4, "eta": 1.0}):
        first = model.generate(3, seed=1, **options)
        np.testing.assert_array_equal(first, model.generate(3, seed=1, **options))
        assert not np.allclose(first, model.generate(3, seed=2, **options))
    # eta = 1 draws fresh noise at each step: from the same start, other samples.
    assert not np.allclose(model.generate(3, seed=1, steps=4),
                           model.generate(3, seed=1, steps=4, eta=1.0))


def test_class_conditional_training_and_guidance(digits):
    x, y = kgen.data.load("digits", return_labels=True)
    model = tiny_model(num_classes=10, label_dropout=0.2)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(kgen.data.to_data_space(x[:64]), y[:64], batch_size=32, epochs=1,
                        verbose=0).history
    assert np.isfinite(history["loss"][0])
    labels = [0, 3, 7]
    # w = 0 is the unconditional model (the null label), exactly.
    unconditional = model.generate(3, seed=4, steps=4)
    np.testing.assert_array_equal(
        model.generate(seed=4, steps=4, labels=labels, guidance_scale=0.0), unconditional)
    conditional = model.generate(seed=4, steps=4, labels=labels)
    np.testing.assert_array_equal(
        model.generate(seed=4, steps=4, labels=labels, guidance_scale=1.0), conditional)
    guided = model.generate(seed=4, steps=4, labels=labels, guidance_scale=3.0)
    assert not np.allclose(guided, conditional) and not np.allclose(conditional, unconditional)
    with pytest.raises(ValueError, match="guidance_scale= needs labels="):
        model.generate(3, seed=0, guidance_scale=2.0)
    with pytest.raises(ValueError, match=r"class indices in 0..9"):
        model.generate(seed=0, labels=[3, 10])
    with pytest.raises(ValueError, match="train it on \\(images, labels\\)"):
        model.fit(kgen.data.to_data_space(x[:8]), epochs=1, verbose=0)


def test_labels_have_the_package_semantics(digits):
    x, y = kgen.data.load("digits", return_labels=True)
    model = tiny_model(num_classes=10)
    ints = model.generate(seed=2, steps=3, labels=[0, 7, 3])
    # (n, 1) labels and whole-number floats are the same labels.
    np.testing.assert_array_equal(
        model.generate(seed=2, steps=3, labels=np.array([[0], [7], [3]])), ints)
    np.testing.assert_array_equal(
        model.generate(seed=2, steps=3, labels=np.array([0.0, 7.0, 3.0])), ints)
    np.testing.assert_array_equal(model.generate(3, seed=2, steps=3, labels=7),
                                  model.generate(seed=2, steps=3, labels=[7, 7, 7]))
    with pytest.raises(TypeError, match="not whole numbers"):
        model.generate(seed=2, steps=3, labels=[0.5, 7, 3])
    with pytest.raises(ValueError, match="One-hot"):
        model.generate(seed=2, steps=3, labels=np.eye(10)[[0, 7, 3]])
    with pytest.raises(ValueError, match="One-hot"):
        model.fit(kgen.data.to_data_space(x[:8]), np.eye(10)[y[:8]], epochs=1, verbose=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(kgen.data.to_data_space(x[:32]), y[:32, None].astype("float32"),
                        batch_size=16, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])


def test_bad_inputs_give_clear_errors(digits):
    model = tiny_model()
    x = kgen.data.to_data_space(digits[:8])
    with pytest.raises(ValueError, match=r"images of shape \(8, 8, 1\)"):
        model.fit(np.zeros((8, 16, 16, 1), "float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="model is unconditional"):
        model.fit(x, np.zeros(8, "int32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="model is unconditional"):
        model.generate(2, seed=0, labels=1)
    with pytest.raises(ValueError, match="at most as many steps"):
        model.generate(2, seed=0, steps=51)
    with pytest.raises(ValueError, match="DDPM sampler visits every timestep"):
        model.generate(2, seed=0, sampler="ddpm", steps=10)
    with pytest.raises(ValueError, match="Unknown prediction"):
        tiny_model(prediction="score")
    with pytest.raises(ValueError, match="Unknown schedule"):
        tiny_model(schedule="quadratic")
    with pytest.raises(TypeError, match="timesteps must be an integer"):
        tiny_model(timesteps=50.0)
    with pytest.raises(ValueError, match="label_dropout must be a number in"):
        tiny_model(num_classes=10, label_dropout=1.0)
    with pytest.raises(TypeError, match="resample must be an integer"):
        model.generate(2, seed=0, resample=1.5)
    with pytest.raises(TypeError, match="guidance_scale must be a number"):
        model.generate(2, seed=0, guidance_scale="2")
    with pytest.raises(ValueError, match="needs Diffusion\\(num_classes"):
        kgen.models.Diffusion(tiny_network(num_classes=10))
    with pytest.raises(ValueError, match="network that takes labels"):
        kgen.models.Diffusion(tiny_network(), num_classes=10)
