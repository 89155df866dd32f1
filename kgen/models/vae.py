"""The variational autoencoder (Kingma & Welling 2014), with Bernoulli or Gaussian decoders
and the beta-VAE objective (Higgins et al. 2017)."""

import math

import keras
import numpy as np
from keras import ops

from kgen import backend, checks, losses, networks
from kgen.models import importance_weighted
from kgen.models import registry
from kgen.models.base import GenerativeModel, Update
from kgen.models.network_checks import check_data_space, check_logits, output_rank
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.precision import float32

LIKELIHOODS = ("bernoulli", "gaussian")


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
            log-variance) or to a list ``[mean, log_variance]``; an encoder with a third
            output (the keras-io convention ``(z_mean, z_log_var, z)``) is accepted and
            its third output ignored (kgen draws ``z`` itself).
        decoder: a Keras model from ``(latent_dim,)`` to the sample shape: to logits
            with ``likelihood="bernoulli"`` (no sigmoid at the end: kgen applies it), to
            the mean in data space (``[-1, 1]`` for images) with ``"gaussian"``.
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
        likelihood = checks.one_of(likelihood, "likelihood", LIKELIHOODS)
        if isinstance(sigma, str):
            if sigma != "learned":
                raise ValueError(f"sigma must be 'learned' or a positive number; got {sigma!r}.")
        else:
            sigma = checks.number(sigma, "sigma", 0, exclusive_minimum=True)
        beta = checks.number(beta, "beta", 0)
        if latent_dim is None:
            shape = checks.first_input_shape(decoder)
            if not shape or shape[-1] is None:
                raise ValueError("latent_dim could not be inferred from the decoder's (first) "
                                 "input: pass it.")
            latent_dim = shape[-1]
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = checks.integer(latent_dim, "latent_dim", 1)
        self.likelihood = likelihood
        self.sigma = sigma
        self.beta = beta
        self.log_sigma = None
        if likelihood == "gaussian" and sigma == "learned":
            self.log_sigma = self.add_weight(shape=(), initializer="zeros", name="log_sigma")
        if not decoder.built:
            decoder.build((None, self.latent_dim))
        self._check_networks()
        self._ensure_built()

    def _check_networks(self):
        """Clear errors for networks that do not give what kgen reads from them."""
        name = type(self).__name__
        outputs = getattr(self.encoder, "outputs", None)
        if outputs and len(outputs) not in (1, 2, 3):
            raise ValueError(
                f"The encoder of this {name} has {len(outputs)} outputs; kgen reads the "
                f"mean and log-variance of q(z|x) from it: one tensor of 2 * latent_dim = "
                f"{2 * self.latent_dim} values (the mean, then the log-variance), or "
                "[mean, log_variance] (a third output, as the z of the keras-io VAE's "
                "(z_mean, z_log_var, z), is ignored).")
        if outputs and len(outputs) == 1 and outputs[0].shape[-1] is not None \
                and outputs[0].shape[-1] != 2 * self.latent_dim:
            raise ValueError(
                f"The encoder of this {name} outputs {outputs[0].shape[-1]} values; kgen "
                f"reads the mean and log-variance of q(z|x) from one tensor of 2 * "
                f"latent_dim = {2 * self.latent_dim} values (the mean, then the "
                "log-variance), or from outputs [mean, log_variance].")
        images = output_rank(self.decoder) == 4
        if self.likelihood == "bernoulli":
            check_logits(self.decoder, "decoder", name,
                         "With likelihood='bernoulli' the decoder outputs the logits of the "
                         "pixels' Bernoulli means (kgen applies the sigmoid): end it with no "
                         "activation.")
        else:
            check_data_space(self.decoder, "decoder", name,
                             "With likelihood='gaussian' the decoder outputs the mean in data "
                             "space: end it with a tanh activation (images) or none.",
                             images=images)

    @classmethod
    def from_shape(cls, shape, latent_dim=16, base_filters=32, **kwargs):
        """A VAE with default networks for samples of ``shape``.

        Images get a convolutional encoder and decoder (`kgen.networks.encoder` and
        `kgen.networks.decoder`: the DCGAN layers without batch normalisation); vectors
        get MLPs with two hidden layers of ``4 * base_filters`` units.

        Args:
            shape: sample shape, ``(height, width, channels)`` or ``(dim,)``.
            latent_dim: size of the latent vector.
            base_filters: width of the networks.
            **kwargs: constructor arguments (``likelihood``, ``sigma``, ``beta``, ``seed``).

        Example:

        ```python
        import kgen
        vae = kgen.models.VAE.from_shape((8, 8, 1), latent_dim=8)
        ```
        """
        latent_dim = checks.integer(latent_dim, "latent_dim", 1)
        encoder = networks.encoder(shape, 2 * latent_dim, base_filters)
        decoder = networks.decoder(shape, latent_dim, base_filters)
        return cls(encoder=encoder, decoder=decoder, latent_dim=latent_dim, **kwargs)

    def call(self, x, training=False):
        mean, _ = self._posterior(x, training)
        return self._mean_output(self.decoder(mean, training=training))

    # ---------------------------------------------------------------- the math
    def _network_inputs(self, main, labels):
        """What the encoder or decoder is called on: ``main`` (a conditional model adds labels)."""
        return main

    def _checked_labels(self, labels, count):
        """Labels given to a public method, checked; an unconditional VAE takes none."""
        if labels is not None:
            raise ValueError(
                f"{type(self).__name__} is unconditional and takes no labels=; use "
                "kgen.models.ConditionalVAE for a class-conditional model.")
        return None

    def _posterior(self, x, training=False, labels=None):
        out = self.encoder(self._network_inputs(x, labels), training=training)
        if isinstance(out, (list, tuple)):
            # [mean, log_var], or the keras-io convention (z_mean, z_log_var, z).
            mean, log_var = out[0], out[1]
        else:
            if out.shape[-1] != 2 * self.latent_dim:
                raise ValueError(
                    f"The encoder must output 2 * latent_dim = {2 * self.latent_dim} values "
                    f"(mean and log-variance); it outputs {out.shape[-1]}."
                )
            mean, log_var = ops.split(out, 2, axis=-1)
        # The posterior in float32 (mixed precision): the noise, KL and likelihoods are.
        return float32(mean), float32(log_var)

    def reparameterize(self, mean, log_var):
        """``z = mean + exp(log_var / 2) * eps``, eps ~ N(0, I) (Kingma & Welling 2014, §2.4)."""
        eps = backend.batch_noise(
            lambda shape: keras.random.normal(shape, seed=self.seed_generator), ops.shape(mean))
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

    def negative_elbo(self, x, training=False, labels=None):
        """Returns ``(negative ELBO, reconstruction NLL, KL)``, each per example."""
        mean, log_var = self._posterior(x, training, labels)
        z = self.reparameterize(mean, log_var)
        decoded = self.decoder(self._network_inputs(z, labels), training=training)
        reconstruction = self.reconstruction_nll(x, decoded)
        kl = losses.gaussian_kl(mean, log_var)
        return reconstruction + self.beta * kl, reconstruction, kl

    def elbo_loss(self, x, y=None, training=True):
        loss, reconstruction, kl = self.negative_elbo(x, training, labels=y)
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
    def _as_input(self, x, strict=True):
        """``x`` as a float32 numpy batch of the samples the encoder takes.

        Images follow kgen's data-space rule (`kgen.checks.to_data_space`): uint8 and
        uint16 images are converted, float images must lie in [-1, 1]. With
        ``strict=False`` (the likelihood estimates) float images are taken as they are,
        since dequantised images (`kgen.metrics.dequantize`) reach half a level past
        [-1, 1]. Vectors are taken as they are.
        """
        array = np.asarray(ops.convert_to_numpy(x))
        expected = checks.first_input_shape(self.encoder)
        images = array.ndim == 4 if expected is None else len(expected) == 4
        self._check_sample_shape(array, expected)
        if array.dtype in (np.uint8, np.uint16) or (images and strict):
            return checks.to_data_space(array, "samples")
        return checks.finite(array.astype("float32"), "samples")

    def _check_sample_shape(self, x, expected):
        """Raises a clear error when ``x`` is not a batch of samples of ``expected`` shape."""
        if expected is None:
            return  # an encoder without a known input shape checks its own inputs
        expected = tuple(expected[1:])
        if x.ndim == len(expected) + 1 and all(
                e is None or e == s for e, s in zip(expected, x.shape[1:])):
            return
        raise ValueError(
            f"This {type(self).__name__} models samples of shape {expected}; got an array of "
            f"shape {x.shape}. Pass a batch (n, {', '.join(str(e) for e in expected)}) of the "
            "data it was trained on.")

    def encode(self, x, batch_size=256, labels=None):
        """Mean and log-variance of ``q(z|x)`` for samples ``x`` (data space or uint8).

        Args:
            x: samples: uint8 images (converted to data space), float images in [-1, 1],
                or vectors.
            batch_size: samples encoded at once.
            labels: class indices, one per sample (or one integer for all), for
                `ConditionalVAE` only.

        Returns:
            ``(mean, log_variance)``, numpy arrays of shape ``(n, latent_dim)``.
        """
        x = self._as_input(x)
        labels = self._checked_labels(labels, len(x))
        out = self.encoder.predict(self._network_inputs(x, labels), batch_size=batch_size,
                                   verbose=0)
        if isinstance(out, (list, tuple)):
            return np.asarray(out[0]), np.asarray(out[1])
        return out[:, : self.latent_dim], out[:, self.latent_dim :]

    def decode(self, z, batch_size=256, labels=None):
        """The decoder's mean for latent vectors ``z``, in data space.

        Args:
            z: latent vectors ``(n, latent_dim)``.
            batch_size: vectors decoded at once.
            labels: class indices for `ConditionalVAE` (see `encode`).

        Returns:
            A float32 numpy array of ``n`` samples.
        """
        z = np.asarray(keras.ops.convert_to_numpy(z), dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (n, {self.latent_dim}); got {z.shape}.")
        labels = self._checked_labels(labels, len(z))
        decoded = self.decoder.predict(self._network_inputs(z, labels), batch_size=batch_size,
                                       verbose=0)
        return np.asarray(keras.ops.convert_to_numpy(self._mean_output(decoded)), "float32")

    def reconstruct(self, x, batch_size=256, labels=None):
        """Decodes the posterior mean of each sample of ``x``: a deterministic reconstruction.

        Args:
            x: samples, as for `encode`.
            batch_size: samples encoded and decoded at once.
            labels: class indices for `ConditionalVAE` (see `encode`).

        Returns:
            A float32 numpy array of the shape of ``x``, in data space.
        """
        mean, _ = self.encode(x, batch_size, labels=labels)
        return self.decode(mean, batch_size, labels=labels)

    # ------------------------------------------------------------- likelihood
    def importance_terms(self, x, eps, labels=None):
        """Log importance weights, ``log p(x|z)`` and the KL of ``x`` for the noise ``eps``.

        The latent samples are ``z_k = mean + exp(log_var / 2) * eps_k`` with the
        posterior ``q(z|x) = N(mean, diag(exp(log_var)))``, and the log weights are
        ``log p(x|z_k) + log p(z_k) - log q(z_k|x)``
        (`kgen.models.importance_weighted.log_importance_weights`): the terms of the
        estimates `log_likelihood`, `elbo` and `log_likelihood_bounds`.

        Args:
            x: samples in data space, ``(n, ...)`` (a tensor).
            eps: standard normal noise, ``(n, K, latent_dim)``.
            labels: class indices ``(n,)``, for `ConditionalVAE` only.

        Returns:
            ``(log_w, log_p_x_given_z, kl)``, tensors of shapes ``(n, K)``, ``(n, K)`` and
            ``(n,)``.

        Example:

        ```python
        import numpy as np
        import kgen

        vae = kgen.models.VAE.from_shape((2,), latent_dim=2, likelihood="gaussian")
        x = kgen.data.load("ring", num_samples=3)
        eps = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
        log_w, log_p_x_given_z, kl = vae.importance_terms(x, eps)   # (3, 5), (3, 5), (3,)
        ```

        References:
            Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
        """
        mean, log_var = self._posterior(x, training=False, labels=labels)
        k = ops.shape(eps)[1]
        labels_k = None if labels is None else ops.repeat(labels, k, axis=0)
        eps = ops.reshape(eps, (-1, self.latent_dim))
        mean_k = ops.repeat(mean, k, axis=0)
        log_var_k = ops.repeat(log_var, k, axis=0)
        z = mean_k + ops.exp(0.5 * log_var_k) * eps
        decoded = self.decoder(self._network_inputs(z, labels_k), training=False)
        log_p_x_given_z = -self.reconstruction_nll(ops.repeat(x, k, axis=0), decoded)
        log_w = importance_weighted.log_importance_weights(log_p_x_given_z, z, eps, log_var_k)
        return (ops.reshape(log_w, (-1, k)), ops.reshape(log_p_x_given_z, (-1, k)),
                losses.gaussian_kl(mean, log_var))

    def log_likelihood(self, x, num_samples=100, batch_size=4096, seed=None, labels=None):
        """Importance-weighted estimate of ``log p(x)`` per example, in nats (Burda et al. 2016).

        ``log p(x) ~= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)``, ``z_k ~ q(z|x)``: the
        IWAE bound with ``K = num_samples`` importance samples from the encoder. Its
        expectation is a lower bound on ``log p(x)`` that increases with ``K`` and tends to
        ``log p(x)`` as ``K`` grows; ``K = 1`` is a one-sample estimate of the ELBO
        (`elbo`). So ``-log_likelihood(x)`` is an (in expectation) upper bound on the
        negative log-likelihood, tighter than the negative ELBO.

        What the number means depends on the decoder:

        - ``"gaussian"``: ``log p(x)`` is a proper log-density of ``x`` in data space
          (per unit of ``[-1, 1]`` per dimension). Convert it to bits per dimension on the
          0..255 scale with `kgen.metrics.bits_per_dim` (``scale=127.5``); evaluate it on
          `kgen.metrics.dequantize`-d images to get a bound on the discrete likelihood.
        - ``"bernoulli"``: for binary data (pixels exactly -1 or 1) it is an exact
          log-probability of the binary image. For grey levels the targets ``t`` in
          [0, 1] make ``p(x|z)`` the unnormalised continuous-Bernoulli density
          ``prod_i p_i^t_i (1 - p_i)^(1 - t_i)`` (Loaiza-Ganem & Cunningham 2019), which
          does not integrate to 1 over [0, 1]: the value is then the model's training
          objective at its tightest, not a log-likelihood of the data, and cannot be
          compared with other models' likelihoods.

        ``beta`` does not enter: this is the likelihood of the model ``p(z) p(x|z)``.

        Args:
            x: samples, as uint8 images (scaled to data space) or data-space floats
                (dequantised images, which reach half a level past [-1, 1], are taken as
                they are).
            num_samples: importance samples ``K`` per example (Burda et al. use 5000).
            batch_size: latent samples decoded at once (examples times samples); larger is
                faster and takes more memory.
            seed: integer seed, a `keras.random.SeedGenerator`, or None for fresh noise.
                The same integer seed gives the same estimate on a given backend.
            labels: class indices, one per sample, for `ConditionalVAE` (which then
                estimates ``log p(x | y)``); an unconditional VAE takes none.

        Returns:
            float64 numpy array ``(n,)``: the estimate of ``log p(x)`` of each example, nats.

        Example:

        ```python
        import kgen

        test = kgen.data.load("digits", split="test")
        vae = kgen.models.VAE.from_shape(test.shape[1:], latent_dim=4, likelihood="gaussian")
        log_p = vae.log_likelihood(kgen.metrics.dequantize(test[:16], seed=0),
                                   num_samples=64, seed=0)
        kgen.metrics.bits_per_dim(-log_p.mean(), num_dims=64)
        ```

        References:
            Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
            Loaiza-Ganem & Cunningham, "The continuous Bernoulli: fixing a pervasive error
            in variational autoencoders", NeurIPS 2019.
        """
        return self.log_likelihood_bounds(x, num_samples, batch_size, seed, labels)[1]

    def elbo(self, x, num_samples=1, batch_size=4096, seed=None, labels=None):
        """The evidence lower bound ``E_q[log p(x|z)] - KL(q(z|x) || p(z))`` per example, nats.

        The reconstruction term is averaged over ``num_samples`` draws ``z ~ q(z|x)``; the
        KL term is exact (closed form). ``beta`` does not enter (this is the bound on
        ``log p(x)``, not the training loss when ``beta != 1``). See `log_likelihood` for
        what the value means for each decoder.

        Args:
            x: samples, as uint8 images or data-space floats.
            num_samples: draws of ``z`` per example for the reconstruction term.
            batch_size: latent samples decoded at once.
            seed: integer seed, a `keras.random.SeedGenerator`, or None.
            labels: class indices for `ConditionalVAE` (see `log_likelihood`).

        Returns:
            float64 numpy array ``(n,)``, nats.

        Example:

        ```python
        import kgen

        vae = kgen.models.VAE.from_shape((8, 8, 1), latent_dim=4)
        vae.elbo(kgen.data.load("digits", split="test")[:8], num_samples=16, seed=0)
        ```

        References:
            Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
        """
        return self.log_likelihood_bounds(x, num_samples, batch_size, seed, labels)[0]

    def log_likelihood_bounds(self, x, num_samples=100, batch_size=4096, seed=None,
                              labels=None):
        """The ELBO and the IWAE bound of ``log p(x)`` from the same ``K`` latent samples.

        One pass over the data gives both estimates: the ELBO (`elbo`: the mean of
        ``log p(x|z_k)`` over the ``K`` samples, minus the exact KL) and the IWAE estimate
        (`log_likelihood`). Their difference shows how much the importance weighting
        tightens the bound.

        Args:
            x: samples, as uint8 images or data-space floats.
            num_samples: latent samples ``K`` per example.
            batch_size: latent samples decoded at once.
            seed: integer seed, a `keras.random.SeedGenerator`, or None.
            labels: class indices for `ConditionalVAE` (see `log_likelihood`).

        Returns:
            ``(elbo, log_likelihood)``: float64 numpy arrays ``(n,)``, nats.

        Example:

        ```python
        import kgen

        vae = kgen.models.VAE.from_shape((8, 8, 1), latent_dim=4)
        elbo, log_p = vae.log_likelihood_bounds(kgen.data.load("digits")[:8], 32, seed=0)
        bool((log_p >= elbo).mean() > 0.5)
        ```

        References:
            Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
        """
        num_samples = checks.integer(num_samples, "num_samples", 1)
        batch_size = checks.integer(batch_size, "batch_size", 1)
        x = self._as_input(x, strict=False)
        labels = self._checked_labels(labels, len(x))
        samples = importance_weighted.importance_samples(
            self, self.importance_terms, x, num_samples, batch_size, seed, labels)
        return importance_weighted.bounds(*samples)

    def _latents(self, num_samples, seed, latents):
        """The latent vectors of ``generate()``: ``latents``, or drawn from the prior."""
        if latents is None:
            if num_samples is None:
                raise ValueError("Pass num_samples (or latents=) to generate().")
            return self.standard_normal((num_samples, self.latent_dim), seed)
        latents = np.asarray(ops.convert_to_numpy(latents), "float32")
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ValueError(f"latents must have shape (n, {self.latent_dim}); got "
                             f"{latents.shape}.")
        if num_samples is not None and num_samples != len(latents):
            raise ValueError("num_samples and the number of latents differ.")
        return latents

    def _generate(self, num_samples, *, seed=None, latents=None, batch_size=256):
        return self.decode(self._latents(num_samples, seed, latents), batch_size)

    def serving_inputs(self, num_samples=None, *, seed=None, latents=None, batch_size=256):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed)``
        uses: ``{"latent": ...}``, the latent vectors drawn from N(0, I) with ``seed``.

        Example:

        ```python
        import kgen
        vae = kgen.models.VAE.from_shape((8, 8, 1), latent_dim=4, base_filters=4)
        vae.serving_inputs(2, seed=0)["latent"].shape   # (2, 4)
        ```
        """
        return {"latent": self._latents(num_samples, seed, latents)}

    def serving_functions(self):
        """The sampler for `export_generator`: latent vectors to the decoder's mean.

        ``generate_from_latent(latent)`` equals ``generate(latents=latent)``;
        ``generate(seed, num_samples)`` draws the latent vectors from the prior N(0, I).
        """
        decoder = self.decoder

        def sample(z, labels=None):
            return self._mean_output(decoder(self._network_inputs(z, labels), training=False))

        return ServingFunctions(sample, [ServingInput("latent", (self.latent_dim,))], [decoder])

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, likelihood=self.likelihood,
                      sigma=self.sigma, beta=self.beta)
        return config


__all__ = ["VAE"]


def _build(data, **options):
    if len(data.shape) == 1:   # points: a density, not pixel intensities
        options.setdefault("likelihood", "gaussian")
    return VAE.from_shape(data.shape, **options)


#: The VAE options of the command line, shared with the conditional VAE.
VAE_OPTIONS = (
    registry.Option("latent_dim", int, "size of the latent vector", default=16),
    registry.Option("base_filters", int, "width of the encoder and decoder", default=32),
    registry.Option("likelihood", str, "the decoder's distribution (default: bernoulli for "
                    "images, gaussian for points)", choices=LIKELIHOODS),
    registry.Option("beta", float, "weight of the KL term", default=1.0),
)

registry.register(registry.Family(
    name="vae",
    model_class=VAE,
    summary="variational autoencoder: Bernoulli or Gaussian decoder, beta, "
            "importance-weighted likelihood",
    options=VAE_OPTIONS,
    build=_build,
    default_epochs=100,
    tiny={"latent_dim": 4, "base_filters": 4},
    metrics=("fid", "kid", "is", "pr", "modes", "nll"),
))
