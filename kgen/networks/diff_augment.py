"""Differentiable augmentation for GANs trained on little data (DiffAugment, Zhao et al. 2020)."""

import keras
from keras import ops

from kgen import checks, replica

#: The transforms `DiffAugment` knows, in the order they are applied.
POLICIES = ("color", "translation", "cutout")


@keras.saving.register_keras_serializable(package="kgen")
class DiffAugment(keras.layers.Layer):
    """Random colour, translation and cutout, differentiable with respect to the images.

    A discriminator trained on few images memorises them; augmenting only the real
    images would teach the generator the augmentations. DiffAugment applies the same
    random transforms to the real AND the generated images, in both the discriminator's
    and the generator's update, and the transforms are differentiable, so the generator
    still gets gradients through them. A GAN takes it as ``GAN(augment="color,translation,
    cutout")`` (the policy of the paper for few-shot training). Each image of a batch gets
    its own random transform; noise is drawn per example of the global batch
    (`kgen.replica.batch_noise`), so training on several devices matches one device. The
    layer acts only when called with ``training=True``.

    The transforms, on images in [-1, 1] (as in the paper's code):

    - ``color``: brightness ``x + (u - 0.5)``, saturation ``(x - mean_c) * 2u + mean_c``,
      contrast ``(x - mean) * (u + 0.5) + mean``, each ``u ~ U[0, 1)`` per image;
    - ``translation``: a shift of up to ``translation_ratio`` of the height and width (an
      integer number of pixels each way), with zeros shifted in;
    - ``cutout``: a square of ``cutout_ratio`` of the size, at a random place, set to 0.

    Args:
        policy: the transforms, a comma-separated string or a sequence of `POLICIES`.
        translation_ratio: largest shift, as a share of the image size (0.125).
        cutout_ratio: side of the cut-out square, as a share of the image size (0.5).
        seed: seed of the layer's random transforms.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from kgen.networks import DiffAugment

    augment = DiffAugment("color,translation,cutout", seed=0)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
    augmented = augment(x, training=True)    # (4, 8, 8, 3), a new transform per image
    same = augment(x)                        # x: no augmentation outside training
    ```

    References:
        Zhao, Liu, Lin, Zhu & Han, "Differentiable Augmentation for Data-Efficient GAN
        Training", NeurIPS 2020.
    """

    def __init__(self, policy="color,translation,cutout", translation_ratio=0.125,
                 cutout_ratio=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(policy, str):
            policy = [part.strip() for part in policy.split(",") if part.strip()]
        policy = tuple(policy)
        for name in policy:
            checks.one_of(name, "DiffAugment policy", POLICIES)
        if not policy:
            raise ValueError(f"DiffAugment needs at least one transform of {POLICIES}.")
        self.policy = policy
        self.translation_ratio = checks.number(translation_ratio, "translation_ratio", 0.0,
                                               1.0)
        self.cutout_ratio = checks.number(cutout_ratio, "cutout_ratio", 0.0, 1.0)
        self.seed = checks.seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed, name="diff_augment_seed")
        self.built = True

    def _uniform(self, shape, dtype="float32"):
        return replica.batch_noise(
            lambda s: keras.random.uniform(s, dtype=dtype, seed=self.seed_generator), shape)

    def _integers(self, shape, low, high):
        """Integers in ``[low, high)``, per example, from the layer's seed."""
        u = self._uniform(shape)
        return ops.cast(ops.floor(u * (high - low)), "int32") + low

    # ------------------------------------------------------------------ transforms
    def color(self, x):
        n = ops.shape(x)[0]
        x = x + (self._uniform((n, 1, 1, 1), x.dtype) - 0.5)
        mean = ops.mean(x, axis=3, keepdims=True)
        x = (x - mean) * (self._uniform((n, 1, 1, 1), x.dtype) * 2.0) + mean
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) * (self._uniform((n, 1, 1, 1), x.dtype) + 0.5) + mean

    def translation(self, x):
        n, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        shift_h = int(height * self.translation_ratio + 0.5)
        shift_w = int(width * self.translation_ratio + 0.5)
        dy = self._integers((n, 1), -shift_h, shift_h + 1)
        dx = self._integers((n, 1), -shift_w, shift_w + 1)
        # Pad with one row and column of zeros on each side; indices outside the image
        # are clipped onto the padding.
        padded = ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        rows = ops.clip(ops.arange(height, dtype="int32")[None, :] + dy + 1, 0, height + 1)
        cols = ops.clip(ops.arange(width, dtype="int32")[None, :] + dx + 1, 0, width + 1)
        padded = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)
        return ops.take_along_axis(padded, cols[:, None, :, None], axis=2)

    def cutout(self, x):
        n, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        size_h = int(height * self.cutout_ratio + 0.5)
        size_w = int(width * self.cutout_ratio + 0.5)
        top = self._integers((n, 1, 1), 0, height + (1 - size_h % 2)) - size_h // 2
        left = self._integers((n, 1, 1), 0, width + (1 - size_w % 2)) - size_w // 2
        rows = ops.arange(height, dtype="int32")[None, :, None]
        cols = ops.arange(width, dtype="int32")[None, None, :]
        inside = ops.logical_and(
            ops.logical_and(rows >= top, rows < top + size_h),
            ops.logical_and(cols >= left, cols < left + size_w))
        keep = ops.cast(ops.logical_not(inside), x.dtype)
        return x * keep[..., None]

    def call(self, inputs, training=False):
        if not training:
            return inputs
        x = ops.convert_to_tensor(inputs)
        for name in self.policy:
            x = getattr(self, name)(x)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(policy=",".join(self.policy), translation_ratio=self.translation_ratio,
                      cutout_ratio=self.cutout_ratio, seed=self.seed)
        return config
