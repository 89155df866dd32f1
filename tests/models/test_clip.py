"""CLIP: the contrastive loss, training, the tokenizer kept in the model, encoding and
zero-shot prompts, and clear errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kgen
from kgen.data import captioned
from kgen.models.clip import clip_loss
from kgen.networks import Tokenizer

from checks_catalogue import covers


def numpy_clip_loss(logits):
    def cross_entropy(rows):
        shifted = rows - rows.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -np.mean(np.diag(log_softmax))

    return 0.5 * (cross_entropy(logits) + cross_entropy(logits.T))


def matching_margin(model, x, captions):
    """Mean cosine similarity of each image with its own caption minus with the others."""
    similarity = model.similarity(x, list(captions))
    mask = np.eye(len(x), dtype=bool)
    return float(similarity[mask].mean() - similarity[~mask].mean())


@pytest.fixture(scope="module")
def trained():
    """A tiny CLIP trained for 10 steps on 16 scenes (8x8) and their first captions, its
    logits before training, and how far matching pairs were and are above the others."""
    x, captions = kgen.data.load("captioned_digits", split="heldout", num_samples=16,
                                 return_captions=True)
    x = np.asarray(kgen.data.folders.resize_and_crop(x, 8))
    model = kgen.models.CLIP.from_shape(x.shape[1:], captions, embed_dim=16, width=16,
                                        num_layers=1, num_heads=2, base_filters=4,
                                        temperature=0.2, seed=0)
    images, texts = model.encode_images(x), model.encode_text(list(captions[:, 0]))
    logits = 5.0 * images @ texts.T     # s = 1 / temperature before the first update
    before = matching_margin(model, x, captions[:, 0])
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x, captions[:, 0], batch_size=16, epochs=10, shuffle=False,
                        verbose=0)
    after = matching_margin(model, x, captions[:, 0])
    return {"model": model, "x": x, "captions": captions, "before": before, "after": after,
            "history": history.history, "logits": logits}


# ---------------------------------------------------------------- the loss
def test_clip_loss_equals_a_direct_computation():
    logits = np.random.default_rng(0).normal(size=(6, 6)).astype("float32") * 3
    np.testing.assert_allclose(float(clip_loss(logits)), numpy_clip_loss(logits), rtol=1e-5)
    np.testing.assert_allclose(float(clip_loss(np.zeros((6, 6), "float32"))), np.log(6),
                               rtol=1e-6)


def test_the_training_steps_loss_on_a_batch_equals_numpy(trained):
    # The first step's logs: the loss of the whole batch (16 pairs, one caption each)
    # before any update, computed in the training step.
    logits, history = trained["logits"], trained["history"]
    np.testing.assert_allclose(history["loss"][0], numpy_clip_loss(logits), rtol=1e-4,
                               atol=1e-5)
    accuracy = np.mean(np.argmax(logits, axis=1) == np.arange(16))
    np.testing.assert_allclose(history["accuracy"][0], accuracy)
    np.testing.assert_allclose(history["scale"][0], 5.0, rtol=1e-5)


# ---------------------------------------------------------------- training
def test_matching_pairs_grow_more_similar_with_training(trained):
    # Measured after 10 steps: the margin (own caption minus the others) from -0.03 to
    # 0.5-0.6, and the loss from 3.1 to 1.3-1.4, on TensorFlow and PyTorch.
    history = trained["history"]
    assert history["loss"][-1] < 0.7 * history["loss"][0], history["loss"]
    assert trained["after"] > trained["before"] + 0.25, (trained["before"], trained["after"])
    probabilities = trained["model"].zero_shot(trained["x"][:4],
                                               list(trained["captions"][:4, 0]))
    assert probabilities.shape == (4, 4) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == np.arange(4)) >= 0.5


def test_the_logit_scale_is_clipped_at_max_scale(trained):
    model = trained["model"]
    value = keras.ops.convert_to_numpy(model.logit_scale)
    model.logit_scale.assign(10.0)
    model.after_updates(None, None)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(model.logit_scale)),
                               np.log(100.0), rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.scale()), 100.0, rtol=1e-5)
    model.logit_scale.assign(value)


def test_one_caption_is_drawn_per_image_among_its_own(trained):
    model = trained["model"]
    table = [["red", "", ""], ["red", "blue", ""], ["seven", "red", "blue"]] * 20
    ids = captioned.caption_tokens(table, model.tokenizer)
    chosen = model.tokenizer.detokenize(
        keras.ops.convert_to_numpy(model.choose_captions(ids, training=True)))
    seen = [set(chosen[k::3]) for k in range(3)]
    assert seen == [{"red"}, {"red", "blue"}, {"seven", "red", "blue"}]
    first = keras.ops.convert_to_numpy(model.choose_captions(ids[:3], training=False))
    assert model.tokenizer.detokenize(first) == ["red", "red", "seven"]


# ---------------------------------------------------------------- saving
def test_save_and_load_keep_the_tokenizer_and_the_embeddings(trained, tmp_path):
    model, x = trained["model"], trained["x"][:4]
    prompts = ["a small red seven in the top left on a blue background", "purple 3, centre"]
    model.save(tmp_path / "clip.keras")
    loaded = keras.saving.load_model(tmp_path / "clip.keras")
    assert type(loaded) is kgen.models.CLIP
    assert loaded.tokenizer.get_vocabulary() == model.tokenizer.get_vocabulary()
    assert loaded.tokenizer.context_length == model.tokenizer.context_length
    np.testing.assert_array_equal(loaded.tokenize(prompts), model.tokenize(prompts))
    np.testing.assert_allclose(loaded.encode_text(prompts), model.encode_text(prompts),
                               atol=1e-6)
    np.testing.assert_allclose(loaded.encode_images(x), model.encode_images(x), atol=1e-6)
    np.testing.assert_allclose(loaded.zero_shot(x, prompts), model.zero_shot(x, prompts),
                               atol=1e-6)


# ---------------------------------------------------------------- errors
@covers("prompt-too-long", "prompt-not-strings", "fit-captions")
def test_clear_errors(trained):
    model, x = trained["model"], trained["x"][:2]
    with pytest.raises(ValueError, match="No prompts"):
        model.zero_shot(x, [])
    with pytest.raises(TypeError, match="single string"):
        model.zero_shot(x, "a red seven")
    with pytest.raises(TypeError, match="prompts must be strings; got 7"):
        model.zero_shot(x, ["a red seven", 7])
    with pytest.raises(TypeError, match="texts must be strings; got None"):
        model.encode_text([None])
    with pytest.raises(ValueError, match="longer than the context of 14 tokens"):
        model.encode_text(["a red seven " * 10])
    with pytest.raises(ValueError, match=r"images must have shape \(n,\) \+ \(8, 8, 3\)"):
        model.encode_images(np.zeros((2, 8, 8, 1), np.uint8))
    with pytest.raises(NotImplementedError, match="draws no samples"):
        model.generate(4, seed=0)
    with pytest.raises(NotImplementedError, match="no generator to export"):
        model.serving_functions()
    with pytest.raises(ValueError, match=r"trains on \(images, captions\) pairs"):
        model.fit(x, epochs=1, verbose=0)
    strings = tf.data.Dataset.from_tensor_slices((x, trained["captions"][:2])).batch(2)
    with pytest.raises(TypeError, match="this dataset yields strings.*tokenized"):
        model.fit(strings, steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="needs the training captions"):
        kgen.models.CLIP.from_shape((8, 8, 3))
    with pytest.raises(TypeError, match="tokenizer must be a kgen.networks.Tokenizer"):
        kgen.models.CLIP(model.image_encoder, model.text_encoder, tokenizer="words")
    with pytest.raises(ValueError, match="no vocabulary yet"):
        kgen.models.CLIP(model.image_encoder, model.text_encoder, Tokenizer())
    with pytest.raises(ValueError, match="above max_scale"):
        kgen.models.CLIP(model.image_encoder, model.text_encoder, model.tokenizer,
                         temperature=0.001)
