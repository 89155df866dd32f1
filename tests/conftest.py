"""Shared fixtures. Every test runs on the backend named by KERAS_BACKEND."""

import keras
import numpy as np
import pytest

import kgen


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.backend.clear_session()
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
