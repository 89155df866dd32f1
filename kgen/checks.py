"""The input checks of every kgen module: one place, one meaning for each kind of input.

Every public function and constructor of kgen checks its arguments with these helpers, so
that the same mistake gets the same message everywhere:

- `integer`, `number`, `one_of`, `seed`: options. A value of the wrong type (a float or a
  bool for an integer, a string for a number) raises `TypeError`; a value of the right
  type outside its range raises `ValueError`.
- `labels`: class labels, with one semantics for every class-conditional family (see
  its docstring).
- `validate_images`, `to_data_space`, `data_space_images`: image batches and *data space*,
  the float32 range ``[-1, 1]`` that every image model works in. The rule, for the whole
  package: uint8 images (``0..255``) are converted by ``x / 127.5 - 1`` and uint16 images
  (``0..65535``) by ``x / 32767.5 - 1``, wherever kgen takes images (``fit()``, the
  conditions of ``generate()``, metrics, pipelines); float images must already lie in
  ``[-1, 1]`` (a rounding overshoot of 1e-5 is clipped) and are refused otherwise; float
  images that all lie in ``[0, 1]`` are taken as they are, with a warning, since they are
  most often ``0..1`` pixel values that should have been scaled with ``2 * x - 1``.
- `network_input_shapes`, `network_output_shape`: what a user's Keras network takes and
  gives, read the same way by every family.

Nothing here imports a backend: the checks run on numpy values and Python numbers before
anything is traced.
"""

import numbers
import warnings

import numpy as np

#: Channel counts of an image (grey, RGB, RGBA).
CHANNELS = (1, 3, 4)
#: Float images may overshoot [-1, 1] by this much (round-off); they are clipped.
FLOAT_TOLERANCE = 1e-5


class ZeroToOneWarning(UserWarning):
    """Float images that all lie in [0, 1] were given where data space is [-1, 1]."""


# ------------------------------------------------------------------ numbers
def _is_integer(value):
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_))


def integer(value, name, minimum=None, maximum=None):
    """``value`` as an int, checked to be an integer in ``[minimum, maximum]``.

    Args:
        value: the value to check.
        name: the argument's name, for the message.
        minimum, maximum: inclusive bounds, or None.

    Returns:
        ``int(value)``.

    Raises:
        TypeError: not an integer (a bool or a float such as ``3.0`` included).
        ValueError: outside the bounds.

    Example:

    ```python
    from kgen import checks
    checks.integer(4, "latent_dim", minimum=1)   # 4
    ```
    """
    if not _is_integer(value):
        raise TypeError(f"{name} must be an integer; got {value!r} "
                        f"({type(value).__name__}).")
    value = int(value)
    _check_bounds(value, name, minimum, maximum, "an integer")
    return value


def optional_integer(value, name, minimum=None, maximum=None):
    """None, or `integer` (``value`` checked the same way)."""
    return None if value is None else integer(value, name, minimum, maximum)


def number(value, name, minimum=None, maximum=None, *, exclusive_minimum=False,
           exclusive_maximum=False):
    """``value`` as a finite float, checked to lie in the given range.

    Args:
        value: the value to check (an int or a float; not a bool).
        name: the argument's name, for the message.
        minimum, maximum: bounds, or None.
        exclusive_minimum, exclusive_maximum: make a bound strict.

    Returns:
        ``float(value)``.

    Raises:
        TypeError: not a real number.
        ValueError: NaN, infinite, or outside the range.

    Example:

    ```python
    from kgen import checks
    checks.number(0.5, "label_dropout", 0.0, 1.0, exclusive_maximum=True)   # 0.5
    ```
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)) \
            or isinstance(value, np.complexfloating):
        raise TypeError(f"{name} must be a number; got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}.")
    low = None if minimum is None else float(minimum)
    high = None if maximum is None else float(maximum)
    below = low is not None and (value <= low if exclusive_minimum else value < low)
    above = high is not None and (value >= high if exclusive_maximum else value > high)
    if below or above:
        left = "(" if exclusive_minimum else "["
        right = ")" if exclusive_maximum else "]"
        span = f"{left}{'-inf' if low is None else f'{low:g}'}, " \
               f"{'inf' if high is None else f'{high:g}'}{right}"
        raise ValueError(f"{name} must be a number in {span}; got {value!r}.")
    return value


def optional_number(value, name, minimum=None, maximum=None, **kwargs):
    """None, or `number` (``value`` checked the same way)."""
    return None if value is None else number(value, name, minimum, maximum, **kwargs)


def _check_bounds(value, name, minimum, maximum, what):
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            span = f"of at least {minimum}"
        elif minimum is None:
            span = f"of at most {maximum}"
        else:
            span = f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be {what} {span}; got {value!r}.")


def one_of(value, name, choices):
    """``value``, checked to be one of ``choices``.

    Raises:
        ValueError: ``value`` is not among ``choices`` (the message lists them).

    Example:

    ```python
    from kgen import checks
    checks.one_of("cosine", "schedule", ("linear", "cosine"))   # 'cosine'
    ```
    """
    choices = tuple(choices)
    try:
        known = value in choices
    except TypeError:  # an unhashable value
        known = False
    if not known:
        raise ValueError(f"Unknown {name} {value!r}; choose one of "
                         f"{', '.join(repr(c) for c in choices)}.")
    return value


#: Seeds are non-negative integers below 2**32 (numpy takes them all).
MAX_SEED = 2 ** 32 - 1
#: The seed of a `keras.random.SeedGenerator` (a model's seed) is below 2**31: its state is
#: int32 on PyTorch.
MAX_MODEL_SEED = 2 ** 31 - 1


def seed(value, name="seed", maximum=MAX_SEED):
    """None, or ``value`` checked to be an integer seed in ``0 .. maximum``.

    ``maximum`` is ``2**32 - 1`` (`MAX_SEED`, numpy's range) by default; a model's seed,
    which seeds a `keras.random.SeedGenerator`, goes up to `MAX_MODEL_SEED`.

    Example:

    ```python
    from kgen import checks
    checks.seed(7)   # 7
    ```
    """
    if value is None:
        return None
    if not _is_integer(value):
        raise TypeError(f"{name} must be a non-negative integer or None; got {value!r}.")
    return integer(value, name, 0, maximum)


def finite(array, name):
    """``array`` (numpy), checked to hold no NaN or infinite value."""
    array = np.asarray(array)
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} contain {bad} NaN or infinite values (of {array.size}); "
                         "remove or repair them first.")
    return array


# ------------------------------------------------------------------- labels
def draw_labels(num_classes, count, seed):
    """``count`` class labels drawn uniformly from ``seed``'s label stream (numpy, seeded
    with ``[seed, 1]``): the labels ``generate(n, seed=seed)`` of a class-conditional
    model uses when none are given, the same on every backend.

    Example:

    ```python
    from kgen import checks
    checks.draw_labels(10, 4, seed=0).shape   # (4,)
    ```
    """
    rng = np.random.default_rng(None if seed is None else [int(seed), 1])
    return rng.integers(0, num_classes, size=count)


def labels(values, num_classes, num_samples=None, name="labels"):
    """Class labels as an int32 array of class indices in ``0 .. num_classes - 1``.

    The one semantics of labels in kgen, for every class-conditional family (in
    ``fit()``, in ``generate(labels=...)`` and in the data pipelines):

    - an integer: one class for every sample (repeated ``num_samples`` times, or once);
    - a list or array of integers of shape ``(n,)``, or ``(n, 1)`` (flattened);
    - floats are taken only when every value is a whole number (``3.0``), as labels read
      from a CSV file or a float tensor are;
    - anything else is refused with the fix: one-hot labels ``(n, k)``, fractions,
      booleans, strings, negative values and values of ``num_classes`` or more.

    Args:
        values: the labels.
        num_classes: the number of classes of the model.
        num_samples: the number of labels expected, or None for any.
        name: the argument's name, for the messages.

    Returns:
        An int32 numpy array of shape ``(n,)``.

    Raises:
        TypeError: labels that are not integers (booleans, strings, fractions).
        ValueError: the wrong shape or number, or a class out of range.

    Example:

    ```python
    from kgen import checks
    checks.labels([[1], [0], [2]], num_classes=3)   # array([1, 0, 2], dtype=int32)
    checks.labels(2, num_classes=3, num_samples=4)  # array([2, 2, 2, 2], dtype=int32)
    ```
    """
    num_classes = integer(num_classes, "num_classes", 1)
    if isinstance(values, (bool, np.bool_)):
        raise TypeError(f"{name} must be integer class indices; got {values!r}.")
    try:
        array = np.asarray(_to_numpy(values))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be integer class indices; could not read "
                        f"{type(values).__name__} as an array ({error}).") from None
    if array.dtype.kind == "b" or array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be integer class indices 0..{num_classes - 1}; got "
                        f"dtype {array.dtype}.")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise TypeError(
                f"{name} must be integer class indices 0..{num_classes - 1}; got floats "
                "that are not whole numbers. Convert class indices with "
                "labels.astype('int32'); for probabilities or one-hot rows use "
                "labels.argmax(-1).")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 0:
        array = np.full((1 if num_samples is None else num_samples,), array)
    if array.ndim != 1:
        hint = " One-hot labels: use labels.argmax(-1)." if array.ndim == 2 else ""
        raise ValueError(f"{name} must be an integer or a 1-D array of class indices; got "
                         f"shape {array.shape}.{hint}")
    if num_samples is not None and len(array) != num_samples:
        raise ValueError(f"Got {len(array)} {name} for {num_samples} samples: give one "
                         "label per sample, or one integer for all.")
    bad = (array < 0) | (array >= num_classes)
    if np.any(bad):
        raise ValueError(
            f"{name} must be class indices in 0..{num_classes - 1} (num_classes="
            f"{num_classes}); got {sorted(set(array[bad].astype(np.int64).tolist()))[:10]}.")
    return array.astype("int32")


def _to_numpy(values):
    """``values`` as numpy: tensors of any backend through keras, others through numpy."""
    if isinstance(values, (np.ndarray, list, tuple, numbers.Number, np.generic)):
        return values
    import keras

    return keras.ops.convert_to_numpy(values)


# ------------------------------------------------------------------- images
def validate_images(x, name="images"):
    """Check that ``x`` is a batch of images and return it as a rank-4 array.

    Args:
        x: a numpy array (or anything ``np.asarray`` converts) of shape
            ``(N, H, W, C)`` with ``C`` in 1, 3 or 4, or ``(N, H, W)`` for
            grayscale. dtype uint8, uint16 or floating; float values must lie in
            ``[-1, 1]`` and be finite.
        name: what the images are, for the messages.

    Returns:
        The images as a numpy array of shape ``(N, H, W, C)``, with the
        original dtype (a channel axis is added to rank-3 input).

    Raises:
        TypeError: a non-image dtype (bool, other integers, complex, strings,
            objects).
        ValueError: wrong rank or channel count, channels-first layout, no
            images, non-finite values, or floats outside ``[-1, 1]``.

    Example:

    ```python
    import numpy as np
    import kgen

    x = kgen.data.validate_images(np.zeros((10, 28, 28), np.uint8))
    x.shape  # (10, 28, 28, 1)
    ```
    """
    try:
        x = np.asarray(_to_numpy(x))
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{_capital(name)} must be a numpy array of shape (N, H, W, C); could not "
            f"convert the input of type {type(x).__name__} ({error}). Stack the images "
            "into one array of equal-sized images first."
        ) from None
    _check_image_dtype(x.dtype, name)
    if x.ndim == 3:
        if x.shape[-1] in CHANNELS and x.shape[0] not in CHANNELS and x.shape[0] > 4 \
                and x.shape[1] > 4:
            # (H, W, C) of one image: taking it as H images of W x C would be silent.
            raise ValueError(
                f"{_capital(name)} of shape {x.shape} look like ONE image (height, width, "
                f"channels): kgen takes a batch (N, H, W, C). Use x[None] for a single "
                "image, or x[..., None] for N grayscale images (N, H, W).")
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(
            f"{_capital(name)} must have rank 4 (N, H, W, C) or rank 3 (N, H, W), got "
            f"shape {x.shape} (rank {x.ndim}). For a single image use x[None]; for "
            "non-image data (such as 2-D points) use a numpy array with model.fit directly."
        )
    if x.shape[-1] not in CHANNELS:
        if x.shape[1] in CHANNELS:
            raise ValueError(
                f"{_capital(name)} of shape {x.shape} look channels-first (N, C, H, W); "
                "kgen expects channels-last (N, H, W, C). Use np.transpose(x, (0, 2, 3, 1))."
            )
        raise ValueError(
            f"{_capital(name)} must have 1, 3 or 4 channels in the last axis (N, H, W, C), "
            f"got shape {x.shape} with {x.shape[-1]} channels."
        )
    if 0 in x.shape:
        raise ValueError(
            f"No images: got an empty array of shape {x.shape}. Pass at least one image "
            "with non-zero height and width."
        )
    if x.dtype.kind == "f":
        check_float_range(x, name)
    return x


def check_float_range(x, name="images"):
    """Checks float images (numpy) for data space: finite, in [-1, 1]; warns for [0, 1]."""
    finite_values = np.isfinite(x)
    if not finite_values.all():
        bad = int(x.size - np.count_nonzero(finite_values))
        raise ValueError(
            f"{_capital(name)} contain {bad} non-finite values (NaN or inf) out of "
            f"{x.size}. Remove or repair those images first."
        )
    low, high = float(x.min()), float(x.max())
    if low < -1.0 - FLOAT_TOLERANCE or high > 1.0 + FLOAT_TOLERANCE:
        raise ValueError(
            f"Float {name} must lie in [-1, 1] (kgen's data space), got values in "
            f"[{low:g}, {high:g}]. Pass uint8 images (0..255), which kgen converts, or "
            "scale floats yourself: x / 127.5 - 1 for 0..255, or 2 * x - 1 for 0..1."
        )
    if low >= 0.0 and high <= 1.0 and high > low:
        warnings.warn(
            f"Float {name} all lie in [0, 1] (values in [{low:g}, {high:g}]), but kgen's "
            "data space is [-1, 1]: if these are 0..1 pixel values, scale them with "
            "2 * x - 1 (or pass uint8 images, which kgen converts). Taken as they are.",
            ZeroToOneWarning, stacklevel=3)


def _check_image_dtype(dtype, name="images"):
    if dtype in (np.uint8, np.uint16) or dtype.kind == "f":
        return
    hint = ""
    if dtype.kind in "iu":
        hint = " If the values are pixel values 0..255, use x.astype(np.uint8)."
    raise TypeError(
        f"{_capital(name)} have a non-image dtype {dtype}: expected uint8 (0..255), uint16 "
        f"(0..65535) or float (in [-1, 1]).{hint}"
    )


def to_data_space(x, name="images"):
    """Validate images and scale them to float32 in ``[-1, 1]`` (kgen's data space).

    Args:
        x: images as accepted by `validate_images`.
        name: what the images are, for the messages.

    Returns:
        float32 numpy array of shape ``(N, H, W, C)`` with values in ``[-1, 1]``:
        ``x / 127.5 - 1`` for uint8, ``x / 32767.5 - 1`` for uint16, the
        values themselves (clipped to ``[-1, 1]``) for floats.

    Example:

    ```python
    import numpy as np
    import kgen

    kgen.data.to_data_space(np.array([[[0, 255]]], np.uint8))[..., 0]
    # array([[[-1.,  1.]]], dtype=float32)
    ```
    """
    x = validate_images(x, name)
    return scale_to_data_space(x)


def scale_to_data_space(x):
    """Checked images (numpy, uint8/uint16/float) scaled to float32 data space."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    if x.dtype == np.uint16:
        return x.astype(np.float32) / np.float32(32767.5) - np.float32(1.0)
    return np.clip(x.astype(np.float32), -1.0, 1.0)


def data_space_images(images, shape, name, model=None):
    """A condition of ``generate()`` (``inputs=``, ``images=``) as float32 images of ``shape``.

    uint8/uint16 images are converted and floats checked by the package's rule (see the
    module docstring); one image ``shape`` becomes a batch of one.

    Args:
        images: the images given by the caller.
        shape: the image shape ``(H, W, C)`` the model takes.
        name: the argument's name (``"inputs"``), for the messages.
        model: the model's class name, for the messages.

    Returns:
        A float32 numpy array ``(n,) + shape`` in ``[-1, 1]``.
    """
    if images is None:
        raise ValueError(f"Pass the images as {name}=, a batch of shape (n,) + "
                         f"{tuple(shape)}: uint8 (0..255) or floats in [-1, 1].")
    array = np.asarray(_to_numpy(images))
    shape = tuple(shape)
    if array.ndim == len(shape):
        array = array[None]
    if tuple(array.shape[1:]) != shape:
        raise ValueError(_shape_message(name, array.shape, shape, model))
    return to_data_space(array, name)


def _shape_message(name, got, shape, model):
    owner = f"{model} takes" if model else "the model takes"
    return (f"{name} must have shape (n,) + {tuple(shape)} ({owner} images of "
            f"{tuple(shape)}); got {tuple(got)}. Resize the images, or build a model for "
            f"them with from_shape({tuple(got[1:])}).")


def _capital(name):
    return name[:1].upper() + name[1:]


# --------------------------------------------------------- training batches
#: Integer image dtypes and the divisor ``d`` of their conversion ``x / d - 1`` to data
#: space (`scale_to_data_space` for numpy, `data_space_batch` inside a training step).
INTEGER_IMAGES = {"uint8": 127.5, "uint16": 32767.5}


def data_space_batch(batch, name="images"):
    """A batch of a training step as float data space: the package rule, in-graph.

    uint8 and uint16 pixel values are converted by ``x / 127.5 - 1`` and
    ``x / 32767.5 - 1`` in float32, looked up in a table computed by
    `scale_to_data_space`, so a uint8 batch trains on exactly the values of the same
    images converted by `kgen.data.images`, on every backend; float batches pass as they
    are. Used by ``GenerativeModel.run_updates`` for every family,
    whatever fed ``fit()`` (numpy arrays, ``tf.data`` datasets, ``PyDataset``\\ s).

    Args:
        batch: a tensor (or array) of the training step.
        name: what the batch holds, for the message.

    Returns:
        The batch, float.

    Raises:
        TypeError: another integer dtype, or a bool, string or complex dtype.

    Example:

    ```python
    import numpy as np
    from kgen import checks

    pixels = np.array([0, 255], np.uint8).reshape(2, 1, 1, 1)
    checks.data_space_batch(pixels)   # [-1, 1] as float32
    ```
    """
    import keras

    dtype = keras.backend.standardize_dtype(batch.dtype)
    if dtype in INTEGER_IMAGES:
        # A table of the converted value of every pixel value, computed by numpy as
        # scale_to_data_space computes it: a lookup gives the same float32 on every
        # backend (a compiled division may round differently in the last bit).
        table = _data_space_table(dtype)
        return keras.ops.take(table, keras.ops.cast(batch, "int32"))
    if keras.backend.is_float_dtype(dtype):
        return batch
    hint = " If they are pixel values 0..255, convert them with x.astype('uint8')." \
        if "int" in dtype else ""
    raise TypeError(
        f"{_capital(name)} have dtype {dtype}: kgen trains on uint8 (0..255), uint16 "
        f"(0..65535) or float images in [-1, 1].{hint}")


_TABLES = {}


def _data_space_table(dtype):
    """float32 data space of every value of an integer image dtype, ``(2**bits,)``."""
    if dtype not in _TABLES:
        levels = np.arange(np.iinfo(dtype).max + 1).astype(dtype)
        _TABLES[dtype] = scale_to_data_space(levels)
    return _TABLES[dtype]


def model_shape_message(model, expected, got, name="images"):
    """The message for data of shape ``got`` given to ``model``, built for ``expected``.

    Args:
        model: the model's class name (``"GAN"``).
        expected: the shape of one example the model takes (``(8, 8, 1)``).
        got: the shape of one example of the data.
        name: what the data are.

    Example:

    ```python
    from kgen import checks
    checks.model_shape_message("GAN", (8, 8, 1), (28, 28, 1))
    # 'GAN expects images of shape (8, 8, 1) ... from_shape((28, 28, 1)) ...'
    ```
    """
    expected, got = tuple(expected), tuple(got)
    what = "channels" if expected[:-1] == got[:-1] and len(expected) == len(got) == 3 \
        else "shape"
    detail = (f"{_count(got[-1], 'channel')} where it takes {expected[-1]}"
              if what == "channels" else f"shape {got}")
    fix = "convert" if what == "channels" else "resize"
    return (f"{model} expects {name} of shape {expected} (its networks were built for "
            f"them); got {name} of {detail}. Build a model for this data with "
            f"{model}.from_shape({got}), or {fix} the {name} to {expected}.")


def _count(number, noun):
    return f"{number} {noun}" + ("" if number == 1 else "s")


def training_array(array, role, name, *, expected=None, model="The model",
                   num_classes=None):
    """Checks one array given to ``fit()`` for its role; returns it (rank 3 images get a
    channel axis when the model takes one channel).

    ``role`` is what the array holds for the model: ``"images"`` (the package's image
    rule: uint8/uint16 converted in the training step, floats in [-1, 1], a warning
    when all in [0, 1]), ``"samples"`` (images when rank 3 or 4, else vectors, which
    must be finite), ``"levels"`` (integer levels or codes, taken as they are),
    ``"labels"`` (`labels`, with ``num_classes``) or None (not checked).

    Args:
        array: a numpy array.
        role: see above.
        name: what the array is (``"training images"``), for the messages.
        expected: the shape of one example the model takes, or None when unknown.
        model: the model's class name, for the messages.
        num_classes: the model's number of classes, for labels.

    Raises:
        TypeError: a dtype that is not an image dtype (images), or labels that are not
            integers.
        ValueError: NaN or infinite values, floats outside [-1, 1], a shape the model
            does not take, labels out of range.

    Example:

    ```python
    import numpy as np
    from kgen import checks

    checks.training_array(np.zeros((4, 8, 8), np.uint8), "images", "images",
                          expected=(8, 8, 1)).shape   # (4, 8, 8, 1)
    ```
    """
    if role is None:
        return array
    if role == "labels":
        if num_classes is not None:
            labels(array, num_classes, name=name)
        return array
    if role == "levels":
        array = np.asarray(array)
        if array.dtype.kind not in "iu":
            raise TypeError(f"{_capital(name)} must be integer levels (codes); got dtype "
                            f"{array.dtype}. A model built with inputs='levels' takes its "
                            "integer levels as they are, without scaling.")
        if array.ndim == 3 and expected is not None and len(expected) == 3 \
                and expected[-1] == 1 and tuple(array.shape[1:]) == tuple(expected[:2]):
            array = array[..., None]
        if expected is not None and tuple(array.shape[1:]) != tuple(expected):
            raise ValueError(model_shape_message(model, expected, array.shape[1:], name))
        return array
    images = role == "images" or np.ndim(array) in (3, 4) and (
        expected is None or len(expected) == 3)
    if images:
        if np.ndim(array) == 3 and expected is not None and len(expected) == 3 \
                and expected[-1] == 1 and tuple(np.shape(array)[1:]) == tuple(expected[:2]):
            array = array[..., None]
        checked = validate_images(array, name)
        if expected is not None and tuple(checked.shape[1:]) != tuple(expected):
            raise ValueError(model_shape_message(model, expected, checked.shape[1:], name))
        return array if checked.ndim == np.ndim(array) else checked
    array = np.asarray(array)
    if array.dtype.kind not in "fiu" or array.dtype.kind == "b":
        raise TypeError(f"{_capital(name)} must be numbers; got dtype {array.dtype}.")
    if expected is not None and tuple(array.shape[1:]) != tuple(expected):
        raise ValueError(
            f"{model} expects {name} of shape {tuple(expected)} each; got shape "
            f"{tuple(array.shape[1:])}. Build a model for this data with "
            f"{model}.from_shape({tuple(array.shape[1:])}).")
    finite(array, name)
    return array


# ------------------------------------------------------------------ networks
def network_input_shapes(network, role):
    """The sample shape(s) of a network's input(s): a tuple, or a list of tuples.

    Args:
        network: a Keras layer or model.
        role: what the network is (``"generator"``), for the messages.

    Raises:
        TypeError: not a Keras layer or model.
        ValueError: a network whose input shape is unknown (build it first).

    Example:

    ```python
    import keras
    from kgen import checks

    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    checks.network_input_shapes(net, "generator")   # (4,)
    ```
    """
    import keras

    if not isinstance(network, keras.layers.Layer):
        raise TypeError(f"The {role} must be a Keras model or layer; got "
                        f"{type(network).__name__}.")
    shape = first = None
    try:
        shape = network.input_shape
    except (AttributeError, ValueError):
        inputs = getattr(network, "inputs", None)
        if inputs:
            shape = [tuple(i.shape) for i in inputs]
            first = shape if len(shape) > 1 else shape[0]
    if first is not None:
        shape = first
    if shape is None:
        raise ValueError(
            f"The {role} has no known input shape: pass a functional keras.Model (such as "
            "the kgen.networks builders) or build the network on its input shape first.")
    if isinstance(shape, list):
        return [tuple(s[1:]) for s in shape]
    return tuple(shape[1:])


def first_input_shape(network):
    """The full shape (batch axis included) of a network's first input, or None if unknown."""
    try:
        shape = network.input_shape
    except (AttributeError, ValueError):
        return None
    if isinstance(shape, list):
        shape = shape[0]
    return tuple(shape) if shape is not None else None


def network_output_shape(network, input_shape, role):
    """The output shape (without the batch axis) of ``network`` for one input of ``input_shape``.

    ``input_shape`` is one sample shape, or a list of them for a network of several
    inputs. A network that cannot compute its output shape is called on zeros.
    """
    import keras

    if isinstance(input_shape, list):
        batched = [(1,) + tuple(s) for s in input_shape]
    else:
        batched = (1,) + tuple(input_shape)
    try:
        output = network.compute_output_shape(batched)
    except Exception:  # noqa: BLE001 (a subclassed network without compute_output_shape)
        try:
            zeros = [np.zeros(s, "float32") for s in batched] if isinstance(batched, list) \
                else np.zeros(batched, "float32")
            output = keras.ops.shape(network(zeros))
        except Exception as error:  # noqa: BLE001
            raise ValueError(f"Could not run the {role} on an input of shape "
                             f"{input_shape}: {error}") from None
    if isinstance(output, (list, tuple)) and output and isinstance(output[0], (list, tuple)):
        return [tuple(o[1:]) for o in output]
    return tuple(output)[1:]
