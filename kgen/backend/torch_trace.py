"""Calls of a Keras network on PyTorch, replayed from a trace made once per input signature.

A Keras layer called eagerly on PyTorch pays Python work per layer per call (its
``__call__`` machinery, dtype policies, name scopes) that can cost several times the
arithmetic of a small network: a diffusion U-Net's denoising step at 25 images of 8x8
spends most of its time there. A sampling loop calls the same network hundreds of times
with tensors of the same shapes, and a training loop thousands, so `TracedNetwork`
records the tensor operations of one call with ``torch.jit.trace`` and replays them
(TorchScript runs the recorded graph without the Python layers). Inference calls are
replayed without autograd; training calls (``training=True``, under autograd) replay a
trace recorded in training mode, and the gradients flow through the replay to the
variables.

The recorded function takes the network's variable values as inputs (the call runs in a
``keras.StatelessScope`` that maps each variable to its value), so a trace stays right
when the weights change (training between two ``generate()`` calls, a moving average):
nothing is baked in but the shapes. One trace is kept per signature: the structure,
shapes, dtypes and devices of the inputs.

A trace only replays the operations of the call it recorded. The sampling loops need
networks written with tensor operations on every backend (``jax.jit`` and
``tf.function`` refuse a Python ``if`` on a tensor's value); on PyTorch such a branch
would be replayed as the first call took it. Four cases are caught, and the network then
runs eagerly from then on, with a warning that says why: a call that reads tensor values
into NumPy while it is traced, a trace that draws random numbers (it would replay the
first call's seed), a call that assigns variables (a replay would not), and replayed
outputs that differ from the network's own at the first or second call of a signature
(both run the network and the replay and compare; the second call, at other input
values such as the next timestep or position, catches values the trace read as Python
numbers). Each mode (inference, training) gives up on its own: a network with batch
normalisation assigns its moving statistics in training, so it trains eagerly and is
still replayed in inference. An inference call under autograd (an input gradient, as
CLIP guidance takes) and a training call without it run the network itself.
``KGEN_TORCH_TRACE=0`` in the environment turns tracing off (read at every call).
"""

import os
import warnings

import keras
import numpy as np
import torch
from keras import tree

_ENVIRONMENT = "KGEN_TORCH_TRACE"
#: The tracer's warning where a call reads a tensor's values into NumPy.
_READS_VALUES = "Converting a tensor to a NumPy array"
#: Operations of a random draw ("aten::rand" also names randn, randint, rand_like...).
_RANDOM_OPS = ("aten::rand", "aten::normal", "aten::bernoulli", "aten::uniform",
               "aten::multinomial", "aten::poisson", "aten::exponential")


def tracing_enabled():
    """False where ``KGEN_TORCH_TRACE`` is ``0``, ``false`` or ``no``."""
    return os.environ.get(_ENVIRONMENT, "1").strip().lower() not in ("0", "false", "no")


def traced(network):
    """The `TracedNetwork` of ``network``, one per network (kept on it), so its traces
    serve every sampling function that calls it."""
    found = network.__dict__.get("_kgen_traced")
    if found is None:
        found = TracedNetwork(network)
        # object.__setattr__: neither torch's nor Keras's attribute tracking sees it.
        object.__setattr__(network, "_kgen_traced", found)
    return found


class TracedNetwork:
    """``network(inputs, training=False)`` replayed from a trace (see the module).

    Args:
        network: a built Keras layer or model.

    Its methods of tensors (a PixelCNN's ``row_logits``, say) are replayed the same way
    through `method`.
    """

    def __init__(self, network):
        self.network = network
        self.variables = list(network.variables)
        self._traces = {}
        self._unchecked = {}
        self._eager_modes = set()   # the modes whose trace did not reproduce the network

    @property
    def eager(self):
        """Whether inference calls run the network itself (a trace did not reproduce it)."""
        return "inference" in self._eager_modes

    def __call__(self, inputs, training=False):
        if training:
            return self.replay("training call", lambda x: self.network(x, training=True),
                               inputs, training=True)
        return self.replay("call", lambda x: self.network(x, training=False), inputs)

    def method(self, name):
        """``getattr(network, name)``, a function of tensors, replayed from traces."""
        function = getattr(self.network, name)
        return lambda *args: self.replay(name, function, *args)

    def replay(self, name, function, *args, training=False):
        """``function(*args)`` (the network's ``name``), from the trace of its signature.

        Inference replays run without autograd, training replays (``training=True``)
        under it, the gradients flowing through the replay to the variables.
        """
        mode = "training" if training else "inference"
        if mode in self._eager_modes or torch.is_grad_enabled() != training \
                or not tracing_enabled():
            return function(*args)
        flat = [keras.ops.convert_to_tensor(x) for x in tree.flatten(args)]
        key = (name, repr(tree.map_structure(lambda _: None, args)),
               tuple((tuple(x.shape), x.dtype, x.device) for x in flat))
        values = [variable.value for variable in self.variables]
        traced = self._traces.get(key)
        if traced is None:
            traced = self._trace(function, args, flat, values, mode)
            if traced is None:
                return function(*args)
            self._traces[key] = traced
            self._unchecked[key] = 1   # the call after the traced one is checked too
            return traced(*values, *flat)
        if self._unchecked.pop(key, 0):
            expected, got = function(*args), traced(*values, *flat)
            if not _same(expected, got):
                self._give_up(mode, "its outputs differ from the replayed trace's at its "
                                    "second call: its computation depends on the input "
                                    "values through Python numbers")
            return expected
        return traced(*values, *flat)

    def _give_up(self, mode, problem):
        warnings.warn(
            f"The network {self.network.name!r} cannot be replayed from a trace on "
            f"PyTorch in {mode} ({problem}); it runs eagerly there from now on, which is "
            f"slower but right.", stacklevel=5)
        self._eager_modes.add(mode)

    def _trace(self, function, args, flat, values, mode):
        variables = self.variables
        assigned = []

        def replay(*tensors):
            mapping = list(zip(variables, tensors[:len(variables)]))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                out = function(*tree.pack_sequence_as(args, list(tensors[len(variables):])))
            # An assignment inside the scope replaces the variable's value there.
            assigned.extend(v.path for v, value in mapping
                            if scope.get_current_value(v) is not value)
            return out

        problem = None
        with warnings.catch_warnings(record=True) as caught:
            # Keras's layers read shapes as Python numbers while they are traced (the
            # shapes are part of the trace's key, so those readings hold); PyTorch
            # announces TorchScript's deprecation. Both are kept from the user.
            warnings.simplefilter("always", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                traced = torch.jit.trace(replay, (*values, *flat), check_trace=False,
                                         strict=False)
            except Exception as error:   # noqa: BLE001 - any failure: run eagerly
                problem = f"torch.jit.trace failed: {type(error).__name__}: {error}"
        if problem is None and any(str(w.message).startswith(_READS_VALUES) for w in caught):
            problem = ("its call reads tensor values as NumPy arrays, which a trace "
                       "would replay as constants")
        if problem is None and any(op in str(traced.inlined_graph) for op in _RANDOM_OPS):
            problem = ("it draws random numbers, and a trace would replay the same seed "
                       "at every call")
        if problem is None and assigned:
            problem = (f"it assigns variables ({', '.join(assigned[:3])}), which a replay "
                       f"would not do")
        if problem is None and not _same(function(*args), traced(*values, *flat)):
            problem = ("its outputs differ from the replayed trace's: its computation "
                       "depends on the input values through Python control flow")
        if problem is not None:
            self._give_up(mode, problem)
            return None
        return traced


def _same(expected, got):
    expected, got = tree.flatten(expected), tree.flatten(got)
    if len(expected) != len(got):
        return False
    for a, b in zip(expected, got):
        a = keras.ops.convert_to_numpy(a)
        b = keras.ops.convert_to_numpy(b)
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True):
            return False
    return True
