"""Helpers shared by the tests: small networks and models, and variable values."""

import keras
import numpy as np

import kgen
from kgen.networks.diffusion_unet import SinusoidalEmbedding

SHAPE = (8, 8, 1)


def tiny_gan(shape=(8, 8, 1), **kwargs):
    kwargs.setdefault("seed", 0)
    return kgen.models.GAN.from_shape(shape, latent_dim=16, base_filters=8, **kwargs)


def tiny_vae(shape=(8, 8, 1), **kwargs):
    kwargs.setdefault("seed", 0)
    return kgen.models.VAE.from_shape(shape, latent_dim=4, base_filters=8, **kwargs)


def values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def tiny_network(num_classes=None, shape=SHAPE, filters=8):
    """A two-convolution denoiser with a timestep (and class) embedding: fast to compile."""
    x_t, t = keras.Input(shape), keras.Input(())
    inputs = [x_t, t]
    embedding = keras.layers.Dense(filters)(SinusoidalEmbedding(filters)(t))
    if num_classes is not None:
        labels = keras.Input((), dtype="int32")
        inputs.append(labels)
        embedding = keras.layers.Add()(
            [embedding, keras.layers.Embedding(num_classes + 1, filters)(labels)])
    h = keras.layers.Conv2D(filters, 3, padding="same")(x_t)
    h = keras.layers.Add()([h, keras.layers.Reshape((1, 1, filters))(embedding)])
    h = keras.layers.Activation("silu")(h)
    out = keras.layers.Conv2D(shape[-1], 3, padding="same")(h)
    return keras.Model(inputs, out)
