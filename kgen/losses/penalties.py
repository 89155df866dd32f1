"""Gradient penalties of a GAN's discriminator, as functions of its input gradients.

A penalty is a function of the critic's gradients with respect to its inputs, one row per
example. The caller computes them with `kgen.backend.input_gradient` (the one place where
differentiation is backend-specific), at the points the penalty asks for: random
interpolates between real and generated samples for WGAN-GP (`interpolate`), the real
samples for R1. The gradients stay differentiable with respect to the critic's weights,
so a penalty added to the critic's loss trains it (second-order gradients).
`kgen.models.GAN` does all of this in its ``penalty()`` method.
"""

import keras
from keras import ops

from kgen import checks
from kgen.losses.likelihood import sum_per_example


def squared_norms(gradients):
    """The squared L2 norm of each example's gradient, summed over all but the batch axis.

    Args:
        gradients: a ``(batch, ...)`` tensor.

    Returns:
        A ``(batch,)`` tensor.

    Example:

    ```python
    import numpy as np
    from kgen.losses import squared_norms
    squared_norms(np.array([[3.0, 4.0], [1.0, 0.0]], "float32"))   # [25., 1.]
    ```
    """
    return sum_per_example(ops.square(ops.convert_to_tensor(gradients)))


def interpolate(real, fake, eps):
    """The points ``fake + eps * (real - fake)`` between real and generated samples.

    WGAN-GP evaluates the critic's gradient at these points, with one ``eps ~ U[0, 1]``
    per example; draw ``eps`` in a model's training step with
    `kgen.backend.batch_noise` and the model's own seed generator.

    Args:
        real: a batch of real samples, ``(batch, ...)``.
        fake: a batch of generated samples of the same shape (no gradient needs to flow
            into them).
        eps: the interpolation weights, ``(batch, 1, ..., 1)`` (one per example, of the
            rank of ``real``) or a scalar. ``eps = 1`` gives ``real``, ``eps = 0`` gives
            ``fake``.

    Returns:
        A tensor of the shape of ``real``, in ``keras.backend.floatx()``.

    Example:

    ```python
    import numpy as np
    from kgen.losses import interpolate
    real, fake = np.ones((2, 3), "float32"), np.zeros((2, 3), "float32")
    interpolate(real, fake, np.array([[0.25], [1.0]], "float32"))   # rows of 0.25 and 1.0
    ```

    References:
        Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, "Improved Training of
        Wasserstein GANs", NeurIPS 2017.
    """
    real = ops.convert_to_tensor(real, dtype=keras.backend.floatx())
    fake = ops.convert_to_tensor(fake, dtype=keras.backend.floatx())
    if tuple(real.shape[1:]) != tuple(fake.shape[1:]):
        raise ValueError(
            f"interpolate needs real and fake samples of the same shape; got "
            f"{tuple(real.shape)} and {tuple(fake.shape)}.")
    eps = ops.convert_to_tensor(eps, dtype=real.dtype)
    if len(eps.shape) not in (0, len(real.shape)) or any(
            d != 1 for d in tuple(eps.shape)[1:]):
        raise ValueError(
            f"eps must hold one weight per example, of shape (batch, 1, ..., 1) with the "
            f"rank of the samples {tuple(real.shape)}, or be a scalar; got shape "
            f"{tuple(eps.shape)}.")
    return fake + eps * (real - fake)


def wgan_gradient_penalty(gradients, weight=10.0):
    """The WGAN-GP gradient penalty (Gulrajani et al. 2017, algorithm 1).

    ``weight * mean((||g||_2 - 1)^2)``, where ``g`` is the critic's gradient with respect
    to its input at random interpolates ``x_hat = eps * real + (1 - eps) * fake``, one
    ``eps ~ U[0, 1]`` per example (`interpolate`). It keeps the critic's gradient norm near
    1 along lines between the two distributions, a soft form of the 1-Lipschitz constraint
    of the Wasserstein loss.

    The caller computes the gradients, ``kgen.backend.input_gradient(critic, x_hat)``:
    they are differentiable with respect to the critic's weights, so the penalty is added
    to the critic's loss. The critic should not use batch normalisation in training mode
    (it makes each output depend on the whole batch); the paper uses none.

    Args:
        gradients: the critic's input gradients at the interpolates, ``(batch, ...)``.
        weight: the penalty coefficient lambda (10 in the paper), a non-negative number.

    Returns:
        The weighted penalty, a scalar.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen import backend
    from kgen.losses import interpolate, wgan_gradient_penalty

    critic = keras.layers.Dense(1, kernel_initializer="ones")   # grad = (1, 1), norm sqrt(2)
    x = np.random.randn(4, 2).astype("float32")
    eps = np.random.uniform(size=(4, 1)).astype("float32")
    gradients = backend.input_gradient(critic, interpolate(x, -x, eps))
    wgan_gradient_penalty(gradients)   # 10 * (sqrt(2) - 1)^2 = 1.716
    ```

    References:
        Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, "Improved Training of
        Wasserstein GANs", NeurIPS 2017.
    """
    weight = checks.number(weight, "weight", minimum=0.0)
    # The small constant keeps the square root differentiable at a zero gradient.
    norms = ops.sqrt(squared_norms(gradients) + 1e-12)
    return weight * ops.mean(ops.square(norms - 1.0))


def r1_penalty(gradients, weight=10.0):
    """The R1 regulariser (Mescheder, Geiger & Nowozin 2018, equation 9).

    ``weight / 2 * mean(||g||_2^2)``, where ``g`` is the discriminator's gradient with
    respect to its input at *real* samples only: it penalises the discriminator's gradient
    on the data, which makes training converge locally (the paper's analysis of the
    Dirac-GAN) and is the regulariser of StyleGAN. The weight is the paper's gamma (10 for
    most of its experiments; StyleGAN uses 1 to 100 depending on the data set).

    The caller computes the gradients, ``kgen.backend.input_gradient(critic, real)``;
    they are differentiable with respect to the discriminator's weights.

    Args:
        gradients: the discriminator's input gradients at real samples, ``(batch, ...)``.
        weight: gamma, a non-negative number.

    Returns:
        The weighted penalty, a scalar.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen import backend
    from kgen.losses import r1_penalty

    critic = keras.layers.Dense(1, kernel_initializer="ones")   # ||grad||^2 = 2
    real = np.random.randn(4, 2).astype("float32")
    r1_penalty(backend.input_gradient(critic, real), weight=10.0)   # 10.0
    ```

    References:
        Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually
        Converge?", ICML 2018.
    """
    weight = checks.number(weight, "weight", minimum=0.0)
    return 0.5 * weight * ops.mean(squared_norms(gradients))


GRADIENT_PENALTIES = {"wgan-gp": 10.0, "r1": 10.0}
"""The gradient penalties of `kgen.models.GAN` (``gradient_penalty=``) and their weights."""
