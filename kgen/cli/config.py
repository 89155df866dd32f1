"""Run configurations: every option of a ``kgen train`` run, read from TOML or YAML and resolved.

A configuration is a nested dict with the sections below; a run folder keeps the fully
resolved one as ``config.toml``, so that ``kgen train --config RUN/config.toml`` repeats
the run and ``kgen train --resume RUN`` continues it.

```toml
family = "gan"          # a name of kgen.models.registry
seed = 0

[data]
source = "digits"       # a bundled name, tfds:NAME[:SPLIT] or folder:PATH
split = "all"
image_size = 32         # optional: resize (short side) and center-crop
channels = 3            # optional: 1 or 3
flip = false            # random horizontal flips
labels = false          # class labels from the data (families whose labels are optional)

[model]                 # the family's options (kgen train FAMILY --help lists them)
latent_dim = 100

[optimizer.generator]   # Keras optimizer configs, one per optimizer of the family
class_name = "Adam"
config = { learning_rate = 0.0002, beta_1 = 0.5 }

[train]
epochs = 100
batch_size = 64
accumulation_steps = 1  # batches whose gradients are averaged into one update
steps_per_epoch = 100   # single-image families: optimisation steps per epoch
devices = "1"
precision = "float32"   # or "mixed_bfloat16", "mixed_float16" (kgen.precision)

[callbacks]
samples = 64            # images in the grid written every epoch
evaluate = "fid"        # optional: a metric computed every `every` epochs; best.keras
every = 5
eval_samples = 2000
tensorboard = true
```

Example:

```python
from kgen.cli import config

resolved = config.resolve({"family": "gan", "train": {"epochs": 3}})
resolved["train"]["batch_size"], resolved["data"]["source"]   # (64, 'digits')
config.write(resolved, "/tmp/kgen_config.toml")
config.read("/tmp/kgen_config.toml")["train"]["epochs"]       # 3
```
"""

import copy
import os
import sys

from kgen.cli.errors import fail

#: The sections of a configuration and their keys with their defaults (None: unset).
SECTIONS = {
    "data": {"source": None, "split": "all", "image_size": None, "channels": None,
             "flip": False, "labels": False},
    "model": {},
    "optimizer": {},
    "train": {"epochs": None, "batch_size": 64, "accumulation_steps": 1,
              "steps_per_epoch": None, "devices": "1", "learning_rate": None,
              "lr_schedule": "constant", "precision": "float32"},
    "callbacks": {"samples": 64, "evaluate": None, "every": 1, "eval_samples": None,
                  "tensorboard": True},
}
#: Keys at the top level.
TOP = {"family": None, "seed": 0}
#: Learning-rate schedules of ``train.lr_schedule``.
LR_SCHEDULES = ("constant", "cosine")
#: Precisions of ``train.precision`` (`kgen.precision.POLICIES`).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def read(path):
    """The configuration in ``path`` (``.toml``, ``.yaml`` or ``.yml``), as a dict.

    Raises:
        CommandLineError: a missing or unreadable file, or a syntax error (the message
            says which file and where).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        fail(f"no configuration file at {path!r}.")
    extension = os.path.splitext(path)[1].lower()
    try:
        if extension == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            with open(path, "rb") as file:
                data = tomllib.load(file)
        elif extension in (".yaml", ".yml"):
            import yaml

            with open(path) as file:
                data = yaml.safe_load(file) or {}
        else:
            fail(f"{path!r}: a configuration is a .toml, .yaml or .yml file.")
    except (OSError, ValueError) as error:   # tomllib.TOMLDecodeError is a ValueError
        fail(f"could not read the configuration {path!r}: {error}")
    except Exception as error:  # noqa: BLE001 - yaml.YAMLError and its kin
        fail(f"could not read the configuration {path!r}: {error}")
    if not isinstance(data, dict):
        fail(f"{path!r} must hold a table of sections (data, model, train, ...); got "
             f"{type(data).__name__}.")
    return data


def _without_none(value):
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


def write(config, path):
    """Writes ``config`` to ``path`` as TOML (unset values, None, are left out)."""
    import tomli_w

    path = os.fspath(path)
    temporary = path + ".tmp"
    with open(temporary, "wb") as file:
        tomli_w.dump(_without_none(config), file)
    os.replace(temporary, path)
    return path


def merge(base, update):
    """``base`` updated with ``update``, section by section (a new dict)."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve(config, family=None):
    """Every key of ``config`` checked, and the defaults filled in.

    Args:
        config: a configuration (as read from a file, and updated from the flags).
        family: the registered family, to check the ``model`` options and fill in the
            family's default data and epochs; looked up from ``config["family"]`` if None.

    Returns:
        A new dict with every section.

    Raises:
        CommandLineError: an unknown section or key (named, with the keys that exist).
    """
    from kgen.models import registry

    unknown = sorted(set(config) - set(SECTIONS) - set(TOP))
    if unknown:
        fail(f"unknown configuration key(s) {unknown}; the sections are "
             f"{sorted(SECTIONS)} and the top-level keys {sorted(TOP)}.")
    resolved = {key: config.get(key, default) for key, default in TOP.items()}
    for section, defaults in SECTIONS.items():
        given = config.get(section) or {}
        if not isinstance(given, dict):
            fail(f"[{section}] must be a table of keys; got {given!r}.")
        if defaults:
            extra = sorted(set(given) - set(defaults))
            if extra:
                fail(f"unknown key(s) {extra} in [{section}]; it takes {sorted(defaults)}.")
        resolved[section] = {**defaults, **given}
    if resolved["family"] is None:
        fail("the configuration names no model family: give `family = \"...\"` or "
             "`kgen train FAMILY`.")
    try:
        family = family or registry.get(resolved["family"])
    except ValueError as error:
        fail(str(error))
    accepted = {option.name for option in family.options}
    extra = sorted(set(resolved["model"]) - accepted)
    if extra:
        fail(f"unknown option(s) {extra} for the {family.name} family in [model]; its "
             f"options are {sorted(accepted) or 'none'}.")
    data, train = resolved["data"], resolved["train"]
    if data["source"] is None:
        data["source"] = family.default_data
    if train["epochs"] is None:
        train["epochs"] = family.default_epochs
    if resolved["train"]["lr_schedule"] not in LR_SCHEDULES:
        fail(f"train.lr_schedule must be one of {LR_SCHEDULES}; got "
             f"{resolved['train']['lr_schedule']!r}.")
    if train["precision"] not in PRECISIONS:
        fail(f"train.precision (--precision) must be one of {PRECISIONS}; got "
             f"{train['precision']!r}.")
    return resolved
