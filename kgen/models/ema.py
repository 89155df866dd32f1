"""Exponential moving average of a network's weights, kept in a copy of the network."""

import keras
from keras import ops


def _check_decay(decay):
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 <= decay < 1.0:
        raise ValueError(f"The EMA decay must be a number in [0, 1), such as 0.999; got {decay!r}.")
    return float(decay)


def _clone_layer(layer):
    """A new layer like ``layer``: a ``Lambda`` keeps its Python function (which a config
    holds as code that Keras refuses to load in safe mode), others come from their config."""
    if isinstance(layer, keras.layers.Lambda):
        return keras.layers.Lambda(layer.function, output_shape=layer._output_shape,
                                   mask=layer.mask, arguments=dict(layer.arguments),
                                   name=layer.name)
    try:
        return layer.__class__.from_config(layer.get_config())
    except Exception as error:  # noqa: BLE001 - any failure means the same thing here
        reason = " ".join(str(error).strip().split("\n\n")[0].split())
        raise ValueError(
            f"its layer {layer.name!r} ({type(layer).__name__}) could not be rebuilt from its "
            f"config ({reason})") from error


def averaged_copy(network, name=None):
    """A non-trainable copy of ``network`` with the same architecture and weights.

    Functional and sequential networks are cloned layer by layer (nested functional
    models included; a ``Lambda`` layer keeps its Python function); other networks (a
    subclassed model) are rebuilt from their config (they must be serialisable) and
    built like the original.

    Args:
        network: a built Keras model or layer.
        name: the copy's name (default ``network.name + "_ema"``).

    Returns:
        The copy, with ``trainable=False``: as an attribute of a model, its weights are
        the model's non-trainable variables (carried by the JAX training state, saved in
        ``.keras`` files, excluded from the optimizers).

    Example:

    ```python
    from kgen.models.ema import averaged_copy
    from kgen.networks import mlp

    net = mlp(4, 2, (8,), name="generator")
    copy = averaged_copy(net)          # "generator_ema", same weights, not trainable
    ```
    """
    if not isinstance(network, keras.layers.Layer) or not network.built:
        raise ValueError(f"averaged_copy needs a built Keras model or layer; got {network!r}.")
    functional = isinstance(network, keras.Model) and bool(getattr(network, "inputs", None))
    try:
        if functional:
            copy = keras.models.clone_model(network, clone_function=_clone_layer,
                                            recursive=True)
        else:
            copy = keras.models.clone_model(network)
    except Exception as error:  # noqa: BLE001 - any failure means the same thing here
        hint = ("Every layer of a functional network is rebuilt from its config: a custom "
                "layer needs get_config() (its constructor arguments) and registration with "
                "keras.saving.register_keras_serializable." if functional else
                "A subclassed network is rebuilt from its config: it needs get_config()/"
                "from_config() and registration with "
                "keras.saving.register_keras_serializable.")
        raise ValueError(
            f"Could not copy the network {network.name!r} for its moving average: {error}. "
            f"{hint} Or turn the moving average off (ema=None)."
        ) from error
    if not copy.built:
        copy.build_from_config(network.get_build_config())
    copy.name = name or f"{network.name}_ema"
    if len(copy.weights) != len(network.weights) or any(
        tuple(a.shape) != tuple(b.shape) for a, b in zip(copy.weights, network.weights)
    ):
        raise ValueError(f"The copy of {network.name!r} does not have the same weights.")
    copy.set_weights(network.get_weights())
    copy.trainable = False
    return copy


class ExponentialMovingAverage:
    """Keeps ``average``, a copy of ``network``, whose weights average the network's.

    After every ``update()``, each trainable weight ``w`` of ``network`` has its shadow
    ``s`` in ``average`` moved towards it, ``s <- decay * s + (1 - decay) * w``; the
    non-trainable weights (batch-normalisation statistics) are copied as they are. The
    shadows start equal to the weights. Sampling with the averaged weights gives better
    and steadier samples than the raw weights of the last step (Karras et al. 2018;
    Yazici et al. 2019); the decay sets the horizon, about ``1 / (1 - decay)`` steps.

    The helper owns no variable itself: ``average`` is an ordinary Keras network. A model
    keeps it as an attribute (so its weights are non-trainable model variables, carried
    through JAX steps and saved in ``.keras`` files), runs it to sample, and calls
    ``update()`` after the updates of each training step (`GenerativeModel.after_updates`).

    Args:
        network: the trained network.
        decay: the decay, in [0, 1) (0.999 is common; 0.9999 for long diffusion runs).
        average: an existing averaged copy to keep up to date (a model being loaded has
            one already); by default a new one from `averaged_copy`.

    Example:

    ```python
    import keras
    from kgen.models.ema import ExponentialMovingAverage
    from kgen.networks import mlp

    net = mlp(4, 2, (8,), name="generator")
    ema = ExponentialMovingAverage(net, decay=0.9)
    net.set_weights([w + 1.0 for w in net.get_weights()])
    ema.update()                       # each shadow moved 10% of the way to its weight
    outputs = ema.average(keras.ops.zeros((1, 4)))
    ```

    References:
        Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved
        Quality, Stability, and Variation", ICLR 2018.
        Yazici, Foo, Winkler, Yap, Piliouras & Chandrasekhar, "The Unusual Effectiveness
        of Averaging in GAN Training", ICLR 2019.
    """

    def __init__(self, network, decay, average=None):
        self.decay = _check_decay(decay)
        self.network = network
        self.average = averaged_copy(network) if average is None else average
        pairs = list(zip(self.average.weights, network.weights))
        if len(self.average.weights) != len(network.weights) or any(
            tuple(s.shape) != tuple(w.shape) for s, w in pairs
        ):
            raise ValueError(
                f"The averaged network {self.average.name!r} does not match {network.name!r}."
            )
        self._pairs = pairs

    def update(self, decay=None):
        """Moves every shadow towards its weight (``s <- decay * s + (1 - decay) * w``).

        Args:
            decay: this step's decay (a float or a scalar tensor, such as a warm-up
                schedule's value); default: the average's ``decay``.
        """
        decay = self.decay if decay is None else decay
        for shadow, weight in self._pairs:
            value = weight.value
            if weight.trainable and keras.backend.is_float_dtype(shadow.dtype):
                value = decay * shadow.value + (1.0 - decay) * ops.cast(
                    value, shadow.dtype
                )
            shadow.assign(value)
