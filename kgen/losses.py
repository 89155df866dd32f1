"""Losses of the generative families, written with `keras.ops` only.

Adversarial losses take the discriminator's raw outputs (logits): ``real`` for data,
``fake`` for generated samples. The VAE terms are per-example sums over every dimension
but the batch axis.
"""

import keras
from keras import ops


class AdversarialLoss:
    """A GAN objective: a discriminator loss and a generator loss on discriminator logits.

    Get one by name with `get_adversarial_loss`.
    """

    name = None

    def discriminator_loss(self, real, fake):
        raise NotImplementedError

    def generator_loss(self, fake):
        raise NotImplementedError


class NonSaturatingLoss(AdversarialLoss):
    """The non-saturating GAN loss (Goodfellow et al. 2014, section 3).

    The discriminator minimises the binary cross-entropy of real (label 1) and generated
    (label 0) samples, ``softplus(-D(x)) + softplus(D(G(z)))``; the generator maximises
    ``log D(G(z))``, i.e. minimises ``softplus(-D(G(z)))``, which gives it strong gradients
    early in training when the discriminator rejects its samples easily.

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
    """

    name = "non_saturating"

    def discriminator_loss(self, real, fake):
        return ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(fake))

    def generator_loss(self, fake):
        return ops.mean(ops.softplus(-fake))


class MinimaxLoss(NonSaturatingLoss):
    """The original minimax GAN loss (Goodfellow et al. 2014, equation 1).

    The generator minimises ``log(1 - D(G(z)))`` = ``-softplus(D(G(z)))``; it saturates when
    the discriminator is confident, which is why `NonSaturatingLoss` is the default.

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
    """

    name = "minimax"

    def generator_loss(self, fake):
        return -ops.mean(ops.softplus(fake))


ADVERSARIAL_LOSSES = {cls.name: cls for cls in (NonSaturatingLoss, MinimaxLoss)}


def get_adversarial_loss(name):
    """Returns the `AdversarialLoss` called ``name`` (``"non_saturating"``, ``"minimax"``).

    Example:

    ```python
    from kgen import losses
    loss = losses.get_adversarial_loss("non_saturating")
    ```
    """
    if isinstance(name, AdversarialLoss):
        return name
    try:
        return ADVERSARIAL_LOSSES[name]()
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown adversarial loss {name!r}; choose one of {sorted(ADVERSARIAL_LOSSES)}."
        ) from None


def _sum_per_example(x):
    return ops.sum(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)


def gaussian_kl(mean, log_variance):
    """KL(N(mean, exp(log_variance)) || N(0, I)) per example (Kingma & Welling 2014, App. B).

    Example:

    ```python
    import numpy as np
    from kgen.losses import gaussian_kl
    gaussian_kl(np.zeros((2, 4), "float32"), np.zeros((2, 4), "float32"))  # [0., 0.]
    ```
    """
    mean, log_variance = ops.convert_to_tensor(mean), ops.convert_to_tensor(log_variance)
    kl = 0.5 * (ops.exp(log_variance) + ops.square(mean) - 1.0 - log_variance)
    return _sum_per_example(kl)


def bernoulli_nll(targets, logits):
    """Negative log-likelihood of ``targets`` in [0, 1] under Bernoulli(sigmoid(logits)).

    Per example, summed over every other axis (the binary cross-entropy of a VAE decoder).
    """
    targets, logits = ops.convert_to_tensor(targets), ops.convert_to_tensor(logits)
    nll = ops.softplus(logits) - targets * logits
    return _sum_per_example(nll)


def gaussian_nll(x, mean, log_scale):
    """Negative log-likelihood of ``x`` under N(mean, exp(log_scale)^2), per example.

    ``log_scale`` broadcasts against ``x`` (a scalar for a shared learned or fixed scale).
    """
    log_2pi = 1.8378770664093453
    x, mean = ops.convert_to_tensor(x), ops.convert_to_tensor(mean)
    log_scale = ops.convert_to_tensor(log_scale, dtype=x.dtype)
    z = (x - mean) * ops.exp(-log_scale)
    nll = 0.5 * ops.square(z) + log_scale + 0.5 * log_2pi
    nll = nll + ops.zeros_like(x)
    return _sum_per_example(nll)


def binary_accuracy(logits, target_is_real):
    """Fraction of logits on the right side of 0 (real: > 0, fake: < 0)."""
    correct = ops.greater(logits, 0.0) if target_is_real else ops.less(logits, 0.0)
    return ops.mean(ops.cast(correct, keras.backend.floatx()))
