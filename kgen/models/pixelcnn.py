"""PixelCNN (van den Oord et al. 2016): an autoregressive model with an exact likelihood."""

import math
import weakref

import keras
import numpy as np
from keras import ops

from kgen import backend, checks
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.models import registry
from kgen.models.base import GenerativeModel, Update
from kgen.networks.pixelcnn import GatedPixelCNN
from kgen.precision import float32
from kgen.samplers import autoregressive

_INPUTS = ("images", "levels")
_SAMPLERS = ("fast", "compiled", "naive")

# Compiled sampling and likelihood functions, one set per model, kept outside the
# model so that they are neither tracked nor saved with it.
_FUNCTIONS = weakref.WeakKeyDictionary()


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@keras.saving.register_keras_serializable(package="kgen")
class PixelCNN(GenerativeModel):
    """An autoregressive model of images over discrete levels, trained by maximum likelihood.

    The image's ``D = H * W * C`` values are quantised to ``num_levels`` levels and
    modelled as ``p(x) = prod_t p(x_t | x_<t)``, in raster order over the pixels and
    channel order within a pixel. The network gives, in one pass, the logits of every
    ``p(x_t | x_<t)``; the loss is their cross-entropy in nats per dimension, so the
    log-likelihood is exact (`log_prob`) and sampling draws one position at a time.

    **Levels and data space.** The model consumes images in data space (``[-1, 1]``,
    `kgen.data.images`); a value ``x`` becomes level
    ``l = round((x + 1) (L - 1) / 2)`` clipped to ``0 .. L-1``, and level ``l`` is the
    value ``-1 + 2 l / (L - 1)``. The network sees these values; `generate` returns them.
    With ``L = 256`` the levels are exactly the uint8 pixel values; with ``L = 2`` the
    model is binary (``x > 0`` is level 1). ``inputs="levels"`` trains on integer levels
    directly (``(N, H, W, C)`` or ``(N, H, W)`` int arrays, for instance the code indices
    of a VQ-VAE).

    Logs: ``loss`` (cross-entropy, nats per dimension) and ``bits_per_dim``.

    Args:
        network: a Keras model from images ``(N, H, W, C)`` (or ``[images, labels]``
            when ``num_classes`` is set) to logits ``(N, H, W, C, num_levels)``, causal
            in raster then channel order (`kgen.networks.GatedPixelCNN`). What it is
            given (`network_inputs`) follows its input's dtype, whatever ``inputs``:
            a float input gets each level's value ``-1 + 2 l / (L - 1)`` in
            ``[-1, 1]``; an integer input (``keras.Input(..., dtype="int32")``, a
            prior that one-hot encodes or embeds codes) gets the int levels. For one
            channel, the input may be ``(N, H, W)`` and the logits ``(N, H, W, L)``.
        num_levels: discrete values per channel ``L`` (at least 2).
        num_classes: number of classes of a class-conditional model, or None.
        inputs: ``"images"`` (data space, quantised here) or ``"levels"`` (int levels).
        seed: seed of the model's seed generator.
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import kgen

    x = kgen.data.load("digits")
    model = kgen.models.PixelCNN.from_shape(x.shape[1:], num_levels=2, filters=16,
                                            num_layers=3)
    model.compile()
    model.fit(kgen.data.images(x), epochs=1, verbose=0)
    model.bits_per_dim(x[:64])
    samples = model.generate(16, seed=0)       # (16, 8, 8, 1), values -1 or 1
    ```

    References:
        van den Oord, Kalchbrenner, Espeholt, Kavukcuoglu, Vinyals & Graves, "Conditional
        Image Generation with PixelCNN Decoders", NeurIPS 2016.
        van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks",
        ICML 2016.
    """

    optimizer_names = ("model",)
    log_names = ("loss", "bits_per_dim")
    network_names = ("network",)

    def __init__(self, network, num_levels=256, num_classes=None, inputs="images", seed=None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not _is_int(num_levels) or num_levels < 2:
            raise ValueError(
                f"num_levels must be an integer of at least 2 (2 for a binary model, 256 for "
                f"8-bit images); got {num_levels!r}.")
        if num_classes is not None and (not _is_int(num_classes) or num_classes < 2):
            raise ValueError(f"num_classes must be an integer of at least 2 or None; "
                             f"got {num_classes!r}.")
        if inputs not in _INPUTS:
            raise ValueError(f"inputs must be one of {_INPUTS}; got {inputs!r}.")
        self.network = network
        self.num_levels = int(num_levels)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.inputs = inputs
        self.image_shape = self._network_image_shape(network)
        # What the network takes: the levels' values in [-1, 1] (float inputs), or the
        # int levels themselves (an integer input, such as a one-hot or embedding prior);
        # (N, H, W) for an input without a channel axis.
        first_input = _first_input(network)
        self._network_takes_levels = first_input is not None and \
            keras.backend.standardize_dtype(first_input.dtype).startswith(("int", "uint"))
        self._network_drops_channel = first_input is not None and len(first_input.shape) == 3
        for name in ("num_levels", "num_classes"):
            value = getattr(network, name, getattr(self, name))
            if value != getattr(self, name):
                raise ValueError(
                    f"The network was built with {name}={value}; the model has "
                    f"{name}={getattr(self, name)}. Pass the same value to both.")
        try:
            output_shape = tuple(network.output_shape)
        except (AttributeError, ValueError, TypeError):
            output_shape = None   # a subclassed network: checked by its attributes above
        one_channel = self.image_shape[-1] == 1
        if output_shape is not None and (
                len(output_shape) not in ((4, 5) if one_channel else (5,))
                or output_shape[-1] not in (None, self.num_levels)):
            raise ValueError(
                f"The network must output logits (N, H, W, C, num_levels={self.num_levels})"
                + (" or, for one channel, (N, H, W, num_levels)" if one_channel else "")
                + f"; it outputs {output_shape}.")
        self._ensure_built()

    @staticmethod
    def _network_image_shape(network):
        shape = getattr(network, "image_shape", None)
        if shape is None:
            try:
                shape = network.input_shape
            except (AttributeError, ValueError):
                raise ValueError(
                    "The network's image shape is unknown: give it an image_shape attribute "
                    "(H, W, C) or a fixed input shape.") from None
            if isinstance(shape, list):
                shape = shape[0]
            shape = shape[1:]
        shape = tuple(int(s) for s in shape)
        if len(shape) == 2:   # one channel, without its axis (a map of codes)
            shape = shape + (1,)
        if len(shape) != 3:
            raise ValueError(f"PixelCNN models images (H, W, C); the network takes {shape}.")
        return shape

    @classmethod
    def from_shape(cls, shape, num_levels=256, num_classes=None, filters=64, num_layers=6,
                   kernel_size=3, **kwargs):
        """A PixelCNN with a `kgen.networks.GatedPixelCNN` for images of ``shape``.

        Args:
            shape: ``(H, W, C)``, or ``(H, W)`` for one channel (code maps).
            num_levels: levels per channel.
            num_classes: classes of a class-conditional model, or None.
            filters: features per stack (a multiple of ``C``).
            num_layers: gated blocks; with ``num_layers * (kernel_size // 2) >=
                max(H, W) - 1`` the receptive field holds every earlier pixel.
            kernel_size: odd kernel size of the stacks.
            **kwargs: constructor arguments (``inputs``, ``seed``, ``name``).

        Example:

        ```python
        import kgen
        model = kgen.models.PixelCNN.from_shape((8, 8, 1), num_levels=2, filters=16)
        ```
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) == 2:
            shape = shape + (1,)
        if len(shape) != 3:
            raise ValueError(
                f"PixelCNN.from_shape takes an image shape (height, width, channels); got {shape}.")
        if not _is_int(num_levels) or num_levels < 2:
            raise ValueError(f"num_levels must be an integer of at least 2; got {num_levels!r}.")
        network = GatedPixelCNN(shape, num_levels=num_levels, num_classes=num_classes,
                                filters=filters, num_layers=num_layers,
                                kernel_size=kernel_size, name="pixelcnn_network")
        return cls(network=network, num_levels=num_levels, num_classes=num_classes, **kwargs)

    # ------------------------------------------------------ levels and values
    def to_levels(self, x):
        """Images (data space floats or uint8) to int32 levels ``0 .. num_levels - 1``.

        ``l = round((x + 1) (L - 1) / 2)``, clipped; uint8 images are first scaled to data
        space (``k / 127.5 - 1``).
        """
        x = np.asarray(x)
        if x.dtype == np.uint8:
            x = x.astype("float64") / 127.5 - 1.0
        elif x.dtype.kind != "f":
            raise TypeError(
                f"Images must be uint8 or floats in [-1, 1]; got dtype {x.dtype}. Integer "
                "levels go to level_log_prob, or to a model built with inputs='levels'.")
        if not np.isfinite(x).all():
            raise ValueError("Images contain NaN or infinite values.")
        levels = np.round((x.astype("float64") + 1.0) * (self.num_levels - 1) / 2.0)
        return np.clip(levels, 0, self.num_levels - 1).astype("int32")

    def to_values(self, levels):
        """Levels to data-space values ``-1 + 2 l / (L - 1)`` (numpy or tensor)."""
        return ops.cast(levels, "float32") * (2.0 / (self.num_levels - 1)) - 1.0

    def _quantize(self, x):
        """The in-graph `to_levels` of a batch (the training step)."""
        x = ops.cast(x, "float32")
        levels = ops.round((x + 1.0) * (0.5 * (self.num_levels - 1)))
        return ops.cast(ops.clip(levels, 0, self.num_levels - 1), "int32")

    def _batch_levels(self, x):
        if self.inputs == "levels":
            levels = ops.cast(x, "int32")
        else:
            levels = self._quantize(x)
        if len(levels.shape) == 3:
            levels = ops.expand_dims(levels, -1)
        return levels

    # ---------------------------------------------------------------- the math
    def network_inputs(self, levels):
        """What the network is given for int levels ``(N, H, W, C)``.

        The levels' values ``-1 + 2 l / (L - 1)`` in data space (`to_values`), for a
        network with a float input (`kgen.networks.GatedPixelCNN`); the int32 levels
        themselves for a network whose input has an integer dtype (a prior over codes
        that one-hot encodes or embeds them), ``(N, H, W)`` when that input has no
        channel axis. With ``inputs="levels"`` as with ``inputs="images"``.

        Example:

        ```python
        import keras
        import numpy as np
        import kgen

        codes = keras.Input((4, 4), dtype="int32")
        one_hot = keras.layers.Lambda(lambda c: keras.ops.one_hot(c, 8))(codes)
        logits = kgen.networks.MaskedConv2D(8, 3, mask_type="A")(one_hot)
        model = kgen.models.PixelCNN(keras.Model(codes, logits), num_levels=8,
                                     inputs="levels")
        model.network_inputs(np.full((1, 4, 4, 1), 5, "int32"))   # int32 (1, 4, 4) of 5s
        ```
        """
        if not self._network_takes_levels:
            values = self.to_values(levels)
        else:
            values = ops.cast(levels, "int32")
        if self._network_drops_channel:
            values = ops.squeeze(values, axis=-1)
        return values

    def logits(self, levels, labels=None, training=False, network=None):
        """The network's logits ``(N, H, W, C, L)`` for int levels ``(N, H, W, C)``
        (``network``: a callable to run instead of ``self.network``, such as
        `kgen.backend.replayed_network` of it)."""
        values = self.network_inputs(levels)
        network = self.network if network is None else network
        if self.num_classes is None:
            out = network(values, training=training)
        else:
            if labels is None:
                raise ValueError(
                    "This PixelCNN is class-conditional: pass labels (fit(x, y), or labels=).")
            labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
            out = network([values, labels], training=training)
        if len(out.shape) == 4:   # one channel, without its axis
            out = ops.expand_dims(out, -2)
        return float32(out)   # the likelihoods in float32 under a mixed dtype policy

    def _log_probs(self, levels, labels=None, training=False):
        """``log p(x_t | x_<t)`` of every position, ``(N, H, W, C)``."""
        log_p = ops.log_softmax(self.logits(levels, labels, training), axis=-1)
        return ops.sum(ops.one_hot(levels, self.num_levels, dtype=log_p.dtype) * log_p, axis=-1)

    def nll_loss(self, x, y=None, training=True):
        """Cross-entropy in nats per dimension of a batch; logs it and its bits/dim."""
        levels = self._batch_levels(x)
        loss = -ops.mean(self._log_probs(levels, y, training))
        return loss, {"loss": loss, "bits_per_dim": loss / math.log(2.0)}

    def training_updates(self):
        return [Update("model", self.nll_loss, self.network.trainable_variables)]

    def call(self, inputs, training=False):
        if self.num_classes is None:
            return self.logits(self._batch_levels(inputs), training=training)
        x, labels = inputs
        return self.logits(self._batch_levels(x), labels, training=training)

    # ----------------------------------------------------------- checking input
    def _check_levels(self, levels):
        levels = np.asarray(levels)
        if levels.dtype.kind not in "iu":
            raise TypeError(f"levels must be integers; got dtype {levels.dtype}.")
        if levels.ndim == 3 and self.image_shape[-1] == 1:
            levels = levels[..., None]
        self._check_shape(levels.shape, "levels")
        if levels.size and (levels.min() < 0 or levels.max() >= self.num_levels):
            raise ValueError(
                f"levels must lie in 0 .. {self.num_levels - 1}; got values from "
                f"{levels.min()} to {levels.max()}.")
        return levels.astype("int32")

    def _check_shape(self, shape, what):
        if len(shape) != 4 or tuple(shape[1:]) != self.image_shape:
            raise ValueError(
                f"This PixelCNN models {what} of shape {self.image_shape}; got an array of "
                f"shape {tuple(shape)}. Pass a batch (N, {', '.join(map(str, self.image_shape))}).")

    def _as_levels(self, x):
        """Data (images, or levels for ``inputs="levels"``) as checked int32 levels."""
        if self.inputs == "levels":
            return self._check_levels(x)
        x = np.asarray(x)
        if x.ndim == 3 and self.image_shape[-1] == 1:
            x = x[..., None]
        self._check_shape(x.shape, "images")
        return self.to_levels(x)

    def check_labels(self, labels, num_samples, seed=None):
        """``labels`` as an int32 array of ``num_samples`` checked labels (None if unconditional).

        The labels of every class-conditional family (`kgen.checks.labels`). For sampling
        (``seed`` given), a conditional model left without labels draws them uniformly
        from ``seed``, as the conditional GAN and VAE do; its likelihood needs them.

        Raises:
            ValueError: labels for an unconditional model, none for a conditional one's
                likelihood, labels out of ``0 .. num_classes - 1``, or the wrong number.
        """
        if self.num_classes is None:
            if labels is not None:
                raise ValueError("This PixelCNN is not class-conditional (num_classes=None): "
                                 "it takes no labels.")
            return None
        if labels is None:
            if seed is None:
                raise ValueError(
                    f"This PixelCNN is class-conditional: pass labels= (integers 0 .. "
                    f"{self.num_classes - 1}).")
            return np.random.default_rng([seed, 2]).integers(
                0, self.num_classes, num_samples).astype("int32")
        return checks.labels(labels, self.num_classes, num_samples)

    # ------------------------------------------------------------- likelihood
    def _functions(self):
        functions = _FUNCTIONS.get(self)
        if functions is None:
            functions = _FUNCTIONS[self] = {}
        return functions

    def level_log_prob(self, levels, labels=None, batch_size=256):
        """Exact ``log p(levels)`` per example in nats: the sum over every pixel and channel.

        Args:
            levels: int levels ``(N, H, W, C)`` in ``0 .. num_levels - 1`` (``(N, H, W)``
                for one channel).
            labels: class labels (an int or ``N`` ints) of a conditional model.
            batch_size: examples per network call.

        Returns:
            float64 numpy array ``(N,)``.

        Example:

        ```python
        import numpy as np
        import kgen

        model = kgen.models.PixelCNN.from_shape((4, 4, 1), num_levels=2, filters=4,
                                                num_layers=2)
        model.level_log_prob(np.zeros((3, 4, 4, 1), "int32"))   # 3 values, each < 0
        ```
        """
        levels = self._check_levels(levels)
        labels = self.check_labels(labels, len(levels))
        functions = self._functions()
        key = ("log_prob", self.num_classes is not None)
        if key not in functions:
            def log_prob(levels, *labels):
                return ops.sum(self._log_probs(levels, *labels), axis=(1, 2, 3))
            functions[key] = backend.compile_function(log_prob, self.network.variables)
        batch_size = max(1, min(int(batch_size), len(levels)))
        results = []
        for start in range(0, len(levels), batch_size):
            chunk = levels[start:start + batch_size]
            size = len(chunk)
            args = [_pad(chunk, batch_size)]
            if labels is not None:
                args.append(_pad(labels[start:start + batch_size], batch_size))
            out = functions[key](*args)
            results.append(np.asarray(ops.convert_to_numpy(out), "float64")[:size])
        return np.concatenate(results) if results else np.zeros((0,), "float64")

    def log_prob(self, x, labels=None, batch_size=256):
        """Exact ``log p(x)`` per image in nats, of the images' quantised levels.

        Args:
            x: images (uint8, or floats in data space ``[-1, 1]``), ``(N, H, W, C)``; int
                levels for a model built with ``inputs="levels"``.
            labels: class labels of a conditional model.
            batch_size: examples per network call.

        Returns:
            float64 numpy array ``(N,)``: ``sum_t log p(x_t | x_<t)``.

        Example:

        ```python
        import kgen

        test = kgen.data.load("digits", split="test")
        model = kgen.models.PixelCNN.from_shape(test.shape[1:], num_levels=2, filters=4,
                                                num_layers=2)
        model.log_prob(test[:8]).shape   # (8,)
        ```
        """
        return self.level_log_prob(self._as_levels(x), labels, batch_size)

    def bits_per_dim(self, x, labels=None, batch_size=256):
        """Mean negative log-likelihood of ``x`` in bits per dimension (``H * W * C``).

        Discrete probabilities of the levels, so no offset (`kgen.metrics.bits_per_dim`
        with ``scale=1``): at most ``log2(num_levels)`` for a uniform model.

        Example:

        ```python
        import kgen

        model = kgen.models.PixelCNN.from_shape((8, 8, 1), num_levels=2, filters=4,
                                                num_layers=2)
        model.bits_per_dim(kgen.data.load("digits", split="test"))   # about 1 untrained
        ```
        """
        from kgen.metrics import bits_per_dim

        nll = -self.log_prob(x, labels, batch_size)
        return bits_per_dim(float(nll.mean()), int(np.prod(self.image_shape)), scale=1)

    # --------------------------------------------------------------- sampling
    def sample_levels(self, num_samples=None, seed=None, temperature=1.0, labels=None,
                      levels=None, known=None, sampler="fast"):
        """Draws int32 levels ``(N, H, W, C)`` position by position (raster, then channel order).

        Args:
            num_samples: how many; may be None when ``levels`` is given.
            seed: integer seed (the same seed gives the same samples), or None.
            temperature: positive; divides the logits (below 1: sharper samples).
            labels: class labels of a conditional model (an int or one per sample).
            levels: known levels ``(N, H, W, C)`` for completion (with ``known``).
            known: bool ``(N, H, W, C)``: positions of ``levels`` to keep.
            sampler: ``"fast"`` (row by row, `kgen.samplers.autoregressive.sample_rows`,
                for networks with ``row_context``/``row_logits``; the compiled loop
                otherwise), ``"compiled"`` (one compiled loop running the whole network
                per position) or ``"naive"`` (a Python loop, for reference).

        Returns:
            int32 numpy array ``(N, H, W, C)``.

        Example:

        ```python
        import kgen

        model = kgen.models.PixelCNN.from_shape((4, 4, 1), num_levels=8, filters=4,
                                                num_layers=2)
        model.sample_levels(5, seed=0).shape   # (5, 4, 4, 1)
        ```
        """
        if sampler not in _SAMPLERS:
            raise ValueError(f"sampler must be one of {_SAMPLERS}; got {sampler!r}.")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)) \
                or not temperature > 0:
            raise ValueError(f"temperature must be a positive number; got {temperature!r}.")
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise TypeError(f"seed must be a non-negative integer or None; got {seed!r}.")
        if levels is None:
            if known is not None:
                raise ValueError("known= needs levels= (the values of the known positions).")
            if num_samples is None:
                raise ValueError("Pass num_samples (or levels= and known= to complete).")
            if not _is_int(num_samples) or num_samples < 1:
                raise ValueError(f"num_samples must be a positive integer; got {num_samples!r}.")
            levels = np.zeros((int(num_samples),) + self.image_shape, "int32")
            known = np.zeros(levels.shape, bool)
        else:
            levels = self._check_levels(levels)
            if num_samples is not None and num_samples != len(levels):
                raise ValueError(f"num_samples={num_samples} but {len(levels)} images were given.")
            known = np.ones(levels.shape, bool) if known is None else \
                self._check_known(known, levels.shape)
        if seed is None:
            seed = int(np.random.default_rng().integers(2 ** 31 - 1))
        labels = self.check_labels(labels, len(levels), seed=seed)
        functions = self._functions()
        uniform = autoregressive.uniform_noise(len(levels), np.prod(self.image_shape), seed)
        args = [levels, known, uniform, np.float32(temperature)]
        if labels is not None:
            args.append(labels)
        if sampler == "naive":
            out = self._sampling_fn(sampler)(*args)
        else:
            key = (sampler, len(levels), labels is not None)
            if key not in functions:
                functions[key] = backend.compile_function(self._sampling_fn(sampler),
                                                          self.network.variables)
            out = functions[key](*args)
        return np.asarray(ops.convert_to_numpy(out), "int32")

    def _check_known(self, known, shape):
        known = np.asarray(known)
        if known.dtype != bool:
            # 0/1 numbers, as a diffusion model's inpainting mask takes them.
            if known.dtype.kind not in "iuf" or not np.isin(known, (0, 1)).all():
                raise TypeError(f"mask must be boolean (True = known) or hold only 0 and 1 "
                                f"(1 = known); got dtype {known.dtype}.")
            known = known == 1
        n, h, w, c = shape
        if known.shape == (h, w) or known.shape == (h, w, c):
            known = known.reshape((1, h, w, -1))
        elif known.shape == (n, h, w):
            known = known[..., None]
        if known.ndim != 4 or known.shape[0] not in (1, n) or known.shape[1:3] != (h, w) \
                or known.shape[3] not in (1, c):
            raise ValueError(
                f"mask must have shape (N, H, W, C) = {shape}, (N, H, W), (H, W, C) or (H, W); "
                f"got {known.shape}.")
        return np.broadcast_to(known, shape).copy()

    def _sampling_fn(self, sampler):
        """The sampling function of ``sampler`` (to compile)."""
        def run(levels, known, uniform, temperature, *labels):
            return self._sample_with_noise(sampler, levels, known, uniform, temperature, labels)

        return run

    def _sample_with_noise(self, sampler, levels, known, uniform, temperature, labels):
        """The levels drawn by ``sampler``'s loop with the uniform numbers ``uniform``."""
        if sampler == "naive":
            return autoregressive.sample_naive(
                lambda lv: self.logits(lv, *labels), levels, known, uniform, temperature)
        network = backend.replayed_network(self.network)
        if sampler == "fast" and hasattr(self.network, "row_context"):
            row_context = backend.replayed_method(self.network, "row_context")
            row_logits = backend.replayed_method(self.network, "row_logits")
            return autoregressive.sample_rows(
                lambda lv: row_context(self.to_values(lv), *labels),
                lambda row, ctx: row_logits(self.to_values(row), ctx),
                levels, known, uniform, temperature)
        return autoregressive.sample_loop(
            lambda lv: self.logits(lv, *labels, network=network), levels, known, uniform,
            temperature)

    def serving_functions(self, temperature=1.0):
        """The whole autoregressive loop for `export_generator`, its noise an input.

        ``generate_from_latent(uniform)`` takes the uniform numbers ``u`` in ``[0, 1)``
        of the inverse-CDF draws, one per position (``(N, H * W * C)``, float32; with
        ``labels`` for a class-conditional model) and returns the images:
        ``generate(N, seed=s)`` draws them with numpy,
        ``kgen.samplers.autoregressive.uniform_noise(N, H * W * C, s)``, so the same
        ``u`` gives the same images (`serving_inputs` gives them).
        ``generate(seed, num_samples)`` draws ``u`` in the graph. The samples are drawn
        one after the other (``ops.map``), each with the row-by-row loop.

        Args:
            temperature: divides the logits, fixed in the SavedModel.

        References:
            van den Oord et al., "Conditional Image Generation with PixelCNN Decoders",
            NeurIPS 2016.
        """
        levels = self.serving_levels(temperature)
        return ServingFunctions(lambda *inputs: self.to_values(levels.sample(*inputs)),
                                levels.inputs, levels.networks)

    def serving_levels(self, temperature=1.0):
        """Like `serving_functions`, but its function returns the int32 levels
        ``(N, H, W, C)``: what a `kgen.models.LatentPrior` exports as code grids."""
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not temperature > 0:
            raise ValueError(f"temperature must be a positive number; got {temperature!r}.")
        temperature = float(temperature)
        positions = int(np.prod(self.image_shape))
        one = (1,) + tuple(self.image_shape)

        def draw_one(u, *labels):
            # One sample at a time: the loops need a static batch size.
            labels = tuple(ops.reshape(label, (1,)) for label in labels)
            levels = self._sample_with_noise(
                "fast", ops.zeros(one, "int32"), ops.zeros(one, "bool"),
                ops.reshape(u, (1, positions)), temperature, labels)
            return levels[0]

        def sample(u, *labels):
            if labels:
                return ops.map(lambda pair: draw_one(*pair), (u, labels[0]))
            return ops.map(draw_one, u)

        inputs = [ServingInput("uniform", (positions,), noise="uniform")]
        if self.num_classes is not None:
            inputs.append(ServingInput("labels", (), "int32", noise="categorical",
                                       classes=self.num_classes))
        return ServingFunctions(sample, inputs, [self.network])

    def serving_inputs(self, num_samples=None, *, seed=None, temperature=1.0, labels=None,
                       images=None, mask=None, sampler="fast"):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed,
        labels=labels)`` uses: ``{"uniform": (N, H * W * C)}``, and ``"labels"`` for a
        class-conditional model (given, or drawn from the seed as `generate` draws them).

        ``temperature`` is fixed in the SavedModel (an export option), so it is accepted
        and does not change the inputs. The exported loop draws every position:
        completion (``images=``, ``mask=``) is not exported.

        Example:

        ```python
        import kgen
        model = kgen.models.PixelCNN.from_shape((4, 4, 1), num_levels=4, filters=4,
                                                num_layers=1)
        model.serving_inputs(3, seed=0)["uniform"].shape   # (3, 16)
        ```
        """
        if images is not None or mask is not None:
            raise ValueError("The exported PixelCNN draws every position: completion "
                             "(images=, mask=) is not part of the SavedModel.")
        if sampler not in _SAMPLERS:
            raise ValueError(f"sampler must be one of {_SAMPLERS}; got {sampler!r}.")
        if num_samples is None:
            if labels is None or np.ndim(labels) == 0:
                raise ValueError("Pass num_samples (or one label per sample).")
            num_samples = len(labels)
        if seed is None:
            raise ValueError("serving_inputs needs the seed of the samples to reproduce.")
        inputs = {"uniform": autoregressive.uniform_noise(num_samples,
                                                          np.prod(self.image_shape), seed)}
        labels = self.check_labels(labels, num_samples, seed=seed)
        if labels is not None:
            inputs["labels"] = labels
        return inputs

    def _generate(self, num_samples, *, seed=None, temperature=1.0, labels=None, images=None,
                  mask=None, sampler="fast"):
        """Samples in data space; ``images=``/``mask=`` complete the unknown pixels."""
        if (images is None) != (mask is None):
            raise ValueError("Completion needs both images= (the known values) and mask= "
                             "(True where known).")
        levels = None if images is None else self._as_levels(images)
        out = self.sample_levels(num_samples, seed=seed, temperature=temperature,
                                 labels=labels, levels=levels, known=mask, sampler=sampler)
        return np.asarray(ops.convert_to_numpy(self.to_values(out)), "float32")

    def get_config(self):
        config = super().get_config()
        config.update(num_levels=self.num_levels, num_classes=self.num_classes,
                      inputs=self.inputs)
        return config


def _first_input(network):
    """The (first) input tensor of a functional network, or None (a subclassed one)."""
    try:
        inputs = network.inputs
    except AttributeError:
        return None
    return inputs[0] if inputs else None


def _pad(array, size):
    """``array`` padded to ``size`` rows by repeating its last row (one compiled shape)."""
    if len(array) == size:
        return array
    return np.concatenate([array, np.repeat(array[-1:], size - len(array), axis=0)])


__all__ = ["PixelCNN"]

registry.register(registry.Family(
    name="pixelcnn",
    model_class=PixelCNN,
    summary="gated PixelCNN: exact likelihood (bits/dim), sampling and completion",
    labels="optional",
    options=(
        registry.Option("num_levels", int, "levels per channel (2: binary, 256: 8-bit)",
                        default=256),
        registry.Option("filters", int, "features per stack", default=64),
        registry.Option("num_layers", int, "gated blocks", default=6),
        registry.Option("kernel_size", int, "odd kernel size of the stacks", default=3),
    ),
    conditions=("labels", "temperature", "images", "mask"),
    export_options=(registry.Option("temperature", float, "sampling temperature", default=1.0),),
    default_epochs=30,
    tiny={"num_levels": 4, "filters": 4, "num_layers": 1},
    metrics=("fid", "kid", "is", "pr", "nll"),
))
