"""Mixed precision (`kgen.precision`): networks in bfloat16 or float16, everything the model
computes from them, its variables and its logs in float32; a loss scale per optimizer."""

import keras
import numpy as np
import pytest
from keras import ops

import kgen
from checks_catalogue import covers
from harness import tiny_gan, tiny_network, values
from kgen.cli import config as configs
from kgen.cli import train as train_command


@pytest.fixture(autouse=True)
def _float32_policy_after():
    """Every test leaves the Keras global dtype policy as the others expect it."""
    yield
    keras.config.set_dtype_policy("float32")


def _images(count):
    return kgen.data.to_data_space(kgen.data.load("digits")[:count])


def _dtype(x):
    return keras.backend.standardize_dtype(x.dtype)


def _logs_are_finite_float32(model):
    for tracker in model.log_trackers:
        result = tracker.result()
        assert _dtype(result) == "float32", tracker.name
        assert np.isfinite(float(result)), tracker.name


def _points_gan():
    """A GAN of small MLPs on 2-D points: quick to build and to compile."""
    return kgen.models.GAN.from_shape((2,), latent_dim=2, base_filters=8, gradient_penalty=None,
                                      ema=None, seed=0)


def _changed(before, after):
    return [not np.array_equal(a, b) for a, b in zip(before, after)]


def test_a_gan_built_under_the_global_policy_trains_in_bfloat16_with_float32_variables():
    keras.config.set_dtype_policy("mixed_bfloat16")
    gan = tiny_gan()
    keras.config.set_dtype_policy("float32")   # the networks keep the policy they were built in
    assert gan.precision == "mixed_bfloat16"
    assert {layer.compute_dtype for layer in gan.generator.layers if layer.weights} == {"bfloat16"}
    gan.compile()
    before = values(gan.trainable_variables)
    gan.fit(_images(16), batch_size=16, epochs=1, verbose=0)
    assert {_dtype(v) for v in gan.variables if _dtype(v).startswith(("float", "bfloat"))} \
        == {"float32"}
    assert all(_changed(before, values(gan.trainable_variables)))
    _logs_are_finite_float32(gan)
    samples = gan.generate(4, seed=0)
    assert samples.dtype == np.float32 and np.all(np.isfinite(samples))
    assert gan.get_compile_config()["precision"] == "mixed_bfloat16"


def test_compile_switches_a_float32_diffusion_model_to_bfloat16_schedule_and_samples_in_float32():
    model = kgen.models.Diffusion(tiny_network(), timesteps=20, schedule="cosine", seed=0)
    weights = values(model.network.weights)
    model.compile(precision="mixed_bfloat16")
    assert model.precision == "mixed_bfloat16"
    for network in (model.network, model.sampling_network):   # the moving average too
        convolutions = [l for l in network.layers if isinstance(l, keras.layers.Conv2D)]
        assert {l.compute_dtype for l in convolutions} == {"bfloat16"}
        assert {_dtype(l.kernel) for l in convolutions} == {"float32"}
    assert all(np.array_equal(a, b) for a, b in zip(weights, values(model.network.weights)))

    x = _images(16)
    t = np.array([3, 19], "int32")
    raw = model.network([ops.convert_to_tensor(x[:2]), model.network_timesteps(t)])
    assert _dtype(raw) == "bfloat16"
    assert _dtype(model.denoise(x[:2], t)) == "float32"
    half = ops.cast(x[:2], "bfloat16")
    assert _dtype(model.noise_schedule.q_sample(half, t, half)) == "float32"
    assert _dtype(model.noise_schedule.predict_start_from_noise(half, t, half)) == "float32"

    model.fit(x, batch_size=8, epochs=1, verbose=0)
    _logs_are_finite_float32(model)
    samples = model.generate(2, seed=0, steps=2)
    assert samples.dtype == np.float32 and np.all(np.isfinite(samples))


def test_float16_overflow_skips_that_update_lowers_its_scale_only_and_save_load_keeps_them(
        tmp_path):
    keras.config.set_dtype_policy("mixed_float16")
    gan = _points_gan()
    keras.config.set_dtype_policy("float32")
    # A loss scale of 2**100 makes the discriminator's float16 gradients overflow.
    huge = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(2e-4),
                                               initial_scale=2.0 ** 100)
    gan.compile(discriminator_optimizer=huge)
    d, g = gan.optimizer["discriminator"], gan.optimizer["generator"]
    assert d is huge and isinstance(g, keras.optimizers.LossScaleOptimizer)
    d_before = values(gan.discriminator.trainable_variables)
    g_before = values(gan.generator.trainable_variables)
    gan.fit(kgen.data.load("ring", num_samples=16), batch_size=16, epochs=1, verbose=0)

    assert float(d.dynamic_scale) == 2.0 ** 99            # lowered, and the update skipped
    assert not any(_changed(d_before, values(gan.discriminator.trainable_variables)))
    assert int(d.iterations) == 0
    assert float(g.dynamic_scale) == 2.0 ** 15            # its own scale, untouched
    assert all(_changed(g_before, values(gan.generator.trainable_variables)))
    assert int(g.iterations) == 1
    _logs_are_finite_float32(gan)

    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.precision == "mixed_float16"
    scales = {name: float(optimizer.dynamic_scale)
              for name, optimizer in loaded.optimizer.members.items()}
    assert scales == {"discriminator": 2.0 ** 99, "generator": 2.0 ** 15}
    for a, b in zip(values(loaded.variables), values(gan.variables)):
        np.testing.assert_array_equal(a, b)


@covers("compile-precision-unknown", "compile-precision-conflict",
        "compile-precision-reduced-variables", "cli-precision")
def test_bad_precisions_are_refused_clearly(capsys):
    gan = _points_gan()
    with pytest.raises(ValueError, match=r"precision must be one of \['float32', "
                                         r"'mixed_bfloat16', 'mixed_float16'\]; got 'fp16'"):
        gan.compile(precision="fp16")
    with pytest.raises(ValueError, match="use 'mixed_bfloat16'"):
        gan.compile(precision="bfloat16")
    with pytest.raises(TypeError, match="precision must be one of"):
        gan.compile(precision=16)

    keras.config.set_dtype_policy("mixed_bfloat16")
    mixed = _points_gan()
    keras.config.set_dtype_policy("float32")
    with pytest.raises(ValueError, match=r"compute in 'mixed_bfloat16' .* not 'mixed_float16'"
                                         r".*set_dtype_policy\('mixed_float16'\) before "
                                         r"from_shape\(\)"):
        mixed.compile(precision="mixed_float16")
    assert mixed.precision == "mixed_bfloat16"   # left as it was

    keras.config.set_dtype_policy("bfloat16")
    reduced = _points_gan()
    keras.config.set_dtype_policy("float32")
    with pytest.raises(ValueError, match="keeps its variables in bfloat16.*'mixed_bfloat16'"):
        reduced.compile()

    with pytest.raises(SystemExit, match=r"train.precision \(--precision\) must be one of"):
        configs.resolve({"family": "gan", "train": {"precision": "fp16"}})
    with pytest.raises(SystemExit):
        kgen.cli.main(["train", "gan", "--precision", "fp16"])
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


def test_the_command_line_compiles_in_the_precision_asked_with_plain_optimizer_configs():
    resolved = configs.resolve({"family": "gan", "train": {"precision": "mixed_float16"}})
    gan = tiny_gan()
    train_command.compile_model(gan, resolved, steps_per_epoch=1)
    assert gan.precision == "mixed_float16"
    assert isinstance(gan.optimizer["generator"], keras.optimizers.LossScaleOptimizer)
    assert train_command.optimizer_configs(gan)["generator"]["class_name"] == "Adam"


def test_a_dtype_given_to_from_shape_is_the_precision_compile_applies():
    gan = kgen.models.GAN.from_shape((2,), latent_dim=2, base_filters=8, dtype="mixed_float16")
    assert gan.precision == "float32"      # built in float32 ...
    gan.compile()
    assert gan.precision == "mixed_float16"   # ... and switched, with a loss scale each
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer)
               for o in gan.optimizer.members.values())
    assert {_dtype(v) for v in gan.trainable_variables} == {"float32"}
