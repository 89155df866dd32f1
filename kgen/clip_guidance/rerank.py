"""CLIP re-ranking: order samples by their CLIP similarity with a prompt (Ramesh et al.
2021, "Zero-Shot Text-to-Image Generation", section 2.5)."""

from typing import NamedTuple

import keras
import numpy as np

from kgen import checks


class Ranked(NamedTuple):
    """The result of `rerank`: the kept images, best first, their similarities with the
    prompt, and their positions in the images given."""

    images: np.ndarray
    similarity: np.ndarray
    indices: np.ndarray


def rerank(clip, images, prompt, top=None, batch_size=256):
    """Orders ``images`` by the cosine similarity of their CLIP embedding with ``prompt``.

    Draw more samples than needed (``model.generate(64, seed=0)``) and keep the ``top``
    the CLIP model finds closest to the prompt: a cheap way to better prompt adherence
    for any kgen model whose samples have the CLIP model's image shape.

    Args:
        clip: a trained `kgen.models.CLIP`.
        images: ``(N, H, W, C)`` of the CLIP model's image shape, uint8 or floats in
            ``[-1, 1]`` (the samples of ``generate()``).
        prompt: one string.
        top: how many images to keep (default: all of them, ordered).
        batch_size: images per call of the compiled encoder.

    Returns:
        `Ranked`: ``images`` (the kept images as given, best first), ``similarity``
        (float32, in ``[-1, 1]``, descending) and ``indices`` (int, their rows in
        ``images``).

    Raises:
        TypeError: ``clip`` is not a CLIP model, or the prompt is not one string.
        ValueError: images of another shape, an empty or too long prompt, ``top`` not an
            integer in ``1 .. N``.

    Example:

    ```python
    import kgen

    clip = kgen.models.CLIP.from_shape((8, 8, 1), ["a dark square", "a light one"],
                                       embed_dim=8, width=8, num_layers=1, num_heads=2,
                                       base_filters=4)
    digits = kgen.data.load("digits")[:10]
    best = kgen.clip_guidance.rerank(clip, digits, "a dark square", top=3)
    best.images.shape, best.indices.shape   # (3, 8, 8, 1), (3,)
    ```
    """
    _check_clip(clip, "rerank")
    prompt = _one_prompt(prompt)
    given = images if isinstance(images, np.ndarray) else \
        np.asarray(keras.ops.convert_to_numpy(images))
    x = checks.data_space_images(given, clip.image_shape, "images", "CLIP")
    if given.ndim == len(clip.image_shape):
        given = given[None]
    top = len(x) if top is None else checks.integer(top, "top", 1)
    if top > len(x):
        raise ValueError(f"top={top} is more than the {len(x)} images given.")
    similarity = clip.similarity(x, [prompt], batch_size=batch_size)[:, 0]
    order = np.argsort(-similarity, kind="stable")[:top]
    return Ranked(given[order], similarity[order].astype(np.float32), order)


def _check_clip(clip, name):
    from kgen.models.clip import CLIP

    if not isinstance(clip, CLIP):
        raise TypeError(f"{name} needs a trained kgen.models.CLIP (its image and text "
                        f"encoders judge the images); got {type(clip).__name__}.")


def _one_prompt(prompt):
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be one string; got {type(prompt).__name__}. "
                        "Call once per prompt.")
    if not prompt.strip():
        raise ValueError("prompt is empty: give the text the images should match.")
    return prompt
