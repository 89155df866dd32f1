"""The family registry: every model family of kgen registers here, once, from its own module.

A `Family` says what the command line, the export paths, the multi-device checks and the
test harness need to know about a family, so that none of them keeps its own list:

- its name (``kgen train gan``), model class and a one-line summary;
- the kind of data it trains on (`DATA_KINDS`: images, images with labels, image pairs,
  two unpaired domains, one image, a content and a style image, images with captions)
  and whether class labels are required, optional or unused;
- the options of its builder (``from_shape`` or the constructor), which the command line
  turns into flags (``--latent-dim``), and a ``build(data, **options)`` function that
  makes a model for a `TrainingData` description;
- the conditions its ``generate()`` takes (``labels``, ``inputs``, ``images``/``mask``,
  ``prompt``) and the options of its export (``steps``, ``guidance_scale``);
- a tiny configuration for tests (a model that compiles and trains in a second), the
  log that must fall when it trains (``monitor``), and its default data and epochs.

A family module registers its families at import (``register(Family(...))`` at its end);
`kgen.models` imports every module of the package, so adding a family means adding its
module, its network module if new, its tests, recipe and docs page: no list elsewhere.

Example:

```python
import kgen

family = kgen.models.registry.get("gan")
family.model_class                      # kgen.models.GAN
[option.flag for option in family.options][:2]   # ['--latent-dim', '--base-filters']
sorted(kgen.models.registry.names())[:3]         # ['autoencoder', 'clip', 'conditional_gan']
```
"""

import dataclasses
import inspect
from typing import Any, Callable, Optional

#: The kinds of training data, and what each means for `kgen train` and the data loaders.
DATA_KINDS = {
    "samples": "a set of images (or of 2-D points for the GAN and VAE)",
    "paired": "pairs of images (input, target): two folders A/ and B/ with matching names",
    "unpaired": "images of two domains A and B, not paired",
    "image": "one image, optimised or restored in place",
    "content_style": "a content image and a style image",
    "captioned": "images with captions (one or several per image)",
}
#: How a family uses class labels.
LABELS = ("none", "optional", "required")
#: The conditions ``generate()`` may take.
CONDITIONS = ("labels", "inputs", "images", "mask", "prompt", "negative_prompt",
              "temperature", "sampler", "steps", "eta", "guidance_scale", "direction")
#: Option value types the command line knows.
OPTION_TYPES = (int, float, str, bool, tuple)


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a family's builder or export, and its command-line flag.

    Args:
        name: the keyword argument (``latent_dim``); the flag is ``--latent-dim``.
        type: ``int``, ``float``, ``str``, ``bool`` or ``tuple`` (a comma-separated list
            on the command line, such as ``--channel-multipliers 1,2,2``).
        help: what it does, for ``kgen train FAMILY --help``.
        choices: the allowed values of a ``str`` option, or None.
        default: the family's default, shown in the help (None: decided by the family,
            often from the data shape).
        item: the type of the items of a ``tuple`` option (``int`` or ``str``).
        minimum: the smallest value of a number option; ``int`` options default to 1
            (counts and sizes), pass 0 for those that may be zero.
    """

    name: str
    type: type = int
    help: str = ""
    choices: Optional[tuple] = None
    default: Any = None
    item: type = int
    minimum: Optional[float] = None

    def __post_init__(self):
        if self.minimum is None and self.type is int:
            object.__setattr__(self, "minimum", 1)
        if self.type not in OPTION_TYPES:
            raise TypeError(f"Option {self.name!r}: type must be one of "
                            f"{[t.__name__ for t in OPTION_TYPES]}; got {self.type!r}.")
        if not self.name.isidentifier():
            raise ValueError(f"Option name {self.name!r} is not a Python identifier.")

    @property
    def flag(self):
        """The command-line flag, ``--`` and the name with dashes."""
        return "--" + self.name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """What a family's ``build`` needs to know of its training data.

    Args:
        shape: the shape of one sample (``(H, W, C)`` or ``(2,)``), or of one input image
            of a paired or unpaired set (domain A).
        num_classes: the number of classes of labelled data, or None.
        target_shape: the shape of a target image (paired) or of a domain-B image
            (unpaired), or None.
        images: the image(s) of a single-image family, ``(n, H, W, C)`` uint8 or float in
            [-1, 1]: the image (or content and style images), and for inpainting a mask.
        mask: a mask for inpainting (1 where a pixel is known), or None.
        captions: the captions of captioned data, a string array ``(N, T)`` (``""`` for
            a missing caption; a text model builds its vocabulary from them), or None.
    """

    shape: tuple
    num_classes: Optional[int] = None
    target_shape: Optional[tuple] = None
    images: Any = None
    mask: Any = None
    captions: Any = None


def _default_build(model_class, labels):
    """``model_class.from_shape(data.shape, **options)``, with ``num_classes`` from the
    data for a family that uses labels (a family with optional labels gets them only when
    the data has them)."""
    def build(data, **options):
        if labels == "required" or (labels == "optional" and data.num_classes is not None):
            options.setdefault("num_classes", data.num_classes)
        return model_class.from_shape(data.shape, **options)

    return build


@dataclasses.dataclass(frozen=True)
class Family:
    """A model family, as registered with `register`.

    Args:
        name: the family's name on the command line (lower case, underscores).
        model_class: its `kgen.models.GenerativeModel` subclass.
        summary: one line for ``kgen train --help`` and the docs.
        data: the kind of training data (a key of `DATA_KINDS`).
        labels: ``"none"``, ``"optional"`` (a ``num_classes`` option turns them on) or
            ``"required"``.
        options: the `Option`\\ s of ``build`` (the family's ``from_shape`` options).
        build: ``build(data, **options)`` returns a new model for the `TrainingData`
            ``data``; default ``model_class.from_shape(data.shape, **options)``.
        conditions: the keyword conditions of ``generate()`` (see `CONDITIONS`).
        export_options: the `Option`\\ s of ``serving_functions()`` (``kgen export`` flags).
        default_data: the data ``kgen train`` uses when none is given.
        default_epochs: the epochs ``kgen train`` runs when none are given.
        monitor: the log that falls as the model trains on a fixed batch (the test
            harness checks it).
        tiny: ``build`` options of a small model for tests (a few thousand weights).
        metrics: the ``kgen evaluate`` metrics that apply.
        trains_on_batches: False for the families that optimise one image (no data set:
            ``fit(steps=...)``).
        seeded: whether ``generate()`` draws noise, so that different seeds give
            different samples (False for translation and single-image families, whose
            output is decided by their inputs and weights).
        generates: False for a family that draws no samples (a dual encoder such as
            CLIP, which scores images against texts): its ``generate()`` and export
            raise `NotImplementedError`, and the command line writes no sample grids.
        finish: None, or ``finish(model, samples)``: what a model needs after training
            before it can generate, given (up to 10,000) training samples; the command
            line calls it after every run (an autoencoder fits the Gaussian of its codes).
    """

    name: str
    model_class: type
    summary: str
    data: str = "samples"
    labels: str = "none"
    options: tuple = ()
    build: Optional[Callable] = None
    conditions: tuple = ()
    export_options: tuple = ()
    default_data: str = "digits"
    default_epochs: int = 50
    monitor: str = "loss"
    tiny: dict = dataclasses.field(default_factory=dict)
    metrics: tuple = ("fid", "kid", "is", "pr")
    trains_on_batches: bool = True
    seeded: bool = True
    finish: Optional[Callable] = None
    generates: bool = True

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").isalnum() or self.name.lower() \
                != self.name:
            raise ValueError(f"Family name {self.name!r}: use lower-case letters, digits "
                             "and underscores.")
        if self.data not in DATA_KINDS:
            raise ValueError(f"Family {self.name!r}: data must be one of {sorted(DATA_KINDS)};"
                             f" got {self.data!r}.")
        if self.labels not in LABELS:
            raise ValueError(f"Family {self.name!r}: labels must be one of {LABELS}; got "
                             f"{self.labels!r}.")
        unknown = [c for c in self.conditions if c not in CONDITIONS]
        if unknown:
            raise ValueError(f"Family {self.name!r}: unknown conditions {unknown}; known: "
                             f"{CONDITIONS}.")
        for group in (self.options, self.export_options):
            names = [option.name for option in group]
            if len(set(names)) != len(names):
                raise ValueError(f"Family {self.name!r}: repeated option names {names}.")
        if self.build is None:
            object.__setattr__(self, "build", _default_build(self.model_class, self.labels))

    def option(self, name):
        """The `Option` called ``name`` (a build or export option)."""
        for option in self.options + self.export_options:
            if option.name == name:
                return option
        raise KeyError(f"Family {self.name!r} has no option {name!r}.")

    def build_parameters(self):
        """The keyword arguments ``build`` accepts, read from its signature (and, for the
        default ``build``, from ``from_shape`` and the constructor)."""
        accepted = _keywords(self.build)
        if _accepts_any(self.build):
            if hasattr(self.model_class, "from_shape"):
                accepted |= _keywords(self.model_class.from_shape)
            # A constructor's **kwargs reach its base classes' constructors.
            for cls in self.model_class.__mro__:
                init = cls.__dict__.get("__init__")
                if init is None:
                    continue
                accepted |= _keywords(init)
                if not _accepts_any(init) or cls.__module__.startswith("keras"):
                    break
        return accepted - {"self", "cls", "data", "shape", "kwargs"}


def _keywords(function):
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return set()
    return {name for name, p in parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _accepts_any(function):
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_KEYWORD for p in parameters)


_FAMILIES = {}


def register(family):
    """Adds ``family`` (a `Family`) to the registry; returns it.

    Raises:
        ValueError: another family already has its name.
    """
    if not isinstance(family, Family):
        raise TypeError(f"register() takes a kgen.models.registry.Family; got "
                        f"{type(family).__name__}.")
    existing = _FAMILIES.get(family.name)
    if existing is not None and existing.model_class is not family.model_class:
        raise ValueError(f"A family named {family.name!r} is already registered "
                         f"({existing.model_class.__name__}).")
    _FAMILIES[family.name] = family
    return family


def get(name):
    """The `Family` called ``name``.

    Raises:
        ValueError: no family has that name (the message lists them).
    """
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(f"Unknown model family {name!r}; the families are "
                         f"{', '.join(sorted(_FAMILIES))}.") from None


def names():
    """The names of every registered family, in registration order."""
    return list(_FAMILIES)


def families():
    """Every registered `Family`, in registration order."""
    return list(_FAMILIES.values())


def family_of(model):
    """The `Family` of a model instance (its class, or the nearest registered base class)."""
    for cls in type(model).__mro__:
        for family in _FAMILIES.values():
            if family.model_class is cls:
                return family
    raise ValueError(f"{type(model).__name__} is not a registered kgen family.")
