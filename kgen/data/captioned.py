"""Captioned images: bundled scenes of coloured digits, and captions beside image files.

**The bundled scenes.** ``"captioned_digits"`` composes 32x32 RGB scenes from the
handwritten digits shipped inside scikit-learn, offline and deterministically for a seed.
Each scene has five attributes (`ATTRIBUTES`): the digit's class, its colour, the
background colour (never the digit's colour), its size (``small``: 12 pixels, ``large``:
20 pixels) and its position (``top left``, ``top right``, ``bottom left``,
``bottom right``, ``centre``, with a jitter of up to one pixel), and the five `TEMPLATES`
give it five captions: ``"a small red seven in the top left on a blue background"``,
``"red 7, top left, blue background"``, ...

Splits (`SPLITS`): ``"train"`` draws its digit images from the training digits and
``"test"`` from the held-out digits of ``kgen.data.load("digits", split=...)``;
``"all"`` is the two together. None of them ever shows a pair of `HELD_OUT` (a digit in
one colour: a red zero, a green one, ...): those scenes make the ``"heldout"`` split
(test digits only, not part of ``"all"``), which measures compositional generalisation:
every digit and every colour is seen in training, that combination never.

**Captions as data.** A data source of ``kind="captioned"`` (`kgen.data.open_source`)
yields ``(images, captions)`` batches: images in ``[-1, 1]`` and a ``(batch, T)`` string
tensor of each image's captions, where ``T`` is the most captions any image has and an
empty string marks a missing caption. `caption_tokens` turns such a table into token ids
with a model's tokenizer (the missing captions become rows of zeros), and `tokenized`
turns a whole source into one that yields ``(images, token_ids)``, ready for ``fit()``.
Captioned sources are ``"captioned_digits"`` (five captions per scene),
``"tfds:NAME[:SPLIT]"`` (a prepared TensorFlow Datasets set: its images and the text
features named as captions, `tfds_caption_features`, read by `open_tfds`) and
``"folder:PATH"``: the images of a folder with their captions in a file beside them
(`folder_captions`):

- ``PATH/captions.jsonl``: one JSON object per line,
  ``{"file": "0001.png", "caption": "a red car"}``;
- or ``PATH/captions.txt``: one caption per line, the file name, a tab, the caption:
  ``0001.png<TAB>a red car``.

An image may have several lines (several captions); every image of the folder needs at
least one, and every line must name an image of the folder.

Example:

```python
import kgen

x, captions, attributes = kgen.data.load("captioned_digits", split="test", num_samples=8,
                                         return_captions=True, return_attributes=True)
x.shape, captions.shape     # ((8, 32, 32, 3), (8, 5))
captions[0, 0]              # e.g. 'a large green four in the centre on a black background'
```
"""

import functools
import json
import os

import keras
import numpy as np

from kgen import checks
from kgen.data import bundled, folders
from kgen.data.pipeline import ArrayReader, _import_tensorflow
#: The captioned data sets bundled with kgen.
CAPTIONED = ("captioned_digits",)
#: The splits of ``"captioned_digits"``.
SPLITS = ("all", "train", "test", "heldout")
#: The side of a scene, in pixels.
SCENE_SIZE = 32

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COLOURS = ("red", "green", "blue", "yellow", "purple", "white", "black")
SIZES = ("small", "large")
POSITIONS = ("top left", "top right", "bottom left", "bottom right", "centre")
#: Each attribute of a scene and its values (the integer attributes index these tuples).
ATTRIBUTES = {"digit": DIGITS, "colour": COLOURS, "background": COLOURS, "size": SIZES,
              "position": POSITIONS}
#: The RGB value of each colour.
RGB = {"red": (220, 40, 40), "green": (40, 180, 70), "blue": (40, 90, 235),
       "yellow": (245, 215, 40), "purple": (150, 60, 200), "white": (245, 245, 245),
       "black": (15, 15, 15)}
#: The side of a digit of each size, in pixels.
SIDES = {"small": 12, "large": 20}
#: ``(digit, colour)`` pairs that only the ``"heldout"`` split shows: digit ``d`` in
#: colour ``COLOURS[d % 7]``.
HELD_OUT = tuple((digit, COLOURS[digit % len(COLOURS)]) for digit in range(10))
#: The caption templates: ``{size}``, ``{colour}``, ``{digit}`` (a word), ``{numeral}``,
#: ``{position}`` and ``{background}``.
TEMPLATES = (
    "a {size} {colour} {digit} in the {position} on a {background} background",
    "{colour} {numeral}, {position}, {background} background",
    "a photo of the digit {digit} in {colour} on {background}, {size}, {position}",
    "{size} {colour} number {numeral} at the {position} of a {background} picture",
    "the {digit} is {colour} and {size}, on {background}, at the {position}",
)
#: The largest ``group_size`` of `load_scenes` (a colour is held out for up to two digits).
MAX_GROUP = 8
#: Scenes per source digit image when ``num_samples`` is None.
SCENES_PER_DIGIT = 4
#: The files of a captioned folder that list its captions, in the order they are looked for.
CAPTIONS_FILES = ("captions.jsonl", "captions.txt")

_STREAMS = {"train": 0, "test": 1, "heldout": 2}
_JITTER = 1
_MARGIN = 1


# ------------------------------------------------------------------ scenes
def load_scenes(split="train", num_samples=None, seed=0, group_size=1):
    """The scenes of ``"captioned_digits"``: images, captions and attributes.

    Args:
        split: ``"train"``, ``"test"``, ``"heldout"`` or ``"all"`` (see `kgen.data.load`).
        num_samples: the number of scenes, or None for four per digit image of the split.
        seed: the seed of the attributes, the digit images chosen and the jitter; the
            same seed gives the same scenes, and each split draws from its own stream.
        group_size: 1, or consecutive groups of this many scenes that share their colour,
            background, size and position and show different digits (at most 8; digit
            images then drawn at random from the split's): in a batch of whole groups
            every scene has ``group_size - 1`` others that only its digit tells apart,
            hard negatives for a contrastive model (`SceneBatches`). Not for
            ``"heldout"``, whose colour is decided by the digit.

    Returns:
        A dict: ``"images"`` uint8 ``(N, 32, 32, 3)``; ``"captions"`` a string array
        ``(N, 5)`` (one column per template); ``"attributes"`` a dict of int32 arrays
        ``(N,)`` indexing the values of `ATTRIBUTES`.

    Raises:
        TypeError: a ``num_samples``, ``seed`` or ``group_size`` that is not an integer.
        ValueError: an unknown split, ``num_samples`` below 1, or a ``group_size`` out of
            range.

    Example:

    ```python
    from kgen.data import captioned

    scenes = captioned.load_scenes("heldout", num_samples=4, seed=0)
    digit, colour = scenes["attributes"]["digit"][0], scenes["attributes"]["colour"][0]
    (int(digit), captioned.COLOURS[colour]) in captioned.HELD_OUT   # True
    ```
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r} for data set 'captioned_digits'; use one "
                         f"of {', '.join(SPLITS)}.")
    num_samples = checks.optional_integer(num_samples, "num_samples", minimum=1)
    seed = checks.seed(seed)
    group_size = checks.integer(group_size, "group_size", minimum=1, maximum=MAX_GROUP)
    if group_size > 1 and split in ("heldout", "all"):
        raise ValueError(f"group_size applies to the 'train' and 'test' splits; got split "
                         f"{split!r}.")
    if split == "all":
        train_count = test_count = None
        if num_samples is not None:
            train_count = max(1, round(0.8 * num_samples)) if num_samples > 1 else 1
            test_count = num_samples - train_count
        parts = [load_scenes("train", train_count, seed)]
        if test_count is None or test_count > 0:
            parts.append(load_scenes("test", test_count, seed))
        return {"images": np.concatenate([p["images"] for p in parts]),
                "captions": np.concatenate([p["captions"] for p in parts]),
                "attributes": {k: np.concatenate([p["attributes"][k] for p in parts])
                               for k in ATTRIBUTES}}
    digits, classes = _digits("train" if split == "train" else "test")
    count = SCENES_PER_DIGIT * len(digits) if num_samples is None else num_samples
    rng = np.random.default_rng([seed, _STREAMS[split]])
    # Every digit image is used once before any is used again.
    rounds = -(-count // len(digits))
    source = np.concatenate([rng.permutation(len(digits)) for _ in range(rounds)])[:count]
    digit = classes[source].astype(np.int32)
    held = np.asarray([COLOURS.index(dict(HELD_OUT)[d]) for d in digit], np.int32)
    if group_size > 1:
        return _grouped_scenes(digits, classes, count, group_size, rng)
    if split == "heldout":
        colour = held
    else:   # any colour but the digit's held-out one
        colour = rng.integers(0, len(COLOURS) - 1, size=count).astype(np.int32)
        colour = colour + (colour >= held)
    background = rng.integers(0, len(COLOURS) - 1, size=count).astype(np.int32)
    background = background + (background >= colour)
    size = rng.integers(0, len(SIZES), size=count).astype(np.int32)
    position = rng.integers(0, len(POSITIONS), size=count).astype(np.int32)
    jitter = rng.integers(-_JITTER, _JITTER + 1, size=(count, 2))
    attributes = {"digit": digit, "colour": colour, "background": background, "size": size,
                  "position": position}
    images = render(digits[source, ..., 0], attributes, jitter)
    captions = np.asarray([[_caption(*row, template) for template in TEMPLATES]
                           for row in zip(digit, colour, background, size, position)])
    return {"images": images, "captions": captions, "attributes": attributes}


def _grouped_scenes(digits, classes, count, group_size, rng):
    """Scenes in groups that share every attribute but the digit (train and test splits)."""
    groups = -(-count // group_size)
    colour = rng.integers(0, len(COLOURS), size=groups)
    background = rng.integers(0, len(COLOURS) - 1, size=groups)
    background = background + (background >= colour)
    size = rng.integers(0, len(SIZES), size=groups)
    position = rng.integers(0, len(POSITIONS), size=groups)
    by_class = [np.flatnonzero(classes == d) for d in range(len(DIGITS))]
    held = dict(HELD_OUT)
    digit = np.concatenate([
        rng.choice([d for d in range(len(DIGITS)) if held[d] != COLOURS[c]], group_size,
                   replace=False) for c in colour]).astype(np.int32)[:count]
    source = np.asarray([rng.choice(by_class[d]) for d in digit])
    attributes = {"digit": digit}
    for name, values in (("colour", colour), ("background", background), ("size", size),
                         ("position", position)):
        attributes[name] = np.repeat(values, group_size)[:count].astype(np.int32)
    jitter = rng.integers(-_JITTER, _JITTER + 1, size=(count, 2))
    images = render(digits[source, ..., 0], attributes, jitter)
    captions = np.asarray([[_caption(*row, template) for template in TEMPLATES]
                           for row in zip(*(attributes[n] for n in ATTRIBUTES))])
    return {"images": images, "captions": captions, "attributes": attributes}


@functools.lru_cache(maxsize=2)
def _digits(split):
    """The digit images (uint8 ``(N, 8, 8, 1)``) and classes of a split, read once."""
    images, classes = bundled._load_digits(split)
    images.setflags(write=False)
    classes.setflags(write=False)
    return images, classes


def _caption(digit, colour, background, size, position, template):
    return template.format(size=SIZES[size], colour=COLOURS[colour], digit=DIGITS[digit],
                           numeral=int(digit), position=POSITIONS[position],
                           background=COLOURS[background])


def render(digits, attributes, jitter=None):
    """Scenes of ``digits`` (uint8 ``(N, 8, 8)``) with the given attributes.

    The digit's intensity is its opacity: each pixel is the background colour blended
    with the digit colour by the digit's (bilinearly scaled) value.

    Args:
        digits: uint8 ``(N, 8, 8)`` digit images (0..255).
        attributes: a dict of int arrays ``(N,)``: ``colour``, ``background``, ``size``
            and ``position`` (``digit`` is not used).
        jitter: None, or int offsets ``(N, 2)`` (rows, columns) added to each position.

    Returns:
        uint8 scenes ``(N, 32, 32, 3)``.

    Example:

    ```python
    import numpy as np
    from kgen.data import captioned

    digit = np.full((1, 8, 8), 255, np.uint8)
    scene = captioned.render(digit, {"colour": [0], "background": [2], "size": [0],
                                     "position": [4]})
    scene[0, 16, 16].tolist(), scene[0, 0, 0].tolist()   # ([220, 40, 40], [40, 90, 235])
    ```
    """
    digits = np.asarray(digits)
    count = len(digits)
    attributes = {k: np.asarray(v, np.int64).reshape(-1) for k, v in attributes.items()}
    jitter = np.zeros((count, 2), np.int64) if jitter is None else np.asarray(jitter)
    palette = np.asarray([RGB[c] for c in COLOURS], np.float32)
    # The digit's opacity on the whole canvas, each digit scaled to its size and placed.
    opacity = np.zeros((count, SCENE_SIZE, SCENE_SIZE), np.float32)
    for size_index, size_name in enumerate(SIZES):
        chosen = np.flatnonzero(attributes["size"] == size_index)
        if not len(chosen):
            continue
        side = SIDES[size_name]
        scale = _bilinear(digits.shape[-1], side)
        alpha = scale @ (digits[chosen].astype(np.float32) / 255.0) @ scale.T
        corners = np.asarray([_corner(p, side) for p in range(len(POSITIONS))])
        corner = corners[attributes["position"][chosen]] + jitter[chosen]
        corner = np.clip(corner, 0, SCENE_SIZE - side)
        rows = corner[:, :1] + np.arange(side)
        columns = corner[:, 1:] + np.arange(side)
        opacity[chosen[:, None, None], rows[:, :, None], columns[:, None, :]] = \
            np.clip(alpha, 0.0, 1.0)
    opacity = opacity[..., None]
    background = palette[attributes["background"]][:, None, None, :]
    ink = palette[attributes["colour"]][:, None, None, :]
    canvas = background * (1.0 - opacity) + ink * opacity
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def _bilinear(source, target):
    """The ``(target, source)`` matrix of bilinear scaling (half-pixel centres)."""
    matrix = np.zeros((target, source), np.float32)
    position = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, source - 1)
    weight = position - low
    matrix[np.arange(target), low] += 1 - weight
    matrix[np.arange(target), high] += weight
    return matrix


def _corner(position, side):
    far = SCENE_SIZE - _MARGIN - side
    centre = (SCENE_SIZE - side) // 2
    return {0: (_MARGIN, _MARGIN), 1: (_MARGIN, far), 2: (far, _MARGIN), 3: (far, far),
            4: (centre, centre)}[position]


def _value(attributes, name):
    value = attributes[name]
    values = ATTRIBUTES[name]
    if isinstance(value, str):
        if value not in values:
            raise ValueError(f"Unknown {name} {value!r}; the values are {values}.")
        return value
    index = checks.integer(value, name, minimum=0, maximum=len(values) - 1)
    return values[index]


def caption(attributes, template=0):
    """The caption of a scene with ``attributes``, from template ``template``.

    Args:
        attributes: a mapping with the five attributes of `ATTRIBUTES`, each a value
            (``"red"``) or its index (``0``).
        template: the index of the template in `TEMPLATES`.

    Returns:
        The caption, a string.

    Raises:
        KeyError: an attribute is missing.
        ValueError: an unknown value or template.

    Example:

    ```python
    from kgen.data import captioned

    captioned.caption({"digit": 7, "colour": "red", "background": "blue",
                       "size": "small", "position": "top left"})
    # 'a small red seven in the top left on a blue background'
    ```
    """
    template = checks.integer(template, "template", minimum=0, maximum=len(TEMPLATES) - 1)
    missing = [name for name in ATTRIBUTES if name not in attributes]
    if missing:
        raise KeyError(f"A caption needs every attribute of {list(ATTRIBUTES)}; missing "
                       f"{missing}.")
    indices = [ATTRIBUTES[name].index(_value(attributes, name)) for name in ATTRIBUTES]
    return _caption(*indices, TEMPLATES[template])


def one_attribute_changes(attributes):
    """Every scene that differs from ``attributes`` in exactly one attribute.

    A change of colour or background to the other one's colour is left out (the digit is
    never drawn in its background's colour). Used to score a model on captions that are
    almost right (``benchmarks/clip.py``).

    Args:
        attributes: a mapping of the five attributes to their indices (or values).

    Returns:
        A list of ``(name, changed)``: the attribute changed and the new attributes (a
        dict of indices).

    Example:

    ```python
    from kgen.data import captioned

    changes = captioned.one_attribute_changes({"digit": 7, "colour": 0, "background": 2,
                                               "size": 0, "position": 0})
    len(changes)   # 9 digits + 5 colours + 5 backgrounds + 1 size + 4 positions = 24
    ```
    """
    base = {name: ATTRIBUTES[name].index(_value(attributes, name)) for name in ATTRIBUTES}
    changes = []
    for name, values in ATTRIBUTES.items():
        for index in range(len(values)):
            if index == base[name]:
                continue
            changed = dict(base, **{name: index})
            if changed["colour"] == changed["background"]:
                continue
            changes.append((name, changed))
    return changes


class SceneBatches(keras.utils.PyDataset):
    """Fresh ``"captioned_digits"`` scenes for every batch: ``(images, token_ids)``.

    Batch ``i`` of epoch ``e`` is `load_scenes` of ``batch_size`` scenes with a seed drawn
    from ``(seed, e, i)``: a new set of scenes at every step (the digit images of the
    split, never a `HELD_OUT` pair), so a model sees far more attribute combinations
    than a fixed set holds. With ``group_size > 1`` each batch is made of groups of scenes
    that differ only in their digit, so a contrastive model must tell the digits apart
    to match them with their captions. A `keras.utils.PyDataset` for ``fit()``: each
    element is uint8 images ``(batch_size, 32, 32, 3)`` and the int32 token ids of their
    five captions ``(batch_size, 5, context_length)``.

    Args:
        tokenizer: a `kgen.networks.Tokenizer` (a model's ``tokenizer``).
        batch_size: scenes per batch (a multiple of ``group_size``).
        steps: batches per epoch.
        group_size: scenes per group (see `load_scenes`).
        split: ``"train"`` or ``"test"``.
        seed: the seed of every batch.
        **kwargs: `keras.utils.PyDataset` arguments (``workers``...).

    Example:

    ```python
    import kgen
    from kgen.data import captioned

    tokenizer = kgen.networks.Tokenizer.adapted(captioned.load_scenes("train", 64)["captions"])
    batches = captioned.SceneBatches(tokenizer, batch_size=8, steps=2, group_size=4)
    x, ids = batches[0]     # (8, 32, 32, 3) uint8, (8, 5, 14) int32
    ```
    """

    def __init__(self, tokenizer, batch_size=128, steps=100, group_size=1, split="train",
                 seed=0, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.batch_size = checks.integer(batch_size, "batch_size", minimum=1)
        self.steps = checks.integer(steps, "steps", minimum=1)
        self.group_size = checks.integer(group_size, "group_size", 1, MAX_GROUP)
        if self.batch_size % self.group_size:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of "
                             f"group_size ({self.group_size}).")
        self.split = checks.one_of(split, "split", ("train", "test"))
        self.seed = checks.seed(seed)
        self.epoch = 0

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if not 0 <= index < self.steps:
            raise IndexError(f"Batch {index} of {self.steps}.")
        seed = int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0])
        scenes = load_scenes(self.split, self.batch_size, seed=seed,
                             group_size=self.group_size)
        return scenes["images"], caption_tokens(scenes["captions"], self.tokenizer)

    def on_epoch_end(self):
        self.epoch += 1


# ------------------------------------------------------------------ token ids
def caption_tokens(captions, tokenizer):
    """Token ids of a caption table, with zero rows for the missing captions.

    Args:
        captions: strings: a vector ``(N,)`` (one caption per image) or a table
            ``(N, T)`` (up to ``T`` captions per image, an empty string for a missing
            one; every image needs at least one).
        tokenizer: a `kgen.networks.Tokenizer` (or any callable from strings to int ids
            of shape ``strings.shape + (context_length,)``).

    Returns:
        int32 ids ``(N, L)`` or ``(N, T, L)``; a missing caption is a row of zeros.

    Raises:
        TypeError: captions that are not strings.
        ValueError: an empty table, an image with no caption, or a caption longer than
            the tokenizer's context.

    Example:

    ```python
    import numpy as np
    import kgen
    from kgen.data import captioned

    tokenizer = kgen.networks.Tokenizer(["red", "blue", "seven"], context_length=4)
    ids = captioned.caption_tokens(np.array([["red seven", ""], ["blue", "red"]]), tokenizer)
    ids.shape, ids[0, 1].tolist()   # ((2, 2, 4), [0, 0, 0, 0])
    ```
    """
    table = caption_table(captions)
    ids = np.asarray(tokenizer(table), np.int32)
    if table.ndim == 2:
        ids = np.where((table == "")[..., None], 0, ids).astype(np.int32)
    return ids


def caption_table(captions, name="captions"):
    """``captions`` as a numpy string array ``(N,)`` or ``(N, T)``, checked.

    Raises:
        TypeError: values that are not strings.
        ValueError: no captions, a rank other than 1 or 2, or (for a table) an image
            whose captions are all empty.
    """
    if isinstance(captions, str):
        raise TypeError(f"{name} must be a list or array of strings, one (or one row) per "
                        f"image; got a single string {captions!r}. Wrap it in a list.")
    if hasattr(captions, "numpy") and not isinstance(captions, np.ndarray):
        captions = captions.numpy()
    try:
        array = np.asarray(captions, dtype=object)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be strings, one (or one row) per image; could not "
                        f"read them ({error}).") from None
    if array.ndim not in (1, 2):
        raise ValueError(f"{name} must be a vector (N,) or a table (N, T) of strings; got "
                         f"shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"No {name}: got an empty array of shape {array.shape}.")
    flat = array.reshape(-1)
    decoded = []
    for value in flat:
        if isinstance(value, (bytes, np.bytes_)):
            value = bytes(value).decode("utf-8")
        if not isinstance(value, str):
            raise TypeError(f"{name} must be strings; got {value!r} "
                            f"({type(value).__name__}).")
        decoded.append(str(value))
    table = np.asarray(decoded, dtype=str).reshape(array.shape)
    if table.ndim == 2:
        empty = np.flatnonzero(np.all(table == "", axis=1))
        if len(empty):
            raise ValueError(f"Every image needs a caption; the rows {empty[:10].tolist()} of "
                             f"the {name} table are all empty strings.")
    return table


# ------------------------------------------------------------------ readers
class CaptionReader:
    """The images of another reader together with their captions (or token ids).

    Args:
        images: an `kgen.data.pipeline.ArrayReader` or `kgen.data.folders.FolderReader`
            of the images (without labels).
        captions: a string table ``(N, T)`` (``""`` for a missing caption) or int32 token
            ids ``(N, T, L)``.

    Example:

    ```python
    import numpy as np
    from kgen.data.captioned import CaptionReader
    from kgen.data.pipeline import ArrayReader

    reader = CaptionReader(ArrayReader(np.zeros((2, 4, 4, 1), np.uint8)),
                           np.array([["a cat"], ["a dog"]]))
    x, text = reader.batch(np.array([1]))
    text.numpy().tolist()   # [[b'a dog']]
    ```
    """

    def __init__(self, images, captions):
        if len(images) != len(captions):
            raise ValueError(f"Got {len(images)} images and {len(captions)} rows of captions.")
        self.images = images
        self.streams = images.streams
        self.captions = np.asarray(captions)
        # DataSource.arrays returns (images, labels) of a reader with labels: the captions.
        self.labels = self.captions
        self._tensor = None

    def __len__(self):
        return len(self.images)

    def _captions(self):
        tf = _import_tensorflow()
        if self._tensor is None:
            with tf.init_scope(), tf.device("/CPU:0"):
                self._tensor = tf.constant(self.captions)
        return self._tensor

    def batch(self, index, flip=None):
        """Images ``index`` in ``[-1, 1]`` and their captions (tensor ops)."""
        tf = _import_tensorflow()
        return self.images.batch(index, flip), tf.gather(self._captions(), index)

    def example(self, index, flip=None):
        """Image ``index`` in ``[-1, 1]`` and its captions (tensor ops)."""
        tf = _import_tensorflow()
        return self.images.example(index, flip), tf.gather(self._captions(), index)

    def read(self, indices):
        """The images ``indices`` as stored (numpy)."""
        return self.images.read(indices)


def _padded(rows):
    """A string table ``(N, T)`` of lists of captions, padded with empty strings."""
    width = max(len(r) for r in rows)
    return np.asarray([list(r) + [""] * (width - len(r)) for r in rows], dtype=str)


def _caption_text(table):
    counts = np.sum(table != "", axis=1)
    low, high = int(counts.min()), int(counts.max())
    each = f"{low}" if low == high else f"{low} to {high}"
    return f", {int(counts.sum())} captions ({each} per image)"


# ------------------------------------------------------------------ sources
def open_bundled(spec, *, image_size, channels, split, seed):
    """The captioned source of a bundled set (``kind="captioned"`` of `open_source`)."""
    from kgen.data import sources

    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r} for {spec!r}; use one of "
                         f"{', '.join(SPLITS)}.")
    scenes = load_scenes(split=split, seed=seed)
    images = scenes["images"]
    if image_size is not None:
        images = sources._resize_array(images, image_size)
    images = sources._convert_channels(images, channels)
    table = scenes["captions"]
    return sources.DataSource(
        spec, "captioned", (CaptionReader(ArrayReader(images), table),),
        shape=images.shape[1:], seed=seed,
        description=f"{spec}: {len(images)} images of {sources._shape_text(images.shape[1:])}"
                    f" (split {split}){_caption_text(table)}")


def open_folder(spec, path, check_files, *, image_size, channels, split, seed):
    """The captioned source of a folder (``kind="captioned"`` of `open_source`)."""
    from kgen.data import sources

    sources._check_split(split, f"Folder {path!r}")
    paths, rows = folder_captions(path)
    survey = sources._checked(paths, check_files, path)
    keep = survey.ok
    shape = folders.image_shape(survey, keep, paths, image_size, channels, repr(path))
    kept = [p for p, k in zip(paths, keep) if k]
    table = _padded([r for r, k in zip(rows, keep) if k])
    reader = folders.FolderReader(kept, shape, image_size, None,
                                  survey.decoded_channels(keep), survey.checked)
    text = (f"{spec}: {len(kept)} images of {sources._shape_text(shape)}{_caption_text(table)}"
            f"{sources._skipped_text(survey.skipped)}")
    return sources.DataSource(spec, "captioned", (CaptionReader(reader, table),), shape=shape,
                              skipped=survey.skipped, seed=seed, description=text)


def open_tfds(spec, name, *, image_size, channels, split, seed):
    """The captioned source of a prepared TensorFlow Datasets set (``"tfds:NAME[:SPLIT]"``).

    The images are the set's ``image`` feature; the captions are its text features
    (`tfds.features.Text`, at any depth, inside sequences too, as COCO's
    ``captions/text``) whose name contains ``caption`` or ``text`` (`tfds_caption_features`);
    an example's captions are every such text it has. Images of several sizes need
    ``image_size`` (each is then resized and centre-cropped as a folder's are, one at a
    time). Nothing is downloaded: a set that is not prepared is a `RuntimeError` that
    says how to prepare it.
    """
    from kgen.data import sources

    examples, info = bundled._tfds_examples(name, split, batch_size=None)
    features = info.features
    if "image" not in features:
        raise ValueError(f"TensorFlow Datasets data set {name!r} has no 'image' feature "
                         f"(features: {', '.join(sorted(features.keys()))}); captioned "
                         "data needs images and their captions.")
    paths = tfds_caption_features(features)
    if not paths:
        raise ValueError(
            f"TensorFlow Datasets data set {name!r} has no text feature named like a caption "
            f"(a Text feature whose name contains 'caption' or 'text'; its features: "
            f"{', '.join(sorted(features.keys()))}). Save the images and a captions.jsonl "
            "in a folder and use folder:PATH instead.")
    images, rows = [], []
    for index, example in enumerate(examples):
        image = np.asarray(example["image"])
        image = image[..., None] if image.ndim == 2 else image
        if image.dtype != np.uint8:
            raise ValueError(f"TensorFlow Datasets data set {name!r} has {image.dtype} "
                             "images; captioned data takes uint8 images.")
        if image_size is not None:
            image = sources._resize_array(image[None], image_size)[0]
        elif images and image.shape != images[0].shape:
            raise ValueError(
                f"TensorFlow Datasets data set {name!r} has images of several sizes "
                f"({sources._shape_text(images[0].shape)} and "
                f"{sources._shape_text(image.shape)}, example {index}): pass image_size "
                "(--image-size on the command line) to bring them to one size.")
        captions = []
        for path in paths:
            value = example
            for key in path:
                value = value[key]
            captions += [_decoded(v).strip() for v in np.ravel(value)]
        rows.append([c for c in captions if c])
        images.append(image)
    if not images:
        raise ValueError(f"TensorFlow Datasets data set {name!r} has no example in split "
                         f"{split!r}.")
    without = [k for k, row in enumerate(rows) if not row]
    if without:
        raise ValueError(f"{len(without)} of the {len(rows)} examples of TensorFlow Datasets "
                         f"data set {name!r} have no caption (the first: example "
                         f"{without[0]}); every image needs at least one.")
    images = sources._convert_channels(np.stack(images), channels)
    table = _padded(rows)
    where = "/".join(paths[0])
    return sources.DataSource(
        spec, "captioned", (CaptionReader(ArrayReader(images), table),),
        shape=images.shape[1:], seed=seed,
        description=f"{spec}: {len(images)} images of {sources._shape_text(images.shape[1:])} "
                    f"(TensorFlow Datasets {name}, split {'train' if split == 'all' else split}, "
                    f"captions from {where}){_caption_text(table)}")


def tfds_caption_features(features, path=()):
    """The paths of the caption features of a TensorFlow Datasets feature dict.

    A caption feature is a ``Text`` feature (at any depth, inside ``Sequence`` features
    too) whose name, or the name of a dict holding it, contains ``caption`` or ``text``:
    ``[("captions", "text")]`` for COCO captions, ``[("caption",)]`` for a set with one
    caption per image.

    Args:
        features: a ``tfds.features.FeaturesDict`` (``info.features``).
        path: the keys leading to ``features`` (for the recursion).

    Returns:
        A list of key tuples.

    Example:

    ```python
    import tensorflow_datasets as tfds
    from kgen.data import captioned

    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(8, 8, 3)), "title": tfds.features.Text(),
        "captions": tfds.features.Sequence({"text": tfds.features.Text()})})
    captioned.tfds_caption_features(features)   # [('captions', 'text')]
    ```
    """
    import tensorflow_datasets as tfds

    if isinstance(features, tfds.features.Sequence):
        return tfds_caption_features(features.feature, path)
    if isinstance(features, tfds.features.Text):
        named = any("caption" in key.lower() or "text" in key.lower() for key in path)
        return [path] if named else []
    if isinstance(features, tfds.features.FeaturesDict):
        return [found for key, value in features.items()
                for found in tfds_caption_features(value, path + (key,))]
    return []


def _decoded(value):
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def folder_captions(path):
    """The image files of a captioned folder and the captions of each.

    The captions are in one file beside the images: ``PATH/captions.jsonl`` (one JSON
    object ``{"file": "0001.png", "caption": "a red car"}`` per line) or
    ``PATH/captions.txt`` (one ``0001.png<TAB>a red car`` per line). File names are
    relative to the folder; an image has as many captions as lines name it; blank lines
    are skipped.

    Args:
        path: the folder (its images as `kgen.data.folders.plain_folder` lists them).

    Returns:
        ``(paths, captions)``: every image file of the folder, sorted, and a list of the
        captions of each.

    Raises:
        FileNotFoundError: no such folder.
        ValueError: no captions file, both of them, a malformed line (named with its
            number), an empty caption, a line naming a file that is not an image of the
            folder, or images without a caption (named).

    Example:

    ```python
    import os, tempfile
    import numpy as np
    from PIL import Image
    from kgen.data.captioned import folder_captions

    folder = tempfile.mkdtemp(dir="/tmp")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(os.path.join(folder, "a.png"))
    with open(os.path.join(folder, "captions.txt"), "w") as file:
        file.write("a.png\\ta black square\\na.png\\tall dark\\n")
    paths, captions = folder_captions(folder)   # [.../a.png], [['a black square', 'all dark']]
    ```
    """
    path = folders.check_folder(path)
    paths = folders.plain_folder(path)
    found = [name for name in CAPTIONS_FILES if os.path.isfile(os.path.join(path, name))]
    if not found:
        raise ValueError(
            f"Folder {path!r} has no captions file: put the captions beside the images in "
            "captions.jsonl (lines {\"file\": \"NAME.png\", \"caption\": \"...\"}) or in "
            "captions.txt (lines NAME.png<TAB>caption).")
    if len(found) > 1:
        raise ValueError(f"Folder {path!r} has both {found[0]} and {found[1]}: keep one "
                         "captions file.")
    listed = os.path.join(path, found[0])
    parse = _json_line if found[0].endswith(".jsonl") else _tab_line
    index = {os.path.relpath(p, path).replace(os.sep, "/"): k for k, p in enumerate(paths)}
    rows = [[] for _ in paths]
    with open(listed, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            name, text = parse(line, f"Line {number} of {listed!r}")
            if name not in index:
                raise ValueError(
                    f"Line {number} of {listed!r} names {name!r}, which is not an image of "
                    f"the folder (the folder's images: {_names(list(index))}). Fix the name "
                    "or remove the line.")
            rows[index[name]].append(text)
    missing = [name for name, k in index.items() if not rows[k]]
    if missing:
        raise ValueError(f"{len(missing)} of the {len(paths)} images of {path!r} have no "
                         f"caption in {found[0]}: {_names(missing)}. Give every image at "
                         "least one caption, or move the others out of the folder.")
    return paths, rows


def _names(names, shown=5):
    text = ", ".join(repr(n) for n in names[:shown])
    return text + (f", ... ({len(names)} in all)" if len(names) > shown else "")


def _listed_caption(text, name, where):
    if not text.strip():
        raise ValueError(f"{where}: the caption of {name!r} is empty.")
    return os.path.normpath(name.strip()).replace(os.sep, "/"), text.strip()


def _json_line(line, where):
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where} is not JSON ({error.msg}): each line must be an object "
                         "such as {\"file\": \"0001.png\", \"caption\": \"a red car\"}.") from None
    if not isinstance(entry, dict) or "file" not in entry or "caption" not in entry:
        raise ValueError(f"{where} must be an object with the keys 'file' and 'caption'; got "
                         f"{line.strip()[:80]!r}.")
    name, text = entry["file"], entry["caption"]
    if not isinstance(name, str) or not isinstance(text, str):
        raise ValueError(f"{where}: 'file' and 'caption' must be strings; got "
                         f"{type(name).__name__} and {type(text).__name__}.")
    return _listed_caption(text, name, where)


def _tab_line(line, where):
    name, tab, text = line.rstrip("\r\n").partition("\t")
    if not tab:
        raise ValueError(f"{where} has no tab: each line must be the file name, a tab and the "
                         f"caption (0001.png<TAB>a red car); got {line.strip()[:80]!r}.")
    return _listed_caption(text, name, where)


def tokenized(source, tokenizer):
    """A captioned data source whose batches carry token ids instead of strings.

    Every caption is tokenized once, here (a caption longer than the tokenizer's context
    is an error, raised now rather than during training).

    Args:
        source: a `kgen.data.DataSource` of ``kind="captioned"``.
        tokenizer: a `kgen.networks.Tokenizer` (a model's ``tokenizer``).

    Returns:
        A `kgen.data.DataSource` whose ``dataset()`` yields ``(images, token_ids)``:
        float32 images in ``[-1, 1]`` and int32 ids ``(batch, T, context_length)``, a row
        of zeros for a missing caption (`kgen.models.CLIP` draws one caption per image).

    Raises:
        ValueError: a source of another kind, or a caption longer than the context.

    Example:

    ```python
    import kgen
    from kgen.data import captioned

    source = kgen.data.open_source("captioned_digits", kind="captioned", split="test")
    tokenizer = kgen.networks.Tokenizer.adapted(source.arrays()[1])
    x, ids = next(iter(captioned.tokenized(source, tokenizer).dataset(8)))
    tuple(ids.shape)   # (8, 5, 16)
    ```
    """
    from kgen.data.sources import DataSource

    if not isinstance(source, DataSource) or source.kind != "captioned":
        raise ValueError("tokenized() takes a data source opened with kind='captioned'; got "
                         f"{source!r}.")
    reader = source._readers[0]
    if reader.captions.dtype.kind != "U":
        raise ValueError(f"{source!r} already yields token ids.")
    ids = caption_tokens(reader.captions, tokenizer)
    return DataSource(source.spec, "captioned", (CaptionReader(reader.images, ids),),
                      shape=source.shape, skipped=source.skipped, seed=source._seed,
                      description=f"{source.description}, as token ids")
