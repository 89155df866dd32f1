"""`distribute`: train a kgen model on several devices with the active backend's own engine."""

import json
import os

import keras
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


class Processes:
    """The processes that train one model together (see `initialize_processes`).

    Attributes:

    - ``num_processes``: how many processes train the model (1 without
      `initialize_processes`).
    - ``process_id``: this process's index, ``0`` to ``num_processes - 1``; process 0
      writes the files of a run (`is_writer`).
    - ``engine``: ``"keras.distribution"`` (JAX), ``"tf.distribute.MultiWorkerMirroredStrategy"``
      (TensorFlow) or ``"one process"``.
    - ``addresses``: the addresses given (the coordinator on JAX, every worker on
      TensorFlow), a tuple of ``"HOST:PORT"`` strings; empty for one process.
    - ``initialized``: True once `initialize_processes` has run in this program.

    Example:

    ```python
    import kgen

    kgen.processes()   # Processes(process_id=0, num_processes=1, ...)
    kgen.processes().is_writer   # True
    ```
    """

    def __init__(self, process_id=0, num_processes=1, engine="one process", addresses=(),
                 initialized=False):
        self.initialized = bool(initialized)
        self.process_id = int(process_id)
        self.num_processes = int(num_processes)
        self.engine = engine
        self.addresses = tuple(addresses)

    @property
    def is_writer(self):
        """True for the process that writes a run's files (process 0)."""
        return self.process_id == 0

    def __repr__(self):
        return (f"Processes(process_id={self.process_id}, num_processes="
                f"{self.num_processes}, engine={self.engine!r}, addresses={self.addresses!r})")


_PROCESSES = []   # the Processes of initialize_processes, once it has run


def processes():
    """The `Processes` of this program: those of `initialize_processes`, or of ``TF_CONFIG``.

    Without `initialize_processes`: on TensorFlow with a ``TF_CONFIG`` that describes a
    cluster, its workers (and this task's index); otherwise one process. Reads no
    backend state (it starts no device), so it can be called at any time.

    Example:

    ```python
    import kgen

    kgen.processes().num_processes   # 1 in a program of its own
    ```
    """
    if _PROCESSES:
        return _PROCESSES[0]
    if keras.backend.backend() == "tensorflow" and os.environ.get("TF_CONFIG"):
        try:
            workers, index = _tf_config_workers(os.environ["TF_CONFIG"])
        except ValueError:
            return Processes()
        return Processes(index, len(workers), "tf.distribute.MultiWorkerMirroredStrategy",
                         workers)
    return Processes()


def _tf_config_workers(text):
    """``(addresses, index)`` of the workers (chief first) of a ``TF_CONFIG`` string."""
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config.get("task", {})
        workers = list(cluster.get("chief", [])) + list(cluster.get("worker", []))
        kind, index = task.get("type", "worker"), int(task.get("index", 0))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(
            f"TF_CONFIG is not JSON with a 'cluster' of workers and a 'task': {text!r}; see "
            "https://www.tensorflow.org/guide/distributed_training#TF_CONFIG") from None
    if not workers:
        raise ValueError(f"TF_CONFIG names no 'worker' (or 'chief') in its cluster: {text!r}.")
    if kind == "worker" and "chief" in cluster:
        index += len(cluster["chief"])
    return workers, index


def _address(text, what):
    """``"HOST:PORT"`` checked: a host and a port from 1 to 65535."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a 'HOST:PORT' string; got {text!r}.")
    host, colon, port = text.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"{what} must be 'HOST:PORT' (a host name or address, a colon and a port from "
            f"1 to 65535, such as '10.0.0.1:1234'); got {text!r}.")
    return f"{host}:{int(port)}"


def _count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}; got {value!r}.")
    return int(value)


def initialize_processes(coordinator=None, num_processes=None, process_id=None, *,
                         workers=None):
    """Makes this process one of ``num_processes`` that train one model together.

    Call it on every process (every machine, or every task of a cluster job) **first**,
    before anything makes a tensor or builds a model; then `distribute` with
    ``devices="all"`` spans the devices of every process, and ``fit()`` trains on the
    global batch, each process reading its own part of it.

    Per backend:

    - JAX: ``keras.distribution.initialize(coordinator, num_processes, process_id)``
      (JAX's coordination service listens at ``coordinator`` on process 0); on CPU,
      the cross-process collectives go through Gloo
      (``jax_cpu_collectives_implementation="gloo"``, set here unless chosen already).
    - TensorFlow: ``tf.distribute.MultiWorkerMirroredStrategy`` over a cluster of
      workers, which `distribute` then uses. Every worker listens at an address of its
      own: ``workers="h1:p1,h2:p2"`` (process ``i`` at the ``i``-th), or, with only
      ``coordinator="HOST:PORT"``, all the workers on that host at consecutive ports
      ``PORT`` to ``PORT + num_processes - 1`` (one machine). ``TF_CONFIG`` is written
      from them. With no argument, an existing ``TF_CONFIG`` is used as it is.
    - PyTorch: a `RuntimeError`: Keras 3's ``fit()`` has no multi-process
      (``DistributedDataParallel``) path on PyTorch.

    Data: give ``fit()`` the **global** batch, the same data in the same order on every
    process (a ``tf.data.Dataset``, such as `kgen.data.images` with a ``seed``, or numpy
    arrays); Keras (JAX) and ``tf.distribute`` (TensorFlow) give process ``i`` rows
    ``i * B / N`` to ``(i + 1) * B / N`` of each global batch of ``B``, so the steps are
    those of one process with the global batch. kgen turns numpy arrays into such a
    dataset, shuffled (``shuffle=True``) by a seed that every process shares.

    Args:
        coordinator: ``"HOST:PORT"`` of process 0 (JAX), or of the first worker when all
            run on one host (TensorFlow).
        num_processes: how many processes, at least 1 (with ``workers``, defaults to
            their number).
        process_id: this process's index, from 0 to ``num_processes - 1``.
        workers: TensorFlow: every worker's ``"HOST:PORT"``, a comma-separated string or
            a list, in process order; JAX: the first one is the coordinator.

    Returns:
        The `Processes` of this program (also `processes`).

    Raises:
        ValueError: a malformed ``HOST:PORT``, ``num_processes`` below 1, a
            ``process_id`` out of range, missing arguments, ``workers`` of another
            length than ``num_processes``, or a bad ``TF_CONFIG``.
        RuntimeError: a second call, a backend that has already started its devices
            (call this first), or the PyTorch backend.

    Example (a bad address is refused before anything starts; on PyTorch, any call):

    ```python
    import kgen

    try:
        kgen.initialize_processes("10.0.0.1", num_processes=2, process_id=0)
    except (ValueError, RuntimeError) as error:
        # JAX, TensorFlow: coordinator must be 'HOST:PORT' (...); got '10.0.0.1'.
        # PyTorch: Training with several processes is not available on the PyTorch ...
        print(error)
    ```

    Two machines, the same program on each (``process_id=1`` on the second):

    ```text
    import kgen

    kgen.initialize_processes("10.0.0.1:1234", num_processes=2, process_id=0)
    x = kgen.data.load("digits")
    with kgen.distribute("all") as scope:
        gan = kgen.models.GAN.from_shape(x.shape[1:])
        gan.compile()
        gan.fit(kgen.data.images(x, batch_size=128, seed=0), epochs=20)
    ```

    With ``num_processes=1`` nothing is started: the program trains as it would
    without this call.
    """
    if _PROCESSES:
        raise RuntimeError(
            f"initialize_processes was already called in this program ({_PROCESSES[0]}); "
            "call it once, at the start of every process.")
    given = (coordinator, num_processes, process_id, workers)
    name = keras.backend.backend()
    if name == "torch":
        backend.initialize_processes(None, None, None, None)   # raises the PyTorch error
    if all(value is None for value in given):
        if name == "tensorflow" and os.environ.get("TF_CONFIG"):
            addresses, index = _tf_config_workers(os.environ["TF_CONFIG"])
            description = backend.initialize_processes(None, len(addresses), index, addresses)
            _PROCESSES.append(Processes(index, len(addresses), description, addresses, True))
            return _PROCESSES[0]
        raise ValueError(
            "initialize_processes needs coordinator='HOST:PORT', num_processes and "
            "process_id (or, on TensorFlow, workers=... or a TF_CONFIG environment "
            "variable).")
    if workers is not None:
        items = workers.split(",") if isinstance(workers, str) else list(workers)
        addresses = [_address(item, "each of workers") for item in items]
        if num_processes is None:
            num_processes = len(addresses)
    num_processes = _count(num_processes, "num_processes", 1)
    if process_id is None:
        raise ValueError("initialize_processes needs process_id, this process's index "
                         f"from 0 to {num_processes - 1}.")
    if isinstance(process_id, bool) or not isinstance(process_id, (int, np.integer)) \
            or not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be an integer from 0 to num_processes - 1 = "
                         f"{num_processes - 1}; got {process_id!r}.")
    process_id = int(process_id)
    if workers is None:
        if coordinator is None:
            raise ValueError("initialize_processes needs coordinator='HOST:PORT' (the "
                             "address of process 0), or workers=...")
        first = _address(coordinator, "coordinator")
        host, port = first.rsplit(":", 1)
        if name == "tensorflow" and int(port) + num_processes - 1 > 65535:
            raise ValueError(f"coordinator {coordinator!r}: the workers listen at ports "
                             f"{port} to {int(port) + num_processes - 1}, above 65535.")
        addresses = [first] if name != "tensorflow" else \
            [f"{host}:{int(port) + i}" for i in range(num_processes)]
    else:
        if len(addresses) != num_processes:
            raise ValueError(f"workers names {len(addresses)} address(es) but num_processes "
                             f"is {num_processes}: give one HOST:PORT per process.")
        if coordinator is not None and _address(coordinator, "coordinator") != addresses[0]:
            raise ValueError(f"coordinator {coordinator!r} is not the first of workers "
                             f"({addresses[0]!r}): give one of them, or make them agree.")
        addresses = addresses if name == "tensorflow" else addresses[:1]
    if name == "tensorflow" and os.environ.get("TF_CONFIG"):
        raise ValueError(
            "TF_CONFIG is set and so are the addresses of initialize_processes: unset "
            "TF_CONFIG, or call initialize_processes() with no argument to use it.")
    description = "one process" if num_processes == 1 else backend.initialize_processes(
        addresses[0], num_processes, process_id, addresses)
    _PROCESSES.append(Processes(process_id, num_processes, description, addresses, True))
    return _PROCESSES[0]
