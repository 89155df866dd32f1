"""The deterministic autoencoder, optionally denoising (Vincent et al. 2008)."""

import keras
import numpy as np
from keras import ops

from kgen import backend, checks, losses, networks
from kgen.models import registry
from kgen.models.base import GenerativeModel, Update
from kgen.models.network_checks import check_data_space, check_logits, output_rank
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.precision import float32


def as_model_input(x):
    """Samples as a float32 numpy array, image batches in data space ([-1, 1]).

    Image batches (rank 4) and uint8/uint16 arrays follow kgen's data-space rule
    (`kgen.checks.to_data_space`: uint8 ``x / 127.5 - 1``, floats checked to lie in
    [-1, 1]); other arrays (vectors) are taken as they are, checked to be finite.

    Args:
        x: samples, a numpy array or a tensor.

    Returns:
        A float32 numpy array.

    Example:

    ```python
    import numpy as np
    from kgen.models.autoencoder import as_model_input

    as_model_input(np.full((1, 2, 2, 1), 255, np.uint8)).max()   # 1.0
    ```
    """
    x = np.asarray(ops.convert_to_numpy(x))
    if x.ndim == 4 or x.dtype in (np.uint8, np.uint16):
        return checks.to_data_space(x, "samples")
    return checks.finite(x.astype("float32"), "samples")


def check_sample_shape(model, network, x):
    """Raises a clear error when ``x`` is not a batch of the samples ``network`` takes.

    Args:
        model: the model, named in the message.
        network: the network that takes the samples (its first input, for several).
        x: a numpy array of samples.

    Raises:
        ValueError: ``x`` does not have the shape ``(n,) + sample shape``.

    Example:

    ```python
    import numpy as np
    import kgen
    from kgen.models.autoencoder import check_sample_shape

    ae = kgen.models.Autoencoder.from_shape((8, 8, 1), latent_dim=2, base_filters=4)
    check_sample_shape(ae, ae.encoder, np.zeros((3, 8, 8, 1), "float32"))   # passes
    ```
    """
    expected = checks.first_input_shape(network)
    if expected is None:
        return  # a network without a fixed input shape checks its own inputs
    expected = tuple(expected[1:])
    if x.ndim == len(expected) + 1 and all(
            e is None or e == s for e, s in zip(expected, x.shape[1:])):
        return
    raise ValueError(
        f"This {type(model).__name__} models samples of shape {expected}; got an array of "
        f"shape {x.shape}. Pass a batch (n, {', '.join(str(e) for e in expected)}) of the "
        "data it was trained on."
    )


RECONSTRUCTIONS = ("mse", "bce")
NOISES = (None, "gaussian", "masking")


@keras.saving.register_keras_serializable(package="kgen")
class Autoencoder(GenerativeModel):
    """A deterministic autoencoder, optionally denoising, trained to reconstruct its input.

    The encoder maps a sample ``x`` to a code ``z = f(x)`` and the decoder maps it back,
    ``x_hat = g(z)``; `fit()` minimises the reconstruction error, averaged over the
    dimensions of a sample and over the batch:

    - ``reconstruction="mse"`` (default): the squared error ``(x_hat - x)^2`` in data space; the
      decoder's output is linear and is the reconstruction.
    - ``reconstruction="bce"``: the binary cross-entropy between ``sigmoid(logits)`` and the
      targets ``(x + 1) / 2`` (data in [-1, 1] mapped to [0, 1]); the reconstruction is
      ``2 sigmoid(logits) - 1``.

    Denoising (Vincent et al. 2008): with ``noise``, the encoder sees a corrupted copy
    ``x~`` of each training sample and the loss compares ``g(f(x~))`` with the clean
    ``x``. The corruption is drawn afresh at every training step and applied in training
    steps only: evaluation, `encode`, `reconstruct` and ``call`` use the clean input.

    - ``"gaussian"``: ``x~ = x + noise_level * eps``, ``eps ~ N(0, I)``.
    - ``"masking"``: each value is set to -1 (black, the 0 of Vincent et al.'s [0, 1]
      scale) with probability ``noise_level``.

    Sampling: an autoencoder has no prior over its codes. `generate` decodes the given
    ``latents=``; without them it samples from a Gaussian ``N(mu, Sigma)`` fitted to the
    codes of training data by `fit_latent_gaussian` (the mean and covariance are stored
    in the model, so they are saved with it). Calling ``generate(n)`` before
    `fit_latent_gaussian` raises an error.

    Logs: ``loss`` (the reconstruction error).

    Args:
        encoder: a Keras model from samples to ``(latent_dim,)`` codes.
        decoder: a Keras model from ``(latent_dim,)`` to the sample shape: the
            reconstruction in data space with ``reconstruction="mse"``, its logits (no
            sigmoid at the end) with ``"bce"``.
        latent_dim: size of the code; inferred from the decoder's input if None.
        reconstruction: the loss, ``"mse"`` or ``"bce"``.
        noise: None, ``"gaussian"`` or ``"masking"``.
        noise_level: standard deviation of the Gaussian noise, or the masking
            probability (in [0, 1)).
        seed: seed of the corruption noise drawn in training steps.

    Example:

    ```python
    import kgen

    x = kgen.data.load("digits")
    ae = kgen.models.Autoencoder.from_shape(x.shape[1:], latent_dim=8, noise="masking",
                                            noise_level=0.25)
    ae.compile()
    ae.fit(kgen.data.images(x), epochs=1, verbose=0)
    restored = ae.reconstruct(x[:4])
    ae.fit_latent_gaussian(x)
    samples = ae.generate(16, seed=0)
    ```

    References:
        Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing Robust Features
        with Denoising Autoencoders", ICML 2008.
        Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
        Networks", Science 2006.
    """

    optimizer_names = ("model",)
    log_names = ("loss",)
    network_names = ("encoder", "decoder")

    def __init__(self, encoder, decoder, latent_dim=None, reconstruction="mse", noise=None,
                 noise_level=0.25, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        reconstruction = checks.one_of(reconstruction, "reconstruction", RECONSTRUCTIONS)
        noise = checks.one_of(noise, "noise", NOISES)
        if noise == "masking":
            noise_level = checks.number(noise_level, "noise_level (a masking probability)",
                                        0, 1, exclusive_maximum=True)
        else:
            noise_level = checks.number(noise_level, "noise_level (a standard deviation)", 0)
        if latent_dim is None:
            shape = checks.first_input_shape(decoder)
            if not shape or shape[-1] is None:
                raise ValueError("latent_dim could not be inferred from the decoder's input: "
                                 "pass it.")
            latent_dim = shape[-1]
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = checks.integer(latent_dim, "latent_dim", 1)
        self.reconstruction = reconstruction
        self.noise = noise
        self.noise_level = noise_level
        d = self.latent_dim
        self.latent_mean = self.add_weight(shape=(d,), initializer="zeros", trainable=False,
                                           name="latent_mean")
        self.latent_cholesky = self.add_weight(shape=(d, d), initializer="identity",
                                               trainable=False, name="latent_cholesky")
        self.latent_fitted = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                             name="latent_fitted")
        if not decoder.built:
            decoder.build((None, self.latent_dim))
        if reconstruction == "bce":
            check_logits(decoder, "decoder", "Autoencoder",
                         "With reconstruction='bce' the decoder outputs logits (kgen applies "
                         "the sigmoid): end it with no activation.")
        else:
            check_data_space(decoder, "decoder", "Autoencoder",
                             "With reconstruction='mse' the decoder outputs the reconstruction "
                             "in data space: end it with a tanh activation (images) or none.",
                             images=output_rank(decoder) == 4)
        self._ensure_built()

    @classmethod
    def from_shape(cls, shape, latent_dim=16, base_filters=32, **kwargs):
        """An autoencoder with default networks for samples of ``shape``.

        The networks of `VAE.from_shape` (`kgen.networks.encoder` and
        `kgen.networks.decoder`), the encoder with ``latent_dim`` outputs.

        Args:
            shape: sample shape, ``(height, width, channels)`` or ``(dim,)``.
            latent_dim: size of the code.
            base_filters: width of the networks.
            **kwargs: constructor arguments (``reconstruction``, ``noise``,
                ``noise_level``, ``seed``).

        Example:

        ```python
        import kgen
        ae = kgen.models.Autoencoder.from_shape((8, 8, 1), latent_dim=8,
                                                reconstruction="bce")
        ```
        """
        latent_dim = checks.integer(latent_dim, "latent_dim", 1)
        encoder = networks.encoder(shape, latent_dim, base_filters)
        decoder = networks.decoder(shape, latent_dim, base_filters)
        return cls(encoder=encoder, decoder=decoder, latent_dim=latent_dim, **kwargs)

    def call(self, x, training=False):
        return self._output(self.decoder(self.encoder(x, training=training), training=training))

    # ---------------------------------------------------------------- the math
    def corrupt(self, x, training=False):
        """The encoder's input: ``x`` corrupted by the model's noise in training, else ``x``."""
        x = ops.convert_to_tensor(x)
        if not training or self.noise is None or self.noise_level == 0:
            return x
        if self.noise == "gaussian":
            noise = backend.batch_noise(
                lambda shape: keras.random.normal(shape, seed=self.seed_generator), ops.shape(x))
            return x + self.noise_level * noise
        drop = backend.batch_noise(
            lambda shape: keras.random.uniform(shape, seed=self.seed_generator),
            ops.shape(x)) < self.noise_level
        return ops.where(drop, -ops.ones_like(x), x)

    def reconstruction_error(self, x, decoded):
        """The loss per example: squared error or cross-entropy, averaged over dimensions."""
        x = ops.convert_to_tensor(x)
        size = 1
        for dim in x.shape[1:]:
            size *= int(dim)
        if self.reconstruction == "bce":
            return losses.bernoulli_nll((x + 1.0) * 0.5, decoded) / size
        return ops.mean(ops.reshape(ops.square(decoded - x), (ops.shape(x)[0], -1)), axis=-1)

    def reconstruction_loss(self, x, y=None, training=True):
        decoded = float32(self.decoder(
            self.encoder(self.corrupt(x, training), training=training), training=training))
        loss = ops.mean(self.reconstruction_error(x, decoded))
        return loss, {"loss": loss}

    def training_updates(self):
        return [Update("model", self.reconstruction_loss, self.trainable_variables)]

    def _output(self, decoded):
        if self.reconstruction == "bce":
            return ops.sigmoid(decoded) * 2.0 - 1.0
        return decoded

    # ------------------------------------------------------------ public tools
    def encode(self, x, batch_size=256):
        """The codes ``f(x)`` of samples ``x`` (data space or uint8): ``(n, latent_dim)``.

        Args:
            x: samples: uint8 images (converted to data space), float images in [-1, 1],
                or vectors.
            batch_size: samples encoded at once.

        Returns:
            A float32 numpy array ``(n, latent_dim)``.
        """
        x = np.asarray(ops.convert_to_numpy(x))
        check_sample_shape(self, self.encoder, x)
        x = as_model_input(x)
        return np.asarray(self.encoder.predict(x, batch_size=batch_size, verbose=0), "float32")

    def decode(self, z, batch_size=256):
        """The reconstructions ``g(z)`` of codes ``z``, in data space.

        Args:
            z: codes ``(n, latent_dim)``.
            batch_size: codes decoded at once.

        Returns:
            A float32 numpy array of ``n`` samples.
        """
        z = np.asarray(keras.ops.convert_to_numpy(z), dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"latents must have shape (n, {self.latent_dim}); got {z.shape}.")
        decoded = self.decoder.predict(z, batch_size=batch_size, verbose=0)
        return np.asarray(keras.ops.convert_to_numpy(self._output(decoded)), "float32")

    def reconstruct(self, x, batch_size=256):
        """``g(f(x))`` for clean samples ``x`` (no corruption).

        Args:
            x: samples, as for `encode`.
            batch_size: samples encoded and decoded at once.

        Returns:
            A float32 numpy array of the shape of ``x``, in data space.
        """
        return self.decode(self.encode(x, batch_size), batch_size)

    def fit_latent_gaussian(self, x, batch_size=256):
        """Fits the Gaussian that `generate` samples codes from to the codes of ``x``.

        Stores the mean and the Cholesky factor of the covariance (with ``1e-6`` added to
        its diagonal) of ``encode(x)`` in the model's variables.

        Args:
            x: training samples (uint8 images or data space), at least two.

        Returns:
            The model.
        """
        codes = self.encode(x, batch_size).astype("float64")
        if len(codes) < 2:
            raise ValueError("fit_latent_gaussian needs at least 2 samples to fit a covariance.")
        covariance = np.atleast_2d(np.cov(codes, rowvar=False))
        covariance += 1e-6 * np.eye(self.latent_dim)
        self.latent_mean.assign(codes.mean(axis=0).astype("float32"))
        self.latent_cholesky.assign(np.linalg.cholesky(covariance).astype("float32"))
        self.latent_fitted.assign(1.0)
        return self

    def _generate(self, num_samples, *, seed=None, latents=None, batch_size=256):
        latents = self.serving_inputs(num_samples, seed=seed, latents=latents)["latent"]
        return self.decode(latents, batch_size)

    def serving_inputs(self, num_samples=None, *, seed=None, latents=None, batch_size=256):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed)``
        uses: ``{"latent": ...}``, the codes drawn from the fitted Gaussian with ``seed``
        (``mean + eps @ cholesky.T``, ``eps`` standard normal), or ``latents``.

        Example:

        ```python
        import kgen
        x = kgen.data.load("digits")[:64]
        ae = kgen.models.Autoencoder.from_shape((8, 8, 1), latent_dim=2, base_filters=4)
        ae.fit_latent_gaussian(x)
        ae.serving_inputs(3, seed=0)["latent"].shape   # (3, 2)
        ```
        """
        if latents is not None:
            latents = np.asarray(ops.convert_to_numpy(latents), "float32")
            if num_samples is not None and num_samples != len(latents):
                raise ValueError("num_samples and the number of latents differ.")
            return {"latent": latents}
        if num_samples is None:
            raise ValueError("Pass num_samples (or latents=) to generate().")
        if float(ops.convert_to_numpy(self.latent_fitted)) == 0.0:
            raise ValueError(
                "This Autoencoder has no distribution over its codes yet: call "
                "fit_latent_gaussian(x_train) after training, or pass latents=.")
        eps = self.standard_normal((num_samples, self.latent_dim), seed)
        cholesky = np.asarray(ops.convert_to_numpy(self.latent_cholesky))
        latents = np.asarray(ops.convert_to_numpy(self.latent_mean)) + eps @ cholesky.T
        return {"latent": latents.astype("float32")}

    def serving_functions(self):
        """The sampler for `export_generator`: codes to their decodings ``g(z)``.

        ``generate_from_latent(latent)`` equals ``generate(latents=latent)``. After
        `fit_latent_gaussian`, ``generate(seed, num_samples)`` draws the codes from that
        Gaussian (its mean and Cholesky factor at export time, as constants); before, the
        SavedModel has ``generate_from_latent`` only.
        """
        decoder = self.decoder
        if float(ops.convert_to_numpy(self.latent_fitted)) == 0.0:
            latent = ServingInput("latent", (self.latent_dim,), noise=None)
        else:
            cholesky = np.asarray(ops.convert_to_numpy(self.latent_cholesky), "float32")
            mean = np.asarray(ops.convert_to_numpy(self.latent_mean), "float32")
            latent = ServingInput("latent", (self.latent_dim,), loc=tuple(mean.tolist()),
                                  scale=tuple(map(tuple, cholesky.tolist())))

        def sample(z):
            return self._output(decoder(z, training=False))

        return ServingFunctions(sample, [latent], [decoder])

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, reconstruction=self.reconstruction,
                      noise=self.noise, noise_level=self.noise_level)
        return config


__all__ = ["Autoencoder"]


def _fit_codes(model, samples):
    model.fit_latent_gaussian(samples)


registry.register(registry.Family(
    name="autoencoder",
    model_class=Autoencoder,
    summary="(denoising) autoencoder; samples from a Gaussian fitted to its codes",
    options=(
        registry.Option("latent_dim", int, "size of the code", default=16),
        registry.Option("base_filters", int, "width of the encoder and decoder", default=32),
        registry.Option("reconstruction", str, "reconstruction loss", choices=RECONSTRUCTIONS,
                        default="mse"),
        registry.Option("noise", str, "input corruption of a denoising autoencoder",
                        choices=tuple(n for n in NOISES if n is not None)),
        registry.Option("noise_level", float, "strength of the corruption", default=0.25),
    ),
    default_epochs=50,
    tiny={"latent_dim": 4, "base_filters": 4},
    metrics=("fid", "kid", "is", "pr"),
    finish=_fit_codes,
))
