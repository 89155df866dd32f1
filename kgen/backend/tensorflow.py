"""TensorFlow implementation of the kgen training step (GradientTape)."""

import tensorflow as tf


def train_step(model, data):
    return model.run_updates(data)


def test_step(model, data):
    return model.run_evaluation(data)


def value_and_grad(fn, variables):
    def wrapped(*args, **kwargs):
        with tf.GradientTape() as tape:
            loss, aux = fn(*args, **kwargs)
        grads = tape.gradient(loss, variables)
        return (loss, aux), grads

    return wrapped


def apply_gradients(optimizer, gradients, variables):
    optimizer.apply(gradients, variables)
