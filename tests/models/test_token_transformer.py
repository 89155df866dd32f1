"""TokenTransformer: exact likelihood, cached sampling, top-k/top-p, completion, conditions, export."""

import itertools

import keras
import numpy as np
import pytest

import kgen
from kgen.models.token_transformer import TokenTransformer, inverse_cdf, sampling_weights

SHAPE = (8, 8, 1)


def vqvae(num_embeddings=8, downsamples=None):
    return kgen.models.VQVAE.from_shape(SHAPE, num_embeddings=num_embeddings, embedding_dim=4,
                                        base_filters=4, downsamples=downsamples, seed=0)


def model(num_embeddings=8, downsamples=None, **options):
    options = {"width": 8, "num_layers": 1, "num_heads": 2, "seed": 0, **options}
    return TokenTransformer.from_vqvae(vqvae(num_embeddings, downsamples), **options)


@pytest.fixture(scope="module")
def plain():
    """An untrained unconditional model (4x4 codes, 8 codes): sampling checks share it."""
    return model()


@pytest.fixture(scope="module")
def conditional():
    """An untrained model with 3 classes and a prefix of 2 ids out of 4."""
    return model(num_classes=3, num_prefix_tokens=2, prefix_vocabulary=4)


def log_softmax(logits):
    logits = logits - logits.max(-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def test_the_exact_likelihood_sums_to_one_over_every_code_grid():
    # A 2x2 grid of 3 codes: 81 sequences.
    grids = np.array(list(itertools.product(range(3), repeat=4)), "int32").reshape(-1, 2, 2)
    plain = model(num_embeddings=3, downsamples=2)
    assert plain.code_shape == (2, 2)
    log_p = plain.codes_log_prob(grids, batch_size=32)
    assert log_p.shape == (81,) and np.all(log_p < 0)
    assert abs(np.exp(log_p).sum() - 1.0) < 1e-5
    # Given a class and a caption prefix, the grids' probabilities sum to one too.
    conditional = model(num_embeddings=3, downsamples=2, num_classes=2, num_prefix_tokens=2,
                        prefix_vocabulary=5)
    for label, prefix in ((0, [4, 1]), (1, [0, 0])):
        log_p = conditional.codes_log_prob(grids, labels=label, prefix=prefix)
        assert abs(np.exp(log_p).sum() - 1.0) < 1e-5
    # The likelihood is the product of the conditionals of code_logits.
    logits = conditional.code_logits(grids[:5], labels=1, prefix=[0, 0])
    picked = np.take_along_axis(log_softmax(logits), grids[:5].reshape(5, 4, 1), -1)
    np.testing.assert_allclose(picked.sum(axis=(1, 2)),
                               conditional.codes_log_prob(grids[:5], 1, [0, 0]), atol=1e-5)


def test_sampling_weights_and_the_inverse_cdf():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], "float32"))
    as_numpy = lambda w: np.asarray(keras.ops.convert_to_numpy(w))   # noqa: E731
    np.testing.assert_allclose(as_numpy(sampling_weights(logits)), [[1, 0.6, 0.3, 0.1]],
                               rtol=1e-5)
    np.testing.assert_allclose(as_numpy(sampling_weights(logits, top_k=2)), [[1, 0.6, 0, 0]],
                               rtol=1e-5)
    np.testing.assert_allclose(as_numpy(sampling_weights(logits, top_p=0.8)),
                               [[1, 0.6, 0, 0]], rtol=1e-5)
    np.testing.assert_allclose(as_numpy(sampling_weights(logits, top_p=0.81)),
                               [[1, 0.6, 0.3, 0]], rtol=1e-5)
    np.testing.assert_allclose(as_numpy(sampling_weights(logits, temperature=0.5)),
                               [[1, 0.36, 0.09, 0.01]], rtol=1e-4)
    # The inverse CDF never picks a code of weight 0, u close to 1 included.
    weights = np.array([[0.0, 2.0, 0.0, 1.0, 0.0]] * 5, "float32")
    u = np.array([0.0, 0.5, 0.66, 0.67, 1.0 - 2 ** -24], "float32")
    np.testing.assert_array_equal(as_numpy(inverse_cdf(weights, u)), [1, 1, 1, 3, 3])


def test_cached_and_uncached_sampling_give_the_same_samples(conditional):
    net = conditional
    labels, prefix = [0, 1, 2, 1, 0, 2], [3, 1]
    cached = net.sample_codes(6, seed=5, labels=labels, prefix=prefix, temperature=0.8,
                              top_p=0.95)
    uncached = net.sample_codes(6, seed=5, labels=labels, prefix=prefix, temperature=0.8,
                                top_p=0.95, sampler="uncached")
    assert cached.shape == (6, 4, 4) and cached.dtype == np.int32
    np.testing.assert_array_equal(cached, uncached)
    # The seed decides the samples.
    assert np.any(net.sample_codes(6, seed=6, labels=labels, prefix=prefix) != cached)
    # Sampled in batches of 4 (the last one padded): the same samples, so the first
    # samples of a seed do not depend on how many are drawn.
    np.testing.assert_array_equal(
        net.sample_codes(6, seed=5, labels=labels, prefix=prefix, temperature=0.8,
                         top_p=0.95, batch_size=4), cached)


def test_cached_samples_equal_with_and_without_the_traced_step(conditional, monkeypatch):
    # On PyTorch the cached loop replays a trace of step() whose position is a tensor
    # input (kgen.backend.replayed_method): every position must be the network's own.
    labels, prefix = [0, 1, 2], [3, 1]
    traced = conditional.sample_codes(3, seed=4, labels=labels, prefix=prefix)
    if keras.backend.backend() == "torch":
        replay = kgen.backend.replayed_network(conditional.network)
        assert replay._traces and not replay.eager
    monkeypatch.setenv("KGEN_TORCH_TRACE", "0")
    np.testing.assert_array_equal(
        conditional.sample_codes(3, seed=4, labels=labels, prefix=prefix), traced)


def test_top_k_and_top_p_restrict_the_support(plain):
    net = plain
    free = net.sample_codes(16, seed=0)
    for top_k, top_p in ((2, None), (None, 0.5), (3, 0.6)):
        codes = net.sample_codes(16, seed=0, top_k=top_k, top_p=top_p)
        log_p = log_softmax(net.code_logits(codes))          # (16, 16, 8)
        chosen = np.take_along_axis(log_p, codes.reshape(16, 16, 1), -1)
        # Rank of each drawn code among the codes at its position, and the mass before it.
        rank = (log_p > chosen).sum(-1)
        if top_k is not None:
            assert rank.max() < top_k
        if top_p is not None:
            p = np.exp(log_p)
            if top_k is not None:   # top-p acts on the top-k distribution
                p = np.where(np.argsort(np.argsort(-p, -1), -1) < top_k, p, 0.0)
                p /= p.sum(-1, keepdims=True)
            mine = np.take_along_axis(p, codes.reshape(16, 16, 1), -1)
            before = np.where(p > mine, p, 0.0).sum(-1)
            assert before.max() < top_p + 1e-5
    # Unrestricted sampling does draw codes outside the top 2 of their position.
    log_p = log_softmax(net.code_logits(free))
    chosen = np.take_along_axis(log_p, free.reshape(16, 16, 1), -1)
    assert (log_p > chosen).sum(-1).max() >= 2
    # top_k=1 is greedy decoding: the same codes for every seed.
    np.testing.assert_array_equal(net.sample_codes(4, seed=1, top_k=1),
                                  net.sample_codes(4, seed=2, top_k=1))


def test_completion_keeps_the_given_rows(conditional, digits_small):
    net = conditional
    images = digits_small[:4]
    labels = {"labels": [0, 1, 2, 0], "prefix": [1, 3]}
    codes = net.encode(images)
    top = np.zeros((4, 4), bool)
    top[:2] = True                  # the top two rows of the 4x4 code grid
    kept = net.sample_codes(codes=codes, known=top,
                            seed=1, **labels)
    assert kept.shape == (4, 4, 4)
    np.testing.assert_array_equal(kept[:, :2], codes[:, :2])
    other = net.sample_codes(codes=codes, known=top,
                             seed=2, **labels)
    assert np.any(other[:, 2:] != kept[:, 2:])
    np.testing.assert_array_equal(
        net.sample_codes(codes=codes, known=top, seed=1,
                         sampler="uncached", **labels), kept)
    completed = net.generate(images=images, rows=2, seed=1, **labels)
    np.testing.assert_allclose(completed, net.vqvae.decode_codes(kept), atol=1e-6)
    # A pixel mask of the top half of the images keeps the same two rows of codes.
    mask = np.zeros((8, 8), bool)
    mask[:4] = True
    np.testing.assert_allclose(net.generate(images=images, mask=mask, seed=1, **labels),
                               completed, atol=1e-6)
    # rows=0 draws every code: a fresh sample of the same seed.
    np.testing.assert_allclose(net.generate(images=images, rows=0, seed=1, **labels),
                               net.generate(4, seed=1, **labels), atol=1e-6)


def test_class_labels_and_prefixes_change_the_samples(conditional):
    net = conditional
    base = net.sample_codes(8, seed=0, labels=0, prefix=[1, 2])
    assert np.any(net.sample_codes(8, seed=0, labels=1, prefix=[1, 2]) != base)
    assert np.any(net.sample_codes(8, seed=0, labels=0, prefix=[3, 2]) != base)
    # Without labels, a conditional model draws them from the seed.
    np.testing.assert_array_equal(net.sample_codes(8, seed=4, prefix=[1, 2]),
                                  net.sample_codes(8, seed=4, prefix=[1, 2]))


def test_fit_with_labels_and_a_prefix_lowers_the_loss(digits_small):
    net = model(num_classes=3, num_prefix_tokens=2, prefix_vocabulary=4)
    net.compile()
    x = digits_small[:32]
    y = {"labels": (np.arange(32) % 3).astype("int32"),
         "prefix": (np.arange(64).reshape(32, 2) % 4).astype("int32")}
    history = net.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(history.history["bits_per_code"], np.array(losses) / np.log(2),
                               rtol=1e-5)
    # The logged loss is the likelihood's cross-entropy (after training, on its last batch).
    nll = -net.code_log_prob(x[16:], y["labels"][16:], y["prefix"][16:]).mean() / 16
    assert nll == pytest.approx(float(net.evaluate(x[16:], {k: v[16:] for k, v in y.items()},
                                                   verbose=0, return_dict=True)["loss"]),
                                rel=1e-4)
    with pytest.raises(ValueError, match="pass y as"):
        net.fit(x, y["labels"], epochs=1, verbose=0)


def test_save_load_and_export_reproduce_the_samples(conditional, tmp_path):
    import tensorflow as tf

    net = conditional
    labels = np.array([0, 1, 2, 1, 0], "int32")
    prefix = np.array([[0, 1], [2, 3], [1, 1], [0, 0], [3, 2]], "int32")
    samples = net.generate(5, seed=7, labels=labels, prefix=prefix, top_k=5)
    net.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded, TokenTransformer)
    np.testing.assert_allclose(loaded.generate(5, seed=7, labels=labels, prefix=prefix,
                                               top_k=5), samples, atol=1e-6)
    net.export_generator(tmp_path / "served", top_k=5)
    served = tf.saved_model.load(str(tmp_path / "served")).signatures
    assert {"generate_from_latent", "generate", "generate_with_labels",
            "generate_with_prefix"} <= set(served)
    out = served["generate_from_latent"](uniform=tf.constant(net.uniform_noise(5, 7)),
                                         labels=tf.constant(labels),
                                         prefix=tf.constant(prefix))
    np.testing.assert_allclose(out["samples"].numpy(), samples, atol=1e-5)
    first = served["generate"](seed=tf.constant(3, tf.int64), num_samples=tf.constant(4))
    again = served["generate"](seed=tf.constant(3, tf.int64), num_samples=tf.constant(4))
    np.testing.assert_array_equal(first["images"].numpy(), again["images"].numpy())
    assert first["images"].shape == (4,) + SHAPE


def test_clear_errors(plain, conditional, digits_small):
    vq = vqvae()
    with pytest.raises(TypeError, match="needs a kgen.models.VQVAE"):
        TokenTransformer.from_vqvae("vq.keras")
    network = kgen.networks.transformer_decoder(12, 16, width=8, num_layers=1, num_heads=2,
                                                output_size=8)
    with pytest.raises(ValueError, match="vocabulary_size=12; this TokenTransformer needs 9"):
        TokenTransformer(vq, network)
    short = kgen.networks.transformer_decoder(9, 10, width=8, num_layers=1, num_heads=2,
                                              output_size=8)
    with pytest.raises(ValueError, match="has 10 positions"):
        TokenTransformer(vq, short)
    with pytest.raises(ValueError, match="needs its prefix_vocabulary"):
        model(num_prefix_tokens=2)
    net = plain
    with pytest.raises(ValueError, match="top_k must be an integer of at least 1"):
        net.generate(2, top_k=0)
    with pytest.raises(ValueError, match="top_p must be a number in"):
        net.generate(2, top_p=1.5)
    with pytest.raises(ValueError, match="temperature must be a number in"):
        net.generate(2, temperature=0.0)
    with pytest.raises(ValueError, match="Unknown sampler 'fast'"):
        net.generate(2, sampler="fast")
    with pytest.raises(ValueError, match="not class-conditional"):
        net.generate(2, labels=[0, 1])
    with pytest.raises(ValueError, match="takes no prefix"):
        net.generate(2, prefix=[1])
    with pytest.raises(ValueError, match="pass rows= .* or mask="):
        net.generate(images=digits_small[:2])
    with pytest.raises(ValueError, match="rows must be an integer in 0..4"):
        net.generate(images=digits_small[:2], rows=5)
    with pytest.raises(ValueError, match="pass the images"):
        net.generate(2, rows=1)
    with pytest.raises(ValueError, match="unconditional: fit"):
        fresh = model()
        fresh.compile()
        fresh.fit(digits_small[:8], np.zeros(8, "int32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"labels must be class indices in 0..2"):
        conditional.generate(2, labels=[0, 3], prefix=[0, 0])
    with pytest.raises(ValueError, match="pass prefix="):
        conditional.generate(2, labels=0)
    with pytest.raises(ValueError, match=r"prefix must have shape \(2, 2\)"):
        conditional.generate(2, labels=0, prefix=[[0, 1, 2]] * 2)
    with pytest.raises(ValueError, match=r"prefix ids must lie in 0 .. 3"):
        conditional.generate(2, labels=0, prefix=[0, 4])
    with pytest.raises(TypeError, match="prefix must be integer token ids"):
        conditional.generate(2, labels=0, prefix=[0.5, 1.0])
    with pytest.raises(ValueError, match="pass labels="):
        conditional.codes_log_prob(np.zeros((2, 4, 4), "int32"), prefix=[0, 0])
    with pytest.raises(ValueError, match=r"codes must be in 0..7"):
        conditional.codes_log_prob(np.full((2, 4, 4), 8, "int32"), labels=0, prefix=[0, 0])
    generic = keras.Sequential([keras.Input((16,), dtype="int32"),
                                keras.layers.Embedding(9, 8), keras.layers.Dense(8)])
    plain = TokenTransformer(vq, generic)
    with pytest.raises(ValueError, match="use sampler='uncached'"):
        plain.generate(2, seed=0)
    assert plain.generate(2, seed=0, sampler="uncached").shape == (2,) + SHAPE
