"""Denoising diffusion probabilistic models (Ho et al. 2020), with DDPM and DDIM sampling.

Options: linear or cosine noise schedules, noise / x0 / v prediction targets, min-SNR
loss weighting, class conditioning with classifier-free guidance, an exponential moving
average of the weights for sampling, and inpainting (with RePaint resampling).
"""

import keras
import numpy as np
from keras import ops

from kgen import backend, checks, samplers
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.models import registry
from kgen.models.base import GenerativeModel, Update
from kgen.models.ema import ExponentialMovingAverage
from kgen.precision import float32
from kgen.samplers.noise_schedule import PREDICTIONS, NoiseSchedule
from kgen.samplers.schedules import SCHEDULES

#: Loss weightings.
LOSS_WEIGHTINGS = (None, "min_snr")
#: What the network's timestep input holds (`Diffusion.network_timesteps`).
TIMESTEP_INPUTS = ("index", "fraction", "noise_std", "noise_variance")
#: The gamma of min-SNR weighting (Hang et al. 2023).
MIN_SNR_GAMMA = 5.0
#: The most bytes of sampling noise drawn at once: a long stochastic chain (DDPM over
#: 1000 timesteps) is run in blocks of steps, each with its own block of noise.
_NOISE_BLOCK_BYTES = 2 ** 26


@keras.saving.register_keras_serializable(package="kgen")
class Diffusion(GenerativeModel):
    """A denoising diffusion model trained with `fit()` and sampled with DDPM or DDIM.

    The forward process adds Gaussian noise to the data in ``timesteps`` steps,
    ``q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)``; the network learns to
    undo it. Each training step draws, per example, a timestep uniformly from
    ``0 .. T-1`` and noise ``eps``, makes ``x_t`` with `q_sample` and regresses the
    network's output on the chosen target (``eps``, ``x_0`` or
    ``v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0``) with the mean squared error,
    optionally weighted by min-SNR. After each step the exponential moving average of the
    weights (``ema_network``) is updated; `generate()` samples with it.

    The schedule's tables and formulas live in one `kgen.samplers.NoiseSchedule`,
    ``noise_schedule``, which the samplers walk too; the model's ``betas``,
    ``alphas_cumprod``, `q_sample`, `q_posterior` and ``predict_*`` methods are its.

    With ``num_classes`` the model is class-conditional: ``fit(x, y)`` with integer labels,
    of which a share ``label_dropout`` is replaced by the null label ``num_classes`` so
    that the same network is also the unconditional model. `generate(labels=...,
    guidance_scale=w)` then uses classifier-free guidance,
    ``eps = eps_uncond + w * (eps_cond - eps_uncond)``: ``w = 0`` is the unconditional
    model, ``w = 1`` the conditional one, ``w > 1`` trades diversity for fidelity.

    Logs: ``loss`` (the weighted mean squared error).

    **What the network receives.** kgen calls it on ``[x_t, t]`` (``[x_t, t, labels]``
    with ``num_classes``): ``x_t`` float32 ``(n, H, W, C)``, ``t`` float32 ``(n,)`` (or
    the shape of the network's second input, such as ``(n, 1, 1, 1)``) and ``labels``
    int32 ``(n,)``. What ``t`` holds is ``timestep_input``: the timestep index
    ``0 .. T-1`` by default (`kgen.networks.diffusion_unet` embeds it), its fraction
    ``t / T``, or the noise level of ``x_t``, ``sqrt(1 - alpha_bar_t)`` (``"noise_std"``)
    or ``1 - alpha_bar_t`` (``"noise_variance"``, what the keras-io DDIM network takes).
    A network built for one convention trains on another without an error, and learns
    a poor model: choose the one it was built for.

    Args:
        network: a Keras model from ``[x_t (H, W, C), t ()]`` (plus ``labels ()`` with
            ``num_classes``) to a prediction of the shape of ``x_t``, such as
            `kgen.networks.diffusion_unet` (see above for what it receives).
        timesteps: number of diffusion steps ``T``.
        schedule: ``"linear"`` (Ho et al. 2020) or ``"cosine"`` (Nichol & Dhariwal 2021)
            (`kgen.samplers.schedules`).
        prediction: what the network predicts: ``"epsilon"`` (the noise), ``"x0"`` (the
            clean data) or ``"v"`` (Salimans & Ho 2022).
        loss_weighting: None (every timestep weighs the same in the target's MSE) or
            ``"min_snr"`` (Hang et al. 2023, gamma 5: the weight of the equivalent x0
            loss is ``min(SNR, 5)``).
        num_classes: number of classes of a class-conditional model, or None.
        label_dropout: share of the training labels replaced by the null label.
        ema: decay of the moving average of the weights used for sampling (None: sample
            with the trained weights).
        ema_warmup: use the decay ``min(ema, (1 + n) / (10 + n))`` at step ``n``, so the
            average forgets the random initial weights within the first few hundred
            steps (a fixed 0.999 still holds 37% of them after 1,000 steps).
        timestep_input: what the network's timestep input holds: ``"index"`` (``t``,
            default), ``"fraction"`` (``t / T``), ``"noise_std"``
            (``sqrt(1 - alpha_bar_t)``) or ``"noise_variance"`` (``1 - alpha_bar_t``).
        seed: seed of the noise drawn in training steps.
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import kgen

    x = kgen.data.load("digits")[:256]
    model = kgen.models.Diffusion.from_shape(x.shape[1:], timesteps=100, base_filters=8,
                                             channel_multipliers=(1,), num_res_blocks=1)
    model.compile()
    model.fit(kgen.data.images(x), epochs=1, verbose=0)
    samples = model.generate(16, seed=0, sampler="ddim", steps=10)   # (16, 8, 8, 1)
    ```

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
        Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021.
        Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.
        Ho & Salimans, "Classifier-Free Diffusion Guidance", NeurIPS 2021 workshop.
        Salimans & Ho, "Progressive Distillation for Fast Sampling of Diffusion Models",
        ICLR 2022.
        Hang et al., "Efficient Diffusion Training via Min-SNR Weighting Strategy",
        ICCV 2023.
        Lugmayr et al., "RePaint: Inpainting using Denoising Diffusion Probabilistic
        Models", CVPR 2022.
    """

    optimizer_names = ("model",)
    log_names = ("loss",)
    network_names = ("network",)

    def __init__(self, network, timesteps=1000, schedule="linear", prediction="epsilon",
                 loss_weighting=None, num_classes=None, label_dropout=0.1, ema=0.999,
                 ema_warmup=True, timestep_input="index", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not isinstance(network, keras.layers.Layer):
            raise TypeError(f"network must be a Keras model; got {type(network).__name__}.")
        self.network = network
        self.timesteps = checks.integer(timesteps, "timesteps", minimum=2)
        self.schedule = schedule
        self.prediction = checks.one_of(prediction, "prediction", PREDICTIONS)
        self.loss_weighting = checks.one_of(loss_weighting, "loss_weighting", LOSS_WEIGHTINGS)
        self.num_classes = checks.optional_integer(num_classes, "num_classes", minimum=1)
        self.label_dropout = checks.number(label_dropout, "label_dropout", 0.0, 1.0,
                                           exclusive_maximum=True)
        self.timestep_input = checks.one_of(timestep_input, "timestep_input", TIMESTEP_INPUTS)
        self.sample_shape = self._check_network()
        #: The forward process and its math, shared with the samplers.
        self.noise_schedule = NoiseSchedule.from_name(schedule, self.timesteps)
        alphas_cumprod = self.noise_schedule.alphas_cumprod
        self._timestep_table = {
            "noise_std": np.sqrt(1.0 - alphas_cumprod),
            "noise_variance": 1.0 - alphas_cumprod,
        }.get(self.timestep_input)
        self._loss_weight = self._loss_weights().astype("float32")
        self.ema = ema
        self.ema_warmup = bool(ema_warmup)
        self._average = None if ema is None else ExponentialMovingAverage(network, ema)
        self.ema_network = None if ema is None else self._average.average
        self._compiled_samplers = {}
        self._ensure_built()

    # ---------------------------------------------------------------- set-up
    def _check_network(self):
        inputs = getattr(self.network, "inputs", None)
        expected = 2 if self.num_classes is None else 3
        if not inputs or len(inputs) != expected:
            raise ValueError(
                f"The network must be a built Keras model with {expected} inputs "
                f"([x_t, t]{', labels' if expected == 3 else ''}); got "
                f"{0 if not inputs else len(inputs)} input(s). kgen calls it on x_t "
                "float32 (n, H, W, C), t float32 (n,) (the timestep index 0..T-1, or what "
                "timestep_input says)"
                + (" and labels int32 (n,). A class-conditional model needs a network that "
                   "takes labels, such as kgen.networks.diffusion_unet(shape, "
                   "num_classes=...)." if expected == 3 else
                   ". A network that takes labels needs Diffusion(num_classes=...).")
            )
        return self._network_shapes(inputs)

    def _network_shapes(self, inputs):
        """The shape of ``x_t`` that the network takes and outputs (its timestep input and
        output checked); sets ``_timestep_shape``."""
        timestep_shape = tuple(inputs[1].shape[1:])
        if any(size != 1 for size in timestep_shape):
            raise ValueError(
                f"The network's second input takes the timestep, one number per example "
                f"(shape (), (1,) or (1, 1, 1)); it has shape {timestep_shape}.")
        self._timestep_shape = timestep_shape
        shape = tuple(inputs[0].shape[1:])
        if None in shape:
            raise ValueError(f"The network's image input needs a fixed shape; got {shape}.")
        out = tuple(self.network.output_shape[1:])
        if out != shape:
            raise ValueError(
                f"The network must output a prediction of the shape of x_t {shape}; its "
                f"output shape is {out}.")
        return shape

    def _loss_weights(self):
        """The weight of each timestep in the loss (float64): 1, or min-SNR's."""
        snr = self.noise_schedule.snr
        if self.loss_weighting != "min_snr":
            return np.ones_like(snr)
        clipped = np.minimum(snr, MIN_SNR_GAMMA)
        return {"epsilon": clipped / snr, "x0": clipped, "v": clipped / (snr + 1.0)}[
            self.prediction]

    @property
    def betas(self):
        """The variances ``beta_t`` of the schedule (float64 numpy, ``(T,)``)."""
        return self.noise_schedule.betas

    @property
    def alphas_cumprod(self):
        """``alpha_bar_t``, the share of the signal left at step ``t`` (float64 numpy)."""
        return self.noise_schedule.alphas_cumprod

    @classmethod
    def from_shape(cls, shape, num_classes=None, base_filters=None,
                   channel_multipliers=(1, 2, 2), num_res_blocks=2, attention_resolutions=None,
                   dropout=0.0, groups=8, network="unet", patch_size=None, width=None,
                   depth=None, num_heads=None, positions=None, **kwargs):
        """A diffusion model with a default network for ``shape``: a U-Net or a transformer.

        ``network="unet"`` (default) builds `kgen.networks.diffusion_unet` from the U-Net
        options (``base_filters`` to ``groups``); ``network="dit"`` builds the diffusion
        transformer `kgen.networks.diffusion_transformer` from the DiT options
        (``patch_size`` to ``positions``). Options of the other network are refused.

        Args:
            shape: image shape ``(height, width, channels)``.
            num_classes: number of classes of a class-conditional model, or None.
            base_filters: channels of the U-Net's first level (default 32 up to 16x16
                images, 64 above).
            channel_multipliers: channels of each level, as multiples of ``base_filters``
                (`kgen.networks.diffusion_unet`).
            num_res_blocks: residual blocks per level.
            attention_resolutions: feature-map sizes (height) with self-attention
                (`kgen.networks.diffusion_unet`'s default when None).
            dropout: dropout rate inside the residual blocks.
            groups: groups of the group normalisations.
            network: ``"unet"`` or ``"dit"``.
            patch_size: the DiT's patch side (default 2).
            width: the DiT's token size (default 128).
            depth: the DiT's number of blocks (default 4).
            num_heads: the DiT's attention heads (default 4).
            positions: the DiT's position encoding, ``"sinusoidal"`` (default) or
                ``"learned"``.
            **kwargs: passed to the constructor (``timesteps``, ``schedule``,
                ``prediction``, ``loss_weighting``, ``label_dropout``, ``ema``, ``seed``).

        Raises:
            ValueError: an unknown ``network``, or options of the other network.

        Example:

        ```python
        import kgen
        model = kgen.models.Diffusion.from_shape((8, 8, 1), num_classes=10, base_filters=16)
        dit = kgen.models.Diffusion.from_shape((8, 8, 1), network="dit", width=16, depth=2)
        ```
        """
        from kgen.networks.diffusion_transformer import diffusion_transformer
        from kgen.networks.diffusion_unet import diffusion_unet

        shape = tuple(int(s) for s in shape)
        if len(shape) != 3:
            raise ValueError(
                f"Diffusion.from_shape takes an image shape (height, width, channels); got "
                f"{shape}.")
        checks.one_of(network, "network", ("unet", "dit"))
        dit = {"patch_size": patch_size, "width": width, "depth": depth,
               "num_heads": num_heads, "positions": positions}
        unet = {"base_filters": (base_filters, None),
                "channel_multipliers": (channel_multipliers, (1, 2, 2)),
                "num_res_blocks": (num_res_blocks, 2),
                "attention_resolutions": (attention_resolutions, None),
                "dropout": (dropout, 0.0), "groups": (groups, 8)}
        if network == "dit":
            given = sorted(name for name, (value, default) in unet.items()
                           if value is not None and (tuple(value) != default
                                                     if isinstance(value, (list, tuple))
                                                     else value != default))
            if given:
                raise ValueError(f"{given} are options of the U-Net; network='dit' takes "
                                 f"{sorted(dit)}.")
            options = {name: value for name, value in dit.items() if value is not None}
            network = diffusion_transformer(shape, num_classes=num_classes, **options)
            return cls(network=network, num_classes=num_classes, **kwargs)
        given = sorted(name for name, value in dit.items() if value is not None)
        if given:
            raise ValueError(f"{given} are options of the diffusion transformer: pass "
                             "network='dit' with them.")
        base_filters = checks.optional_integer(base_filters, "base_filters", 1)
        width = base_filters or (32 if max(shape[:2]) <= 16 else 64)
        network = diffusion_unet(shape, base_filters=width,
                                 channel_multipliers=channel_multipliers,
                                 num_res_blocks=num_res_blocks,
                                 attention_resolutions=attention_resolutions,
                                 num_classes=num_classes, dropout=dropout, groups=groups)
        return cls(network=network, num_classes=num_classes, **kwargs)

    def default_optimizer(self, name):
        # Ho et al. 2020: Adam with learning rate 2e-4.
        return keras.optimizers.Adam(learning_rate=2e-4)

    @property
    def sampling_network(self):
        """The network `generate()` runs: ``ema_network`` with ``ema``, else ``network``."""
        return self.network if self.ema_network is None else self.ema_network

    def call(self, inputs, training=False):
        return self.sampling_network(inputs, training=training)

    # ------------------------------------------------------ the forward process
    def q_sample(self, x0, t, noise):
        """``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise``, a draw of ``q(x_t | x_0)``.

        Args:
            x0: clean data, ``(n, ...)``.
            t: integer timesteps, ``(n,)``, in ``0 .. T-1``.
            noise: standard normal noise of the shape of ``x0``.
        """
        return self.noise_schedule.q_sample(x0, t, noise)

    def q_posterior(self, x0, x_t, t):
        """The Gaussian ``q(x_{t-1} | x_t, x_0)``: ``(mean, variance, log_variance)``.

        The log variance at ``t = 0`` (where the variance is 0) is clipped to its value
        at ``t = 1``, as in Ho et al. (2020).
        """
        return self.noise_schedule.q_posterior(x0, x_t, t)

    # -------------------------------------------------------- parameterisations
    def predict_start_from_noise(self, x_t, t, noise):
        """``x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)``."""
        return self.noise_schedule.predict_start_from_noise(x_t, t, noise)

    def predict_noise_from_start(self, x_t, t, x0):
        """``eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t)``."""
        return self.noise_schedule.predict_noise_from_start(x_t, t, x0)

    def predict_v(self, x0, t, noise):
        """The velocity ``v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0`` (Salimans & Ho 2022)."""
        return self.noise_schedule.predict_v(x0, t, noise)

    def predict_start_from_v(self, x_t, t, v):
        """``x_0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v``."""
        return self.noise_schedule.predict_start_from_v(x_t, t, v)

    def predict_noise_from_v(self, x_t, t, v):
        """``eps = sqrt(1 - alpha_bar_t) x_t + sqrt(alpha_bar_t) v``."""
        return self.noise_schedule.predict_noise_from_v(x_t, t, v)

    def target(self, x0, t, noise):
        """What the network is trained to output: ``eps``, ``x_0`` or ``v``."""
        return self.noise_schedule.target(self.prediction, x0, t, noise)

    # ------------------------------------------------------------- the network
    def network_timesteps(self, t):
        """What the network's timestep input receives for timesteps ``t`` (``timestep_input``).

        ``t`` itself (``"index"``), ``t / T`` (``"fraction"``), ``sqrt(1 - alpha_bar_t)``
        (``"noise_std"``) or ``1 - alpha_bar_t`` (``"noise_variance"``), float32, shaped
        like the network's second input (``(n,)``, or ``(n, 1, 1, 1)`` for a network that
        takes that).

        Example:

        ```python
        import kgen
        model = kgen.models.Diffusion.from_shape((8, 8, 1), timesteps=10, base_filters=8,
                                                 schedule="cosine", timestep_input="fraction")
        model.network_timesteps([0, 5])   # [0.0, 0.5]
        ```
        """
        t = ops.cast(ops.convert_to_tensor(t), "float32")
        if self.timestep_input == "fraction":
            t = t / float(self.timesteps)
        elif self.timestep_input != "index":
            table = ops.convert_to_tensor(self._timestep_table.astype("float32"))
            t = ops.take(table, ops.cast(t, "int32"))
        return ops.reshape(t, (-1,) + self._timestep_shape)

    def denoise(self, x_t, t, labels=None, guidance_scale=None, training=False, network=None):
        """The network's raw output for ``x_t`` at timesteps ``t`` (with guidance).

        Args:
            x_t: noisy data ``(n, ...)``.
            t: timesteps ``(n,)`` (given to the network as `network_timesteps`).
            labels: int labels ``(n,)`` for a class-conditional model (None: the null
                label, the unconditional model).
            guidance_scale: None, or ``w`` of ``out_uncond + w (out_cond - out_uncond)``.
            training: run the network in training mode.
            network: the network to run (default `sampling_network`).

        Returns:
            A float32 tensor like ``x_t``, whatever the network's dtype policy (the
            losses, the schedule and the samplers compute in float32).
        """
        selected = self.sampling_network if network is None else network

        def network(inputs, training):
            return float32(selected(inputs, training=training))

        x_t = ops.convert_to_tensor(x_t)
        t = self.network_timesteps(t)
        if self.num_classes is None:
            return network([x_t, t], training=training)
        null = ops.full((ops.shape(x_t)[0],), self.num_classes, dtype="int32")
        if labels is None:
            return network([x_t, t, null], training=training)
        labels = ops.cast(labels, "int32")
        conditional = network([x_t, t, labels], training=training)
        if guidance_scale is None:
            return conditional
        unconditional = network([x_t, t, null], training=training)
        return unconditional + ops.cast(guidance_scale, x_t.dtype) * (conditional - unconditional)

    def model_predictions(self, x_t, t, labels=None, guidance_scale=None, network=None):
        """The network's ``(eps, x_0)`` predictions for ``x_t`` at timesteps ``t``.

        The network's output (`denoise`) is read as the model's ``prediction``
        (`kgen.samplers.NoiseSchedule.noise_and_start`); the samplers' loops call this.

        Args:
            x_t: noisy data ``(n, ...)``.
            t: timesteps ``(n,)``, or one scalar timestep for every example (a
                sampler's step).
            labels: int labels ``(n,)`` of a class-conditional model (`denoise`).
            guidance_scale: None, or the classifier-free guidance ``w`` (`denoise`).
            network: the network to run (default `sampling_network`).
        """
        t = ops.convert_to_tensor(t)
        steps = t
        if len(t.shape) == 0:
            steps = ops.ones((ops.shape(x_t)[0],), "float32") * ops.cast(t, "float32")
        output = self.denoise(x_t, steps, labels, guidance_scale, network=network)
        return self.noise_schedule.noise_and_start(self.prediction, output, x_t, t)

    # ------------------------------------------------------------- training
    def p_losses(self, x0, t, noise, labels=None, training=False):
        """The (weighted) mean squared error of the trained network's prediction at ``t``.

        Args:
            x0: clean data ``(n, ...)``; t: timesteps ``(n,)``; noise: like ``x0``.
            labels: int labels ``(n,)`` (the null label ``num_classes`` allowed) for a
                class-conditional model.
            training: run the network in training mode.
        """
        x0, noise = ops.convert_to_tensor(x0), ops.convert_to_tensor(noise)
        x_t = self.q_sample(x0, t, noise)
        # replayed_network: on PyTorch a replay of a trace of the network (gradients flow
        # through it); the network itself on JAX and TensorFlow.
        output = self.denoise(x_t, t, labels, training=training,
                              network=backend.replayed_network(self.network))
        error = ops.square(output - self.target(x0, t, noise))
        per_example = ops.mean(ops.reshape(error, (ops.shape(error)[0], -1)), axis=-1)
        weight = ops.take(ops.convert_to_tensor(self._loss_weight), ops.cast(t, "int32"))
        return ops.mean(weight * per_example)

    def _check_batch(self, x, y):
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(
                f"The model takes images of shape {self.sample_shape}; got a batch of shape "
                f"{tuple(x.shape)}. Resize the data or build the model with "
                f"Diffusion.from_shape({tuple(x.shape[1:])}).")
        if y is not None and self.num_classes is None:
            raise ValueError(
                "Labels were given but the model is unconditional: build it with "
                "num_classes=... (Diffusion.from_shape(shape, num_classes=10)), or fit(x) "
                "without labels.")
        if y is None and self.num_classes is not None:
            raise ValueError(
                f"The model is class-conditional (num_classes={self.num_classes}): train it "
                "on (images, labels), with fit(x, y) or kgen.data.images(x, labels=y).")

    def diffusion_loss(self, x, y=None, training=True):
        """The training loss on a batch: random timesteps and noise, labels dropped out."""
        self._check_batch(x, y)
        x0 = self.training_data(x, training)
        n = ops.shape(x0)[0]
        seed = self.seed_generator
        t = backend.batch_noise(lambda shape: keras.random.randint(
            shape, 0, self.timesteps, dtype="int32", seed=seed), (n,))
        noise = backend.batch_noise(
            lambda shape: keras.random.normal(shape, dtype=x0.dtype, seed=seed),
            ops.shape(x0))
        labels = self.training_condition(x, y, training)
        loss = self.p_losses(x0, t, noise, labels, training=training)
        return loss, {"loss": loss}

    def training_data(self, x, training=True):
        """``x0``, what the forward process noises, of a batch ``x``: the batch itself here
        (a subclass may diffuse another representation of the data, such as latents)."""
        return x

    def training_condition(self, x, y, training=True):
        """What the network is conditioned on for a training batch (`denoise`'s ``labels``).

        Here the labels ``y``, of which a share ``label_dropout`` is replaced by the null
        label (None for an unconditional model); a subclass may condition on something
        else (a caption).
        """
        if self.num_classes is None:
            return None
        labels = ops.reshape(ops.cast(y, "int32"), (-1,))
        if self.label_dropout > 0:
            drop = backend.batch_noise(
                lambda shape: keras.random.uniform(shape, seed=self.seed_generator),
                (ops.shape(x)[0],)) < self.label_dropout
            labels = ops.where(drop, self.num_classes, labels)
        return labels

    def training_updates(self):
        return [Update("model", self.diffusion_loss, self.network.trainable_variables)]

    def after_updates(self, x, y):
        if self._average is None:
            return
        decay = None
        if self.ema_warmup:
            step = ops.cast(self.optimizer.iterations, "float32")
            decay = ops.minimum(self.ema, (1.0 + step) / (10.0 + step))
        self._average.update(decay)

    def check_labels(self, labels, num_samples=None):
        """``labels`` as an int32 array of class indices in ``0 .. num_classes - 1``.

        The semantics of `kgen.checks.labels`: an integer, ``(n,)`` or ``(n, 1)``
        integers, or whole-number floats; one-hot rows and fractions are refused.
        """
        if self.num_classes is None:
            raise ValueError(
                "labels= was given but the model is unconditional: build it with "
                "num_classes=... to condition on classes.")
        return checks.labels(labels, self.num_classes, num_samples)

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, with array images and labels checked first."""
        if isinstance(x, np.ndarray):
            self._check_batch(x, y)
        if y is not None and not isinstance(y, (int, float)) and np.ndim(y) >= 1:
            self.check_labels(y)
        return super().fit(x, y, *args, **kwargs)

    # ------------------------------------------------------------- sampling
    def _predictor(self, network, labels, guidance_scale):
        """``predict(x, t)`` of a sampler's loop: `model_predictions` at one timestep ``t``."""
        def predict(x, t):
            return self.model_predictions(x, t, labels, guidance_scale, network=network)

        return predict

    def _sampling_function(self, sampler, conditional, guided, inpaint, resample, record,
                           in_parts=False):
        key = (sampler.cache_key(), conditional, guided, inpaint, resample, record, in_parts)
        if key not in self._compiled_samplers:
            network = backend.replayed_network(self.sampling_network)
            stochastic = sampler.noise_draws(inpaint, resample) > 0

            def run(x_t, first, count, noise, labels, guidance_scale, known, mask):
                predict = self._predictor(network, labels if conditional else None,
                                          guidance_scale if guided else None)
                # A deterministic loop runs the whole chain in one call, unless it is asked
                # for in parts (`sampling_steps`).
                part = {}
                if stochastic or in_parts:
                    part = {"noise": noise if stochastic else None, "first": first,
                            "count": count}
                return sampler.sample(
                    x_t, predict, self.noise_schedule, known=known if inpaint else None,
                    mask=mask if inpaint else None, resample=resample, record=record, **part)

            self._compiled_samplers[key] = backend.compile_function(
                run, self._sampling_variables())
        return self._compiled_samplers[key]

    def _sampling_variables(self):
        """The variables the compiled sampling loop reads (the sampling network's)."""
        return self.sampling_network.variables

    def _inpainting_inputs(self, images, mask, count):
        if (images is None) != (mask is None):
            raise ValueError("Inpainting needs both images= (the known images) and mask= "
                             "(1 where a pixel is known, 0 where it is generated).")
        images = checks.data_space_images(images, self.sample_shape, "images", "Diffusion")
        mask = np.asarray(keras.ops.convert_to_numpy(mask)).astype("float32")
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError("mask must hold only 0 (generate) and 1 (keep) values.")
        try:
            mask = np.broadcast_to(mask, images.shape).copy()
        except ValueError:
            raise ValueError(
                f"mask of shape {mask.shape} does not broadcast to the images' shape "
                f"{images.shape}; give (H, W, 1), (H, W, C) or one per image.") from None
        if count is not None and count != len(images):
            if len(images) != 1:
                raise ValueError(f"Got {len(images)} images for {count} samples.")
            images = np.repeat(images, count, axis=0)
            mask = np.repeat(mask, count, axis=0)
        return images, mask

    def _sample(self, num_samples, seed, sampler, steps, eta, labels, guidance_scale,
                images, mask, resample, batch_size, record):
        """The samples, or with ``record`` every frame of the chain."""
        for _, x, frames in self._sampling_parts(
                num_samples, seed, sampler, steps, eta, labels, guidance_scale, images, mask,
                resample, batch_size, record, every=None):
            pass
        return np.concatenate(frames, axis=0) if record else x

    def _sampling_parts(self, num_samples, seed, sampler, steps, eta, labels, guidance_scale,
                        images, mask, resample, batch_size, record, every):
        """Runs the chain in parts; yields ``(steps done, samples, frames so far)`` after
        each (every ``every`` steps, or the largest parts the noise allows when None)."""
        sampler = self._sampler(sampler, steps, eta)
        sampler.timesteps(self.timesteps)   # checks the sampler fits the model
        resample = checks.integer(resample, "resample", minimum=1)
        batch_size = checks.integer(batch_size, "batch_size", minimum=1)
        guidance_scale = checks.optional_number(guidance_scale, "guidance_scale")
        inpaint = images is not None or mask is not None
        if inpaint:
            images, mask = self._inpainting_inputs(images, mask, num_samples)
            num_samples = len(images)
        elif resample != 1:
            raise ValueError("resample= is for inpainting: pass images= and mask= too.")
        if labels is not None and num_samples is None and np.ndim(labels) > 0:
            num_samples = len(labels)
        if num_samples is None:
            raise ValueError("Pass num_samples (or labels=, or images= and mask=) to generate().")
        if labels is not None:
            labels = self.check_labels(labels, num_samples)
        elif guidance_scale is not None:
            raise ValueError(
                "guidance_scale= needs labels=: guidance moves the samples towards the given "
                "classes (labels=None samples the unconditional model).")
        guided = guidance_scale is not None and guidance_scale != 1
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2 ** 31 - 1))
        x = self.standard_normal((num_samples,) + self.sample_shape, seed)
        draws = sampler.noise_draws(inpaint, resample)
        streams = [np.random.default_rng([seed, 3, i]) for i in range(num_samples)]
        if inpaint:
            start = np.stack([stream.standard_normal(self.sample_shape, dtype="float32")
                              for stream in streams])
            x = np.asarray(keras.ops.convert_to_numpy(sampler.inpainting_start(
                x, self.noise_schedule, images, mask, start)), "float32")
        in_parts = every is not None and not draws
        if in_parts and sampler.multistep:
            raise ValueError(
                f"{type(sampler).__name__} runs its whole chain in one call: it cannot show "
                "the samples along the way; use sampler='ddim' or 'ddpm' with "
                "sampling_steps().")
        function = self._sampling_function(sampler, labels is not None, guided, inpaint,
                                           resample, record, in_parts)
        num_steps = len(sampler.timesteps(self.timesteps))
        block = num_steps
        if draws:
            size = 4 * draws * num_samples * int(np.prod(self.sample_shape))
            block = max(1, min(num_steps, _NOISE_BLOCK_BYTES // size))
        if every is not None:
            block = min(block, every)
        frames = [x[None]] if record else []
        for first in range(0, num_steps, block):
            count = min(block, num_steps - first)
            noise = np.zeros((1,), "float32")
            if draws:
                # Sample i's noise comes from its own stream: it does not depend on the
                # number of samples, the batch size or the blocks.
                noise = np.zeros((block, draws, num_samples) + self.sample_shape, "float32")
                noise[:count] = np.stack([
                    stream.standard_normal((count, draws) + self.sample_shape, dtype="float32")
                    for stream in streams], axis=2)
            outputs = []
            for start in range(0, num_samples, batch_size):
                part = slice(start, start + batch_size)
                outputs.append(keras.ops.convert_to_numpy(function(
                    x[part], np.int32(first), np.int32(count),
                    noise[:, :, part] if draws else noise,
                    labels[part] if labels is not None else np.zeros(len(x[part]), "int32"),
                    np.float32(1.0 if guidance_scale is None else guidance_scale),
                    images[part] if inpaint else x[part],
                    mask[part] if inpaint else x[part],
                )))
            if record:
                out = np.concatenate(outputs, axis=1)
                frames.append(out[1:count + 1])
                x = out[count]
            else:
                x = np.concatenate(outputs, axis=0)
            yield first + count, x, frames

    def _generate(self, num_samples, *, seed=None, sampler="ddim", steps=None, eta=None,
                  labels=None, guidance_scale=None, images=None, mask=None, resample=1,
                  batch_size=256):
        """Samples from the reverse process.

        Args:
            num_samples: number of samples (may be left out with ``labels=`` or ``images=``).
            seed: the seed of the starting noise and of the noise drawn along the way.
            sampler: ``"ddim"`` (default), ``"ddpm"``, ``"dpm++"`` (DPM-Solver++(2M),
                deterministic, `kgen.samplers.DPMSolver`) or a `kgen.samplers.Sampler`.
            steps: DDIM steps (default 50) or DPM-Solver++ steps (default 20), or every
                timestep of a shorter chain.
            eta: DDIM's noise, from 0 (the default, deterministic) to 1.
            labels: class labels (an integer or one per sample) of a class-conditional
                model; None samples its unconditional model (the null label).
            guidance_scale: classifier-free guidance ``w`` (needs ``labels``): 0 is the
                unconditional model, 1 (the default) the conditional one.
            images, mask: inpainting: known images (data space or uint8) and a mask, 1
                where a pixel is known; the known pixels are kept exactly.
            resample: RePaint resampling, each step done this many times.
            batch_size: samples per compiled call.
        """
        return self._sample(num_samples, seed, sampler, steps, eta, labels, guidance_scale,
                            images, mask, resample, batch_size, record=False)

    def denoising_trajectory(self, num_samples=None, *, seed=None, sampler="ddim", steps=None,
                             eta=None, labels=None, guidance_scale=None, images=None,
                             mask=None, resample=1, batch_size=256):
        """The samples at every timestep of the reverse chain, from noise to data.

        Takes the arguments of `generate()`; the last frame equals ``generate()``'s output
        for the same arguments.

        Returns:
            ``(timesteps, frames)``: the timesteps visited (``-1`` marks the end, the
            data), and a float32 array ``(len(timesteps), n, ...)`` whose first frame is
            the starting noise.

        Example:

        ```python
        import kgen
        model = kgen.models.Diffusion.from_shape((8, 8, 1), timesteps=100, base_filters=8)
        t, frames = model.denoising_trajectory(4, seed=0, steps=10)   # frames: (11, 4, 8, 8, 1)
        ```
        """
        sampler = self._sampler(sampler, steps, eta)
        visited = np.append(sampler.timesteps(self.timesteps), -1)
        frames = self._sample(num_samples, seed, sampler, None, None, labels, guidance_scale,
                              images, mask, resample, batch_size, record=True)
        return visited, np.asarray(frames, dtype="float32")

    def sampling_steps(self, num_samples=None, *, every=10, seed=None, sampler="ddim",
                       steps=None, eta=None, labels=None, guidance_scale=None, images=None,
                       mask=None, resample=1, batch_size=256):
        """Samples step by step: yields the samples along the chain as they are made.

        Takes the arguments of `generate()`, and runs the same chain in parts of
        ``every`` steps, each part one compiled call; after each part it yields
        ``(timestep, samples)``: the timestep the samples are at (``-1`` for the data)
        and a float32 array in data space. The last samples equal ``generate()``'s for
        the same arguments. For a progress display, a preview, or stopping early.
        DPM-Solver++ runs its chain in one call and is refused.

        Args:
            every: steps per part (an integer, at least 1).

        Example:

        ```python
        import kgen
        model = kgen.models.Diffusion.from_shape((8, 8, 1), timesteps=100, base_filters=8)
        for t, x in model.sampling_steps(4, seed=0, steps=10, every=5):
            print(t, x.shape)   # 44 (4, 8, 8, 1), then -1 (4, 8, 8, 1)
        ```
        """
        every = checks.integer(every, "every", 1)
        if num_samples is not None:
            num_samples = checks.integer(num_samples, "num_samples", 1)
        seed = checks.seed(seed)
        chosen = self._sampler(sampler, steps, eta)
        visited = np.append(chosen.timesteps(self.timesteps), -1)
        for done, x, _ in self._sampling_parts(
                num_samples, seed, sampler, steps, eta, labels, guidance_scale, images, mask,
                resample, batch_size, False, every):
            yield int(visited[done]), np.asarray(x, "float32")

    @property
    def clips_denoised(self):
        """Whether a sampler that leaves ``clip_denoised`` to the model (None, the default)
        clips the predicted clean data to ``[-1, 1]``: True, the chain runs on images
        (`kgen.models.TextDiffusion` in an autoencoder's latent space: False)."""
        return True

    def _sampler(self, sampler, steps, eta):
        """The sampler of ``sampler``, ``steps`` and ``eta`` (`kgen.samplers.get`), with
        ``clip_denoised`` decided by `clips_denoised` when the sampler leaves it open."""
        chosen = samplers.get(sampler, self._default_steps(sampler, steps), eta)
        if chosen.clip_denoised and not self.clips_denoised:
            raise ValueError(
                f"{chosen!r} clips the predicted clean data to [-1, 1], the range of images, "
                "but this model's chain runs on an autoencoder's latents, scaled to unit "
                "variance and not bounded by 1: clipping them changes the images. Leave "
                "clip_denoised unset (None: the model decides) or pass clip_denoised=False.")
        return chosen.resolved(self.clips_denoised)

    def _default_steps(self, sampler, steps):
        """The steps of a sampler named: as given, else DDIM's 50 or DPM-Solver++'s 20, or
        every timestep of a shorter chain."""
        if steps is None and sampler in ("ddim", "dpm++"):
            return min(50 if sampler == "ddim" else 20, self.timesteps)
        return steps

    def serving_functions(self, steps=None, guidance_scale=None):
        """The sampler for `export_generator`: the whole DDIM loop (eta 0) from ``x_T``.

        The SavedModel's ``generate_from_latent(latent)`` takes the starting noise
        ``x_T`` (``(N,) + sample_shape``; with ``labels`` for a class-conditional model)
        and runs the deterministic DDIM sampler: it equals
        ``generate(seed=s, sampler="ddim", steps=steps, eta=0, labels=labels,
        guidance_scale=guidance_scale)`` when ``latent`` is the starting noise of seed
        ``s``, ``standard_normal((N,) + sample_shape, s)``. ``generate(seed, num_samples)``
        draws ``x_T`` (and the labels) in the graph.

        Args:
            steps: DDIM steps of the exported loop (default 50, or every timestep of a
                chain of fewer than 50).
            guidance_scale: classifier-free guidance ``w`` of a class-conditional model,
                fixed in the SavedModel (None: the conditional model, ``w = 1``).

        References:
            Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.
        """
        sampler = self._sampler("ddim", steps, 0.0)
        sampler.timesteps(self.timesteps)   # checks the steps fit the model
        if guidance_scale is not None and self.num_classes is None:
            raise ValueError("guidance_scale is for a class-conditional model (num_classes).")
        guided = guidance_scale is not None and guidance_scale != 1
        guidance = float(guidance_scale) if guided else None
        network = self.sampling_network

        def sample(x_t, labels=None):
            predict = self._predictor(network, labels, guidance)
            return sampler.sample(x_t, predict, self.noise_schedule)

        inputs = [ServingInput("latent", self.sample_shape)]
        if self.num_classes is not None:
            inputs.append(ServingInput("labels", (), "int32", noise="categorical",
                                       classes=self.num_classes))
        return ServingFunctions(sample, inputs, [network])

    def serving_inputs(self, num_samples=None, *, seed=None, sampler="ddim", steps=None,
                       eta=None, labels=None, guidance_scale=None, images=None, mask=None,
                       resample=1, batch_size=256):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed,
        steps=steps, labels=labels, guidance_scale=guidance_scale)`` uses: ``{"latent":
        ...}``, the starting noise ``x_T`` of ``seed``, and the ``labels`` of a
        class-conditional model.

        The SavedModel runs deterministic DDIM (`serving_functions`), so only the
        ``generate()`` calls that sample that way have inputs: ``sampler="ddim"`` with
        ``eta`` 0, no inpainting and, for a class-conditional model, labels.
        ``steps`` and ``guidance_scale`` are fixed in the SavedModel (its export
        options): give ``generate()`` the same values.

        Example:

        ```python
        import kgen
        model = kgen.models.Diffusion.from_shape((8, 8, 1), timesteps=20, base_filters=8,
                                                 schedule="cosine")
        model.serving_inputs(2, seed=0)["latent"].shape   # (2, 8, 8, 1)
        ```
        """
        if sampler != "ddim" or eta not in (None, 0, 0.0) or images is not None \
                or mask is not None or resample != 1:
            raise ValueError(
                "The exported sampler is deterministic DDIM (sampler='ddim', eta=0) without "
                "inpainting: only those generate() calls have SavedModel inputs.")
        if labels is not None and num_samples is None and np.ndim(labels) > 0:
            num_samples = len(labels)
        num_samples = checks.integer(num_samples, "num_samples", minimum=1)
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2 ** 31 - 1))
        inputs = {"latent": self.standard_normal((num_samples,) + self.sample_shape, seed)}
        if self.num_classes is not None:
            if labels is None:
                raise ValueError(
                    "The SavedModel of a class-conditional model samples given classes: pass "
                    "labels= (generate() without labels samples the unconditional model, "
                    "which is not exported).")
            inputs["labels"] = self.check_labels(labels, num_samples)
        elif labels is not None:
            self.check_labels(labels, num_samples)   # refused: the model is unconditional
        return inputs

    def get_config(self):
        config = super().get_config()
        config.update(timesteps=self.timesteps, schedule=self.schedule,
                      prediction=self.prediction, loss_weighting=self.loss_weighting,
                      num_classes=self.num_classes, label_dropout=self.label_dropout,
                      ema=self.ema, ema_warmup=self.ema_warmup,
                      timestep_input=self.timestep_input)
        return config


__all__ = ["Diffusion"]


def _build(data, ema=None, **options):
    if data.num_classes is not None:
        options.setdefault("num_classes", data.num_classes)
    if ema is not None:
        options["ema"] = None if ema == 0 else ema
    return Diffusion.from_shape(data.shape, **options)


#: The options of the diffusion process, shared by every diffusion family.
PROCESS_OPTIONS = (
        registry.Option("timesteps", int, "diffusion steps T", default=1000),
        registry.Option("schedule", str, "noise schedule", choices=SCHEDULES,
                        default="linear"),
        registry.Option("prediction", str, "what the network predicts", choices=PREDICTIONS,
                        default="epsilon"),
)
#: The options of an exported diffusion sampler.
EXPORT_OPTIONS = (
    registry.Option("steps", int, "DDIM steps of the exported loop", default=50),
    registry.Option("guidance_scale", float, "classifier-free guidance scale"),
)


registry.register(registry.Family(
    name="diffusion",
    model_class=Diffusion,
    summary="denoising diffusion (DDPM training; DDPM/DDIM sampling, classifier-free "
            "guidance, inpainting)",
    labels="optional",
    options=(
        *PROCESS_OPTIONS,
        registry.Option("loss_weighting", str, "loss weighting over timesteps",
                        choices=("min_snr",)),
        registry.Option("base_filters", int, "channels of the U-Net's first level"),
        registry.Option("channel_multipliers", tuple, "channel multiplier of each U-Net "
                        "level", default=(1, 2, 2)),
        registry.Option("num_res_blocks", int, "residual blocks per level", default=2),
        registry.Option("attention_resolutions", tuple, "resolutions with self-attention"),
        registry.Option("dropout", float, "dropout of the residual blocks", default=0.0),
        registry.Option("groups", int, "groups of the group normalisation", default=8),
        registry.Option("network", str, "the denoising network: a U-Net or a diffusion "
                        "transformer (DiT)", choices=("unet", "dit"), default="unet"),
        registry.Option("patch_size", int, "patch side of the DiT", default=2),
        registry.Option("width", int, "token size of the DiT", default=128),
        registry.Option("depth", int, "blocks of the DiT", default=4),
        registry.Option("num_heads", int, "attention heads of the DiT", default=4),
        registry.Option("positions", str, "position encoding of the DiT",
                        choices=("sinusoidal", "learned"), default="sinusoidal"),
        registry.Option("label_dropout", float, "share of labels dropped for "
                        "classifier-free guidance", default=0.1),
        registry.Option("ema", float, "decay of the moving average of the weights used "
                        "for sampling (0: none)", default=0.999),
    ),
    build=_build,
    conditions=("labels", "sampler", "steps", "eta", "guidance_scale", "images", "mask"),
    export_options=EXPORT_OPTIONS,
    default_epochs=100,
    tiny={"timesteps": 20, "schedule": "cosine", "base_filters": 4,
          "channel_multipliers": (1,), "num_res_blocks": 1, "attention_resolutions": (),
          "groups": 2},
    metrics=("fid", "kid", "is", "pr"),
))
