"""Deep Image Prior: the skip network, denoising, inpainting, super-resolution and PSNR."""

import math

import keras
import numpy as np
import pytest

import kgen
from kgen.metrics import psnr


def clean_image(name="coffee", size=16):
    return kgen.data.to_data_space(kgen.data.load_image(name, size=size)[None])


def noisy_copy(clean, sigma=0.3):
    noise = sigma * np.random.default_rng(0).normal(size=clean.shape)
    return np.clip(clean + noise, -1.0, 1.0).astype("float32")


def tiny_network(channels=3, levels=2):
    return kgen.networks.skip_network(8, channels, down_channels=(16,) * levels,
                                      skip_channels=(4,) * levels)


def test_skip_network_shapes_and_options():
    net = kgen.networks.skip_network(4, 3, down_channels=(8, 8, 8), skip_channels=(2, 0, 2))
    assert tuple(net.compute_output_shape((1, 16, 24, 4))) == (1, 16, 24, 3)   # runs below
    assert "skip1_conv" not in [layer.name for layer in net.layers]   # 0: no skip branch
    assert isinstance(net.get_layer("down0_conv1_pad"), kgen.networks.ReflectionPadding2D)
    zero = kgen.networks.skip_network(4, 1, down_channels=(8,), skip_channels=2,
                                      padding="zero", output_activation=None)
    assert not any(isinstance(layer, kgen.networks.ReflectionPadding2D)
                   for layer in zero.layers)
    assert tuple(zero.compute_output_shape((2, 8, 8, 4))) == (2, 8, 8, 1)
    with pytest.raises(ValueError, match="one entry per level"):
        kgen.networks.skip_network(4, 3, down_channels=(8, 8), skip_channels=(2,))


def test_psnr_closed_form():
    a = np.zeros((1, 4, 4, 3), "float32")
    assert psnr(a, a + 0.2) == pytest.approx(20.0)          # 10 log10(4 / 0.04)
    assert psnr(a, a + 0.02, data_range=1.0) == pytest.approx(10 * math.log10(1 / 4e-4))
    assert psnr(a, a) == math.inf
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, a[0])


def test_denoising_beats_the_noisy_input_and_psnr_callback_records_it(tmp_path):
    clean = clean_image()
    noisy = noisy_copy(clean)
    baseline = psnr(noisy, clean)                            # about 17.4 dB
    dip = kgen.models.DeepImagePrior(noisy, network=tiny_network(), seed=0)
    callback = kgen.callbacks.PSNR(clean[0], every_n_steps=20)
    history = dip.fit(epochs=2, steps_per_epoch=50, callbacks=[callback], verbose=0).history
    # Every 20 steps, and at each epoch's end (step 50).
    assert [step for step, _ in callback.history] == [20, 40, 50, 60, 80, 100]
    assert history["psnr"] == [callback.history[2][1], callback.history[5][1]]
    restored = dip.generate()
    assert restored.shape == (1, 16, 16, 3) and np.abs(restored).max() <= 1.0
    # The values recorded are the PSNR of generate() against the clean image.
    assert callback.history[-1][1] == pytest.approx(psnr(restored, clean), abs=1e-4)
    assert callback.best[1] > baseline + 1.5, (baseline, callback.history)
    assert history["loss"][-1] < history["loss"][0]

    path = str(tmp_path / "dip.keras")
    dip.save(path)
    loaded = keras.saving.load_model(path)
    # generate() is a function of these weights (the network's and the code): equal
    # weights, equal images.
    assert len(loaded.weights) == len(dip.weights)
    for a, b in zip(loaded.get_weights(), dip.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.image, dip.image)


def test_inpainting_keeps_the_known_pixels_and_fills_the_hole():
    clean = clean_image("astronaut")
    mask = np.ones((16, 16), "float32")
    mask[5:11, 5:11] = 0.0
    observed = clean * mask[None, :, :, None]                # the hole is black
    dip = kgen.models.DeepImagePrior(observed, mask=mask, task="inpaint",
                                     network=tiny_network(), input_noise_std=0.0, seed=0)
    history = dip.fit(steps=80, verbose=0).history
    restored = dip.generate()
    assert restored.shape == observed.shape
    known = mask.astype(bool)
    known_error = np.mean((restored[0][known] - observed[0][known]) ** 2)
    assert known_error < 0.2 * history["loss"][0]
    assert psnr(restored[0][known], observed[0][known]) > 22.0
    # The hole, not in the loss, is not left at the observed black.
    assert np.mean(np.abs(restored[0][~known] - observed[0][~known])) > 0.1


def test_super_resolution_shapes_and_degradation():
    low = clean_image("camera", size=8)                     # (1, 8, 8, 1)
    dip = kgen.models.DeepImagePrior(low, task="super_resolution", factor=2,
                                     network=tiny_network(channels=1), seed=0)
    high = dip.generate()
    assert high.shape == (1, 16, 16, 1)
    block_means = high.reshape(1, 8, 2, 8, 2, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dip.degrade(high)), block_means,
                               atol=1e-6)
    assert dip.generate(seed=3).tolist() == high.tolist()    # seed has no effect


def test_bad_inputs_name_the_problem():
    image = clean_image()
    with pytest.raises(ValueError, match="needs mask"):
        kgen.models.DeepImagePrior(image, task="inpaint", network=tiny_network())
    with pytest.raises(ValueError, match="height and width"):
        kgen.models.DeepImagePrior(image, mask=np.ones((16, 8)), task="inpaint",
                                   network=tiny_network())
    with pytest.raises(ValueError, match="1 for known"):
        kgen.models.DeepImagePrior(image, mask=np.full((16, 16), 0.5), task="inpaint",
                                   network=tiny_network())
    with pytest.raises(ValueError, match="only used by task='inpaint'"):
        kgen.models.DeepImagePrior(image, mask=np.ones((16, 16)), network=tiny_network())
    with pytest.raises(ValueError, match="Unknown task"):
        kgen.models.DeepImagePrior(image, task="deblur", network=tiny_network())
    with pytest.raises(ValueError, match="must be"):            # 3 output channels, image has 1
        kgen.models.DeepImagePrior(clean_image("camera"), network=tiny_network())
    with pytest.raises(ValueError, match="multiples of 8"):      # 12 is not a multiple of 8
        kgen.models.DeepImagePrior(clean_image(size=12), network=tiny_network(levels=3))
    with pytest.raises(ValueError, match="channels"):
        kgen.models.DeepImagePrior(np.zeros((16, 16, 2), "float32"), network=tiny_network())
    with pytest.raises(ValueError, match="clean_image: .*channels"):
        kgen.callbacks.PSNR(np.zeros((16, 16, 5), "float32"))
