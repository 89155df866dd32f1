"""Feature extractors for sample-quality metrics: images in data space -> ``(N, D)`` features.

A feature extractor is a callable that takes a batch of images in kgen's data
space (float ``[-1, 1]``, shape ``(N, H, W, C)``) and returns a float32 numpy
array of features of shape ``(N, D)``. The metrics (`FrechetInceptionDistance`,
`KernelInceptionDistance`, `InceptionScore`, `PrecisionRecall`) take one by
name or as an object, resolved by `get_extractor`:

- ``"inception_v3"`` (`inception_v3`): the 2048-D pool features (or the 1000
  ImageNet logits) of ``keras.applications.InceptionV3``, the network of FID,
  KID and the Inception Score. Its ImageNet weights are downloaded once.
- ``"digits"`` (`digits_classifier`): the 64-D penultimate features (or the 10
  logits) of a small CNN trained on the bundled 8x8 digits, shipped with kgen:
  offline and fast, for the digits models.
- any `keras.Model` (its output is the feature vector) or any callable.

Extraction runs in batches of ``batch_size`` (``model.predict`` for a Keras
model, so the network is compiled once per input shape).
"""

import hashlib
import os
import shutil
import urllib.request

import keras
import numpy as np
from keras import ops

from kgen.data.pipeline import to_data_space

#: Values of ``output`` accepted by the built-in extractors.
OUTPUTS = ("features", "logits")

#: Input size of InceptionV3: images are resized to it.
INCEPTION_SIZE = (299, 299)

#: The shipped weights of the digits classifier (see `digits_classifier`).
DIGITS_CLASSIFIER_WEIGHTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "digits_classifier.weights.h5"
)

# keras.applications' InceptionV3 ImageNet weights: file name and md5 for each output.
_INCEPTION_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
_INCEPTION_FILES = {
    "features": (
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "bcbd6486424b2319ff4ef7d526e38f63",
    ),
    "logits": (
        "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        "9a0d58056eeedaa3f26cb7ebd46da564",
    ),
}
# Seconds a download may wait on the network (connect, or one read) before it fails.
_DOWNLOAD_TIMEOUT = 30


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
            `kgen.data.to_data_space` (uint8 ``0..255`` is accepted and scaled; floats
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
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.model = model
        self.name = name or getattr(model, "name", None) or getattr(model, "__name__", None) \
            or type(model).__name__
        self.batch_size = int(batch_size)
        self.images = bool(images)
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self.channels = None if channels is None else tuple(channels)
        if num_features is None:
            num_features = _output_dim(model)
        self.num_features = None if num_features is None else int(num_features)
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
        out = np.asarray(out)
        if out.ndim != 2 or out.shape[0] != len(x):
            raise ValueError(
                f"Feature extractor {self.name!r} returned an array of shape {out.shape} for "
                f"{len(x)} inputs; a feature extractor must return (batch, D) features. End "
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
            x = to_data_space(x)
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
    """
    try:
        return extractor(x)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{what}: {error}") from None


class FeatureStore:
    """The features of every batch seen by a metric that needs the features themselves.

    Metrics such as KID and precision/recall cannot be computed from running
    statistics; they keep the features (not the images) in this store, one list of
    ``(n, D)`` float32 arrays per side.

    Args:
        sides: the names of the sides (``("real", "generated")``).
    """

    def __init__(self, sides):
        self.sides = tuple(sides)
        self.clear()

    def clear(self):
        """Forgets all features."""
        self.parts = {side: [] for side in self.sides}

    def add(self, metric, **batches):
        """Extracts the features of each non-None batch with ``metric.extractor`` and keeps them.

        All batches are checked (one feature size for everything kept) before any is stored.
        """
        batches = {side: x for side, x in batches.items() if x is not None}
        if not batches:
            raise ValueError(
                f"update_state got no {' or '.join(self.sides)} images; pass at least one batch."
            )
        new = {
            side: extract_features(metric.extractor, x, what=f"{side} images")
            for side, x in batches.items()
        }
        dims = {f.shape[1] for parts in self.parts.values() for f in parts}
        dims |= {f.shape[1] for f in new.values()}
        if len(dims) > 1:
            raise ValueError(
                f"Features of different sizes {sorted(dims)}: every batch (real and generated) "
                "must go through the same extractor to features of one size."
            )
        for side, features in new.items():
            self.parts[side].append(features)

    def count(self, side):
        """Number of feature vectors kept for ``side``."""
        return sum(len(f) for f in self.parts[side])

    def get(self, side, metric):
        """All features of ``side`` as one ``(N, D)`` array; a clear error when there are none."""
        if side not in self.parts:
            raise ValueError(f"side must be one of {self.sides}, got {side!r}.")
        if not self.parts[side]:
            raise ValueError(
                f"{type(metric).__name__} has no {side} images yet; call update_state with "
                f"{side} images first."
            )
        return np.concatenate(self.parts[side], axis=0)



class FeatureSetMetric(keras.metrics.Metric):
    """Base of the two-sample metrics that keep the features of both sets (KID, precision/recall).

    Handles the extractor and the `FeatureStore`: ``update_state(real, generated)`` adds
    the features of either batch, ``features(side)`` returns all of one side, and
    ``reset_state()`` forgets them. Subclasses compute ``result()`` from the features.

    Args:
        extractor: feature extractor spec (see `get_extractor`).
        name: metric name.
        dtype: dtype of the result.
    """

    def __init__(self, extractor, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._extractor_spec = extractor if isinstance(extractor, str) else None
        self.extractor = get_extractor(extractor)
        self._store = FeatureStore(("real", "generated"))

    def update_state(self, real=None, generated=None):
        """Adds the features of a batch of real and/or generated images (either may be None)."""
        self._store.add(self, real=real, generated=generated)

    def features(self, side):
        """All ``"real"`` or ``"generated"`` features kept so far, ``(N, D)`` float32."""
        return self._store.get(side, self)

    def reset_state(self):
        self._store.clear()

def _check_output(output):
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}.")


# --------------------------------------------------------------------- InceptionV3
@keras.saving.register_keras_serializable(package="kgen")
class InceptionInput(keras.Model):
    """Resizes images to InceptionV3's input and runs the network.

    Grayscale images are repeated to 3 channels; images of another size are resized to
    ``size`` with ``keras.ops.image.resize`` (bilinear, half-pixel centres,
    antialiased when ``antialias`` and shrinking). Values stay in ``[-1, 1]``, the
    input range of keras.applications' InceptionV3.

    Args:
        network: the InceptionV3 `keras.Model` (input ``size + (3,)``).
        size: ``(height, width)`` the network takes.
        antialias: antialias filter when downsampling (no effect when upsampling).
    """

    def __init__(self, network, size=INCEPTION_SIZE, antialias=True, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.size = tuple(size)
        self.antialias = bool(antialias)
        # No weights of its own: built once the network is, so predict() compiles the
        # forward pass directly instead of first building the model by running it.
        self.built = network.built

    def call(self, images):
        if images.shape[-1] == 1:
            images = ops.repeat(images, 3, axis=-1)
        if tuple(images.shape[1:3]) != self.size:
            images = ops.image.resize(
                images, self.size, interpolation="bilinear", antialias=self.antialias
            )
        return self.network(images, training=False)

    def get_config(self):
        return {
            "name": self.name,
            "network": keras.saving.serialize_keras_object(self.network),
            "size": self.size,
            "antialias": self.antialias,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


def inception_v3(weights="imagenet", *, output="features", antialias=True, batch_size=32):
    """InceptionV3 features (FID, KID, precision/recall) or logits (Inception Score).

    The network is ``keras.applications.InceptionV3``: ``output="features"`` gives the
    2048-D average-pooled features of its last block (``include_top=False,
    pooling="avg"``), ``output="logits"`` the 1000 ImageNet logits of its top layer
    (before the softmax).

    Preprocessing, applied inside the compiled model: grayscale images are repeated
    to 3 channels; images are resized to 299x299 with ``keras.ops.image.resize``,
    bilinear with half-pixel centres (the convention of TF2's ``tf.image.resize``,
    ``jax.image.resize`` and ``torch.nn.functional.interpolate(align_corners=False)``;
    measured to agree within 2e-6 across the three backends), with an antialiasing
    filter when shrinking large images (``antialias=True``, as recommended by Parmar
    et al. 2022; upsampling small images is unaffected). Values stay in ``[-1, 1]``:
    kgen's data space is InceptionV3's input range, so there is no other scaling.

    Comparability: scores computed with this extractor are comparable with each other
    (same protocol, stored with cached statistics), *not* with published FID/IS
    numbers. The reference implementation (TTUR's ``fid.py``, Heusel et al.) feeds
    uint8-range images to the 2015 TF-Inception graph (``pool_3`` features, 1008
    classes): other weights than keras.applications' ImageNet weights, and a resize
    done inside that graph by TF1's ``ResizeBilinear`` (``align_corners=False``
    without half-pixel centres: a sampling grid shifted by half an input pixel, no
    antialiasing). ``pytorch-fid`` ports those weights but resizes with PyTorch's
    bilinear ``interpolate``, so it differs from both.

    Args:
        weights: ``"imagenet"`` (looked up in the Keras cache, ``$KERAS_HOME/models`` or
            ``~/.keras/models``, and downloaded there once when missing), a path to the
            weights file, or None for a random initialisation (to test a pipeline).
        output: ``"features"`` (2048-D) or ``"logits"`` (1000 ImageNet classes).
        antialias: antialias when resizing images larger than 299x299.
        batch_size: images per forward pass.

    Returns:
        A `FeatureExtractor` named ``"inception_v3"``.

    Raises:
        RuntimeError: ``weights="imagenet"``, the file is not in the Keras cache, and it
            cannot be downloaded (no network). The message says how to provide it.
        ValueError: ``weights`` names a file that does not exist or does not hold the
            InceptionV3 weights.

    Example:

    ```python
    import numpy as np
    from kgen.metrics import inception_v3

    extractor = inception_v3(weights=None)               # random init: a quick check
    extractor(np.zeros((2, 8, 8, 1), "float32")).shape   # (2, 2048)
    ```

    References:
        Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
        CVPR 2016.
        Parmar, Zhang & Zhu, "On Aliased Resizing and Surprising Subtleties in GAN
        Evaluation", CVPR 2022.
    """
    _check_output(output)
    path = _inception_weights_path(weights, output)

    def build():
        return _build_inception(path, output, antialias)

    if path is None:
        model = build()  # a new random initialisation every time
    else:
        model = _cached(("inception_v3", os.path.abspath(path), output, bool(antialias)), path, build)
    if path is None:
        weights_name = "random"
    elif weights == "imagenet" or _md5(path) == _INCEPTION_FILES[output][1]:
        weights_name = "imagenet"  # the same file, from the cache or a path
    else:
        weights_name = os.path.basename(path)
    top = output == "logits"
    return FeatureExtractor(
        model,
        name="inception_v3",
        batch_size=batch_size,
        images=True,
        channels=(1, 3),
        num_features=1000 if top else 2048,
        protocol={
            "output": output,
            "weights": weights_name,
            "resize": (
                f"keras.ops.image.resize bilinear to {INCEPTION_SIZE[0]}x{INCEPTION_SIZE[1]},"
                f" antialias={bool(antialias)}; grayscale repeated to RGB"
            ),
        },
    )


# Extractor models already built, keyed by what they are: building InceptionV3 and
# compiling its forward pass is slow, and a cached model is compiled once per shape.
_MODELS = {}


def _cached(key, path, build):
    """The model for ``key``, built once (rebuilt when the weights file ``path`` changes)."""
    info = os.stat(path)
    stamp = (info.st_mtime_ns, info.st_size)
    entry = _MODELS.get(key)
    if entry is None or entry[0] != stamp:
        entry = _MODELS[key] = (stamp, build())
    return entry[1]


def _build_inception(path, output, antialias):
    top = output == "logits"
    network = keras.applications.InceptionV3(
        include_top=top,
        weights=None,
        input_shape=INCEPTION_SIZE + (3,),
        pooling=None if top else "avg",
        classes=1000,
        classifier_activation=None,
    )
    if path is not None:
        try:
            network.load_weights(path)
        except Exception as error:  # wrong file: h5py, shape or layer-count errors
            raise ValueError(
                f"Could not load InceptionV3 weights ({'with' if top else 'without'} the "
                f"top layer, output={output!r}) from {path!r}: {error}. Use keras."
                f"applications' file {_INCEPTION_FILES[output][0]!r}."
            ) from None
    return InceptionInput(network, INCEPTION_SIZE, antialias, name=f"inception_v3_{output}")


def _keras_cache_dir():
    """The directory Keras downloads models to: $KERAS_HOME/models or ~/.keras/models.

    Like ``keras.utils.get_file``, it falls back to /tmp/.keras when the home is not
    writable.
    """
    home = os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))
    probe = home
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.access(probe, os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return os.path.join(home, "models")


def _inception_weights_path(weights, output):
    """The local path of the weights to load, or None for a random initialisation."""
    if weights is None:
        return None
    if weights != "imagenet":
        path = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
        if not isinstance(path, str):
            raise ValueError(
                f"weights must be 'imagenet', a path to a weights file, or None; got "
                f"{type(weights).__name__}."
            )
        if not os.path.isfile(os.path.expanduser(path)):
            raise ValueError(
                f"InceptionV3 weights file {path!r} does not exist. Pass weights='imagenet', "
                f"the path of {_INCEPTION_FILES[output][0]!r}, or None."
            )
        return os.path.expanduser(path)
    fname, md5 = _INCEPTION_FILES[output]
    cache = _keras_cache_dir()
    target = os.path.join(cache, fname)
    if os.path.isfile(target) and _md5(target) == md5:
        return target
    try:
        os.makedirs(cache, exist_ok=True)
        _download(_INCEPTION_URL + fname, target, md5)
    except Exception as error:  # no network, DNS, timeout, HTTP error, disk, bad hash
        raise RuntimeError(
            f"Could not download the InceptionV3 ImageNet weights ({fname}) from "
            f"{_INCEPTION_URL + fname} into {cache}: {error}. To use them without "
            f"network: download the file {fname} on a machine with network and pass "
            f"weights='/path/to/{fname}', or put it in {cache} (the Keras cache, "
            f"$KERAS_HOME/models or ~/.keras/models). weights=None gives a random "
            "initialisation (only to test a pipeline)."
        ) from None
    return target


def _download(url, target, md5):
    """Downloads ``url`` to ``target`` once (no retries), checking its md5."""
    partial = target + ".part"
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as response, \
                open(partial, "wb") as file:
            shutil.copyfileobj(response, file, 1 << 20)
        got = _md5(partial)
        if got != md5:
            raise ValueError(f"the downloaded file has md5 {got}, expected {md5}")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------- digits classifier
def build_digits_classifier(name="digits_classifier"):
    """The architecture of the digits classifier (untrained): 8x8x1 images -> 10 logits.

    Three 3x3 ReLU convolutions (32, 32, 64 filters; 2x2 max pooling after the second
    and third), a 64-unit ReLU dense layer named ``"features"`` (the features of
    `digits_classifier`), dropout 0.3 and a 10-unit dense layer named ``"logits"``.
    Inputs are images in data space ``[-1, 1]``.

    Args:
        name: the model's name.

    Returns:
        A functional `keras.Model` from ``(8, 8, 1)`` to ``(10,)`` logits.

    Example:

    ```python
    from kgen.metrics.features import build_digits_classifier

    model = build_digits_classifier()
    model.output_shape  # (None, 10)
    ```
    """
    layers = keras.layers
    inputs = keras.Input((8, 8, 1), name="images")
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    features = layers.Dense(64, activation="relu", name="features")(x)
    x = layers.Dropout(0.3, name="dropout")(features)
    logits = layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def load_digits_classifier(weights=None):
    """The digits classifier with trained weights (the shipped ones by default).

    Args:
        weights: path of a ``.weights.h5`` file for `build_digits_classifier`'s
            architecture; None for the weights shipped with kgen
            (`DIGITS_CLASSIFIER_WEIGHTS`, made by ``scripts/train_digits_classifier.py``).

    Returns:
        The classifier, a `keras.Model` from ``(8, 8, 1)`` images in ``[-1, 1]`` to 10
        logits.

    Example:

    ```python
    import numpy as np
    import kgen
    from kgen.metrics.features import load_digits_classifier

    x, y = kgen.data.load("digits", split="test", return_labels=True)
    logits = load_digits_classifier().predict(kgen.data.to_data_space(x), verbose=0)
    accuracy = np.mean(logits.argmax(-1) == y)   # about 0.99
    ```
    """
    path = DIGITS_CLASSIFIER_WEIGHTS if weights is None else os.fspath(weights)
    if not os.path.isfile(path):
        raise ValueError(
            f"Digits classifier weights {path!r} not found. The weights ship with kgen "
            "(kgen/metrics/digits_classifier.weights.h5); recreate them with "
            "`python scripts/train_digits_classifier.py`."
        )
    model = build_digits_classifier()
    try:
        model.load_weights(path)
    except Exception as error:
        raise ValueError(
            f"Could not load the digits classifier weights from {path!r}: {error}. The file "
            "must be a .weights.h5 file saved from build_digits_classifier()."
        ) from None
    return model


def digits_classifier(output="features", *, weights=None, batch_size=256):
    """The digits classifier as a feature extractor: 64-D features or 10 logits.

    A small CNN (`build_digits_classifier`) trained on the bundled 8x8 digits
    (``kgen.data.load("digits", split="train")``) by
    ``scripts/train_digits_classifier.py``; its weights ship with kgen (about 200 kB)
    and it classifies the held-out test split with about 99% accuracy. It is the
    offline, fast stand-in for InceptionV3 when evaluating models of the digits:
    ``"features"`` (the 64 ReLU units before the classification layer) for FID, KID
    and precision/recall, ``"logits"`` for the Inception Score.

    Args:
        output: ``"features"`` (64-D) or ``"logits"`` (10 classes).
        weights: None for the shipped weights, or a path to other weights.
        batch_size: images per forward pass.

    Returns:
        A `FeatureExtractor` named ``"digits_classifier"``, taking ``(N, 8, 8, 1)``
        images in data space.

    Example:

    ```python
    import kgen
    from kgen.metrics import digits_classifier

    extractor = digits_classifier()
    x = kgen.data.to_data_space(kgen.data.load("digits", split="test"))
    extractor(x).shape   # (360, 64)
    ```

    References:
        The metrics it serves, with InceptionV3 replaced by this classifier: Heusel et
        al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium", NeurIPS 2017 (FID); Salimans et al., "Improved Techniques for
        Training GANs", NeurIPS 2016 (Inception Score).
    """
    _check_output(output)
    path = os.path.abspath(DIGITS_CLASSIFIER_WEIGHTS if weights is None else os.fspath(weights))

    def build():
        classifier = load_digits_classifier(path)
        if output == "logits":
            return classifier
        return keras.Model(
            classifier.inputs, classifier.get_layer("features").output, name="digits_features"
        )

    model = _cached(("digits_classifier", path, output), path, build)
    return FeatureExtractor(
        model,
        name="digits_classifier",
        batch_size=batch_size,
        images=True,
        image_shape=(8, 8, 1),
        num_features=64 if output == "features" else 10,
        protocol={
            "output": output,
            "weights": "kgen" if weights is None else os.path.basename(os.fspath(weights)),
            "resize": "none (8x8x1 digits)",
        },
    )


# -------------------------------------------------------------------- resolving
_NAMED = {
    "inception_v3": inception_v3,
    "inception": inception_v3,
    "digits": digits_classifier,
    "digits_classifier": digits_classifier,
}


def get_extractor(spec, *, output="features"):
    """Resolves a feature extractor specification.

    Args:
        spec: ``"inception_v3"`` (`inception_v3` with ImageNet weights), ``"digits"``
            (`digits_classifier`), a `FeatureExtractor` (returned as is), a
            `keras.Model` (its output is the feature vector; run with ``predict``), or a
            callable ``batch -> (batch, D)`` (numpy array or tensor).
        output: for the named extractors, ``"features"`` or ``"logits"``.

    Returns:
        A `FeatureExtractor`. A model or callable passed by the user gets its inputs
        as float32 arrays, unchecked (they need not be images).

    Raises:
        ValueError: an unknown name. TypeError: an object that is not callable.

    Example:

    ```python
    from kgen.metrics import get_extractor

    extractor = get_extractor("digits")
    identity = get_extractor(lambda x: x)
    ```
    """
    if isinstance(spec, FeatureExtractor):
        return spec
    if isinstance(spec, str):
        key = spec.lower()
        if key not in _NAMED:
            raise ValueError(
                f"Unknown feature extractor {spec!r}. Use 'inception_v3', 'digits', a "
                "keras.Model or a callable batch -> (batch, D)."
            )
        return _NAMED[key](output=output)
    if callable(spec):
        return FeatureExtractor(spec)
    raise TypeError(
        f"A feature extractor must be 'inception_v3', 'digits', a keras.Model or a callable "
        f"batch -> (batch, D); got {type(spec).__name__}."
    )
