"""A transposed convolution layer that trains fast on every backend."""

import keras
from keras import ops

from kgen import fast_ops


@keras.saving.register_keras_serializable(package="kgen")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` with the same weights, outputs and arguments, whose
    kernel gradient is fast on JAX.

    On JAX, XLA:CPU computes the kernel gradient of a transposed convolution through a
    slow generic path (70 to 200 ms for one 4x4, stride-2 layer of the DCGAN generator on
    a batch of 64, against 3 ms for its forward pass). This layer computes that gradient
    from the sub-pixel form of the same convolution (stride-1 convolutions and a pixel
    shuffle; `kgen.fast_ops.conv_transpose`), equal up to float rounding; its forward pass
    and input gradient stay the native ones. On TensorFlow and PyTorch, and for
    channels-first data, dilation or ``output_padding``, it is Keras's layer unchanged.
    kgen's networks use it wherever they upsample with a transposed convolution; use it
    in your own networks the same way. Checkpoints written with Keras's layer keep
    loading as Keras's layer.

    Args: those of `keras.layers.Conv2DTranspose`.

    Example:

    ```python
    import numpy as np
    import keras
    import kgen

    layer = kgen.networks.Conv2DTranspose(8, 4, strides=2, padding="same")
    x = np.ones((2, 4, 4, 3), "float32")
    layer(x).shape       # (2, 8, 8, 8)
    same = keras.layers.Conv2DTranspose(8, 4, strides=2, padding="same")
    same.build(x.shape)
    same.set_weights(layer.get_weights())
    np.allclose(keras.ops.convert_to_numpy(same(x)),
                keras.ops.convert_to_numpy(layer(x)))   # True
    ```

    References:
        Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
        Sub-Pixel Convolutional Neural Network", CVPR 2016.
    """

    def _native_only(self):
        return (self.data_format != "channels_last" or self.output_padding is not None
                or any(rate != 1 for rate in self.dilation_rate))

    def call(self, inputs):
        if self._native_only():
            return super().call(inputs)
        outputs = fast_ops.conv_transpose(inputs, self.kernel, self.strides, self.padding)
        if self.use_bias:
            outputs = ops.add(outputs, ops.reshape(self.bias, (1, 1, 1, self.filters)))
        if self.activation is not None:
            return self.activation(outputs)
        return outputs
