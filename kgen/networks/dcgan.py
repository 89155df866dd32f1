"""DCGAN convolutional networks (Radford et al. 2016) for images from 8x8 to 64x64 and more.

The generator projects the latent vector to a small feature map (4x4 for 8x8 to 64x64
images, 7x7 for 28x28: both sides are halved while they stay even and at least 4) and
doubles its size with strided transposed convolutions, halving the channels each time; the
discriminator mirrors it with strided convolutions. Following the paper's guidelines:
no pooling (strided convolutions), batch normalisation in both networks except the
generator's output and the discriminator's input, ReLU in the generator with a tanh
output, LeakyReLU(0.2) in the discriminator. `generator_body` and
`discriminator_features` are the same layers applied to a given tensor, for networks
that add inputs of their own (class-conditional networks, the default encoders and
decoders of `kgen.networks.autoencoder`).

References:
    Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
    Convolutional Generative Adversarial Networks", ICLR 2016.
"""

import keras

from kgen.networks.conv_transpose import Conv2DTranspose
from kgen.networks.spectral_norm import _sn


def num_upsamplings(height, width):
    """How many times a feature map is doubled to reach ``(height, width)``.

    Halves both sides while they stay even and at least 4 after halving:
    8 -> 1, 16 -> 2, 28 -> 2 (from 7x7), 32 -> 3, 64 -> 4.
    """
    count = 0
    while height % 2 == 0 and width % 2 == 0 and height // 2 >= 4 and width // 2 >= 4:
        height, width, count = height // 2, width // 2, count + 1
    if count == 0:
        raise ValueError(
            f"Image size {height}x{width} is too small or odd for the DCGAN networks: both "
            "sides must be even and at least 8 (8x8 to 64x64 and beyond, e.g. 28x28). "
            "Resize the images or pass your own networks."
        )
    return count


def _check_shape(shape):
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise ValueError(
            f"DCGAN networks take an image shape (height, width, channels); got {shape}.")
    return shape


def _resolve_batch_norm(batch_norm, spectral_norm):
    if batch_norm is None:
        return not spectral_norm
    if batch_norm and spectral_norm:
        raise ValueError(
            "spectral_norm=True replaces batch normalisation in the discriminator (Miyato "
            "et al. 2018): pass batch_norm=False or leave it unset."
        )
    return bool(batch_norm)


def generator_body(x, shape, base_filters=64, batch_norm=True, output_activation="tanh",
                  name="generator"):
    """The DCGAN generator's layers applied to a vector tensor ``x``; returns the image tensor.

    A dense projection to a small feature map, then strided transposed convolutions that
    double its size and halve its channels, then a 3x3 convolution to ``shape``'s
    channels. `dcgan_generator` applies them to a latent input; a conditional network
    applies them to a latent vector concatenated with a label embedding
    (`kgen.networks.conditional_generator`, `kgen.networks.conditional_decoder`).

    Args:
        x: a symbolic tensor of shape ``(batch, features)`` (a `keras.Input` or a layer's
            output).
        shape: output image shape ``(height, width, channels)``.
        base_filters: channels of the last upsampling block; earlier blocks double it.
        batch_norm: batch normalisation after each hidden layer.
        output_activation: ``"tanh"`` for images in [-1, 1]; None for logits or means.
        name: prefix of the layer names (``{name}_project``, ``{name}_up_1``, ...,
            ``{name}_out``).

    Returns:
        The symbolic image tensor ``(batch,) + shape``.

    Example:

    ```python
    import keras
    from kgen.networks import generator_body

    z = keras.Input((8,))
    h = keras.layers.Concatenate()([z, keras.Input((4,))])
    generator_body(h, (8, 8, 1), base_filters=8, name="g").shape   # (None, 8, 8, 1)
    ```

    References:
        Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
        Convolutional Generative Adversarial Networks", ICLR 2016.
    """
    height, width, channels = _check_shape(shape)
    count = num_upsamplings(height, width)
    start_h, start_w = height >> count, width >> count
    filters = base_filters * 2**count
    momentum = 0.9

    x = keras.layers.Dense(start_h * start_w * filters, use_bias=not batch_norm,
                           name=f"{name}_project")(x)
    x = keras.layers.Reshape((start_h, start_w, filters), name=f"{name}_reshape")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn_0")(x)
    x = keras.layers.ReLU(name=f"{name}_relu_0")(x)
    for i in range(1, count + 1):
        filters //= 2
        x = Conv2DTranspose(filters, 4, strides=2, padding="same",
                                         use_bias=not batch_norm, name=f"{name}_up_{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn_{i}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu_{i}")(x)
    return keras.layers.Conv2D(channels, 3, padding="same", activation=output_activation,
                               name=f"{name}_out")(x)


def dcgan_generator(shape, latent_dim=100, base_filters=64, batch_norm=True,
                    output_activation="tanh", name="generator"):
    """A DCGAN generator mapping a latent vector to an image of ``shape``.

    Args:
        shape: output image shape ``(height, width, channels)``.
        latent_dim: size of the latent vector.
        base_filters: channels of the last upsampling block; earlier blocks double it.
        batch_norm: batch normalisation after each hidden layer.
        output_activation: ``"tanh"`` for images in [-1, 1]; None for logits or means.
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``(latent_dim,)`` to ``shape``.

    Example:

    ```python
    from kgen.networks import dcgan_generator
    g = dcgan_generator((16, 16, 1), latent_dim=32, base_filters=16)
    g.output_shape  # (None, 16, 16, 1)
    ```
    """
    shape = _check_shape(shape)
    num_upsamplings(*shape[:2])
    inputs = keras.Input((latent_dim,), name=f"{name}_latent")
    outputs = generator_body(inputs, shape, base_filters, batch_norm, output_activation, name)
    return keras.Model(inputs, outputs, name=name)


def discriminator_features(x, base_filters=64, batch_norm=True, activation="leaky_relu",
                           spectral_norm=False, name="discriminator"):
    """The DCGAN discriminator's layers applied to an image tensor ``x``, up to the logit.

    A 3x3 convolution, then strided convolutions that halve the map and double the
    channels (with batch normalisation unless ``batch_norm=False``), then a flatten.
    The result is the ``phi(x)`` of a projection discriminator
    (`kgen.networks.conditional_discriminator`) and the body of the default encoders of
    the autoencoder families (`kgen.networks.encoder`, `kgen.networks.conditional_encoder`).

    Args:
        x: a symbolic image tensor ``(batch, height, width, channels)``.
        base_filters: channels of the first layer; each downsampling doubles it.
        batch_norm: batch normalisation after each strided convolution.
        activation: ``"leaky_relu"`` (slope 0.2) or any Keras activation name.
        spectral_norm: wrap every convolution in `kgen.networks.SpectralNormalization`.
        name: prefix of the layer names (``{name}_conv_0``, ``{name}_down_1``, ...,
            ``{name}_flatten``).

    Returns:
        The flattened features of the last downsampling block, ``(batch, features)``.

    Example:

    ```python
    import keras
    from kgen.networks import discriminator_features

    images = keras.Input((8, 8, 1))
    discriminator_features(images, base_filters=8, name="d").shape   # (None, 256)
    ```

    References:
        Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
        Convolutional Generative Adversarial Networks", ICLR 2016.
    """
    height, width = int(x.shape[1]), int(x.shape[2])
    count = num_upsamplings(height, width)
    momentum = 0.9

    def act(i):
        if activation == "leaky_relu":
            return keras.layers.LeakyReLU(0.2, name=f"{name}_act_{i}")
        return keras.layers.Activation(activation, name=f"{name}_act_{i}")

    filters = base_filters
    x = _sn(keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv_0"),
           spectral_norm)(x)
    x = act(0)(x)
    for i in range(1, count + 1):
        filters *= 2
        x = _sn(keras.layers.Conv2D(filters, 4, strides=2, padding="same",
                                   use_bias=not batch_norm, name=f"{name}_down_{i}"),
               spectral_norm)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn_{i}")(x)
        x = act(i)(x)
    return keras.layers.Flatten(name=f"{name}_flatten")(x)


def dcgan_discriminator(shape, output_dim=1, base_filters=64, batch_norm=None,
                        activation="leaky_relu", spectral_norm=False, name="discriminator"):
    """A DCGAN discriminator (or encoder) mapping an image of ``shape`` to a vector.

    Args:
        shape: input image shape ``(height, width, channels)``.
        output_dim: size of the output (1 logit for a discriminator; ``2 * latent_dim``
            for a VAE encoder).
        base_filters: channels of the first layer; each downsampling doubles it.
        batch_norm: batch normalisation after each strided convolution (not on the input
            layer). Default: on, unless ``spectral_norm``.
        activation: ``"leaky_relu"`` (slope 0.2) or any Keras activation name.
        spectral_norm: wrap every convolution and the output layer in
            `kgen.networks.SpectralNormalization` (Miyato et al. 2018), without batch
            normalisation (SN-GAN's discriminators use none).
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``shape`` to ``(output_dim,)`` (linear output).

    Example:

    ```python
    from kgen.networks import dcgan_discriminator
    d = dcgan_discriminator((16, 16, 1), base_filters=16)
    d.output_shape  # (None, 1)
    critic = dcgan_discriminator((16, 16, 1), base_filters=16, spectral_norm=True)
    ```
    """
    height, width, channels = _check_shape(shape)
    num_upsamplings(height, width)
    batch_norm = _resolve_batch_norm(batch_norm, spectral_norm)
    inputs = keras.Input((height, width, channels), name=f"{name}_image")
    x = discriminator_features(inputs, base_filters, batch_norm, activation, spectral_norm, name)
    outputs = _sn(keras.layers.Dense(output_dim, name=f"{name}_out"), spectral_norm)(x)
    return keras.Model(inputs, outputs, name=name)
