"""Gram matrices, style, feature, perceptual and total-variation losses."""

import numpy as np
import pytest
from keras import ops

import kgen
from kgen import losses
from kgen.networks import vgg


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def image(name, size=16):
    return kgen.data.load_image(name, size=size, channels=3)


def test_gram_matrix_equals_numpy():
    f = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    flat = f.reshape(2, 12, 5)
    expected = np.einsum("bpi,bpj->bij", flat, flat) / 12.0
    np.testing.assert_allclose(numpy(losses.gram_matrix(f)), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        losses.gram_matrix(f[0])


def test_style_and_feature_losses_closed_forms():
    rng = np.random.default_rng(1)
    f1 = rng.normal(size=(1, 4, 4, 3)).astype("float32")
    f2 = rng.normal(size=(1, 2, 2, 6)).astype("float32")
    grams = [losses.gram_matrix(f1), losses.gram_matrix(f2)]
    # An image's own statistics: zero style loss.
    assert float(numpy(losses.style_loss([f1, f2], grams))) == pytest.approx(0.0, abs=1e-7)
    # Against zero targets: each term is mean(G^2); default weights 1/2 each.
    g1, g2 = numpy(grams[0]), numpy(grams[1])
    zeros = [np.zeros_like(g1), np.zeros_like(g2)]
    expected = 0.5 * np.mean(g1**2) + 0.5 * np.mean(g2**2)
    assert float(numpy(losses.style_loss([f1, f2], zeros))) == pytest.approx(expected, rel=1e-5)
    # normalize divides each layer's term by mean(target^2): doubling a target gives 1.
    doubled = [2 * g1, 2 * g2]
    assert float(numpy(losses.style_loss([f1, f2], doubled, normalize=True))) == \
        pytest.approx(0.25, rel=1e-5)
    # Feature loss: weighted mean squared differences.
    value = losses.feature_loss([f1, f2], [f1 + 1.0, f2 - 2.0], weights=[1.0, 0.5])
    assert float(numpy(value)) == pytest.approx(1.0 + 0.5 * 4.0, rel=1e-6)
    with pytest.raises(ValueError, match="target Gram"):
        losses.style_loss([f1, f2], grams[:1])


def test_layer_weights_are_checked():
    f = np.ones((1, 2, 2, 3), "float32")
    # A single map (not a list) is one layer; weights may be any sequence of numbers.
    assert float(numpy(losses.feature_loss(f, 2 * f, weights=np.array([3.0])))) == \
        pytest.approx(3.0)
    assert float(numpy(losses.feature_loss([f, f], [2 * f, f], normalize=True))) == \
        pytest.approx(0.5 * 0.25, rel=1e-6)
    with pytest.raises(ValueError, match="got 1 layer weights for 2 layers"):
        losses.feature_loss([f, f], [f, f], weights=[1.0])
    with pytest.raises(ValueError, match="feature maps but 1 targets"):
        losses.feature_loss([f, f], [f])
    with pytest.raises(TypeError, match=r"weights\[1\] must be a number"):
        losses.style_loss([f, f], [losses.gram_matrix(f)] * 2, weights=[1.0, "1"])
    with pytest.raises(TypeError, match="weights must be a list of numbers"):
        losses.style_loss([f], [losses.gram_matrix(f)], weights=1.0)


def test_total_variation_closed_form():
    x = np.array([[0.0, 1.0, 3.0],
                  [2.0, 2.0, 2.0]], "float32")[None, :, :, None]
    # Vertical differences 2, 1, -1; horizontal 1, 2, 0, 0.
    assert float(numpy(losses.total_variation_loss(x))) == pytest.approx(
        (4 + 1 + 1) / 3 + (1 + 4 + 0 + 0) / 4)
    assert float(numpy(losses.total_variation_loss(x, power=1.0))) == pytest.approx(
        (2 + 1 + 1) / 3 + (1 + 2) / 4)
    assert float(numpy(losses.total_variation_loss(np.ones((2, 3, 3, 3))))) == 0.0


def test_total_variation_checks_its_arguments():
    x = np.zeros((1, 3, 3, 1), "float32")
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        losses.total_variation_loss(x[0])
    with pytest.raises(ValueError, match="power must be a number in"):
        losses.total_variation_loss(x, power=0.0)
    with pytest.raises(TypeError, match="power must be a number"):
        losses.total_variation_loss(x, power="2")


def test_perceptual_loss_is_zero_for_equal_images_and_positive_otherwise():
    extractor = vgg.vgg19_features(["block1_conv1"], weights=None, seed=0)
    x = kgen.data.to_data_space(image("coffee")[None])
    assert float(numpy(losses.perceptual_loss(extractor, x, x))) == 0.0
    assert float(numpy(losses.perceptual_loss(extractor, x, -x))) > 0.0
