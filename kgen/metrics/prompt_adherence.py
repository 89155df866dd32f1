"""Prompt adherence: the share of generated scenes that show every attribute their prompt names.

A text-to-image model is asked for scenes of ``"captioned_digits"`` by their captions; the
scene classifier shipped with kgen (`kgen.metrics.scene_attributes`) reads the digit, its
colour, the background, the size and the position of each sample, and a sample *adheres*
when every one of the five is the one asked for (the protocol of the text-to-image
benchmark, ``benchmarks/text_diffusion.py``).
"""

import numpy as np

from kgen.data import captioned
from kgen.metrics.extractors.scene_classifier import scene_attributes


def prompt_adherence(images, attributes, *, weights=None, batch_size=256):
    """How often the scene classifier reads the asked-for attributes in ``images``.

    Args:
        images: ``(N, 32, 32, 3)`` generated scenes, uint8 ``0..255`` or floats in data
            space ``[-1, 1]``.
        attributes: what each image was asked to show: a mapping with one integer array
            ``(N,)`` per attribute of `kgen.data.captioned.ATTRIBUTES`, each indexing that
            attribute's values, as the ``"attributes"`` of
            `kgen.data.captioned.load_scenes` (whose ``"captions"`` are the prompts).
        weights: None for the scene classifier's shipped weights, or a path to others.
        batch_size: images per forward pass of the classifier.

    Returns:
        A dict of floats in ``[0, 1]``: ``"all"``, the share of images whose five
        attributes are all right, and one entry per attribute, the share of images with
        that attribute right.

    Raises:
        ValueError: attributes that are not a mapping, lack an attribute, have another
            length than ``images`` or hold an index outside that attribute's values;
            images of another shape or outside ``[-1, 1]`` (as `scene_attributes`).

    Example:

    ```python
    from kgen.data import captioned
    from kgen.metrics import prompt_adherence

    scenes = captioned.load_scenes("test", num_samples=8, seed=0)
    prompt_adherence(scenes["images"], scenes["attributes"])["all"]   # 1.0
    ```

    The real scenes of the prompts are the ceiling of what the classifier confirms
    (``prompt_adherence(scenes["images"], scenes["attributes"])``).
    """
    wanted = _checked_attributes(attributes, len(images))
    seen = scene_attributes(images, weights=weights, batch_size=batch_size)
    right = {name: seen[name] == wanted[name] for name in captioned.ATTRIBUTES}
    result = {"all": float(np.logical_and.reduce(list(right.values())).mean())}
    result.update({name: float(value.mean()) for name, value in right.items()})
    return result


def _checked_attributes(attributes, count):
    """The asked-for attributes as int arrays ``(count,)``; a ValueError naming what is wrong."""
    names = list(captioned.ATTRIBUTES)
    if not hasattr(attributes, "keys"):
        raise ValueError(f"attributes must be a mapping of {names} to index arrays (the "
                         f"'attributes' of kgen.data.captioned.load_scenes); got "
                         f"{type(attributes).__name__}.")
    missing = [name for name in names if name not in attributes]
    if missing:
        raise ValueError(f"attributes lacks {missing}: give one index array per attribute "
                         f"of {names}.")
    wanted = {}
    for name in names:
        values = np.asarray(attributes[name])
        if values.shape != (count,) or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"attributes[{name!r}] must be {count} integer indices, one per "
                             f"image; got an array of shape {values.shape} and dtype "
                             f"{values.dtype}.")
        size = len(captioned.ATTRIBUTES[name])
        if values.size and (values.min() < 0 or values.max() >= size):
            raise ValueError(f"attributes[{name!r}] indexes {size} values "
                             f"{list(captioned.ATTRIBUTES[name])}; got indices from "
                             f"{values.min()} to {values.max()}.")
        wanted[name] = values
    return wanted


__all__ = ["prompt_adherence"]
