"""A multilayer perceptron, for generative models of low-dimensional data."""

import keras

from kgen.networks.spectral_norm import _sn


def mlp_hidden(x, hidden_units, activation="relu", spectral_norm=False, name="mlp"):
    """The hidden layers of `mlp` applied to a tensor ``x``: one dense layer per width.

    For networks that add inputs of their own before the hidden layers (a label
    embedding concatenated to the input, in `kgen.networks.conditional_generator` and
    `kgen.networks.conditional_encoder`).

    Args:
        x: a symbolic tensor ``(batch, features)``.
        hidden_units: width of each hidden layer.
        activation: activation of the hidden layers.
        spectral_norm: wrap every layer in `kgen.networks.SpectralNormalization`.
        name: prefix of the layer names (``{name}_dense_0``, ``{name}_dense_1``, ...).

    Returns:
        The output tensor of the last hidden layer (``x`` itself if there is none).

    Example:

    ```python
    import keras
    from kgen.networks import mlp_hidden

    inputs = keras.Input((3,))
    mlp_hidden(inputs, (16, 8), name="net").shape   # (None, 8)
    ```
    """
    for i, units in enumerate(hidden_units):
        x = _sn(keras.layers.Dense(units, activation=activation, name=f"{name}_dense_{i}"),
                spectral_norm)(x)
    return x


def mlp(input_dim, output_dim, hidden_units=(128, 128, 128), activation="relu",
        output_activation=None, spectral_norm=False, name="mlp"):
    """A fully connected network ``input_dim -> hidden_units -> output_dim``.

    Used for GANs on the 2-D toy mixtures (``"ring"``, ``"grid"``).

    Args:
        input_dim: size of the input vector.
        output_dim: size of the output vector.
        hidden_units: width of each hidden layer.
        activation: activation of the hidden layers.
        output_activation: activation of the output layer (None: linear).
        spectral_norm: wrap every layer in `kgen.networks.SpectralNormalization`
            (for discriminators; Miyato et al. 2018).
        name: model name (prefix of its layer names).

    Returns:
        A functional `keras.Model`.

    Example:

    ```python
    from kgen.networks import mlp
    generator = mlp(8, 2, name="generator")
    generator.output_shape  # (None, 2)
    ```
    """
    inputs = keras.Input((input_dim,), name=f"{name}_input")
    x = mlp_hidden(inputs, hidden_units, activation, spectral_norm, name)
    outputs = _sn(keras.layers.Dense(output_dim, activation=output_activation,
                                     name=f"{name}_out"), spectral_norm)(x)
    return keras.Model(inputs, outputs, name=name)
