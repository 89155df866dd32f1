"""Dropout whose mask is drawn per example of the global batch (Srivastava et al. 2014)."""

import keras
from keras import ops

from kgen import checks, replica


@keras.saving.register_keras_serializable(package="kgen")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` with its mask drawn through `kgen.replica.batch_noise`.

    In training, each input is zeroed with probability ``rate`` and the others are scaled
    by ``1 / (1 - rate)``; in inference the inputs pass unchanged. The difference with
    Keras's layer is where the mask comes from: under a ``tf.distribute`` strategy, every
    replica of Keras's layer reads the same seed state and draws the same mask for its
    share of the batch; here each replica keeps its own rows of the mask of the global
    batch, so data-parallel training drops what one device would drop (see
    docs/guides/distributed.md). kgen's U-Nets use it (`kgen.networks.unet_generator`,
    `kgen.networks.diffusion_unet`).

    Args:
        rate: the fraction of the inputs to drop, in [0, 1).
        noise_shape: as in `keras.layers.Dropout`: the shape of the mask, broadcast to the
            inputs (None entries take the inputs' size; its first entry is the batch).
        seed: seed of the layer's `keras.random.SeedGenerator`.

    Example:

    ```python
    import numpy as np
    import kgen

    layer = kgen.networks.Dropout(0.5, seed=0)
    x = np.ones((4, 8), "float32")
    layer(x, training=True)    # about half zeros, the rest 2.0
    layer(x)                   # x
    ```

    References:
        Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
        Overfitting", JMLR 2014.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        rate = checks.number(rate, "rate", 0.0, 1.0, exclusive_maximum=True)
        super().__init__(rate, noise_shape=noise_shape, seed=checks.seed(seed), **kwargs)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        inputs = ops.convert_to_tensor(inputs)
        shape = tuple(ops.shape(inputs))
        if self.noise_shape is not None:
            shape = tuple(size if given is None else given
                          for size, given in zip(shape, self.noise_shape))
        uniform = replica.batch_noise(
            lambda s: keras.random.uniform(s, dtype=inputs.dtype, seed=self.seed_generator),
            shape)
        keep = ops.greater_equal(uniform, self.rate)
        return ops.where(keep, inputs / (1.0 - self.rate), ops.zeros_like(inputs))
