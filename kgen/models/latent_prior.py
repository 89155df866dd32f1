"""A learned prior over the discrete codes of a VQ-VAE (van den Oord et al. 2017, §3.3)."""

import os

import keras
import numpy as np
from keras import ops

from kgen.models.serving import ServingFunctions
from kgen import checks
from kgen.models import registry
from kgen.models.base import GenerativeModel, Update
from kgen.models.vqvae import VQVAE


@keras.saving.register_keras_serializable(package="kgen")
class LatentPrior(GenerativeModel):
    """A VQ-VAE with an autoregressive prior fitted to the code grids of the data.

    A VQ-VAE is trained with a uniform prior over its codes; to generate, a second model
    is fitted to the grids of code indices ``k = encode(x)`` of the training data and
    samples of it are decoded (van den Oord et al. 2017, §3.3). `fit()` trains the prior
    only: each batch of images is encoded by the frozen VQ-VAE (encoder in inference
    mode, nearest codes, no codebook update) and the prior's own training step runs on
    the ``(n, h, w, 1)`` int32 code grids. ``generate(n, seed=...)`` draws code grids from
    the prior and decodes them with the VQ-VAE.

    The prior is any `GenerativeModel` over int levels with ``num_levels`` equal to the
    VQ-VAE's ``num_embeddings`` and this API: ``training_updates()`` whose losses take
    int levels ``(n, h, w, 1)``, ``level_log_prob(levels, labels=None)`` (nats per
    example) and ``sample_levels(num_samples, seed=None, temperature=1.0, labels=None)``
    (int32 ``(n, h, w, 1)``). `kgen.models.PixelCNN` built with ``inputs="levels"`` is
    one (`from_vqvae` builds it). A class-conditional prior takes ``fit(x, y)`` and
    ``generate(labels=...)``.

    Logs: the prior's (for a PixelCNN, ``loss`` in nats per code and ``bits_per_dim``).

    Args:
        vqvae: a trained `VQVAE`.
        prior: the model of the code grids.
        seed: seed of the model's seed generator.

    Example:

    ```python
    import kgen

    x = kgen.data.load("digits")
    vq = kgen.models.VQVAE.from_shape(x.shape[1:], num_embeddings=16, embedding_dim=4)
    vq.compile()
    vq.fit(kgen.data.images(x), epochs=1, verbose=0)
    model = kgen.models.LatentPrior.from_vqvae(vq, filters=16, num_layers=2)
    model.compile()
    model.fit(kgen.data.images(x), epochs=1, verbose=0)
    samples = model.generate(16, seed=0)      # (16, 8, 8, 1)
    ```

    References:
        van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning",
        NeurIPS 2017.
        van den Oord et al., "Conditional Image Generation with PixelCNN Decoders",
        NeurIPS 2016.
    """

    network_names = ("vqvae", "prior")

    def __init__(self, vqvae, prior, seed=None, **kwargs):
        if not isinstance(vqvae, VQVAE):
            raise TypeError(
                f"LatentPrior needs a kgen.models.VQVAE as vqvae; got {type(vqvae).__name__}.")
        missing = [name for name in ("training_updates", "level_log_prob", "sample_levels")
                   if not callable(getattr(prior, name, None))]
        if missing:
            raise TypeError(
                f"The prior ({type(prior).__name__}) lacks {missing}: use a model of int "
                "levels such as kgen.models.PixelCNN(..., inputs='levels').")
        if getattr(prior, "inputs", "levels") != "levels":
            raise ValueError(
                "The prior must be trained on int levels: build it with inputs='levels' "
                "(e.g. kgen.models.PixelCNN.from_shape(..., inputs='levels')).")
        levels = getattr(prior, "num_levels", vqvae.num_embeddings)
        if levels != vqvae.num_embeddings:
            raise ValueError(
                f"The prior models {levels} levels but the VQ-VAE has num_embeddings="
                f"{vqvae.num_embeddings}; give the prior num_levels={vqvae.num_embeddings}.")
        grid = vqvae.code_shape + (1,)
        shape = tuple(getattr(prior, "image_shape", grid))
        if shape != grid:
            raise ValueError(
                f"The prior models grids of shape {shape}; the VQ-VAE's code grids are "
                f"{grid}. Build the prior for shape {grid}.")
        super().__init__(seed=seed, log_names=prior.log_names, **kwargs)
        self.optimizer_names = tuple(prior.optimizer_names)
        self.vqvae = vqvae
        self.prior = prior
        self._ensure_built()

    @classmethod
    def from_vqvae(cls, vqvae, filters=64, num_layers=6, num_classes=None, **kwargs):
        """A `kgen.models.PixelCNN` prior over ``vqvae``'s code grids, wrapped with it.

        Args:
            vqvae: a trained `VQVAE`.
            filters: features per stack of the `kgen.networks.GatedPixelCNN`.
            num_layers: gated blocks.
            num_classes: classes of a class-conditional prior, or None.
            **kwargs: `LatentPrior` arguments (``seed``, ``name``).

        Example:

        ```python
        import kgen
        vq = kgen.models.VQVAE.from_shape((8, 8, 1), num_embeddings=16, embedding_dim=4)
        model = kgen.models.LatentPrior.from_vqvae(vq, filters=8, num_layers=2)
        ```
        """
        from kgen.models.pixelcnn import PixelCNN

        prior = PixelCNN.from_shape(vqvae.code_shape + (1,), num_levels=vqvae.num_embeddings,
                                    num_classes=num_classes, filters=filters,
                                    num_layers=num_layers, inputs="levels",
                                    seed=kwargs.get("seed"), name="code_prior")
        return cls(vqvae, prior, **kwargs)

    def default_optimizer(self, name):
        return self.prior.default_optimizer(name)

    def call(self, x, training=False):
        return self.prior(self.code_grid(x), training=training)

    # ---------------------------------------------------------------- training
    def code_grid(self, x):
        """The frozen VQ-VAE's code indices of a batch, as int32 ``(n, h, w, 1)`` (in-graph)."""
        z = ops.stop_gradient(self.vqvae.encoder(x, training=False))
        return ops.expand_dims(self.vqvae.quantizer.nearest_codes(z), -1)

    def training_updates(self):
        def on_codes(loss):
            return lambda x, y=None, training=True: loss(self.code_grid(x), y, training)

        return [Update(u.name, on_codes(u.loss), u.variables, u.repeat)
                for u in self.prior.training_updates()]

    # ------------------------------------------------------------ public tools
    def encode(self, x, batch_size=256):
        """The VQ-VAE's code grids of samples ``x``: int32 ``(n, h, w, 1)``."""
        return self.vqvae.encode(x, batch_size)[..., None]

    def code_log_prob(self, x, labels=None, batch_size=256):
        """``log p(k)`` in nats under the prior of the code grid ``k`` of each sample of ``x``."""
        return np.asarray(self.prior.level_log_prob(self.encode(x, batch_size), labels=labels),
                          "float64")

    def bits_per_code(self, x, labels=None, batch_size=256):
        """The prior's mean negative log-likelihood of the codes of ``x``, bits per code."""
        nll = -self.code_log_prob(x, labels, batch_size).mean()
        return float(nll / (np.log(2.0) * np.prod(self.vqvae.code_shape)))

    def sample_codes(self, num_samples, seed=None, temperature=1.0, labels=None):
        """Code grids drawn from the prior: int32 ``(n, h, w)``."""
        codes = self.prior.sample_levels(num_samples, seed=seed, temperature=temperature,
                                         labels=labels)
        return np.asarray(codes, "int32").reshape((-1,) + self.vqvae.code_shape)

    def _generate(self, num_samples, *, seed=None, temperature=1.0, labels=None,
                  batch_size=256):
        if num_samples is None:
            if labels is None or np.ndim(labels) == 0:
                raise ValueError("Pass num_samples (or one label per sample) to generate().")
            num_samples = len(labels)
        codes = self.sample_codes(num_samples, seed, temperature, labels)
        return self.vqvae.decode_codes(codes, batch_size)

    def serving_functions(self, temperature=1.0):
        """The whole ``generate()`` for `export_generator`: the prior's autoregressive loop
        over the code grid, then the VQ-VAE's decoder.

        The inputs are the prior's (`kgen.models.PixelCNN.serving_functions`): the uniform
        numbers of its inverse-CDF draws, one per code, ``(N, h * w)`` (and ``labels``
        for a class-conditional prior), so ``generate_from_latent(**serving_inputs(N,
        seed=s))`` equals ``generate(N, seed=s)``, and ``generate(seed, num_samples)``
        draws them in the graph.

        The prior must provide ``serving_levels(temperature)`` and ``serving_inputs`` (as
        `kgen.models.PixelCNN` does); the VQ-VAE alone exports its decoder
        (`VQVAE.serving_functions`).

        Args:
            temperature: the prior's sampling temperature, fixed in the SavedModel.
        """
        if not hasattr(self.prior, "serving_levels"):
            raise NotImplementedError(
                f"LatentPrior cannot be exported: its prior {type(self.prior).__name__} has no "
                "serving_levels(temperature) (the sampling loop of its code grids). Export "
                "the VQ-VAE's decoder with model.vqvae.export_generator(directory).")
        decoder = self.vqvae.serving_functions()
        prior = self.prior.serving_levels(temperature)
        code_shape = (-1,) + tuple(self.vqvae.code_shape)

        def sample(*inputs):
            return decoder.sample(ops.reshape(prior.sample(*inputs), code_shape))

        return ServingFunctions(sample, prior.inputs,
                                list(prior.networks) + list(decoder.networks))

    def serving_inputs(self, num_samples=None, *, seed=None, temperature=1.0, labels=None,
                       batch_size=256):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed,
        labels=labels)`` uses: the prior's (`kgen.models.PixelCNN.serving_inputs`), the
        uniform numbers of its draws over the code grid ``(N, h * w)`` (and the labels of
        a class-conditional prior). ``temperature`` is fixed in the SavedModel.
        """
        if not hasattr(self.prior, "serving_inputs"):
            raise NotImplementedError(
                f"LatentPrior cannot give the inputs of its export: its prior "
                f"{type(self.prior).__name__} has no serving_inputs().")
        if num_samples is None:
            if labels is None or np.ndim(labels) == 0:
                raise ValueError("Pass num_samples (or one label per sample).")
            num_samples = len(labels)
        return self.prior.serving_inputs(num_samples, seed=seed, labels=labels)


def trained_vqvae(vqvae, shape=None):
    """The VQ-VAE of a latent prior: a `VQVAE`, the path of its ``.keras`` file (or of a run
    folder holding ``last.keras``), or a dict of `VQVAE.from_shape` options for a new one.

    Raises:
        ValueError: none given, a file that does not hold a VQ-VAE, or a VQ-VAE of samples
            of another shape than ``shape``.
    """
    if vqvae is None:
        raise ValueError(
            "A latent prior is fitted to the codes of a trained VQ-VAE: give vqvae= (on the "
            "command line, --vqvae RUN_OR_CHECKPOINT of a `kgen train vqvae` run).")
    if isinstance(vqvae, dict):
        if shape is None:
            raise ValueError("A new VQ-VAE needs the sample shape.")
        vqvae = VQVAE.from_shape(shape, **vqvae)
    elif isinstance(vqvae, (str, os.PathLike)):
        path = os.fspath(vqvae)
        if os.path.isdir(path):
            path = os.path.join(path, "last.keras")
        if not os.path.isfile(path):
            raise ValueError(f"No VQ-VAE checkpoint at {path!r}.")
        vqvae = keras.saving.load_model(path)
    if not isinstance(vqvae, VQVAE):
        raise ValueError(f"vqvae must be a kgen.models.VQVAE; got {type(vqvae).__name__}.")
    try:
        got = tuple(checks.network_input_shapes(vqvae.encoder, "VQ-VAE's encoder"))
    except (TypeError, ValueError):
        got = None
    if shape is not None and got is not None and got != tuple(shape):
        raise ValueError(f"The VQ-VAE models samples of shape {got}; the data has samples "
                         f"of shape {tuple(shape)}.")
    return vqvae


def _build(data, vqvae=None, filters=64, num_layers=6, seed=None):
    return LatentPrior.from_vqvae(trained_vqvae(vqvae, data.shape), filters=filters,
                                  num_layers=num_layers, num_classes=data.num_classes,
                                  seed=seed)


registry.register(registry.Family(
    name="latent_prior",
    model_class=LatentPrior,
    summary="a PixelCNN prior over the codes of a trained VQ-VAE (kgen train vqvae first)",
    labels="optional",
    options=(
        registry.Option("vqvae", str, "the trained VQ-VAE: a run folder or .keras file"),
        registry.Option("filters", int, "features per stack of the PixelCNN", default=64),
        registry.Option("num_layers", int, "gated blocks of the PixelCNN", default=6),
    ),
    build=_build,
    conditions=("labels", "temperature"),
    export_options=(registry.Option("temperature", float, "sampling temperature",
                                    default=1.0),),
    default_epochs=30,
    tiny={"vqvae": {"num_embeddings": 8, "embedding_dim": 4, "base_filters": 4},
          "filters": 4, "num_layers": 1},
    metrics=("fid", "kid", "is", "pr", "nll"),
))
