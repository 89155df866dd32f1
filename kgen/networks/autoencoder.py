"""The default encoders and decoders of the autoencoder families (`kgen.models.VAE`,
`kgen.models.Autoencoder`, `kgen.models.ConditionalVAE`).

Images get the DCGAN layers of `kgen.networks.dcgan` without batch normalisation: the
encoder is the discriminator's body with ReLU activations and a linear output of
``output_dim`` values, the decoder the generator's body with a linear output (logits or
means, as the model's likelihood wants). Vectors get MLPs with two hidden layers of
``4 * base_filters`` ReLU units. The conditional versions take the class label as a
second input, an int32 index per sample: the encoder stacks a learned ``height x width``
map per class onto the image as an extra channel (for vectors, it concatenates a learned
embedding to the input), and the decoder concatenates a learned label embedding to the
latent vector (Sohn et al. 2015, with a learned embedding in place of the one-hot code).

References:
    Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
    Convolutional Generative Adversarial Networks", ICLR 2016.
    Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
    Generative Models", NeurIPS 2015.
"""

import keras

from kgen import checks
from kgen.networks.conditional import sample_shape
from kgen.networks.dcgan import (
    dcgan_discriminator,
    dcgan_generator,
    discriminator_features,
    generator_body,
)
from kgen.networks.mlp import mlp, mlp_hidden


def _hidden_units(base_filters):
    return (4 * base_filters,) * 2


def encoder(shape, output_dim, base_filters=32, name="encoder"):
    """The default encoder of the autoencoder families: samples of ``shape`` to a vector.

    Images: `dcgan_discriminator` without batch normalisation, with ReLU activations and
    ``output_dim`` linear outputs. Vectors: `mlp` with two hidden layers of
    ``4 * base_filters`` units. A VAE's encoder has ``output_dim = 2 * latent_dim`` (the
    means, then the log-variances); an autoencoder's has ``output_dim = latent_dim``.

    Args:
        shape: sample shape, ``(height, width, channels)`` or ``(dim,)``.
        output_dim: size of the output vector.
        base_filters: channels of the first convolution (each downsampling doubles them),
            or a quarter of the MLP's hidden width.
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``shape`` to ``(output_dim,)``.

    Example:

    ```python
    from kgen.networks import encoder
    net = encoder((8, 8, 1), output_dim=8, base_filters=8)
    net.output_shape  # (None, 8)
    ```
    """
    shape = sample_shape(shape, "kgen.networks.encoder")
    output_dim = checks.integer(output_dim, "output_dim", 1)
    base_filters = checks.integer(base_filters, "base_filters", 1)
    if len(shape) == 1:
        return mlp(shape[0], output_dim, _hidden_units(base_filters), name=name)
    return dcgan_discriminator(shape, output_dim, base_filters, batch_norm=False,
                               activation="relu", name=name)


def decoder(shape, latent_dim, base_filters=32, name="decoder"):
    """The default decoder of the autoencoder families: a latent vector to a sample of ``shape``.

    Images: `dcgan_generator` without batch normalisation and with a linear output.
    Vectors: `mlp` with two hidden layers of ``4 * base_filters`` units.

    Args:
        shape: sample shape, ``(height, width, channels)`` or ``(dim,)``.
        latent_dim: size of the latent vector.
        base_filters: channels of the last upsampling block (earlier blocks double them),
            or a quarter of the MLP's hidden width.
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``(latent_dim,)`` to ``shape`` (linear output).

    Example:

    ```python
    from kgen.networks import decoder
    net = decoder((8, 8, 1), latent_dim=4, base_filters=8)
    net.output_shape  # (None, 8, 8, 1)
    ```
    """
    shape = sample_shape(shape, "kgen.networks.decoder")
    latent_dim = checks.integer(latent_dim, "latent_dim", 1)
    base_filters = checks.integer(base_filters, "base_filters", 1)
    if len(shape) == 1:
        return mlp(latent_dim, shape[0], _hidden_units(base_filters), name=name)
    return dcgan_generator(shape, latent_dim, base_filters, batch_norm=False,
                           output_activation=None, name=name)


def conditional_encoder(shape, num_classes, output_dim, base_filters=32, embedding_dim=16,
                        name="encoder"):
    """`encoder` with the class label as a second input: ``[samples, labels]`` to a vector.

    Images: a learned ``height x width`` map per class is stacked onto the image as an
    extra channel, then the layers of `encoder`. Vectors: a learned embedding of
    ``embedding_dim`` values is concatenated to the input, then the MLP's hidden layers.

    Args:
        shape: sample shape, ``(height, width, channels)`` or ``(dim,)``.
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        output_dim: size of the output vector (``2 * latent_dim`` for a VAE).
        base_filters: width, as in `encoder`.
        embedding_dim: size of the label embedding of vectors (images get one
            ``height x width`` map per class).
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``[shape, ()]`` (samples, int32 labels) to
        ``(output_dim,)``.

    Example:

    ```python
    import numpy as np
    from kgen.networks import conditional_encoder

    net = conditional_encoder((8, 8, 1), num_classes=10, output_dim=8, base_filters=8)
    net([np.zeros((2, 8, 8, 1), "float32"), np.array([3, 7], "int32")]).shape  # (2, 8)
    ```

    References:
        Sohn, Lee & Yan, "Learning Structured Output Representation using Deep
        Conditional Generative Models", NeurIPS 2015.
    """
    shape = sample_shape(shape, "kgen.networks.conditional_encoder")
    num_classes = checks.integer(num_classes, "num_classes", 2)
    output_dim = checks.integer(output_dim, "output_dim", 1)
    base_filters = checks.integer(base_filters, "base_filters", 1)
    embedding_dim = checks.integer(embedding_dim, "embedding_dim", 1)
    samples = keras.Input(shape, name=f"{name}_input")
    labels = keras.Input((), dtype="int32", name=f"{name}_label")
    if len(shape) == 3:
        height, width, _ = shape
        maps = keras.layers.Embedding(num_classes, height * width, name=f"{name}_embed")(labels)
        maps = keras.layers.Reshape((height, width, 1), name=f"{name}_label_map")(maps)
        x = keras.layers.Concatenate(name=f"{name}_concat")([samples, maps])
        x = discriminator_features(x, base_filters, batch_norm=False, activation="relu",
                                   name=name)
    else:
        embedded = keras.layers.Embedding(num_classes, embedding_dim,
                                          name=f"{name}_embed")(labels)
        x = keras.layers.Concatenate(name=f"{name}_concat")([samples, embedded])
        x = mlp_hidden(x, _hidden_units(base_filters), "relu", name=name)
    outputs = keras.layers.Dense(output_dim, name=f"{name}_out")(x)
    return keras.Model([samples, labels], outputs, name=name)


def conditional_decoder(shape, num_classes, latent_dim, base_filters=32, embedding_dim=16,
                        name="decoder"):
    """`decoder` with the class label as a second input: ``[latents, labels]`` to samples.

    A learned label embedding of ``embedding_dim`` values is concatenated to the latent
    vector, which then goes through the layers of `decoder` (the DCGAN generator's
    layers without batch normalisation, or the MLP's hidden layers) to a linear output.

    Args:
        shape: sample shape, ``(height, width, channels)`` or ``(dim,)``.
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        latent_dim: size of the latent vector.
        base_filters: width, as in `decoder`.
        embedding_dim: size of the label embedding.
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``[(latent_dim,), ()]`` (latents, int32 labels) to
        ``shape`` (linear output).

    Example:

    ```python
    import numpy as np
    from kgen.networks import conditional_decoder

    net = conditional_decoder((8, 8, 1), num_classes=10, latent_dim=4, base_filters=8)
    net([np.zeros((2, 4), "float32"), np.array([3, 7], "int32")]).shape  # (2, 8, 8, 1)
    ```

    References:
        Sohn, Lee & Yan, "Learning Structured Output Representation using Deep
        Conditional Generative Models", NeurIPS 2015.
    """
    shape = sample_shape(shape, "kgen.networks.conditional_decoder")
    num_classes = checks.integer(num_classes, "num_classes", 2)
    latent_dim = checks.integer(latent_dim, "latent_dim", 1)
    base_filters = checks.integer(base_filters, "base_filters", 1)
    embedding_dim = checks.integer(embedding_dim, "embedding_dim", 1)
    latents = keras.Input((latent_dim,), name=f"{name}_latent")
    labels = keras.Input((), dtype="int32", name=f"{name}_label")
    embedded = keras.layers.Embedding(num_classes, embedding_dim, name=f"{name}_embed")(labels)
    x = keras.layers.Concatenate(name=f"{name}_concat")([latents, embedded])
    if len(shape) == 3:
        outputs = generator_body(x, shape, base_filters, batch_norm=False,
                                 output_activation=None, name=name)
    else:
        x = mlp_hidden(x, _hidden_units(base_filters), "relu", name=name)
        outputs = keras.layers.Dense(shape[0], name=f"{name}_out")(x)
    return keras.Model([latents, labels], outputs, name=name)
