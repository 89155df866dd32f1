"""`SingleImageModel`: the base of models that optimise one image and are trained without data.

Texture synthesis, style transfer and the Deep Image Prior fit their variables to one
given image (or pair of images); `fit(steps=...)` runs Keras's own ``fit()`` on a
dummy data set of that many batches, so progress bars, callbacks (early stopping,
CSV logs, checkpoints) and the compiled step of each backend work as for every model.
"""

import keras
import numpy as np
from keras import ops

from kgen.data.pipeline import to_data_space, validate_images
from kgen.models.base import GenerativeModel
from kgen.models.serving import ServingFunctions, ServingInput

_DEFAULT_STEPS_PER_EPOCH = 100


def image_to_data_space(image, name, channels=None):
    """One image as a float32 ``(1, H, W, C)`` array in ``[-1, 1]``.

    Args:
        image: ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)``; uint8 pixel values or floats
            in ``[-1, 1]`` (`kgen.data.to_data_space`).
        name: the argument's name, for error messages.
        channels: the channel count required, if any.

    Returns:
        A float32 array of shape ``(1, H, W, C)``.
    """
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[0] != 1:
        raise ValueError(
            f"{name} must be one image, (height, width, channels) or (1, height, width, "
            f"channels); got shape {np.shape(image)}.")
    try:
        array = to_data_space(validate_images(array))
    except (ValueError, TypeError) as error:
        raise type(error)(f"{name}: {error}") from None
    if channels is not None and array.shape[-1] != channels:
        hint = (" Repeat a grayscale image over 3 channels (np.repeat(image, 3, axis=-1))."
                if channels == 3 and array.shape[-1] == 1 else "")
        raise ValueError(
            f"{name} must have {channels} channels; got shape {array.shape[1:]}.{hint}")
    return np.ascontiguousarray(array, dtype="float32")


class SingleImageModel(GenerativeModel):
    """A `GenerativeModel` that optimises one image and is trained with ``fit(steps=...)``.

    ``fit()`` takes no data: ``fit(steps=500)`` runs one epoch of 500 optimisation steps
    and ``fit(epochs=10, steps_per_epoch=50)`` ten epochs of 50 (for callbacks that act
    per epoch, such as `keras.callbacks.EarlyStopping`). ``generate()`` returns the one
    image, ``(1, H, W, C)``: ``num_samples`` may only be None or 1, and ``seed`` has no
    effect (the result is determined by the trained variables).
    """

    def fit(self, x=None, y=None, *, steps=None, epochs=None, steps_per_epoch=None, **kwargs):
        """Runs the optimisation: ``steps`` steps, or ``epochs`` epochs of ``steps_per_epoch``.

        Args:
            x: not accepted (the model holds its own images).
            y: not accepted.
            steps: total number of optimisation steps, in one epoch.
            epochs: number of epochs (instead of ``steps``).
            steps_per_epoch: steps per epoch with ``epochs`` (default 100).
            **kwargs: `keras.Model.fit` arguments (``callbacks``, ``verbose``,
                ``initial_epoch``).

        Returns:
            The `keras.callbacks.History` of the run.

        Example:

        ```python
        import keras
        import numpy as np
        import kgen

        image = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
        net = kgen.networks.skip_network(8, 3, down_channels=(8, 8), skip_channels=(4, 4))
        model = kgen.models.DeepImagePrior(image, network=net, seed=0)
        model.fit(steps=5, verbose=0)
        model.fit(epochs=2, steps_per_epoch=3, verbose=0,
                  callbacks=[keras.callbacks.CSVLogger("log.csv")])
        ```
        """
        name = type(self).__name__
        if x is not None or y is not None:
            raise ValueError(
                f"{name} optimises the images given to its constructor and takes no data: "
                "call fit(steps=...) or fit(epochs=..., steps_per_epoch=...).")
        for key in ("batch_size", "validation_data", "validation_split"):
            if kwargs.get(key) is not None and kwargs.get(key) != 0.0:
                raise ValueError(f"{name}.fit() does not take {key}= (there is no data).")
            kwargs.pop(key, None)
        if steps is not None and (epochs is not None or steps_per_epoch is not None):
            raise ValueError("Pass either steps= or epochs= (with steps_per_epoch=), not both.")
        if steps is not None:
            epochs, steps_per_epoch = 1, steps
        elif epochs is None:
            raise ValueError(f"{name}.fit() needs steps= (or epochs=).")
        if steps_per_epoch is None:
            steps_per_epoch = _DEFAULT_STEPS_PER_EPOCH
        for key, value in (("steps", steps_per_epoch), ("epochs", epochs)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{key} must be a positive integer; got {value!r}.")
        if not self.compiled:
            self.compile()
        # One dummy batch per step; the step ignores it.
        dummy = np.zeros((int(steps_per_epoch), 1), "float32")
        return super().fit(dummy, batch_size=1, epochs=int(epochs), shuffle=False, **kwargs)

    def generate(self, num_samples=None, *, seed=None, **conditions):
        """The optimised image, ``(1, H, W, C)`` float32 in ``[-1, 1]``.

        Args:
            num_samples: None or 1 (the model holds one image; build another model with
                another seed for another image).
            seed: accepted for the common interface; it has no effect.
            **conditions: none.
        """
        if num_samples not in (None, 1):
            raise ValueError(
                f"{type(self).__name__} optimises one image: num_samples must be None or 1; "
                f"got {num_samples!r}. Build another model with another seed for another "
                "image.")
        return super().generate(num_samples, seed=seed, **conditions)

    def call(self, inputs=None, training=False):
        return self._generate(None, seed=None)

    def serving_functions(self):
        """The model's image for `export_generator`, as a SavedModel that serves it.

        The exported function takes one input, ``index`` (int32, one per copy of the
        image wanted): the model holds one image, so every index selects it and its
        value is not read. ``generate_from_latent(index=[0])`` returns the image of
        ``generate()`` (``(1, H, W, C)``), ``generate(seed, num_samples)`` the image
        ``num_samples`` times (the seed has no effect), as uint8 ``images`` and float32
        ``samples``. The image is the one at export time (optimised pixels, or the
        network's restoration for `kgen.models.DeepImagePrior`), saved as a variable of
        the SavedModel; the feature extractor or network is not exported.

        Example:

        ```python
        import numpy as np
        import kgen

        noisy = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
        net = kgen.networks.skip_network(4, 3, down_channels=(8,), skip_channels=(2,))
        dip = kgen.models.DeepImagePrior(noisy, network=net, seed=0)
        served = dip.serving_functions()
        served.sample(np.zeros((3,), "int32")).shape   # (3, 16, 16, 3): the image 3 times
        ```
        """
        holder = _ServedImage(self.generate(), name="served_image")

        def sample(index):
            return ops.take(holder.image, ops.zeros_like(index), axis=0)

        index = ServingInput("index", (), "int32", noise="categorical", classes=1)
        return ServingFunctions(sample, [index], [holder])

    def serving_inputs(self, num_samples=None, *, seed=None):
        """The inputs of the exported model that ``generate()`` uses: ``{"index": [0]}``
        (see `serving_functions`)."""
        if num_samples not in (None, 1):
            raise ValueError(
                f"{type(self).__name__} optimises one image: num_samples must be None or 1; "
                f"got {num_samples!r}.")
        return {"index": np.zeros((1,), "int32")}


class _ServedImage(keras.layers.Layer):
    """Holds a copy of an image in a non-trainable variable, for a SavedModel to save."""

    def __init__(self, image, **kwargs):
        super().__init__(**kwargs)
        image = np.asarray(image, "float32")
        self.image = self.add_weight(shape=image.shape, name="image", trainable=False,
                                     initializer=keras.initializers.Constant(image))
        self.built = True
