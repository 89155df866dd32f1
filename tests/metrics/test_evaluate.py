"""Evaluation during fit() (kgen.callbacks.Evaluate) and the `kgen evaluate` command."""

import re

import keras
import numpy as np
import pytest

import kgen
from harness import RecordLogs
from kgen.callbacks import Evaluate
from kgen.metrics import compute_metric


def ring_gan():
    return kgen.models.GAN.from_shape((2,), base_filters=32, seed=0)


def test_evaluate_logs_on_schedule_and_model_checkpoint_monitors_it(tmp_path):
    points = kgen.data.load("ring", num_samples=512, seed=0)
    gan = ring_gan()
    gan.compile()
    every_other = Evaluate(kgen.metrics.ModeCoverage("ring"), every_n_epochs=2,
                           num_samples=500, batch_size=125)
    wide = Evaluate(kgen.metrics.ModeCoverage("ring", num_std=30.0), num_samples=500,
                    batch_size=125, name="wide")
    path = str(tmp_path / "best.keras")
    record = RecordLogs()
    history = gan.fit(points, batch_size=128, epochs=4, verbose=0, callbacks=[
        every_other,
        wide,
        keras.callbacks.ModelCheckpoint(path, monitor="wide_high_quality", mode="max",
                                        save_best_only=True),
        record,
    ]).history
    # every_n_epochs=2: the keys are in the logs of epochs 2 and 4 only.
    assert ["modes" in logs for logs in record.logs] == [False, True, False, True]
    assert [epoch for epoch, _ in every_other.history] == [2, 4]
    for logs in record.logs[1::2]:
        assert isinstance(logs["modes"], int) and 0 <= logs["modes"] <= 8
        assert 0.0 <= logs["high_quality"] <= 1.0
    assert history["wide_modes"] == [logs["wide_modes"] for logs in record.logs]
    # The logged value is the metric of the model at that epoch: the same seed gives the
    # same samples, so recomputing it after training gives the last logged value exactly.
    again = compute_metric(gan, kgen.metrics.ModeCoverage("ring"), 500, batch_size=125, seed=0)
    assert again == {"modes": record.logs[3]["modes"],
                     "high_quality": record.logs[3]["high_quality"]}
    # ModelCheckpoint, placed after Evaluate, kept the epoch with the best value: the
    # saved model's samples score exactly that value.
    logged = [logs["wide_high_quality"] for logs in record.logs]
    best = compute_metric(keras.saving.load_model(path),
                          kgen.metrics.ModeCoverage("ring", num_std=30.0), 500,
                          batch_size=125, seed=0)
    assert best["high_quality"] == max(logged)


class MeanGap(keras.metrics.Metric):
    """A two-sample metric: squared distance between the means of real and generated samples."""

    def __init__(self, name="mean_gap"):
        super().__init__(name=name)
        self.sums = [self.add_variable(shape=(2,), initializer="zeros", name=n)
                     for n in ("real_sum", "generated_sum")]
        self.counts = [self.add_variable(shape=(), initializer="zeros", name=n)
                       for n in ("real_count", "generated_count")]

    def update_state(self, real=None, generated=None):
        for total, count, batch in zip(self.sums, self.counts, (real, generated)):
            if batch is not None:
                total.assign_add(keras.ops.sum(batch, axis=0))
                count.assign_add(keras.ops.cast(keras.ops.shape(batch)[0], "float32"))

    def result(self):
        real, generated = (s / c for s, c in zip(self.sums, self.counts))
        return keras.ops.sum(keras.ops.square(real - generated))


def test_scalar_and_two_sample_metrics():
    points = kgen.data.load("ring", num_samples=300, seed=1)
    gan = ring_gan()
    gan.compile()
    record = RecordLogs()
    gan.fit(points, batch_size=100, epochs=1, verbose=0, callbacks=[
        Evaluate(keras.metrics.Mean(name="sample_mean"), num_samples=90, batch_size=40),
        Evaluate(MeanGap(), num_samples=90, batch_size=40, data=points[:70], seed=5),
        record,
    ])

    def generated(seed):
        # 90 samples in 3 batches of 30, each from a seed derived from ``seed``.
        seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(3)]
        return np.concatenate([gan.generate(30, seed=s) for s in seeds])

    assert record.logs[0]["sample_mean"] == pytest.approx(float(generated(0).mean()), rel=1e-5)
    # Every real point and every generated sample reaches the two-sample metric.
    gap = np.sum(np.square(points[:70].mean(0) - generated(5).mean(0)))
    assert record.logs[0]["mean_gap"] == pytest.approx(float(gap), rel=1e-4, abs=1e-7)


def test_evaluate_errors(digits):
    with pytest.raises(TypeError, match="keras.metrics.Metric"):
        Evaluate("fid")
    with pytest.raises(TypeError, match="BitsPerDim measures the likelihood of data"):
        Evaluate(kgen.metrics.BitsPerDim(64))
    with pytest.raises(ValueError, match="every_n_epochs"):
        Evaluate(kgen.metrics.ModeCoverage("ring"), every_n_epochs=0)
    gan = ring_gan()
    with pytest.raises(ValueError, match=r"samples of shape \(2,\) but the real data"):
        compute_metric(gan, MeanGap(), 10, data=digits[:10])
    with pytest.raises(ValueError, match="pass the real samples as data="):
        compute_metric(gan, MeanGap(), 10)
    with pytest.raises(ValueError, match="takes no real data"):
        compute_metric(gan, kgen.metrics.ModeCoverage("ring"), 10, data=digits[:10])


# ------------------------------------------------------------------------ the CLI
def test_compute_metric_is_kgen_metrics_and_checks_its_arguments():
    assert kgen.callbacks.compute_metric is kgen.metrics.compute_metric is compute_metric
    gan = ring_gan()
    metric = kgen.metrics.ModeCoverage("ring")
    with pytest.raises(TypeError, match="num_samples must be an integer"):
        compute_metric(gan, metric, 10.0)
    with pytest.raises(ValueError, match="num_samples must be an integer of at least 1"):
        compute_metric(gan, metric, 0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        compute_metric(gan, metric, 10, batch_size=True)
    with pytest.raises(ValueError, match="batch_size must be an integer of at least 1"):
        compute_metric(gan, metric, 10, batch_size=0)
    with pytest.raises(TypeError, match="seed must be"):
        compute_metric(gan, metric, 10, seed=1.5)
    with pytest.raises(ValueError, match="data contain 1 NaN"):
        compute_metric(gan, MeanGap(), 10, data=np.array([[0.0, np.nan]], "float32"))
    with pytest.raises(TypeError, match="every_n_epochs must be an integer"):
        Evaluate(metric, every_n_epochs=1.0)
