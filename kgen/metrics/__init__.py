"""Evaluation metrics for generative models (`keras.metrics.Metric` objects).

Two-sample metrics take batches of real and generated images in data space ([-1, 1]):
``metric.update_state(real, generated)``, any number of calls, then ``metric.result()``.
"""
