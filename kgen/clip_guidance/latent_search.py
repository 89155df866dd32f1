"""CLIP-guided latent search: gradient ascent on a GAN's latent vectors towards a prompt.

The generator ``G`` and the CLIP model stay fixed; each latent vector ``z`` takes Adam
steps down the loss ``-cos(E_image(G(z)), E_text(prompt)) + prior_weight * |z|^2 / (2d)``
(the cosine similarity of the sample's CLIP embedding with the prompt's, and the
negative log-density of the standard normal prior per latent dimension, which keeps
``z`` where the generator was trained). This is the "CLIP + GAN" recipe of Galatolo et al.
2021 ("Generating images from caption and vice versa via CLIP-Guided Generative Latent
Space Search") and of VQGAN-CLIP (Crowson et al. 2022), on kgen's GANs.
"""

from typing import NamedTuple

import numpy as np
from keras import ops

from kgen import backend, checks
from kgen.clip_guidance.rerank import _check_clip, _one_prompt

#: Adam's moment decay rates and denominator offset (Kingma & Ba 2015).
_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-8


class GuidedSamples(NamedTuple):
    """The result of `search_latents`: the samples of the optimised latent vectors
    (float32 ``(n, H, W, C)`` in ``[-1, 1]``), those vectors, and each sample's CLIP
    similarity with the prompt before and after the search."""

    samples: np.ndarray
    latents: np.ndarray
    similarity: np.ndarray
    initial_similarity: np.ndarray


def search_latents(model, clip, prompt, num_samples=None, *, seed=None, latents=None,
                   labels=None, steps=100, learning_rate=0.05, prior_weight=0.1):
    """Moves a GAN's latent vectors so that its samples match ``prompt`` under ``clip``.

    Every latent vector is optimised on its own (``steps`` Adam steps of
    ``learning_rate``), in one compiled loop. The samples stay the GAN's: the search
    only chooses where in its latent space to draw them, so it can find what the GAN
    can draw, never more.

    Args:
        model: a trained `kgen.models.GAN` (or `kgen.models.ConditionalGAN`, with
            ``labels``) whose samples have the CLIP model's image shape. Its sampling
            generator (the moving average where the GAN keeps one) draws the samples.
        clip: a trained `kgen.models.CLIP`.
        prompt: one string.
        num_samples: how many latent vectors to draw from ``seed`` (or pass ``latents``).
        seed: the seed of the starting latent vectors (as for ``model.generate``).
        latents: starting latent vectors ``(n, latent_dim)`` instead.
        labels: the class labels of a conditional GAN (one integer, or one per sample).
        steps: optimisation steps.
        learning_rate: Adam's step size in latent space.
        prior_weight: the weight of the prior term; 0 lets the vectors go anywhere,
            larger values keep them closer to the typical vectors of the prior.

    Returns:
        `GuidedSamples` (``samples``, ``latents``, ``similarity``,
        ``initial_similarity``).

    Raises:
        TypeError: ``model`` is not a GAN, ``clip`` is not a CLIP model, the prompt is
            not one string, or an option of the wrong type.
        ValueError: the GAN's samples and the CLIP model's images differ in shape, no
            ``num_samples`` or ``latents``, latents of the wrong shape or not finite,
            labels missing (conditional GAN) or given (unconditional), an empty or too
            long prompt, an option out of range.

    Example:

    ```python
    import kgen

    clip = kgen.models.CLIP.from_shape((8, 8, 1), ["a dark square", "a light one"],
                                       embed_dim=8, width=8, num_layers=1, num_heads=2,
                                       base_filters=4)
    gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=8, base_filters=4, seed=0)
    found = kgen.clip_guidance.search_latents(gan, clip, "a dark square", 4, seed=0,
                                              steps=5)
    found.samples.shape, found.similarity.shape   # (4, 8, 8, 1), (4,)
    ```
    """
    from kgen.models.conditional_gan import ConditionalGAN
    from kgen.models.gan import GAN

    _check_clip(clip, "search_latents")
    if not isinstance(model, GAN):
        raise TypeError(
            "search_latents optimises the latent vectors of a kgen.models.GAN or "
            f"ConditionalGAN; got {type(model).__name__}. For any other model, draw "
            "samples and order them with kgen.clip_guidance.rerank.")
    prompt = _one_prompt(prompt)
    generator = model.sampling_generator
    steps = checks.integer(steps, "steps", 1)
    learning_rate = checks.number(learning_rate, "learning_rate", 0.0,
                                  exclusive_minimum=True)
    prior_weight = checks.number(prior_weight, "prior_weight", 0.0)
    z = _starting_latents(model, num_samples, seed, latents)
    conditional = isinstance(model, ConditionalGAN)
    if conditional:
        if labels is None:
            raise ValueError("This ConditionalGAN draws a class per sample: pass labels= "
                             "(one integer, or one per sample).")
        y = model.check_labels(labels, len(z))
    elif labels is not None:
        raise ValueError("This GAN is not class-conditional: it takes no labels.")
    else:
        y = np.zeros((len(z),), "int32")     # not read
    text = clip.encode_text([prompt])        # (1, embed_dim), unit length

    def draw(vectors, classes):
        images = generator([vectors, classes] if conditional else vectors, training=False)
        return ops.cast(images, "float32")

    shape = tuple(int(size) for size in ops.shape(draw(z[:1], y[:1]))[1:])
    if shape != tuple(clip.image_shape):
        raise ValueError(
            f"The GAN draws images of shape {shape} and the CLIP model takes "
            f"{tuple(clip.image_shape)}: use a CLIP model trained on images of the GAN's "
            "shape.")

    def loss_per_vector(vectors, classes, target):
        similarity = ops.sum(clip.embed_images(draw(vectors, classes)) * target, axis=-1)
        prior = 0.5 * ops.mean(ops.square(vectors), axis=-1)
        return -similarity + prior_weight * prior

    def search(start, classes, target):
        def step(index, state):
            vectors, first, second = state
            # Each vector's loss depends on that vector only (the networks run in
            # inference mode): the gradient of the sum is every vector's own gradient.
            gradient = backend.input_gradient(
                lambda v: loss_per_vector(v, classes, target), vectors)
            first = _BETA_1 * first + (1.0 - _BETA_1) * gradient
            second = _BETA_2 * second + (1.0 - _BETA_2) * ops.square(gradient)
            count = ops.cast(index + 1, "float32")
            first_hat = first / (1.0 - ops.power(_BETA_1, count))
            second_hat = second / (1.0 - ops.power(_BETA_2, count))
            vectors = vectors - learning_rate * first_hat / (ops.sqrt(second_hat) + _EPSILON)
            return tuple(ops.stop_gradient(t) for t in (vectors, first, second))

        zeros = ops.zeros_like(start)
        found, _, _ = ops.fori_loop(0, steps, step, (start, zeros, zeros))
        return found

    variables = generator.variables + clip.image_encoder.variables + \
        clip.image_projection.variables
    found = backend.compile_function(search, variables)(z, y, text)
    found = np.asarray(ops.convert_to_numpy(found), "float32")
    if not np.all(np.isfinite(found)):
        raise FloatingPointError(
            "The latent search diverged (NaN or inf latents): lower learning_rate.")
    condition = {"labels": y} if conditional else {}
    samples = np.asarray(model.generate(latents=found, **condition), "float32")
    return GuidedSamples(
        samples, found, clip.similarity(samples, [prompt])[:, 0],
        clip.similarity(model.generate(latents=z, **condition), [prompt])[:, 0])


def _starting_latents(model, num_samples, seed, latents):
    if latents is None:
        if num_samples is None:
            raise ValueError("Pass num_samples (latent vectors drawn from seed) or latents=.")
        return np.asarray(model.sample_latents(checks.integer(num_samples, "num_samples", 1),
                                               seed), "float32")
    if num_samples is not None:
        raise ValueError("Pass num_samples or latents=, not both.")
    z = np.asarray(ops.convert_to_numpy(latents), "float32")
    if z.ndim != 2 or z.shape[1] != model.latent_dim or len(z) == 0:
        raise ValueError(f"latents must have shape (n, {model.latent_dim}) with n >= 1; "
                         f"got {z.shape}.")
    if not np.all(np.isfinite(z)):
        raise ValueError("latents contain NaN or inf.")
    return z
