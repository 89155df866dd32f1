"""kgen.networks.TransformerBlock and CausalDecoder: causality, the cache, cross-attention, saving."""

import keras
import numpy as np
import pytest
from keras import ops

from kgen import backend
from kgen.networks import CausalDecoder, TransformerBlock, transformer_decoder

N, T, WIDTH, VOCABULARY = 2, 6, 8, 11


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def tokens(seed=0, length=T):
    return np.random.default_rng(seed).integers(0, VOCABULARY, (N, length)).astype("int32")


def decoder(**options):
    options = {"width": WIDTH, "num_layers": 2, "num_heads": 2, "seed": 0, **options}
    return transformer_decoder(VOCABULARY, T, **options)


def test_a_causal_block_has_zero_gradient_with_respect_to_later_inputs():
    block = TransformerBlock(WIDTH, num_heads=2, causal=True, dropout=0.3, seed=0)
    x = np.random.default_rng(0).normal(size=(N, T, WIDTH)).astype("float32")
    assert tuple(block(x).shape) == (N, T, WIDTH)
    i = 3
    grad = numpy(backend.input_gradient(lambda t: block(t)[:, i], x))
    assert np.all(grad[:, i + 1:] == 0.0)
    assert np.all(np.abs(grad[:, :i + 1]).max(axis=-1) > 0.0)
    # Dropout acts in training only.
    np.testing.assert_array_equal(numpy(block(x)), numpy(block(x)))
    assert np.abs(numpy(block(x, training=True)) - numpy(block(x))).max() > 1e-4


def test_decoder_logits_do_not_depend_on_later_tokens():
    model = decoder(output_size=5)
    first = tokens(0)
    logits = numpy(model(first))
    assert logits.shape == (N, T, 5)
    for i in (0, 2, T - 2):
        changed = first.copy()
        changed[:, i + 1:] = (changed[:, i + 1:] + 1) % VOCABULARY
        other = numpy(model(changed))
        np.testing.assert_array_equal(other[:, :i + 1], logits[:, :i + 1])
        assert np.abs(other[:, i + 1:] - logits[:, i + 1:]).max() > 1e-4


def test_cached_steps_give_the_logits_of_the_whole_sequence():
    model = decoder()
    ids = tokens(2)
    whole = numpy(model(ids))
    cache = model.init_cache(N)   # one (N, 2, heads, T, head size) tensor per block
    assert [tuple(c.shape) for c in cache] == [(N, 2, 2, T, WIDTH // 2)] * 2

    def run(ids):
        # A prefix of 3 tokens in one step, then one token per step in a fori_loop.
        prefix, cache = model.step(ids[:, :3], model.init_cache(N), 0)
        zero = ops.zeros((), "int32")
        out = ops.slice_update(ops.zeros((N, T, VOCABULARY)), (zero, zero, zero), prefix)

        def body(i, state):
            out, cache = state
            logits, cache = model.step(ops.take(ids, ops.expand_dims(i, 0), axis=1), cache, i)
            return ops.slice_update(out, (zero, ops.cast(i, "int32"), zero), logits), cache

        return ops.fori_loop(3, T, body, (out, cache))[0]

    compiled = backend.compile_function(run, model.variables)
    np.testing.assert_allclose(numpy(compiled(ids)), whole, atol=1e-5)


def test_cross_attention_reads_the_context_and_its_padding_mask():
    model = decoder(cross_attention=True, context_dim=6)
    context = np.random.default_rng(0).normal(size=(N, 3, 6)).astype("float32")
    other = context.copy()
    other[:, 2] += 4.0
    ids = tokens(3)
    a, b = numpy(model(ids, context=context)), numpy(model(ids, context=other))
    assert np.abs(a - b).max() > 1e-4
    keep = np.array([[True, True, False]] * N)
    np.testing.assert_allclose(numpy(model(ids, context=context, context_mask=keep)),
                               numpy(model(ids, context=other, context_mask=keep)), atol=1e-6)
    # The cached path with a context gives the logits of one call.
    cache = model.init_cache(N)
    parts = []
    for i in range(T):
        logits, cache = model.step(ids[:, i:i + 1], cache, i, context=context)
        parts.append(numpy(logits))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), a, atol=1e-5)


def test_config_round_trip_and_save_load(tmp_path):
    model = decoder(output_size=4, mlp_ratio=2, cross_attention=True, context_dim=5)
    config = model.get_config()
    again = CausalDecoder.from_config(config)
    assert again.get_config() == config
    ids, context = tokens(5), np.ones((N, 2, 5), "float32")
    expected = numpy(model(ids, context=context))
    model.save(tmp_path / "decoder.keras")
    loaded = keras.saving.load_model(tmp_path / "decoder.keras")
    assert isinstance(loaded, CausalDecoder)
    np.testing.assert_allclose(numpy(loaded(ids, context=context)), expected, atol=1e-6)
    block = TransformerBlock(WIDTH, 2, mlp_ratio=3, dropout=0.1, causal=True, seed=4)
    assert TransformerBlock.from_config(block.get_config()).get_config() == block.get_config()


def test_clear_errors():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        TransformerBlock(10, num_heads=3)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        CausalDecoder(5, 4, width=10, num_heads=4)
    with pytest.raises(TypeError, match="cross_attention must be True or False"):
        TransformerBlock(8, 2, cross_attention="yes")
    block = TransformerBlock(8, 2, cross_attention=True)
    with pytest.raises(ValueError, match="cross_attention=True .*context="):
        block(np.zeros((1, 3, 8), "float32"))
    with pytest.raises(ValueError, match="takes no context"):
        TransformerBlock(8, 2)(np.zeros((1, 3, 8), "float32"), context=np.zeros((1, 2, 8)))
    with pytest.raises(ValueError, match=r"takes sequences \(N, T, 8\)"):
        TransformerBlock(8, 2)(np.zeros((1, 3, 6), "float32"))
    model = decoder()
    with pytest.raises(ValueError, match="has 6 positions"):
        model(tokens(0, length=T + 1))
    with pytest.raises(TypeError, match="must be integers"):
        model(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="context_mask must be"):
        decoder(cross_attention=True)(tokens(0), context=np.zeros((N, 2, WIDTH), "float32"),
                                      context_mask=np.ones((2,), bool))
