"""kgen.backend.replayed_network: the network as compiled sampling loops call it.

On JAX and TensorFlow it is the network itself; on PyTorch a replay of a trace of one
call per input signature (kgen/backend/torch_trace.py), checked against the network.
"""

import keras
import numpy as np
import pytest
from keras import ops

import kgen
from kgen import backend
from tests.checks_catalogue import covers
from tests.harness import tiny_network

TORCH = keras.backend.backend() == "torch"


def _randomised(network, seed=0):
    rng = np.random.default_rng(seed)
    for variable in network.variables:
        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
    return network


def _inputs(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 8, 8, 1)).astype("float32"),
            rng.uniform(0, 999, size=(n,)).astype("float32")]


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _traces(call):
    return len(call._traces) if TORCH else None


def _compiled(call, network):
    """``call`` as a compiled sampling loop runs it (no gradients recorded)."""
    return backend.compile_function(lambda *args: call(*args), network.variables)


def test_same_outputs_as_the_network_in_a_compiled_loop_and_new_weights_seen():
    network = _randomised(tiny_network())
    call = backend.replayed_network(network)
    assert (call is network) == (not TORCH)
    compiled = backend.compile_function(lambda x, t: call([x, t]), network.variables)
    for seed in (0, 1):   # two inputs of one signature: one trace
        x, t = _inputs(seed=seed)
        np.testing.assert_allclose(_numpy(compiled(x, t)), _numpy(network([x, t])),
                                   rtol=1e-5, atol=1e-6)
    assert _traces(call) in (None, 1)
    x, t = _inputs(n=3)   # another batch size: another trace
    np.testing.assert_allclose(_numpy(compiled(x, t)), _numpy(network([x, t])),
                               rtol=1e-5, atol=1e-6)
    assert _traces(call) in (None, 2)
    before = _numpy(compiled(x, t))
    _randomised(network, seed=5)   # training changes the weights: the replay follows
    after = _numpy(compiled(x, t))
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, _numpy(network([x, t])), rtol=1e-5, atol=1e-6)
    assert backend.replayed_network(network) is call   # one per network, kept


def test_training_replays_give_the_network_s_gradients():
    network = _randomised(tiny_network())
    call = backend.replayed_network(network)
    x, t = _inputs()
    x_tensor, t_tensor = ops.convert_to_tensor(x), ops.convert_to_tensor(t)
    # An input gradient of an inference call (CLIP guidance's): the network itself.
    gradient = backend.input_gradient(lambda v: call([v, t_tensor]), x_tensor)
    expected = backend.input_gradient(lambda v: network([v, t_tensor]), x_tensor)
    np.testing.assert_allclose(_numpy(gradient), _numpy(expected), rtol=1e-5, atol=1e-6)
    assert _traces(call) in (None, 0)

    def loss(layer):
        def value():
            out = layer([x_tensor, t_tensor], training=True)
            return ops.mean(ops.square(out - 0.5)), out
        return value

    for _ in range(3):   # a trace, the checked second call, then replays
        (replayed, _), grads = backend.value_and_grad(loss(call), network.trainable_variables)()
        (direct, _), expected = backend.value_and_grad(loss(network),
                                                       network.trainable_variables)()
        np.testing.assert_allclose(_numpy(replayed), _numpy(direct), rtol=1e-6)
        for got, want in zip(grads, expected):
            np.testing.assert_allclose(_numpy(got), _numpy(want), rtol=1e-5, atol=1e-6)
    assert _traces(call) in (None, 1)


def test_diffusion_trains_the_same_with_and_without_tracing(monkeypatch):
    weights = {}
    for switch in ("1", "0"):
        monkeypatch.setenv("KGEN_TORCH_TRACE", switch)
        keras.utils.set_random_seed(0)
        model = kgen.models.Diffusion(_randomised(tiny_network()), timesteps=20,
                                      schedule="cosine", seed=0, ema=None)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        x = np.random.default_rng(1).uniform(-1, 1, (16, 8, 8, 1)).astype("float32")
        model.fit(x, batch_size=8, epochs=2, verbose=0, shuffle=False)
        weights[switch] = [_numpy(v) for v in model.network.trainable_variables]
        if switch == "1":
            assert _traces(backend.replayed_network(model.network)) in (None, 1)
    for traced, eager in zip(weights["1"], weights["0"]):
        np.testing.assert_allclose(traced, eager, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not TORCH, reason="tracing is PyTorch's: the network itself elsewhere")
def test_batch_statistics_train_eagerly_and_infer_from_a_replay():
    inputs = keras.Input((3,))
    network = keras.Model(inputs, keras.layers.BatchNormalization()(inputs))
    call = backend.replayed_network(network)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    with pytest.warns(UserWarning, match="in training .*assigns variables"):
        out = call(x, training=True)
    batch = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)   # normalised by its own statistics
    np.testing.assert_allclose(_numpy(out), batch, rtol=1e-4, atol=1e-4)
    # The moving mean moved towards the batch mean (momentum 0.99): the update was kept.
    np.testing.assert_allclose(_numpy(network.layers[-1].moving_mean), 0.01 * x.mean(0),
                               rtol=1e-4, atol=1e-6)
    inference = _compiled(call, network)
    np.testing.assert_allclose(_numpy(inference(x)), _numpy(network(x, training=False)),
                               rtol=1e-5, atol=1e-6)
    assert not call.eager and _traces(call) == 1   # inference is still replayed


def test_methods_replay_like_calls():
    model = kgen.models.PixelCNN.from_shape((4, 4, 1), num_levels=4, filters=8,
                                            num_layers=2, seed=0)
    _randomised(model.network)
    values = np.random.default_rng(0).uniform(-1, 1, (2, 4, 4, 1)).astype("float32")
    row_context = backend.replayed_method(model.network, "row_context")
    compiled = backend.compile_function(lambda v: row_context(v), model.network.variables)
    np.testing.assert_allclose(_numpy(compiled(values)),
                               _numpy(model.network.row_context(values)),
                               rtol=1e-5, atol=1e-6)


class _ValueBranch(keras.layers.Layer):
    """Doubles its input where its mean is positive: Python control flow on a value read
    into NumPy."""

    def call(self, x):
        if float(ops.convert_to_numpy(ops.mean(x))) > 0:
            return x * 2.0
        return x


class _ScaledByMax(keras.layers.Layer):
    """Scales its input by its largest value, read as a Python number."""

    def call(self, x):
        return x * float(ops.max(x))


class _Noisy(keras.layers.Layer):
    """Adds fresh noise at every call, in inference mode too."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = keras.random.SeedGenerator(3)

    def call(self, x):
        return x + keras.random.normal(ops.shape(x), seed=self.generator)


class _Counter(keras.layers.Layer):
    """Counts its calls in a variable, in inference mode too."""

    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, x):
        self.calls.assign(self.calls + 1.0)
        return x + self.calls


@covers("own-network-traced")
@pytest.mark.skipif(not TORCH, reason="tracing is PyTorch's: the network itself elsewhere")
def test_networks_a_trace_cannot_replay_run_eagerly_with_a_warning():
    inputs = keras.Input((3,))
    branching = keras.Model(inputs, _ValueBranch()(inputs))
    call = _compiled(backend.replayed_network(branching), branching)
    positive, negative = np.ones((2, 3), "float32"), -np.ones((2, 3), "float32")
    with pytest.warns(UserWarning, match="reads tensor values as NumPy arrays"):
        np.testing.assert_allclose(_numpy(call(positive)), positive * 2)
    np.testing.assert_allclose(_numpy(call(negative)), negative)   # eager: right branch
    assert backend.replayed_network(branching).eager

    scaled = keras.Model(inputs, _ScaledByMax()(inputs))
    call = _compiled(backend.replayed_network(scaled), scaled)
    np.testing.assert_allclose(_numpy(call(positive)), positive)   # the trace's own input
    with pytest.warns(UserWarning, match="at its second call"):
        np.testing.assert_allclose(_numpy(call(2 * positive)), 4 * positive)
    np.testing.assert_allclose(_numpy(call(3 * positive)), 9 * positive)   # eager now

    noisy = keras.Model(inputs, _Noisy()(inputs))
    call = _compiled(backend.replayed_network(noisy), noisy)
    with pytest.warns(UserWarning, match="draws random numbers"):
        first = _numpy(call(positive))
    assert not np.allclose(first, _numpy(call(positive)))   # fresh noise every call

    counting = keras.Model(inputs, _Counter()(inputs))
    call = _compiled(backend.replayed_network(counting), counting)
    with pytest.warns(UserWarning, match="in inference .*assigns variables"):
        call(positive)
    np.testing.assert_allclose(_numpy(call(positive)), positive + 2.0)   # every call counted


@pytest.mark.skipif(not TORCH, reason="tracing is PyTorch's: the network itself elsewhere")
def test_environment_switch_runs_the_network_eagerly(monkeypatch):
    network = _randomised(tiny_network())
    traced = backend.replayed_network(network)
    call = _compiled(traced, network)
    monkeypatch.setenv("KGEN_TORCH_TRACE", "0")
    x, t = _inputs()
    np.testing.assert_allclose(_numpy(call([x, t])), _numpy(network([x, t])))
    assert _traces(traced) == 0
    monkeypatch.setenv("KGEN_TORCH_TRACE", "1")
    call([x, t])
    assert _traces(traced) == 1


def test_diffusion_samples_equal_with_and_without_tracing(monkeypatch):
    model = kgen.models.Diffusion(_randomised(tiny_network()), timesteps=20, schedule="cosine",
                                 seed=0, ema=None)
    traced = model.generate(3, seed=4, sampler="ddim", steps=5)
    assert _traces(backend.replayed_network(model.network)) in (None, 1)
    monkeypatch.setenv("KGEN_TORCH_TRACE", "0")
    eager = model.generate(3, seed=4, sampler="ddim", steps=5)
    np.testing.assert_allclose(traced, eager, rtol=1e-5, atol=1e-5)


def test_pixelcnn_samples_equal_with_and_without_tracing(monkeypatch):
    model = kgen.models.PixelCNN.from_shape((4, 4, 1), num_levels=4, filters=8,
                                            num_layers=2, seed=0)
    _randomised(model.network)
    traced = [model.sample_levels(3, seed=2, sampler=s) for s in ("fast", "compiled")]
    assert _traces(backend.replayed_network(model.network)) in (None, 3)
    monkeypatch.setenv("KGEN_TORCH_TRACE", "0")
    for sampler, levels in zip(("fast", "compiled"), traced):
        np.testing.assert_array_equal(model.sample_levels(3, seed=2, sampler=sampler), levels)
