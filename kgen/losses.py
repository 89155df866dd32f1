"""Losses of the generative families, written with `keras.ops` only.

Adversarial losses take the discriminator's raw outputs (logits): ``real`` for data,
``fake`` for generated samples. Gradient penalties take the discriminator as a function
of samples and differentiate it with respect to its input (`kgen.backend.input_gradient`).
The VAE terms are per-example sums over every dimension but the batch axis.
"""

import keras
from keras import ops

from kgen import backend


class AdversarialLoss:
    """A GAN objective: a discriminator loss and a generator loss on discriminator outputs.

    Get one by name with `get_adversarial_loss`, or subclass it and pass an instance as
    ``GAN(loss=...)``. ``threshold`` is the output above which the discriminator calls a
    sample real (used for the logged accuracies).

    Example:

    ```python
    from keras import ops
    from kgen.losses import AdversarialLoss

    class SoftplusHinge(AdversarialLoss):
        name = "softplus_hinge"

        def discriminator_loss(self, real, fake):
            return ops.mean(ops.softplus(1.0 - real)) + ops.mean(ops.softplus(1.0 + fake))

        def generator_loss(self, fake):
            return -ops.mean(fake)
    ```
    """

    name = None
    threshold = 0.0

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


class HingeLoss(AdversarialLoss):
    """The hinge GAN loss (Lim & Ye 2017; Miyato et al. 2018).

    The discriminator is a margin classifier, ``mean(relu(1 - D(x))) + mean(relu(1 +
    D(G(z))))``: samples already beyond the margin (real logits above 1, fake ones below
    -1) give no gradient. The generator minimises ``-mean(D(G(z)))``. The loss of
    SN-GAN, BigGAN and SAGAN.

    Example:

    ```python
    import numpy as np
    from kgen.losses import HingeLoss
    HingeLoss().discriminator_loss(np.array([2.0, 0.5]), np.array([-0.5]))  # 0.25 + 0.5
    ```

    References:
        Lim & Ye, "Geometric GAN", arXiv:1705.02894, 2017.
        Miyato, Kataoka, Koyama & Yoshida, "Spectral Normalization for Generative
        Adversarial Networks", ICLR 2018.
    """

    name = "hinge"

    def discriminator_loss(self, real, fake):
        real, fake = ops.convert_to_tensor(real), ops.convert_to_tensor(fake)
        return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))

    def generator_loss(self, fake):
        return -ops.mean(ops.convert_to_tensor(fake))


class WassersteinLoss(AdversarialLoss):
    """The Wasserstein GAN loss (Arjovsky, Chintala & Bottou 2017).

    The critic maximises ``mean(D(x)) - mean(D(G(z)))``, an estimate of the Wasserstein-1
    distance when it is 1-Lipschitz; it minimises ``mean(D(G(z))) - mean(D(x))``. The
    generator minimises ``-mean(D(G(z)))``. The critic must be kept Lipschitz: use it with
    a gradient penalty (``GAN(gradient_penalty="wgan-gp")``, Gulrajani et al. 2017) or
    spectral normalisation, and several critic updates per generator update
    (``discriminator_steps=5``). ``-d_loss`` (without the penalty) estimates the distance.

    Example:

    ```python
    import numpy as np
    from kgen.losses import WassersteinLoss
    WassersteinLoss().discriminator_loss(np.array([2.0, 0.0]), np.array([-1.0]))  # -2.0
    ```

    References:
        Arjovsky, Chintala & Bottou, "Wasserstein Generative Adversarial Networks",
        ICML 2017.
    """

    name = "wasserstein"

    def discriminator_loss(self, real, fake):
        real, fake = ops.convert_to_tensor(real), ops.convert_to_tensor(fake)
        return ops.mean(fake) - ops.mean(real)

    def generator_loss(self, fake):
        return -ops.mean(ops.convert_to_tensor(fake))


class LeastSquaresLoss(AdversarialLoss):
    """The least-squares GAN loss (Mao et al. 2017), with targets 0 (fake) and 1 (real).

    The discriminator regresses real samples to 1 and generated ones to 0,
    ``0.5 mean((D(x) - 1)^2) + 0.5 mean(D(G(z))^2)``; the generator pushes its samples'
    outputs to 1, ``0.5 mean((D(G(z)) - 1)^2)``. These are the paper's 0-1-1 targets
    (a = 0, b = 1, c = 1); its Pearson chi-squared result needs b - c = 1 and b - a = 2,
    and it reports that the two codings perform alike. Its accuracy threshold is 0.5.

    Example:

    ```python
    import numpy as np
    from kgen.losses import LeastSquaresLoss
    LeastSquaresLoss().generator_loss(np.array([0.0, 1.0]))  # 0.25
    ```

    References:
        Mao, Li, Xie, Lau, Wang & Smolley, "Least Squares Generative Adversarial
        Networks", ICCV 2017.
    """

    name = "least_squares"
    threshold = 0.5

    def discriminator_loss(self, real, fake):
        real, fake = ops.convert_to_tensor(real), ops.convert_to_tensor(fake)
        return 0.5 * ops.mean(ops.square(real - 1.0)) + 0.5 * ops.mean(ops.square(fake))

    def generator_loss(self, fake):
        return 0.5 * ops.mean(ops.square(ops.convert_to_tensor(fake) - 1.0))


ADVERSARIAL_LOSSES = {
    cls.name: cls
    for cls in (NonSaturatingLoss, MinimaxLoss, HingeLoss, WassersteinLoss, LeastSquaresLoss)
}


def get_adversarial_loss(name):
    """Returns the `AdversarialLoss` called ``name`` (a key of ``ADVERSARIAL_LOSSES``).

    The names are ``"non_saturating"``, ``"minimax"``, ``"hinge"``, ``"wasserstein"`` and
    ``"least_squares"``; an `AdversarialLoss` instance is returned as it is.

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


def _squared_norms(gradients):
    """Squared L2 norm of each example's gradient (summed over all but the batch axis)."""
    return _sum_per_example(ops.square(gradients))


def wgan_gradient_penalty(critic, real, fake, weight=10.0, seed=None):
    """The WGAN-GP gradient penalty (Gulrajani et al. 2017, algorithm 1).

    ``weight * mean((||grad_x critic(x_hat)||_2 - 1)^2)`` at random interpolates
    ``x_hat = eps * real + (1 - eps) * fake``, one ``eps ~ U[0, 1]`` per example. It keeps
    the critic's gradient norm near 1 along lines between the two distributions, a soft
    form of the 1-Lipschitz constraint of the Wasserstein loss. Differentiable with
    respect to the critic's weights (through `kgen.backend.input_gradient`), so it is
    added to the critic's loss. The critic should not use batch normalisation in training
    mode (it makes each output depend on the whole batch); the paper uses none.

    Args:
        critic: a function from a batch of samples to one output per sample.
        real: a batch of real samples.
        fake: a batch of generated samples of the same shape (no gradient needs to flow
            into them).
        weight: the penalty coefficient lambda (10 in the paper).
        seed: a `keras.random.SeedGenerator` (or integer) for ``eps``; inside a model's
            training step use the model's own generator.

    Returns:
        The weighted penalty, a scalar.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.losses import wgan_gradient_penalty

    critic = keras.layers.Dense(1, kernel_initializer="ones")   # grad = (1, 1), norm sqrt(2)
    x = np.random.randn(4, 2).astype("float32")
    wgan_gradient_penalty(critic, x, -x, seed=0)   # 10 * (sqrt(2) - 1)^2 = 1.716
    ```

    References:
        Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, "Improved Training of
        Wasserstein GANs", NeurIPS 2017.
    """
    real = ops.convert_to_tensor(real, dtype=keras.backend.floatx())
    fake = ops.convert_to_tensor(fake, dtype=keras.backend.floatx())
    if tuple(real.shape[1:]) != tuple(fake.shape[1:]):
        raise ValueError(
            f"wgan_gradient_penalty needs real and fake samples of the same shape; got "
            f"{tuple(real.shape)} and {tuple(fake.shape)}."
        )
    shape = (ops.shape(real)[0],) + (1,) * (len(real.shape) - 1)
    eps = backend.batch_noise(
        lambda s: keras.random.uniform(s, dtype=real.dtype, seed=seed), shape)
    interpolates = fake + eps * (real - fake)
    gradients = backend.input_gradient(critic, interpolates)
    # The small constant keeps the square root differentiable at a zero gradient.
    norms = ops.sqrt(_squared_norms(gradients) + 1e-12)
    return weight * ops.mean(ops.square(norms - 1.0))


def r1_penalty(critic, real, weight=10.0):
    """The R1 regulariser (Mescheder, Geiger & Nowozin 2018, equation 9).

    ``weight / 2 * mean(||grad_x critic(x)||_2^2)`` on *real* samples only: it penalises
    the discriminator's gradient on the data, which makes training converge locally
    (the paper's analysis of the Dirac-GAN) and is the regulariser of StyleGAN. The
    weight is the paper's gamma (10 for most of its experiments; StyleGAN uses 1 to 100
    depending on the data set).

    Args:
        critic: a function from a batch of samples to one output per sample.
        real: a batch of real samples.
        weight: gamma.

    Returns:
        The weighted penalty, a scalar.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.losses import r1_penalty

    critic = keras.layers.Dense(1, kernel_initializer="ones")   # ||grad||^2 = 2
    r1_penalty(critic, np.random.randn(4, 2).astype("float32"), weight=10.0)   # 10.0
    ```

    References:
        Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually
        Converge?", ICML 2018.
    """
    real = ops.convert_to_tensor(real, dtype=keras.backend.floatx())
    gradients = backend.input_gradient(critic, real)
    return 0.5 * weight * ops.mean(_squared_norms(gradients))


GRADIENT_PENALTIES = {"wgan-gp": 10.0, "r1": 10.0}
"""The gradient penalties of `kgen.models.GAN` and their default weights."""


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


def binary_accuracy(logits, target_is_real, threshold=0.0):
    """Fraction of outputs on the right side of ``threshold`` (real: above, fake: below)."""
    logits = ops.convert_to_tensor(logits)
    correct = ops.greater(logits, threshold) if target_is_real else ops.less(logits, threshold)
    return ops.mean(ops.cast(correct, keras.backend.floatx()))


# ------------------------------------------------- feature statistics losses
def _as_list(features):
    return list(features) if isinstance(features, (list, tuple)) else [features]


def _layer_weights(weights, count, what):
    if weights is None:
        return [1.0 / count] * count
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise ValueError(f"{what}: got {len(weights)} layer weights for {count} layers.")
    return weights


def gram_matrix(features):
    """Gram matrices of feature maps, normalised by the number of positions ``H * W``.

    For features ``F`` of shape ``(batch, H, W, C)``, reshaped to ``(batch, H*W, C)``,
    ``G = F^T F / (H * W)``: entry ``(i, j)`` is the mean over positions of the product
    of channels ``i`` and ``j``. Dividing by ``H * W`` makes Gram matrices of images of
    different sizes comparable (a texture can be synthesised larger than its example).

    Args:
        features: a ``(batch, H, W, C)`` tensor.

    Returns:
        A ``(batch, C, C)`` tensor.

    Example:

    ```python
    import numpy as np
    from kgen.losses import gram_matrix
    gram_matrix(np.ones((1, 2, 2, 3), "float32"))   # (1, 3, 3), all ones
    ```

    References:
        Gatys, Ecker & Bethge, "Texture Synthesis Using Convolutional Neural Networks",
        NeurIPS 2015.
    """
    features = ops.convert_to_tensor(features)
    if len(features.shape) != 4:
        raise ValueError(
            f"gram_matrix takes feature maps (batch, height, width, channels); got shape "
            f"{tuple(features.shape)}.")
    shape = ops.shape(features)
    flat = ops.reshape(features, (shape[0], shape[1] * shape[2], shape[3]))
    positions = ops.cast(shape[1] * shape[2], flat.dtype)
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / positions


def style_loss(features, target_grams, weights=None, normalize=False):
    """Gatys et al.'s style loss: squared differences of Gram matrices, summed over layers.

    ``sum_l w_l mean((gram_matrix(F_l) - A_l)^2)``, the mean over the batch and the
    ``C_l x C_l`` entries. With the Gram normalisation of `gram_matrix` this is, up to
    a factor 4, Gatys et al.'s ``E_l``. With ``normalize=True`` each layer's term is
    divided by ``mean(A_l^2)`` (a relative error), so that layers, and networks whose
    activations have different scales (random or trained weights), weigh alike.

    Args:
        features: a list of ``(batch, H, W, C_l)`` feature maps (or one map).
        target_grams: the matching list of target Gram matrices ``(1 or batch, C_l, C_l)``.
        weights: one weight per layer (default ``1 / num_layers`` each).
        normalize: divide each layer's term by the mean square of its target.

    Returns:
        A scalar.

    Example:

    ```python
    import numpy as np
    from kgen.losses import gram_matrix, style_loss
    f = np.random.default_rng(0).normal(size=(1, 4, 4, 3)).astype("float32")
    style_loss([f], [gram_matrix(f)])   # 0.0
    ```

    References:
        Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
        Networks", CVPR 2016.
    """
    features, target_grams = _as_list(features), _as_list(target_grams)
    if len(features) != len(target_grams):
        raise ValueError(
            f"style_loss: {len(features)} feature maps but {len(target_grams)} target Gram "
            "matrices; pass one target per layer.")
    total = 0.0
    for w, f, target in zip(_layer_weights(weights, len(features), "style_loss"),
                            features, target_grams):
        target = ops.convert_to_tensor(target)
        term = ops.mean(ops.square(gram_matrix(f) - target))
        if normalize:
            term = term / (ops.mean(ops.square(target)) + 1e-12)
        total = total + w * term
    return total


def feature_loss(features, target_features, weights=None, normalize=False):
    """The perceptual (feature reconstruction) loss: squared feature differences, summed over layers.

    ``sum_l w_l mean((F_l - T_l)^2)``, the mean over every entry of the ``(batch, H, W,
    C_l)`` maps: Johnson et al.'s ``||F - T||^2 / (C H W)`` averaged over the batch, and
    Gatys et al.'s content loss up to a constant. With ``normalize=True`` each term is
    divided by ``mean(T_l^2)``.

    It is a loss for any model: a translation model's generator (pix2pix) adds it to
    its adversarial and L1 terms to compare its output with the target in feature space
    (`perceptual_loss` runs the extractor).

    Args:
        features: a list of feature maps of the generated images (or one map).
        target_features: the matching list of feature maps of the targets.
        weights: one weight per layer (default ``1 / num_layers`` each).
        normalize: divide each layer's term by the mean square of its target.

    Returns:
        A scalar.

    Example:

    ```python
    import numpy as np
    from kgen.losses import feature_loss
    feature_loss([np.ones((1, 2, 2, 1), "float32")], [np.zeros((1, 2, 2, 1), "float32")])  # 1.0
    ```

    References:
        Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
        Super-Resolution", ECCV 2016.
    """
    features, target_features = _as_list(features), _as_list(target_features)
    if len(features) != len(target_features):
        raise ValueError(
            f"feature_loss: {len(features)} feature maps but {len(target_features)} targets.")
    total = 0.0
    for w, f, target in zip(_layer_weights(weights, len(features), "feature_loss"),
                            features, target_features):
        target = ops.convert_to_tensor(target)
        term = ops.mean(ops.square(ops.convert_to_tensor(f) - target))
        if normalize:
            term = term / (ops.mean(ops.square(target)) + 1e-12)
        total = total + w * term
    return total


def perceptual_loss(extractor, images, targets, weights=None):
    """`feature_loss` between the features of ``images`` and of ``targets`` under ``extractor``.

    The targets' features carry no gradient. ``extractor`` is any model returning a list
    of feature maps, such as `kgen.networks.vgg19_features` (frozen: set its
    ``trainable`` to False).

    Args:
        extractor: a Keras model from images to a list of feature maps.
        images: generated images, in the extractor's input space (``[-1, 1]`` for VGG).
        targets: the images to match.
        weights: one weight per extractor output.

    Returns:
        A scalar.

    Example:

    ```python
    import numpy as np
    from kgen.losses import perceptual_loss
    from kgen.networks import vgg19_features

    vgg = vgg19_features(["block2_conv2"], weights=None)
    x = np.zeros((2, 16, 16, 3), "float32")
    perceptual_loss(vgg, x, x)   # 0.0
    ```

    References:
        Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
        Super-Resolution", ECCV 2016.
    """
    target_features = [ops.stop_gradient(t) for t in _as_list(extractor(targets))]
    return feature_loss(_as_list(extractor(images)), target_features, weights)


def total_variation_loss(images, power=2.0):
    """Total variation of images: mean ``|difference|^power`` of neighbouring pixels.

    ``mean(|x[:, i+1, j] - x[:, i, j]|^p) + mean(|x[:, i, j+1] - x[:, i, j]|^p)``, the
    means over every vertical and every horizontal pair of neighbours (and channels and
    batch). ``power=2`` (default) is a smooth penalty; ``power=1`` is the anisotropic
    total variation. A small weight of it removes the high-frequency noise of images
    synthesised by gradient descent (Mahendran & Vedaldi 2015; Johnson et al. 2016).

    Args:
        images: a ``(batch, H, W, C)`` tensor.
        power: the exponent ``p`` of the differences.

    Returns:
        A scalar.

    Example:

    ```python
    import numpy as np
    from kgen.losses import total_variation_loss
    total_variation_loss(np.array([[0.0, 1.0], [0.0, 1.0]], "float32")[None, :, :, None])  # 1.0
    ```

    References:
        Mahendran & Vedaldi, "Understanding Deep Image Representations by Inverting
        Them", CVPR 2015.
    """
    images = ops.convert_to_tensor(images)
    if len(images.shape) != 4:
        raise ValueError(
            f"total_variation_loss takes images (batch, height, width, channels); got shape "
            f"{tuple(images.shape)}.")
    vertical = ops.abs(images[:, 1:, :, :] - images[:, :-1, :, :])
    horizontal = ops.abs(images[:, :, 1:, :] - images[:, :, :-1, :])
    if power == 2.0:
        return ops.mean(ops.square(vertical)) + ops.mean(ops.square(horizontal))
    return ops.mean(ops.power(vertical, power)) + ops.mean(ops.power(horizontal, power))
