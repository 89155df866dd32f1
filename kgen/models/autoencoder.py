"""Autoencoders: the variational autoencoder (Kingma & Welling 2014) and the deterministic,
optionally denoising, autoencoder (Vincent et al. 2008)."""

import math
import weakref

import keras
import numpy as np
from keras import ops

from kgen import backend, losses, networks
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.models.base import GenerativeModel, Update

_LIKELIHOODS = ("bernoulli", "gaussian")
_LOG_2PI = math.log(2.0 * math.pi)


def _seed_generator(seed):
    """A `keras.random.SeedGenerator` for an integer seed or None (or the one given)."""
    if isinstance(seed, keras.random.SeedGenerator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)
                        and seed >= 0):
        return keras.random.SeedGenerator(None if seed is None else int(seed))
    raise TypeError(
        f"seed must be a non-negative integer, a keras.random.SeedGenerator or None; "
        f"got {seed!r}.")


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _default_networks(owner, shape, encoder_outputs, latent_dim, base_filters):
    """The default encoder and decoder of `VAE` and `Autoencoder` for samples of ``shape``.

    Images get the DCGAN builders of `kgen.networks` without batch normalisation and with
    a linear output; vectors get MLPs with two hidden layers of ``4 * base_filters`` units.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        width = base_filters * 4
        encoder = networks.mlp(shape[0], encoder_outputs, (width, width), name="encoder")
        decoder = networks.mlp(latent_dim, shape[0], (width, width), name="decoder")
    elif len(shape) == 3:
        encoder = networks.dcgan_discriminator(
            shape, encoder_outputs, base_filters, batch_norm=False, activation="relu",
            name="encoder")
        decoder = networks.dcgan_generator(
            shape, latent_dim, base_filters, batch_norm=False, output_activation=None,
            name="decoder")
    else:
        raise ValueError(
            f"{owner}.from_shape takes an image shape (height, width, channels) or a vector "
            f"shape (dim,); got {shape}."
        )
    return encoder, decoder


def _latent_dim(decoder, latent_dim):
    """``latent_dim``, or the size of the decoder's input when it is None."""
    if latent_dim is None:
        try:
            latent_dim = int(decoder.input_shape[-1])
        except (AttributeError, TypeError, ValueError):
            raise ValueError(
                "latent_dim could not be inferred from the decoder's input: pass it."
            ) from None
    return latent_dim


def as_model_input(x):
    """Samples as float32 numpy: uint8 images are scaled to data space ([-1, 1])."""
    x = np.asarray(keras.ops.convert_to_numpy(x))
    if x.dtype == np.uint8:
        from kgen.data import to_data_space

        x = to_data_space(x)
    return x.astype("float32")


def check_sample_shape(model, network, x):
    """Raises a clear error when ``x`` is not a batch of the samples ``network`` takes."""
    try:
        expected = network.input_shape
    except (AttributeError, ValueError):
        return  # a network without a fixed input shape: let it check its inputs
    if isinstance(expected, list):
        expected = expected[0]
    expected = tuple(expected[1:])
    if x.ndim == len(expected) + 1 and all(
            e is None or e == s for e, s in zip(expected, x.shape[1:])):
        return
    raise ValueError(
        f"This {type(model).__name__} models samples of shape {expected}; got an array of "
        f"shape {x.shape}. Pass a batch (n, {', '.join(str(e) for e in expected)}) of the "
        "data it was trained on."
    )


# One compiled wrapper per VAE, kept outside the model so that it is neither tracked
# nor saved with it.
_IMPORTANCE_FUNCTIONS = weakref.WeakKeyDictionary()


class _ImportanceTerms(keras.Model):
    """`VAE._importance_terms` as a model, so ``predict_on_batch`` compiles it per backend."""

    def __init__(self, vae):
        super().__init__(name="vae_importance_terms")
        self.vae = vae
        self.built = True

    def call(self, inputs):
        x, eps, *labels = inputs
        return self.vae._importance_terms(x, eps, labels[0] if labels else None)


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
        latent_dim = _latent_dim(decoder, latent_dim)
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
        encoder, decoder = _default_networks(cls.__name__, shape, 2 * latent_dim, latent_dim,
                                             base_filters)
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
    def _as_input(self, x):
        return as_model_input(x)

    def encode(self, x, batch_size=256, labels=None):
        """Mean and log-variance of ``q(z|x)`` for samples ``x`` (data space or uint8).

        ``labels`` (class indices, one per sample) are for `ConditionalVAE` only.

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
        """The decoder's mean for latent vectors ``z``, in data space (``labels``: see `encode`)."""
        z = np.asarray(keras.ops.convert_to_numpy(z), dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (n, {self.latent_dim}); got {z.shape}.")
        labels = self._checked_labels(labels, len(z))
        decoded = self.decoder.predict(self._network_inputs(z, labels), batch_size=batch_size,
                                       verbose=0)
        return np.asarray(keras.ops.convert_to_numpy(self._mean_output(decoded)), "float32")

    def reconstruct(self, x, batch_size=256, labels=None):
        """Decodes the posterior mean of each sample of ``x``: a deterministic reconstruction."""
        mean, _ = self.encode(x, batch_size, labels=labels)
        return self.decode(mean, batch_size, labels=labels)

    # ------------------------------------------------------------- likelihood
    def _importance_terms(self, x, eps, labels=None):
        """Log importance weights, ``log p(x|z)`` and the KL of ``x`` for noise ``eps``.

        ``x``: (n, ...) in data space; ``eps``: (n, K, latent_dim) standard normal noise;
        ``z_k = mean + sigma * eps_k``. Returns ``(log_w, log_p_x_given_z, kl)`` of shapes
        (n, K), (n, K), (n,), where ``log_w = log p(x|z) + log p(z) - log q(z|x)``.
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
        log_p_z = -0.5 * ops.sum(ops.square(z) + _LOG_2PI, axis=-1)
        # (z - mean) / sigma is eps exactly, so log q(z|x) needs no division.
        log_q_z = -0.5 * ops.sum(ops.square(eps) + log_var_k + _LOG_2PI, axis=-1)
        log_w = ops.reshape(log_p_x_given_z + log_p_z - log_q_z, (-1, k))
        return log_w, ops.reshape(log_p_x_given_z, (-1, k)), losses.gaussian_kl(mean, log_var)

    def _importance_samples(self, x, num_samples, batch_size, seed, labels=None):
        """``(log_w, log_p_x_given_z, kl)`` of all of ``x`` as float64 numpy arrays.

        The noise is drawn with `keras.random.normal`; the rest runs as one compiled
        function (``predict_on_batch`` of a thin wrapper), on batches padded to one shape.
        """
        num_samples = _check_positive_int("num_samples", num_samples)
        batch_size = _check_positive_int("batch_size", batch_size)
        x = self._as_input(x)
        self._check_sample_shape(x)
        labels = self._checked_labels(labels, len(x))
        seed_generator = _seed_generator(seed)
        per_step = min(num_samples, batch_size)        # latent samples per example and call
        examples = min(len(x), max(1, batch_size // num_samples))
        function = _IMPORTANCE_FUNCTIONS.get(self)
        if function is None:
            function = _IMPORTANCE_FUNCTIONS[self] = _ImportanceTerms(self)
        log_w, log_px, kl = [], [], []
        for start in range(0, len(x), examples):
            batch = x[start:start + examples]
            size = len(batch)
            extra = [] if labels is None else [labels[start:start + examples]]
            if size < examples:   # pad to the common shape (one compilation)
                batch, *extra = [np.concatenate([part, np.repeat(part[-1:], examples - size, 0)])
                                 for part in [batch] + extra]
            w_chunks, p_chunks = [], []
            for _ in range(0, num_samples, per_step):
                eps = keras.random.normal((examples, per_step, self.latent_dim),
                                          seed=seed_generator)
                w, p, d = function.predict_on_batch([batch, ops.convert_to_numpy(eps)] + extra)
                w_chunks.append(np.asarray(w)[:size])
                p_chunks.append(np.asarray(p)[:size])
            log_w.append(np.concatenate(w_chunks, axis=1)[:, :num_samples])
            log_px.append(np.concatenate(p_chunks, axis=1)[:, :num_samples])
            kl.append(np.asarray(d)[:size])
        return tuple(np.concatenate(parts).astype("float64") for parts in (log_w, log_px, kl))

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
            x: samples, as uint8 images (scaled to data space) or data-space floats.
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
        log_w, log_p_x_given_z, kl = self._importance_samples(x, num_samples, batch_size, seed,
                                                              labels)
        # logsumexp of the weights relative to their maximum, so float32 loses nothing.
        top = log_w.max(axis=1, keepdims=True)
        relative = ops.logsumexp(ops.convert_to_tensor((log_w - top).astype("float32")), axis=1)
        relative = np.asarray(ops.convert_to_numpy(relative), "float64")
        log_likelihood = top[:, 0] + relative - math.log(log_w.shape[1])
        return log_p_x_given_z.mean(axis=1) - kl, log_likelihood

    def _check_sample_shape(self, x):
        check_sample_shape(self, self.encoder, x)

    def _generate(self, num_samples, *, seed=None, latents=None, batch_size=256):
        if latents is None:
            if num_samples is None:
                raise ValueError("Pass num_samples (or latents=) to generate().")
            latents = self.standard_normal((num_samples, self.latent_dim), seed)
        return self.decode(latents, batch_size)

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


_AE_LOSSES = ("mse", "bce")
_NOISES = (None, "gaussian", "masking")


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
        decoder: a Keras model from ``(latent_dim,)`` to the sample shape.
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
        if reconstruction not in _AE_LOSSES:
            raise ValueError(
                f"reconstruction must be one of {_AE_LOSSES}; got {reconstruction!r}.")
        if noise not in _NOISES:
            raise ValueError(f"noise must be one of {_NOISES}; got {noise!r}.")
        noise_level = float(noise_level)
        if noise_level < 0 or (noise == "masking" and noise_level >= 1):
            raise ValueError(
                "noise_level must be non-negative (a standard deviation) for Gaussian noise "
                f"and in [0, 1) (a probability) for masking; got {noise_level}.")
        latent_dim = _latent_dim(decoder, latent_dim)
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = _check_positive_int("latent_dim", latent_dim)
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
        self._ensure_built()

    @classmethod
    def from_shape(cls, shape, latent_dim=16, base_filters=32, **kwargs):
        """An autoencoder with the default networks of `VAE.from_shape` for ``shape``.

        Example:

        ```python
        import kgen
        ae = kgen.models.Autoencoder.from_shape((8, 8, 1), latent_dim=8,
                                                reconstruction="bce")
        ```
        """
        encoder, decoder = _default_networks(cls.__name__, shape, latent_dim, latent_dim,
                                             base_filters)
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
        decoded = self.decoder(self.encoder(self.corrupt(x, training), training=training),
                               training=training)
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
        """The codes ``f(x)`` of samples ``x`` (data space or uint8): ``(n, latent_dim)``."""
        x = as_model_input(x)
        check_sample_shape(self, self.encoder, x)
        return np.asarray(self.encoder.predict(x, batch_size=batch_size, verbose=0), "float32")

    def decode(self, z, batch_size=256):
        """The reconstructions ``g(z)`` of codes ``z``, in data space."""
        z = np.asarray(keras.ops.convert_to_numpy(z), dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"latents must have shape (n, {self.latent_dim}); got {z.shape}.")
        decoded = self.decoder.predict(z, batch_size=batch_size, verbose=0)
        return np.asarray(keras.ops.convert_to_numpy(self._output(decoded)), "float32")

    def reconstruct(self, x, batch_size=256):
        """``g(f(x))`` for clean samples ``x``."""
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
        if latents is None:
            if num_samples is None:
                raise ValueError("Pass num_samples (or latents=) to generate().")
            if float(ops.convert_to_numpy(self.latent_fitted)) == 0.0:
                raise ValueError(
                    "This Autoencoder has no distribution over its codes yet: call "
                    "fit_latent_gaussian(x_train) after training, or pass latents=.")
            eps = self.standard_normal((num_samples, self.latent_dim), seed)
            cholesky = np.asarray(ops.convert_to_numpy(self.latent_cholesky))
            latents = np.asarray(ops.convert_to_numpy(self.latent_mean)) + eps @ cholesky.T
        return self.decode(latents, batch_size)

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
