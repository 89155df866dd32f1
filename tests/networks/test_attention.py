"""kgen.networks.MultiHeadAttention: causality, the key/value cache, masks, cross-attention."""

import keras
import numpy as np
import pytest
from keras import ops

from kgen import backend
from kgen.networks import MultiHeadAttention

N, T, D = 2, 6, 8


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def sequence(seed=0, shape=(N, T, D)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_shapes_of_self_and_cross_attention():
    layer = MultiHeadAttention(num_heads=2, key_dim=3)
    assert tuple(layer(sequence()).shape) == (N, T, D)
    cross = MultiHeadAttention(num_heads=2, key_dim=3, output_dim=5)
    context = sequence(1, (N, 4, 7))
    assert tuple(cross(sequence(), context=context).shape) == (N, T, 5)


def test_causal_outputs_have_zero_gradient_with_respect_to_later_inputs():
    layer = MultiHeadAttention(num_heads=2, key_dim=4, causal=True)
    x = sequence()
    layer(x)
    i = 2
    grad = numpy(backend.input_gradient(lambda t: layer(t)[:, i], x))
    assert np.all(grad[:, i + 1:] == 0.0)
    assert np.all(np.abs(grad[:, :i + 1]).max(axis=-1) > 0.0)   # earlier inputs count
    # Without causal masking, the first output depends on the last input.
    full = MultiHeadAttention(num_heads=2, key_dim=4)
    full(x)
    grad = numpy(backend.input_gradient(lambda t: full(t)[:, 0], x))
    assert np.abs(grad[:, -1]).max() > 0.0


def test_cached_decoding_equals_one_call_on_the_whole_sequence():
    layer = MultiHeadAttention(num_heads=2, key_dim=4, causal=True)
    x = sequence()
    whole = numpy(layer(x))
    cache = layer.init_cache(N, T)
    assert tuple(cache.shape) == (N, 2, 2, T, 4)
    # A prefix of 2 positions in one step, then one position per step.
    first, cache = layer(x[:, :2], cache=cache, position=0)
    parts = [numpy(first)]
    for i in range(2, T):
        y, cache = layer(x[:, i:i + 1], cache=cache, position=i)
        parts.append(numpy(y))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, atol=1e-5)


def test_cached_decoding_in_a_compiled_loop():
    layer = MultiHeadAttention(num_heads=2, key_dim=4, causal=True)
    x = sequence(3)
    whole = numpy(layer(x))

    def decode(x):
        def body(i, state):
            out, cache = state
            y, cache = layer(ops.take(x, ops.expand_dims(i, 0), axis=1), cache=cache,
                             position=i)
            zero = ops.zeros((), "int32")
            return ops.slice_update(out, (zero, ops.cast(i, "int32"), zero), y), cache

        out, _ = ops.fori_loop(0, T, body, (ops.zeros((N, T, D)), layer.init_cache(N, T)))
        return out

    compiled = backend.compile_function(decode, layer.variables)
    np.testing.assert_allclose(numpy(compiled(x)), whole, atol=1e-5)


def test_a_masked_key_changes_nothing():
    x = sequence()
    changed = x.copy()
    changed[:, 2] += 5.0
    keep = np.ones((T, T), bool)
    keep[:, 2] = False          # no query attends to position 2
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    a, b = numpy(layer(x, mask=keep)), numpy(layer(changed, mask=keep))
    others = [i for i in range(T) if i != 2]
    np.testing.assert_allclose(a[:, others], b[:, others], atol=1e-6)
    # ...but without the mask it changes them.
    assert np.abs(numpy(layer(x))[:, others] - numpy(layer(changed))[:, others]).max() > 1e-3
    # An additive mask (0 to attend, -1e9 not to) is the same mask.
    additive = np.where(keep, 0.0, -1e9).astype("float32")
    np.testing.assert_allclose(numpy(layer(x, mask=additive)), a, atol=1e-6)


def test_a_per_example_mask_on_the_context():
    x, context = sequence(), sequence(1, (N, 4, D))
    keep = np.ones((N, T, 4), bool)
    keep[0, :, 3] = False       # example 0 ignores its last context token
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    changed = context.copy()
    changed[:, 3] -= 3.0
    a = numpy(layer(x, context=context, mask=keep))
    b = numpy(layer(x, context=changed, mask=keep))
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    assert np.abs(a[1] - b[1]).max() > 1e-3     # example 1 still reads it


def test_cross_attention_reads_the_context():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    x = sequence()
    a = numpy(layer(x, context=sequence(1, (N, 3, 5))))
    b = numpy(layer(x, context=sequence(2, (N, 3, 5))))
    assert np.abs(a - b).max() > 1e-3


def test_dropout_acts_in_training_only():
    layer = MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5, seed=1)
    x = sequence()
    np.testing.assert_array_equal(numpy(layer(x)), numpy(layer(x)))
    assert np.abs(numpy(layer(x, training=True)) - numpy(layer(x))).max() > 1e-3


def test_config_round_trip_and_saving(tmp_path):
    layer = MultiHeadAttention(num_heads=2, key_dim=4, output_dim=6, dropout=0.1,
                               causal=True, use_bias=False, seed=3)
    x = sequence()
    y = numpy(layer(x))
    again = MultiHeadAttention.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    inputs = keras.Input((T, D))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "attention.keras")
    loaded = keras.saving.load_model(tmp_path / "attention.keras")
    np.testing.assert_allclose(numpy(loaded(x)), y, atol=1e-6)


def test_clear_errors():
    with pytest.raises(TypeError, match="num_heads must be an integer"):
        MultiHeadAttention(2.0, 4)
    with pytest.raises(ValueError, match="dropout must be a number in"):
        MultiHeadAttention(2, 4, dropout=1.0)
    with pytest.raises(TypeError, match="causal must be True or False"):
        MultiHeadAttention(2, 4, causal=1)
    causal = MultiHeadAttention(2, 4, causal=True)
    with pytest.raises(ValueError, match="applies to self-attention"):
        causal(sequence(), context=sequence(1))
    layer = MultiHeadAttention(2, 4)
    with pytest.raises(ValueError, match="needs both cache= .* and position="):
        layer(sequence(), cache=layer.init_cache(N, T))
    with pytest.raises(ValueError, match="mask must have shape"):
        layer(sequence(), mask=np.ones((T,), bool))
    with pytest.raises(ValueError, match="takes sequences"):
        MultiHeadAttention(2, 4)(np.zeros((2, 8), "float32"))
