"""The feature-extractor protocol: images in data space -> ``(N, D)`` float32 features.

A feature extractor is a callable that takes a batch of images in kgen's data space
(float ``[-1, 1]``, shape ``(N, H, W, C)``) and returns a float32 numpy array of
features of shape ``(N, D)``. `FeatureExtractor` wraps a `keras.Model` or any callable
into one, checking its inputs and outputs; `extract_features` runs one and names the
batch in its errors.
"""

import os

import keras
import numpy as np
from keras import ops

from kgen import checks
from kgen.precision import policy_scope

#: Values of ``output`` accepted by the built-in extractors.
OUTPUTS = ("features", "logits")


class FeatureExtractor:
    """A callable mapping a batch of inputs to a ``(N, D)`` float32 numpy array of features.

    It wraps a `keras.Model` (run with ``model.predict`` in batches, so it is compiled
    once per input shape) or any callable (called on one batch at a time; its output
    may be a numpy array or a backend tensor). It checks the inputs and the outputs and
    carries a name and a *protocol* (what the features are: extractor, weights, resize)
    that the metrics store with cached reference statistics.

    Args:
        model: a `keras.Model`, a Keras layer or a callable ``batch -> (batch, D)``.
        name: the extractor's name, stored in the protocol (defaults to the model's name).
        batch_size: inputs per forward pass.
        images: the inputs are images in data space: they are checked and scaled with
            `kgen.checks.to_data_space` (uint8 ``0..255`` is accepted and scaled; floats
            must lie in ``[-1, 1]``; ``(N, H, W)`` gets a channel axis). With
            ``images=False`` the inputs are passed on as float32 arrays of any shape.
        image_shape: the one ``(H, W, C)`` the model accepts, or None for any.
        channels: the channel counts accepted (with ``images=True``), or None for any.
        num_features: ``D`` if known in advance (the metrics then allocate their state
            at construction); inferred from a Keras model's output shape otherwise.
        protocol: extra entries for the protocol dict.

    Example:

    ```python
    import keras, numpy as np
    from kgen.metrics import FeatureExtractor

    flatten = FeatureExtractor(keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()]),
                               images=True)
    flatten(np.zeros((5, 8, 8, 1), "float32")).shape  # (5, 64)
    ```
    """

    def __init__(self, model, *, name=None, batch_size=64, images=False, image_shape=None,
                 channels=None, num_features=None, protocol=None):
        if not callable(model):
            raise TypeError(
                f"A feature extractor must be a keras.Model or a callable batch -> (batch, D); "
                f"got {type(model).__name__}."
            )
        self.model = model
        self.name = name or getattr(model, "name", None) or getattr(model, "__name__", None) \
            or type(model).__name__
        self.batch_size = checks.integer(batch_size, "batch_size", 1)
        self.images = bool(images)
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self.channels = None if channels is None else tuple(channels)
        if num_features is None:
            num_features = _output_dim(model)
        self.num_features = checks.optional_integer(num_features, "num_features", 1)
        self.protocol = {"extractor": self.name}
        self.protocol.update(protocol or {})

    def __repr__(self):
        return (f"FeatureExtractor(name={self.name!r}, num_features={self.num_features}, "
                f"batch_size={self.batch_size})")

    def __call__(self, x):
        """Features of a batch of inputs.

        Args:
            x: a numpy array or backend tensor; images ``(N, H, W, C)`` in data space
                when the extractor takes images.

        Returns:
            float32 numpy array of shape ``(N, D)``.
        """
        x = self._prepare(x)
        n, size = len(x), self.batch_size
        if isinstance(self.model, keras.Model):
            if n > size and n % size:
                # Pad the last batch to full size: one compiled shape for every batch.
                x = np.concatenate([x, np.zeros((size - n % size,) + x.shape[1:], x.dtype)])
            out = self.model.predict(x, batch_size=size, verbose=0)
            if isinstance(out, (list, tuple, dict)):
                raise ValueError(
                    f"Feature extractor {self.name!r} returned several outputs; a feature "
                    "extractor must return one (batch, D) array. Build a keras.Model with "
                    "the one output you want as features."
                )
        else:
            parts = [_to_numpy(self.model(x[i:i + size]), self.name) for i in range(0, n, size)]
            if any(p.ndim != parts[0].ndim or p.shape[1:] != parts[0].shape[1:] for p in parts):
                raise ValueError(
                    f"Feature extractor {self.name!r} returned batches of different shapes "
                    f"{[p.shape for p in parts]}; it must return (batch, D) with a fixed D."
                )
            out = np.concatenate(parts, axis=0)
        return self._check_output(np.asarray(out), len(x), n)

    def _check_output(self, out, rows, n):
        """The first ``n`` rows of ``out``, checked to be finite ``(rows, D)`` features."""
        if out.ndim != 2 or out.shape[0] != rows:
            raise ValueError(
                f"Feature extractor {self.name!r} returned an array of shape {out.shape} for "
                f"{rows} inputs; a feature extractor must return (batch, D) features. End "
                "the network with keras.layers.Flatten() or GlobalAveragePooling2D()."
            )
        out = out[:n]
        if not np.isfinite(out).all():
            raise ValueError(
                f"Feature extractor {self.name!r} returned non-finite features (NaN or inf) "
                "for some inputs. Check the inputs and the extractor's weights."
            )
        if self.num_features is not None and out.shape[1] != self.num_features:
            raise ValueError(
                f"Feature extractor {self.name!r} returned {out.shape[1]} features per "
                f"input, expected {self.num_features}."
            )
        return out.astype(np.float32, copy=False)

    def _prepare(self, x):
        if x is None:
            raise ValueError(f"Feature extractor {self.name!r} got None instead of a batch.")
        if ops.is_tensor(x):
            x = ops.convert_to_numpy(x)
        if self.images:
            x = checks.to_data_space(x)
            if self.channels is not None and x.shape[-1] not in self.channels:
                raise ValueError(
                    f"Feature extractor {self.name!r} takes images with "
                    f"{' or '.join(map(str, self.channels))} channels; got shape {x.shape}. "
                    "Drop an alpha channel with x[..., :3]."
                )
            if self.image_shape is not None and x.shape[1:] != self.image_shape:
                raise ValueError(
                    f"Feature extractor {self.name!r} takes images of shape "
                    f"{self.image_shape} (H, W, C); got a batch of shape {x.shape}."
                )
            return x
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"Feature extractor {self.name!r} could not convert its input to an array "
                f"({error})."
            ) from None
        if x.dtype.kind not in "fiub":
            raise TypeError(
                f"Feature extractor {self.name!r} takes numeric arrays; got dtype {x.dtype}."
            )
        if x.ndim < 1 or len(x) == 0:
            raise ValueError(
                f"Feature extractor {self.name!r} got an empty batch of shape {x.shape}; "
                "pass at least one input."
            )
        return x.astype(np.float32, copy=False)


def _output_dim(model):
    """D from a Keras model's (None, D) output shape, or None when it is not known."""
    try:
        shape = model.output_shape if isinstance(model, keras.Model) else None
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(shape, tuple) and len(shape) == 2 and isinstance(shape[1], int):
        return shape[1]
    return None


def _to_numpy(value, name):
    if isinstance(value, (list, tuple, dict)):
        raise ValueError(
            f"Feature extractor {name!r} returned a {type(value).__name__}; it must return "
            "one (batch, D) array."
        )
    return np.asarray(ops.convert_to_numpy(value) if ops.is_tensor(value) else value)


def extract_features(extractor, x, *, what="inputs"):
    """Features of ``x`` with ``extractor``, re-raising input errors with context.

    Args:
        extractor: a `FeatureExtractor`.
        x: the batch.
        what: what ``x`` is (``"real images"``), named in error messages.

    Returns:
        float32 numpy array ``(N, D)``.

    Example:

    ```python
    import numpy as np
    from kgen.metrics.extractors import FeatureExtractor, extract_features

    extractor = FeatureExtractor(lambda x: x.reshape(len(x), -1))
    extract_features(extractor, np.zeros((3, 2, 2)), what="real images").shape   # (3, 4)
    ```
    """
    try:
        return extractor(x)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{what}: {error}") from None


def check_output(output):
    """``output``, checked to be one of `OUTPUTS` (``"features"`` or ``"logits"``)."""
    return checks.one_of(output, "output", OUTPUTS)


def weights_path(weights, default):
    """The weights file that ``weights=`` names: ``default`` for None, else the path given.

    Args:
        weights: None, or the path of a ``.weights.h5`` file (``~`` expanded).
        default: the shipped file, used for None.

    Returns:
        An absolute path (the file may not exist: the loader says so).

    Raises:
        TypeError: ``weights`` is neither None nor a path.
    """
    if weights is None:
        return default
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be the path of a .weights.h5 file or None; got "
                        f"{weights!r} ({type(weights).__name__}).")
    return os.path.abspath(os.path.expanduser(os.fspath(weights)))


def load_shipped_weights(model, path, *, what, script):
    """``model`` with the weights of ``path``, or a `ValueError` that says how to make them.

    Args:
        model: the untrained network.
        path: a ``.weights.h5`` file saved from the same architecture.
        what: the network's name in messages (``"digits classifier"``).
        script: the script that recreates the shipped file.

    Returns:
        ``model``, its weights loaded.

    Raises:
        ValueError: the file does not exist or does not hold the network's weights.
    """
    if not os.path.isfile(path):
        raise ValueError(
            f"The {what} weights {path!r} were not found. The weights ship with kgen; "
            f"recreate them with `python {script}`."
        )
    try:
        model.load_weights(path)
    except Exception as error:  # noqa: BLE001 (h5py and keras raise many kinds)
        raise ValueError(
            f"Could not load the {what} weights from {path!r}: {error}. The file must be a "
            f".weights.h5 file saved from the same architecture ({script} makes it)."
        ) from None
    return model


# Extractor models already built, keyed by what they are: building InceptionV3 and
# compiling its forward pass is slow, and a cached model is compiled once per shape.
_MODELS = {}


def cached_model(key, path, build):
    """The model for ``key``, built once by ``build()`` (rebuilt when the file ``path`` changes).

    Args:
        key: a hashable description of the model (name, weights path, options).
        path: the weights file the model loads; its modification time and size are
            part of the cache entry.
        build: a function of no argument that builds the model.

    Returns:
        The cached model, built in float32 whatever the Keras global dtype policy (a
        metric does not depend on the precision a model trains in).
    """
    info = os.stat(path)
    stamp = (info.st_mtime_ns, info.st_size)
    entry = _MODELS.get(key)
    if entry is None or entry[0] != stamp:
        with policy_scope("float32"):
            entry = _MODELS[key] = (stamp, build())
    return entry[1]


__all__ = ["OUTPUTS", "FeatureExtractor", "cached_model", "check_output", "extract_features",
           "load_shipped_weights", "weights_path"]
