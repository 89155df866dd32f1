"""`distribute`: train a kgen model on several devices with the active backend's own engine."""

import numpy as np

from kgen import backend


class DistributedScope:
    """The context in which to build, compile and fit a model on several devices.

    Returned by `distribute`; use it in a ``with`` block. Attributes:

    - ``engine``: the engine used (``"keras.distribution.DataParallel"``,
      ``"keras.distribution.ModelParallel"``, ``"tf.distribute.MirroredStrategy"``,
      ``"tf.distribute.MultiWorkerMirroredStrategy"`` or ``"one device"``).
    - ``num_replicas``: how many data-parallel replicas share each global batch.
    - ``strategy`` (TensorFlow) or ``distribution`` (JAX): the engine object itself.

    Args:
        make_scope: a function returning a new context manager of the engine.
        description: a dict with ``engine``, ``num_replicas`` and the engine object.

    Example:

    ```python
    import kgen

    with kgen.distribute(1) as scope:
        vae = kgen.models.VAE.from_shape((8, 8, 1), latent_dim=4)
    scope.num_replicas   # 1
    ```
    """

    def __init__(self, make_scope, description):
        self._make_scope = make_scope
        self._active = []
        self.engine = description["engine"]
        self.num_replicas = int(description["num_replicas"])
        self.strategy = description.get("strategy")
        self.distribution = description.get("distribution")

    def __enter__(self):
        context = self._make_scope()  # a new one each time: the scope can be entered again
        context.__enter__()
        self._active.append(context)
        return self

    def __exit__(self, *exc_info):
        return self._active.pop().__exit__(*exc_info)

    def __repr__(self):
        return f"DistributedScope(engine={self.engine!r}, num_replicas={self.num_replicas})"


def distribute(devices="all", model_parallel=None):
    """Chooses the engine that trains on ``devices`` devices for the active Keras backend.

    kgen has no distribution layer of its own: this returns the scope of the backend's
    engine, in which the model must be **built, compiled and fitted**:

    - JAX: ``keras.distribution.DataParallel`` (each device holds all the weights and a
      slice of each batch), or ``keras.distribution.ModelParallel`` with
      ``model_parallel``. Variables take their layout when they are created, so the
      model must be created inside the scope (set_distribution before variables exist).
      Several hosts: call ``keras.distribution.initialize()`` on every host first.
    - TensorFlow: ``tf.distribute.MirroredStrategy`` over the local GPUs (or CPUs), or
      ``tf.distribute.MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes a cluster.
      Models and optimizers are mirrored when they are created in the scope; kgen's
      training step scales each replica's loss so the summed gradients are those of the
      global batch.
    - PyTorch: one device only (Keras 3's ``fit()`` has no DDP); asking for more raises
      a `RuntimeError`.

    The batch size given to ``fit()`` (or the dataset's batch) is the *global* batch,
    split over the replicas; it must be divisible by ``num_replicas``.

    Args:
        devices: a positive integer, or ``"all"`` (every device the backend sees).
        model_parallel: JAX only. None for data parallelism; an integer ``k`` to split
            every dense/convolution kernel's input features over ``k`` devices (mesh
            ``(devices // k, k)`` with axes ``("batch", "model")``); or a
            `keras.distribution.LayoutMap` for full control.

    Returns:
        A `DistributedScope` (a context manager).

    Raises:
        ValueError: a bad ``devices`` value, more devices than the backend sees, or
            ``model_parallel`` on TensorFlow.
        RuntimeError: several devices on PyTorch.

    Example:

    ```python
    import kgen

    x = kgen.data.load("digits")
    with kgen.distribute(devices="all") as scope:
        gan = kgen.models.GAN.from_shape(x.shape[1:])
        gan.compile()
        gan.fit(kgen.data.images(x, batch_size=64 * scope.num_replicas), epochs=1)
    ```

    References:
        Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel
        Training", VLDB 2020 (data-parallel training with gradient all-reduce).
    """
    if devices != "all" and (isinstance(devices, bool)
                             or not isinstance(devices, (int, np.integer)) or devices < 1):
        raise ValueError(f"devices must be a positive integer or 'all'; got {devices!r}.")
    if model_parallel is not None and not hasattr(model_parallel, "device_mesh") and (
            isinstance(model_parallel, bool)
            or not isinstance(model_parallel, (int, np.integer)) or model_parallel < 1):
        raise ValueError(
            "model_parallel must be None, a positive integer (devices along the 'model' "
            f"axis) or a keras.distribution.LayoutMap; got {model_parallel!r}.")
    devices = devices if devices == "all" else int(devices)
    make_scope, description = backend.distribution_scope(devices, model_parallel)
    return DistributedScope(make_scope, description)
