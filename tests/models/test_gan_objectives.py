"""GAN training options: adversarial losses, gradient penalties, critic steps, spectral norm,
EMA, conditional GAN."""

import pathlib

import keras
import numpy as np
import pytest
from keras import ops

import kgen
from kgen import backend, losses
from kgen.models.gan import OBJECTIVES
from kgen.networks import SpectralNormalization, mlp

from harness import values


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def ring(n=256):
    return kgen.data.load("ring", num_samples=n, seed=0)


# ------------------------------------------------------ defaults per objective
GAN_PAGE = pathlib.Path(__file__).parents[2] / "docs" / "models" / "gan.md"
#: A GAN of each row of OBJECTIVES: from_shape options.
ROW_OPTIONS = {"default": {"loss": "hinge"}, "wasserstein": {"loss": "wasserstein"},
               "spectral_norm": {"loss": "least_squares", "spectral_norm": True}}


def _documented_defaults():
    """``(samples, row) -> cells`` of the table of defaults on the GAN page."""
    rows = {}
    for line in GAN_PAGE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0] in ("images", "vectors"):
            rows[(cells[0], cells[1].strip("`"))] = cells
    return rows


def _as_documented(defaults):
    weight, kind = defaults["penalty_weight"], defaults["gradient_penalty"]
    penalty = "none" if kind is None else (
        f"R1, γ = {weight:g}" if kind == "r1" else f"WGAN-GP, λ = {weight:g}")
    rate, beta_1, beta_2 = defaults["adam"]
    return [penalty, str(defaults["discriminator_steps"]),
            "none" if defaults["ema"] is None else str(defaults["ema"]),
            f"{rate:.0e}".replace("e-0", "e-") + f", {beta_1}, {beta_2}"]


@pytest.mark.parametrize("samples", ["images", "vectors"])
def test_each_objective_trains_with_the_documented_defaults(samples):
    """Every row of OBJECTIVES is the GAN page's row, and a GAN of that objective,
    from_shape or from its own networks, gets it: penalty, critic steps, EMA and the
    Adam of compile()."""
    documented = _documented_defaults()
    shape = (2,) if samples == "vectors" else (8, 8, 1)
    for row, options in ROW_OPTIONS.items():
        expected = OBJECTIVES[samples][row]
        assert documented[(samples, row)][3:7] == _as_documented(expected), row
        built = kgen.models.GAN.from_shape(shape, base_filters=4, latent_dim=4, **options)
        own = kgen.models.GAN(built.generator, built.discriminator, loss=options["loss"])
        for gan in (built, own):
            weight = gan.penalty_weight
            assert (gan.gradient_penalty, weight, gan.discriminator_steps, gan.ema) == (
                expected["gradient_penalty"], expected["penalty_weight"],
                expected["discriminator_steps"], expected["ema"]), row
            gan.compile()
            for optimizer in (gan.optimizer["generator"], gan.optimizer["discriminator"]):
                assert isinstance(optimizer, keras.optimizers.Adam)
                got = (float(ops.convert_to_numpy(optimizer.learning_rate)),
                       optimizer.beta_1, optimizer.beta_2)
                assert got == pytest.approx(expected["adam"]), row
    # The non-saturating loss of a network with Keras's own spectral normalisation.
    keras_sn = keras.Sequential([keras.Input(shape), keras.layers.Flatten(),
                                 keras.layers.SpectralNormalization(keras.layers.Dense(1))])
    gan = kgen.models.GAN(built.generator, keras_sn)
    assert gan.discriminator_steps == OBJECTIVES[samples]["spectral_norm"][
        "discriminator_steps"] and gan.gradient_penalty is None


# ------------------------------------------------------------ GAN losses
@pytest.mark.parametrize("loss", ["hinge", "wasserstein", "least_squares"])
def test_each_loss_trains_the_discriminator_and_logs_finite_values(loss):
    gan = kgen.models.GAN.from_shape((2,), latent_dim=4, base_filters=16, loss=loss,
                                     gradient_penalty=None, seed=0)
    assert gan.adversarial_loss.name == loss
    # Generator frozen: the discriminator's loss goes down as it learns to separate the
    # ring from the generator's blob.
    gan.compile(generator_optimizer=keras.optimizers.SGD(0.0),
                discriminator_optimizer=keras.optimizers.Adam(3e-3))
    history = gan.fit(ring(), batch_size=64, epochs=4, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", "real_accuracy", "fake_accuracy"}
    for key, series in history.items():
        assert np.all(np.isfinite(series)), key
    assert history["d_loss"][-1] < history["d_loss"][0] - 0.05
    if loss != "wasserstein":  # hinge and squares are non-negative
        assert min(history["d_loss"]) >= 0.0


# -------------------------------------------------------- input gradients
def _tanh_critic():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="tanh", name="critic_hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="critic_out")(hidden),
                       name="discriminator")


@pytest.mark.parametrize("penalty", ["wgan-gp", "r1"])
def test_gan_penalty_is_the_penalty_of_the_critic_input_gradients(penalty):
    """GAN.penalty: WGAN-GP at interpolates whose weights come from the model's seed
    generator, R1 at the real samples, each computed with `backend.input_gradient`."""
    critic = _tanh_critic()
    gan = kgen.models.GAN(mlp(2, 3, (), name="generator"), critic, seed=5,
                          gradient_penalty=penalty, penalty_weight=3.0)
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(2, 6, 3)).astype("float32")
    # A generator in the model's seed state draws the model's interpolation weights.
    before = numpy(gan.seed_generator.state).copy()
    twin = keras.random.SeedGenerator(seed=5)
    twin.state.assign(before)
    got = float(numpy(gan.penalty(real, fake)))
    after = numpy(gan.seed_generator.state)
    if penalty == "wgan-gp":
        eps = keras.random.uniform((6, 1), seed=twin)
        points = losses.interpolate(real, fake, eps)
        expected = losses.wgan_gradient_penalty(backend.input_gradient(critic, points), 3.0)
        # The draw advanced the model's seed state: the next penalty uses new weights.
        assert not np.array_equal(after, before)
        assert float(numpy(gan.penalty(real, fake))) != pytest.approx(got, rel=1e-6)
    else:
        expected = losses.r1_penalty(backend.input_gradient(critic, real), 3.0)
        np.testing.assert_array_equal(after, before)   # R1 draws no noise
        assert float(numpy(gan.penalty(real, fake))) == got
    assert got == float(numpy(expected))
    assert got > 0.0


def test_input_gradient_rejects_integer_inputs():
    with pytest.raises(TypeError, match="float input"):
        backend.input_gradient(lambda t: t, np.arange(3))


class _NoAdversarialLoss(losses.AdversarialLoss):
    """Wasserstein-like objective with zero weight: only the penalty moves the critic."""

    name = "none"

    def discriminator_loss(self, real, fake):
        return 0.0 * (ops.mean(real) + ops.mean(fake))

    def generator_loss(self, fake):
        return -ops.mean(fake)


@pytest.mark.parametrize("penalty", [None, "r1", "wgan-gp"])
def test_penalised_critic_steps_inside_fit_follow_the_closed_form(penalty):
    """A linear critic trained by SGD on the penalty alone, 3 critic updates per step.

    Inside the step, each critic update must see the kernel the previous one wrote
    (on JAX: the traced value, also inside the nested input-gradient transform), and
    the gradient of the penalty must reach the kernel (second order).
    """
    w0, lr, weight, steps, critic_steps = np.array([0.6, -1.2]), 0.05, 2.0, 2, 3
    inputs = keras.Input((2,))
    critic = keras.Model(inputs, keras.layers.Dense(1, name="critic_out")(inputs),
                         name="discriminator")
    critic.set_weights([w0[:, None].astype("float32"), np.zeros(1, "float32")])
    generator = mlp(2, 2, (), name="generator")
    gan = kgen.models.GAN(generator, critic, loss=_NoAdversarialLoss(), seed=0,
                          gradient_penalty=penalty,
                          penalty_weight=None if penalty is None else weight,
                          discriminator_steps=critic_steps)
    assert ("gp" in gan.log_names) == (penalty is not None)
    gan.compile(discriminator_optimizer=keras.optimizers.SGD(lr),
                generator_optimizer=keras.optimizers.SGD(0.0))
    history = gan.fit(ring(8 * steps), batch_size=8, epochs=1, verbose=0).history

    w, penalties = w0.copy(), []
    for _ in range(steps * critic_steps):
        norm = np.linalg.norm(w)
        if penalty == "r1":
            penalties.append(0.5 * weight * norm**2)
            grad = weight * w
        elif penalty == "wgan-gp":
            penalties.append(weight * (norm - 1) ** 2)
            grad = 2 * weight * (norm - 1) * w / norm
        else:
            grad = 0 * w
        w = w - lr * grad
    kernel = numpy(critic.trainable_variables[0])[:, 0]
    np.testing.assert_allclose(kernel, w, rtol=1e-5, atol=1e-7)
    if penalty is None:
        np.testing.assert_array_equal(kernel, w0.astype("float32"))
    else:
        assert not np.allclose(kernel, w0)
        # The logged gp averages the 3 critic updates of each step, then the steps.
        assert history["gp"][0] == pytest.approx(np.mean(penalties), rel=1e-4)
        result = gan.evaluate(ring(8), batch_size=8, verbose=0, return_dict=True)
        norm = np.linalg.norm(w)
        final = 0.5 * weight * norm**2 if penalty == "r1" else weight * (norm - 1) ** 2
        assert result["gp"] == pytest.approx(final, rel=1e-4)
    # discriminator_steps=3: three critic updates per generator update.
    assert int(numpy(gan.optimizer["discriminator"].iterations)) == steps * critic_steps
    assert int(numpy(gan.optimizer["generator"].iterations)) == steps


def test_update_repeat_must_be_a_positive_integer():
    assert kgen.models.Update("discriminator", None, [], repeat=5).repeat == 5
    with pytest.raises(ValueError, match="repeat must be a positive integer"):
        kgen.models.Update("discriminator", None, [], repeat=0)


def test_gan_option_errors():
    generator, critic = mlp(2, 2, (4,), name="generator"), mlp(2, 1, (4,), name="discriminator")
    with pytest.raises(ValueError, match="Unknown gradient_penalty"):
        kgen.models.GAN(generator, critic, gradient_penalty="gp")
    with pytest.raises(ValueError, match="discriminator_steps must be an integer of at least 1"):
        kgen.models.GAN(generator, critic, discriminator_steps=0)
    with pytest.raises(ValueError, match="gradient_penalty is None"):
        kgen.models.GAN(generator, critic, gradient_penalty=None, penalty_weight=5.0)
    with pytest.raises(ValueError, match="EMA decay"):
        kgen.models.GAN(generator, critic, ema=1.0)
    gan = kgen.models.GAN(generator, critic, gradient_penalty="wgan-gp")
    assert gan.resolved_penalty_weight == 10.0


# -------------------------------------------------------- spectral norm
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_spectral_normalization_layer_uses_w_over_sigma_and_keeps_the_raw_kernel(kind):
    rng = np.random.default_rng(0)
    if kind == "dense":
        inner, x = keras.layers.Dense(5), rng.normal(size=(4, 6))
    else:
        inner, x = keras.layers.Conv2D(4, 3), rng.normal(size=(2, 5, 5, 3))
    x = x.astype("float32")
    layer = SpectralNormalization(inner, power_iterations=1)
    layer(x)
    raw = numpy(inner.kernel).copy()
    for _ in range(30):
        layer(x, training=True)
    np.testing.assert_array_equal(numpy(inner.kernel), raw)  # never assigned
    normalized = numpy(layer.normalized_kernel())
    matrix = raw.reshape(-1, raw.shape[-1])  # one column per output unit
    sigma = np.linalg.svd(matrix, compute_uv=False)[0]
    np.testing.assert_allclose(normalized, raw / sigma, rtol=1e-3)
    assert np.linalg.svd(matrix / sigma, compute_uv=False)[0] == pytest.approx(1.0)
    # Inference runs the wrapped layer with W / sigma.
    reference = keras.layers.Conv2D(4, 3) if kind == "conv" else keras.layers.Dense(5)
    reference.build(x.shape)
    reference.set_weights([normalized, numpy(inner.bias)])
    np.testing.assert_allclose(numpy(layer(x)), numpy(reference(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="power_iterations"):
        SpectralNormalization(keras.layers.Dense(2), power_iterations=0)


def test_spectral_norm_discriminator_trains_updates_u_and_round_trips(tmp_path):
    # One critic step per generator step, as in SN-GAN's setting C (the vectors' default
    # is 5): the step size and number of updates the tolerance below was set for.
    gan = kgen.models.GAN.from_shape((2,), latent_dim=4, base_filters=16, loss="hinge",
                                     spectral_norm=True, discriminator_steps=1, seed=0)
    wrapped = [layer for layer in gan.discriminator.layers
               if isinstance(layer, SpectralNormalization)]
    assert len(wrapped) == 4  # 3 hidden layers and the logit
    assert not [layer for layer in gan.generator.layers if isinstance(layer, SpectralNormalization)]
    # SN-GAN's step size (Miyato et al.: Adam 2e-4): one power iteration per step tracks
    # the top singular vector of a kernel that moves this slowly (with the vector default
    # of 1e-3, sigma lagged by 3% after 32 steps on TensorFlow).
    gan.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    before = values([layer.vector_u for layer in wrapped])
    history = gan.fit(ring(512), batch_size=32, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["d_loss"]))
    after = values([layer.vector_u for layer in wrapped])
    assert all(not np.allclose(a, b) for a, b in zip(before, after))
    for layer in wrapped:  # u has converged: the weight in use has spectral norm ~1
        sigma = np.linalg.svd(numpy(layer.normalized_kernel()), compute_uv=False)[0]
        assert sigma == pytest.approx(1.0, abs=0.01)
    path = str(tmp_path / "sngan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    x = ring(8)
    np.testing.assert_allclose(numpy(loaded.discriminator(x)), numpy(gan.discriminator(x)),
                               rtol=1e-5, atol=1e-6)


def test_spectral_norm_dcgan_discriminator():
    critic = kgen.networks.dcgan_discriminator((8, 8, 1), base_filters=4, spectral_norm=True)
    kinds = [type(layer).__name__ for layer in critic.layers]
    assert kinds.count("SpectralNormalization") == 3 and "BatchNormalization" not in kinds
    with pytest.raises(ValueError, match="replaces batch normalisation"):
        kgen.networks.dcgan_discriminator((8, 8, 1), batch_norm=True, spectral_norm=True)


# ----------------------------------------------------------------- EMA
@pytest.mark.parametrize("warmup", [False, True])
def test_ema_generator_averages_the_weights_is_sampled_and_saved(tmp_path, warmup):
    decay = 0.75
    gan = kgen.models.GAN.from_shape((2,), latent_dim=4, base_filters=16, ema=decay,
                                     ema_warmup=warmup, seed=0)
    assert gan.ema_generator is not None and gan.sampling_generator is gan.ema_generator
    assert not gan.ema_generator.trainable_weights  # non-trainable: state, not optimised
    gan.compile(generator_optimizer=keras.optimizers.Adam(1e-2))
    shadows = values(gan.ema_generator.weights)
    raw = values(gan.generator.weights)
    for a, b in zip(shadows, raw):
        np.testing.assert_array_equal(a, b)
    points = ring(64)
    for step in range(2):  # one step per fit: s <- d * s + (1 - d) * w
        gan.fit(points, batch_size=64, epochs=1, verbose=0, shuffle=False)
        raw = values(gan.generator.weights)
        # With warmup, step n uses d = min(decay, (1 + n) / (10 + n)): 0.1, then 2 / 11.
        d = min(decay, (1 + step) / (10 + step)) if warmup else decay
        shadows = [d * s + (1 - d) * w for s, w in zip(shadows, raw)]
        for got, expected in zip(values(gan.ema_generator.weights), shadows):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(s, w) for s, w in zip(shadows, raw))

    z = gan.sample_latents(16, seed=3)
    samples = gan.generate(16, seed=3)
    np.testing.assert_allclose(samples, numpy(gan.ema_generator(z)), rtol=1e-5, atol=1e-6)
    assert not np.allclose(samples, numpy(gan.generator(z)))

    path = str(tmp_path / "ema.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.ema == decay
    for a, b in zip(values(loaded.ema_generator.weights), values(gan.ema_generator.weights)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(values(loaded.generator.weights), values(gan.generator.weights)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.generate(16, seed=3), samples, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------- conditional GAN
def test_conditional_gan_generates_the_requested_labels_and_round_trips(tmp_path):
    x, y = kgen.data.load("digits", return_labels=True)
    cgan = kgen.models.ConditionalGAN.from_shape((8, 8, 1), num_classes=10, latent_dim=16,
                                                 base_filters=8, seed=0)
    cgan.compile()
    history = cgan.fit(kgen.data.images(x[:128], batch_size=64, labels=y[:128], seed=0),
                       epochs=1, verbose=0).history
    assert np.all(np.isfinite(history["d_loss"])) and np.all(np.isfinite(history["g_loss"]))

    threes, threes_again, fives = (cgan.generate(6, labels=label, seed=0) for label in (3, 3, 5))
    assert threes.shape == (6, 8, 8, 1)
    np.testing.assert_array_equal(threes, threes_again)
    assert not np.allclose(threes, fives)  # same latents, another label
    mixed = cgan.generate(labels=[3, 5, 3, 5, 3, 5], seed=0)
    np.testing.assert_allclose(mixed[0::2], threes[0::2], atol=1e-6)
    np.testing.assert_allclose(mixed[1::2], fives[1::2], atol=1e-6)
    random_labels = cgan.generate(6, seed=1)
    np.testing.assert_array_equal(random_labels, cgan.generate(6, seed=1))

    with pytest.raises(ValueError, match=r"class indices in 0\.\.9"):
        cgan.generate(2, labels=10)
    with pytest.raises(ValueError, match=r"class indices in 0\.\.9"):
        cgan.generate(labels=[-1, 2])
    with pytest.raises(ValueError, match="2 labels for 3 samples"):
        cgan.generate(3, labels=[1, 2])
    with pytest.raises(ValueError, match=r"class indices in 0\.\.9"):
        cgan.fit(kgen.data.to_data_space(x[:8]), np.full(8, 12), verbose=0)

    path = str(tmp_path / "cgan.keras")
    cgan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kgen.models.ConditionalGAN) and loaded.num_classes == 10
    np.testing.assert_allclose(loaded.generate(labels=[3, 5, 3, 5, 3, 5], seed=0), mixed,
                               atol=1e-6)


def test_conditional_gan_learns_the_class_conditional_distributions():
    # Class 0 lives at x = -1, class 1 at x = +1: a trained generator puts each class's
    # samples on its own side, with the labels as its only clue.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=1024)
    points = np.stack([2.0 * labels - 1.0, np.zeros(1024)], axis=1)
    points = (points + 0.1 * rng.normal(size=points.shape)).astype("float32")
    cgan = kgen.models.ConditionalGAN.from_shape((2,), num_classes=2, latent_dim=4,
                                                 base_filters=32, discriminator="concat",
                                                 seed=0)
    cgan.compile(generator_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5),
                 discriminator_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5))
    cgan.fit(points, labels, batch_size=64, epochs=10, verbose=0)
    left = cgan.generate(256, labels=0, seed=0)[:, 0]
    right = cgan.generate(256, labels=1, seed=0)[:, 0]
    assert np.mean(left < 0) > 0.8 and np.mean(right > 0) > 0.8
    with pytest.raises(ValueError, match="trains on \\(samples, labels\\) pairs"):
        cgan.fit(points, batch_size=64, epochs=1, verbose=0)
