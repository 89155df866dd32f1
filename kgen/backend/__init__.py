"""Backend-specific training code: the only place that imports tensorflow, jax or torch.

Each module (``tensorflow.py``, ``jax.py``, ``torch.py``) implements the same small
interface, used by `kgen.models.GenerativeModel`:

- ``train_step(model, ...)`` / ``test_step(model, ...)``: the ``keras.Model`` hooks, with the
  backend's own signature (JAX's are pure functions of the model state). They run
  ``model.run_updates(data)`` / ``model.run_evaluation(data)``, which are written once,
  backend-free.
- ``value_and_grad(fn, variables)``: returns a function that calls ``fn(*args, **kwargs)``
  (which returns ``(loss, aux)``) and returns ``((loss, aux), gradients)``, the gradients of
  ``loss`` with respect to ``variables``, in order. State changed inside ``fn`` (BatchNorm
  statistics, random seed states) is kept.
- ``apply_gradients(optimizer, gradients, variables)``.
- ``run_if(condition, fn, variables)``: inside a training step, the assignments of
  ``fn()`` to ``variables`` take effect only where the scalar boolean tensor
  ``condition`` is true (the updates, and the work after them, every N-th step of
  gradient accumulation).
- ``input_gradient(fn, x)``: the gradient of ``sum(fn(x))`` with respect to the *input*
  ``x`` (not the variables), itself differentiable, so a loss built from it (a gradient
  penalty) gives second-order gradients to ``value_and_grad``.
- ``compile_function(fn, variables)``: ``fn`` compiled for inference, once per input
  shape (the sampling loops of diffusion and autoregressive models).
- ``replayed_network(network)`` (optional): a callable like ``network(inputs,
  training=...)`` that sampling loops and training losses call instead of the network,
  where the backend has a faster form of one call (PyTorch: a ``torch.jit.trace``
  replay, ``torch_trace.py``); a module without it gets the network.
  ``replayed_method(network, name)`` (optional): the same for a method of tensors of
  the network; a module without it gets ``getattr(network, name)``.
- ``batch_noise(draw, shape)``, ``gather_batch(x)``, ``local_rows(x, size)``: only where
  a training step runs once per replica on its share of the batch (``tensorflow.py``):
  per-example noise drawn for the global batch, the global batch of a per-replica batch,
  and a replica's own rows of a global one. A module without them (JAX, whose batch is
  one global array; PyTorch, one device) gets ``draw(shape)``, ``x`` and ``x``. Importing
  this package installs these three in `kgen.replica`, through which the networks
  (`kgen.networks.Dropout`, `kgen.networks.VectorQuantizer`) and models reach them
  without importing a backend.
- ``conv_transpose(x, kernel, strides, padding)`` (optional): a transposed convolution
  for `kgen.networks.Conv2DTranspose`, where the backend's own is slow to differentiate
  (JAX on CPU: ``jax_conv_transpose.py``); a module without it gets
  ``keras.ops.conv_transpose``. Importing this package installs it in `kgen.fast_ops`,
  through which the networks reach it.
- ``distribution_scope(devices, model_parallel)``: the backend's engine for training on
  several devices (`kgen.distribute`): ``keras.distribution`` on JAX, ``tf.distribute``
  on TensorFlow, a clear error on PyTorch.
- ``initialize_processes(coordinator, num_processes, process_id, addresses)``: this
  process's part of a multi-process run (`kgen.initialize_processes`).
"""

import contextlib
import importlib
import sys

import keras

from kgen import fast_ops, replica

_SUPPORTED = ("tensorflow", "jax", "torch")


def _module():
    name = keras.backend.backend()
    if name not in _SUPPORTED:
        raise RuntimeError(
            f"kgen trains on the TensorFlow, JAX or PyTorch backend; the active Keras backend "
            f"is {name!r}. Set the environment variable KERAS_BACKEND to one of {_SUPPORTED} "
            "before importing keras."
        )
    # Imported once; later calls (some inside a function that tf.function traces) find it
    # in sys.modules, where AutoGraph has no importlib machinery to convert.
    return sys.modules.get(f"kgen.backend.{name}") or \
        importlib.import_module(f"kgen.backend.{name}")


def train_step(model, *args):
    """Runs one training step of ``model`` (see module docstring)."""
    return _module().train_step(model, *args)


def test_step(model, *args):
    """Runs one evaluation step of ``model`` (see module docstring)."""
    return _module().test_step(model, *args)


def value_and_grad(fn, variables):
    """Returns ``g(*args, **kwargs) -> ((loss, aux), grads)`` for ``fn`` returning ``(loss, aux)``.

    Args:
        fn: a function of tensors returning a scalar loss and any auxiliary structure.
        variables: the `keras.Variable`s to differentiate with respect to.

    Example:

    ```python
    import keras
    from kgen import backend

    w = keras.Variable(3.0)
    (loss, _), (grad,) = backend.value_and_grad(lambda: (w * w, None), [w])()
    # loss == 9.0, grad == 6.0
    ```
    """
    return _module().value_and_grad(fn, list(variables))


def apply_gradients(optimizer, gradients, variables):
    """Applies ``gradients`` to ``variables`` with ``optimizer``."""
    return _module().apply_gradients(optimizer, gradients, list(variables))


def run_if(condition, fn, variables):
    """Runs ``fn()``, which assigns some of ``variables``; its assignments hold where
    ``condition`` is true, and where it is false the variables keep their values.

    Inside a training step: ``condition`` is a scalar boolean tensor computed in the step
    (``step % 4 == 3``). How, per backend: a Python ``if`` on PyTorch (whose steps run
    eagerly); on JAX, whose step is one traced function, ``fn`` runs and each variable it
    assigned gets ``where(condition, new, old)``, as Keras's own gradient accumulation
    does there; on TensorFlow the same for every variable in ``variables`` (not
    ``tf.cond``: a replica of a ``tf.distribute`` step cannot apply an optimizer, which
    sums the replicas' gradients, inside a condition). ``fn``'s return value is discarded.

    Args:
        condition: a scalar boolean tensor.
        fn: a function of no arguments that assigns variables.
        variables: every variable ``fn`` may assign.

    Example:

    ```python
    import keras
    from kgen import backend

    w = keras.Variable(1.0)
    backend.run_if(keras.ops.convert_to_tensor(False), lambda: w.assign(2.0), [w])  # w: 1.0
    ```
    """
    return _module().run_if(keras.ops.convert_to_tensor(condition), fn, list(variables))


def input_gradient(fn, x):
    """Returns the gradient of ``sum(fn(x))`` with respect to the input ``x``.

    The result is differentiable: used inside a function given to `value_and_grad` (a
    discriminator's loss), the gradient of a penalty on it flows into the variables that
    ``fn`` uses (second-order gradients). Gradient penalties are functions of this result:
    the caller passes it to `kgen.losses.wgan_gradient_penalty` or `kgen.losses.r1_penalty`,
    as `kgen.models.GAN.penalty` does. When each row of
    ``fn(x)`` depends only on the same row of ``x`` (no batch normalisation in training
    mode), row ``i`` of the result is the gradient of ``fn(x)[i]`` with respect to ``x[i]``.

    How, per backend: TensorFlow records ``fn`` on a nested ``tf.GradientTape``; PyTorch
    calls ``torch.autograd.grad(..., create_graph=True)``; JAX takes ``jax.grad`` of a pure
    function in which every variable of the surrounding training step (or of the
    surrounding `value_and_grad`) is mapped to its current, possibly traced, value. State
    that ``fn`` changes (batch-normalisation statistics, seed states, spectral-norm
    vectors) is kept inside a training step; outside one, on JAX, it is discarded.

    Args:
        fn: a function of a float tensor ``x``, returning a tensor (the critic's logits).
        x: a float tensor (or array) of inputs.

    Returns:
        A tensor of the shape of ``x``.

    Example:

    ```python
    import numpy as np
    from kgen import backend

    x = np.array([[1.0, 2.0]], "float32")
    backend.input_gradient(lambda t: t * t, x)   # [[2., 4.]]
    ```
    """
    x = keras.ops.convert_to_tensor(x)
    if not keras.backend.is_float_dtype(keras.backend.standardize_dtype(x.dtype)):
        raise TypeError(f"input_gradient needs a float input; got dtype {x.dtype}.")
    return _module().input_gradient(fn, x)


def conv_transpose(x, kernel, strides, padding):
    """The transposed convolution of channels-last ``x`` with ``kernel``
    ``(kh, kw, filters, channels)``: ``keras.ops.conv_transpose`` (no dilation, no output
    padding), with the backend's faster gradient where it has one (JAX).

    Args:
        x: a tensor ``(N, H, W, channels)``.
        kernel: a tensor ``(kh, kw, filters, channels)``.
        strides: two ints.
        padding: ``"same"`` or ``"valid"``.

    Returns:
        A tensor ``(N, H', W', filters)``, as ``keras.ops.conv_transpose`` returns.

    Example:

    ```python
    import numpy as np
    from kgen import backend

    x = np.ones((1, 2, 2, 1), "float32")
    kernel = np.ones((2, 2, 1, 1), "float32")
    backend.conv_transpose(x, kernel, (2, 2), "same").shape   # (1, 4, 4, 1)
    ```
    """
    function = getattr(_module(), "conv_transpose", None)
    x, kernel = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(kernel)
    if function is None:
        return keras.ops.conv_transpose(x, kernel, strides=tuple(strides), padding=padding)
    return function(x, kernel, tuple(strides), padding)


def compile_function(fn, variables):
    """Compiles ``fn``, a function of tensors that reads ``variables``, for inference.

    Sampling loops (a diffusion sampler's steps, an autoregressive model's pixels) are
    written once with `keras.ops` (``ops.fori_loop`` for the loop) and compiled here,
    once per input shape: ``jax.jit`` of a pure function in which every variable in
    ``variables`` is mapped to its current value, passed as an argument (so later
    training is seen, and nothing is baked in as a constant); ``tf.function`` on
    TensorFlow (variables are read live); on PyTorch, ``fn`` runs eagerly under
    ``torch.no_grad()``, and the networks it calls through `replayed_network` (the
    sampling loops' networks) are replayed from a ``torch.jit.trace`` of one call.

    Assignments that ``fn`` makes to variables (for instance a `keras.random.SeedGenerator`
    advancing as noise is drawn) are discarded on JAX and kept on the other backends; to
    make a call reproducible, set the seed generator's state before calling
    (``seed_generator.state.assign([seed, 0])``) and list the generator's ``state``
    in ``variables``.

    Args:
        fn: a function of tensor positional arguments, returning a tensor or a
            structure of tensors. It must not depend on Python values that change
            between calls (close over them and compile one function per value).
        variables: every `keras.Variable` that ``fn`` reads (network weights, seed
            generator states).

    Returns:
        A function taking the same positional arguments as ``fn``.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen import backend

    layer = keras.layers.Dense(3)
    layer.build((None, 2))

    compiled = backend.compile_function(lambda x: layer(x), layer.variables)
    compiled(np.ones((4, 2), "float32")).shape   # (4, 3)
    ```
    """
    variables = list(variables)
    for variable in variables:
        if not isinstance(variable, keras.Variable):
            raise TypeError(
                f"compile_function takes keras.Variables; got {type(variable).__name__}.")
    return _module().compile_function(fn, variables)


def replayed_network(network):
    """``network`` as sampling loops and training losses call it: ``f(inputs, training=...)``.

    On JAX and TensorFlow this is ``network`` itself (`compile_function` and Keras's
    trainer compile the whole loop or step). On PyTorch, where they run eagerly, it is a
    `kgen.backend.torch_trace.TracedNetwork`: an inference call without autograd (a
    sampling loop's) replays a ``torch.jit.trace`` of the network made once per input
    signature, with the current variable values as inputs, and a training call under
    autograd (a training step's) replays one made in training mode, the gradients
    flowing through it to the variables. The first two calls of a signature are checked
    against the network's own output, and a network that cannot be replayed in a mode
    runs eagerly in it, with a warning. ``KGEN_TORCH_TRACE=0`` turns tracing off.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen import backend

    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    call = backend.replayed_network(layer)
    compiled = backend.compile_function(lambda x: call(x), layer.variables)
    x = np.ones((4, 2), "float32")
    np.allclose(keras.ops.convert_to_numpy(compiled(x)),
                keras.ops.convert_to_numpy(layer(x)))  # True
    ```
    """
    implementation = getattr(_module(), "replayed_network", None)
    return network if implementation is None else implementation(network)


def replayed_method(network, name):
    """``getattr(network, name)``, a method of tensors of the network, as the compiled
    loops call it: replayed from traces on PyTorch like `replayed_network`, the method
    itself on JAX and TensorFlow."""
    implementation = getattr(_module(), "replayed_method", None)
    return getattr(network, name) if implementation is None else implementation(network,
                                                                                name)


def batch_noise(draw, shape):
    """Per-example noise for a batch of ``shape``: ``draw(shape)``, replica-aware.

    Every family draws the noise of its training step (latent vectors, the
    reparameterisation noise, diffusion timesteps and noise, a penalty's interpolation
    weights) through this function, with ``shape[0]`` the batch axis.

    On JAX (``keras.distribution``) the batch is one global array, and on PyTorch and on
    one device there is one replica: the result is ``draw(shape)``. Under a
    ``tf.distribute`` strategy with ``N`` replicas, each replica runs the step on its
    share of the global batch, and all of them read the same seed state, so a plain draw
    would give every replica the *same* noise (keras-team/keras#18426). Here each replica
    draws the noise of the global batch, ``N * shape[0]`` examples, and keeps its own
    rows: the replicas get different noise, and together the noise a single device
    would draw for the global batch, so training on ``N`` devices matches one device.

    Args:
        draw: a function of a shape returning a tensor of that shape drawn from a
            `keras.random.SeedGenerator` (``lambda s: keras.random.normal(s, seed=gen)``).
        shape: the shape of the noise of this batch, a tuple whose first entry (an int
            or a scalar tensor) is the batch size.

    Returns:
        A tensor of ``shape``.

    Example:

    ```python
    import keras
    from kgen import backend

    seed = keras.random.SeedGenerator(0)
    eps = backend.batch_noise(lambda s: keras.random.normal(s, seed=seed), (4, 2))
    ```
    """
    implementation = getattr(_module(), "batch_noise", None)
    shape = tuple(shape)
    return draw(shape) if implementation is None else implementation(draw, shape)


def gather_batch(x):
    """The global batch: ``x`` of every replica of the step, concatenated along axis 0.

    A training step that updates state from its batch (a VQ-VAE's codebook statistics, a
    CycleGAN's image pool) gathers the batch first, so that every replica makes the
    update one device would make from the global batch, and the replicas' copies of the
    state stay equal. It is ``x`` itself on JAX (the batch is already one global array),
    on PyTorch and on one device; under a ``tf.distribute`` strategy with several
    replicas, ``ReplicaContext.all_gather``.

    Example:

    ```python
    import numpy as np
    from kgen import backend

    backend.gather_batch(np.zeros((4, 2), "float32")).shape   # (4, 2) on one device
    ```
    """
    implementation = getattr(_module(), "gather_batch", None)
    return x if implementation is None else implementation(x)


def local_rows(x, size):
    """This replica's ``size`` rows of a global batch ``x`` (see `gather_batch`).

    ``x`` itself but under a ``tf.distribute`` strategy with several replicas, where
    replica ``i`` gets rows ``i * size`` to ``(i + 1) * size``, the rows of its own share
    of the global batch.
    """
    implementation = getattr(_module(), "local_rows", None)
    return x if implementation is None else implementation(x, size)


def distribution_scope(devices, model_parallel=None):
    """``(make_scope, description)`` to train on ``devices`` devices (see `kgen.distribute`).

    ``make_scope()`` returns a new context manager of the engine each time it is called.

    ``description`` is a dict with ``engine`` (the name of the engine used),
    ``num_replicas`` (data-parallel replicas) and the engine object (``strategy`` on
    TensorFlow, ``distribution`` on JAX).
    """
    return _module().distribution_scope(devices, model_parallel)


def initialize_processes(coordinator, num_processes, process_id, addresses):
    """Starts this process's part of a multi-process run (see `kgen.initialize_processes`,
    which checks the arguments): ``keras.distribution.initialize`` on JAX, a
    ``MultiWorkerMirroredStrategy`` over ``addresses`` on TensorFlow, a clear error on
    PyTorch. Returns the name of the engine."""
    return _module().initialize_processes(coordinator, num_processes, process_id,
                                          list(addresses or ()))


def local_scope(variables):
    """A context in which ``variables`` are this process's own copies, and no
    distribution is active: sampling (`kgen.models.GenerativeModel.generate`) then runs
    on this process alone, whatever the other processes of a multi-process run do.

    Only a multi-process JAX run (`kgen.initialize_processes`) needs it: there a
    variable is one array over the devices of every process, so a computation on it,
    sampling included, would be one that every process must run. There, assignments made
    inside the context (a seed generator's state advanced by ``generate(seed=None)``)
    are discarded. Elsewhere it does nothing.
    """
    implementation = getattr(_module(), "local_scope", None)
    return contextlib.nullcontext() if implementation is None \
        else implementation(list(variables))


def symbolic_build(model, build, iterator, data_batch):
    """Keras's build of ``model`` from a first batch before ``fit()`` (TensorFlow only:
    ``build`` is the trainer's own ``_maybe_symbolic_build``), made to work where Keras's
    does not (a multi-worker cluster, `kgen.backend.tensorflow`)."""
    implementation = getattr(_module(), "symbolic_build", None)
    if implementation is None:
        return build(iterator=iterator, data_batch=data_batch)
    return implementation(model, build, iterator, data_batch)


# The replica-aware primitives of `kgen.replica` dispatch to the functions above, which
# pick the active backend's implementation at each call.
replica.install(batch_noise=batch_noise, gather_batch=gather_batch, local_rows=local_rows)
fast_ops.install(conv_transpose=conv_transpose)
