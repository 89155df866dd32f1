"""Shared fixtures. Every test runs on the backend named by KERAS_BACKEND."""

import gc
import os

# XLA's CPU compiler spends most of a small test's time optimising programs that then run
# for milliseconds: the suite (and the processes it starts) compiles them without its
# expensive optimisation passes, which halves the JAX run, and emits fused loops with its
# element-wise emitters rather than its MLIR fusion emitters, whose longer pipeline takes
# a third more of the run again. The computations are the same.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 "
                                   "--xla_llvm_disable_expensive_passes=true "
                                   "--xla_cpu_use_fusion_emitters=false")
# One thread for each backend's kernels. The three backends' runs go side by side on a
# couple of cores, and the suite's tiny networks gain nothing from splitting an operation
# over threads, whose waiting costs more than the arithmetic (PyTorch's OpenMP threads
# spin: its run takes a third of the processor time with one thread). The processes the
# tests start inherit the setting; the computations are the same.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_variable, "1")

import keras
import pytest

import kgen

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    # TensorFlow rewrites every traced function's graph (Grappler) before its first run,
    # which costs more than the suite's tiny graphs then take to run; the tests' graphs
    # run as traced. The computations are the same.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


#: Tests between two garbage collections of the suite's own (Python collects on its own
#: thresholds as well; a full collection takes a second or two once many models exist, so
#: collecting after every test would cost minutes per backend).
COLLECT_EVERY = 100
_count = [0]


def pytest_collection_finish(session):
    """Moves what the imports and the collection made (the backends' modules, the test
    modules) out of the garbage collector's sight: every later collection walks only what
    the tests make."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts from a fresh Keras state (names, graph) and seed 0."""
    _count[0] += 1
    keras.backend.clear_session(free_memory=False)
    if _count[0] % COLLECT_EVERY == 0:
        gc.collect()
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture(scope="session")
def digits():
    """The bundled digits as uint8 (N, 8, 8, 1)."""
    return kgen.data.load("digits")


@pytest.fixture(scope="session")
def digits_small(digits):
    """256 digits in data space ([-1, 1]), float32."""
    return kgen.data.to_data_space(digits[:256])
