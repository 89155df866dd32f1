"""Checks of the networks a user brings: what kgen passes them and what it reads back.

Every model takes its networks as constructor arguments, and a network written for
another training loop (a keras-io example, a paper's code) often ends with an activation
that loop expected: a sigmoid discriminator for a loss on probabilities, a sigmoid
generator for images in [0, 1]. kgen's objectives take logits and images in data space
([-1, 1]), so such a network trains without an error and learns nothing useful. The
models call these checks when they are built, so the mismatch is an error that says
what to change:

- `check_logits`: a network whose outputs kgen reads as logits (a discriminator, a
  Bernoulli decoder) must not end with a sigmoid, a softmax or an activation that
  cannot be negative.
- `check_data_space`: a network whose outputs are samples in data space (a generator, a
  Gaussian decoder) must be able to produce values in [-1, 0): no sigmoid, no ReLU.

`last_activation` finds the activation from the network's structure: the last layer's
``activation`` (a ``Dense`` or convolution), an ``Activation``/``ReLU``/``Softmax``
layer, looking through layers that keep the range of their input (``Flatten``,
``Reshape``, ``Dropout``, pooling) and into nested models. What it cannot see (a
``Lambda``, a subclassed model) passes.
"""

import warnings

import keras

#: Activations whose outputs lie in [0, 1] (probabilities).
PROBABILITIES = ("sigmoid", "hard_sigmoid", "softmax")
#: Activations whose outputs are never negative.
NON_NEGATIVE = ("relu", "relu6", "softplus", "exponential")

# Layers whose output range is that of their input.
_RANGE_KEEPING = (
    keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dropout,
    keras.layers.Permute, keras.layers.Identity, keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D, keras.layers.AveragePooling1D, keras.layers.AveragePooling2D,
    keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D,
    keras.layers.UpSampling1D, keras.layers.UpSampling2D, keras.layers.Cropping1D,
    keras.layers.Cropping2D, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
)


def _producer(tensor):
    """``(layer, its input tensors)`` of the layer that made a symbolic tensor, or None."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    operation = history.operation
    try:
        inputs = operation._inbound_nodes[history.node_index].input_tensors
    except (AttributeError, IndexError):
        inputs = []
    return operation, list(inputs)


def _activation_name(function):
    name = getattr(function, "__name__", None)
    return None if name in (None, "linear", "<lambda>") else name


def _layer_activation(layer, inputs, depth):
    """The activation ``layer`` applies last (through range-keeping layers), or None."""
    if depth > 50:
        return None
    inner = getattr(layer, "layer", None)   # a wrapper such as SpectralNormalization
    if isinstance(layer, keras.layers.Activation):
        return _activation_name(layer.activation)
    if isinstance(layer, keras.layers.ReLU):
        return "relu" if layer.negative_slope == 0 else None
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    if isinstance(layer, keras.Model):
        return _last_activation(layer, depth + 1)
    if isinstance(layer, _RANGE_KEEPING):
        if len(inputs) != 1:
            return None
        found = _producer(inputs[0])
        return None if found is None else _layer_activation(*found, depth + 1)
    activation = getattr(layer, "activation", None)
    if activation is None and isinstance(inner, keras.layers.Layer):
        activation = getattr(inner, "activation", None)
    return _activation_name(activation) if callable(activation) else None


def _last_activation(network, depth):
    if not isinstance(network, keras.layers.Layer):
        return None
    if not isinstance(network, keras.Model):
        return _layer_activation(network, [], depth)
    try:
        outputs = network.outputs
    except AttributeError:
        outputs = None
    if not outputs or len(outputs) != 1:
        return None   # a subclassed model, or several outputs
    found = _producer(outputs[0])
    return None if found is None else _layer_activation(*found, depth)


def last_activation(network):
    """The name of the activation ``network`` applies last to its output, or None.

    None means no activation (a linear output) or one that cannot be seen from the
    network's structure (a ``Lambda``, a subclassed model, several outputs).

    Args:
        network: a Keras model or layer.

    Example:

    ```python
    import keras
    from kgen.models.network_checks import last_activation

    x = keras.Input((4,))
    h = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(8)(x))
    last_activation(keras.Model(x, keras.layers.Flatten()(h)))   # 'sigmoid'
    ```
    """
    return _last_activation(network, 0)


def check_logits(network, role, model, fix):
    """Raises a clear error when ``network``'s outputs cannot be logits.

    Args:
        network: the network whose outputs kgen reads as logits.
        role: what it is (``"discriminator"``), for the message.
        model: the model's class name, for the message.
        fix: a sentence that says what to do instead.

    Raises:
        ValueError: the network ends with a sigmoid, a softmax or an activation that
            is never negative.

    Example:

    ```python
    import keras
    from kgen.models.network_checks import check_logits

    x = keras.Input((2,))
    check_logits(keras.Model(x, keras.layers.Dense(1)(x)), "discriminator", "GAN", "")
    ```
    """
    name = last_activation(network)
    if name in PROBABILITIES:
        raise ValueError(
            f"The {role} of this {model} ends with a {name} activation, but kgen reads its "
            f"outputs as logits (unbounded scores; the {name} is part of kgen's losses): "
            f"with a {name} on top the loss cannot reach its minimum and the gradients "
            f"vanish. {fix}")
    if name in NON_NEGATIVE:
        raise ValueError(
            f"The {role} of this {model} ends with a {name} activation, so its outputs are "
            f"never negative, but kgen reads them as logits, which must be able to take "
            f"any sign. {fix}")


def check_data_space(network, role, model, fix, images=True):
    """Raises (or, for vectors, warns) when ``network`` cannot produce data-space values.

    kgen's samples live in data space: images in [-1, 1] (`kgen.data.images` scales
    uint8 pixels so). A network that ends with a sigmoid (values in [0, 1]) or a ReLU
    (never negative) can never produce values in [-1, 0).

    Args:
        network: the network whose outputs are samples in data space.
        role: what it is (``"generator"``), for the message.
        model: the model's class name, for the message.
        fix: a sentence that says what to do instead.
        images: the samples are images (an error); for other samples (vectors, whose
            range the data decides) a warning.

    Raises:
        ValueError: an image network ends with such an activation.

    Example:

    ```python
    import keras
    from kgen.models.network_checks import check_data_space

    z = keras.Input((4,))
    check_data_space(keras.Model(z, keras.layers.Dense(2, activation="tanh")(z)),
                     "generator", "GAN", "")
    ```
    """
    name = last_activation(network)
    if name not in PROBABILITIES + NON_NEGATIVE:
        return
    low = "0" if name in NON_NEGATIVE else "[0, 1]"
    span = "never negative" if name in NON_NEGATIVE else f"in {low}"
    message = (
        f"The {role} of this {model} ends with a {name} activation, so its outputs are "
        f"{span}, but kgen's samples live in data space, [-1, 1] for images "
        f"(kgen.data.images scales pixels so): it can never produce values in [-1, 0). "
        f"{fix}")
    if images:
        raise ValueError(message)
    warnings.warn(message, stacklevel=3)


def input_count(network):
    """How many inputs a functional ``network`` takes, or None when it is not known.

    Example:

    ```python
    import keras
    from kgen.models.network_checks import input_count

    a, b = keras.Input((4,)), keras.Input(())
    input_count(keras.Model([a, b], a))   # 2
    ```
    """
    try:
        inputs = network.inputs
    except AttributeError:
        return None
    return len(inputs) if inputs else None


def output_rank(network):
    """The rank (batch axis included) of a network's single output, or None if unknown.

    Example:

    ```python
    import keras
    from kgen.models.network_checks import output_rank

    x = keras.Input((8, 8, 1))
    output_rank(keras.Model(x, keras.layers.Conv2D(1, 3)(x)))   # 4
    ```
    """
    try:
        shape = network.output_shape
    except (AttributeError, ValueError):
        return None
    if shape is None or isinstance(shape, list) or (
            isinstance(shape, tuple) and shape and isinstance(shape[0], tuple)):
        return None
    return len(shape)


def input_shapes(network):
    """The shapes of a functional ``network``'s inputs (without the batch axis), or None."""
    try:
        inputs = network.inputs
    except AttributeError:
        return None
    if not inputs:
        return None
    return [tuple(tensor.shape[1:]) for tensor in inputs]
