"""A run killed and restored with keras.callbacks.BackupAndRestore ends where an
uninterrupted run ends, with a kgen pipeline: fit() sets the pipeline's epoch."""

import keras
import numpy as np
import pytest

import kgen

from checks_catalogue import covers
from harness import tiny_gan, tiny_network, values


def _build(name):
    keras.utils.set_random_seed(0)   # the same initial weights for every run
    if name == "gan":
        model = tiny_gan()
    else:
        model = kgen.models.Diffusion(network=tiny_network(), timesteps=10,
                                      schedule="cosine", seed=0)
    model.compile()
    return model


def _state(model):
    return values(model.weights) + values(model.optimizer.variables)


@covers("backup-and-restore")
@pytest.mark.parametrize("name", ["gan", "diffusion"])
def test_a_restored_run_ends_with_the_weights_of_an_uninterrupted_one(name, tmp_path):
    pixels = kgen.data.load("digits")[:24]

    def pipeline():
        return kgen.data.images(pixels, batch_size=8, seed=3)

    # Each epoch of the pipeline has its own order: resuming with epoch 0's order would
    # train on other batches.
    probe = pipeline()
    kgen.data.set_epoch(probe, 1)
    second_epoch = next(iter(probe))
    kgen.data.set_epoch(probe, 2)
    assert not np.array_equal(second_epoch, next(iter(probe)))

    straight = _build(name)
    straight.fit(pipeline(), epochs=3, verbose=0)

    backup = str(tmp_path / "backup")
    killed = _build(name)   # trains one epoch, then "dies" with its backup on disk
    killed.fit(pipeline(), epochs=1, verbose=0,
               callbacks=[keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])

    resumed = _build(name)   # a new model, rebuilt from scratch
    history = resumed.fit(pipeline(), epochs=3, verbose=0,
                          callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert history.epoch == [1, 2]   # restored after epoch 1, trained epochs 2 and 3
    state, expected = _state(resumed), _state(straight)
    assert len(state) == len(expected) > 4
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(state, expected))
    assert difference <= 1e-6
