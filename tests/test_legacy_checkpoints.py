"""Checkpoints written by kgen 0.1.0 still load, and give the samples they gave then.

The PixelCNN and the latent prior draw their sampling noise with numpy now (one uniform
number per position), so their stored samples are today's (fixtures/legacy/README.md).
"""

import pathlib

import keras
import numpy as np
import pytest

import kgen

LEGACY = pathlib.Path(__file__).parent / "fixtures" / "legacy"
BACKEND = keras.backend.backend()
#: The kinds whose stored samples were regenerated after their sampling noise changed.
REGENERATED = ("prior", "pixelcnn")
KINDS = ("gan", "wgan_gp", "cgan", "vae", "cvae", "dae", "pix2pix", "cyclegan", "vqvae",
         "prior", "pixelcnn", "diffusion", "texture", "style", "dip")
CONDITIONS = {"cgan": {"labels": [0, 1, 2, 1]}, "cvae": {"labels": [0, 1, 2, 1]},
              "pixelcnn": {"labels": [0, 1, 2, 1]},
              "diffusion": {"labels": [0, 1, 2, 1], "steps": 5}}


def generate(kind, model):
    if kind in ("pix2pix", "cyclegan"):
        digits = kgen.data.to_data_space(kgen.data.load("digits")[:4])
        return model.generate(inputs=digits, seed=3)
    if kind in ("texture", "style", "dip"):
        return model.generate(seed=3)
    return model.generate(4, seed=3, **CONDITIONS.get(kind, {}))


@pytest.mark.parametrize("kind", KINDS)
def test_a_checkpoint_of_kgen_0_1_loads_and_samples_as_then(kind):
    expected = np.load(LEGACY / f"samples_{BACKEND}.npz")[kind]
    model = keras.saving.load_model(LEGACY / f"{kind}.keras")
    assert isinstance(model, kgen.models.GenerativeModel)
    samples = generate(kind, model)
    assert samples.shape == expected.shape
    # Up to float32 rounding of the same computation (a ResNet generator carries it to
    # about 1.5e-6 across backends; on one backend the difference was 0).
    np.testing.assert_allclose(samples, expected, atol=1e-5)


@pytest.mark.parametrize("kind", REGENERATED)
def test_the_regenerated_samples_are_the_same_on_every_backend(kind):
    # Their noise is drawn with numpy: only float32 rounding of the decoder differs.
    samples = [np.load(LEGACY / f"samples_{backend}.npz")[kind]
               for backend in ("jax", "tensorflow", "torch")]
    for other in samples[1:]:
        np.testing.assert_allclose(other, samples[0], atol=1e-5)
