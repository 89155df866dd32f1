"""Fixtures of the data tests."""

import keras
import pytest


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """The data tests build no Keras model (a test that does clears the session itself):
    seeding is enough, and skips the garbage collection of a full session reset."""
    keras.utils.set_random_seed(0)
    yield
