"""Losses of the generative families: functions of tensors, written with `keras.ops` only.

- `kgen.losses.adversarial`: GAN objectives on the discriminator's raw outputs (logits),
  ``real`` for data and ``fake`` for generated samples (`AdversarialLoss`,
  ``ADVERSARIAL_LOSSES``, `get_adversarial_loss`).
- `kgen.losses.penalties`: gradient penalties (WGAN-GP, R1) as functions of the critic's
  gradients with respect to its inputs; the caller computes those gradients with
  `kgen.backend.input_gradient`, as `kgen.models.GAN` does.
- `kgen.losses.likelihood`: the terms of a VAE's negative ELBO, per-example sums over
  every axis but the batch axis.
- `kgen.losses.perceptual`: Gram-matrix style losses, feature (perceptual) losses and
  total variation, for texture synthesis, style transfer and any model that compares
  images in a feature space.

No module here differentiates anything or imports a backend: every loss is a function of
tensors, usable inside any model's training step on TensorFlow, JAX or PyTorch.
`binary_accuracy` (a metric, in `kgen.metrics.accuracy`) is also available here.

Example:

```python
import numpy as np
from kgen import losses

loss = losses.get_adversarial_loss("hinge")
loss.discriminator_loss(np.array([2.0, 0.5], "float32"), np.array([-0.5], "float32"))  # 0.75
```
"""

from kgen.losses.adversarial import (  # noqa: F401
    ADVERSARIAL_LOSSES,
    AdversarialLoss,
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WassersteinLoss,
    get_adversarial_loss,
)
from kgen.losses.likelihood import (  # noqa: F401
    bernoulli_nll,
    gaussian_kl,
    gaussian_nll,
    sum_per_example,
)
from kgen.losses.penalties import (  # noqa: F401
    GRADIENT_PENALTIES,
    interpolate,
    r1_penalty,
    squared_norms,
    wgan_gradient_penalty,
)
from kgen.losses.perceptual import (  # noqa: F401
    feature_loss,
    gram_matrix,
    perceptual_loss,
    style_loss,
    total_variation_loss,
)
from kgen.metrics.accuracy import binary_accuracy  # noqa: F401
