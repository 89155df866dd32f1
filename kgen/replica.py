"""Replica-aware primitives of a training step: noise, batch statistics and batch rows.

Under a ``tf.distribute`` strategy, Keras runs a model's training step once per replica,
each on its own share of the global batch. Three things a step does would then differ
from one device, and kgen's layers and models route them through this module:

- `batch_noise`: per-example noise (latent vectors, dropout masks, coin flips). Every
  replica reads the same seed state, so a plain draw gives all of them the same noise;
  here each one keeps its own rows of the noise of the global batch.
- `gather_batch`: state updated from the batch (a VQ-VAE's codebook statistics, an image
  pool) is updated from the global batch, the same way on every replica.
- `local_rows`: a replica's own rows of a global batch (what an image pool hands back).

This module is backend-free and imports nothing from kgen: it dispatches to an
implementation installed with `install`. Importing `kgen.backend` (which every kgen model
does) installs the one of the active Keras backend. Until then, and on one device, JAX
(whose batch is one global array) and PyTorch, the primitives are ``draw(shape)``, ``x``
and ``x``: the one-replica behaviour.

Example:

```python
import keras
from kgen import replica

seed = keras.random.SeedGenerator(0)
noise = replica.batch_noise(lambda s: keras.random.normal(s, seed=seed), (4, 2))
tuple(noise.shape)   # (4, 2)
```
"""


def _draw(draw, shape):
    return draw(shape)


def _same(x):
    return x


def _same_rows(x, size):
    return x


#: The one-replica behaviour of each primitive.
ONE_REPLICA = {"batch_noise": _draw, "gather_batch": _same, "local_rows": _same_rows}

_installed = dict(ONE_REPLICA)


def install(batch_noise=None, gather_batch=None, local_rows=None):
    """Installs the implementations of the primitives (those given; the others are kept).

    `kgen.backend` calls this when it is imported, with its own replica-aware functions.

    Args:
        batch_noise: ``f(draw, shape)``, as `batch_noise`.
        gather_batch: ``f(x)``, as `gather_batch`.
        local_rows: ``f(x, size)``, as `local_rows`.

    Returns:
        The implementations installed before, as a dict: ``install(**previous)`` puts
        them back.

    Raises:
        TypeError: an implementation that is not callable.

    Example:

    ```python
    from kgen import replica

    previous = replica.install(gather_batch=lambda x: x + x)
    replica.gather_batch(1)   # 2
    replica.install(**previous)
    replica.gather_batch(1)   # 1
    ```
    """
    given = {"batch_noise": batch_noise, "gather_batch": gather_batch,
             "local_rows": local_rows}
    for name, function in given.items():
        if function is not None and not callable(function):
            raise TypeError(f"{name} must be a function; got {type(function).__name__}.")
    previous = dict(_installed)
    _installed.update({name: f for name, f in given.items() if f is not None})
    return previous


def implementations():
    """The installed implementations, as a dict (``batch_noise``, ``gather_batch``,
    ``local_rows``)."""
    return dict(_installed)


def batch_noise(draw, shape):
    """Per-example noise for a batch of ``shape``: ``draw(shape)``, replica-aware.

    ``shape[0]`` is the batch axis. With ``N`` replicas under ``tf.distribute``, each
    replica draws the noise of the global batch, ``N * shape[0]`` examples, and keeps its
    own rows: the replicas get different noise, and together the noise one device draws
    for the global batch, so training on ``N`` devices matches one device.

    Args:
        draw: a function of a shape returning a tensor of that shape drawn from a
            `keras.random.SeedGenerator` (``lambda s: keras.random.normal(s, seed=gen)``).
        shape: the shape of this batch's noise; its first entry (an int or a scalar
            tensor) is the batch size.

    Returns:
        A tensor of ``shape``.

    Example:

    ```python
    import keras
    from kgen import replica

    seed = keras.random.SeedGenerator(1)
    mask = replica.batch_noise(lambda s: keras.random.uniform(s, seed=seed), (3, 5))
    ```
    """
    return _installed["batch_noise"](draw, tuple(shape))


def gather_batch(x):
    """The global batch: ``x`` of every replica of the step, concatenated along axis 0.

    ``x`` itself on one replica; an all-gather under ``tf.distribute``.

    Example:

    ```python
    import numpy as np
    from kgen import replica

    replica.gather_batch(np.zeros((4, 2), "float32")).shape   # (4, 2) on one device
    ```
    """
    return _installed["gather_batch"](x)


def local_rows(x, size):
    """This replica's ``size`` rows of a global batch ``x`` (the inverse of `gather_batch`).

    ``x`` itself on one replica; replica ``i`` of ``tf.distribute`` gets rows
    ``i * size`` to ``(i + 1) * size``.

    Example:

    ```python
    import numpy as np
    from kgen import replica

    replica.local_rows(np.arange(6), 3)   # the whole array on one device
    ```
    """
    return _installed["local_rows"](x, size)
