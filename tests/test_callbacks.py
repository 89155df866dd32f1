"""Callbacks: NaN guard, safe checkpoints, sample grids, and the checks of their options."""

import os

import keras
import numpy as np
import pytest
from keras import ops
from PIL import Image

import kgen
from kgen.models import GenerativeModel, Update

from checks_catalogue import covers
from harness import tiny_gan


@keras.saving.register_keras_serializable(package="kgen_tests")
class Diverges(GenerativeModel):
    """loss = log(w) with SGD(1): w = 1.5 -> 0.833 -> -0.367, so the third step is NaN."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = self.add_weight(shape=(), initializer=keras.initializers.Constant(1.5), name="w")
        self.built = True

    def log_loss(self, x, y=None, training=True):
        loss = ops.log(self.w) + 0.0 * ops.sum(x)
        return loss, {"loss": loss}

    def training_updates(self):
        return [Update("model", self.log_loss, [self.w])]


def test_nan_stops_training_and_the_last_good_checkpoint_survives(tmp_path):
    model = Diverges()
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    path = tmp_path / "model.keras"
    stop, saver = kgen.callbacks.StopOnNaN(), kgen.callbacks.Checkpoint(path, verbose=0)
    history = model.fit(np.zeros((4, 1), "float32"), batch_size=4, epochs=10, verbose=0,
                        callbacks=[stop, saver]).history
    assert len(history["loss"]) == 3  # stopped in the third epoch, not the tenth
    assert stop.stopped[0] == 2 and stop.stopped[2] == "loss"
    assert saver.last_saved_epoch == 2
    restored = keras.saving.load_model(path)
    assert np.isfinite(float(ops.convert_to_numpy(restored.w)))
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp.keras")]


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    gan = tiny_gan()
    gan.compile()
    path = tmp_path / "gan.keras"
    kgen.callbacks.save_model_atomically(gan, path)
    original = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(gan, "save", broken_save)
    try:
        kgen.callbacks.save_model_atomically(gan, path)
    except OSError:
        pass
    assert path.read_bytes() == original  # the old checkpoint is untouched
    assert sorted(os.listdir(tmp_path)) == ["gan.keras"]


def test_sample_grid_writes_a_png_per_period(tmp_path, digits_small):
    gan = tiny_gan()
    gan.compile()
    pattern = str(tmp_path / "samples_{epoch}.png")
    gan.fit(digits_small, batch_size=64, epochs=2, verbose=0,
            callbacks=[kgen.callbacks.SampleGrid(pattern, num_samples=16, every_n_epochs=1)])
    for epoch in (1, 2):
        with Image.open(pattern.format(epoch=epoch)) as picture:
            assert picture.size[0] >= 4 * 8 * 4  # 4 columns of upscaled 8x8 tiles
    assert not np.allclose(
        np.asarray(Image.open(pattern.format(epoch=1))),
        np.asarray(Image.open(pattern.format(epoch=2))),
    )


def test_callback_options_are_checked(tmp_path):
    path = tmp_path / "model.keras"
    with pytest.raises(ValueError, match="every_n_epochs must be an integer of at least 1"):
        kgen.callbacks.Checkpoint(path, every_n_epochs=0)
    with pytest.raises(TypeError, match="every_n_epochs must be an integer"):
        kgen.callbacks.Checkpoint(path, every_n_epochs=1.5)   # not silently rounded down
    with pytest.raises(ValueError, match="num_samples must be an integer of at least 1"):
        kgen.callbacks.SampleGrid(str(tmp_path / "s.png"), num_samples=0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        kgen.callbacks.SampleGrid(str(tmp_path / "s.png"), seed=-1)
    with pytest.raises(TypeError, match="every_n_steps must be an integer"):
        kgen.callbacks.PSNR(np.zeros((8, 8, 3), "uint8"), every_n_steps="5")
    with pytest.raises(ValueError, match="every_n_steps must be an integer of at least 1"):
        kgen.callbacks.PSNR(np.zeros((8, 8, 3), "uint8"), every_n_steps=0)
    assert kgen.callbacks.PSNR(np.zeros((8, 8, 3), "uint8")).every_n_steps is None
    assert kgen.callbacks.Checkpoint(path, every_n_epochs=np.int64(3)).every_n_epochs == 3


# ------------------------------------------------------------ never poisoned
@keras.saving.register_keras_serializable(package="kgen_tests")
class SqrtStep(GenerativeModel):
    """loss = sqrt(w) with SGD(2): w = 1 -> 0 (epoch 1), then the gradient at 0 is infinite,
    so epoch 2 logs the finite loss sqrt(0) = 0 and leaves w = -inf."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = self.add_weight(shape=(), initializer="ones", name="w")
        self.built = True

    def sqrt_loss(self, x, y=None, training=True):
        loss = ops.sqrt(self.w) + 0.0 * ops.sum(x)
        return loss, {"loss": loss}

    def training_updates(self):
        return [Update("model", self.sqrt_loss, [self.w])]


@covers("checkpoint-nonfinite-weights")
def test_checkpoint_keeps_the_last_good_file_when_a_finite_loss_hides_nan_weights(tmp_path):
    model = SqrtStep()
    model.compile(optimizer=keras.optimizers.SGD(2.0))
    path = tmp_path / "model.keras"
    saver = kgen.callbacks.Checkpoint(path, verbose=0)
    history = model.fit(np.zeros((4, 1), "float32"), batch_size=4, epochs=2, verbose=0,
                        callbacks=[saver]).history
    assert np.isfinite(history["loss"]).all()     # the logs look fine ...
    ok, name = kgen.callbacks.weights_finite(model)    # ... the weights are not
    assert not ok and name.endswith("w")
    assert saver.last_saved_epoch == 1
    restored = keras.saving.load_model(path)
    assert float(ops.convert_to_numpy(restored.w)) == pytest.approx(0.0)


@covers("save-nonfinite")
def test_save_model_atomically_refuses_non_finite_weights(tmp_path):
    model = SqrtStep()
    model.compile(optimizer="sgd")
    path = tmp_path / "model.keras"
    kgen.callbacks.save_model_atomically(model, path)
    original = path.read_bytes()
    model.w.assign(float("nan"))
    with pytest.raises(ValueError, match=r"variable \S*w holds NaN or infinite values"):
        kgen.callbacks.save_model_atomically(model, path)
    assert path.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]
    with pytest.raises(ValueError, match="Checkpoints are .keras files"):
        kgen.callbacks.Checkpoint(tmp_path / "model.h5")


@covers("checkpoint-stale-temporary")
def test_stale_temporaries_of_killed_writes_are_removed_when_training_starts(tmp_path):
    from kgen.cli.run_folder import RunFolder
    from kgen.cli.train import RunState

    path = tmp_path / "model.keras"
    dead = tmp_path / ".model.keras.999999999.tmp.keras"      # a process that is gone
    mine = tmp_path / f".model.keras.{os.getpid()}.tmp.keras"  # this process, earlier
    running = tmp_path / f".model.keras.{os.getppid()}.tmp.keras"   # still running
    other = tmp_path / ".other.keras.999999999.tmp.keras"     # another checkpoint's
    for file in (dead, mine, running, other):
        file.write_bytes(b"partial")
    model = SqrtStep()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    saver = kgen.callbacks.Checkpoint(path, verbose=0)
    model.fit(np.zeros((4, 1), "float32"), batch_size=4, epochs=1, verbose=0,
              callbacks=[saver])
    assert sorted(saver.removed) == sorted([dead.name, mine.name])
    assert sorted(os.listdir(tmp_path)) == sorted(["model.keras", running.name, other.name])
    # kgen train's run state uses the same cleanup for last.keras and best.keras.
    run = RunFolder(tmp_path / "run").create()
    stale = [os.path.join(run.path, ".last.keras.999999999.tmp.keras"),
             os.path.join(run.path, ".best.keras.999999999.tmp.keras")]
    for name in stale:
        open(name, "wb").close()
    RunState(run, epochs=1, monitor=None, initial_epoch=0).on_train_begin()
    assert not any(os.path.exists(name) for name in stale)
