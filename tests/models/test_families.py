"""The checks every registered family passes, on every backend.

For each family of `kgen.models.registry`, with its tiny test configuration: the config
round trip, save/load giving the same samples (for a family that draws none, the same
scores), the seed deciding the samples, and a few `fit()` steps lowering the family's
monitored loss.
"""

import json

import keras
import numpy as np
import pytest

import kgen
from harness import build_tiny, family_outputs, fit_tiny

FAMILIES = kgen.models.registry.names()


def family(name):
    return kgen.models.registry.get(name)


def test_every_family_is_registered_with_consistent_options():
    assert len(FAMILIES) >= 4
    for name in FAMILIES:
        entry = family(name)
        assert issubclass(entry.model_class, kgen.models.GenerativeModel), name
        # Every option is a keyword the family's builder takes.
        accepted = entry.build_parameters()
        for option in entry.options:
            assert option.name in accepted, (name, option.name)
        for option in entry.tiny:
            assert option in accepted, (name, option)
        # Export options are keywords of serving_functions().
        import inspect
        serving = set(inspect.signature(entry.model_class.serving_functions).parameters)
        for option in entry.export_options:
            assert option.name in serving, (name, option.name)
        assert kgen.models.registry.family_of(build_tiny(entry)[0]) is entry


@pytest.mark.parametrize("name", FAMILIES)
def test_config_round_trip(name):
    entry = family(name)
    model, _ = build_tiny(entry)
    config = model.get_config()
    again = type(model).from_config(config)
    assert json.dumps(again.get_config(), sort_keys=True, default=str) == \
        json.dumps(config, sort_keys=True, default=str)


@pytest.mark.parametrize("name", FAMILIES)
def test_train_save_load_and_seeds(name, tmp_path):
    entry = family(name)
    model, arrays = build_tiny(entry)
    model.compile()
    history = fit_tiny(model, entry, arrays, epochs=4)
    monitored = history.history[entry.monitor]
    # A few steps on the same small data lower the family's loss. A discriminator's loss
    # moves up and down as the generator answers it (a two-player game, not a descent):
    # for the families that monitor it, it must fall below the first epoch's in a later
    # epoch; for the others, the last epoch's must be below the first's.
    if getattr(model, "discriminator", None) is not None and entry.monitor == "d_loss":
        assert min(monitored[1:]) < monitored[0], (name, monitored)
    else:
        assert monitored[-1] < monitored[0], (name, monitored)

    # The samples (or, for a family that draws none, its scores of images and texts).
    first = family_outputs(model, entry, arrays, seed=3)
    assert first.dtype == np.float32 and np.all(np.isfinite(first))
    np.testing.assert_array_equal(family_outputs(model, entry, arrays, seed=3), first)
    if entry.seeded:
        assert np.abs(family_outputs(model, entry, arrays, seed=4) - first).max() > 1e-4
    if not entry.generates:
        with pytest.raises(NotImplementedError, match="draws no samples"):
            model.generate(4, seed=3)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model)
    np.testing.assert_allclose(family_outputs(loaded, entry, arrays, seed=3), first,
                               atol=1e-6)
