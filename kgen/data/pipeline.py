"""Checks on image arrays, scaling to data space, and the tf.data input pipeline.

Models work in *data space*: float32 images in ``[-1, 1]``. uint8 images map
``0..255 -> [-1, 1]`` by ``x / 127.5 - 1``; uint16 images map
``0..65535 -> [-1, 1]`` by ``x / 32767.5 - 1``; float images must already be in
``[-1, 1]``.
"""

import warnings

import numpy as np

from kgen.checks import to_data_space, validate_images  # noqa: F401 (re-exported)

# model.fit(dataset) warns that its shuffle=True default is ignored for a tf.data.Dataset;
# the pipelines built here shuffle themselves (shuffle=True in images()), so the warning
# would only confuse.
warnings.filterwarnings("ignore", message="`shuffle=True` was passed, but will be ignored")

def _validate_labels(labels, num_images):
    try:
        labels = np.asarray(labels)
    except (ValueError, TypeError) as error:
        raise ValueError(f"labels must be a 1-D integer array ({error}).") from None
    if labels.ndim != 1:
        raise ValueError(
            f"labels must be a 1-D integer array of length {num_images}, got shape "
            f"{labels.shape}. Flatten (N, 1) labels with labels.reshape(-1); one-hot "
            "labels with labels.argmax(-1)."
        )
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must have an integer dtype, got {labels.dtype}. Convert class "
            "indices with labels.astype(np.int32)."
        )
    if len(labels) != num_images:
        raise ValueError(
            f"Got {len(labels)} labels for {num_images} images: there must be one label "
            "per image."
        )
    if len(labels) and labels.min() < 0:
        raise ValueError(
            f"labels must be class indices 0..K-1, got negative values (min "
            f"{labels.min()})."
        )
    if len(labels) and labels.max() > np.iinfo(np.int32).max:
        raise ValueError(f"labels must fit in int32, got max {labels.max()}.")
    return labels.astype(np.int32)


def _check_batch_size(batch_size):
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")


def images(
    x,
    batch_size=64,
    shuffle=True,
    labels=None,
    *,
    drop_remainder=None,
    seed=None,
    cache=True,
):
    """Build a batched, prefetched ``tf.data.Dataset`` of images in ``[-1, 1]``.

    The result goes straight into ``model.fit()`` on any Keras backend.

    Args:
        x: images as accepted by `validate_images` (uint8, uint16, or
            floats in ``[-1, 1]``; ``(N, H, W, C)`` or ``(N, H, W)``).
        batch_size: images per batch, a positive integer.
        shuffle: shuffle over the whole array, with a new order every epoch.
        labels: optional 1-D integer class labels, one per image; the
            dataset then yields ``(images, labels)`` with int32 labels.
        drop_remainder: drop the last partial batch. Defaults to ``shuffle``,
            so training pipelines keep a fixed batch shape and evaluation
            pipelines keep every image.
        seed: shuffle seed; ``None`` gives a different order on every run.
        cache: scale the whole array to float32 once and keep it in memory
            (4x the memory of uint8 images). With ``cache=False`` the raw
            array is kept and each batch is scaled as it is read.

    Returns:
        A ``tf.data.Dataset`` yielding float32 batches ``(B, H, W, C)`` in
        ``[-1, 1]``, or ``(images, labels)`` tuples when labels are given.

    Raises:
        TypeError: a non-image dtype (see `validate_images`).
        ValueError: bad images (see `validate_images`); bad labels (wrong
            length, non-integer, negative); a bad ``batch_size``, or a
            ``batch_size`` larger than the data set with
            ``drop_remainder=True`` (no batch would come out).

    Example:

    ```python
    x, y = kgen.data.load("digits", return_labels=True)
    ds = kgen.data.images(x, batch_size=32, labels=y, seed=0)
    images, labels = next(iter(ds))  # (32, 8, 8, 1) float32, (32,) int32
    ```
    """
    x = validate_images(x)
    _check_batch_size(batch_size)
    num_images = len(x)
    if labels is not None:
        labels = _validate_labels(labels, num_images)
    drop_remainder = _resolve_drop_remainder(drop_remainder, shuffle, batch_size, num_images)

    tf = _import_tensorflow()
    # cache=True: scale once in numpy. cache=False: keep the raw array, scale per batch.
    source = to_data_space(x) if cache else x
    with tf.device("/CPU:0"):
        ds = tf.data.Dataset.from_tensor_slices(source if labels is None else (source, labels))
    if shuffle:
        ds = ds.shuffle(num_images, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if not cache:
        scale = _batch_scaler(tf, x.dtype)
        if labels is None:
            ds = ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(lambda b, y: (scale(b), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _resolve_drop_remainder(drop_remainder, shuffle, batch_size, num_images):
    """drop_remainder defaulting to shuffle; an error when no batch would come out."""
    if drop_remainder is None:
        drop_remainder = bool(shuffle)
    if drop_remainder and batch_size > num_images:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {num_images} images, so with "
            "drop_remainder=True no batch would be produced. Use a smaller batch_size "
            "or pass drop_remainder=False."
        )
    return drop_remainder


def paired_images(inputs, targets, batch_size=64, shuffle=True, *, seed=None, drop_remainder=None):
    """Build a ``tf.data.Dataset`` of aligned ``(input_batch, target_batch)`` pairs in ``[-1, 1]``.

    The pairs stay together under shuffling, so the result goes straight into
    ``model.fit()`` for paired translation (pix2pix) on any Keras backend.
    Inputs and targets may differ in size and channels, not in number.

    Args:
        inputs: input images as accepted by `validate_images`.
        targets: target images, one per input (``targets[i]`` pairs with
            ``inputs[i]``).
        batch_size: pairs per batch, a positive integer.
        shuffle: shuffle the pairs, with a new order every epoch.
        seed: shuffle seed; ``None`` gives a different order on every run.
        drop_remainder: drop the last partial batch. Defaults to ``shuffle``,
            as in `images`.

    Returns:
        A ``tf.data.Dataset`` yielding ``(inputs, targets)`` float32 batches
        ``(B, H, W, C)`` in ``[-1, 1]``.

    Raises:
        TypeError: a non-image dtype (see `validate_images`).
        ValueError: bad images (see `validate_images`), different numbers of
            inputs and targets, or a bad ``batch_size`` (see `images`).

    Example:

    ```python
    inputs, targets = kgen.data.load_paired("digits-edges")
    ds = kgen.data.paired_images(inputs, targets, batch_size=32, seed=0)
    x, y = next(iter(ds))  # (32, 8, 8, 1) float32 each
    ```
    """
    inputs, targets = to_data_space(inputs), to_data_space(targets)
    if len(inputs) != len(targets):
        raise ValueError(
            f"Got {len(inputs)} inputs and {len(targets)} targets: paired data needs "
            "exactly one target per input. For unaligned domains use unpaired_images."
        )
    _check_batch_size(batch_size)
    drop_remainder = _resolve_drop_remainder(drop_remainder, shuffle, batch_size, len(inputs))
    tf = _import_tensorflow()
    with tf.device("/CPU:0"):
        ds = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle:
        ds = ds.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def unpaired_images(a, b, batch_size=64, shuffle=True, *, seed=None, drop_remainder=None):
    """Build a ``tf.data.Dataset`` of ``(a_batch, b_batch)`` from two unaligned domains.

    Each domain is shuffled on its own, so nothing pairs ``a[i]`` with
    ``b[i]``. One epoch passes once over the larger domain; the smaller one
    is repeated (reshuffled on every pass) to keep up, so every batch holds
    ``batch_size`` images of each domain. Images are scaled to ``[-1, 1]``.

    Args:
        a: images of domain A, as accepted by `validate_images`.
        b: images of domain B; the number may differ from ``a``.
        batch_size: images of each domain per batch, a positive integer.
        shuffle: shuffle each domain, with a new order every epoch.
        seed: shuffle seed (domain B uses ``seed + 1``); ``None`` gives a
            different order on every run.
        drop_remainder: drop the last partial batch. Defaults to ``shuffle``,
            as in `images`, so training batches keep a fixed shape.

    Returns:
        A ``tf.data.Dataset`` yielding ``(a_batch, b_batch)`` float32 batches
        in ``[-1, 1]``, ``max(len(a), len(b))`` images of each domain per epoch
        (fewer with ``drop_remainder``).

    Raises:
        TypeError: a non-image dtype (see `validate_images`).
        ValueError: bad images (see `validate_images`) or a bad ``batch_size``
            (see `images`).

    Example:

    ```python
    a, b = kgen.data.load_unpaired("digits-rotated")
    ds = kgen.data.unpaired_images(a, b, batch_size=32, seed=0)
    batch_a, batch_b = next(iter(ds))  # (32, 8, 8, 1) float32 each
    ```
    """
    a, b = to_data_space(a), to_data_space(b)
    _check_batch_size(batch_size)
    length = max(len(a), len(b))
    drop_remainder = _resolve_drop_remainder(drop_remainder, shuffle, batch_size, length)
    tf = _import_tensorflow()
    domains = []
    for offset, x in enumerate((a, b)):
        with tf.device("/CPU:0"):
            ds = tf.data.Dataset.from_tensor_slices(x)
        if shuffle:
            domain_seed = None if seed is None else seed + offset
            ds = ds.shuffle(len(x), seed=domain_seed, reshuffle_each_iteration=True)
        domains.append(ds if len(x) == length else ds.repeat())
    ds = tf.data.Dataset.zip(tuple(domains)).take(length)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def _batch_scaler(tf, dtype):
    """A tf function mapping a raw batch to float32 data space, as to_data_space does."""
    divisor = {np.dtype(np.uint8): 127.5, np.dtype(np.uint16): 32767.5}.get(np.dtype(dtype))

    def scale(batch):
        batch = tf.cast(batch, tf.float32)
        if divisor is None:
            return tf.clip_by_value(batch, -1.0, 1.0)
        return batch / divisor - 1.0

    return scale


def _import_tensorflow():
    """Import TensorFlow for tf.data, keeping it off the GPU on other backends.

    With the JAX or PyTorch backend, TensorFlow only feeds data; left alone it
    would reserve the GPU memory that the training backend needs.
    """
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:
            pass  # TensorFlow was already initialised by someone else: leave it.
    return tf
