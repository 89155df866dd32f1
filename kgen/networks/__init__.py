"""Network architectures: functional Keras models with no loss and no optimizer."""

from kgen.networks.attention import MultiHeadAttention  # noqa: F401
from kgen.networks.autoencoder import (  # noqa: F401
    conditional_decoder,
    conditional_encoder,
    decoder,
    encoder,
)
from kgen.networks.conditional import (  # noqa: F401
    conditional_discriminator,
    conditional_generator,
)
from kgen.networks.dcgan import (  # noqa: F401
    dcgan_discriminator,
    dcgan_generator,
    discriminator_features,
    generator_body,
    num_upsamplings,
)
from kgen.networks.diffusion_transformer import (  # noqa: F401
    DiTBlock,
    DiTOutput,
    diffusion_transformer,
)
from kgen.networks.diffusion_unet import SinusoidalEmbedding, diffusion_unet  # noqa: F401
from kgen.networks.diff_augment import DiffAugment  # noqa: F401
from kgen.networks.dropout import Dropout  # noqa: F401
from kgen.networks.image_encoder import image_encoder  # noqa: F401
from kgen.networks.image_prior import skip_network  # noqa: F401
from kgen.networks.mlp import mlp, mlp_hidden  # noqa: F401
from kgen.networks.patches import (  # noqa: F401
    PatchEmbedding,
    PatchUnembedding,
    patchify,
    unpatchify,
)
from kgen.networks.patchgan import patchgan_discriminator  # noqa: F401
from kgen.networks.pixelcnn import (  # noqa: F401
    GatedPixelCNN,
    GatedPixelCNNBlock,
    MaskedConv2D,
)
from kgen.networks.positions import (  # noqa: F401
    LearnedPositions,
    SinusoidalPositions,
    SinusoidalPositions2D,
    sinusoidal_1d,
    sinusoidal_2d,
)
from kgen.networks.resnet_generator import ReflectionPadding2D, resnet_generator  # noqa: F401
from kgen.networks.spectral_norm import SpectralNormalization  # noqa: F401
from kgen.networks.transformer import (  # noqa: F401
    CausalDecoder,
    TransformerBlock,
    transformer_decoder,
)
from kgen.networks.text_encoder import TextEncoder, Tokenizer, text_encoder  # noqa: F401
from kgen.networks.unet import unet_generator  # noqa: F401
from kgen.networks.vector_quantizer import VectorQuantizer  # noqa: F401
from kgen.networks.vgg import CaffePreprocessing, vgg19_features  # noqa: F401
from kgen.networks.widths import default_base_filters  # noqa: F401
