"""Users' own networks, written as the keras-io examples write them: kgen trains them, or
refuses them with a message that says what kgen passes and expects."""

import math
import warnings

import keras
import numpy as np
import pytest
from keras import layers, ops

import kgen
from kgen.models.ema import averaged_copy
from kgen.models.network_checks import last_activation

from checks_catalogue import covers

SHAPE = (8, 8, 1)
LATENT, CLASSES, LEVELS = 4, 3, 8


# ------------------------------------------------------------------ networks
def image_generator(latent_dim=LATENT, activation="tanh", extra_inputs=0):
    """A DCGAN-style generator (keras-io's), from ``latent_dim + extra_inputs`` numbers."""
    z = keras.Input((latent_dim + extra_inputs,))
    h = layers.Reshape((4, 4, 8))(layers.Dense(4 * 4 * 8)(z))
    h = layers.LeakyReLU(0.2)(layers.Conv2DTranspose(8, 4, strides=2, padding="same")(h))
    return keras.Model(z, layers.Conv2D(1, 3, padding="same", activation=activation)(h))


def image_discriminator(activation=None, channels=1):
    x = keras.Input(SHAPE[:2] + (channels,))
    h = layers.LeakyReLU(0.2)(layers.Conv2D(8, 4, strides=2, padding="same")(x))
    h = layers.Dropout(0.2)(layers.Flatten()(h))
    return keras.Model(x, layers.Dense(1, activation=activation)(h))


def conditional_generator():
    """keras-io's conditional generator, given its own int32 label input."""
    z, labels = keras.Input((LATENT,)), keras.Input((), dtype="int32")
    one_hot = layers.CategoryEncoding(CLASSES, output_mode="one_hot")(labels)
    h = layers.Dense(4 * 4 * 8)(layers.Concatenate()([z, one_hot]))
    h = layers.Reshape((4, 4, 8))(layers.LeakyReLU(0.2)(h))
    h = layers.LeakyReLU(0.2)(layers.Conv2DTranspose(8, 4, strides=2, padding="same")(h))
    return keras.Model([z, labels], layers.Conv2D(1, 3, padding="same", activation="tanh")(h))


def conditional_discriminator():
    """keras-io's conditional discriminator (one-hot label maps beside the image)."""
    x, labels = keras.Input(SHAPE), keras.Input((), dtype="int32")
    one_hot = layers.CategoryEncoding(CLASSES, output_mode="one_hot")(labels)
    maps = layers.UpSampling2D(8)(layers.Reshape((1, 1, CLASSES))(one_hot))
    h = layers.Conv2D(8, 4, strides=2, padding="same")(layers.Concatenate()([x, maps]))
    h = layers.Flatten()(layers.LeakyReLU(0.2)(h))
    return keras.Model([x, labels], layers.Dense(1)(h))


class Sampling(layers.Layer):
    """keras-io's VAE sampling layer: ``z_mean + exp(z_log_var / 2) * eps``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


def vae_encoder(outputs=3):
    """keras-io's VAE encoder, returning ``(z_mean, z_log_var, z)``."""
    x = keras.Input(SHAPE)
    h = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    h = layers.Dense(16, activation="relu")(layers.Flatten()(h))
    z_mean, z_log_var = layers.Dense(LATENT)(h), layers.Dense(LATENT)(h)
    found = [z_mean, z_log_var, Sampling()([z_mean, z_log_var])]
    return keras.Model(x, found + [z_mean] * (outputs - 3) if outputs > 3 else found[:outputs])


def vae_decoder(activation=None):
    """keras-io's VAE decoder (with ``activation="sigmoid"`` as there)."""
    z = keras.Input((LATENT,))
    h = layers.Reshape((4, 4, 8))(layers.Dense(4 * 4 * 8, activation="relu")(z))
    h = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(h)
    return keras.Model(z, layers.Conv2DTranspose(1, 3, padding="same", activation=activation)(h))


def sinusoidal_embedding(x):
    """keras-io's DDIM embedding of the noise variance."""
    frequencies = ops.exp(ops.linspace(math.log(1.0), math.log(1000.0), 4))
    angular_speeds = 2.0 * math.pi * frequencies
    return ops.concatenate([ops.sin(angular_speeds * x), ops.cos(angular_speeds * x)], axis=3)


def ddim_network():
    """keras-io's DDIM network in small: it takes the noise variance ``(n, 1, 1, 1)``."""
    noisy, variances = keras.Input(SHAPE), keras.Input((1, 1, 1))
    e = layers.Lambda(sinusoidal_embedding, output_shape=(1, 1, 8))(variances)
    e = layers.UpSampling2D(size=8, interpolation="nearest")(e)
    h = layers.Concatenate()([layers.Conv2D(8, 1)(noisy), e])
    h = layers.Conv2D(8, 3, padding="same", activation="swish")(h)
    return keras.Model([noisy, variances], layers.Conv2D(1, 1, kernel_initializer="zeros")(h))


def code_prior(cheat=False):
    """keras-io's PixelCNN prior over VQ-VAE codes: int32 code maps, one-hot inside.

    ``cheat``: the logits are the one-hot codes themselves (not causal), to see what
    the network is given.
    """
    codes = keras.Input((4, 4), dtype="int32")
    one_hot = layers.Lambda(lambda c: ops.one_hot(c, LEVELS), output_shape=(4, 4, LEVELS))(codes)
    if cheat:
        return keras.Model(codes, layers.Rescaling(30.0)(one_hot))
    h = kgen.networks.MaskedConv2D(16, 3, mask_type="A")(one_hot)
    h = kgen.networks.MaskedConv2D(16, 1, mask_type="B")(layers.ReLU()(h))
    return keras.Model(codes, layers.Conv2D(LEVELS, 1)(layers.ReLU()(h)))


# ------------------------------------------------------- output activations
def test_the_last_activation_is_found_through_shape_layers():
    assert last_activation(image_discriminator("sigmoid")) == "sigmoid"
    assert last_activation(image_discriminator()) is None
    assert last_activation(image_generator(activation="relu")) == "relu"
    wrapped = keras.Sequential([keras.Input((4,)), layers.Dense(4),
                                layers.Activation("sigmoid"), layers.Reshape((2, 2))])
    assert last_activation(wrapped) == "sigmoid"
    assert last_activation(layers.Dense(2, activation="softmax")) == "softmax"
    lambda_end = keras.Sequential([keras.Input((4,)), layers.Lambda(ops.sigmoid)])
    assert last_activation(lambda_end) is None   # not seen: passes


@covers("own-sigmoid-gan")
def test_a_sigmoid_discriminator_or_generator_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"discriminator of this GAN ends with a sigmoid.*"
                                         r"End the discriminator with Dense\(1\) and no "
                                         r"activation: kgen's losses take logits"):
        kgen.models.GAN(image_generator(), image_discriminator("sigmoid"))
    for activation in ("sigmoid", "relu"):
        with pytest.raises(ValueError, match=r"generator of this GAN ends with a "
                                             rf"{activation}.*never produce values in "
                                             r"\[-1, 0\).*tanh"):
            kgen.models.GAN(image_generator(activation=activation), image_discriminator())
    # Vectors: their range is the data's, so a warning.
    z, x = keras.Input((2,)), keras.Input((2,))
    with pytest.warns(UserWarning, match="generator of this GAN ends with a softplus"):
        kgen.models.GAN(keras.Model(z, layers.Dense(2, activation="softplus")(z)),
                        keras.Model(x, layers.Dense(1)(x)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gan = kgen.models.GAN(image_generator(), image_discriminator(), seed=0)
    assert gan.generate(2, seed=0).min() < 0   # tanh: the whole of [-1, 1]


@covers("own-decoder-output")
def test_decoders_and_translators_are_checked_against_what_kgen_reads():
    with pytest.raises(ValueError, match=r"decoder of this VAE ends with a sigmoid.*"
                                         r"likelihood='bernoulli'.*logits.*no activation"):
        kgen.models.VAE(vae_encoder(2), vae_decoder("sigmoid"))
    with pytest.raises(ValueError, match=r"likelihood='gaussian'.*mean in data space"):
        kgen.models.VAE(vae_encoder(2), vae_decoder("sigmoid"), likelihood="gaussian")
    with pytest.raises(ValueError, match=r"reconstruction='bce'.*logits"):
        kgen.models.Autoencoder(layers_encoder(), vae_decoder("sigmoid"), reconstruction="bce")
    kgen.models.VAE(vae_encoder(2), vae_decoder("tanh"), likelihood="gaussian")
    generator = kgen.networks.unet_generator(SHAPE, 1, base_filters=4, depth=1)
    patch = kgen.networks.patchgan_discriminator(SHAPE, condition_shape=SHAPE,
                                                 base_filters=4, num_layers=1)
    sigmoid_patch = keras.Model(patch.inputs, layers.Activation("sigmoid")(patch.outputs[0]))
    with pytest.raises(ValueError, match=r"discriminator of this Pix2Pix ends with a "
                                         r"sigmoid.*convolution and no activation"):
        kgen.models.Pix2Pix(generator, sigmoid_patch)


def layers_encoder():
    x = keras.Input(SHAPE)
    return keras.Model(x, layers.Dense(LATENT)(layers.Flatten()(x)))


# ------------------------------------------------------- conditional networks
@covers("own-conditional-networks")
def test_a_conditional_gan_says_its_networks_take_labels_separately(digits):
    # keras-io's conditional GAN: the one-hot labels concatenated to the inputs.
    with pytest.raises(ValueError, match=r"ConditionalGAN's generator takes two inputs, "
                                         r"\[latents \(n, latent_dim\) float32, labels "
                                         r"\(n,\) int32\].*takes 1 input\(s\) of "
                                         r"shape\(s\) \[\(7,\)\]"):
        kgen.models.ConditionalGAN(image_generator(extra_inputs=CLASSES),
                                   image_discriminator(channels=1 + CLASSES),
                                   num_classes=CLASSES, latent_dim=LATENT)
    with pytest.raises(ValueError, match=r"discriminator takes two inputs, \[samples"):
        kgen.models.ConditionalGAN(conditional_generator(),
                                   image_discriminator(channels=1 + CLASSES),
                                   num_classes=CLASSES)
    with pytest.raises(ValueError, match=r"A GAN's generator takes one input.*"
                                         r"ConditionalGAN"):
        kgen.models.GAN(conditional_generator(), image_discriminator())
    # The same networks with their own label input train and sample by class.
    cgan = kgen.models.ConditionalGAN(conditional_generator(), conditional_discriminator(),
                                      num_classes=CLASSES, seed=0)
    cgan.compile()
    x = kgen.data.to_data_space(digits[:32])
    history = cgan.fit(x, np.arange(32) % CLASSES, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][-1])
    samples = cgan.generate(labels=[0, 1, 2], seed=0)
    assert samples.shape == (3,) + SHAPE
    assert np.abs(samples[0] - cgan.generate(labels=[1, 1, 2], seed=0)[0]).max() > 0


@covers("own-vae-encoder-triple")
def test_a_vae_encoder_returning_z_mean_z_log_var_z_trains(digits):
    encoder = vae_encoder(3)
    vae = kgen.models.VAE(encoder, vae_decoder(), seed=0)
    x = kgen.data.to_data_space(digits[:32])
    vae.compile()
    history = vae.fit(x, batch_size=16, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all() and history["kl"][-1] > 0
    mean, log_var = vae.encode(x[:4])
    z_mean, z_log_var, _ = (keras.ops.convert_to_numpy(t) for t in encoder(x[:4]))
    np.testing.assert_allclose(mean, z_mean, atol=1e-6)
    np.testing.assert_allclose(log_var, z_log_var, atol=1e-6)
    with pytest.raises(ValueError, match=r"encoder of this VAE has 4 outputs.*2 \* latent_dim "
                                         r"= 8 values.*\[mean, log_variance\]"):
        kgen.models.VAE(vae_encoder(4), vae_decoder())
    with pytest.raises(ValueError, match=r"encoder of this VAE outputs 4 values.*2 \* "
                                         r"latent_dim = 8"):
        kgen.models.VAE(layers_encoder(), vae_decoder())


# ----------------------------------------------------------------- diffusion
@covers("own-diffusion-timesteps")
def test_the_network_receives_the_timestep_convention_it_was_built_for():
    x_t, t = keras.Input(SHAPE), keras.Input((1, 1, 1))
    probe = keras.Model([x_t, t], layers.Lambda(lambda v: v[0] * 0.0 + v[1],
                                                output_shape=SHAPE)([x_t, t]))
    steps = np.array([0, 7, 19])
    x = np.zeros((3,) + SHAPE, "float32")
    for convention in kgen.models.diffusion.TIMESTEP_INPUTS:
        model = kgen.models.Diffusion(probe, timesteps=20, schedule="cosine", ema=None,
                                      timestep_input=convention)
        alpha_bar = model.alphas_cumprod[steps]
        expected = {"index": steps, "fraction": steps / 20.0,
                    "noise_std": np.sqrt(1.0 - alpha_bar),
                    "noise_variance": 1.0 - alpha_bar}[convention]
        received = keras.ops.convert_to_numpy(model.denoise(x, steps))[:, 0, 0, 0]
        np.testing.assert_allclose(received, expected, rtol=1e-6, err_msg=convention)
    assert model.get_config()["timestep_input"] == "noise_variance"
    with pytest.raises(ValueError, match="timestep_input"):
        kgen.models.Diffusion(probe, timesteps=20, timestep_input="log_snr")
    wide = keras.Input((4,))
    with pytest.raises(ValueError, match=r"second input takes the timestep, one number per "
                                         r"example.*\(4,\)"):
        kgen.models.Diffusion(keras.Model([x_t, wide], x_t), timesteps=20)
    with pytest.raises(ValueError, match=r"2 inputs.*kgen calls it on x_t float32 \(n, H, W, "
                                         r"C\), t float32 \(n,\) \(the timestep index"):
        kgen.models.Diffusion(keras.Model(x_t, x_t), timesteps=20)


@covers("own-network-moving-average")
def test_keras_io_ddim_network_with_a_lambda_layer_trains_with_its_average(digits):
    model = kgen.models.Diffusion(ddim_network(), timesteps=20, schedule="cosine",
                                  timestep_input="noise_variance", seed=0)
    # The moving average is a copy of the network, its Lambda layer included.
    x = kgen.data.to_data_space(digits[:16])
    inputs = [x[:2], np.full((2, 1, 1, 1), 0.5, "float32")]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.ema_network(inputs)),
                               keras.ops.convert_to_numpy(model.network(inputs)), atol=1e-6)
    model.compile()
    history = model.fit(x, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert model.generate(2, seed=0, steps=4).shape == (2,) + SHAPE


class _Unconfigured(layers.Layer):
    """A layer whose constructor takes an array: Keras cannot make its config."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = np.asarray(scale, "float32")

    def call(self, x):
        return x * self.scale


class _Subclassed(keras.Model):
    def __init__(self, scale):
        super().__init__()
        self.scale = np.asarray(scale, "float32")
        self.dense = layers.Dense(2)

    def call(self, x):
        return keras.ops.multiply(self.dense(x), self.scale)


@covers("own-network-moving-average")
def test_a_network_the_average_cannot_copy_gets_a_message_that_applies():
    x = keras.Input((2,))
    functional = keras.Model(x, _Unconfigured(np.ones(2), name="custom")(layers.Dense(2)(x)))
    with pytest.raises(ValueError, match=r"its layer 'custom' \(_Unconfigured\) could not be "
                                         r"rebuilt.*custom layer needs get_config\(\).*"
                                         r"ema=None"):
        averaged_copy(functional)
    subclassed = _Subclassed(np.ones(2))
    subclassed(np.zeros((1, 2), "float32"))
    with pytest.raises(ValueError, match=r"subclassed network is rebuilt from its config.*"
                                         r"ema=None"):
        averaged_copy(subclassed)
    # The GAN's moving average (the default for vectors) says so when it is built.
    with pytest.raises(ValueError, match=r"moving average.*ema=None"):
        kgen.models.GAN(functional, keras.Model(x, layers.Dense(1)(x)), ema=0.999)


# ------------------------------------------------------------------ PixelCNN
@covers("own-integer-prior")
def test_an_integer_input_prior_receives_the_codes(digits):
    levels = np.random.default_rng(0).integers(0, LEVELS, (5, 4, 4, 1)).astype("int32")
    cheat = kgen.models.PixelCNN(code_prior(cheat=True), num_levels=LEVELS, inputs="levels")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(cheat.network_inputs(levels)),
                                  levels[..., 0])
    # Its logits are the codes it is given: every code has probability ~1.
    assert cheat.level_log_prob(levels).min() > -1e-3

    prior = kgen.models.PixelCNN(code_prior(), num_levels=LEVELS, inputs="levels", seed=0)
    prior.compile(optimizer=keras.optimizers.Adam(0.05))
    codes = np.full((64, 4, 4, 1), 5, "int32")
    prior.fit(codes, batch_size=16, epochs=5, verbose=0)
    assert (prior.sample_levels(8, seed=0) == 5).mean() > 0.9
    # It is a prior of a VQ-VAE's 4x4 code grids.
    vq = kgen.models.VQVAE.from_shape(SHAPE, num_embeddings=LEVELS, embedding_dim=4,
                                      base_filters=4)
    model = kgen.models.LatentPrior(vq, prior)
    np.testing.assert_array_equal(model.sample_codes(2, seed=1),
                                  prior.sample_levels(2, seed=1)[..., 0])
