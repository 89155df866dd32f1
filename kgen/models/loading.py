"""Loading kgen models from ``.keras`` files, with a clear message for every bad file.

`load` is `keras.saving.load_model` for kgen models: a missing, empty, truncated or
foreign file, or one that holds another kind of Keras file, gets a sentence that says
what the file is and what to do, and a file that does not load names the family and
options stored in it. `describe_file` reads what a ``.keras`` file holds without
loading it; ``GenerativeModel.load_weights`` uses it to refuse the weights of another
family or of other options by name.
"""

import dataclasses
import json
import os
import zipfile

import keras

#: Top-level config entries that are not options of a family.
_NOT_OPTIONS = ("name", "trainable", "dtype", "seed")


@dataclasses.dataclass(frozen=True)
class FileContents:
    """What a ``.keras`` file holds, read from its ``config.json``.

    Attributes:
        path: the file.
        class_name: the class of the saved model (``"GAN"``).
        registered_name: its registered name (``"kgen>GAN"`` for a kgen model).
        config: the model's config (``config.json``'s ``"config"``).
        module: the module of its class (``"keras"`` for Keras's own models).
    """

    path: str
    class_name: str
    registered_name: str
    config: dict
    module: str = ""

    @property
    def is_kgen(self):
        """Whether the file holds a kgen model (registered in the ``kgen`` package)."""
        return str(self.registered_name).startswith("kgen>")

    @property
    def family(self):
        """The registered family name of the saved model's class, or None."""
        from kgen.models import registry

        for family in registry.families():
            if family.model_class.__name__ == self.class_name:
                return family.name
        return None

    def description(self):
        """``"a GAN (family 'gan') with latent_dim=8, generator input (None, 8), ..."``."""
        return _describe(self.class_name, self.family, config_options(self.config))


def _describe(class_name, family, options):
    named = f" (family {family!r})" if family else ""
    listed = ", ".join(f"{key}={value}" for key, value in options.items())
    return f"a {class_name}{named}" + (f" with {listed}" if listed else "")


def _check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"The path of a .keras file must be a string or a path; got "
                        f"{type(path).__name__}.")
    return os.fspath(path)


def describe_file(path):
    """Reads what the ``.keras`` file ``path`` holds, without loading it.

    Args:
        path: the ``.keras`` file.

    Returns:
        A `FileContents`.

    Raises:
        TypeError: ``path`` is not a string or path.
        FileNotFoundError: there is no file at ``path``.
        ValueError: a folder, an empty file, a file that is not a zip archive
            (truncated, corrupt, or of another format: a weights-only ``.h5``, a
            SavedModel), or a zip archive without a model config.

    Example:

    ```python
    import kgen

    gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=8, base_filters=4)
    gan.save("/tmp/kgen_example_gan.keras")
    kgen.models.loading.describe_file("/tmp/kgen_example_gan.keras").class_name   # 'GAN'
    ```
    """
    path = _check_path(path)
    if os.path.isdir(path):
        hint = (" It looks like a SavedModel (an export for serving), which kgen cannot "
                "train or sample from: load the .keras file it was exported from."
                if os.path.exists(os.path.join(path, "saved_model.pb")) else
                " For a run folder of kgen train, load RUN/last.keras.")
        raise ValueError(f"{path!r} is a folder, not a .keras file.{hint}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path!r}: the file does not exist.")
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError(f"{path!r} holds no model: the file is empty (0 bytes), as an "
                         "interrupted write leaves it. Use an earlier checkpoint "
                         "(kgen.callbacks.Checkpoint and kgen train never leave an empty "
                         "file in place of a good one).")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as file:
            head = file.read(8)
        if head.startswith(b"\x89HDF"):
            raise ValueError(
                f"{path!r} is an HDF5 file (weights saved with save_weights, or a legacy "
                "Keras 2 model), not a .keras archive: build the model and call "
                "model.load_weights(path) instead.")
        raise ValueError(
            f"{path!r} is not a .keras archive (a zip file of {size} bytes that ends "
            "without its directory): it is truncated (an interrupted copy or write), "
            "corrupt, or of another format. Use an earlier checkpoint or copy it again.")
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise ValueError(
                    f"{path!r} is a zip file without a config.json, so not a .keras model "
                    "file.")
            saved = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, json.JSONDecodeError, OSError) as error:
        raise ValueError(f"{path!r} is a corrupt .keras archive ({error}). Use an earlier "
                         "checkpoint or copy it again.") from None
    if not isinstance(saved, dict) or "class_name" not in saved:
        raise ValueError(f"{path!r} has no model config in its config.json.")
    return FileContents(path=path, class_name=str(saved.get("class_name")),
                        registered_name=str(saved.get("registered_name")),
                        config=saved.get("config") or {}, module=str(saved.get("module")))


def config_options(config):
    """The options recorded in a model config: its plain values (``latent_dim=8``) and
    the input shape of each of its networks (``generator input=(None, 8)``)."""
    options = {}
    for key, value in config.items():
        if key in _NOT_OPTIONS:
            continue
        if isinstance(value, (int, float, str, bool)) or value is None:
            if value is not None:
                options[key] = value
        elif isinstance(value, (list, tuple)) and all(
                isinstance(v, (int, float, str)) for v in value):
            options[key] = tuple(value)
        elif isinstance(value, dict):
            shape = _first_input_shape(value)
            if shape is not None:
                options[f"{key} input"] = shape
    return options


def _first_input_shape(config):
    """The batch shape of the first ``InputLayer`` in a serialised network, or None."""
    if isinstance(config, dict):
        if config.get("class_name") == "InputLayer":
            shape = (config.get("config") or {}).get("batch_shape")
            return None if shape is None else tuple(shape)
        for value in config.values():
            found = _first_input_shape(value)
            if found is not None:
                return found
    elif isinstance(config, list):
        for value in config:
            found = _first_input_shape(value)
            if found is not None:
                return found
    return None


def model_options(model):
    """The options of ``model`` in the form of `config_options` (for the messages)."""
    try:
        config = model.get_config()
    except Exception:  # noqa: BLE001 - a model without a config: no options to show
        return {}
    return config_options(json.loads(json.dumps(config, default=_plain)))


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def describe_model(model):
    """``"a GAN (family 'gan') with latent_dim=8, ..."`` for a model instance."""
    from kgen.models import registry

    try:
        family = registry.family_of(model).name
    except ValueError:
        family = None
    return _describe(type(model).__name__, family, model_options(model))


def weights_mismatch(model, contents):
    """Why the weights in ``contents`` (a `FileContents`) do not fit ``model``: a sentence,
    or None when the file holds a model of the same class and options."""
    if contents.class_name != type(model).__name__:
        return (f"{contents.path!r} holds {contents.description()}, but this model is "
                f"{describe_model(model)}: the weights of one family do not fit another. "
                f"Load the file as it is with kgen.models.load({contents.path!r}).")
    ours, theirs = model_options(model), config_options(contents.config)
    different = sorted(key for key in set(ours) | set(theirs)
                       if ours.get(key) != theirs.get(key))
    if not different:
        return None
    listed = "; ".join(f"{key}: {theirs.get(key, '-')} in the file, {ours.get(key, '-')} "
                       "here" for key in different)
    return (f"{contents.path!r} holds {contents.description()}, but this model is "
            f"{describe_model(model)} ({listed}). Build the model with the file's options, "
            f"or load the file as it is with kgen.models.load({contents.path!r}).")


def load(path, *, compile=True, custom_objects=None, safe_mode=True):
    """Loads a kgen model from a ``.keras`` file: `keras.saving.load_model` with clear errors.

    Args:
        path: the ``.keras`` file (a ``str`` or path).
        compile: restore the optimizers, so that ``fit()`` continues the training.
        custom_objects: passed to `keras.saving.load_model` (a user's own network classes
            that are not registered with ``keras.saving.register_keras_serializable``).
        safe_mode: passed to `keras.saving.load_model`.

    Returns:
        The model (a `kgen.models.GenerativeModel`).

    Raises:
        TypeError: ``path`` is not a string or path.
        FileNotFoundError: no file at ``path``.
        ValueError: a folder, an empty, truncated, corrupt or non-zip file, a Keras model
            that is not a kgen model (load it with `keras.saving.load_model`), or a file
            that Keras could not load (the message names the family and options stored
            in it).

    Example:

    ```python
    import kgen

    gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=8, base_filters=4, seed=0)
    gan.save("/tmp/kgen_example_gan.keras")
    again = kgen.models.load("/tmp/kgen_example_gan.keras")
    type(again).__name__   # 'GAN'
    ```
    """
    contents = describe_file(path)
    if not contents.is_kgen:
        raise ValueError(
            f"{contents.path!r} holds a Keras model of class {contents.class_name} "
            f"(from {contents.module}), not a kgen model: load it with "
            "keras.saving.load_model, or train a kgen model (kgen.models.registry.names() "
            "lists the families).")
    try:
        model = keras.saving.load_model(contents.path, custom_objects=custom_objects,
                                        compile=compile, safe_mode=safe_mode)
    except Exception as error:  # noqa: BLE001 - any failure is reported with the file's contents
        first = str(error).strip().splitlines()[0] if str(error).strip() else \
            type(error).__name__
        raise ValueError(
            f"Could not load {contents.path!r}, which holds {contents.description()}: "
            f"{first}. A file written by another kgen version or with networks of your "
            "own needs those classes registered (or custom_objects=); a corrupt file "
            "needs an earlier checkpoint.") from error
    from kgen.models.base import GenerativeModel

    if not isinstance(model, GenerativeModel):
        raise ValueError(f"{contents.path!r} holds a {type(model).__name__}, not a kgen "
                         "generative model.")
    return model


__all__ = ["load"]
