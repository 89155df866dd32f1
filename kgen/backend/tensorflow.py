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
