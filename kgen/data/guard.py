"""Guards of the data given to ``fit()``: every batch checked where it is cheap.

A model says what its training data hold with an `Expectation` (images, vectors, integer
levels or class labels, the shape of one example, the number of classes);
``GenerativeModel.fit`` checks numpy arrays with it before training, and wraps datasets
in a guard that checks each batch as it is read:

- `guard_dataset` (``tf.data.Dataset``): the shapes and dtypes of its ``element_spec``
  are checked at once; the values of every batch in the pipeline, with TensorFlow ops
  (a reduction over the batch), so the check costs next to nothing and runs on every
  backend (JAX and PyTorch read ``tf.data`` pipelines too);
- `GuardedPyDataset` (``keras.utils.PyDataset``): every batch in numpy as it is made.

A bad batch stops training with `BadBatch`, which names the batch and the problem (NaN or
infinite values, floats outside ``[-1, 1]``, a class label out of range), and ``fit()``
adds the epoch. Float images that all lie in ``[0, 1]`` warn once
(`kgen.checks.ZeroToOneWarning`), as the package's rule says. Integer images are not
converted here: the training step converts uint8 and uint16 batches
(`kgen.checks.data_space_batch`), so a pipeline can keep its batches small.
"""

import dataclasses
import re
from typing import Optional

import keras
import numpy as np

from kgen import checks

#: The start of the message of a failed check inside a ``tf.data`` pipeline.
MARKER = "kgen-bad-batch"
_CODES = {1: "nonfinite", 2: "range", 3: "labels"}
_PARSE_RAISED = re.compile(r"Bad (training data|validation data) in batch \d+ \(index (\d+)\): "
                           r"([^\n]+)")
_PARSE = re.compile(MARKER + r"\|([^|]*)\|([^|]*)\|(\d+)\|(\d+)\|([^|]*)\|([^|]*)\|"
                                r"([^|]*)\|([^|]*)\|end")


@dataclasses.dataclass(frozen=True)
class Expectation:
    """What a model takes as training data.

    Args:
        model: the model's class name, for the messages.
        x: what ``x`` holds: ``"images"``, ``"samples"`` (images, or vectors such as 2-D
            points), ``"levels"`` (integer levels, not converted) or None (not checked).
        y: what ``y`` holds: ``"labels"``, ``"images"`` (targets, a second domain) or
            None (not checked).
        x_shape: the shape of one example of ``x``, or None when unknown.
        y_shape: the shape of one example of ``y`` (images), or None.
        num_classes: the number of classes of a class-conditional model, or None.
        y_name: what ``y`` is called in the messages (``"B images"`` for the second
            domain of an unpaired model); None: ``"target images"`` or ``"labels"``.
    """

    model: str
    x: Optional[str] = "samples"
    y: Optional[str] = None
    x_shape: Optional[tuple] = None
    y_shape: Optional[tuple] = None
    num_classes: Optional[int] = None
    y_name: Optional[str] = None

    def parts(self):
        """``(index, role, name, shape)`` of each checked part of a batch."""
        out = []
        if self.x is not None:
            out.append((0, self.x, _part_name(self.x, 0), self.x_shape))
        if self.y is not None:
            out.append((1, self.y, self.y_name or _part_name(self.y, 1), self.y_shape))
        return out


def _part_name(role, index, rank=None):
    """What a part of a batch is called in the messages."""
    if role == "labels":
        return "labels"
    if role == "images" and index == 1:
        return "target images"
    if role == "samples" and rank is not None and rank >= 3:
        return "images"
    return {"images": "images", "samples": "samples", "levels": "levels"}[role]


class BadBatch(ValueError):
    """A batch of the training (or validation) data failed a check.

    Attributes:
        batch: the index of the batch in its epoch (from 0).
        problem: what is wrong, and how to fix it.
        data: ``"training data"`` or ``"validation data"``.
    """

    def __init__(self, batch, problem, data="training data"):
        self.batch = int(batch)
        self.problem = problem
        self.data = data
        super().__init__(self.message())

    def message(self, epoch=None):
        """The full message, with the (0-based) ``epoch`` counted from 1 as Keras shows it."""
        where = f"epoch {epoch + 1}, " if epoch is not None else ""
        return (f"Bad {self.data} in {where}batch {self.batch + 1} (index {self.batch}): "
                f"{self.problem}")


def _problem(kind, name, low, high, expectation):
    if kind == "nonfinite":
        return (f"the {name} contain NaN or infinite values. Remove or repair those "
                "examples (np.isfinite finds them) before training.")
    if kind == "range":
        return (f"the float {name} lie in [{_number(low)}, {_number(high)}], outside kgen's "
                "data space [-1, 1]. Scale 0..255 values with x / 127.5 - 1 and 0..1 "
                "values with 2 * x - 1, or give uint8 images, which kgen converts.")
    n = expectation.num_classes
    return (f"the labels include {_number(low)}, but {expectation.model} was built with "
            f"num_classes={n}, so labels must be class indices 0..{n - 1} (the largest "
            f"label of this batch is {_number(high)}). Build the model with num_classes "
            "set to the number of classes of the data, or remap the labels.")


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return str(text)
    return f"{value:g}"


def bad_batch_of(error):
    """The `BadBatch` that ``error`` reports (raised by a guard), or None.

    A guarded ``tf.data`` pipeline fails with TensorFlow's ``InvalidArgumentError`` (on
    every backend); its message carries the check that failed, read back here.

    Example:

    ```python
    from kgen.data.guard import BadBatch, bad_batch_of

    bad_batch_of(ValueError("another problem"))          # None
    bad_batch_of(BadBatch(2, "NaN")).batch               # 2
    ```
    """
    if isinstance(error, BadBatch):
        return error
    text = str(error)
    if MARKER not in text:
        # A BadBatch raised inside a PyDataset that TensorFlow reads (the TensorFlow
        # backend) reaches fit() as TensorFlow's error, with the message inside.
        match = _PARSE_RAISED.search(text)
        if match is None:
            return None
        data, index, problem = match.groups()
        return BadBatch(int(index), problem.strip(), data)
    match = _PARSE.search(text)
    if match is None:
        return None
    data, name, code, batch, low, high, model, classes = match.groups()
    expectation = Expectation(model, num_classes=int(classes) if classes.isdigit() else None)
    return BadBatch(int(batch), _problem(_CODES.get(int(code), "range"), name, low, high,
                                         expectation), data)


# ------------------------------------------------------------------- tf.data
def is_tf_dataset(value):
    """Whether ``value`` is a ``tf.data.Dataset`` (without importing TensorFlow)."""
    return type(value).__module__.startswith("tensorflow") and hasattr(value, "element_spec")


def guard_dataset(dataset, expectation, data="training data"):
    """``dataset`` with the checks of ``expectation`` on every batch.

    The shapes and dtypes of ``dataset.element_spec`` are checked now (a clear error
    before training); the values of each batch are checked in the pipeline: non-finite
    values, floats outside ``[-1, 1]`` (images), labels outside ``0..num_classes - 1``.
    The first batch of each pass warns when its float images all lie in ``[0, 1]``.

    Args:
        dataset: a batched ``tf.data.Dataset`` of ``x``, ``(x,)``, ``(x, y)`` or
            ``(x, y, sample_weight)``.
        expectation: an `Expectation`.
        data: ``"training data"`` or ``"validation data"``.

    Returns:
        A ``tf.data.Dataset`` with the same elements (a dataset of another structure,
        such as a dict, is returned as it is).

    Raises:
        TypeError, ValueError: an element spec the model cannot take.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from kgen.data.guard import Expectation, guard_dataset

    ds = tf.data.Dataset.from_tensor_slices(np.full((4, 2, 2, 1), 3.0, "float32")).batch(2)
    guarded = guard_dataset(ds, Expectation("GAN", "images", x_shape=(2, 2, 1)))
    try:
        next(iter(guarded))
    except Exception as error:   # the values 3.0 lie outside [-1, 1]
        print(type(error).__name__)
    ```
    """
    from kgen.data.pipeline import _import_tensorflow

    tf = _import_tensorflow()
    spec = dataset.element_spec
    single = not isinstance(spec, (tuple, list))
    specs = (spec,) if single else tuple(spec)
    parts = [p for p in expectation.parts() if p[0] < len(specs)]
    if not all(isinstance(specs[index], tf.TensorSpec) for index, *_ in parts):
        return dataset
    parts = [(index, role, _part_name(role, index, specs[index].shape.rank), shape)
             for index, role, _, shape in parts]
    for index, role, name, shape in parts:
        _check_spec(specs[index], role, name, shape, expectation, data)
    checked = [(index, role, name) for index, role, name, _ in parts
               if _needs_values(specs[index], role, expectation)]
    if not checked:
        return dataset
    warned = []

    def warner(name):
        def warn(low, high):
            if not warned:   # once per guarded dataset
                warned.append(True)
                checks.check_float_range(np.array([low, high], np.float32), name)
            return True

        return warn

    def check(index, *element):
        assertions = []
        for position, role, name in checked:
            value = element[position]
            if role == "labels":
                assertions.append(_label_assertion(tf, value, index, name, data,
                                                   expectation))
                continue
            images = role == "images" or len(value.shape) == 4
            assertion, low, high = _float_assertion(tf, value, index, name, data, images,
                                                    expectation)
            assertions.append(assertion)
            if images:
                assertions.append(tf.cond(
                    tf.logical_and(tf.equal(index, 0), tf.logical_and(low >= 0.0, high <= 1.0)),
                    lambda low=low, high=high, name=name: tf.py_function(
                        warner(f"{name} of the {data}"), [low, high], tf.bool),
                    lambda: tf.constant(True)))
        with tf.control_dependencies(assertions):
            out = tuple(tf.identity(v) for v in element)
        return out[0] if single else out

    def unpack(index, element):
        return check(index, *((element,) if single else tuple(element)))

    from kgen.data.epochs import plain

    return dataset.enumerate().map(plain(unpack))


def _check_spec(spec, role, name, shape, expectation, data):
    dtype = spec.dtype.name
    if role == "labels":
        if not (spec.dtype.is_integer or spec.dtype.is_floating) or dtype == "bool":
            raise TypeError(f"The {name} of the {data} have dtype {dtype}; "
                            f"{expectation.model} takes integer class indices.")
        if spec.shape.rank is not None and (
                spec.shape.rank > 2 or spec.shape.rank == 2 and spec.shape[-1] not in (1, None)):
            raise ValueError(
                f"The {name} of the {data} have shape {tuple(spec.shape)}: "
                f"{expectation.model} takes one class index per example, (batch,). For "
                "one-hot labels use tf.argmax(labels, -1).")
        return
    if role == "levels":
        return
    images = role == "images" or spec.shape.rank == 4
    if images and dtype not in checks.INTEGER_IMAGES and not spec.dtype.is_floating:
        hint = " If they are pixel values 0..255, cast them to uint8." \
            if spec.dtype.is_integer else ""
        raise TypeError(f"The {name} of the {data} have dtype {dtype}: kgen trains on "
                        f"uint8 (0..255), uint16 (0..65535) or float images in [-1, 1].{hint}")
    if shape is None or spec.shape.rank is None:
        return
    got = tuple(spec.shape[1:])
    if len(got) != len(shape) or any(g is not None and g != s for g, s in zip(got, shape)):
        if images and len(got) == 3 and got[0] in checks.CHANNELS and len(shape) == 3 \
                and got[-1] == shape[0]:
            raise ValueError(
                f"The {name} of the {data} have shape {got}, which looks channels-first "
                f"(C, H, W); {expectation.model} takes channels-last images of shape "
                f"{tuple(shape)}: use tf.transpose(x, (0, 2, 3, 1)).")
        raise ValueError(checks.model_shape_message(expectation.model, shape, got,
                                                    f"{name} of the {data}"))


def _needs_values(spec, role, expectation):
    if role == "labels":
        return expectation.num_classes is not None
    if role == "levels":
        return False
    return spec.dtype.is_floating


def _message(tf, code, index, name, data, low, high, expectation):
    classes = "" if expectation.num_classes is None else str(expectation.num_classes)
    return tf.strings.format(
        f"{MARKER}|{data}|{name}|{{}}|{{}}|{{}}|{{}}|{expectation.model}|{classes}|end",
        (code, index, low, high))


def _float_assertion(tf, value, index, name, data, images, expectation):
    value = tf.cast(value, tf.float32) if value.dtype != tf.float64 else value
    finite = tf.math.is_finite(value)
    all_finite = tf.reduce_all(finite)
    # min and max over the finite values (the whole batch when all are finite).
    low = tf.reduce_min(tf.where(finite, value, tf.zeros_like(value)))
    high = tf.reduce_max(tf.where(finite, value, tf.zeros_like(value)))
    tolerance = checks.FLOAT_TOLERANCE
    in_range = tf.logical_or(tf.constant(not images),
                             tf.logical_and(low >= -1.0 - tolerance, high <= 1.0 + tolerance))
    code = tf.where(all_finite, tf.where(in_range, 0, 2), 1)
    assertion = tf.debugging.Assert(
        tf.equal(code, 0), [_message(tf, code, index, name, data, low, high, expectation)])
    return assertion, tf.cast(low, tf.float32), tf.cast(high, tf.float32)


def _label_assertion(tf, labels, index, name, data, expectation):
    num_classes = expectation.num_classes
    values = tf.reshape(tf.cast(labels, tf.float64), [-1])
    bad = tf.logical_or(tf.logical_or(values < 0, values >= num_classes),
                        tf.not_equal(values, tf.floor(values)))
    first_bad = tf.reduce_min(tf.where(bad, tf.range(tf.size(values), dtype=tf.int32),
                                       tf.size(values)))
    label = tf.gather(tf.concat([values, [0.0]], 0), first_bad)
    code = tf.where(tf.reduce_any(bad), 3, 0)
    return tf.debugging.Assert(
        tf.equal(code, 0),
        [_message(tf, code, index, name, data, label, tf.reduce_max(values), expectation)])


# ----------------------------------------------------------------- PyDataset
class GuardedPyDataset(keras.utils.PyDataset):
    """A ``keras.utils.PyDataset`` whose batches are checked (in numpy) as they are made.

    The batches are those of ``dataset``; each is checked against ``expectation`` as
    `guard_dataset` checks the batches of a pipeline, and a bad one raises `BadBatch`.

    Args:
        dataset: the ``keras.utils.PyDataset``.
        expectation: an `Expectation`.
        data: ``"training data"`` or ``"validation data"``.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.data.guard import Expectation, GuardedPyDataset

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return np.zeros((4, 2, 2, 1), "float32")

    guarded = GuardedPyDataset(Batches(), Expectation("GAN", "images", x_shape=(2, 2, 1)))
    guarded[0].shape   # (4, 2, 2, 1)
    ```
    """

    def __init__(self, dataset, expectation, data="training data"):
        super().__init__(workers=dataset.workers,
                         use_multiprocessing=dataset.use_multiprocessing,
                         max_queue_size=dataset.max_queue_size)
        self.dataset = dataset
        self.expectation = expectation
        self.data = data

    def __len__(self):
        return len(self.dataset)

    @property
    def num_batches(self):
        return self.dataset.num_batches

    def on_epoch_begin(self):
        self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()

    def __getitem__(self, index):
        batch = self.dataset[index]
        check_batch(batch, self.expectation, index, self.data)
        return batch


def check_batch(batch, expectation, index, data="training data"):
    """Checks one batch (numpy arrays) against ``expectation``; raises `BadBatch`.

    Example:

    ```python
    import numpy as np
    from kgen.data.guard import Expectation, check_batch

    expectation = Expectation("ConditionalGAN", "images", "labels", (2, 2, 1), num_classes=3)
    check_batch((np.zeros((2, 2, 2, 1), "float32"), np.array([0, 2])), expectation, 0)
    ```
    """
    parts = batch if isinstance(batch, (tuple, list)) else (batch,)
    for position, role, name, shape in expectation.parts():
        if position >= len(parts) or parts[position] is None:
            continue
        try:
            value = np.asarray(checks._to_numpy(parts[position]))
        except (TypeError, ValueError):
            continue
        name = _part_name(role, position, value.ndim)
        if role == "labels":
            if expectation.num_classes is None:
                continue
            try:
                checks.labels(value, expectation.num_classes, name=name)
            except (TypeError, ValueError) as error:
                raise BadBatch(index, str(error), data) from None
            continue
        if role == "levels":
            continue
        images = role == "images" or value.ndim == 4
        if images or shape is not None:
            if shape is not None and tuple(value.shape[1:]) != tuple(shape):
                raise ValueError(checks.model_shape_message(
                    expectation.model, shape, value.shape[1:], f"{name} of the {data}"))
        if value.dtype.kind != "f":
            if images and value.dtype.name not in checks.INTEGER_IMAGES:
                raise TypeError(f"The {name} of the {data} have dtype {value.dtype}: kgen "
                                "trains on uint8 (0..255), uint16 (0..65535) or float "
                                "images in [-1, 1].")
            continue
        finite = np.isfinite(value)
        if not finite.all():
            raise BadBatch(index, _problem("nonfinite", name, 0, 0, expectation), data)
        if images and value.size:
            low, high = float(value.min()), float(value.max())
            if low < -1.0 - checks.FLOAT_TOLERANCE or high > 1.0 + checks.FLOAT_TOLERANCE:
                raise BadBatch(index, _problem("range", name, low, high, expectation), data)
            if index == 0:
                checks.check_float_range(value, f"{data} ({name})")
