"""The tokenizer (vocabulary in its config, unknown words, the context) and the causal
text encoder pooled at the end token."""

import keras
import numpy as np
import pytest

import kgen
from kgen.networks import Tokenizer


def test_tokenizer_round_trip_unknown_words_and_padding():
    tokenizer = Tokenizer.adapted(["a small red seven", "Red 7, top left!", "a blue two"])
    assert tokenizer.context_length == 5      # the longest caption's 4 words and the end
    texts = ["A small, RED seven", "a green seven", "", "7 left"]
    ids = tokenizer(texts)
    assert ids.shape == (4, 5) and ids.dtype == np.int32
    assert tokenizer.detokenize(ids) == ["a small red seven", "a [UNK] seven", "", "7 left"]
    vocabulary = tokenizer.get_vocabulary()
    assert vocabulary[:3] == ["", "[UNK]", "endoftext"]
    assert ids[1, 1] == 1                               # green: out of the vocabulary
    assert ids[1].tolist()[3:] == [2, 0]                # the end token, then padding
    assert ids[2].tolist() == [2, 0, 0, 0, 0]           # an empty text: the end token only
    np.testing.assert_array_equal(tokenizer([["a blue two"], ["7"]])[:, 0], tokenizer(
        ["a blue two", "7"]))
    # A checkpoint's tokenizer: the config holds the vocabulary.
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(
        tokenizer))
    np.testing.assert_array_equal(again(texts), ids)
    assert again.get_config() == tokenizer.get_config()


def test_tokenizer_refuses_long_texts_and_bad_input():
    tokenizer = Tokenizer(["red", "seven"], context_length=3)
    assert tokenizer(["red seven"]).tolist() == [[3, 4, 2]]
    with pytest.raises(ValueError, match=r"longer than the context of 3 tokens.*text 1 "
                                         r"\('red red seven'\) has 3 words.*never cut"):
        tokenizer(["red", "red red seven"])
    with pytest.raises(TypeError, match="single string"):
        tokenizer("red seven")
    with pytest.raises(TypeError, match="must be strings; got 3"):
        tokenizer(["red", 3])
    with pytest.raises(ValueError, match="no vocabulary yet.*adapt"):
        Tokenizer()(["red"])
    with pytest.raises(ValueError, match="reserved entries"):
        Tokenizer(["red", "endoftext"])
    with pytest.raises(ValueError, match="longer than the context of 2"):
        Tokenizer.adapted(["a red seven"], context_length=2)


def test_the_text_encoder_is_causal_and_pools_at_the_end_token():
    ids = np.array([[4, 5, 6, 2, 0, 0], [7, 2, 0, 0, 0, 0]], "int32")
    changed = ids.copy()
    changed[0, 2] = 8
    encoder = kgen.networks.text_encoder(vocabulary_size=9, context_length=6, width=8,
                                         num_layers=1, num_heads=2)
    run = kgen.backend.compile_function(lambda t: encoder(t), encoder.variables)
    tokens, pooled = (keras.ops.convert_to_numpy(o) for o in run(np.concatenate([ids, changed])))
    assert tokens.shape == (4, 6, 8) and pooled.shape == (4, 8)
    np.testing.assert_allclose(pooled, tokens[[0, 1, 2, 3], [3, 1, 3, 1]], atol=1e-6)
    # Causal: a token's vector does not depend on later tokens (nor on the padding).
    np.testing.assert_allclose(tokens[2, :2], tokens[0, :2], atol=1e-6)
    assert np.abs(tokens[2, 2:] - tokens[0, 2:]).max() > 1e-4
    with pytest.raises(ValueError, match=r"takes token ids \(N, 6\)"):
        encoder(np.zeros((2, 4), "int32"))
