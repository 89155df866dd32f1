"""Pretrained weights files: found in the Keras cache, or downloaded there once.

The networks that come with published weights (VGG-19 for the perceptual and style
losses, InceptionV3 for FID, KID and the Inception Score) take ``weights=`` with one
meaning everywhere:

- the name of the published weights (``"imagenet"``): the file is looked up in the Keras
  cache (``$KERAS_HOME/models``, by default ``~/.keras/models``) and downloaded there with
  `keras.utils.get_file` when it is missing, its hash checked;
- the path of a local copy of the file;
- None: a random initialisation.

Without network and without a cached copy, `fetch_weights` raises one `RuntimeError`
whose message says which file is missing, where it is published, where to put it by
hand, and the two alternatives (``weights="/path/to/file"``, ``weights=None``).
"""

import dataclasses
import hashlib
import os
import socket

import keras

#: Seconds a download may wait on the network (to connect, or for one read) before it fails.
DOWNLOAD_TIMEOUT = 30.0


class WeightsFileNotFoundError(FileNotFoundError, ValueError):
    """``weights=`` names a local file that does not exist.

    It is a `FileNotFoundError` (the file is missing) and a `ValueError` (the argument
    has the right type but a bad value).
    """


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """A published weights file: what it is, its name in the Keras cache, its URL and hash.

    Args:
        description: what the weights are, for messages (``"the ImageNet weights of
            VGG-19 without its top"``).
        file_name: the file's name, in the Keras cache and at its origin.
        origin: the URL the file is published at.
        file_hash: its md5 (32 hex digits) or sha256 (64) digest, checked after a
            download and on a cached copy.
        used_by: the function that takes ``weights=``, named in messages
            (``"kgen.networks.vgg19_features"``).
        random_weights: what ``weights=None`` gives instead, for messages.
        name: the value of ``weights=`` that asks for this file (``"imagenet"``).
        cache_subdir: the folder of the Keras cache that holds the file.

    Example:

    ```python
    from kgen.pretrained import PretrainedWeights

    weights = PretrainedWeights(
        description="the weights of a tiny network", file_name="tiny.weights.h5",
        origin="https://example.com/tiny.weights.h5",
        file_hash="0cc175b9c0f1b6a831c399e269772661", used_by="tiny_network",
        random_weights="a random initialisation")
    ```
    """

    description: str
    file_name: str
    origin: str
    file_hash: str
    used_by: str
    random_weights: str = "a random initialisation"
    name: str = "imagenet"
    cache_subdir: str = "models"


def keras_cache_dir(cache_dir=None):
    """The root of the Keras cache: ``cache_dir``, else ``$KERAS_HOME``, else ``~/.keras``.

    ``KERAS_HOME`` is read at every call (not once at import). As in
    `keras.utils.get_file`, a root that cannot be written falls back to ``/tmp/.keras``.

    Args:
        cache_dir: a root to use instead of Keras's, or None.

    Returns:
        The absolute path of the cache root (files lie in its sub-folders, such as
        ``models``).

    Example:

    ```python
    from kgen.pretrained import keras_cache_dir

    keras_cache_dir("/tmp/kgen_cache")   # '/tmp/kgen_cache'
    ```
    """
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    root = os.path.abspath(os.path.expanduser(os.fspath(cache_dir)))
    try:
        os.makedirs(root, exist_ok=True)
    except OSError:
        pass
    if not os.access(root, os.W_OK):
        root = os.path.join("/tmp", ".keras")
    return root


def cached_path(weights, cache_dir=None):
    """Where ``weights`` lies in the Keras cache (whether or not it is there yet).

    Args:
        weights: a `PretrainedWeights`.
        cache_dir: the cache root (see `keras_cache_dir`).

    Returns:
        ``<cache root>/<cache_subdir>/<file_name>``.

    Example:

    ```python
    from kgen.networks.vgg import VGG19_WEIGHTS
    from kgen.pretrained import cached_path

    cached_path(VGG19_WEIGHTS, "/tmp/kgen_cache")
    # '/tmp/kgen_cache/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5'
    ```
    """
    return os.path.join(keras_cache_dir(cache_dir), weights.cache_subdir, weights.file_name)


def file_hash(path, algorithm="md5"):
    """The hex digest of a file: ``"md5"`` or ``"sha256"``.

    Example:

    ```python
    from kgen.pretrained import file_hash

    with open("/tmp/kgen_hash_example.txt", "wb") as file:
        file.write(b"a")
    file_hash("/tmp/kgen_hash_example.txt")   # '0cc175b9c0f1b6a831c399e269772661'
    ```
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_published_file(path, weights):
    """Whether the file at ``path`` is the published ``weights`` file (same hash)."""
    algorithm = "sha256" if len(weights.file_hash) == 64 else "md5"
    return file_hash(path, algorithm) == weights.file_hash


def fetch_weights(weights, *, origin=None, cache_dir=None, timeout=DOWNLOAD_TIMEOUT):
    """The local path of a published weights file, downloading it into the Keras cache once.

    The file is looked up in the Keras cache (`cached_path`); when it is missing, or
    its hash differs, it is downloaded with `keras.utils.get_file` from ``origin`` and
    its hash checked. Each network operation may take ``timeout`` seconds (Keras's own
    download waits forever on a silent network). A failed download leaves no file
    behind.

    Args:
        weights: a `PretrainedWeights`.
        origin: the URL to download from (default ``weights.origin``; a mirror).
        cache_dir: the cache root (default: ``$KERAS_HOME`` or ``~/.keras``).
        timeout: seconds before a stalled connection counts as offline.

    Returns:
        The path of the file in the cache.

    Raises:
        RuntimeError: the file is not cached and could not be downloaded (offline, an
            unreachable origin, a corrupt download). The message names the file, where
            it is published, where to put it by hand, and the alternatives
            ``weights="/path/to/file"`` and ``weights=None``.

    Example:

    ```python
    import hashlib, os
    from kgen.pretrained import PretrainedWeights, fetch_weights

    os.makedirs("/tmp/kgen_cache/models", exist_ok=True)
    with open("/tmp/kgen_cache/models/tiny.weights.h5", "wb") as file:
        file.write(b"weights")
    tiny = PretrainedWeights(
        description="the weights of a tiny network", file_name="tiny.weights.h5",
        origin="https://example.com/tiny.weights.h5",
        file_hash=hashlib.md5(b"weights").hexdigest(), used_by="tiny_network")
    fetch_weights(tiny, cache_dir="/tmp/kgen_cache")   # cached: no download
    # '/tmp/kgen_cache/models/tiny.weights.h5'
    ```
    """
    origin = weights.origin if origin is None else origin
    root = keras_cache_dir(cache_dir)
    target = cached_path(weights, root)
    # A cached copy with the right hash is returned without a download, so a copy found
    # here before a failed download had another hash.
    stale = os.path.isfile(target)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        return keras.utils.get_file(
            weights.file_name, origin, file_hash=weights.file_hash,
            cache_subdir=weights.cache_subdir, cache_dir=root,
        )
    except Exception as error:  # noqa: BLE001 (urllib, keras and the disk raise many kinds)
        raise RuntimeError(unavailable_message(weights, origin, target, error, stale)) \
            from None
    finally:
        socket.setdefaulttimeout(previous)


def unavailable_message(weights, tried, target, reason, stale=False):
    """The message of a weights file that is neither cached nor downloadable."""
    name = weights.file_name
    subdir = weights.cache_subdir
    found = (f" The file found at {target} had another hash than {weights.file_hash} "
             "(an incomplete or other file) and was removed." if stale else "")
    return (
        f"Could not get {weights.description} ({name}): the file is not in the Keras "
        f"cache and downloading it from {tried} failed ({reason}).{found} To use these "
        f"weights without network, download {weights.origin} on a machine with network access, "
        f"then either put it at {target} (the Keras cache: $KERAS_HOME/{subdir}/{name}, "
        f"by default ~/.keras/{subdir}/{name}) or pass its path: "
        f"{weights.used_by}(..., weights=\"/path/to/{name}\"). weights=None gives "
        f"{weights.random_weights}."
    )


def weights_path(weights, published, *, origin=None, cache_dir=None,
                 timeout=DOWNLOAD_TIMEOUT):
    """Resolves a ``weights=`` argument: the published name, a local path, or None.

    Args:
        weights: ``published.name`` (``"imagenet"``: `fetch_weights`), the path of a
            weights file (a string or `os.PathLike`), or None.
        published: the `PretrainedWeights` that ``published.name`` stands for.
        origin: passed to `fetch_weights`.
        cache_dir: passed to `fetch_weights`.
        timeout: passed to `fetch_weights`.

    Returns:
        The path of the file to load, or None for a random initialisation.

    Raises:
        TypeError: ``weights`` is not a string, a path or None.
        WeightsFileNotFoundError: a path to a file that does not exist.
        RuntimeError: the published file could not be downloaded (see `fetch_weights`).

    Example:

    ```python
    from kgen.networks.vgg import VGG19_WEIGHTS
    from kgen.pretrained import weights_path

    weights_path(None, VGG19_WEIGHTS)   # None: a random initialisation
    ```
    """
    if weights is None:
        return None
    if isinstance(weights, str) and weights == published.name:
        return fetch_weights(published, origin=origin, cache_dir=cache_dir, timeout=timeout)
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            f"weights must be {published.name!r}, the path of a weights file, or None; got "
            f"{weights!r} ({type(weights).__name__})."
        )
    path = os.path.expanduser(os.fspath(weights))
    if not os.path.isfile(path):
        raise WeightsFileNotFoundError(
            f"Weights file {path!r} does not exist. Pass the path of {published.file_name} "
            f"({published.description}), weights={published.name!r} or weights=None."
        )
    return path


__all__ = [
    "DOWNLOAD_TIMEOUT",
    "PretrainedWeights",
    "WeightsFileNotFoundError",
    "cached_path",
    "fetch_weights",
    "file_hash",
    "is_published_file",
    "keras_cache_dir",
    "unavailable_message",
    "weights_path",
]
