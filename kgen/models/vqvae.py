"""Vector-quantised variational autoencoder (van den Oord et al. 2017)."""

import keras
import numpy as np
from keras import ops

from kgen import checks, replica
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.models.autoencoder import as_model_input, check_sample_shape
from kgen.models import registry
from kgen.models.base import GenerativeModel, Update
from kgen.networks.conv_transpose import Conv2DTranspose
from kgen.networks.unet import check_image_shape
from kgen.networks.vector_quantizer import VectorQuantizer
from kgen.precision import float32


def default_downsamples(height, width):
    """How many times the default VQ-VAE encoder halves the image: at most 2, to >= 4x4.

    8x8 -> 1 (4x4 codes), 16x16 -> 2 (4x4), 28x28 -> 2 (7x7), 32x32 -> 2 (8x8).
    """
    count = 0
    while count < 2 and height % 2 == 0 and width % 2 == 0 and height // 2 >= 4 \
            and width // 2 >= 4:
        height, width, count = height // 2, width // 2, count + 1
    if count == 0:
        raise ValueError(
            f"Image size {height}x{width} is too small or odd for the default VQ-VAE "
            "networks: both sides must be even and at least 8. Pass your own networks.")
    return count


def _vq_networks(shape, embedding_dim, base_filters, downsamples):
    """A convolutional encoder to a ``(h, w, embedding_dim)`` grid and its mirror decoder."""
    height, width, channels = shape
    filters = base_filters
    inputs = keras.Input(shape, name="vq_encoder_image")
    x = inputs
    for i in range(downsamples):
        x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", activation="relu",
                                name=f"vq_encoder_down_{i}")(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                            name="vq_encoder_conv")(x)
    outputs = keras.layers.Conv2D(embedding_dim, 1, name="vq_encoder_out")(x)
    encoder = keras.Model(inputs, outputs, name="encoder")

    grid = (height >> downsamples, width >> downsamples, embedding_dim)
    inputs = keras.Input(grid, name="vq_decoder_codes")
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                            name="vq_decoder_conv")(inputs)
    for i in range(downsamples):
        x = Conv2DTranspose(filters, 4, strides=2, padding="same",
                                         activation="relu", name=f"vq_decoder_up_{i}")(x)
    outputs = keras.layers.Conv2D(channels, 3, padding="same", name="vq_decoder_out")(x)
    decoder = keras.Model(inputs, outputs, name="decoder")
    return encoder, decoder


@keras.saving.register_keras_serializable(package="kgen")
class VQVAE(GenerativeModel):
    """A VQ-VAE: an autoencoder whose codes are a grid of entries of a learned codebook.

    The encoder maps an image to a grid ``z_e`` of ``(h, w)`` vectors of size
    ``embedding_dim``; each vector is replaced by its nearest codebook vector ``e_k``
    (`kgen.networks.VectorQuantizer`) and the decoder maps the quantised grid ``z_q``
    back to an image. Gradients pass from ``z_q`` to ``z_e`` unchanged (straight-through
    estimator). The loss per batch is

    ``mean (x_hat - x)^2 + beta * mean (z_e - sg[e])^2`` (reconstruction and commitment),

    plus ``mean (sg[z_e] - e)^2`` with ``codebook_update="loss"``. With the default
    ``"ema"`` the codebook is instead moved, after each step's gradient update, to the
    exponential moving averages of the encoder outputs assigned to each code (Razavi et
    al. 2019), and codes unused for ``restart_after`` steps are restarted from random
    encoder outputs of the batch.

    Logs: ``loss``, ``reconstruction`` (mean squared error in data space),
    ``commitment``, ``codebook`` (with ``"loss"`` only), ``perplexity`` (``exp`` of the
    entropy of the batch's code histogram: from 1 to ``num_embeddings``) and ``usage``
    (fraction of the codes used in the batch).

    The VQ-VAE itself assumes a uniform prior over codes: ``generate()`` decodes grids of
    independent uniform codes (or ``codes=``). For real samples, fit a prior over the
    code grids with `kgen.models.LatentPrior`.

    Args:
        encoder: a Keras model from images to ``(h, w, embedding_dim)`` grids.
        decoder: a Keras model from ``(h, w, embedding_dim)`` grids to images.
        num_embeddings: codebook size ``K``.
        embedding_dim: size of the code vectors; inferred from the encoder's output.
        beta: weight of the commitment loss.
        codebook_update: ``"ema"`` or ``"loss"``.
        decay: decay of the moving averages (``"ema"``).
        epsilon: Laplace smoothing of the cluster sizes (``"ema"``).
        restart_after: steps without use after which a code is restarted; None never.
        seed: seed of the model's random draws in training (code restarts).

    Example:

    ```python
    import kgen

    x = kgen.data.load("digits")
    vq = kgen.models.VQVAE.from_shape(x.shape[1:], num_embeddings=32, embedding_dim=8)
    vq.compile()
    vq.fit(kgen.data.images(x), epochs=1, verbose=0)
    codes = vq.encode(x[:4])            # int32 (4, 4, 4)
    images = vq.decode_codes(codes)     # (4, 8, 8, 1)
    ```

    References:
        van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning",
        NeurIPS 2017.
        Razavi, van den Oord & Vinyals, "Generating Diverse High-Fidelity Images with
        VQ-VAE-2", NeurIPS 2019.
    """

    optimizer_names = ("model",)
    network_names = ("encoder", "decoder")

    def __init__(self, encoder, decoder, num_embeddings=512, embedding_dim=None, beta=0.25,
                 codebook_update="ema", decay=0.99, epsilon=1e-5, restart_after=100,
                 seed=None, **kwargs):
        logs = ("loss", "reconstruction", "commitment")
        if codebook_update == "loss":
            logs += ("codebook",)
        kwargs.setdefault("log_names", logs + ("perplexity", "usage"))
        super().__init__(seed=seed, **kwargs)
        try:
            grid = tuple(encoder.output_shape[1:])
        except (AttributeError, ValueError):
            raise ValueError(
                "VQVAE needs an encoder with a known output shape (h, w, embedding_dim), "
                "such as a functional keras.Model.") from None
        if len(grid) != 3:
            raise ValueError(
                f"The VQVAE encoder must output a grid (h, w, embedding_dim); its output "
                f"shape is {grid}.")
        if embedding_dim is None:
            embedding_dim = grid[-1]
        if grid[-1] != embedding_dim:
            raise ValueError(
                f"The encoder outputs {grid[-1]} channels but embedding_dim={embedding_dim}; "
                "they must match.")
        beta = checks.number(beta, "beta", 0)
        self.encoder = encoder
        self.decoder = decoder
        self.beta = beta
        self.quantizer = VectorQuantizer(
            num_embeddings, embedding_dim, codebook_update=codebook_update, decay=decay,
            epsilon=epsilon, restart_after=restart_after,
            seed=None if seed is None else int(seed) + 1, name="vq_codebook")
        self.num_embeddings = self.quantizer.num_embeddings
        self.embedding_dim = self.quantizer.embedding_dim
        self.codebook_update = codebook_update
        self.decay = self.quantizer.decay
        self.epsilon = self.quantizer.epsilon
        self.restart_after = self.quantizer.restart_after
        self.code_shape = tuple(int(s) for s in grid[:2])
        if not decoder.built:
            decoder.build((None,) + grid)
        self._ensure_built()

    @classmethod
    def from_shape(cls, shape, num_embeddings=64, embedding_dim=16, base_filters=32,
                   downsamples=None, **kwargs):
        """A VQ-VAE with a small convolutional encoder and decoder for images of ``shape``.

        The encoder halves the image ``downsamples`` times with strided convolutions
        (default `default_downsamples`: 8x8 images give a 4x4 grid of codes, 28x28 a 7x7
        one); the decoder mirrors it with transposed convolutions and a linear output.

        Example:

        ```python
        import kgen
        vq = kgen.models.VQVAE.from_shape((8, 8, 1), num_embeddings=16, embedding_dim=4)
        vq.code_shape   # (4, 4)
        ```
        """
        shape = check_image_shape(shape, "VQVAE.from_shape")
        embedding_dim = checks.integer(embedding_dim, "embedding_dim", 1)
        base_filters = checks.integer(base_filters, "base_filters", 1)
        downsamples = checks.optional_integer(downsamples, "downsamples", 0)
        if downsamples is None:
            downsamples = default_downsamples(*shape[:2])
        encoder, decoder = _vq_networks(shape, embedding_dim, base_filters, downsamples)
        return cls(encoder=encoder, decoder=decoder, num_embeddings=num_embeddings,
                   embedding_dim=embedding_dim, **kwargs)

    def _ensure_built(self):
        super()._ensure_built()
        self.built = self.built and self.quantizer.built

    def call(self, x, training=False):
        return self.decoder(self.quantizer(self.encoder(x, training=training)),
                            training=training)

    # ---------------------------------------------------------------- the math
    def vq_loss(self, x, y=None, training=True):
        """The loss of a batch and its logs (see the class docstring)."""
        x = ops.convert_to_tensor(x)
        z = float32(self.encoder(x, training=training))
        codes = self.quantizer.nearest_codes(z)
        e = self.quantizer.lookup(codes)
        quantized = z + ops.stop_gradient(e - z)          # straight-through
        decoded = float32(self.decoder(quantized, training=training))
        reconstruction = ops.mean(ops.square(decoded - x))
        commitment = ops.mean(ops.square(z - ops.stop_gradient(e)))
        loss = reconstruction + self.beta * commitment
        logs = {"reconstruction": reconstruction, "commitment": commitment}
        if self.codebook_update == "loss":
            logs["codebook"] = ops.mean(ops.square(ops.stop_gradient(z) - e))
            loss = loss + logs["codebook"]
        # Perplexity and usage of the global batch's codes (on every replica).
        counts = self.quantizer.histogram(replica.gather_batch(codes))
        logs.update(loss=loss, perplexity=self.quantizer.perplexity(counts),
                    usage=self.quantizer.usage(counts))
        return loss, logs

    def training_updates(self):
        return [Update("model", self.vq_loss, self.trainable_variables)]

    def after_updates(self, x, y):
        """Updates the codebook state from the batch's encoder outputs (after the gradient step)."""
        z = ops.stop_gradient(self.encoder(x, training=True))
        self.quantizer.update_codebook(z)

    # ------------------------------------------------------------ public tools
    def encode(self, x, batch_size=256):
        """The code indices of samples ``x`` (data space or uint8): int32 ``(n, h, w)``."""
        batch_size = checks.integer(batch_size, "batch_size", 1)
        x = as_model_input(x)
        check_sample_shape(self, self.encoder, x)
        z = self.encoder.predict(x, batch_size=batch_size, verbose=0)
        parts = [ops.convert_to_numpy(self.quantizer.nearest_codes(z[i:i + batch_size]))
                 for i in range(0, len(z), batch_size)]
        return np.concatenate(parts).astype("int32")

    def check_codes(self, codes):
        """``codes`` as an int32 ``(n, h, w)`` array of indices in ``0 .. K - 1``, checked.

        Raises:
            TypeError: codes that are not integers.
            ValueError: another grid shape, or indices out of range.
        """
        codes = np.asarray(ops.convert_to_numpy(codes))
        if codes.ndim == 4 and codes.shape[-1] == 1:
            codes = codes[..., 0]
        if codes.dtype.kind not in "iu":
            raise TypeError(
                f"codes must be integer code indices; got dtype {codes.dtype}.")
        if codes.ndim != 3 or tuple(codes.shape[1:]) != self.code_shape:
            raise ValueError(
                f"codes must have shape (n, {self.code_shape[0]}, {self.code_shape[1]}) "
                f"(the encoder's grid); got {codes.shape}.")
        if codes.size and (codes.min() < 0 or codes.max() >= self.num_embeddings):
            raise ValueError(
                f"codes must be in 0..{self.num_embeddings - 1} (num_embeddings="
                f"{self.num_embeddings}); got values from {codes.min()} to {codes.max()}.")
        return codes.astype("int32")

    def decode_codes(self, codes, batch_size=256):
        """Images decoded from code indices ``(n, h, w)`` (or ``(n, h, w, 1)``), data space.

        The decoder's output layer is linear (the reconstruction loss is taken on it), so
        its values can pass the ends of the data range; the images are clipped to
        ``[-1, 1]``, as `generate()`, `reconstruct()` and the exported sampler give them.
        """
        codes = self.check_codes(codes)
        batch_size = checks.integer(batch_size, "batch_size", 1)
        vectors = ops.convert_to_numpy(self.quantizer.lookup(codes))
        decoded = self.decoder.predict(vectors, batch_size=batch_size, verbose=0)
        return np.clip(np.asarray(decoded, "float32"), -1.0, 1.0)

    def reconstruct(self, x, batch_size=256):
        """``decode_codes(encode(x))``: the reconstructions of samples ``x``."""
        return self.decode_codes(self.encode(x, batch_size), batch_size)

    def _generate(self, num_samples, *, seed=None, codes=None, batch_size=256):
        return self.decode_codes(self.serving_inputs(num_samples, seed=seed, codes=codes)["codes"],
                                 batch_size)

    def serving_inputs(self, num_samples=None, *, seed=None, codes=None, batch_size=256):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed)``
        uses: ``{"codes": ...}``, int32 grids of codes drawn uniformly from ``seed`` (or
        ``codes``, checked).

        Example:

        ```python
        import kgen
        vq = kgen.models.VQVAE.from_shape((8, 8, 1), num_embeddings=8, embedding_dim=4)
        vq.serving_inputs(2, seed=0)["codes"].shape   # (2, 4, 4)
        ```
        """
        if codes is None:
            if num_samples is None:
                raise ValueError("Pass num_samples (or codes=) to generate().")
            codes = np.random.default_rng(seed).integers(
                0, self.num_embeddings, size=(num_samples,) + self.code_shape)
        elif num_samples is not None and num_samples != len(codes):
            raise ValueError("num_samples and the number of code grids differ.")
        return {"codes": self.check_codes(codes)}

    def serving_functions(self):
        """The decoder for `export_generator`: code grids ``(N, h, w)`` to images.

        ``generate_from_latent(codes)`` (int32 indices) equals ``generate(codes=codes)``;
        ``generate(seed, num_samples)`` draws every code uniformly, as ``generate()`` does.
        """
        quantizer, decoder = self.quantizer, self.decoder

        def sample(codes):
            return ops.clip(decoder(quantizer.lookup(codes), training=False), -1.0, 1.0)

        codes = ServingInput("codes", self.code_shape, "int32", noise="categorical",
                             classes=self.num_embeddings)
        return ServingFunctions(sample, [codes], [quantizer, decoder])

    def get_config(self):
        config = super().get_config()
        config.update(num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim,
                      beta=self.beta, codebook_update=self.codebook_update, decay=self.decay,
                      epsilon=self.epsilon, restart_after=self.restart_after)
        return config


registry.register(registry.Family(
    name="vqvae",
    model_class=VQVAE,
    summary="VQ-VAE: a discrete code grid with an EMA codebook (pair it with latent_prior)",
    options=(
        registry.Option("num_embeddings", int, "codebook size", default=64),
        registry.Option("embedding_dim", int, "size of each code vector", default=16),
        registry.Option("base_filters", int, "width of the encoder and decoder", default=32),
        registry.Option("downsamples", int, "halvings of the image by the encoder", minimum=0),
        registry.Option("beta", float, "commitment weight", default=0.25),
        registry.Option("codebook_update", str, "how the codebook learns",
                        choices=("ema", "loss"), default="ema"),
        registry.Option("decay", float, "decay of the EMA codebook", default=0.99),
    ),
    default_epochs=30,
    tiny={"num_embeddings": 8, "embedding_dim": 4, "base_filters": 4},
))
