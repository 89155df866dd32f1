"""Streaming image folders: list the files, check them, decode them in a tf.data pipeline.

Nothing holds a whole folder in memory. The files are listed (with their labels, or their
partners for paired data), then a check pass decodes each one in a parallel, streaming
tf.data pipeline that keeps only its size: files that cannot be decoded are skipped and
named in a warning. Training then decodes the files again, a few at a time, as batches
are needed (`FolderReader`).

Every image goes through one preparation (`prepare_image`): its channels are converted
(grey to RGB by repetition, RGB to grey by the ITU-R 601 luma, alpha dropped) and, with
an ``image_size``, its short side is scaled to ``image_size`` (bilinear, antialiased) and
the centre is cropped to ``image_size x image_size``.
"""

import os
import re
import warnings

import numpy as np

#: File endings read from image folders (case-insensitive). GIF files give their first frame.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

#: Images decoded in parallel while streaming (see `decoded_ahead` for the images a
#: streaming pipeline holds ahead of the training loop).
PARALLEL_READS = max(1, min(16, os.cpu_count() or 1))

#: Batches prepared ahead of the training loop by a streaming pipeline.
PREFETCH_BATCHES = 2


def decoded_ahead(batch_size):
    """The most images a streaming pipeline decodes ahead of the batches already taken.

    Its parallel reads, the batches being assembled (up to two) and the prefetched
    batches: the memory of a streaming run does not grow with the folder.

    Example:

    ```python
    from kgen.data.folders import PARALLEL_READS, decoded_ahead
    decoded_ahead(8) - PARALLEL_READS   # 40
    ```
    """
    return PARALLEL_READS + (PREFETCH_BATCHES + 3) * batch_size


#: Files named one by one in the warning about skipped files.
WARN_LIMIT = 10

_LUMA = (0.299, 0.587, 0.114)


def _tf():
    from kgen.data.pipeline import _import_tensorflow

    return _import_tensorflow()


def plain(function):
    """``function`` for ``Dataset.map``, run as written (see `kgen.data.epochs.plain`)."""
    from kgen.data.epochs import plain as _plain

    return _plain(function)


# ------------------------------------------------------------------ options
def check_channels(channels):
    """The ``channels`` option checked: None, 1 or 3.

    Raises:
        TypeError: not an integer (or None).
        ValueError: an integer other than 1 and 3.

    Example:

    ```python
    from kgen.data.folders import check_channels
    check_channels(3)   # 3
    ```
    """
    from kgen import checks

    if channels is None:
        return None
    channels = checks.integer(channels, "channels")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1, 3 or None; got {channels}.")
    return channels


# ------------------------------------------------------------------ listing
def _visible(names):
    return [n for n in names if not n.startswith(".")]


def _is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def check_folder(path):
    """``path`` as a str, checked to be an existing folder (FileNotFoundError otherwise)."""
    path = os.path.expanduser(os.fspath(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"Image folder {path!r} does not exist.")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path!r} is a file, not a folder of images.")
    return path


def _found(path, names):
    """What a folder holds, in words, for the messages."""
    folders = [n for n in names if os.path.isdir(os.path.join(path, n))]
    files = [n for n in names if n not in folders]
    parts = []
    if files:
        parts.append(f"{len(files)} other file{'s' if len(files) > 1 else ''} "
                     f"({', '.join(files[:5])}{', ...' if len(files) > 5 else ''})")
    if folders:
        parts.append(f"{len(folders)} sub-folder{'s' if len(folders) > 1 else ''} "
                     f"({', '.join(folders[:5])}{', ...' if len(folders) > 5 else ''})")
    return " and ".join(parts)


def list_images(path, hint=""):
    """The sorted names of the image files directly in folder ``path``.

    Args:
        path: the folder.
        hint: a sentence added to the message when the folder has no image.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: the folder is empty, or holds no file with an image ending (the
            message names the endings looked for and what was found).

    Example:

    ```python
    import os, tempfile
    import numpy as np
    from PIL import Image
    from kgen.data.folders import list_images

    folder = tempfile.mkdtemp(dir="/tmp")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(os.path.join(folder, "a.png"))
    list_images(folder)   # ['a.png']
    ```
    """
    path = check_folder(path)
    names = sorted(_visible(os.listdir(path)))
    if not names:
        raise ValueError(f"Image folder {path!r} is empty: put image files "
                         f"({', '.join(IMAGE_EXTENSIONS)}) in it.")
    images = [n for n in names if _is_image(n) and os.path.isfile(os.path.join(path, n))]
    if not images:
        raise ValueError(
            f"Image folder {path!r} holds no images: looked for files ending in "
            f"{', '.join(IMAGE_EXTENSIONS)} (any case) and found {_found(path, names)}."
            + (f" {hint}" if hint else ""))
    return images


def plain_folder(path):
    """The image files of ``path``: a list of paths.

    The images directly in the folder; a folder that holds only sub-folders of images
    (one per class, as for labelled data) gives the images of every sub-folder, so the
    same folder trains an unconditional model too.
    """
    path = check_folder(path)
    entries = _visible(os.listdir(path))
    if not any(_is_image(n) and os.path.isfile(os.path.join(path, n)) for n in entries) \
            and any(os.path.isdir(os.path.join(path, n)) for n in entries):
        return class_folders(path)[0]
    names = list_images(path, hint=(
        "For one sub-folder per class, pass labels=True."
        if any(os.path.isdir(os.path.join(path, n)) for n in os.listdir(path)) else ""))
    return [os.path.join(path, n) for n in names]


def class_folders(path):
    """The images of a folder with one sub-folder per class.

    Returns:
        ``(paths, labels, class_names)``: the image paths, their int32 labels (the
        position of their sub-folder among the sorted sub-folder names) and the names.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: no sub-folder, or a class sub-folder without images.
    """
    path = check_folder(path)
    entries = sorted(_visible(os.listdir(path)))
    classes = [n for n in entries if os.path.isdir(os.path.join(path, n))]
    if not classes:
        found = _found(path, entries) or "nothing"
        raise ValueError(
            f"With labels, {path!r} must hold one sub-folder of images per class (the "
            f"sub-folder names are the class names); it has no sub-folder (found "
            f"{found}). Without labels, put the images directly in the folder.")
    paths, labels, empty = [], [], []
    for label, name in enumerate(classes):
        folder = os.path.join(path, name)
        names = [n for n in sorted(_visible(os.listdir(folder)))
                 if _is_image(n) and os.path.isfile(os.path.join(folder, n))]
        if not names:
            empty.append(name)
        paths += [os.path.join(folder, n) for n in names]
        labels += [label] * len(names)
    if empty:
        raise ValueError(
            f"Class sub-folder{'s' if len(empty) > 1 else ''} of {path!r} with no images: "
            f"{', '.join(repr(n) for n in empty)} (looked for files ending in "
            f"{', '.join(IMAGE_EXTENSIONS)}). Put images in every class folder, or remove it.")
    loose = [n for n in entries if n not in classes and _is_image(n)]
    if loose:
        warnings.warn(
            f"{len(loose)} image file{'s' if len(loose) > 1 else ''} directly in {path!r} "
            f"({', '.join(loose[:3])}{', ...' if len(loose) > 3 else ''}) "
            f"{'are' if len(loose) > 1 else 'is'} in no class sub-folder and not used.",
            stacklevel=4)
    return paths, np.asarray(labels, np.int32), tuple(classes)


def _domain_folders(path, layout):
    path = check_folder(path)
    folders = [os.path.join(path, d) for d in "AB"]
    missing = [os.path.basename(f) for f in folders if not os.path.isdir(f)]
    if missing:
        found = _found(path, sorted(_visible(os.listdir(path)))) or "nothing"
        raise FileNotFoundError(
            f"{layout.capitalize()} data in {path!r} needs two sub-folders, A/ and B/; "
            f"{' and '.join(m + '/' for m in missing)} missing (found {found}).")
    return folders


def paired_folders(path):
    """The pairs of folder ``path``: ``A/`` and ``B/`` files with the same stem.

    A file of ``A/`` pairs with the file of ``B/`` whose name, without its ending, is the
    same (``A/0001.png`` with ``B/0001.jpg``). Files without a partner are not used and
    named in a warning.

    Returns:
        ``(paths_a, paths_b)``: the paired paths, sorted by stem.

    Raises:
        FileNotFoundError: the folder, ``A/`` or ``B/`` does not exist.
        ValueError: no name is in both folders, or two files of one folder share a stem.
    """
    folder_a, folder_b = _domain_folders(path, "paired")
    stems = []
    for folder in (folder_a, folder_b):
        by_stem = {}
        for name in list_images(folder):
            stem = os.path.splitext(name)[0]
            if stem in by_stem:
                raise ValueError(
                    f"{folder!r} holds {by_stem[stem]!r} and {name!r}: paired files are "
                    "matched by name without the ending, so each name must be used once.")
            by_stem[stem] = name
        stems.append(by_stem)
    common = sorted(set(stems[0]) & set(stems[1]))
    only = [sorted(set(stems[0]) - set(stems[1])), sorted(set(stems[1]) - set(stems[0]))]

    def listing(folder, names):
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return f"only in {folder!r}: {shown or 'none'}"

    if not common:
        raise ValueError(
            f"Paired folders {folder_a!r} and {folder_b!r} share no file name: a pair is "
            "two files with the same name (the ending may differ), one in A/ and one in B/; "
            f"{listing(folder_a, [stems[0][s] for s in only[0]])}; "
            f"{listing(folder_b, [stems[1][s] for s in only[1]])}.")
    if only[0] or only[1]:
        warnings.warn(
            f"{len(only[0]) + len(only[1])} files have no partner and are not used: "
            f"{listing(folder_a, [stems[0][s] for s in only[0]])}; "
            f"{listing(folder_b, [stems[1][s] for s in only[1]])}.", stacklevel=4)
    return ([os.path.join(folder_a, stems[0][s]) for s in common],
            [os.path.join(folder_b, stems[1][s]) for s in common])


def unpaired_folders(path):
    """The two domains of folder ``path``: the images of ``A/`` and of ``B/`` (any names)."""
    folder_a, folder_b = _domain_folders(path, "unpaired")
    return tuple([os.path.join(f, n) for n in list_images(f)] for f in (folder_a, folder_b))


# ------------------------------------------------------------------ decoding
def decode(path):
    """Decode one image file natively (PNG, JPEG, BMP, GIF's first frame) to uint8 ``(H, W, C)``.

    The channels are the file's own: 1 (grey), 2 (grey and alpha), 3 (RGB; every GIF)
    or 4 (RGBA). 16-bit PNGs are scaled to 8 bits.

    Args:
        path: a string tensor (or str): the file.

    Returns:
        A uint8 tensor of shape ``(H, W, C)``.

    Example:

    ```python
    import os, tempfile
    import numpy as np
    from PIL import Image
    from kgen.data.folders import decode

    file = os.path.join(tempfile.mkdtemp(dir="/tmp"), "a.png")
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(file)
    decode(file).shape   # TensorShape([4, 6, 1])
    ```
    """
    tf = _tf()
    image = tf.io.decode_image(tf.io.read_file(path), channels=0, dtype=tf.uint8,
                               expand_animations=False)
    image.set_shape([None, None, None])
    return image


def _luma(rgb):
    tf = _tf()
    grey = tf.tensordot(tf.cast(rgb, tf.float32), tf.constant(_LUMA, tf.float32), axes=1)
    return tf.cast(tf.clip_by_value(tf.round(grey), 0.0, 255.0), tf.uint8)[..., None]


def convert_channels(image, channels, decoded=None):
    """A decoded uint8 image ``(H, W, C)`` with ``channels`` (1 or 3) channels; alpha dropped.

    ``decoded``: the channel count of the decoded image when it is known in advance (every
    file of a checked folder has it), which saves the run-time choice.
    """
    tf = _tf()
    if decoded is not None:
        if channels == 1:
            image = image[..., :1] if decoded <= 2 else _luma(image[..., :3])
        elif decoded <= 2:
            image = tf.repeat(image[..., :1], 3, axis=-1)
        elif decoded == 4:
            image = image[..., :3]
        image.set_shape([None, None, channels])
        return image
    count = tf.shape(image)[-1]
    if channels == 1:
        image = tf.cond(count >= 3, lambda: _luma(image[..., :3]), lambda: image[..., :1])
    else:
        image = tf.cond(count >= 3, lambda: image[..., :3],
                        lambda: tf.repeat(image[..., :1], 3, axis=-1))
    image.set_shape([None, None, channels])
    return image


def resize_and_crop(images, size):
    """Scale the short side of uint8 images to ``size`` and crop the centre to ``size x size``.

    Bilinear with antialiasing (an average over the source pixels when shrinking); an
    image whose short side is already ``size`` is only cropped. Takes one image
    ``(H, W, C)`` or a batch ``(N, H, W, C)`` of one size.

    Example:

    ```python
    import numpy as np
    from kgen.data.folders import resize_and_crop

    resize_and_crop(np.zeros((6, 12, 3), np.uint8), 4).shape   # TensorShape([4, 4, 3])
    ```
    """
    tf = _tf()
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    height, width = shape[-3], shape[-2]
    scale = tf.cast(size, tf.float64) / tf.cast(tf.minimum(height, width), tf.float64)
    new_height = tf.maximum(size, tf.cast(tf.round(tf.cast(height, tf.float64) * scale), tf.int32))
    new_width = tf.maximum(size, tf.cast(tf.round(tf.cast(width, tf.float64) * scale), tf.int32))

    def resized():
        out = tf.image.resize(images, tf.stack([new_height, new_width]), method="bilinear",
                              antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

    same = tf.logical_and(tf.equal(new_height, height), tf.equal(new_width, width))
    images = tf.cond(same, lambda: images, resized)
    top, left = (new_height - size) // 2, (new_width - size) // 2
    return images[..., top:top + size, left:left + size, :]


def prepare_image(image, shape, image_size, path=None, decoded=None, checked=False):
    """A decoded image converted to ``shape`` = ``(H, W, C)``: channels, then resize and crop.

    Without ``image_size`` the image must already be ``H x W``; unless the sizes were
    ``checked`` before, a different size stops the pipeline with an error naming ``path``.
    ``decoded`` is the decoded channel count when known (see `convert_channels`).
    """
    tf = _tf()
    image = convert_channels(image, shape[-1], decoded)
    if image_size is not None:
        image = resize_and_crop(image, image_size)
    elif not checked:
        size = tf.shape(image)[:2]
        check = tf.debugging.Assert(
            tf.reduce_all(tf.equal(size, tf.constant(shape[:2], tf.int32))),
            ["Image", path if path is not None else "", "has size", size,
             f"but the data set's images are {shape[0]}x{shape[1]}: pass image_size "
             "(--image-size on the command line) to resize them all"])
        with tf.control_dependencies([check]):
            image = tf.identity(image)
    return tf.ensure_shape(image, shape)


def read_image(path, image_size=None, channels=None):
    """One image file as a uint8 numpy array ``(H, W, C)``, prepared as in a folder.

    Args:
        path: the file.
        image_size: None, or the side of the square the image is resized and cropped to.
        channels: None (1 for a grey file, else 3), 1 or 3.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file that cannot be decoded (named).

    Example:

    ```python
    import os, tempfile
    import numpy as np
    from PIL import Image
    from kgen.data.folders import read_image

    file = os.path.join(tempfile.mkdtemp(dir="/tmp"), "a.png")
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(file)
    read_image(file, image_size=4).shape   # (4, 4, 3)
    ```
    """
    tf = _tf()
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Image file {path!r} does not exist.")
    try:
        image = decode(path)
    except tf.errors.OpError as error:
        raise ValueError(f"Could not decode image {path!r}: {_reason(error)}.") from None
    if channels is None:
        channels = 1 if _is_grey(image, path) else 3
    if image_size is None:
        shape = (int(image.shape[0]), int(image.shape[1]), channels)
    else:
        shape = (image_size, image_size, channels)
    return np.asarray(prepare_image(image, shape, image_size, path))


def _is_grey(image, path):
    """Eager: whether a decoded image is grey (1-2 channels, or a GIF of grey colours)."""
    channels = int(image.shape[-1])
    if channels <= 2:
        return True
    if not str(path).lower().endswith(".gif"):
        return False
    array = np.asarray(image)
    return bool(np.all(array[..., 0] == array[..., 1]) and np.all(array[..., 1] == array[..., 2]))


def _reason(error):
    """The first line of a TensorFlow error's message, without the op name."""
    message = (getattr(error, "message", None) or str(error)).strip().splitlines()
    text = message[0] if message else type(error).__name__
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    return text.split(" [Op:")[0].strip().rstrip(".")


# ------------------------------------------------------------------ check pass
class Survey:
    """What the check pass learnt of a list of files.

    Attributes:
        ok: bool array, True for the files that decode.
        sizes: int array ``(n, 2)``: the height and width of every file that decodes
            (only the first file's, repeated, when the files were not checked).
        grey: bool array: which files are grey.
        channels: int array: the decoded channel count of every file (0 where unknown:
            the files that were not checked).
        skipped: ``[(path, reason)]`` of the files that do not decode.
        checked: whether every file was decoded.
    """

    def __init__(self, ok, sizes, grey, channels, skipped, checked):
        self.ok, self.sizes, self.grey, self.skipped = ok, sizes, grey, skipped
        self.channels, self.checked = channels, checked

    def decoded_channels(self, keep):
        """The decoded channel count shared by the ``keep`` files, or None."""
        counts = np.unique(self.channels[keep])
        return int(counts[0]) if self.checked and len(counts) == 1 else None


def survey(paths, check_files=True):
    """Decode every file in a parallel, streaming pipeline: which decode, their sizes, grey.

    With ``check_files=False`` only the first file is decoded, and its size and channels
    stand for all.

    Example:

    ```python
    import os, tempfile
    import numpy as np
    from PIL import Image
    from kgen.data.folders import survey

    folder = tempfile.mkdtemp(dir="/tmp")
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(os.path.join(folder, "a.png"))
    open(os.path.join(folder, "b.png"), "wb").write(b"not a png")
    result = survey([os.path.join(folder, n) for n in ("a.png", "b.png")])
    result.ok, len(result.skipped)   # (array([ True, False]), 1)
    ```
    """
    tf = _tf()
    paths = [os.fspath(p) for p in paths]
    count = len(paths)
    if not check_files:
        try:
            first = decode(paths[0])
        except tf.errors.OpError as error:
            raise ValueError(f"Could not decode image {paths[0]!r}: {_reason(error)}.") from None
        sizes = np.tile(np.asarray(first.shape[:2], np.int64), (count, 1))
        grey = np.full(count, _is_grey(first, paths[0]))
        return Survey(np.ones(count, bool), sizes, grey, np.zeros(count, np.int64), [], False)

    is_gif = np.asarray([p.lower().endswith(".gif") for p in paths])

    def measure(index, path, gif):
        image = decode(path)
        shape = tf.shape(image)

        def grey_colours():
            return tf.logical_and(tf.reduce_all(tf.equal(image[..., 0], image[..., 1])),
                                  tf.reduce_all(tf.equal(image[..., 1], image[..., 2])))

        grey = tf.cond(shape[2] <= 2, lambda: tf.constant(True),
                       lambda: tf.cond(gif, grey_colours, lambda: tf.constant(False)))
        return index, shape[0], shape[1], shape[2], grey

    with tf.device("/CPU:0"):
        files = tf.data.Dataset.from_tensor_slices(
            (np.arange(count, dtype=np.int64), np.asarray(paths, dtype=object).astype(str),
             is_gif))
    checked = (files.map(plain(measure), num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
               .ignore_errors().batch(1024))
    ok = np.zeros(count, bool)
    sizes = np.zeros((count, 2), np.int64)
    grey = np.zeros(count, bool)
    channels = np.zeros(count, np.int64)
    for index, height, width, depth, is_grey in checked.as_numpy_iterator():
        ok[index] = True
        sizes[index, 0], sizes[index, 1] = height, width
        channels[index] = depth
        grey[index] = is_grey
    skipped = []
    for i in np.flatnonzero(~ok):
        try:
            decode(paths[i])
            reason = "could not be decoded"
        except tf.errors.OpError as error:
            reason = _reason(error)
        skipped.append((paths[i], reason))
    return Survey(ok, sizes, grey, channels, skipped, True)


def warn_skipped(skipped, total, where):
    """Warn, one line per file (up to `WARN_LIMIT`), about files that were skipped."""
    if not skipped:
        return
    lines = [f"Skipped {len(skipped)} of {total} image files in {where} that could not be "
             "decoded:"]
    lines += [f"  {path}: {reason}" for path, reason in skipped[:WARN_LIMIT]]
    if len(skipped) > WARN_LIMIT:
        lines.append(f"  ... and {len(skipped) - WARN_LIMIT} more (DataSource.skipped lists "
                     "them all).")
    warnings.warn("\n".join(lines), stacklevel=5)  # at the caller of open_source


def image_shape(survey_result, keep, paths, image_size, channels, where):
    """The ``(H, W, C)`` of the prepared images of the kept files, or a clear error."""
    if channels is None:
        channels = 1 if np.all(survey_result.grey[keep]) else 3
    if image_size is not None:
        return (image_size, image_size, channels)
    sizes = survey_result.sizes[keep]
    names = np.asarray(paths, dtype=object)[keep]
    distinct = {}
    for (height, width), name in zip(sizes.tolist(), names):
        distinct.setdefault((height, width), name)
        if len(distinct) > 3:
            break
    if len(distinct) > 1:
        examples = "; ".join(f"{os.path.basename(n)!r} is {h}x{w}"
                             for (h, w), n in list(distinct.items())[:3])
        raise ValueError(
            f"Images in {where} have different sizes ({examples}). Pass image_size "
            "(--image-size on the command line) to resize them all: the short side is "
            "scaled to image_size and the centre cropped to a square.")
    height, width = sizes[0].tolist()
    return (int(height), int(width), channels)


# ------------------------------------------------------------------ streaming
class FolderReader:
    """The images (and labels) of a list of files, decoded as they are needed.

    Args:
        paths: the image files.
        shape: ``(H, W, C)`` of the prepared images.
        image_size: None, or the side images are resized and cropped to.
        labels: int32 labels, one per file, or None.
        decoded: the decoded channel count of every file, when the check pass found one
            count for all (it saves a run-time choice per image), else None.
        checked: whether the check pass found every file of size ``shape`` (without
            ``image_size``); else each image's size is checked as it is decoded.

    Example:

    ```python
    import os, tempfile
    import numpy as np
    from PIL import Image
    from kgen.data.folders import FolderReader

    folder = tempfile.mkdtemp(dir="/tmp")
    paths = [os.path.join(folder, f"{i}.png") for i in range(3)]
    for i, path in enumerate(paths):
        Image.fromarray(np.full((4, 4), 10 * i, np.uint8)).save(path)
    FolderReader(paths, (4, 4, 1)).read(np.arange(3))[:, 0, 0, 0]   # [ 0 10 20]
    ```
    """

    streams = True

    def __init__(self, paths, shape, image_size=None, labels=None, decoded=None,
                 checked=False):
        self.paths = [os.fspath(p) for p in paths]
        self.shape = tuple(shape)
        self.image_size = image_size
        self.decoded = decoded
        self.checked = checked
        self.labels = None if labels is None else np.asarray(labels, np.int32)
        self._paths = None
        self._labels = None

    def __len__(self):
        return len(self.paths)

    def _tensors(self):
        tf = _tf()
        if self._paths is None:
            # Eager constants, made once outside any traced function, shared by pipelines.
            with tf.init_scope(), tf.device("/CPU:0"):
                self._paths = tf.constant(self.paths)
                if self.labels is not None:
                    self._labels = tf.constant(self.labels)
        return self._paths, self._labels

    def image(self, index):
        """The prepared uint8 image of file ``index`` (a tensor op)."""
        tf = _tf()
        paths, _ = self._tensors()
        path = tf.gather(paths, index)
        return prepare_image(decode(path), self.shape, self.image_size, path, self.decoded,
                             self.checked)

    def example(self, index, flip=None):
        """The training example of file ``index``: an image in ``[-1, 1]`` (and its label).

        ``flip``: a bool tensor, True to flip the image horizontally; None flips nothing.
        """
        tf = _tf()
        image = self.image(index)
        if flip is not None:
            image = tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)
        x = tf.cast(image, tf.float32) / 127.5 - 1.0
        if self.labels is None:
            return x
        return x, tf.gather(self._tensors()[1], index)

    def read(self, indices):
        """The uint8 images of files ``indices`` as one numpy array, streamed in order."""
        tf = _tf()
        indices = np.asarray(indices, np.int64)
        out = np.empty((len(indices), *self.shape), np.uint8)
        with tf.device("/CPU:0"):
            ds = tf.data.Dataset.from_tensor_slices(indices)
        ds = ds.map(plain(self.image), num_parallel_calls=PARALLEL_READS, deterministic=True)
        start = 0
        for batch in ds.batch(64).prefetch(1).as_numpy_iterator():
            out[start:start + len(batch)] = batch
            start += len(batch)
        return out
