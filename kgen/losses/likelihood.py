"""Likelihood terms of latent-variable models, one value per example.

Each term is summed over every axis but the batch axis (`sum_per_example`), so that it is
the log-density of a whole example: the negative ELBO of a VAE is
``reconstruction NLL + KL`` per example, averaged over the batch by the model. Every term
is computed in float32, whatever the precision of its inputs (the outputs of
mixed-precision networks, `kgen.precision`).
"""

from keras import ops

from kgen.precision import float32


def sum_per_example(x):
    """The sum of ``x`` over every axis but the first (batch) axis.

    Args:
        x: a ``(batch, ...)`` tensor.

    Returns:
        A ``(batch,)`` tensor.

    Example:

    ```python
    import numpy as np
    from kgen.losses import sum_per_example
    sum_per_example(np.ones((2, 3, 4), "float32"))   # [12., 12.]
    ```
    """
    x = float32(ops.convert_to_tensor(x))
    if len(x.shape) < 1:
        raise ValueError("sum_per_example takes a batch (batch, ...); got a scalar.")
    return ops.sum(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)


def gaussian_kl(mean, log_variance):
    """KL(N(mean, exp(log_variance)) || N(0, I)) per example (Kingma & Welling 2014, App. B).

    ``0.5 * sum(exp(log_variance) + mean^2 - 1 - log_variance)`` over every axis but the
    batch axis: the KL term of a VAE with a diagonal Gaussian posterior and a standard
    normal prior.

    Args:
        mean: the posterior means, ``(batch, ...)``.
        log_variance: the posterior log-variances, of the same shape.

    Returns:
        A ``(batch,)`` tensor.

    Example:

    ```python
    import numpy as np
    from kgen.losses import gaussian_kl
    gaussian_kl(np.zeros((2, 4), "float32"), np.zeros((2, 4), "float32"))  # [0., 0.]
    ```

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    """
    mean = float32(ops.convert_to_tensor(mean))
    log_variance = float32(ops.convert_to_tensor(log_variance))
    kl = 0.5 * (ops.exp(log_variance) + ops.square(mean) - 1.0 - log_variance)
    return sum_per_example(kl)


def bernoulli_nll(targets, logits):
    """Negative log-likelihood of ``targets`` in [0, 1] under Bernoulli(sigmoid(logits)).

    Per example, summed over every other axis: ``softplus(logits) - targets * logits``,
    the binary cross-entropy of a VAE decoder with logit outputs.

    Args:
        targets: values in ``[0, 1]`` (pixel intensities), ``(batch, ...)``.
        logits: the decoder's logits, of the same shape.

    Returns:
        A ``(batch,)`` tensor.

    Example:

    ```python
    import numpy as np
    from kgen.losses import bernoulli_nll
    bernoulli_nll(np.ones((1, 2), "float32"), np.zeros((1, 2), "float32"))  # [2 log 2] = [1.386]
    ```
    """
    targets = float32(ops.convert_to_tensor(targets))
    logits = float32(ops.convert_to_tensor(logits))
    nll = ops.softplus(logits) - targets * logits
    return sum_per_example(nll)


def gaussian_nll(x, mean, log_scale):
    """Negative log-likelihood of ``x`` under N(mean, exp(log_scale)^2), per example.

    ``0.5 * ((x - mean) / exp(log_scale))^2 + log_scale + 0.5 * log(2 pi)``, summed over
    every axis but the batch axis.

    Args:
        x: the data, ``(batch, ...)``.
        mean: the means, of the same shape.
        log_scale: the log standard deviations; broadcasts against ``x`` (a scalar for a
            shared learned or fixed scale).

    Returns:
        A ``(batch,)`` tensor.

    Example:

    ```python
    import numpy as np
    from kgen.losses import gaussian_nll
    gaussian_nll(np.zeros((1, 2), "float32"), np.zeros((1, 2), "float32"), 0.0)  # [log 2 pi]
    ```
    """
    log_2pi = 1.8378770664093453
    x, mean = float32(ops.convert_to_tensor(x)), float32(ops.convert_to_tensor(mean))
    log_scale = ops.convert_to_tensor(float32(log_scale), dtype=x.dtype)
    z = (x - mean) * ops.exp(-log_scale)
    nll = 0.5 * ops.square(z) + log_scale + 0.5 * log_2pi
    nll = nll + ops.zeros_like(x)
    return sum_per_example(nll)
