"""The importance-weighted estimate of the log-likelihood of a latent-variable model with a
Gaussian encoder: the IWAE bound of Burda, Grosse & Salakhutdinov (2016).

For a model ``p(z) p(x|z)`` with ``p(z) = N(0, I)`` and an encoder
``q(z|x) = N(mean, diag(exp(log_var)))``, ``K`` latent samples ``z_k ~ q(z|x)`` give the
importance weights ``w_k = p(x|z_k) p(z_k) / q(z_k|x)`` and the estimate

    log p(x) ~= log (1/K) sum_k w_k,

whose expectation is a lower bound on ``log p(x)`` that rises with ``K`` towards
``log p(x)``. The same samples give the ELBO, ``mean_k log p(x|z_k) - KL(q(z|x) || p(z))``
with the KL in closed form. `kgen.models.VAE.log_likelihood`, ``elbo`` and
``log_likelihood_bounds`` are built from these functions.

References:
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
"""

import math
import weakref

import keras
import numpy as np
from keras import ops

from kgen import checks

LOG_2PI = math.log(2.0 * math.pi)


def log_importance_weights(log_p_x_given_z, z, eps, log_var):
    """``log w = log p(x|z) + log p(z) - log q(z|x)`` for ``z = mean + exp(log_var / 2) * eps``.

    ``p(z)`` is the standard normal prior. Since ``(z - mean) / sigma`` is ``eps`` itself,
    ``log q(z|x)`` needs no division.

    Args:
        log_p_x_given_z: ``log p(x|z)`` per latent sample, shape ``(m,)``.
        z: the latent samples, ``(m, latent_dim)``.
        eps: the standard normal noise they were drawn with, ``(m, latent_dim)``.
        log_var: the encoder's log-variances for each sample, ``(m, latent_dim)``.

    Returns:
        The log importance weights, ``(m,)``.

    Example:

    ```python
    import numpy as np
    from kgen.models.importance_weighted import log_importance_weights

    # With q(z|x) = p(z) (mean 0, variance 1) the weight is p(x|z): log w = log p(x|z).
    eps = np.random.default_rng(0).normal(size=(5, 2)).astype("float32")
    log_w = log_importance_weights(np.full(5, -3.0, "float32"), eps, eps,
                                   np.zeros((5, 2), "float32"))
    np.allclose(log_w, -3.0)   # True
    ```
    """
    log_p_x_given_z, z, eps, log_var = (ops.convert_to_tensor(t) for t in
                                        (log_p_x_given_z, z, eps, log_var))
    log_p_z = -0.5 * ops.sum(ops.square(z) + LOG_2PI, axis=-1)
    log_q_z = -0.5 * ops.sum(ops.square(eps) + log_var + LOG_2PI, axis=-1)
    return log_p_x_given_z + log_p_z - log_q_z


def log_mean_exp(log_w):
    """The IWAE estimate ``log (1/K) sum_k exp(log_w_k)`` of each row of ``log_w``.

    The weights are summed relative to their maximum, so that float32 loses nothing.

    Args:
        log_w: log importance weights, an array ``(n, K)``.

    Returns:
        float64 numpy array ``(n,)``.

    Example:

    ```python
    import numpy as np
    from kgen.models.importance_weighted import log_mean_exp

    log_mean_exp(np.log([[1.0, 3.0]]))   # array([0.69314718]): log 2
    ```
    """
    log_w = np.asarray(log_w, "float64")
    top = log_w.max(axis=1, keepdims=True)
    relative = ops.logsumexp(ops.convert_to_tensor((log_w - top).astype("float32")), axis=1)
    relative = np.asarray(ops.convert_to_numpy(relative), "float64")
    return top[:, 0] + relative - math.log(log_w.shape[1])


def bounds(log_w, log_p_x_given_z, kl):
    """The ELBO and the IWAE estimate of ``log p(x)`` from the same ``K`` latent samples.

    Args:
        log_w: log importance weights, ``(n, K)``.
        log_p_x_given_z: ``log p(x|z_k)`` of the same samples, ``(n, K)``.
        kl: ``KL(q(z|x) || p(z))`` of each example, ``(n,)``.

    Returns:
        ``(elbo, log_likelihood)``: float64 numpy arrays ``(n,)``.

    Example:

    ```python
    import numpy as np
    from kgen.models.importance_weighted import bounds

    log_px = np.array([[-2.0, -4.0]])
    elbo, log_p = bounds(log_px - 0.5, log_px, np.array([0.5]))
    bool(log_p[0] >= elbo[0])   # True: the IWAE bound is the tighter one
    ```
    """
    log_p_x_given_z = np.asarray(log_p_x_given_z, "float64")
    return log_p_x_given_z.mean(axis=1) - np.asarray(kl, "float64"), log_mean_exp(log_w)


# One compiled function per model, kept outside the model so that it is neither tracked
# nor saved with it.
_COMPILED = weakref.WeakKeyDictionary()


class _ImportanceTerms(keras.Model):
    """``terms`` as a model that tracks ``owner``, so ``predict_on_batch`` compiles it."""

    def __init__(self, owner, terms):
        super().__init__(name="importance_terms")
        self.owner = owner
        self.terms = terms
        self.built = True

    def call(self, inputs):
        x, eps, *labels = inputs
        return self.terms(x, eps, labels[0] if labels else None)


def importance_samples(model, terms, x, num_samples, batch_size=4096, seed=None,
                       labels=None):
    """``(log_w, log_p_x_given_z, kl)`` of every example of ``x``, as float64 numpy arrays.

    The noise ``eps`` is drawn with `keras.random.normal`; ``terms`` runs as one compiled
    function per model (``predict_on_batch`` of a thin wrapper that tracks ``model``'s
    variables), on batches padded to one shape.

    Args:
        model: the Keras model whose variables ``terms`` reads; it has ``latent_dim``.
        terms: ``terms(x, eps, labels)`` for ``x`` ``(b, ...)`` and ``eps``
            ``(b, k, latent_dim)`` returns ``(log_w, log_p_x_given_z, kl)`` of shapes
            ``(b, k)``, ``(b, k)`` and ``(b,)`` (see `log_importance_weights`).
        x: the examples, a numpy array already in the model's data space.
        num_samples: latent samples ``K`` per example.
        batch_size: latent samples (examples times samples) given to ``terms`` at once.
        seed: integer seed, a `keras.random.SeedGenerator`, or None for fresh noise.
        labels: an int32 numpy array ``(n,)`` passed to ``terms``, or None.

    Returns:
        ``(log_w, log_p_x_given_z, kl)`` of shapes ``(n, K)``, ``(n, K)``, ``(n,)``.

    Example:

    ```python
    import numpy as np
    import kgen
    from kgen.models.importance_weighted import bounds, importance_samples

    vae = kgen.models.VAE.from_shape((2,), latent_dim=2, likelihood="gaussian")
    x = kgen.data.load("ring", num_samples=4)
    samples = importance_samples(vae, vae.importance_terms, x, num_samples=8, seed=0)
    elbo, log_p = bounds(*samples)   # what vae.log_likelihood_bounds(x, 8, seed=0) gives
    ```
    """
    num_samples = checks.integer(num_samples, "num_samples", 1)
    batch_size = checks.integer(batch_size, "batch_size", 1)
    if not isinstance(seed, keras.random.SeedGenerator):
        seed = keras.random.SeedGenerator(checks.seed(seed))
    latent_dim = int(model.latent_dim)
    per_step = min(num_samples, batch_size)        # latent samples per example and call
    examples = min(len(x), max(1, batch_size // num_samples))
    function = _COMPILED.get(model)
    if function is None or function.terms != terms:
        function = _COMPILED[model] = _ImportanceTerms(model, terms)
    log_w, log_px, kl = [], [], []
    for start in range(0, len(x), examples):
        batch = x[start:start + examples]
        size = len(batch)
        extra = [] if labels is None else [labels[start:start + examples]]
        if size < examples:   # pad to the common shape (one compilation)
            batch, *extra = [np.concatenate([part, np.repeat(part[-1:], examples - size, 0)])
                             for part in [batch] + extra]
        w_chunks, p_chunks = [], []
        for _ in range(0, num_samples, per_step):
            eps = keras.random.normal((examples, per_step, latent_dim), seed=seed)
            w, p, d = function.predict_on_batch([batch, ops.convert_to_numpy(eps)] + extra)
            w_chunks.append(np.asarray(w)[:size])
            p_chunks.append(np.asarray(p)[:size])
        log_w.append(np.concatenate(w_chunks, axis=1)[:, :num_samples])
        log_px.append(np.concatenate(p_chunks, axis=1)[:, :num_samples])
        kl.append(np.asarray(d)[:size])
    return tuple(np.concatenate(parts).astype("float64") for parts in (log_w, log_px, kl))
