"""kgen.networks.Conv2DTranspose: Keras's layer, with the same outputs and gradients on
every backend (on JAX its kernel gradient comes from the sub-pixel form)."""

import keras
import numpy as np
import pytest
from keras import ops

import kgen
from kgen import backend

from harness import values


def _pair(x_shape, filters, kernel_size, **kwargs):
    """kgen's layer and Keras's, built with the same (non-zero) weights."""
    ours = kgen.networks.Conv2DTranspose(filters, kernel_size, **kwargs)
    theirs = keras.layers.Conv2DTranspose(filters, kernel_size, **kwargs)
    ours.build(x_shape)
    theirs.build(x_shape)
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def _gradients(layer, x, upstream):
    """The gradients of sum(layer(x) * upstream) for the layer's weights and for x."""
    def loss():
        return ops.sum(ops.multiply(layer(x), upstream)), None

    _, weight_grads = backend.value_and_grad(loss, layer.trainable_variables)()
    input_grad = backend.input_gradient(lambda t: ops.multiply(layer(t), upstream), x)
    return values(weight_grads) + values([input_grad])


@pytest.mark.parametrize("kernel_size, strides, padding, dilation", [
    (4, 2, "same", 1),      # the DCGAN generator's and the U-Nets' layers
    (3, 2, "same", 1),      # the ResNet generator's
    ((3, 5), (2, 3), "valid", 1),
    (3, 1, "same", 2),      # dilation: Keras's operation, unchanged
])
def test_outputs_and_gradients_equal_keras_layer(kernel_size, strides, padding, dilation):
    x = np.random.default_rng(1).normal(size=(2, 5, 4, 3)).astype("float32")
    ours, theirs = _pair(x.shape, 4, kernel_size, strides=strides, padding=padding,
                         dilation_rate=dilation, activation="tanh")
    expected = values([theirs(x)])[0]
    np.testing.assert_allclose(values([ours(x)])[0], expected, rtol=1e-5, atol=1e-5)
    upstream = np.random.default_rng(2).normal(size=expected.shape).astype("float32")
    for got, want in zip(_gradients(ours, x, upstream), _gradients(theirs, x, upstream)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_the_networks_use_it_and_it_saves_and_loads(tmp_path):
    generator = kgen.networks.dcgan_generator((8, 8, 1), latent_dim=4, base_filters=8)
    layers = [layer for layer in generator.layers if "up" in layer.name]
    assert layers and all(type(layer) is kgen.networks.Conv2DTranspose for layer in layers)
    z = np.random.default_rng(3).normal(size=(2, 4)).astype("float32")
    generator.save(tmp_path / "generator.keras")
    loaded = keras.saving.load_model(tmp_path / "generator.keras")
    assert type(loaded.get_layer(layers[0].name)) is kgen.networks.Conv2DTranspose
    np.testing.assert_allclose(values([loaded(z)])[0], values([generator(z)])[0], atol=1e-6)
