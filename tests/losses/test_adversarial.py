"""Adversarial losses: closed forms, lookup by name, the discriminator accuracy."""

import numpy as np
import pytest
from keras import ops

from kgen import losses
from kgen.metrics.accuracy import binary_accuracy


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_losses_equal_hand_computations():
    real = np.array([2.0, 0.5, -0.5, 1.0], "float32")
    fake = np.array([-2.0, 0.0, 0.8], "float32")
    hinge = losses.get_adversarial_loss("hinge")
    wasserstein = losses.get_adversarial_loss("wasserstein")
    least_squares = losses.get_adversarial_loss("least_squares")
    # Hinge: mean(relu(1 - real)) + mean(relu(1 + fake)); G: -mean(fake).
    expected = np.mean([0.0, 0.5, 1.5, 0.0]) + np.mean([0.0, 1.0, 1.8])
    assert float(numpy(hinge.discriminator_loss(real, fake))) == pytest.approx(expected)
    assert float(numpy(hinge.generator_loss(fake))) == pytest.approx(-np.mean(fake))
    # Wasserstein: mean(fake) - mean(real); G: -mean(fake).
    assert float(numpy(wasserstein.discriminator_loss(real, fake))) == pytest.approx(
        np.mean(fake) - np.mean(real))
    assert float(numpy(wasserstein.generator_loss(fake))) == pytest.approx(-np.mean(fake))
    # Least squares (0-1-1 coding): 0.5 mean((real-1)^2) + 0.5 mean(fake^2);
    # G: 0.5 mean((fake-1)^2).
    expected = 0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake**2)
    assert float(numpy(least_squares.discriminator_loss(real, fake))) == pytest.approx(expected)
    assert float(numpy(least_squares.generator_loss(fake))) == pytest.approx(
        0.5 * np.mean((fake - 1) ** 2))
    assert least_squares.threshold == 0.5 and hinge.threshold == 0.0
    assert set(losses.ADVERSARIAL_LOSSES) >= {"hinge", "wasserstein", "least_squares"}
    with pytest.raises(ValueError, match="Unknown adversarial loss"):
        losses.get_adversarial_loss("hinge_loss")


def test_cross_entropy_losses_equal_hand_computations():
    real = np.array([2.0, -1.0], "float32")
    fake = np.array([0.5, -3.0], "float32")

    def softplus(t):
        return np.log1p(np.exp(t))

    non_saturating = losses.get_adversarial_loss("non_saturating")
    minimax = losses.get_adversarial_loss("minimax")
    # D: -log sigmoid(real) - log(1 - sigmoid(fake)).
    expected = np.mean(softplus(-real)) + np.mean(softplus(fake))
    assert float(numpy(non_saturating.discriminator_loss(real, fake))) == pytest.approx(
        expected, rel=1e-6)
    assert float(numpy(minimax.discriminator_loss(real, fake))) == pytest.approx(
        expected, rel=1e-6)
    # G: -log sigmoid(fake) (non-saturating) and log(1 - sigmoid(fake)) (minimax).
    assert float(numpy(non_saturating.generator_loss(fake))) == pytest.approx(
        np.mean(softplus(-fake)), rel=1e-6)
    assert float(numpy(minimax.generator_loss(fake))) == pytest.approx(
        np.mean(np.log(1 - 1 / (1 + np.exp(-fake)))), rel=1e-6)


def test_get_adversarial_loss_by_name_instance_and_wrong_type():
    assert set(losses.ADVERSARIAL_LOSSES) == {
        "non_saturating", "minimax", "hinge", "wasserstein", "least_squares"}
    for name, cls in losses.ADVERSARIAL_LOSSES.items():
        loss = losses.get_adversarial_loss(name)
        assert type(loss) is cls and loss.name == name
    custom = losses.WassersteinLoss()
    assert losses.get_adversarial_loss(custom) is custom
    with pytest.raises(ValueError, match="choose one of.*'hinge'"):
        losses.get_adversarial_loss("Hinge")
    with pytest.raises(TypeError, match="AdversarialLoss instance"):
        losses.get_adversarial_loss(3)
    with pytest.raises(TypeError, match="AdversarialLoss instance"):
        losses.get_adversarial_loss(losses.HingeLoss)   # the class, not an instance
    with pytest.raises(NotImplementedError):
        losses.AdversarialLoss().generator_loss(np.zeros(2, "float32"))


def test_binary_accuracy_counts_the_right_side_of_the_threshold():
    assert losses.binary_accuracy is binary_accuracy
    logits = np.array([2.0, -1.0, 0.5, 0.2], "float32")
    assert float(numpy(binary_accuracy(logits, True))) == pytest.approx(0.75)
    assert float(numpy(binary_accuracy(logits, False))) == pytest.approx(0.25)
    # The least-squares threshold 0.5: 2.0 is above it, 0.5 itself is on neither side.
    assert float(numpy(binary_accuracy(logits, True, threshold=0.5))) == pytest.approx(0.25)
    assert float(numpy(binary_accuracy(logits, False, threshold=0.5))) == pytest.approx(0.5)
    with pytest.raises(TypeError, match="threshold must be a number"):
        binary_accuracy(logits, True, threshold="0.5")
    with pytest.raises(TypeError, match="target_is_real must be True or False"):
        binary_accuracy(logits, "real")
