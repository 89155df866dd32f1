"""In-memory tf.data pipelines: images, paired images and unpaired images in data space.

Models work in *data space*: float32 images in ``[-1, 1]``. uint8 images map
``0..255 -> [-1, 1]`` by ``x / 127.5 - 1``; uint16 images map
``0..65535 -> [-1, 1]`` by ``x / 32767.5 - 1``; float images must already be in
``[-1, 1]`` (`kgen.checks.to_data_space`).

The order of every pass is a pure function of the seed and the epoch number
(`kgen.data.epochs`): each pass over a pipeline gives the next epoch, and
`kgen.data.set_epoch` chooses the epoch of the next pass.
"""

import warnings

import numpy as np

from kgen import checks
from kgen.checks import to_data_space, validate_images  # noqa: F401 (re-exported)

# model.fit(dataset) warns that its shuffle=True default is ignored for a tf.data.Dataset;
# the pipelines built here shuffle themselves (shuffle=True in images()), so the warning
# would only confuse.
warnings.filterwarnings("ignore", message="`shuffle=True` was passed, but will be ignored")

_DIVISORS = {np.dtype(np.uint8): 127.5, np.dtype(np.uint16): 32767.5}


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

    The result goes straight into ``model.fit()`` on any Keras backend. Each pass over
    it is one epoch; the order of epoch ``e`` is a pure function of ``(seed, e)``, and
    `kgen.data.set_epoch` chooses the epoch of the next pass (the first pass is epoch 0).

    Args:
        x: images as accepted by `validate_images` (uint8, uint16, or
            floats in ``[-1, 1]``; ``(N, H, W, C)`` or ``(N, H, W)``).
        batch_size: images per batch, a positive integer.
        shuffle: shuffle over the whole array, with a new order every epoch.
        labels: optional integer class labels, one per image (see
            `kgen.checks.labels`); the dataset then yields ``(images, labels)`` with
            int32 labels.
        drop_remainder: drop the last partial batch. Defaults to ``shuffle``,
            so training pipelines keep a fixed batch shape and evaluation
            pipelines keep every image.
        seed: shuffle seed; ``None`` draws one, so that every run has its own orders.
        cache: scale the whole array to float32 once and keep it in memory
            (4x the memory of uint8 images). With ``cache=False`` the raw
            array is kept and each batch is scaled as it is read.

    Returns:
        A ``tf.data.Dataset`` yielding float32 batches ``(B, H, W, C)`` in
        ``[-1, 1]``, or ``(images, labels)`` tuples when labels are given.

    Raises:
        TypeError: a non-image dtype (see `validate_images`), labels that are not
            integers, or a ``batch_size`` or ``seed`` that is not an integer.
        ValueError: bad images (see `validate_images`); bad labels (wrong
            length or shape, negative); a ``batch_size`` below 1, or larger than the
            data set with ``drop_remainder=True`` (no batch would come out).

    Example:

    ```python
    import kgen

    x, y = kgen.data.load("digits", return_labels=True)
    ds = kgen.data.images(x, batch_size=32, labels=y, seed=0)
    images, labels = next(iter(ds))  # (32, 8, 8, 1) float32, (32,) int32
    ```
    """
    x = validate_images(x)
    batch_size = checks.integer(batch_size, "batch_size", minimum=1)
    num_images = len(x)
    if labels is not None:
        labels = class_labels(labels, num_images)
    drop_remainder = _resolve_drop_remainder(drop_remainder, shuffle, batch_size, num_images)
    # cache=True: scale once in numpy. cache=False: keep the raw array, scale per batch.
    reader = ArrayReader(checks.scale_to_data_space(x) if cache else x, labels)

    def assemble(part):
        return reader.batch(part[0])

    return _in_memory((num_images,), batch_size, shuffle, seed, drop_remainder, assemble)


def class_labels(values, num_images):
    """Integer class labels of ``num_images`` images, by `kgen.checks.labels`.

    The number of classes is taken from the labels themselves (their largest value
    plus one), so any non-negative class index that fits in int32 is accepted.
    """
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        array = None
    num_classes = 1
    if array is not None and array.size and array.dtype.kind in "iuf" \
            and np.all(np.isfinite(array)):
        largest = float(np.max(array))
        if largest > np.iinfo(np.int32).max - 1:
            raise ValueError(f"labels must be class indices that fit in int32; got a "
                             f"largest value of {largest:g}.")
        num_classes = max(int(largest) + 1, 1)
    return checks.labels(values, num_classes, num_samples=num_images)


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
    Inputs and targets may differ in size and channels, not in number. Each pass is
    one epoch, ordered as in `images`.

    Args:
        inputs: input images as accepted by `validate_images`.
        targets: target images, one per input (``targets[i]`` pairs with
            ``inputs[i]``).
        batch_size: pairs per batch, a positive integer.
        shuffle: shuffle the pairs, with a new order every epoch.
        seed: shuffle seed; ``None`` draws one.
        drop_remainder: drop the last partial batch. Defaults to ``shuffle``,
            as in `images`.

    Returns:
        A ``tf.data.Dataset`` yielding ``(inputs, targets)`` float32 batches
        ``(B, H, W, C)`` in ``[-1, 1]``.

    Raises:
        TypeError: a non-image dtype (see `validate_images`), or a ``batch_size``
            that is not an integer.
        ValueError: bad images (see `validate_images`), different numbers of
            inputs and targets, or a bad ``batch_size`` (see `images`).

    Example:

    ```python
    import kgen

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
    batch_size = checks.integer(batch_size, "batch_size", minimum=1)
    drop_remainder = _resolve_drop_remainder(drop_remainder, shuffle, batch_size, len(inputs))
    reader_a, reader_b = ArrayReader(inputs), ArrayReader(targets)

    def assemble(part):
        return reader_a.batch(part[0]), reader_b.batch(part[0])

    return _in_memory((len(inputs),), batch_size, shuffle, seed, drop_remainder, assemble)


def unpaired_images(a, b, batch_size=64, shuffle=True, *, seed=None, drop_remainder=None):
    """Build a ``tf.data.Dataset`` of ``(a_batch, b_batch)`` from two unaligned domains.

    Each domain is shuffled on its own, so nothing pairs ``a[i]`` with
    ``b[i]``. One epoch passes once over the larger domain; the smaller one
    cycles through its own permutations (a new one on every pass) to keep up, so
    every batch holds ``batch_size`` images of each domain. Images are scaled to
    ``[-1, 1]``. Each pass over the dataset is one epoch, ordered as in `images`.

    Args:
        a: images of domain A, as accepted by `validate_images`.
        b: images of domain B; the number may differ from ``a``.
        batch_size: images of each domain per batch, a positive integer.
        shuffle: shuffle each domain, with a new order every epoch.
        seed: shuffle seed (the two domains use separate streams of it); ``None``
            draws one.
        drop_remainder: drop the last partial batch. Defaults to ``shuffle``,
            as in `images`, so training batches keep a fixed shape.

    Returns:
        A ``tf.data.Dataset`` yielding ``(a_batch, b_batch)`` float32 batches
        in ``[-1, 1]``, ``max(len(a), len(b))`` images of each domain per epoch
        (fewer with ``drop_remainder``).

    Raises:
        TypeError: a non-image dtype (see `validate_images`), or a ``batch_size``
            that is not an integer.
        ValueError: bad images (see `validate_images`) or a bad ``batch_size``
            (see `images`).

    Example:

    ```python
    import kgen

    a, b = kgen.data.load_unpaired("digits-rotated")
    ds = kgen.data.unpaired_images(a, b, batch_size=32, seed=0)
    batch_a, batch_b = next(iter(ds))  # (32, 8, 8, 1) float32 each
    ```
    """
    a, b = to_data_space(a), to_data_space(b)
    batch_size = checks.integer(batch_size, "batch_size", minimum=1)
    length = max(len(a), len(b))
    drop_remainder = _resolve_drop_remainder(drop_remainder, shuffle, batch_size, length)
    reader_a, reader_b = ArrayReader(a), ArrayReader(b)

    def assemble(part_a, part_b):
        return reader_a.batch(part_a[0]), reader_b.batch(part_b[0])

    return _in_memory((len(a), len(b)), batch_size, shuffle, seed, drop_remainder, assemble)


def _in_memory(sizes, batch_size, shuffle, seed, drop_remainder, assemble):
    """One epoch per pass of batches gathered from in-memory arrays."""
    from kgen.data.epochs import EpochOrder, finish, plain

    tf = _import_tensorflow()
    seed = random_seed() if seed is None else checks.seed(seed)
    order = EpochOrder(sizes, batch_size, seed=seed, shuffle=shuffle,
                       drop_remainder=drop_remainder)
    batches, variable = order.dataset(first_epoch=0, repeat=False, batched=True)
    ds = batches.map(plain(assemble), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    return finish(ds, order.steps, variable)


def random_seed():
    """A seed drawn from the operating system's entropy, for ``seed=None``.

    Raises:
        ValueError: in a program of several processes (`kgen.initialize_processes`),
            where each would draw its own seed and read its own order of the data.
    """
    from kgen.distribute import processes

    count = processes().num_processes
    if count > 1:
        raise ValueError(
            f"seed=None draws a seed of this process's own, but {count} processes train "
            "this model and must read the same order of the data: pass the same seed "
            "(seed=0, or --seed on the command line) on every process.")
    return int(np.random.SeedSequence().entropy % (checks.MAX_SEED + 1))


def global_batches(x, y=None, batch_size=32, shuffle=True, seed=0):
    """Arrays as a ``tf.data.Dataset`` of global batches, for training on several processes.

    What ``fit(x, y, batch_size=..., shuffle=...)`` becomes when several processes train
    one model (`kgen.initialize_processes`): every process holds the same arrays, and
    builds the same batches in the same order (the order of epoch ``e`` a pure function
    of ``(seed, e)``, as in `images`); Keras (JAX) and ``tf.distribute`` (TensorFlow) then
    give each process its own rows of every batch. The arrays are batched as they are
    (uint8 images stay uint8, converted in the training step). The last partial batch is
    dropped (with a warning), since it would not split evenly over the processes.

    Args:
        x: an array, or a tuple of arrays with one row per example.
        y: None, or an array (or tuple of arrays) with one row per example.
        batch_size: the global batch size.
        shuffle: a new order every epoch (False: the arrays' order).
        seed: the seed of the orders (the same on every process).

    Returns:
        A dataset of ``x`` batches, or ``(x, y)`` batches when ``y`` is given.

    Example:

    ```python
    import numpy as np
    from kgen.data.pipeline import global_batches

    points = np.arange(20, dtype="float32").reshape(10, 2)
    first = next(iter(global_batches(points, batch_size=4, shuffle=False)))
    first.shape   # TensorShape([4, 2]); the last 2 of 10 points are dropped
    ```
    """
    import warnings

    tf = _import_tensorflow()
    batch_size = checks.integer(batch_size, "batch_size", minimum=1)
    data = (x,) if y is None else (x, y)
    flat = [np.asarray(part) for part in tf.nest.flatten(data)]
    count = len(flat[0])
    if any(len(part) != count for part in flat):
        raise ValueError(f"every array given to fit() needs one row per example; got "
                         f"{[len(part) for part in flat]} rows.")
    if count < batch_size:
        raise ValueError(f"batch_size {batch_size} is larger than the {count} examples: "
                         "no full global batch can be made. Use a smaller batch_size.")
    if count % batch_size:
        warnings.warn(f"the last {count % batch_size} of {count} examples make a partial "
                      f"batch (of {batch_size}), which would not split evenly over the "
                      "processes: each epoch leaves them out.", stacklevel=3)
    constants = [tf.constant(part) for part in flat]

    def assemble(part):
        rows = [tf.gather(constant, part[0]) for constant in constants]
        batch = tf.nest.pack_sequence_as(data, rows)
        return batch[0] if y is None else batch

    return _in_memory((count,), batch_size, bool(shuffle), checks.seed(seed), True, assemble)


class ArrayReader:
    """Batches of an in-memory array: images (scaled to ``[-1, 1]`` per batch) or points.

    Args:
        data: uint8 or uint16 images (scaled as they are read), float32 images already
            in data space, or float points ``(N, D)``.
        labels: int32 labels, one per example, or None.

    Example:

    ```python
    import numpy as np
    from kgen.data.pipeline import ArrayReader

    reader = ArrayReader(np.full((4, 2, 2, 1), 255, np.uint8))
    reader.batch(np.array([0, 1]), np.array([False, True])).numpy().max()   # 1.0
    ```
    """

    streams = False

    def __init__(self, data, labels=None):
        self.array = np.asarray(data)
        self.labels = None if labels is None else np.asarray(labels, np.int32)
        self.is_image = self.array.ndim == 4
        self._divisor = _DIVISORS.get(self.array.dtype)
        self._tensors = None

    def __len__(self):
        return len(self.array)

    def _data(self):
        tf = _import_tensorflow()
        if self._tensors is None:
            # Eager constants, made once outside any traced function, shared by pipelines.
            with tf.init_scope(), tf.device("/CPU:0"):
                labels = None if self.labels is None else tf.constant(self.labels)
                self._tensors = (tf.constant(self.array), labels)
        return self._tensors

    def batch(self, index, flip=None):
        """The examples ``index`` (an int64 vector), flipped where ``flip`` (a tensor op).

        ``flip`` None flips nothing.
        """
        tf = _import_tensorflow()
        data, labels = self._data()
        x = tf.gather(data, index)
        if self.is_image:
            if flip is not None:
                x = tf.where(tf.reshape(flip, [-1, 1, 1, 1]), tf.reverse(x, axis=[2]), x)
            if self._divisor is not None:
                x = tf.cast(x, tf.float32) / self._divisor - 1.0
            else:
                x = tf.clip_by_value(tf.cast(x, tf.float32), -1.0, 1.0)
        else:
            x = tf.cast(x, tf.float32)
        return x if labels is None else (x, tf.gather(labels, index))

    def read(self, indices):
        """The examples ``indices`` as stored (numpy)."""
        return self.array[np.asarray(indices, np.int64)]


def _import_tensorflow():
    """Import TensorFlow for tf.data, keeping it off the GPU on other backends.

    With the JAX or PyTorch backend, TensorFlow only feeds data; left alone it
    would reserve the GPU memory that the training backend needs.
    """
    global _TENSORFLOW
    if _TENSORFLOW is None:
        import keras
        import tensorflow as tf

        if keras.backend.backend() != "tensorflow":
            try:
                tf.config.set_visible_devices([], "GPU")
            except RuntimeError:
                pass  # TensorFlow was already initialised by someone else: leave it.
        _TENSORFLOW = tf
    return _TENSORFLOW


_TENSORFLOW = None
