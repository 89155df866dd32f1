"""The deterministic epoch order: which examples, in which order, flipped or not.

The examples of epoch ``e`` are a pure function of ``(seed, e)``: each domain's order is
``tf.random.experimental.stateless_shuffle`` of its indices with a seed made from
``(seed, e)``, and each flip is a stateless draw of ``(seed, e, index)``. Nothing depends
on how many epochs ran before, so a run resumed at epoch ``k`` (a pipeline started with
``first_epoch=k``) sees exactly the batches that an uninterrupted run saw from epoch ``k``
on, and starting there costs nothing: the earlier epochs are never computed.

An epoch holds ``length`` examples: the size of the largest domain, cut to a multiple of
the batch size when the remainder is dropped. A smaller domain (the other domain of
unpaired data) cycles through its own permutations: the example at position ``p`` of the
run (``p = e * length + j``) is element ``p % m`` of the permutation of pass ``p // m``,
where ``m`` is the domain's size. Every image of the smaller domain is therefore seen
once per pass, and the passes too are a pure function of the seed.
"""

import numpy as np

#: The largest epoch number a repeating pipeline reaches.
MAX_EPOCH = 2**62

# Separate random streams for the order and the flips of each domain, and for the passes
# of a cycling domain (whose seeds use a pass number where the others use the epoch).
_ORDER, _FLIP, _PASS_ORDER, _PASS_FLIP = 0, 1, 2, 3
_STREAMS_PER_DOMAIN = 4

# The attribute of a dataset that holds its epoch variable (see set_epoch).
_EPOCH_ATTRIBUTE = "_kgen_epoch"


def _tf():
    from kgen.data.pipeline import _import_tensorflow

    return _import_tensorflow()


def stateless_seed(seed, epoch, stream):
    """The seed, a shape-``[2]`` tensor, of one random stream of one epoch.

    Args:
        seed: the run's seed (an integer or an int64 scalar tensor).
        epoch: the epoch (or pass) number (an integer or an int64 scalar tensor).
        stream: which stream (an integer): the order or the flips of a domain.

    Returns:
        An int32 tensor of shape ``[2]`` for the ``tf.random.stateless_*`` ops.

    Example:

    ```python
    from kgen.data.epochs import stateless_seed
    stateless_seed(0, 3, 1).shape   # TensorShape([2])
    ```
    """
    tf = _tf()
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, stream)


def permutation(size, seed, epoch, stream=_ORDER):
    """The order of ``size`` examples in one epoch: an int64 permutation of ``0..size-1``.

    Args:
        size: the number of examples.
        seed: the run's seed.
        epoch: the epoch (or pass) number.
        stream: which random stream (as in `stateless_seed`).

    Returns:
        An int64 tensor of shape ``[size]``.

    Example:

    ```python
    from kgen.data.epochs import permutation
    order = permutation(10, seed=0, epoch=2)
    sorted(order.numpy().tolist()) == list(range(10))   # True
    ```
    """
    tf = _tf()
    indices = tf.range(size, dtype=tf.int64)
    return tf.random.experimental.stateless_shuffle(
        indices, seed=stateless_seed(seed, epoch, stream))


def flips(size, seed, epoch, stream=_FLIP):
    """Which of ``size`` examples are flipped in one epoch: a bool tensor ``[size]``.

    Example ``i`` is flipped when a stateless uniform draw of ``(seed, epoch)`` at
    position ``i`` is below 1/2, so the flip of an example depends only on
    ``(seed, epoch, i)``.

    Example:

    ```python
    from kgen.data.epochs import flips
    flips(8, seed=0, epoch=0).dtype   # tf.bool
    ```
    """
    tf = _tf()
    draws = tf.random.stateless_uniform([size], seed=stateless_seed(seed, epoch, stream))
    return draws < 0.5


class EpochOrder:
    """The examples of every epoch of one or two domains, as a pure function of (seed, epoch).

    Args:
        sizes: the number of examples of each domain: ``(n,)`` for one domain (or for
            paired data, whose two parts share one order), ``(n_a, n_b)`` for two
            domains ordered independently (unpaired data).
        batch_size: examples per batch.
        seed: an integer seed.
        shuffle: shuffle every epoch; False keeps the examples in index order.
        flip: draw a horizontal flip for every example (else no example is flipped).
        drop_remainder: cut each epoch to whole batches. With False an epoch holds
            every example of the largest domain and its last batch may be smaller.
        steps: None, or the most batches an epoch holds: a shorter epoch takes the first
            ``steps`` batches of its order (the order of epoch ``e`` is unchanged).

    Example:

    ```python
    from kgen.data.epochs import EpochOrder

    order = EpochOrder((10,), batch_size=4, seed=0)
    order.length, order.steps                 # (8, 2)
    (index, flip), = order.indices(epoch=3)   # int64 [8], bool [8]
    ```
    """

    def __init__(self, sizes, batch_size, *, seed=0, shuffle=True, flip=False,
                 drop_remainder=True, steps=None):
        self.sizes = tuple(int(s) for s in sizes)
        if not self.sizes or min(self.sizes) < 1:
            raise ValueError(f"Every domain needs at least one example; got sizes {self.sizes}.")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.flip = bool(flip)
        self.drop_remainder = bool(drop_remainder)
        largest = max(self.sizes)
        self.length = largest // self.batch_size * self.batch_size if drop_remainder else largest
        if self.length < 1:
            raise ValueError(f"batch_size {self.batch_size} is larger than the {largest} "
                             "examples: an epoch would hold no batch.")
        if steps is not None:
            self.length = min(self.length, int(steps) * self.batch_size)

    @property
    def steps(self):
        """Batches per epoch."""
        return -(-self.length // self.batch_size)

    def indices(self, epoch):
        """The examples of one epoch: for each domain, ``(index, flip)`` tensors ``[length]``.

        Args:
            epoch: the epoch number (an integer or an int64 scalar tensor).

        Returns:
            A tuple with one ``(index, flip)`` pair per domain: int64 indices into the
            domain and bool flips.
        """
        tf = _tf()
        epoch = tf.cast(epoch, tf.int64)
        largest = max(self.sizes)
        out = []
        for domain, size in enumerate(self.sizes):
            streams = domain * _STREAMS_PER_DOMAIN
            if size == largest:
                index = self._order(size, epoch, streams + _ORDER)[: self.length]
                flip = self._flips(size, epoch, streams + _FLIP)
                out.append((index, tf.gather(flip, index)))
            else:
                out.append(self._cycled(size, epoch, streams))
        return tuple(out)

    def _order(self, size, epoch, stream):
        tf = _tf()
        if not self.shuffle:
            return tf.range(size, dtype=tf.int64)
        return permutation(size, self.seed, epoch, stream)

    def _flips(self, size, epoch, stream):
        tf = _tf()
        if not self.flip:
            return tf.zeros([size], tf.bool)
        return flips(size, self.seed, epoch, stream)

    def _cycled(self, size, epoch, streams):
        """``length`` examples of a smaller domain, continuing its passes across epochs."""
        tf = _tf()
        start = epoch * self.length
        first_pass = start // size
        last_pass = (start + self.length - 1) // size
        passes = tf.range(first_pass, last_pass + 1)
        orders = tf.map_fn(lambda q: self._order(size, q, streams + _PASS_ORDER), passes,
                           fn_output_signature=tf.int64)
        flip_rows = tf.map_fn(lambda q: self._flips(size, q, streams + _PASS_FLIP), passes,
                              fn_output_signature=tf.bool)
        offset = start - first_pass * size
        positions = offset + tf.range(self.length, dtype=tf.int64)
        rows, columns = positions // size, positions % size
        index = tf.gather_nd(orders, tf.stack([rows, columns], axis=1))
        flip = tf.gather_nd(flip_rows, tf.stack([rows, index], axis=1))
        return index, flip

    def dataset(self, first_epoch=0, repeat=True, batched=False):
        """A ``tf.data.Dataset`` of the examples, one ``((index, flip), ...)`` per element.

        Args:
            first_epoch: the epoch it starts at.
            repeat: True for every epoch from ``first_epoch`` on (an infinite dataset);
                False for one epoch per iteration: ``first_epoch`` the first time it is
                iterated, then the next epoch each time, or the epoch set with
                `set_epoch`.
            batched: elements are whole batches (vectors of ``batch_size`` indices and
                flips; the last batch of an epoch may be smaller without
                ``drop_remainder``) instead of single examples.

        Returns:
            ``(dataset, epoch_variable)``: the variable (an int64 ``tf.Variable``) holds
            the epoch of the next iteration when ``repeat`` is False, else is None.
        """
        tf = _tf()
        if repeat:
            epochs = tf.data.Dataset.range(int(first_epoch), MAX_EPOCH)
            variable = None
        else:
            with tf.init_scope(), tf.device("/CPU:0"):
                variable = tf.Variable(int(first_epoch), dtype=tf.int64, trainable=False,
                                       name="epoch")

            def next_epoch(_):
                return variable.assign_add(1) - 1

            epochs = tf.data.Dataset.range(1).map(plain(next_epoch))
        size = self.batch_size
        whole = self.length // size * size

        def examples_of(epoch):
            parts = self.indices(epoch)
            if not batched:
                return tf.data.Dataset.from_tensor_slices(parts)
            ds = tf.data.Dataset.from_tensor_slices(
                tf.nest.map_structure(lambda t: tf.reshape(t[:whole], [-1, size]), parts))
            if whole < self.length:
                rest = tf.nest.map_structure(lambda t: t[whole:], parts)
                ds = ds.concatenate(tf.data.Dataset.from_tensors(rest))
            return ds

        examples = epochs.flat_map(plain(examples_of))
        return examples, variable

    def numpy(self, epoch):
        """`indices` of one epoch as numpy arrays: a list of ``(index, flip)`` per domain."""
        return [(np.asarray(i), np.asarray(f)) for i, f in self.indices(epoch)]


def plain(function):
    """``function`` for ``Dataset.map``, run as written (it uses TensorFlow ops only)."""
    return _tf().autograph.experimental.do_not_convert(function)


def finish(dataset, steps, variable):
    """``dataset`` with its known number of batches (None: infinite) and epoch variable."""
    tf = _tf()
    cardinality = tf.data.INFINITE_CARDINALITY if steps is None else steps
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(cardinality))
    if variable is not None:
        setattr(dataset, _EPOCH_ATTRIBUTE, variable)
    return dataset


def epoch_variable(dataset):
    """The epoch variable of a kgen pipeline (see `set_epoch`), or None for another dataset.

    ``GenerativeModel.fit`` sets it at the start of every epoch, so that the order of
    each epoch of a kgen pipeline follows the epochs of ``fit()``, a run restored by
    ``keras.callbacks.BackupAndRestore`` included.

    Example:

    ```python
    import numpy as np
    import kgen
    from kgen.data.epochs import epoch_variable

    ds = kgen.data.images(np.zeros((8, 4, 4, 1), np.uint8), batch_size=4, seed=0)
    epoch_variable(ds) is not None   # True
    ```
    """
    return getattr(dataset, _EPOCH_ATTRIBUTE, None)


def set_epoch(dataset, epoch):
    """Choose the epoch whose order the next pass over ``dataset`` gives.

    Pipelines made by `kgen.data.images`, `kgen.data.paired_images`,
    `kgen.data.unpaired_images` and ``DataSource.dataset(..., repeat=False)`` give one
    epoch each time they are iterated, in an order that is a pure function of their seed
    and the epoch number; each pass takes the next epoch. Setting the epoch at the start
    of every Keras epoch makes the order follow the epochs of ``fit()``, so that a run
    restored by ``keras.callbacks.BackupAndRestore`` at epoch ``k`` sees epoch ``k``'s
    order again. ``GenerativeModel.fit`` does this by itself for a pipeline given as its
    data; for another model, use
    ``keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: kgen.data.set_epoch(ds, e))``.

    Args:
        dataset: a pipeline made by one of the functions above (before any further
            ``map``/``batch`` of your own, which make a new dataset).
        epoch: the epoch number, a non-negative integer.

    Raises:
        TypeError: ``epoch`` is not an integer.
        ValueError: a negative epoch, or a dataset without an epoch variable.

    Example:

    ```python
    import numpy as np
    import kgen

    ds = kgen.data.images(np.zeros((8, 4, 4, 1), np.uint8), batch_size=4, seed=0)
    kgen.data.set_epoch(ds, 5)
    batches = list(ds)          # epoch 5's order
    ```
    """
    from kgen import checks

    epoch = checks.integer(epoch, "epoch", minimum=0)
    variable = getattr(dataset, _EPOCH_ATTRIBUTE, None)
    if variable is None:
        raise ValueError(
            "This dataset has no epoch to set: set_epoch takes the dataset returned by "
            "kgen.data.images, paired_images, unpaired_images or "
            "DataSource.dataset(..., repeat=False) itself (a dataset made from it by a "
            "further map or batch is a new one). A repeating DataSource.dataset starts at "
            "first_epoch instead.")
    variable.assign(epoch)
