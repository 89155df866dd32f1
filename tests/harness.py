"""Helpers shared by the tests: small networks and models, and variable values."""

import os

import keras
import numpy as np

import kgen
from kgen.networks.diffusion_unet import SinusoidalEmbedding

SHAPE = (8, 8, 1)
#: The backends of the README's test command, which runs the suite once on each.
BACKENDS = ("jax", "tensorflow", "torch")


def this_backends_share(names, backend=None):
    """The names of ``names`` that this backend's test run takes: every third one, from the
    backend's place in `BACKENDS`, so that the three runs take each name once.

    For a check whose backend-specific part is made for every name elsewhere: the command
    line's handling of each family (its data, options, run folder, sample grids and
    metrics) is the same code on every backend, and `tests/models/test_families.py` trains,
    saves, loads and samples every family on every backend. ``backend``: another
    backend's share (default: this run's). ``KGEN_ALL_FAMILIES=1``: every name.
    """
    if os.environ.get("KGEN_ALL_FAMILIES") == "1":
        return list(names)
    index = BACKENDS.index(backend or keras.backend.backend())
    return [name for position, name in enumerate(names)
            if position % len(BACKENDS) == index]


def tiny_gan(shape=(8, 8, 1), **kwargs):
    kwargs.setdefault("seed", 0)
    return kgen.models.GAN.from_shape(shape, latent_dim=16, base_filters=8, **kwargs)


def tiny_vae(shape=(8, 8, 1), **kwargs):
    kwargs.setdefault("seed", 0)
    return kgen.models.VAE.from_shape(shape, latent_dim=4, base_filters=8, **kwargs)


class RecordLogs(keras.callbacks.Callback):
    """Keeps a copy of the logs of every epoch."""

    def __init__(self):
        super().__init__()
        self.logs = []

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append(dict(logs))


def values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def tiny_network(num_classes=None, shape=SHAPE, filters=8):
    """A two-convolution denoiser with a timestep (and class) embedding: fast to compile."""
    x_t, t = keras.Input(shape), keras.Input(())
    inputs = [x_t, t]
    embedding = keras.layers.Dense(filters)(SinusoidalEmbedding(filters)(t))
    if num_classes is not None:
        labels = keras.Input((), dtype="int32")
        inputs.append(labels)
        embedding = keras.layers.Add()(
            [embedding, keras.layers.Embedding(num_classes + 1, filters)(labels)])
    h = keras.layers.Conv2D(filters, 3, padding="same")(x_t)
    h = keras.layers.Add()([h, keras.layers.Reshape((1, 1, filters))(embedding)])
    h = keras.layers.Activation("silu")(h)
    out = keras.layers.Conv2D(shape[-1], 3, padding="same")(h)
    return keras.Model(inputs, out)


# ------------------------------------------------------------------ families
#: Classes of the labelled test data (digit % 3): small embeddings, quick to learn.
NUM_CLASSES = 3
#: Samples of the test data of batch-trained families, and their batch size.
NUM_EXAMPLES, BATCH = 32, 16


def family_data(family, num_examples=NUM_EXAMPLES):
    """``(TrainingData, fit_arrays)`` of a small data set of ``family``'s kind.

    ``fit_arrays`` is ``(x, y)`` for ``model.fit(x, y, ...)`` (``y`` None when unused), or
    None for a family that optimises one image (``fit(steps=...)``).
    """
    from kgen.models.registry import TrainingData

    if family.data == "samples":
        images, labels = kgen.data.load("digits", return_labels=True)
        x = kgen.data.to_data_space(images[:num_examples])
        if family.labels == "none":
            return TrainingData(x.shape[1:]), (x, None)
        y = (labels[:num_examples] % NUM_CLASSES).astype("int32")
        return TrainingData(x.shape[1:], num_classes=NUM_CLASSES), (x, y)
    if family.data in ("paired", "unpaired"):
        load = kgen.data.load_paired if family.data == "paired" else kgen.data.load_unpaired
        name = "digits-edges" if family.data == "paired" else "digits-rotated"
        a, b = (kgen.data.to_data_space(part[:num_examples]) for part in load(name))
        return TrainingData(a.shape[1:], target_shape=b.shape[1:]), (a, b)
    if family.data == "captioned":
        return captioned_data(num_examples)
    names = ("coffee",) if family.data == "image" else ("astronaut", "brick")
    images = np.stack([kgen.data.load_image(name, size=16, channels=3) for name in names])
    return TrainingData(images.shape[1:], images=images), None


def captioned_data(num_examples=NUM_EXAMPLES):
    """``(TrainingData, (x, ids))`` of captioned scenes as 8x8 grey images in data space
    (the shape of the other families' test data) and their five captions as token ids of
    a tokenizer adapted to them, the tokenizer a model built from
    ``TrainingData.captions`` makes: the same ids."""
    from kgen.data.captioned import caption_tokens
    from kgen.data.sources import _convert_channels, _resize_array
    from kgen.models.registry import TrainingData

    images, captions = kgen.data.load("captioned_digits", split="train",
                                      num_samples=num_examples, return_captions=True)
    x = kgen.data.to_data_space(_convert_channels(_resize_array(images, 8), 1))
    ids = caption_tokens(captions, kgen.networks.Tokenizer.adapted(captions))
    return TrainingData(x.shape[1:], captions=captions), (x, ids)


def family_outputs(model, family, arrays, seed, num_samples=4):
    """What a model of ``family`` gives for ``seed``: its samples (`generate_kwargs`), or
    for a family that draws none (CLIP), the similarities of its first images and their
    first captions."""
    if family.generates:
        return model.generate(seed=seed, **generate_kwargs(family, arrays, num_samples))
    x, ids = arrays
    texts = model.tokenizer.detokenize(ids[:num_samples, 0])
    return model.similarity(x[:num_samples], texts)


def build_tiny(family, seed=0, options=None, num_examples=NUM_EXAMPLES):
    """A small model of ``family`` (its registered tiny configuration, updated with
    ``options``) and its data."""
    data, arrays = family_data(family, num_examples)
    options = {**family.tiny, **(options or {})}
    if "seed" in family.build_parameters() or "seed" in _init_keywords(family):
        options.setdefault("seed", seed)
    return family.build(data, **options), arrays


def _init_keywords(family):
    import inspect

    return set(inspect.signature(family.model_class.__init__).parameters)


def generate_kwargs(family, arrays, num_samples=4):
    """The arguments of ``generate()`` that give ``num_samples`` samples of ``family``."""
    if not family.trains_on_batches:
        return {}
    x, y = arrays
    kwargs = {}
    if "inputs" in family.conditions and family.data in ("paired", "unpaired"):
        return {"inputs": x[:num_samples]}
    if "prompt" in family.conditions:
        kwargs["prompt"] = "a red seven"
    elif y is not None and "labels" in family.conditions:
        kwargs["labels"] = np.arange(num_samples) % NUM_CLASSES
    if "steps" in family.conditions:
        kwargs["steps"] = 4
    return {"num_samples": num_samples, **kwargs}


def fit_tiny(model, family, arrays, epochs, steps_per_epoch=2, **kwargs):
    """Trains ``model`` on its tiny data for ``epochs`` epochs; returns the History."""
    kwargs.setdefault("verbose", 0)
    if not family.trains_on_batches:
        return model.fit(epochs=epochs, steps_per_epoch=steps_per_epoch, **kwargs)
    x, y = arrays
    batch = len(x) // steps_per_epoch
    history = model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, **kwargs)
    if family.finish is not None:
        family.finish(model, x)
    return history
