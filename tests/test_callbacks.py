"""Callbacks: NaN guard, safe checkpoints, sample grids, and the checks of their options."""

import os

import keras
import numpy as np
import pytest
from keras import ops
from PIL import Image

import kgen
from kgen.models import GenerativeModel, Update

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
