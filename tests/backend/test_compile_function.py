"""kgen.backend.compile_function: compiled inference that follows the variables' values."""

import keras
import numpy as np
from keras import ops

from kgen import backend


def _loop(layer):
    def body(i, h):
        return ops.tanh(layer(h))

    return lambda x: ops.fori_loop(0, 3, body, x)


def test_compiled_loop_matches_eager_and_sees_new_weights():
    layer = keras.layers.Dense(2)
    layer.build((None, 2))
    x = np.array([[0.5, -1.0], [2.0, 0.25]], "float32")
    compiled = backend.compile_function(_loop(layer), layer.variables)
    eager = ops.convert_to_numpy(_loop(layer)(ops.convert_to_tensor(x)))
    np.testing.assert_allclose(ops.convert_to_numpy(compiled(x)), eager, rtol=1e-5, atol=1e-6)
    # Weights change (as in training): the compiled function must follow them.
    layer.kernel.assign(np.eye(2, dtype="float32") * 0.5)
    layer.bias.assign(np.zeros(2, "float32"))
    expected = x.copy()
    for _ in range(3):
        expected = np.tanh(expected @ (np.eye(2) * 0.5))
    np.testing.assert_allclose(ops.convert_to_numpy(compiled(x)), expected, rtol=1e-5, atol=1e-6)


def test_seeded_noise_is_reproducible():
    generator = keras.random.SeedGenerator(0)

    def noise(x):
        return x + keras.random.normal(ops.shape(x), seed=generator)

    compiled = backend.compile_function(noise, [generator.state])
    x = np.zeros((3, 4), "float32")
    generator.state.assign(np.array([7, 0], generator.state.dtype))
    first = ops.convert_to_numpy(compiled(x))
    generator.state.assign(np.array([7, 0], generator.state.dtype))
    again = ops.convert_to_numpy(compiled(x))
    generator.state.assign(np.array([8, 0], generator.state.dtype))
    other = ops.convert_to_numpy(compiled(x))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_rejects_non_variables():
    import pytest

    with pytest.raises(TypeError, match="keras.Variables"):
        backend.compile_function(lambda x: x, [np.zeros(2)])
