"""Data sets that need no download, and the TensorFlow Datasets loader.

Offline data sets:

- ``"digits"``: the 1,797 handwritten digits (8x8, grayscale) shipped inside
  scikit-learn.
- ``"ring"``: a mixture of 8 Gaussians on the unit circle (the 2D-ring of
  VEEGAN and PacGAN).
- ``"grid"``: a mixture of 25 Gaussians on a 5x5 grid (the 2D-grid of
  VEEGAN and PacGAN).
- ``"captioned_digits"``: 32x32 RGB scenes of coloured digits with five captions
  each (`kgen.data.captioned`).

Any other TensorFlow Datasets data set loads as ``"tfds:<name>"`` once it has
been prepared.
"""

import os

import numpy as np

#: Offline data set names accepted by `load`.
BUNDLED = ("digits", "ring", "grid")

#: Values accepted for ``split``.
SPLITS = ("all", "train", "test")

#: Offline data sets of captioned images (`kgen.data.captioned`), accepted by `load`.
CAPTIONED = ("captioned_digits",)

_TFDS_PREFIX = "tfds:"


def mixture_modes(name):
    """Return the means and standard deviation of a 2-D Gaussian mixture.

    The loader `load` draws ``"ring"`` and ``"grid"`` samples from these
    modes, so a mode-coverage metric can use the same definition.

    Args:
        name: ``"ring"`` (8 modes at angles ``2*pi*k/8`` on the unit circle,
            std 0.01) or ``"grid"`` (25 modes at ``(-4 + 2i, -4 + 2j)`` for
            ``i, j`` in ``0..4``, std 0.05).

    Returns:
        ``(means, std)``: a float32 array of shape ``(K, 2)`` and a float.

    Example:

    ```python
    import kgen

    means, std = kgen.data.mixture_modes("ring")
    means.shape, std  # ((8, 2), 0.01)
    ```

    References:
        Srivastava et al., "VEEGAN: Reducing Mode Collapse in GANs using
        Implicit Variational Learning", NeurIPS 2017.
        Lin et al., "PacGAN: The power of two samples in generative
        adversarial networks", NeurIPS 2018.
    """
    if name == "ring":
        angles = 2.0 * np.pi * np.arange(8) / 8
        means = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        return means.astype(np.float32), 0.01
    if name == "grid":
        coords = np.arange(5) * 2.0 - 4.0
        means = np.array([(x, y) for x in coords for y in coords])
        return means.astype(np.float32), 0.05
    raise ValueError(
        f"Unknown mixture {name!r}. The 2-D Gaussian mixtures are 'ring' and 'grid'."
    )


def load(name, *, split="all", return_labels=False, num_samples=None, seed=0,
         return_captions=False, return_attributes=False):
    """Load a data set as numpy arrays.

    Args:
        name: ``"digits"``, ``"ring"``, ``"grid"``, ``"captioned_digits"`` (32x32 RGB
            scenes with captions, see `kgen.data.captioned`), or ``"tfds:<name>"``
            for a prepared TensorFlow Datasets data set (``"tfds:mnist"``).
        split: ``"all"``, ``"train"`` or ``"test"``, and ``"heldout"`` for
            ``"captioned_digits"``. For ``"digits"``, a fixed
            stratified 80/20 split (1,437 / 360 images) whose two parts are
            disjoint and together make ``"all"``. ``"captioned_digits"`` draws its
            train and test scenes from those digit images, and its ``"heldout"``
            scenes (the digit/colour pairs of `kgen.data.captioned.HELD_OUT`, which
            no other split shows) from the test digits; its ``"all"`` is train and
            test. For ``"ring"`` and
            ``"grid"``, ``"all"`` and ``"train"`` draw from
            ``numpy.random.default_rng(seed)`` and ``"test"`` draws an
            independent sample. For ``"tfds:"`` names, the TensorFlow Datasets
            split (``"all"`` means ``"train"``; other split names such as
            ``"trainA"`` or ``"train[:10%]"`` pass through).
        return_labels: also return int32 labels (the digit; for the mixtures,
            the index of the mode each point was drawn from).
        num_samples: number of points drawn for ``"ring"`` and ``"grid"`` (None:
            10,000), or of scenes of ``"captioned_digits"`` (None: four per digit
            image of the split: 5,748 train, 1,440 test or held-out scenes; 80%
            train and 20% test for ``"all"``); ignored by the other data sets.
        seed: seed for ``"ring"``, ``"grid"`` and ``"captioned_digits"``; ignored
            by the other data sets.
        return_captions: also return the captions of ``"captioned_digits"``: a
            string array ``(N, 5)``, one column per caption template.
        return_attributes: also return the attributes of ``"captioned_digits"``: a
            dict of int32 arrays ``(N,)`` indexing the values of
            `kgen.data.captioned.ATTRIBUTES`.

    Returns:
        Images as uint8 ``(N, H, W, C)``, or points as float32
        ``(num_samples, 2)``; with any ``return_*``, a tuple of the data and, in
        this order, the labels, the captions and the attributes asked for.

    Raises:
        ValueError: unknown name or split, a bad ``num_samples``, or captions or
            attributes asked of a data set that has none.
        RuntimeError: a ``"tfds:"`` data set that is not installed or prepared.

    Example:

    ```python
    import kgen

    x = kgen.data.load("digits")                 # (1797, 8, 8, 1) uint8
    x, y = kgen.data.load("digits", split="train", return_labels=True)
    points = kgen.data.load("ring", num_samples=2000, seed=1)   # (2000, 2) float32
    scenes, captions = kgen.data.load("captioned_digits", split="heldout", num_samples=4,
                                      return_captions=True)       # (4, 32, 32, 3), (4, 5)
    ```
    """
    if not isinstance(name, str):
        raise ValueError(
            f"Data set name must be a string, got {type(name).__name__}. "
            f"Available: {_available()}."
        )
    if name in CAPTIONED:
        from kgen.data import captioned

        scenes = captioned.load_scenes(split=split, num_samples=num_samples, seed=seed)
        wanted = [(return_labels, scenes["attributes"]["digit"]),
                  (return_captions, scenes["captions"]),
                  (return_attributes, scenes["attributes"])]
        extra = [value for asked, value in wanted if asked]
        return (scenes["images"], *extra) if extra else scenes["images"]
    if return_captions or return_attributes:
        raise ValueError(f"Data set {name!r} has no captions or attributes; the captioned "
                         f"data sets are {', '.join(repr(n) for n in CAPTIONED)}.")
    if num_samples is None:
        num_samples = 10000
    if name.startswith(_TFDS_PREFIX):
        return _load_tfds(name[len(_TFDS_PREFIX):], split, return_labels)
    if split not in SPLITS:
        raise ValueError(
            f"Unknown split {split!r} for data set {name!r}; use one of {', '.join(SPLITS)}."
        )
    if name == "digits":
        images, labels = _load_digits(split)
    elif name in ("ring", "grid"):
        images, labels = _sample_mixture(name, split, num_samples, seed)
    else:
        raise ValueError(f"Unknown data set {name!r}. Available: {_available()}.")
    return (images, labels) if return_labels else images


def _available():
    return ", ".join(repr(n) for n in BUNDLED + CAPTIONED) + \
        ", or 'tfds:<name>' (TensorFlow Datasets)"


def _load_digits(split):
    """Digits as uint8 (N, 8, 8, 1) scaled 0..16 -> 0..255, and int32 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int32)
    if split != "all":
        index = np.arange(len(labels))
        train, test = train_test_split(
            index, test_size=0.2, random_state=0, stratify=labels
        )
        keep = np.sort(train if split == "train" else test)
        images, labels = images[keep], labels[keep]
    return images, labels


def _sample_mixture(name, split, num_samples, seed):
    """Equal-weight Gaussian mixture samples (float32) and their mode indices."""
    if (
        isinstance(num_samples, bool)
        or not isinstance(num_samples, (int, np.integer))
        or num_samples < 1
    ):
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}.")
    means, std = mixture_modes(name)
    # "test" uses a different seed sequence, so it never repeats "train" points.
    rng = np.random.default_rng([seed, 1] if split == "test" else seed)
    labels = rng.integers(0, len(means), size=num_samples)
    points = means[labels] + std * rng.standard_normal((num_samples, 2))
    return points.astype(np.float32), labels.astype(np.int32)


def _tfds_help(name):
    return (
        f"To prepare it: `pip install tensorflow-datasets`, then on a machine with "
        f"network run `import tensorflow_datasets as tfds; tfds.load({name!r})` once; "
        f"or copy the prepared data into ~/tensorflow_datasets (or a folder named "
        f"by the TFDS_DATA_DIR environment variable)."
    )


def _tfds_label_names(name):
    """The class names of a TensorFlow Datasets set's ``label`` feature, or None."""
    try:
        import tensorflow_datasets as tfds

        builder = tfds.builder(name, data_dir=os.environ.get("TFDS_DATA_DIR"))
        names = builder.info.features["label"].names
    except Exception:  # noqa: BLE001 (no package, no label feature, no names: no names)
        return None
    return tuple(str(n) for n in names) if names else None


def _tfds_examples(name, split, batch_size=-1):
    """``(examples, info)`` of a prepared TensorFlow Datasets set, or a clear RuntimeError.

    ``examples`` is ``tfds.as_numpy`` of the split: one dict of arrays with
    ``batch_size=-1``, else an iterable of examples. Nothing is downloaded.
    """
    if not name:
        raise ValueError("Empty TensorFlow Datasets name: use 'tfds:<name>', e.g. 'tfds:mnist'.")
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise RuntimeError(
            f"Data set 'tfds:{name}' needs the tensorflow-datasets package, "
            f"which is not installed ({error}). {_tfds_help(name)}"
        ) from None
    tfds_split = "train" if split == "all" else split
    try:
        dataset, info = tfds.load(name, split=tfds_split, batch_size=batch_size,
                                  download=False, data_dir=os.environ.get("TFDS_DATA_DIR"),
                                  with_info=True)
        return tfds.as_numpy(dataset), info
    except Exception as error:  # no network, unknown name or split, corrupt files, ...
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        message = message.rstrip(".")
        raise RuntimeError(
            f"Could not load TensorFlow Datasets data set {name!r} (split "
            f"{tfds_split!r}): {message}. {_tfds_help(name)}"
        ) from None


def _load_tfds(name, split, return_labels):
    """Images (and labels) of a TensorFlow Datasets data set, or a clear RuntimeError."""
    data, _ = _tfds_examples(name, split)
    if "image" not in data:
        raise ValueError(
            f"TensorFlow Datasets data set {name!r} has no 'image' feature "
            f"(features: {', '.join(sorted(data))}); kgen.data.load needs an image data set."
        )
    images = np.asarray(data["image"])
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8:
        raise ValueError(
            f"TensorFlow Datasets data set {name!r} has {images.dtype} images; "
            "kgen.data.load returns uint8 images only."
        )
    if not return_labels:
        return images
    if "label" not in data:
        raise ValueError(
            f"TensorFlow Datasets data set {name!r} has no 'label' feature "
            f"(features: {', '.join(sorted(data))}); call load() with return_labels=False."
        )
    return images, np.asarray(data["label"]).astype(np.int32)

