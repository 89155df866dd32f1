"""The evaluation driver: a metric of a model's samples (and real data), batch by batch.

`compute_metric` draws samples from ``model.generate()`` with seeds derived from one
seed, feeds them (and the real data, for a two-sample metric) to a `keras.metrics.Metric`
and returns its result as Python numbers. The command line (``kgen evaluate``) and the
`kgen.callbacks.Evaluate` callback both use it.
"""

import inspect

import keras
import numpy as np

from kgen import checks


def prepare_real(data):
    """Real samples as float32 in data space: uint8/uint16 images are scaled, floats checked.

    Args:
        data: images (``(N, H, W, C)`` or ``(N, H, W)``; uint8, uint16, or floats in
            ``[-1, 1]``), or points ``(N, d)`` as floats.

    Returns:
        A float32 numpy array.

    Example:

    ```python
    import numpy as np
    from kgen.metrics.evaluate import prepare_real

    prepare_real(np.full((2, 4, 4, 1), 255, np.uint8)).max()   # 1.0
    ```
    """
    array = np.asarray(data)
    if array.ndim == 2 and array.dtype.kind == "f":  # points, e.g. the 2-D mixtures
        return checks.finite(array, "data").astype("float32")
    return checks.to_data_space(array, "data")


def generation_seeds(seed, count):
    """``count`` independent ``generate()`` seeds derived from ``seed`` (numpy's SeedSequence)."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(count)]


def _to_python(value):
    array = np.asarray(keras.ops.convert_to_numpy(value))
    if array.ndim != 0:
        raise ValueError(f"A metric result must be a scalar (or a dict of scalars); got shape "
                         f"{array.shape}.")
    return int(array) if array.dtype.kind in "iu" else float(array)


def _takes(metric, argument):
    try:
        return argument in inspect.signature(metric.update_state).parameters
    except (TypeError, ValueError):
        return False


def check_metric_data(metric, has_data):
    """Checks that real data is given exactly when ``metric`` compares real and generated samples.

    A metric whose ``update_state`` takes ``real`` needs data (or fixed reference
    statistics); any other metric measures generated samples only and takes none.

    Raises:
        ValueError: data for a one-sample metric, or none for a two-sample metric.
    """
    two_sample = _takes(metric, "real")
    if has_data and not two_sample:
        raise ValueError(
            f"{type(metric).__name__} measures generated samples only; it takes no real "
            "data. Drop data=."
        )
    if not has_data and two_sample and getattr(metric, "reference", None) is None:
        raise ValueError(
            f"{type(metric).__name__} compares real and generated samples: pass the real "
            "samples as data= (or give the metric reference statistics)."
        )


def compute_metric(model, metric, num_samples, data=None, batch_size=250, seed=0):
    """Computes ``metric`` on ``num_samples`` samples of ``model.generate()`` (and real ``data``).

    The metric is reset, then fed batch by batch. Metrics whose ``update_state`` takes
    ``real`` and ``generated`` (`kgen.metrics.FrechetInceptionDistance`,
    `kgen.metrics.KernelInceptionDistance`, `kgen.metrics.PrecisionRecall`,
    `kgen.metrics.InceptionScore`) get ``update_state(real=batch)`` for each batch of
    ``data`` and ``update_state(generated=batch)`` for each generated batch; other
    metrics (`kgen.metrics.ModeCoverage`, any Keras metric of one argument) get
    ``update_state(generated_batch)``. Generated batch ``i`` comes from
    ``model.generate(size, seed=s_i)``, the seeds ``s_i`` derived from ``seed``: the same
    seed gives the same samples at every call. Generated images (rank 4) are clipped to
    [-1, 1], the range of an image file.

    Args:
        model: a kgen model (anything with ``generate(n, seed=...)``).
        metric: a `keras.metrics.Metric`.
        num_samples: number of generated samples.
        data: real samples for a two-sample metric: uint8 images, images in data space
            ([-1, 1]), or points ``(n, d)``. None for one-sample metrics, and for an FID
            with fixed ``reference`` statistics.
        batch_size: samples per batch.
        seed: integer seed of the generated samples.

    Returns:
        ``metric.result()`` as Python numbers: a number, or a dict of them.

    Raises:
        TypeError: ``num_samples``, ``batch_size`` or ``seed`` is not an integer.
        ValueError: a two-sample metric without real data (or ``data`` for a metric that
            takes none), real data whose samples have another shape than the model's, or
            ``num_samples`` or ``batch_size`` below 1.

    Example:

    ```python
    import kgen

    gan = kgen.models.GAN.from_shape((2,), seed=0)
    kgen.metrics.compute_metric(gan, kgen.metrics.ModeCoverage("ring"), 500)
    # {'modes': ..., 'high_quality': ...}
    ```
    """
    num_samples = checks.integer(num_samples, "num_samples", 1)
    batch_size = checks.integer(batch_size, "batch_size", 1)
    seed = checks.seed(seed)
    check_metric_data(metric, data is not None)
    real = None if data is None else prepare_real(data)
    metric.reset_state()
    sample_shape = None
    num_batches = -(-num_samples // batch_size)
    sizes = [len(part) for part in np.array_split(np.arange(num_samples), num_batches)]
    for size, batch_seed in zip(sizes, generation_seeds(seed, num_batches)):
        generated = model.generate(size, seed=batch_seed)
        if generated.ndim == 4:
            # Images: clip to the valid range, as saving them would (a Gaussian decoder's
            # means can leave [-1, 1]).
            generated = np.clip(generated, -1.0, 1.0)
        if sample_shape is None:
            sample_shape = generated.shape[1:]
            if real is not None and real.shape[1:] != sample_shape:
                raise ValueError(
                    f"The model generates samples of shape {sample_shape} but the real data "
                    f"has samples of shape {real.shape[1:]}: evaluate the model against data "
                    "of the kind it was trained on."
                )
            for start in range(0, 0 if real is None else len(real), batch_size):
                metric.update_state(real=real[start:start + batch_size])
        if _takes(metric, "generated"):
            metric.update_state(generated=generated)
        else:
            metric.update_state(generated)
    result = metric.result()
    if isinstance(result, dict):
        return {key: _to_python(value) for key, value in result.items()}
    return _to_python(result)


__all__ = ["check_metric_data", "compute_metric", "generation_seeds", "prepare_real"]
