"""CLIP guidance: a trained `kgen.models.CLIP` steers or chooses the samples of another model.

- `search_latents`: gradient ascent on a GAN's latent vectors to raise the CLIP similarity
  of its samples with a prompt (the "CLIP + GAN" of Galatolo et al. 2021 and VQGAN-CLIP,
  Crowson et al. 2022, on kgen's GANs).
- `rerank`: draw many samples, keep the ones CLIP finds closest to the prompt (the
  re-ranking of DALL-E, Ramesh et al. 2021).

Both take the prompt as a string and images of the CLIP model's image shape; both run on
every backend.
"""

from kgen.clip_guidance.latent_search import GuidedSamples, search_latents  # noqa: F401
from kgen.clip_guidance.rerank import Ranked, rerank  # noqa: F401
