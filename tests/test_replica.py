"""kgen.replica: the replica-aware primitives, their one-replica behaviour and the
implementation that kgen.backend installs."""

import keras
import numpy as np
import pytest

from kgen import backend, replica


def test_kgen_backend_installs_its_functions():
    installed = replica.implementations()
    assert installed["batch_noise"] is backend.batch_noise
    assert installed["gather_batch"] is backend.gather_batch
    assert installed["local_rows"] is backend.local_rows


def test_one_device_gives_the_plain_draw_the_batch_and_its_rows():
    seed = keras.random.SeedGenerator(3)
    noise = replica.batch_noise(lambda s: keras.random.normal(s, seed=seed), [4, 2])
    again = keras.random.normal((4, 2), seed=keras.random.SeedGenerator(3))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(noise),
                                  keras.ops.convert_to_numpy(again))
    x = np.arange(6, dtype="float32").reshape(3, 2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(replica.gather_batch(x)), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(replica.local_rows(x, 3)), x)


def test_install_replaces_the_given_functions_and_returns_the_previous_ones():
    calls = []

    def rows(x, size):
        calls.append(size)
        return x[:size]

    previous = replica.install(local_rows=rows)
    try:
        assert replica.local_rows(np.arange(6), 2).tolist() == [0, 1]
        assert calls == [2]
        # The others are kept.
        assert replica.implementations()["gather_batch"] is previous["gather_batch"]
    finally:
        replica.install(**previous)
    assert replica.implementations() == previous
    with pytest.raises(TypeError, match="gather_batch must be a function"):
        replica.install(gather_batch=3)
    assert replica.implementations() == previous


def test_the_one_replica_defaults():
    defaults = replica.ONE_REPLICA
    assert defaults["batch_noise"](lambda shape: shape, [2, 3]) == [2, 3]
    assert defaults["gather_batch"]("x") == "x"
    assert defaults["local_rows"]("x", 1) == "x"
