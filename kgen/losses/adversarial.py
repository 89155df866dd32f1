"""Adversarial losses: a discriminator loss and a generator loss on discriminator outputs.

Each loss takes the discriminator's raw outputs (logits): ``real`` for data, ``fake`` for
generated samples. `get_adversarial_loss` returns one by name (the keys of
``ADVERSARIAL_LOSSES``), the way `kgen.models.GAN`, `kgen.models.Pix2Pix` and
`kgen.models.CycleGAN` read their ``loss=`` argument.
"""

from keras import ops

from kgen import checks


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

    SoftplusHinge().generator_loss(ops.convert_to_tensor([1.0, 3.0]))   # -2.0
    ```
    """

    name = None
    threshold = 0.0

    def discriminator_loss(self, real, fake):
        """The discriminator's loss, a scalar, from its outputs on real and generated samples.

        Args:
            real: the discriminator's outputs on a batch of data.
            fake: its outputs on a batch of generated samples.
        """
        raise NotImplementedError

    def generator_loss(self, fake):
        """The generator's loss, a scalar, from the discriminator's outputs on its samples.

        Args:
            fake: the discriminator's outputs on a batch of generated samples.
        """
        raise NotImplementedError


class NonSaturatingLoss(AdversarialLoss):
    """The non-saturating GAN loss (Goodfellow et al. 2014, section 3).

    The discriminator minimises the binary cross-entropy of real (label 1) and generated
    (label 0) samples, ``softplus(-D(x)) + softplus(D(G(z)))``; the generator maximises
    ``log D(G(z))``, i.e. minimises ``softplus(-D(G(z)))``, which gives it strong gradients
    early in training when the discriminator rejects its samples easily.

    Example:

    ```python
    import numpy as np
    from kgen.losses import NonSaturatingLoss
    NonSaturatingLoss().generator_loss(np.array([0.0], "float32"))  # log 2 = 0.693
    ```

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

    Example:

    ```python
    import numpy as np
    from kgen.losses import MinimaxLoss
    MinimaxLoss().generator_loss(np.array([0.0], "float32"))  # -log 2 = -0.693
    ```

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
"""The adversarial losses by name: ``GAN(loss=name)`` builds ``ADVERSARIAL_LOSSES[name]()``."""


def get_adversarial_loss(name):
    """Returns the `AdversarialLoss` called ``name`` (a key of ``ADVERSARIAL_LOSSES``).

    The names are ``"non_saturating"``, ``"minimax"``, ``"hinge"``, ``"wasserstein"`` and
    ``"least_squares"``; an `AdversarialLoss` instance is returned as it is.

    Args:
        name: a name of ``ADVERSARIAL_LOSSES``, or an `AdversarialLoss` instance.

    Returns:
        An `AdversarialLoss` instance.

    Raises:
        TypeError: ``name`` is neither a string nor an `AdversarialLoss`.
        ValueError: no loss has that name.

    Example:

    ```python
    from kgen import losses
    loss = losses.get_adversarial_loss("non_saturating")
    ```
    """
    if isinstance(name, AdversarialLoss):
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"The adversarial loss must be one of {sorted(ADVERSARIAL_LOSSES)} or an "
            f"AdversarialLoss instance; got {name!r} ({type(name).__name__}).")
    return ADVERSARIAL_LOSSES[checks.one_of(name, "adversarial loss", sorted(ADVERSARIAL_LOSSES))]()
