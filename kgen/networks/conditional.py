"""Class-conditional generator and discriminator networks (for `kgen.models.ConditionalGAN`).

Both take the class label as a second input, an integer per sample. The generator
concatenates a learned label embedding to the latent vector (Mirza & Osindero 2014, with
a learned embedding in place of the one-hot code). The discriminator either concatenates
a label embedding to its input (``"concat"``: for images, one learned ``height x width``
map per class, stacked as an extra channel; for vectors, a learned vector), or uses the
projection discriminator of Miyato & Koyama (2018) (``"projection"``):
``logit = psi(phi(x)) + <embed(y), phi(x)>``, with ``phi`` the unconditional
discriminator's features and ``psi`` a linear layer. The bodies are the DCGAN networks
for images and MLPs for vectors (the same layers as `dcgan_generator`,
`dcgan_discriminator` and `mlp`).

References:
    Mirza & Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784, 2014.
    Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018.
"""

import keras

from kgen import checks
from kgen.networks.dcgan import (
    _resolve_batch_norm,
    discriminator_features,
    generator_body,
    num_upsamplings,
)
from kgen.networks.mlp import mlp_hidden
from kgen.networks.spectral_norm import _sn
from kgen.networks.unet import check_image_shape

DISCRIMINATOR_KINDS = ("projection", "concat")


def sample_shape(shape, what="Conditional networks"):
    """``shape`` checked to be an image shape ``(height, width, channels)`` that the DCGAN
    bodies take, or a vector shape ``(dim,)``; returned as a tuple of ints.

    Args:
        shape: the sample shape.
        what: what the shape is for, named in the errors.

    Raises:
        TypeError: sizes that are not integers.
        ValueError: another rank, a size under 1, or an image size the DCGAN bodies
            cannot reach (`kgen.networks.num_upsamplings`).

    Example:

    ```python
    from kgen.networks.conditional import sample_shape
    sample_shape([8, 8, 1]), sample_shape((2,))   # ((8, 8, 1), (2,))
    ```
    """
    message = (f"{what} takes an image shape (height, width, channels) or a vector "
               f"shape (dim,); got {shape!r}.")
    if isinstance(shape, (str, bytes)):
        raise TypeError(message)
    try:
        sizes = tuple(shape)
    except TypeError:
        raise TypeError(message) from None
    if len(sizes) == 3:
        sizes = check_image_shape(sizes, what)
        num_upsamplings(*sizes[:2])
        return sizes
    if len(sizes) == 1:
        return (checks.integer(sizes[0], f"{what}: the vector size", 1),)
    raise ValueError(message)


def _label_input(name):
    return keras.Input((), dtype="int32", name=f"{name}_label")


def conditional_generator(shape, num_classes, latent_dim=100, base_filters=64,
                          embedding_dim=32, batch_norm=True, name="generator"):
    """A generator from a latent vector and a class label to a sample of ``shape``.

    The label's learned embedding (``embedding_dim`` values) is concatenated to the latent
    vector, which then goes through the DCGAN generator's layers (images) or an MLP with
    three hidden layers of ``base_filters`` units (vectors).

    Args:
        shape: sample shape, ``(height, width, channels)`` or ``(dim,)``.
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        latent_dim: size of the latent vector.
        base_filters: width (DCGAN channels of the last block, or MLP units).
        embedding_dim: size of the label embedding.
        batch_norm: batch normalisation in the DCGAN body.
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``[(latent_dim,), ()]`` (latents, int32 labels) to
        ``shape``.

    Example:

    ```python
    import numpy as np
    from kgen.networks import conditional_generator

    g = conditional_generator((8, 8, 1), num_classes=10, latent_dim=16, base_filters=8)
    g([np.zeros((2, 16), "float32"), np.array([3, 7], "int32")]).shape  # (2, 8, 8, 1)
    ```

    References:
        Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014.
    """
    shape = sample_shape(shape)
    num_classes = checks.integer(num_classes, "num_classes", 2)
    latent_dim = checks.integer(latent_dim, "latent_dim", 1)
    base_filters = checks.integer(base_filters, "base_filters", 1)
    embedding_dim = checks.integer(embedding_dim, "embedding_dim", 1)
    latents = keras.Input((latent_dim,), name=f"{name}_latent")
    labels = _label_input(name)
    embedded = keras.layers.Embedding(num_classes, embedding_dim, name=f"{name}_embed")(labels)
    x = keras.layers.Concatenate(name=f"{name}_concat")([latents, embedded])
    if len(shape) == 3:
        outputs = generator_body(x, shape, base_filters, batch_norm, "tanh", name)
    else:
        x = mlp_hidden(x, (base_filters,) * 3, "relu", False, name)
        outputs = keras.layers.Dense(shape[0], name=f"{name}_out")(x)
    return keras.Model([latents, labels], outputs, name=name)


def conditional_discriminator(shape, num_classes, kind="projection", base_filters=64,
                              batch_norm=None, spectral_norm=False, name="discriminator"):
    """A discriminator from a sample and a class label to one logit.

    Args:
        shape: sample shape, ``(height, width, channels)`` or ``(dim,)``.
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        kind: ``"projection"`` (Miyato & Koyama 2018):
            ``logit = psi(phi(x)) + <embed(y), phi(x)>``, with ``phi`` the DCGAN
            discriminator's flattened features (images) or an MLP's last hidden layer
            (vectors); or ``"concat"``: a learned per-class ``height x width`` map stacked
            as an extra input channel (images) or a learned per-class vector concatenated
            to the input (vectors), then the unconditional body.
        base_filters: width (DCGAN channels of the first layer, or MLP units).
        batch_norm: batch normalisation in the DCGAN body (default: on unless
            ``spectral_norm``).
        spectral_norm: wrap every convolution, dense layer and the label embedding in
            `kgen.networks.SpectralNormalization`.
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model` from ``[shape, ()]`` (samples, int32 labels) to
        ``(1,)``.

    Example:

    ```python
    import numpy as np
    from kgen.networks import conditional_discriminator

    d = conditional_discriminator((8, 8, 1), num_classes=10, base_filters=8)
    d([np.zeros((2, 8, 8, 1), "float32"), np.array([3, 7], "int32")]).shape  # (2, 1)
    ```

    References:
        Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018.
        Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014.
    """
    shape = sample_shape(shape)
    num_classes = checks.integer(num_classes, "num_classes", 2)
    base_filters = checks.integer(base_filters, "base_filters", 1)
    checks.one_of(kind, "conditional discriminator", DISCRIMINATOR_KINDS)
    images = len(shape) == 3
    batch_norm = _resolve_batch_norm(batch_norm, spectral_norm) if images else False
    samples = keras.Input(shape, name=f"{name}_input")
    labels = _label_input(name)

    def features(x):
        if images:
            return discriminator_features(x, base_filters, batch_norm, "leaky_relu",
                                           spectral_norm, name)
        return mlp_hidden(x, (base_filters,) * 3, "leaky_relu", spectral_norm, name)

    def embedding(dim):
        return _sn(keras.layers.Embedding(num_classes, dim, name=f"{name}_embed"),
                   spectral_norm)(labels)

    if kind == "concat":
        if images:
            height, width, _ = shape
            maps = keras.layers.Reshape((height, width, 1), name=f"{name}_label_map")(
                embedding(height * width))
            x = keras.layers.Concatenate(name=f"{name}_concat")([samples, maps])
        else:
            x = keras.layers.Concatenate(name=f"{name}_concat")([samples, embedding(shape[0])])
        outputs = _sn(keras.layers.Dense(1, name=f"{name}_out"), spectral_norm)(features(x))
    else:
        phi = features(samples)
        psi = _sn(keras.layers.Dense(1, name=f"{name}_out"), spectral_norm)(phi)
        projection = keras.layers.Dot(axes=1, name=f"{name}_projection")(
            [embedding(int(phi.shape[-1])), phi])
        outputs = keras.layers.Add(name=f"{name}_logit")([psi, projection])
    return keras.Model([samples, labels], outputs, name=name)
