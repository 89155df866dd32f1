"""Captions in a training step: one caption per image, drawn from its caption ids."""

import keras
from keras import ops

from kgen import backend


def choose_captions(ids, seed_generator, training=True, model="The model"):
    """One caption's ids ``(N, L)`` of each image of ids ``(N, T, L)``.

    In training, a caption drawn uniformly among each image's captions (the rows that are
    not all zero, a missing caption being a row of zeros), with ``seed_generator``; else
    the first. Ids ``(N, L)`` are returned as they are. Backend-free (`keras.ops`), for
    the training steps of text models (`kgen.models.CLIP`, `kgen.models.TextDiffusion`).

    Args:
        ids: int token ids ``(N, L)`` or ``(N, T, L)``.
        seed_generator: the model's `keras.random.SeedGenerator`.
        training: draw a caption (True) or take the first (False).
        model: the model's name, for the error messages.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.models.captions import choose_captions

    ids = np.array([[[4, 2, 0], [0, 0, 0]], [[5, 2, 0], [6, 2, 0]]], "int32")
    choose_captions(ids, keras.random.SeedGenerator(0), training=False)   # [[4, 2, 0], [5, 2, 0]]
    ```
    """
    ids = ops.convert_to_tensor(ids)
    if not keras.backend.standardize_dtype(ids.dtype).startswith(("int", "uint")):
        raise TypeError(f"{model} takes captions as strings or as int token ids; got "
                        f"dtype {ids.dtype}.")
    if len(ids.shape) == 2:
        return ids
    if len(ids.shape) != 3:
        raise ValueError(f"Token ids must be (N, L) or (N, T, L); got shape "
                         f"{tuple(ids.shape)}.")
    valid = ops.cast(ops.any(ops.not_equal(ids, 0), axis=-1), "float32")
    if training:
        count = ops.sum(valid, axis=1)
        draws = backend.batch_noise(
            lambda shape: keras.random.uniform(shape, seed=seed_generator),
            (ops.shape(ids)[0],))
        rank = ops.minimum(ops.floor(draws * count), ops.maximum(count - 1.0, 0.0))
    else:
        rank = ops.zeros((ops.shape(ids)[0],), "float32")
    position = ops.cumsum(valid, axis=1) - 1.0
    chosen = valid * ops.cast(ops.equal(position, ops.expand_dims(rank, 1)), "float32")
    index = ops.cast(ops.argmax(chosen, axis=1), "int32")
    index = ops.reshape(index, (-1, 1, 1))
    return ops.take_along_axis(ids, index, axis=1)[:, 0]


__all__ = ["choose_captions"]
