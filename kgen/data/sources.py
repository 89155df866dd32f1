"""One syntax for training data: `open_source` reads a spec and returns a `DataSource`.

A spec names bundled data (``"digits"``, ``"ring"``, ``"digits-edges"``, ``"astronaut"``,
...), a prepared TensorFlow Datasets set (``"tfds:mnist"``, ``"tfds:mnist:test"``) or a
folder of images (``"folder:photos"``, or just an existing path). The same spec works on
the command line (``kgen train gan --data folder:photos``) and in Python.
"""

import os

import numpy as np

from kgen import checks
from kgen.data import folders
from kgen.data.bundled import (
    _TFDS_PREFIX,
    BUNDLED,
    CAPTIONED,
    SPLITS,
    _load_tfds,
    _tfds_label_names,
    load,
)
from kgen.data.epochs import EpochOrder, finish, plain
from kgen.data.images_bundled import BUNDLED_IMAGES, load_image
from kgen.data.pipeline import ArrayReader, _import_tensorflow, random_seed
from kgen.data.translation import PAIRED, UNPAIRED, _resize, load_paired, load_unpaired

#: What a data source holds: the values of ``kind`` in `open_source`.
KINDS = ("samples", "paired", "unpaired", "image", "content_style", "captioned")

#: The prefix of folder specs (``"folder:PATH"``).
FOLDER_PREFIX = "folder:"

_POINTS = ("ring", "grid")
_SINGLE_IMAGE_KINDS = ("image", "content_style")
_BUNDLED_BY_KIND = {
    "samples": BUNDLED + CAPTIONED,   # the scenes without their captions
    "paired": PAIRED,
    "unpaired": UNPAIRED,
    "image": BUNDLED_IMAGES,
    "content_style": BUNDLED_IMAGES,
    "captioned": CAPTIONED,
}
_KIND_HINTS = {
    "samples": "kind='samples' (unconditional and class-conditional families)",
    "paired": "kind='paired' (pix2pix)",
    "unpaired": "kind='unpaired' (CycleGAN)",
    "image": "kind='image' (one picture; 'CONTENT,STYLE' for kind='content_style')",
    "captioned": "kind='captioned' (images with captions: CLIP)",
}


class DataSource:
    """Training data opened by `open_source`: its shapes, its batches, its arrays.

    Attributes:
        spec: the spec it was opened from.
        kind: ``"samples"``, ``"paired"``, ``"unpaired"``, ``"image"``,
            ``"content_style"`` or ``"captioned"``.
        shape: one sample after resizing, ``(H, W, C)``, or ``(2,)`` for points; for
            paired and unpaired data, an image of domain A.
        target_shape: an image of domain B (paired and unpaired data), else None.
        num_classes: the number of classes (with labels), else None.
        class_names: the class names (with labels), else None.
        num_examples: the examples an epoch is made of: samples, pairs, or for unpaired
            data the larger domain's images.
        domain_sizes: the number of examples of each domain (one entry except for
            unpaired data).
        description: one line that says what the data is.
        skipped: ``[(path, reason)]`` of the image files that could not be decoded.
        images: for ``"image"`` and ``"content_style"``: uint8 images ``(n, H, W, C)``
            (the picture; or the content and the style image); else None.
        captions: for ``"captioned"``: the captions of every example, a string array
            ``(num_examples, T)`` (``""`` for a missing caption; ``T`` the most captions
            of an image), or int32 token ids ``(num_examples, T, L)`` for a source made
            by `kgen.data.captioned.tokenized`; else None.

    Example:

    ```python
    import kgen

    source = kgen.data.open_source("digits", labels=True)
    source.shape, source.num_classes, source.steps_per_epoch(64)   # ((8, 8, 1), 10, 28)
    x, y = next(iter(source.dataset(64, seed=0)))                  # (64, 8, 8, 1), (64,)
    ```
    """

    def __init__(self, spec, kind, readers, *, shape, description, target_shape=None,
                 num_classes=None, class_names=None, skipped=(), images=None, seed=0):
        self.spec = spec
        self.kind = kind
        self.shape = tuple(shape)
        self.target_shape = None if target_shape is None else tuple(target_shape)
        self.num_classes = num_classes
        self.class_names = None if class_names is None else tuple(class_names)
        self.description = description
        self.skipped = list(skipped)
        self.images = images
        self._readers = tuple(readers)
        self._seed = seed
        if kind == "unpaired":
            self.domain_sizes = (len(readers[0]), len(readers[1]))
        else:
            self.domain_sizes = (len(readers[0]),)
        self.num_examples = max(self.domain_sizes)

    def __repr__(self):
        return f"<DataSource {self.description}>"

    @property
    def captions(self):
        """The captions of a captioned source (see the class attributes), else None."""
        if self.kind != "captioned":
            return None
        return self._readers[0].captions

    # -------------------------------------------------------------- batches
    def _check_batches(self, what):
        if self.kind in _SINGLE_IMAGE_KINDS:
            what_it_is = "one image" if self.kind == "image" else "a content and a style image"
            raise ValueError(
                f"{self.spec!r} is {what_it_is} (kind={self.kind!r}): it has no batches, so "
                f"{what} does not apply. The model optimises source.images.")

    def steps_per_epoch(self, batch_size):
        """Full batches in one epoch: ``num_examples // batch_size``.

        Raises:
            TypeError: ``batch_size`` is not an integer.
            ValueError: ``batch_size`` is below 1, or larger than the data (the message
                names both numbers and the option to change).
        """
        self._check_batches("steps_per_epoch")
        batch_size = checks.integer(batch_size, "batch_size", minimum=1)
        if batch_size > self.num_examples:
            what = {"paired": "pairs", "unpaired": "images in its larger domain"}.get(
                self.kind, "examples")
            raise ValueError(
                f"Batch size {batch_size} is larger than the {self.num_examples} {what} of "
                f"{self.spec!r}, so no full batch can be made. Use a batch size of at most "
                f"{self.num_examples} (--batch-size on the command line, batch_size in "
                "Python).")
        return self.num_examples // batch_size

    def dataset(self, batch_size, *, seed=0, first_epoch=0, flip=False, repeat=True,
                steps_per_epoch=None):
        """A ``tf.data.Dataset`` of training batches in data space.

        The order of epoch ``e`` is a pure function of ``(seed, e)``, and every epoch holds
        exactly `steps_per_epoch` full batches (the remainder is dropped), so a run
        resumed at epoch ``k`` with ``first_epoch=k`` sees exactly the batches that the
        uninterrupted run saw from epoch ``k`` on; the earlier epochs cost nothing (no
        image of theirs is decoded). Folders are decoded as batches are needed.

        Args:
            batch_size: examples per batch.
            seed: the seed of the order and the flips (None draws one).
            first_epoch: the epoch the dataset starts at.
            flip: flip images horizontally at random, a pure function of
                ``(seed, epoch, index)`` (the two images of a pair together).
            repeat: True for an infinite dataset of every epoch from ``first_epoch`` on
                (give ``fit()`` ``steps_per_epoch``); False for one epoch per pass:
                ``first_epoch`` on the first pass, then the next (see
                `kgen.data.set_epoch`).
            steps_per_epoch: None (every batch of the data), or fewer batches per epoch:
                each epoch is the first ``steps_per_epoch`` batches of its order, so that
                ``fit(steps_per_epoch=...)``'s epochs and the data's epochs stay the same
                (and a resumed run stays exact).

        Returns:
            Batches of float32 images in ``[-1, 1]`` (points as they are): ``x``;
            ``(x, y)`` with int32 labels; or ``(a, b)`` for paired and unpaired data.

        Raises:
            TypeError: a ``batch_size``, ``seed`` or ``first_epoch`` that is not an
                integer, or a ``flip`` or ``repeat`` that is not a bool.
            ValueError: a batch larger than the data (see `steps_per_epoch`), flips of
                points or of captioned images, a negative ``first_epoch``, or a
                single-image source.

        Example:

        ```python
        import kgen

        source = kgen.data.open_source("digits")
        resumed = source.dataset(32, seed=1, first_epoch=3)     # epoch 3, 4, ...
        batch = next(iter(resumed))                             # (32, 8, 8, 1) float32
        ```
        """
        self._check_batches("dataset")
        steps = self.steps_per_epoch(batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, checks.integer(steps_per_epoch, "steps_per_epoch", minimum=1))
        batch_size = int(batch_size)
        seed = random_seed() if seed is None else checks.seed(seed)
        first_epoch = checks.integer(first_epoch, "first_epoch", minimum=0)
        for value, name in ((flip, "flip"), (repeat, "repeat")):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False; got {value!r}.")
        if flip and self.kind == "captioned":
            raise ValueError(f"{self.spec!r} holds images with captions: a flip would swap left "
                             "and right in the images but not in their captions. Pass "
                             "flip=False (no --flip).")
        if flip and self.shape == (2,):
            raise ValueError(f"{self.spec!r} holds 2-D points: they have nothing to flip. "
                             "Pass flip=False.")
        tf = _import_tensorflow()
        order = EpochOrder(self.domain_sizes, batch_size, seed=seed, flip=flip, steps=steps)
        streams = any(r.streams for r in self._readers)
        examples, variable = order.dataset(first_epoch, repeat, batched=not streams)
        readers, kind = self._readers, self.kind

        def flip_of(part):
            return part[1] if flip else None

        def pick(method):
            calls = [getattr(r, method) for r in readers]

            def one_domain(part):
                return calls[0](part[0], flip_of(part))

            def pairs(part):
                return tuple(call(part[0], flip_of(part)) for call in calls)

            def two_domains(part_a, part_b):
                return (calls[0](part_a[0], flip_of(part_a)),
                        calls[1](part_b[0], flip_of(part_b)))

            return {"paired": pairs, "unpaired": two_domains}.get(kind, one_domain)

        if streams:
            ds = examples.map(plain(pick("example")), num_parallel_calls=folders.PARALLEL_READS,
                              deterministic=True)
            ds = ds.batch(batch_size, drop_remainder=True).prefetch(folders.PREFETCH_BATCHES)
            options = tf.data.Options()
            # No prefetch buffers beyond the ones above, and no fusing or autotuning that
            # would grow them: they bound the decoded images.
            options.experimental_optimization.inject_prefetch = False
            options.experimental_optimization.map_and_batch_fusion = False
            options.autotune.enabled = False
            ds = ds.with_options(options)
        else:
            ds = examples.map(plain(pick("batch")), num_parallel_calls=tf.data.AUTOTUNE)
            ds = ds.prefetch(tf.data.AUTOTUNE)
        return finish(ds, None if repeat else steps, variable)

    # -------------------------------------------------------------- arrays
    def arrays(self, limit=None):
        """Up to ``limit`` examples as numpy arrays, for evaluation metrics.

        With fewer than all examples, the examples are a fixed random subset (drawn
        with the source's ``seed``) in their own order, so that a class folder or a
        sorted file list is sampled evenly. Folders are streamed: no more than ``limit``
        images are ever held.

        Args:
            limit: the most examples to return (of each domain for unpaired data), or
                None for all.

        Returns:
            uint8 images ``(n, H, W, C)`` (float32 ``(n, 2)`` for points); ``(x, y)`` with
            int32 labels; ``(x, captions)`` for captioned data (see `captions`);
            ``(a, b)`` for paired and unpaired data; the images of a single-image source.

        Example:

        ```python
        import kgen

        x, y = kgen.data.open_source("digits", labels=True).arrays(limit=100)
        x.shape, y.shape   # ((100, 8, 8, 1), (100,))
        ```
        """
        limit = checks.optional_integer(limit, "limit", minimum=1)
        if self.kind in _SINGLE_IMAGE_KINDS:
            return self.images if limit is None else self.images[:limit]
        if self.kind == "unpaired":
            return tuple(r.read(self._subset(len(r), limit, stream))
                         for stream, r in enumerate(self._readers))
        indices = self._subset(self.num_examples, limit, 0)
        if self.kind == "paired":
            return tuple(r.read(indices) for r in self._readers)
        reader = self._readers[0]
        x = reader.read(indices)
        return x if reader.labels is None else (x, reader.labels[indices])

    def _subset(self, size, limit, stream):
        if limit is None or limit >= size:
            return np.arange(size)
        rng = np.random.default_rng([self._seed, stream])
        return np.sort(rng.permutation(size)[:limit])


# ------------------------------------------------------------------ opening
def open_source(spec, *, kind="samples", labels=False, image_size=None, channels=None,
                split="all", seed=0, check_files=True):
    """Open training data from a spec: bundled data, TensorFlow Datasets or an image folder.

    Args:
        spec: one of

            - a bundled name: ``"digits"``, ``"ring"``, ``"grid"`` (samples);
              ``"digits-edges"``, ``"digits-inverted"`` (paired);
              ``"digits-inverted"``, ``"digits-rotated"``, ``"photos-negative"``
              (unpaired); a picture of
              `kgen.data.BUNDLED_IMAGES` (image, content_style);
            - ``"tfds:NAME[:SPLIT]"``: a prepared TensorFlow Datasets set
              (``"tfds:mnist:test"``, ``"tfds:cycle_gan/horse2zebra"`` for unpaired
              data); a split in the spec wins over ``split``;
            - ``"folder:PATH"``, or a path that exists: the image files (PNG, JPEG, BMP,
              GIF) directly in ``PATH``; with ``labels=True``, one sub-folder per class;
              for paired data, ``PATH/A`` and ``PATH/B`` with matching file names
              (without their endings); for unpaired data, ``PATH/A`` and ``PATH/B``;
            - for ``kind="image"``: a picture name or an image file; for
              ``kind="content_style"``: ``"CONTENT,STYLE"``, two picture names or files;
            - for ``kind="captioned"``: ``"captioned_digits"``, ``"tfds:NAME[:SPLIT]"``
              (a prepared set's images and its text features named as captions,
              `kgen.data.captioned.tfds_caption_features`), or ``"folder:PATH"`` with
              the captions in ``PATH/captions.jsonl`` or ``PATH/captions.txt``
              (`kgen.data.captioned.folder_captions`).
        kind: ``"samples"``, ``"paired"``, ``"unpaired"``, ``"image"``,
            ``"content_style"`` or ``"captioned"`` (batches of images and their
            captions, `kgen.data.captioned`).
        labels: read class labels (digits, the mixtures' modes, a TensorFlow Datasets
            ``label`` feature, or class sub-folders).
        image_size: None keeps the native size (a folder's images must then all have the
            same size); an integer ``s`` scales each image's short side to ``s`` and crops
            the centre to ``s x s`` (bundled digits are resized bilinearly).
        channels: None (1 if every image is grey, else 3), 1 or 3; alpha is dropped.
        split: ``"all"``, ``"train"`` or ``"test"`` for bundled data (and ``"heldout"``
            for ``"captioned_digits"``); passed to TensorFlow Datasets; folders and
            pictures take ``"all"`` only.
        seed: the seed of the ``"ring"``/``"grid"`` points and of the subset that
            `DataSource.arrays` returns.
        check_files: decode every image of a folder once before training (in a
            parallel, streaming pass) to find corrupt files, which are skipped and named
            in a warning. With False nothing but the first image is decoded before
            training: its size and channels stand for all, and a corrupt file stops
            training.

    Returns:
        A `DataSource`.

    Raises:
        TypeError: a spec that is not a string or path, or options of the wrong type.
        ValueError: an unknown name (the message lists the known ones), a spec of another
            kind, a folder with no usable image, class sub-folders without images, paired
            folders without matching names, images of different sizes without
            ``image_size``.
        FileNotFoundError: a folder or file that does not exist.
        RuntimeError: a ``tfds:`` set that is not installed or prepared (the message says
            how to prepare it).

    Example:

    ```python
    import os, tempfile
    import numpy as np
    from PIL import Image
    import kgen

    folder = tempfile.mkdtemp(dir="/tmp")
    for i in range(6):
        Image.fromarray(np.full((12, 16, 3), 40 * i, np.uint8)).save(f"{folder}/{i}.png")
    source = kgen.data.open_source(f"folder:{folder}", image_size=8)
    source.shape, source.num_examples        # ((8, 8, 3), 6)
    batch = next(iter(source.dataset(4)))    # (4, 8, 8, 3) float32 in [-1, 1]
    ```
    """
    kind = checks.one_of(kind, "kind", KINDS)
    if not isinstance(labels, (bool, np.bool_)):
        raise TypeError(f"labels must be True or False; got {labels!r}.")
    if not isinstance(check_files, (bool, np.bool_)):
        raise TypeError(f"check_files must be True or False; got {check_files!r}.")
    image_size = checks.optional_integer(image_size, "image_size", minimum=1)
    channels = folders.check_channels(channels)
    seed = random_seed() if seed is None else checks.seed(seed)
    if not isinstance(split, str):
        raise TypeError(f"split must be a string such as 'all', 'train' or 'test'; got "
                        f"{split!r}.")
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
        if kind not in _SINGLE_IMAGE_KINDS:
            spec = FOLDER_PREFIX + spec
    if not isinstance(spec, str):
        raise TypeError(f"A data source spec must be a string or a path; got "
                        f"{type(spec).__name__}.")
    if not spec.strip():
        raise ValueError(f"Empty data source spec. {_known(kind)}")
    options = dict(image_size=image_size, channels=channels, split=split, seed=seed)
    if labels and kind != "samples":
        raise ValueError(f"labels=True needs kind='samples'; {kind!r} data has no labels.")
    if kind in _SINGLE_IMAGE_KINDS:
        return _open_pictures(spec, kind, **options)
    if kind == "captioned":
        return _open_captioned(spec, check_files, **options)
    if spec.startswith(_TFDS_PREFIX):
        return _open_tfds(spec, kind, labels, **options)
    if spec.startswith(FOLDER_PREFIX):
        return _open_folder(spec, spec[len(FOLDER_PREFIX):], kind, labels, check_files,
                            **options)
    if spec in _BUNDLED_BY_KIND[kind]:
        return _open_bundled(spec, kind, labels, **options)
    _refuse_other_kind(spec, kind)
    path = os.path.expanduser(spec)
    if os.path.isdir(path):
        return _open_folder(spec, path, kind, labels, check_files, **options)
    if os.path.exists(path):
        raise ValueError(f"{spec!r} is a file; kind={kind!r} takes a folder of images "
                         "(folder:PATH).")
    if _looks_like_path(spec):
        raise FileNotFoundError(f"Folder {spec!r} does not exist. {_known(kind)}")
    raise ValueError(f"Unknown data source {spec!r} for kind={kind!r} (no bundled data set "
                     f"and no folder of that name). {_known(kind)}")


def _known(kind):
    names = ", ".join(repr(n) for n in _BUNDLED_BY_KIND[kind])
    if kind == "captioned":
        return (f"Available: {names}, 'tfds:NAME[:SPLIT]' (a prepared TensorFlow Datasets "
                "set with images and text features), or 'folder:PATH' (a folder of images "
                "with captions.jsonl or captions.txt beside them).")
    if kind in _SINGLE_IMAGE_KINDS:
        form = "'CONTENT,STYLE' of two " if kind == "content_style" else ""
        return (f"Use {form}bundled pictures ({names}) or image files.")
    tfds = "" if kind == "paired" else ", 'tfds:NAME[:SPLIT]' (a prepared TensorFlow Datasets set)"
    return f"Available: {names}{tfds}, or 'folder:PATH' (a folder of images)."


def _looks_like_path(spec):
    return (os.sep in spec or "/" in spec or spec.startswith(("~", "."))
            or spec.lower().endswith(folders.IMAGE_EXTENSIONS))


def _refuse_other_kind(spec, kind):
    for other, names in _BUNDLED_BY_KIND.items():
        if other != kind and spec in names and other in _KIND_HINTS:
            raise ValueError(
                f"{spec!r} is {'an' if other == 'image' else 'a'} {other} data set, not "
                f"{kind}: open it with {_KIND_HINTS[other]}. {_known(kind)}")


def _check_split(split, what):
    if split != "all":
        raise ValueError(f"{what} is read whole, so split must be 'all'; got {split!r}. "
                         "Point the spec at the folder of that split instead.")


def _convert_channels(images, channels):
    """uint8 images (N, H, W, C) with ``channels`` channels (None: 1 for grey, else 3)."""
    if images.shape[-1] == 4:
        images = images[..., :3]
    if images.shape[-1] == 2:
        images = images[..., :1]
    if channels is None or images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    luma = images.astype(np.float32) @ np.asarray((0.299, 0.587, 0.114), np.float32)
    return np.clip(np.round(luma), 0, 255).astype(np.uint8)[..., None]


def _shape_text(shape):
    return "x".join(str(s) for s in shape)


def _skipped_text(skipped):
    if not skipped:
        return ""
    return f", {len(skipped)} corrupt file{'s' if len(skipped) > 1 else ''} skipped"


def _class_text(num_classes):
    return "" if num_classes is None else f", {num_classes} classes"


# ------------------------------------------------------------------ bundled
def _open_bundled(spec, kind, labels, *, image_size, channels, split, seed):
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r} for {spec!r}; use one of "
                         f"{', '.join(SPLITS)}.")
    if kind == "samples" and spec in _POINTS:
        if image_size is not None or channels is not None:
            raise ValueError(f"{spec!r} holds 2-D points, not images: image_size and "
                             "channels do not apply.")
        points, modes = load(spec, split=split, seed=seed, return_labels=True)
        names = _mixture_names(spec) if labels else None
        num_classes = None if names is None else len(names)
        return DataSource(
            spec, kind, (ArrayReader(points, modes if labels else None),), shape=(2,),
            seed=seed, num_classes=num_classes, class_names=names,
            description=f"{spec}: {len(points)} points in 2-D (split {split})"
                        f"{_class_text(num_classes)}")
    if kind == "samples":   # digits, or the captioned scenes (labels: their digit)
        images, digits = load(spec, split=split, return_labels=True)
        if image_size is not None:
            images = _resize(images, (image_size, image_size))
        images = _convert_channels(images, channels)
        reader = ArrayReader(images, digits if labels else None)
        num_classes = 10 if labels else None
        return DataSource(
            spec, kind, (reader,), shape=images.shape[1:], seed=seed,
            num_classes=num_classes,
            class_names=tuple(str(d) for d in range(10)) if labels else None,
            description=f"{spec}: {len(images)} images of {_shape_text(images.shape[1:])} "
                        f"(split {split}){_class_text(num_classes)}")
    loader = load_paired if kind == "paired" else load_unpaired
    a, b = loader(spec, split=split, image_size=image_size)
    a, b = _convert_channels(a, channels), _convert_channels(b, channels)
    return _two_domains(spec, kind, ArrayReader(a), ArrayReader(b), a.shape[1:], b.shape[1:],
                        seed=seed, where=f"(split {split})")


def _mixture_names(spec):
    count = 8 if spec == "ring" else 25
    return tuple(f"mode {k}" for k in range(count))


def _two_domains(spec, kind, reader_a, reader_b, shape_a, shape_b, *, seed, where,
                 skipped=()):
    if kind == "paired":
        text = (f"{spec}: {len(reader_a)} pairs, {_shape_text(shape_a)} -> "
                f"{_shape_text(shape_b)} {where}")
    else:
        text = (f"{spec}: {len(reader_a)} images of A ({_shape_text(shape_a)}) and "
                f"{len(reader_b)} of B ({_shape_text(shape_b)}) {where}")
    text += _skipped_text(skipped)
    return DataSource(spec, kind, (reader_a, reader_b), shape=shape_a, target_shape=shape_b,
                      seed=seed, skipped=skipped, description=text)


# ------------------------------------------------------------------ tfds
def _open_tfds(spec, kind, labels, *, image_size, channels, split, seed):
    rest = spec[len(_TFDS_PREFIX):]
    name, _, spec_split = rest.partition(":")
    if not name:
        raise ValueError(f"Empty TensorFlow Datasets name in {spec!r}: use "
                         "'tfds:NAME[:SPLIT]', e.g. 'tfds:mnist' or 'tfds:mnist:test'.")
    split = spec_split or split
    if kind == "paired":
        raise ValueError(
            f"{spec!r}: TensorFlow Datasets sets open as samples or, for the cycle_gan "
            "sets, as unpaired data; paired data comes from a bundled set or a folder "
            "with A/ and B/ (folder:PATH).")
    if kind == "unpaired":
        a, b = load_unpaired(_TFDS_PREFIX + name, split=split)
        a, b = (_convert_channels(_resize_array(x, image_size), channels) for x in (a, b))
        return _two_domains(spec, kind, ArrayReader(a), ArrayReader(b), a.shape[1:],
                            b.shape[1:], seed=seed, where=f"(split {split})")
    loaded = _load_tfds(name, split, labels)
    images, classes = loaded if labels else (loaded, None)
    images = _convert_channels(_resize_array(images, image_size), channels)
    num_classes = class_names = None
    if labels:
        class_names = _tfds_label_names(name)
        num_classes = len(class_names) if class_names else int(classes.max()) + 1
    return DataSource(
        spec, kind, (ArrayReader(images, classes),), shape=images.shape[1:], seed=seed,
        num_classes=num_classes, class_names=class_names,
        description=f"{spec}: {len(images)} images of {_shape_text(images.shape[1:])} "
                    f"(TensorFlow Datasets {name}, split "
                    f"{'train' if split == 'all' else split}){_class_text(num_classes)}")


def _resize_array(images, image_size, chunk=1024):
    """uint8 images resized and centre-cropped as folder images are, in chunks."""
    if image_size is None:
        return images
    parts = [np.asarray(folders.resize_and_crop(images[i:i + chunk], image_size))
             for i in range(0, len(images), chunk)]
    return np.concatenate(parts)


# ------------------------------------------------------------------ folders
def _open_folder(spec, path, kind, labels, check_files, *, image_size, channels, split, seed):
    if not path.strip():
        raise ValueError(f"Empty folder in {spec!r}: use 'folder:PATH'.")
    path = folders.check_folder(path)
    _check_split(split, f"Folder {path!r}")
    if kind == "samples":
        class_names = None
        if labels:
            paths, classes, class_names = folders.class_folders(path)
        else:
            paths, classes = folders.plain_folder(path), None
        survey = _checked(paths, check_files, path)
        keep = survey.ok
        shape = folders.image_shape(survey, keep, paths, image_size, channels, repr(path))
        kept = [p for p, k in zip(paths, keep) if k]
        if labels:
            classes = classes[keep]
            lost = [n for k, n in enumerate(class_names) if not np.any(classes == k)]
            if lost:
                raise ValueError(f"Class sub-folders of {path!r} with no image that could be "
                                 f"decoded: {', '.join(repr(n) for n in lost)}.")
        reader = folders.FolderReader(kept, shape, image_size, classes,
                                      survey.decoded_channels(keep), survey.checked)
        num_classes = None if class_names is None else len(class_names)
        text = (f"{spec}: {len(kept)} images of {_shape_text(shape)}"
                f"{_class_text(num_classes)}")
        text += _skipped_text(survey.skipped)
        return DataSource(spec, kind, (reader,), shape=shape, num_classes=num_classes,
                          class_names=class_names, skipped=survey.skipped, seed=seed,
                          description=text)
    if kind == "paired":
        paths_a, paths_b = folders.paired_folders(path)
        survey = _checked(paths_a + paths_b, check_files, path, separately=len(paths_a))
        count = len(paths_a)
        pairs = survey.ok[:count] & survey.ok[count:]
        if not pairs.any():
            raise ValueError(f"No pair of {path!r} has two images that could be decoded.")
        keep_a = np.concatenate([pairs, np.zeros(count, bool)])
        keep_b = np.concatenate([np.zeros(count, bool), pairs])
        every = paths_a + paths_b
        shape_a = folders.image_shape(survey, keep_a, every, image_size, channels,
                                      repr(os.path.join(path, "A")))
        shape_b = folders.image_shape(survey, keep_b, every, image_size, channels,
                                      repr(os.path.join(path, "B")))
        kept_a = [p for p, k in zip(paths_a, pairs) if k]
        kept_b = [p for p, k in zip(paths_b, pairs) if k]
        readers = [folders.FolderReader(kept, shape, image_size, None,
                                        survey.decoded_channels(keep), survey.checked)
                   for kept, shape, keep in ((kept_a, shape_a, keep_a), (kept_b, shape_b, keep_b))]
        return _two_domains(spec, kind, readers[0], readers[1], shape_a, shape_b, seed=seed,
                            where="(folder)", skipped=survey.skipped)
    paths_a, paths_b = folders.unpaired_folders(path)
    survey = _checked(paths_a + paths_b, check_files, path, separately=len(paths_a))
    count = len(paths_a)
    every = paths_a + paths_b
    readers, shapes = [], []
    for domain, (start, stop) in zip("AB", ((0, count), (count, len(every)))):
        keep = np.zeros(len(every), bool)
        keep[start:stop] = survey.ok[start:stop]
        if not keep.any():
            raise ValueError(f"No image of {os.path.join(path, domain)!r} could be decoded.")
        shape = folders.image_shape(survey, keep, every, image_size, channels,
                                    repr(os.path.join(path, domain)))
        readers.append(folders.FolderReader([p for p, k in zip(every, keep) if k], shape,
                                            image_size, None, survey.decoded_channels(keep),
                                            survey.checked))
        shapes.append(shape)
    return _two_domains(spec, kind, readers[0], readers[1], shapes[0], shapes[1], seed=seed,
                        where="(folder)", skipped=survey.skipped)


def _checked(paths, check_files, where, separately=None):
    """The survey of ``paths``: corrupt files named in a warning, an error if none decodes."""
    if separately is not None and not check_files:
        parts = [folders.survey(paths[:separately], False),
                 folders.survey(paths[separately:], False)]
        return folders.Survey(*(np.concatenate([getattr(p, a) for p in parts])
                                for a in ("ok", "sizes", "grey", "channels")), [], False)
    survey = folders.survey(paths, check_files)
    if not survey.ok.any():
        first, reason = survey.skipped[0]
        raise ValueError(f"None of the {len(paths)} image files in {where!r} could be "
                         f"decoded (the first, {first!r}: {reason}).")
    folders.warn_skipped(survey.skipped, len(paths), repr(where))
    return survey


# ------------------------------------------------------------------ captioned
def _open_captioned(spec, check_files, **options):
    from kgen.data import captioned

    if spec in CAPTIONED:
        return captioned.open_bundled(spec, **options)
    if spec.startswith(_TFDS_PREFIX):
        name, _, spec_split = spec[len(_TFDS_PREFIX):].partition(":")
        options["split"] = spec_split or options["split"]
        return captioned.open_tfds(spec, name, **options)
    path = spec[len(FOLDER_PREFIX):] if spec.startswith(FOLDER_PREFIX) else None
    if path is None:
        _refuse_other_kind(spec, "captioned")
        if os.path.isdir(os.path.expanduser(spec)):
            path = os.path.expanduser(spec)
        elif _looks_like_path(spec):
            raise FileNotFoundError(f"Folder {spec!r} does not exist. {_known('captioned')}")
        else:
            raise ValueError(f"Unknown data source {spec!r} for kind='captioned'. "
                             f"{_known('captioned')}")
    if not path.strip():
        raise ValueError(f"Empty folder in {spec!r}: use 'folder:PATH'.")
    return captioned.open_folder(spec, path, check_files, **options)


# ------------------------------------------------------------------ pictures
def _open_pictures(spec, kind, *, image_size, channels, split, seed):
    _check_split(split, "A picture")
    parts = [spec] if kind == "image" else [p.strip() for p in spec.split(",")]
    if kind == "content_style" and (len(parts) != 2 or not all(parts)):
        raise ValueError(f"kind='content_style' takes 'CONTENT,STYLE' (two picture names or "
                         f"image files, such as 'astronaut,brick'); got {spec!r}.")
    pictures = [_picture(p, kind, image_size, channels) for p in parts]
    if channels is None and len({p.shape[-1] for p in pictures}) > 1:
        pictures = [_convert_channels(p[None], 3)[0] for p in pictures]
    sizes = {p.shape[:2] for p in pictures}
    if len(sizes) > 1:
        raise ValueError(
            f"The content image is {_shape_text(pictures[0].shape[:2])} and the style image "
            f"{_shape_text(pictures[1].shape[:2])}: pass image_size (--image-size on the "
            "command line) to bring both to one size.")
    images = np.stack(pictures)
    if kind == "image":
        text = f"{spec}: one image of {_shape_text(images.shape[1:])}"
    else:
        text = (f"{spec}: content {parts[0]!r} and style {parts[1]!r}, "
                f"{_shape_text(images.shape[1:])}")
    return DataSource(spec, kind, (ArrayReader(images),), shape=images.shape[1:],
                      images=images, seed=seed, description=text)


def _picture(part, kind, image_size, channels):
    if part in BUNDLED_IMAGES:
        return load_image(part, size=image_size, channels=channels)
    if part.startswith((_TFDS_PREFIX, FOLDER_PREFIX)):
        raise ValueError(f"kind={kind!r} takes a picture name or an image file, not "
                         f"{part!r}. {_known(kind)}")
    _refuse_other_kind(part, kind)
    path = os.path.expanduser(part)
    if os.path.isdir(path):
        raise ValueError(f"{part!r} is a folder; kind={kind!r} takes one image file. "
                         f"{_known(kind)}")
    if os.path.isfile(path):
        return folders.read_image(path, image_size, channels)
    if _looks_like_path(part):
        raise FileNotFoundError(f"Image file {part!r} does not exist. {_known(kind)}")
    raise ValueError(f"Unknown picture {part!r}. {_known(kind)}")
