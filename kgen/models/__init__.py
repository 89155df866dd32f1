"""Generative models: each a `keras.Model` trained with `fit()` and sampled with `generate()`."""

from kgen.models.autoencoder import VAE  # noqa: F401
from kgen.models.base import GenerativeModel, Update  # noqa: F401
from kgen.models.conditional_gan import ConditionalGAN  # noqa: F401
from kgen.models.ema import ExponentialMovingAverage, averaged_copy  # noqa: F401
from kgen.models.gan import GAN  # noqa: F401
from kgen.models.optimizer_group import OptimizerGroup  # noqa: F401
