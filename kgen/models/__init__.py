"""Generative models: each a `keras.Model` trained with `fit()` and sampled with `generate()`."""

from kgen.models.autoencoder import Autoencoder  # noqa: F401
from kgen.models.vae import VAE  # noqa: F401
from kgen.models.base import GenerativeModel, Update  # noqa: F401
from kgen.models.conditional_gan import ConditionalGAN  # noqa: F401
from kgen.models.conditional_vae import ConditionalVAE  # noqa: F401
from kgen.models.diffusion import Diffusion  # noqa: F401
from kgen.models.cyclegan import CycleGAN  # noqa: F401
from kgen.models.ema import ExponentialMovingAverage, averaged_copy  # noqa: F401
from kgen.models.gan import GAN  # noqa: F401
from kgen.models.latent_prior import LatentPrior  # noqa: F401
from kgen.models.image_pool import ImageHistoryPool  # noqa: F401
from kgen.models.image_prior import DeepImagePrior  # noqa: F401
from kgen.models.optimizer_group import OptimizerGroup  # noqa: F401
from kgen.models.pix2pix import Pix2Pix  # noqa: F401
from kgen.models.pixelcnn import PixelCNN  # noqa: F401
from kgen.models.single_image import SingleImageModel  # noqa: F401
from kgen.models.style import StyleTransfer, TextureSynthesis  # noqa: F401
from kgen.models.vqvae import VQVAE  # noqa: F401

import importlib as _importlib  # noqa: E402
import pkgutil as _pkgutil  # noqa: E402

from kgen.models import registry  # noqa: E402,F401


def _import_every_module():
    """Imports every module of this package, so that each family registers itself, and
    makes each module's public names (its ``__all__``) available as ``kgen.models.<name>``.

    A new family is a new module here: nothing else needs to list it.
    """
    for info in _pkgutil.iter_modules(__path__):
        module = _importlib.import_module(f"{__name__}.{info.name}")
        for name in getattr(module, "__all__", ()):
            globals()[name] = getattr(module, name)


_import_every_module()
