"""Perceptual and style losses: statistics of feature maps compared layer by layer.

`gram_matrix` and `style_loss` compare textures (Gatys et al.), `feature_loss` and
`perceptual_loss` compare content in a feature space (Johnson et al.), and
`total_variation_loss` smooths images synthesised by gradient descent. Feature maps are
``(batch, H, W, C)`` tensors, such as the outputs of `kgen.networks.vgg19_features`;
every statistic and loss is computed in float32, whatever the precision of the features
(`kgen.precision`).
"""

from keras import ops

from kgen import checks
from kgen.precision import float32


def _as_list(features):
    return list(features) if isinstance(features, (list, tuple)) else [features]


def _layer_weights(weights, count, what):
    if weights is None:
        return [1.0 / count] * count
    try:
        weights = list(weights)
    except TypeError:
        raise TypeError(f"{what}: weights must be a list of numbers, one per layer; got "
                        f"{weights!r} ({type(weights).__name__}).") from None
    if len(weights) != count:
        raise ValueError(f"{what}: got {len(weights)} layer weights for {count} layers.")
    return [checks.number(w, f"{what} weights[{i}]") for i, w in enumerate(weights)]


def gram_matrix(features):
    """Gram matrices of feature maps, normalised by the number of positions ``H * W``.

    For features ``F`` of shape ``(batch, H, W, C)``, reshaped to ``(batch, H*W, C)``,
    ``G = F^T F / (H * W)``: entry ``(i, j)`` is the mean over positions of the product
    of channels ``i`` and ``j``. Dividing by ``H * W`` makes Gram matrices of images of
    different sizes comparable (a texture can be synthesised larger than its example).

    Args:
        features: a ``(batch, H, W, C)`` tensor.

    Returns:
        A ``(batch, C, C)`` tensor.

    Example:

    ```python
    import numpy as np
    from kgen.losses import gram_matrix
    gram_matrix(np.ones((1, 2, 2, 3), "float32"))   # (1, 3, 3), all ones
    ```

    References:
        Gatys, Ecker & Bethge, "Texture Synthesis Using Convolutional Neural Networks",
        NeurIPS 2015.
    """
    features = float32(ops.convert_to_tensor(features))
    if len(features.shape) != 4:
        raise ValueError(
            f"gram_matrix takes feature maps (batch, height, width, channels); got shape "
            f"{tuple(features.shape)}.")
    shape = ops.shape(features)
    flat = ops.reshape(features, (shape[0], shape[1] * shape[2], shape[3]))
    positions = ops.cast(shape[1] * shape[2], flat.dtype)
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / positions


def style_loss(features, target_grams, weights=None, normalize=False):
    """Gatys et al.'s style loss: squared differences of Gram matrices, summed over layers.

    ``sum_l w_l mean((gram_matrix(F_l) - A_l)^2)``, the mean over the batch and the
    ``C_l x C_l`` entries. With the Gram normalisation of `gram_matrix` this is, up to
    a factor 4, Gatys et al.'s ``E_l``. With ``normalize=True`` each layer's term is
    divided by ``mean(A_l^2)`` (a relative error), so that layers, and networks whose
    activations have different scales (random or trained weights), weigh alike.

    Args:
        features: a list of ``(batch, H, W, C_l)`` feature maps (or one map).
        target_grams: the matching list of target Gram matrices ``(1 or batch, C_l, C_l)``.
        weights: one weight per layer (default ``1 / num_layers`` each).
        normalize: divide each layer's term by the mean square of its target.

    Returns:
        A scalar.

    Example:

    ```python
    import numpy as np
    from kgen.losses import gram_matrix, style_loss
    f = np.random.default_rng(0).normal(size=(1, 4, 4, 3)).astype("float32")
    style_loss([f], [gram_matrix(f)])   # 0.0
    ```

    References:
        Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
        Networks", CVPR 2016.
    """
    features, target_grams = _as_list(features), _as_list(target_grams)
    if len(features) != len(target_grams):
        raise ValueError(
            f"style_loss: {len(features)} feature maps but {len(target_grams)} target Gram "
            "matrices; pass one target per layer.")
    total = 0.0
    for w, f, target in zip(_layer_weights(weights, len(features), "style_loss"),
                            features, target_grams):
        target = float32(ops.convert_to_tensor(target))
        term = ops.mean(ops.square(gram_matrix(f) - target))
        if normalize:
            term = term / (ops.mean(ops.square(target)) + 1e-12)
        total = total + w * term
    return total


def feature_loss(features, target_features, weights=None, normalize=False):
    """The perceptual (feature reconstruction) loss: squared feature differences, summed over layers.

    ``sum_l w_l mean((F_l - T_l)^2)``, the mean over every entry of the ``(batch, H, W,
    C_l)`` maps: Johnson et al.'s ``||F - T||^2 / (C H W)`` averaged over the batch, and
    Gatys et al.'s content loss up to a constant. With ``normalize=True`` each term is
    divided by ``mean(T_l^2)``.

    It is a loss for any model: a translation model's generator (pix2pix) adds it to
    its adversarial and L1 terms to compare its output with the target in feature space
    (`perceptual_loss` runs the extractor).

    Args:
        features: a list of feature maps of the generated images (or one map).
        target_features: the matching list of feature maps of the targets.
        weights: one weight per layer (default ``1 / num_layers`` each).
        normalize: divide each layer's term by the mean square of its target.

    Returns:
        A scalar.

    Example:

    ```python
    import numpy as np
    from kgen.losses import feature_loss
    feature_loss([np.ones((1, 2, 2, 1), "float32")], [np.zeros((1, 2, 2, 1), "float32")])  # 1.0
    ```

    References:
        Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
        Super-Resolution", ECCV 2016.
    """
    features, target_features = _as_list(features), _as_list(target_features)
    if len(features) != len(target_features):
        raise ValueError(
            f"feature_loss: {len(features)} feature maps but {len(target_features)} targets.")
    total = 0.0
    for w, f, target in zip(_layer_weights(weights, len(features), "feature_loss"),
                            features, target_features):
        target = float32(ops.convert_to_tensor(target))
        term = ops.mean(ops.square(float32(ops.convert_to_tensor(f)) - target))
        if normalize:
            term = term / (ops.mean(ops.square(target)) + 1e-12)
        total = total + w * term
    return total


def perceptual_loss(extractor, images, targets, weights=None):
    """`feature_loss` between the features of ``images`` and of ``targets`` under ``extractor``.

    The targets' features carry no gradient. ``extractor`` is any model returning a list
    of feature maps, such as `kgen.networks.vgg19_features` (frozen: set its
    ``trainable`` to False).

    Args:
        extractor: a Keras model from images to a list of feature maps.
        images: generated images, in the extractor's input space (``[-1, 1]`` for VGG).
        targets: the images to match.
        weights: one weight per extractor output.

    Returns:
        A scalar.

    Example:

    ```python
    import numpy as np
    from kgen.losses import perceptual_loss
    from kgen.networks import vgg19_features

    vgg = vgg19_features(["block2_conv2"], weights=None)
    x = np.zeros((2, 16, 16, 3), "float32")
    perceptual_loss(vgg, x, x)   # 0.0
    ```

    References:
        Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
        Super-Resolution", ECCV 2016.
    """
    target_features = [ops.stop_gradient(t) for t in _as_list(extractor(targets))]
    return feature_loss(_as_list(extractor(images)), target_features, weights)


def total_variation_loss(images, power=2.0):
    """Total variation of images: mean ``|difference|^power`` of neighbouring pixels.

    ``mean(|x[:, i+1, j] - x[:, i, j]|^p) + mean(|x[:, i, j+1] - x[:, i, j]|^p)``, the
    means over every vertical and every horizontal pair of neighbours (and channels and
    batch). ``power=2`` (default) is a smooth penalty; ``power=1`` is the anisotropic
    total variation. A small weight of it removes the high-frequency noise of images
    synthesised by gradient descent (Mahendran & Vedaldi 2015; Johnson et al. 2016).

    Args:
        images: a ``(batch, H, W, C)`` tensor.
        power: the exponent ``p`` of the differences, a positive number.

    Returns:
        A scalar.

    Example:

    ```python
    import numpy as np
    from kgen.losses import total_variation_loss
    total_variation_loss(np.array([[0.0, 1.0], [0.0, 1.0]], "float32")[None, :, :, None])  # 1.0
    ```

    References:
        Mahendran & Vedaldi, "Understanding Deep Image Representations by Inverting
        Them", CVPR 2015.
        Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
        Super-Resolution", ECCV 2016.
    """
    power = checks.number(power, "power", minimum=0.0, exclusive_minimum=True)
    images = float32(ops.convert_to_tensor(images))
    if len(images.shape) != 4:
        raise ValueError(
            f"total_variation_loss takes images (batch, height, width, channels); got shape "
            f"{tuple(images.shape)}.")
    vertical = ops.abs(images[:, 1:, :, :] - images[:, :-1, :, :])
    horizontal = ops.abs(images[:, :, 1:, :] - images[:, :, :-1, :])
    if power == 2.0:
        return ops.mean(ops.square(vertical)) + ops.mean(ops.square(horizontal))
    return ops.mean(ops.power(vertical, power)) + ops.mean(ops.power(horizontal, power))
