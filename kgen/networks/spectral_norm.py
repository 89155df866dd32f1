"""Spectral normalisation of a layer's weight (Miyato et al. 2018), as a reparametrisation.

Keras 3 ships `keras.layers.SpectralNormalization`, and this layer reuses it (the power
iteration vector ``vector_u``, ``power_iterations``, building and configuration). What
differs is how the normalised weight is used: Keras's layer *assigns* ``kernel / sigma``
to the wrapped layer's kernel in training mode and uses the raw kernel at inference. That
in-place assignment breaks kgen's training step on PyTorch (a discriminator called
twice in one loss fails in autograd: "modified by an inplace operation"), is dropped on
JAX for the variables being differentiated (so inference would then see an
unnormalised kernel), and leaves no gradient through sigma on TensorFlow. Here the kernel
variable always holds the raw weight ``W`` and every call, in training or inference mode,
runs the wrapped layer with ``W / sigma(W)``, the paper's reparametrisation, with the
gradient flowing through ``sigma`` (``u`` and ``v`` held constant), the same way on all
three backends.
"""

import keras
from keras import ops

from kgen import checks


@keras.saving.register_keras_serializable(package="kgen")
class SpectralNormalization(keras.layers.SpectralNormalization):
    """Runs a layer with its weight divided by its largest singular value (spectral norm).

    The wrapped layer's kernel ``W`` (its ``embeddings`` for an ``Embedding``), reshaped
    to a matrix with one column per output unit, is divided by ``sigma``, an estimate of
    its largest singular value, so the layer is (about) 1-Lipschitz. ``sigma`` comes from
    power iteration with a persistent vector ``u`` (a non-trainable weight): in training
    mode each call runs ``power_iterations`` steps ``v = normalize(u W^T)``,
    ``u = normalize(v W)`` and stores ``u``; then, in both modes,
    ``v = normalize(u W^T)`` and ``sigma = v W u^T``. The gradient flows through ``sigma``
    with ``u`` and ``v`` held constant, as in the paper. One iteration per training step
    suffices because ``W`` changes slowly; ``u`` converges over the first steps.

    The kernel variable keeps the raw weight; `normalized_kernel()` returns the weight the
    layer uses. Works on the TensorFlow, JAX and PyTorch backends inside kgen's training
    step, where ``u`` is carried like any other non-trainable state.

    Args:
        layer: a Keras layer with a ``kernel`` (``Dense``, ``Conv2D``,
            ``Conv2DTranspose``, ...) or ``embeddings`` (``Embedding``) weight.
        power_iterations: power-iteration steps per training call (1 in the paper).
        **kwargs: `keras.layers.Layer` arguments (``name``).

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.networks import SpectralNormalization

    layer = SpectralNormalization(keras.layers.Dense(4))
    y = layer(np.ones((2, 3), "float32"), training=True)   # updates u once
    np.linalg.svd(keras.ops.convert_to_numpy(layer.normalized_kernel()), compute_uv=False)
    ```

    References:
        Miyato, Kataoka, Koyama & Yoshida, "Spectral Normalization for Generative
        Adversarial Networks", ICLR 2018.
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        power_iterations = checks.integer(power_iterations, "power_iterations", 1)
        super().__init__(layer, power_iterations=power_iterations, **kwargs)

    def _matrix(self):
        return ops.reshape(self.kernel.value, (-1, self.kernel_shape[-1]))

    def _sigma(self, matrix, u):
        """``sigma = v W u^T`` with ``v = normalize(u W^T)``; u and v are constants."""
        u = ops.stop_gradient(u)
        v = ops.stop_gradient(ops.normalize(ops.matmul(u, ops.transpose(matrix)), axis=None))
        sigma = ops.matmul(ops.matmul(v, matrix), ops.transpose(u))
        # An all-zero weight has sigma 0: keep it zero rather than 0 / 0.
        return ops.maximum(ops.reshape(sigma, ()), 1e-12)

    def normalized_kernel(self, training=False):
        """The weight the layer uses, ``W / sigma``, in the wrapped layer's kernel shape.

        Args:
            training: run the power iteration and store the new ``u`` first.
        """
        matrix = self._matrix()
        u = ops.cast(self.vector_u.value, matrix.dtype)
        if training:
            for _ in range(self.power_iterations):
                v = ops.normalize(ops.matmul(u, ops.transpose(matrix)), axis=None)
                u = ops.normalize(ops.matmul(v, matrix), axis=None)
            u = ops.stop_gradient(u)
            self.vector_u.assign(ops.cast(u, self.vector_u.dtype))
        return self.kernel.value / ops.cast(self._sigma(matrix, u), self.kernel.dtype)

    def call(self, inputs, training=False):
        kernel = self.normalized_kernel(training=bool(training))
        # Run the wrapped layer with W / sigma in place of W, without assigning it.
        trainable = [kernel if v is self.kernel else v.value
                     for v in self.layer.trainable_variables]
        non_trainable = [kernel if v is self.kernel else v.value
                         for v in self.layer.non_trainable_variables]
        outputs, _ = self.layer.stateless_call(trainable, non_trainable, inputs)
        return outputs


def _sn(layer, spectral_norm=True):
    """``layer`` wrapped in `SpectralNormalization` when ``spectral_norm``, else itself."""
    if not spectral_norm:
        return layer
    return SpectralNormalization(layer, name=f"{layer.name}_sn")
