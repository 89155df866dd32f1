"""Network architectures: functional Keras models with no loss and no optimizer."""

from kgen.networks.conditional import (  # noqa: F401
    conditional_discriminator,
    conditional_generator,
)
from kgen.networks.dcgan import (  # noqa: F401
    dcgan_discriminator,
    dcgan_generator,
    num_upsamplings,
)
from kgen.networks.mlp import mlp  # noqa: F401
from kgen.networks.spectral_norm import SpectralNormalization  # noqa: F401
