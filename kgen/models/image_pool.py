"""A history of generated images for the discriminator (Shrivastava et al. 2017)."""

import keras
from keras import ops

from kgen import checks, replica


@keras.saving.register_keras_serializable(package="kgen")
class ImageHistoryPool(keras.layers.Layer):
    """Keeps up to ``pool_size`` generated images and mixes them into the discriminator's batches.

    Training a discriminator only on the generator's latest images lets the two chase
    each other: the discriminator forgets what older generators did and the generator
    can return to it. The pool keeps a history: while it is not full, each new image is
    stored and returned as it is; once full, each new image is, with probability 1/2,
    returned as it is, or else swapped with a randomly chosen stored image, which is
    returned in its place (the rule of Zhu et al.'s CycleGAN code, following
    Shrivastava et al. 2017).

    The stored images and their count are non-trainable Keras variables, updated inside
    the call with `keras.ops` only, and the random choices are drawn from the seed
    generator passed in (a model's own): the pool works inside the pure training step
    of JAX, a TensorFlow graph and PyTorch alike, and is saved with the model. Within a
    batch the images are taken in order (the first ones fill the pool, the rest are
    swapped or not), and swapped images go to distinct slots as long as the batch is
    no larger than the pool, so each swap returns a stored image and stores the new
    one exactly as if they came one at a time.

    Args:
        pool_size: how many images to keep (50 in CycleGAN); 0 turns the pool off (the
            images are returned as they are and nothing is stored).
        **kwargs: `keras.layers.Layer` arguments (``name``).

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.models import ImageHistoryPool

    pool = ImageHistoryPool(4)
    pool.build((None, 8, 8, 1))
    seed = keras.random.SeedGenerator(0)
    images = np.random.rand(3, 8, 8, 1).astype("float32")
    out = pool(images, seed=seed)   # the inputs themselves: the pool was not full
    int(pool.count)                 # 3
    ```

    References:
        Shrivastava, Pfister, Tuzel, Susskind, Wang & Webb, "Learning from Simulated
        and Unsupervised Images through Adversarial Training", CVPR 2017.
        Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using
        Cycle-Consistent Adversarial Networks", ICCV 2017.
    """

    def __init__(self, pool_size=50, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = checks.integer(pool_size, "pool_size", 0)
        self.images = None
        self.count = None

    def build(self, input_shape):
        sample_shape = tuple(input_shape[1:])
        if None in sample_shape:
            raise ValueError(
                f"ImageHistoryPool needs a fixed image shape; got {tuple(input_shape)}.")
        if self.pool_size:
            self.images = self.add_weight(
                shape=(self.pool_size,) + sample_shape, initializer="zeros",
                trainable=False, name="images")
            self.count = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                         trainable=False, name="count")
        self.built = True

    @staticmethod
    def _store(pool, images, targets):
        """``pool`` with ``images[i]`` written to slot ``targets[i]`` (skipped where -1)."""
        slots = ops.arange(ops.shape(pool)[0], dtype="int32")
        writes = ops.equal(ops.expand_dims(targets, 1), ops.expand_dims(slots, 0))
        written = ops.any(writes, axis=0)
        writer = ops.argmax(ops.cast(writes, "int32"), axis=0)
        new = ops.take(images, writer, axis=0)
        mask = ops.reshape(written, (-1,) + (1,) * (len(pool.shape) - 1))
        return ops.where(mask, new, pool)

    def call(self, images, seed=None):
        """Returns the images the discriminator sees and updates the pool.

        Args:
            images: a batch of generated images, ``(batch,) + image_shape``.
            seed: a `keras.random.SeedGenerator` (the model's) or an integer, for the
                coin flips and the choice of stored images.
        """
        if not self.pool_size:
            return images
        images = ops.cast(ops.stop_gradient(images), self.images.dtype)
        local_batch = ops.shape(images)[0]
        # The pool is updated from the global batch, identically on every replica of a
        # data-parallel step; each replica then keeps its own share of the result.
        images = replica.gather_batch(images)
        batch = ops.shape(images)[0]
        index = ops.arange(batch, dtype="int32")
        pool, count = self.images.value, self.count.value
        # First the images that fill the empty slots, in batch order.
        fill_slot = count + index
        filling = ops.less(fill_slot, self.pool_size)
        pool = self._store(pool, images, ops.where(filling, fill_slot, -1))
        # Then each other image: with probability 1/2, swapped with a stored one, chosen
        # without replacement across the batch (a random permutation of the slots).
        coin = keras.random.uniform((batch,), seed=seed)
        swap = ops.logical_and(ops.logical_not(filling), ops.less(coin, 0.5))
        permutation = keras.random.shuffle(ops.arange(self.pool_size, dtype="int32"),
                                           seed=seed)
        slot = ops.take(permutation, ops.mod(index, self.pool_size))
        stored = ops.take(pool, slot, axis=0)
        mask = ops.reshape(swap, (-1,) + (1,) * (len(images.shape) - 1))
        returned = ops.where(mask, stored, images)
        pool = self._store(pool, images, ops.where(swap, slot, -1))
        self.images.assign(pool)
        self.count.assign(ops.minimum(count + ops.cast(batch, "int32"), self.pool_size))
        return replica.local_rows(returned, local_batch)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size)
        return config
