"""TensorFlow implementation of the kgen training step (GradientTape).

Under a `tf.distribute` strategy with several replicas (``MirroredStrategy``,
``MultiWorkerMirroredStrategy``), Keras runs ``train_step`` once per replica on that
replica's share of the global batch, and ``optimizer.apply`` *sums* the gradients of all
replicas (an all-reduce) before updating the mirrored variables. A family's loss is a mean
over the batch it sees, so ``value_and_grad`` differentiates ``loss / num_replicas``: the
summed gradient is then the gradient of the mean over the global batch, as on one device.
The loss it returns (and so every logged value) is the unscaled per-replica mean, and
Keras averages the logs of the replicas.

Two more things keep several replicas equal to one device: the batch-normalisation
layers of the model use the global batch's statistics during a replicated step
(``synchronized``; on JAX the batch is one global array, so they always do), and the
noise of a step is drawn for the global batch and sliced (`batch_noise`).
"""

import contextlib

import keras
import tensorflow as tf


def train_step(model, data):
    with _synchronized_batch_norm(model):
        return _reducible_logs(model.run_updates(data))


def test_step(model, data):
    return _reducible_logs(model.run_evaluation(data))


def _in_cluster(strategy):
    """True for a multi-worker strategy whose workers are several processes."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)()


def symbolic_build(model, build, iterator, data_batch):
    """Keras's build of the model from a first batch, before ``fit()`` traces its step.

    Keras 3.15 reduces that batch with ``strategy.reduce("MEAN", batch)``; a
    ``MultiWorkerMirroredStrategy`` cannot reduce a structure (``(images, labels)``:
    "Attempt to convert a value (PerReplica...) to a Tensor"), and only the shapes and
    dtypes matter to the build: in a cluster, the model is built from zeros of the
    dataset's element shapes instead (no collective operation, no pass over the data)."""
    strategy = model.distribute_strategy
    if iterator is None or not _in_cluster(strategy):
        return build(iterator=iterator, data_batch=data_batch)
    # Zeros of the shapes and dtypes of a batch, not a batch read from the data: reading
    # one would start a pass over the dataset, and the next pass (the first epoch's) of
    # a kgen pipeline, which is one epoch per pass, would read the second epoch.
    spec = iterator.data_adapter.get_tf_dataset().element_spec

    def zeros(part):
        return tf.zeros([1 if size is None else size for size in part.shape], part.dtype)

    with strategy.scope():
        model._symbolic_build(data_batch=tf.nest.map_structure(zeros, spec))


def _reducible_logs(logs):
    """The logs of a step, as Keras can average them over the workers of a cluster.

    Keras 3.15 averages a step's logs over the replicas of a multi-worker strategy with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails on a scalar ("Invalid
    reduction dimension 0 for input with 0 dimensions"): there each value is given as a
    vector of one element, which that reduction averages into the scalar."""
    if not _in_cluster(tf.distribute.get_strategy()) or not isinstance(logs, dict):
        return logs
    return {key: tf.reshape(value, [1]) if tf.is_tensor(value) and value.shape.rank == 0
            else value for key, value in logs.items()}


def _replicas_in_step():
    """The number of replicas summing their gradients in the current step (1 outside one)."""
    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context: no per-replica step is running
        return 1
    return context.num_replicas_in_sync


@contextlib.contextmanager
def _synchronized_batch_norm(model):
    """Batch normalisation with the statistics of the global batch while a replicated step
    is traced: each replica would otherwise normalise with, and update its moving
    statistics from, its own share of the batch, and the replicas would drift apart.

    The flag is set for the trace only, so the saved configuration stays backend-neutral
    (``synchronized=True`` is a TensorFlow-only option of `keras.layers.BatchNormalization`).
    """
    if _replicas_in_step() == 1:
        yield
        return
    layers = [layer for layer in model._flatten_layers()
              if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized]
    for layer in layers:
        layer.synchronized = True
    try:
        yield
    finally:
        for layer in layers:
            layer.synchronized = False


def _local_rows(x, size):
    """Rows ``[i * size, (i + 1) * size)`` of ``x``, for replica ``i`` of the step."""
    start = tf.distribute.get_replica_context().replica_id_in_sync_group * size
    return x[start:start + size]


def batch_noise(draw, shape):
    replicas = _replicas_in_step()
    if replicas == 1:
        return draw(shape)
    # Every replica reads the same seed state: each draws the global batch's noise (the
    # draw one device makes) and keeps the rows of its own share of the batch.
    return _local_rows(draw((shape[0] * replicas,) + shape[1:]), shape[0])


def gather_batch(x):
    if _replicas_in_step() == 1:
        return x
    return tf.distribute.get_replica_context().all_gather(x, axis=0)


def local_rows(x, size):
    return x if _replicas_in_step() == 1 else _local_rows(x, size)


def value_and_grad(fn, variables):
    def wrapped(*args, **kwargs):
        replicas = _replicas_in_step()
        with tf.GradientTape() as tape:
            loss, aux = fn(*args, **kwargs)
            scaled = loss if replicas == 1 else loss * (1.0 / replicas)
        grads = tape.gradient(scaled, variables)
        # An embedding's gradient comes as IndexedSlices: made dense, so that the
        # optimizers apply the same update as on the other backends (sparse slices with
        # repeated rows go through scatter updates), and so that the all-reduce of
        # several replicas gets the same static shape on every one.
        grads = [tf.reshape(tf.convert_to_tensor(g), v.shape)
                 if isinstance(g, tf.IndexedSlices) else g
                 for g, v in zip(grads, variables)]
        return (loss, aux), grads

    return wrapped


def apply_gradients(optimizer, gradients, variables):
    optimizer.apply(gradients, variables)


def run_if(condition, fn, variables):
    # Values read before fn (automatic control dependencies order them before its writes).
    before = [tf.identity(variable.value) for variable in variables]
    fn()
    for variable, old in zip(variables, before):
        variable.assign(tf.where(condition, variable.value, old))


def input_gradient(fn, x):
    # Computed while any outer tape is recording, so the outer tape differentiates it.
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(fn(x))
    grad = tape.gradient(total, x)
    return tf.zeros_like(x) if grad is None else grad


def compile_function(fn, variables):
    del variables  # read live by the traced function
    return tf.function(fn, reduce_retracing=True)


def _logical_devices(kind):
    return [device.name for device in tf.config.list_logical_devices(kind)]


def distribution_scope(devices, model_parallel):
    """``(make_scope, description)`` for training on ``devices`` replicas with ``tf.distribute``.

    ``TF_CONFIG`` set in the environment means a multi-worker cluster
    (``MultiWorkerMirroredStrategy``, every local accelerator of every worker), unless
    ``devices`` is 1 (this worker's one device, on its own); otherwise
    ``MirroredStrategy`` over the first ``devices`` local GPUs, or CPUs when there is no GPU.
    """
    import json
    import os

    if model_parallel is not None:
        raise ValueError(
            "model_parallel is implemented with keras.distribution, which Keras 3 runs on "
            "the JAX backend only; on TensorFlow kgen trains data parallel "
            "(model_parallel=None). Set KERAS_BACKEND=jax for model parallelism.")
    if os.environ.get("TF_CONFIG") and devices != 1:
        try:
            cluster = json.loads(os.environ["TF_CONFIG"])["cluster"]
        except (ValueError, KeyError):
            raise ValueError(
                "TF_CONFIG is set but is not JSON with a 'cluster' entry; see "
                "https://www.tensorflow.org/guide/distributed_training#TF_CONFIG") from None
        strategy = _cluster_strategy()
        workers = sum(len(v) for k, v in cluster.items() if k in ("worker", "chief"))
        return strategy.scope, {
            "strategy": strategy, "engine": "tf.distribute.MultiWorkerMirroredStrategy",
            "num_replicas": strategy.num_replicas_in_sync, "workers": workers}
    available = _logical_devices("GPU") or _logical_devices("CPU")
    count = len(available) if devices == "all" else devices
    if count > len(available):
        raise ValueError(
            f"devices={devices} but TensorFlow sees {len(available)} device(s) "
            f"({', '.join(available)}). On CPU, split it into logical devices before "
            "TensorFlow starts: tf.config.set_logical_device_configuration(cpu, "
            "[tf.config.LogicalDeviceConfiguration()] * N).")
    if count == 1:
        strategy = tf.distribute.get_strategy()
        return contextlib.nullcontext, {
            "strategy": strategy, "engine": "one device", "num_replicas": 1}
    # Several CPUs: reduce on one device. The default collective all-reduce can pair
    # different collectives across replicas when a step makes several updates, each with
    # its own all-reduce ("Shape mismatch in the collective instance").
    cross_device_ops = None if _logical_devices("GPU") else tf.distribute.ReductionToOneDevice()
    strategy = tf.distribute.MirroredStrategy(available[:count], cross_device_ops=cross_device_ops)
    return strategy.scope, {
        "strategy": strategy, "engine": "tf.distribute.MirroredStrategy",
        "num_replicas": strategy.num_replicas_in_sync}


_CLUSTER = []   # the MultiWorkerMirroredStrategy of this program, made once


def _cluster_strategy():
    """The program's ``MultiWorkerMirroredStrategy`` (of ``TF_CONFIG``), made on first use.

    TensorFlow configures its collective operations once, when the strategy is made
    before any tensor exists, so one strategy serves every `distribute` scope."""
    if not _CLUSTER:
        try:
            _CLUSTER.append(tf.distribute.MultiWorkerMirroredStrategy())
        except RuntimeError as error:
            if "program startup" not in str(error):
                raise
            raise RuntimeError(
                "TensorFlow's multi-worker strategy must be made before TensorFlow starts "
                "(before any tensor or model exists): call kgen.initialize_processes (or "
                "kgen.distribute, with TF_CONFIG set) at the start of the program. "
                f"TensorFlow said: {error}") from None
    return _CLUSTER[0]


def initialize_processes(coordinator, num_processes, process_id, addresses):
    """Makes the ``MultiWorkerMirroredStrategy`` of a cluster of ``addresses`` (worker
    ``i`` listens at ``addresses[i]``; this is worker ``process_id``), writing
    ``TF_CONFIG`` when it is not set. Returns the engine's name."""
    import json
    import os

    del coordinator, num_processes
    written = not os.environ.get("TF_CONFIG")
    if written:
        os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": list(addresses)},
                                              "task": {"type": "worker",
                                                       "index": int(process_id)}})
    try:
        _cluster_strategy()
    except BaseException:
        if written:   # nothing started: leave the environment as it was
            del os.environ["TF_CONFIG"]
        raise
    return "tf.distribute.MultiWorkerMirroredStrategy"
