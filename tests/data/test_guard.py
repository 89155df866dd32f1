"""The data guard of fit() (kgen.data.guard) and the pipelines' refusal of one image."""

import numpy as np
import pytest
import tensorflow as tf

import kgen
from kgen.data import guard

from checks_catalogue import covers


@covers("images-one-image")
def test_one_image_is_not_read_as_a_batch_of_rows():
    x = kgen.data.load_image("coffee", size=16, channels=3)   # one (16, 16, 3) image
    with pytest.raises(ValueError, match=r"look like ONE image.*x\[None\]"):
        kgen.data.images(x)
    batches = list(kgen.data.images(x[None], batch_size=1, shuffle=False))
    assert len(batches) == 1 and batches[0].shape == (1, 16, 16, 3)


def test_a_guarded_pipeline_gives_the_batches_it_guards():
    x = kgen.data.to_data_space(kgen.data.load("digits")[:20])
    y = np.arange(20) % 3
    pipeline = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    expectation = guard.Expectation("ConditionalGAN", "samples", "labels", (8, 8, 1),
                                    num_classes=3)
    guarded = guard.guard_dataset(pipeline, expectation)
    assert guarded.cardinality() == pipeline.cardinality() == 3
    for (a, b), (c, d) in zip(guarded, pipeline):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    # Labels are checked against the model's classes, not against themselves.
    wide = guard.guard_dataset(tf.data.Dataset.from_tensor_slices((x, y + 1)).batch(8),
                               expectation)
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        list(wide)
    bad = guard.bad_batch_of(raised.value)
    assert bad.batch == 0 and "labels include 3" in bad.problem
    assert "num_classes=3" in bad.problem and "0..2" in bad.problem


def test_one_hot_labels_and_odd_dtypes_are_refused_from_the_element_spec():
    x = np.zeros((4, 8, 8, 1), "float32")
    expectation = guard.Expectation("ConditionalVAE", "samples", "labels", (8, 8, 1),
                                    num_classes=3)
    one_hot = tf.data.Dataset.from_tensor_slices((x, np.eye(3)[[0, 1, 2, 0]])).batch(2)
    with pytest.raises(ValueError, match=r"one class index per example.*tf\.argmax"):
        guard.guard_dataset(one_hot, expectation)
    words = tf.data.Dataset.from_tensor_slices((x, ["a", "b", "c", "d"])).batch(2)
    with pytest.raises(TypeError, match="takes integer class indices"):
        guard.guard_dataset(words, expectation)
    first = tf.data.Dataset.from_tensor_slices(np.zeros((4, 1, 8, 8), "float32")).batch(2)
    with pytest.raises(ValueError, match=r"channels-first.*tf\.transpose"):
        guard.guard_dataset(first, expectation)
