"""Variational autoencoder (Kingma & Welling 2014)."""

import math

import keras
import numpy as np
from keras import ops

from kgen import losses, networks
from kgen.models.base import GenerativeModel, Update

_LIKELIHOODS = ("bernoulli", "gaussian")


@keras.saving.register_keras_serializable(package="kgen")
class VAE(GenerativeModel):
    """A variational autoencoder trained by minimising the negative ELBO with `fit()`.

    The encoder maps a sample ``x`` to the mean and log-variance of a diagonal Gaussian
    ``q(z|x)``; a latent ``z = mean + exp(log_var / 2) * eps`` is drawn with the
    reparameterisation trick, and the decoder gives the parameters of ``p(x|z)``. The loss
    per example is ``-E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I))`` (``beta=1`` is the
    ELBO; ``beta > 1`` is the beta-VAE of Higgins et al. 2017), averaged over the batch.

    Decoders (``likelihood``):

    - ``"bernoulli"``: the decoder outputs logits; data in [-1, 1] is mapped to [0, 1]
      targets (binary cross-entropy). Samples are the Bernoulli means.
    - ``"gaussian"``: the decoder outputs the mean in data space; the standard deviation is
      learned (``sigma="learned"``, one shared trainable scale, as in the calibrated
      decoders of Rybkin et al. 2021) or fixed (``sigma=0.1``). Samples are the means.

    Logs: ``loss`` (negative ELBO, nats per example), ``reconstruction`` and ``kl``.

    Args:
        encoder: a Keras model from samples to ``2 * latent_dim`` values (mean, then
            log-variance) or to a list ``[mean, log_variance]``.
        decoder: a Keras model from ``(latent_dim,)`` to the sample shape.
        latent_dim: size of the latent vector; inferred from the decoder's input if None.
        likelihood: ``"bernoulli"`` (default) or ``"gaussian"``.
        sigma: ``"learned"`` or a positive float: the Gaussian decoder's standard deviation.
        beta: weight of the KL term.
        seed: seed of the noise drawn during training.

    Example:

    ```python
    import kgen

    x = kgen.data.load("digits")
    vae = kgen.models.VAE.from_shape(x.shape[1:], latent_dim=8)
    vae.compile()
    vae.fit(kgen.data.images(x), epochs=1, verbose=0)
    mean, log_var = vae.encode(kgen.data.to_data_space(x[:4]))
    samples = vae.generate(16, seed=0)
    ```

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
        Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a Constrained
        Variational Framework", ICLR 2017.
        Rybkin, Daniilidis & Levine, "Simple and Effective VAE Training with Calibrated
        Decoders", ICML 2021.
    """

    optimizer_names = ("model",)
    log_names = ("loss", "reconstruction", "kl")
    network_names = ("encoder", "decoder")

    def __init__(self, encoder, decoder, latent_dim=None, likelihood="bernoulli",
                 sigma="learned", beta=1.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if likelihood not in _LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {_LIKELIHOODS}; got {likelihood!r}.")
        if not (sigma == "learned" or (isinstance(sigma, (int, float)) and sigma > 0)):
            raise ValueError(f"sigma must be 'learned' or a positive number; got {sigma!r}.")
        if beta < 0:
            raise ValueError(f"beta must be non-negative; got {beta}.")
        if latent_dim is None:
            try:
                latent_dim = int(decoder.input_shape[-1])
            except (AttributeError, TypeError, ValueError):
                raise ValueError(
                    "latent_dim could not be inferred from the decoder's input: pass it."
                ) from None
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = int(latent_dim)
        self.likelihood = likelihood
        self.sigma = sigma
        self.beta = float(beta)
        self.log_sigma = None
        if likelihood == "gaussian" and sigma == "learned":
            self.log_sigma = self.add_weight(shape=(), initializer="zeros", name="log_sigma")
        if not decoder.built:
            decoder.build((None, self.latent_dim))
        self._ensure_built()

    @classmethod
    def from_shape(cls, shape, latent_dim=16, base_filters=32, **kwargs):
        """A VAE with default networks for samples of ``shape``.

        Images get a convolutional encoder and decoder (the DCGAN builders of
        `kgen.networks` without batch normalisation); vectors get MLPs.

        Example:

        ```python
        import kgen
        vae = kgen.models.VAE.from_shape((8, 8, 1), latent_dim=8)
        ```
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) == 1:
            width = base_filters * 4
            encoder = networks.mlp(shape[0], 2 * latent_dim, (width, width), name="encoder")
            decoder = networks.mlp(latent_dim, shape[0], (width, width), name="decoder")
        elif len(shape) == 3:
            encoder = networks.dcgan_discriminator(
                shape, 2 * latent_dim, base_filters, batch_norm=False, activation="relu",
                name="encoder")
            decoder = networks.dcgan_generator(
                shape, latent_dim, base_filters, batch_norm=False, output_activation=None,
                name="decoder")
        else:
            raise ValueError(
                f"VAE.from_shape takes an image shape (height, width, channels) or a vector "
                f"shape (dim,); got {shape}."
            )
        return cls(encoder=encoder, decoder=decoder, latent_dim=latent_dim, **kwargs)

    def call(self, x, training=False):
        mean, _ = self._posterior(x, training)
        return self._mean_output(self.decoder(mean, training=training))

    # ---------------------------------------------------------------- the math
    def _posterior(self, x, training=False):
        out = self.encoder(x, training=training)
        if isinstance(out, (list, tuple)):
            mean, log_var = out
        else:
            if out.shape[-1] != 2 * self.latent_dim:
                raise ValueError(
                    f"The encoder must output 2 * latent_dim = {2 * self.latent_dim} values "
                    f"(mean and log-variance); it outputs {out.shape[-1]}."
                )
            mean, log_var = ops.split(out, 2, axis=-1)
        return mean, log_var

    def reparameterize(self, mean, log_var):
        """``z = mean + exp(log_var / 2) * eps``, eps ~ N(0, I) (Kingma & Welling 2014, §2.4)."""
        eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def _log_scale(self):
        if self.log_sigma is not None:
            return self.log_sigma
        return math.log(self.sigma)

    def reconstruction_nll(self, x, decoded):
        """``-log p(x|z)`` per example for the decoder output ``decoded``."""
        if self.likelihood == "bernoulli":
            return losses.bernoulli_nll((x + 1.0) * 0.5, decoded)
        return losses.gaussian_nll(x, decoded, self._log_scale())

    def negative_elbo(self, x, training=False):
        """Returns ``(negative ELBO, reconstruction NLL, KL)``, each per example."""
        mean, log_var = self._posterior(x, training)
        z = self.reparameterize(mean, log_var)
        decoded = self.decoder(z, training=training)
        reconstruction = self.reconstruction_nll(x, decoded)
        kl = losses.gaussian_kl(mean, log_var)
        return reconstruction + self.beta * kl, reconstruction, kl

    def elbo_loss(self, x, y=None, training=True):
        loss, reconstruction, kl = self.negative_elbo(x, training)
        loss = ops.mean(loss)
        return loss, {
            "loss": loss,
            "reconstruction": ops.mean(reconstruction),
            "kl": ops.mean(kl),
        }

    def training_updates(self):
        return [Update("model", self.elbo_loss, self.trainable_variables)]

    def _mean_output(self, decoded):
        if self.likelihood == "bernoulli":
            return ops.sigmoid(decoded) * 2.0 - 1.0
        return decoded

    # ------------------------------------------------------------ public tools
    def _as_input(self, x):
        x = np.asarray(x)
        if x.dtype == np.uint8:
            from kgen.data import to_data_space

            x = to_data_space(x)
        return x.astype("float32")

    def encode(self, x, batch_size=256):
        """Mean and log-variance of ``q(z|x)`` for samples ``x`` (data space or uint8).

        Returns:
            ``(mean, log_variance)``, numpy arrays of shape ``(n, latent_dim)``.
        """
        out = self.encoder.predict(self._as_input(x), batch_size=batch_size, verbose=0)
        if isinstance(out, (list, tuple)):
            return np.asarray(out[0]), np.asarray(out[1])
        return out[:, : self.latent_dim], out[:, self.latent_dim :]

    def decode(self, z, batch_size=256):
        """The decoder's mean for latent vectors ``z``, in data space."""
        z = np.asarray(keras.ops.convert_to_numpy(z), dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (n, {self.latent_dim}); got {z.shape}.")
        decoded = self.decoder.predict(z, batch_size=batch_size, verbose=0)
        return np.asarray(keras.ops.convert_to_numpy(self._mean_output(decoded)), "float32")

    def reconstruct(self, x, batch_size=256):
        """Decodes the posterior mean of each sample of ``x``: a deterministic reconstruction."""
        mean, _ = self.encode(x, batch_size)
        return self.decode(mean, batch_size)

    def _generate(self, num_samples, *, seed=None, latents=None, batch_size=256):
        if latents is None:
            if num_samples is None:
                raise ValueError("Pass num_samples (or latents=) to generate().")
            latents = self.standard_normal((num_samples, self.latent_dim), seed)
        return self.decode(latents, batch_size)

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, likelihood=self.likelihood,
                      sigma=self.sigma, beta=self.beta)
        return config
