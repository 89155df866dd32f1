"""CLIP guidance: latent search on a GAN (its objective, its Adam steps, what it returns)
and CLIP re-ranking, with their errors."""

import keras
import numpy as np
import pytest

import kgen
from kgen.clip_guidance import rerank, search_latents

from checks_catalogue import covers

SHAPE, PROMPT = (8, 8, 1), "a dark square"


@pytest.fixture(scope="module")
def clip():
    keras.utils.set_random_seed(0)
    return kgen.models.CLIP.from_shape(SHAPE, ["a dark square", "a light one"], embed_dim=8,
                                       width=8, num_layers=1, num_heads=2, base_filters=4)


@pytest.fixture(scope="module")
def gan():
    return kgen.models.GAN.from_shape(SHAPE, latent_dim=4, base_filters=4, seed=0)


def objective(gan, clip, latents, prior_weight):
    """The documented loss of every latent vector, computed from generate() and
    similarity()."""
    similarity = clip.similarity(gan.generate(latents=latents), [PROMPT])[:, 0]
    return -similarity + prior_weight * 0.5 * np.mean(np.square(latents), axis=1)


def test_one_step_moves_every_coordinate_by_the_learning_rate_down_the_objective(gan, clip):
    start = gan.sample_latents(3, seed=1)
    found = search_latents(gan, clip, PROMPT, latents=start, steps=1, learning_rate=1e-3,
                           prior_weight=0.5)
    # Adam's first step is learning_rate times the sign of the gradient.
    step = found.latents - start
    np.testing.assert_allclose(np.abs(step), 1e-3, rtol=1e-3)
    # It goes down the documented objective, along every coordinate whose slope (central
    # differences) dominates its row: the networks' kinks make a small slope's sign
    # depend on the difference step.
    assert np.all(objective(gan, clip, found.latents, 0.5) < objective(gan, clip, start, 0.5))
    h = 1e-3
    for row in range(3):
        slopes = np.zeros(gan.latent_dim)
        for axis in range(gan.latent_dim):
            up, down = start[row].copy(), start[row].copy()
            up[axis] += h
            down[axis] -= h
            slopes[axis] = (objective(gan, clip, up[None], 0.5)
                            - objective(gan, clip, down[None], 0.5))[0] / (2 * h)
        dominant = np.abs(slopes) > 0.3 * np.abs(slopes).max()
        np.testing.assert_array_equal(np.sign(step[row, dominant]), -np.sign(slopes[dominant]))


def test_the_search_raises_the_samples_similarity_and_returns_consistent_results(gan, clip):
    # Without the prior term the objective is the similarity alone.
    found = search_latents(gan, clip, PROMPT, 4, seed=0, steps=20, learning_rate=0.1,
                           prior_weight=0.0)
    np.testing.assert_array_equal(found.initial_similarity, clip.similarity(
        gan.generate(4, seed=0), [PROMPT])[:, 0])
    # Adam is not a descent method and the tiny networks are piecewise linear: a vector
    # may sit where 20 steps find no slope, but the samples' similarity rises.
    gain = found.similarity - found.initial_similarity
    assert gain.mean() > 0.1 and np.sum(gain > 0) >= 3, gain
    np.testing.assert_allclose(found.samples, gan.generate(latents=found.latents), atol=1e-6)
    np.testing.assert_allclose(found.similarity,
                               clip.similarity(found.samples, [PROMPT])[:, 0], atol=1e-6)
    assert found.samples.dtype == np.float32 and found.samples.shape == (4,) + SHAPE
    # The same arguments give the same result.
    again = search_latents(gan, clip, PROMPT, 4, seed=0, steps=20, learning_rate=0.1,
                           prior_weight=0.0)
    np.testing.assert_allclose(again.latents, found.latents, atol=1e-6)
    # With the prior term (the default weight), the whole objective falls;
    # a heavy prior pulls the vectors towards the prior's mode (zero).
    start = gan.sample_latents(4, seed=0)
    guided = search_latents(gan, clip, PROMPT, 4, seed=0, steps=20, learning_rate=0.1)
    assert np.mean(objective(gan, clip, guided.latents, 0.1)) < \
        np.mean(objective(gan, clip, start, 0.1))
    held = search_latents(gan, clip, PROMPT, 4, seed=0, steps=20, learning_rate=0.1,
                          prior_weight=50.0)
    assert np.linalg.norm(held.latents) < min(np.linalg.norm(start),
                                              np.linalg.norm(found.latents))


def test_a_conditional_gan_is_searched_with_its_labels(clip):
    cgan = kgen.models.ConditionalGAN.from_shape(SHAPE, num_classes=3, latent_dim=4,
                                                 base_filters=4, seed=0)
    found = search_latents(cgan, clip, PROMPT, 3, seed=0, labels=[0, 1, 2], steps=5,
                           learning_rate=0.1)
    np.testing.assert_allclose(found.samples, cgan.generate(latents=found.latents,
                                                            labels=[0, 1, 2]), atol=1e-6)
    assert np.mean(found.similarity - found.initial_similarity) > 0
    with pytest.raises(ValueError, match="pass labels="):
        search_latents(cgan, clip, PROMPT, 3, seed=0, steps=1)
    with pytest.raises(ValueError, match="class indices in 0..2"):
        search_latents(cgan, clip, PROMPT, 3, seed=0, labels=[0, 1, 5], steps=1)


def test_rerank_orders_the_images_by_similarity_and_keeps_them_as_given(clip):
    digits = kgen.data.load("digits")[:12]
    similarity = clip.similarity(digits, [PROMPT])[:, 0]
    ranked = rerank(clip, digits, PROMPT, top=5)
    np.testing.assert_array_equal(ranked.indices, np.argsort(-similarity, kind="stable")[:5])
    np.testing.assert_array_equal(ranked.images, digits[ranked.indices])
    assert ranked.images.dtype == np.uint8
    np.testing.assert_allclose(ranked.similarity, similarity[ranked.indices], atol=1e-6)
    assert np.all(np.diff(ranked.similarity) <= 0)
    everything = rerank(clip, kgen.data.to_data_space(digits), PROMPT)
    np.testing.assert_array_equal(everything.indices[:5], ranked.indices)
    assert len(everything.indices) == 12


@covers("clip-guidance-inputs")
def test_clear_errors(gan, clip):
    digits = kgen.data.load("digits")[:4]
    with pytest.raises(TypeError, match="needs a trained kgen.models.CLIP"):
        rerank(gan, digits, PROMPT)
    with pytest.raises(TypeError, match="prompt must be one string"):
        rerank(clip, digits, [PROMPT])
    with pytest.raises(ValueError, match="prompt is empty"):
        search_latents(gan, clip, "  ", 2, steps=1)
    with pytest.raises(ValueError, match="images must have shape"):
        rerank(clip, np.zeros((2, 16, 16, 1), "uint8"), PROMPT)
    with pytest.raises(ValueError, match="top=5 is more than the 4 images"):
        rerank(clip, digits, PROMPT, top=5)
    with pytest.raises(ValueError, match="words"):
        rerank(clip, digits, " ".join(["dark"] * 100))
    vae = kgen.models.VAE.from_shape(SHAPE, latent_dim=4, base_filters=4)
    with pytest.raises(TypeError, match="latent vectors of a kgen.models.GAN.*rerank"):
        search_latents(vae, clip, PROMPT, 2)
    large = kgen.models.GAN.from_shape((16, 16, 1), latent_dim=4, base_filters=4)
    with pytest.raises(ValueError, match=r"images of shape \(16, 16, 1\).*takes \(8, 8, 1\)"):
        search_latents(large, clip, PROMPT, 2)
    with pytest.raises(ValueError, match="Pass num_samples"):
        search_latents(gan, clip, PROMPT)
    with pytest.raises(ValueError, match="not both"):
        search_latents(gan, clip, PROMPT, 2, latents=np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"latents must have shape \(n, 4\)"):
        search_latents(gan, clip, PROMPT, latents=np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="NaN or inf"):
        search_latents(gan, clip, PROMPT, latents=np.full((2, 4), np.nan, "float32"))
    with pytest.raises(ValueError, match="not class-conditional"):
        search_latents(gan, clip, PROMPT, 2, labels=[0, 1])
    with pytest.raises(ValueError, match="learning_rate"):
        search_latents(gan, clip, PROMPT, 2, learning_rate=0.0)
    with pytest.raises(TypeError, match="steps must be an integer"):
        search_latents(gan, clip, PROMPT, 2, steps=2.5)
    with pytest.raises(FloatingPointError, match="lower learning_rate"):
        search_latents(gan, clip, PROMPT, 2, seed=0, steps=3, learning_rate=1e38)
