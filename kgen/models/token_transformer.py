"""An autoregressive transformer over the code grids of a VQ-VAE (image GPT, Parti-style prior)."""

import math
import weakref

import keras
import numpy as np
from keras import ops

from kgen import backend, checks
from kgen.models import registry
from kgen.models.base import GenerativeModel, Update
from kgen.models.latent_prior import trained_vqvae
from kgen.models.serving import ServingFunctions, ServingInput
from kgen.models.vqvae import VQVAE
from kgen.networks.transformer import transformer_decoder

SAMPLERS = ("cached", "uncached")
#: The largest float32 below 1: uniform numbers are kept in [0, 1).
_BELOW_ONE = np.float32(1.0 - 2.0 ** -24)

# Compiled sampling and likelihood functions, one set per model, kept outside the model
# so that they are neither tracked nor saved with it.
_FUNCTIONS = weakref.WeakKeyDictionary()


def sampling_weights(logits, temperature=1.0, top_k=None, top_p=None):
    """The unnormalised probabilities a sampler draws from: temperature, then top-k, then top-p.

    ``softmax(logits / temperature)``, kept only on the ``top_k`` most likely codes
    (all codes tied with the ``k``-th are kept) and then on the nucleus of the remaining
    distribution: the smallest set of most likely codes whose probability reaches
    ``top_p``; zero elsewhere. None (or ``top_k = 0``, ``top_p = 1``) skips a cut.

    Args:
        logits: ``(N, K)`` float tensor.
        temperature: positive scalar (below 1: sharper).
        top_k: None, or an int scalar (0 keeps every code).
        top_p: None, or a float scalar in ``(0, 1]`` (1 keeps every code).

    Returns:
        float32 tensor ``(N, K)`` of non-negative weights, positive on the kept codes
        (the largest is 1).

    Example:

    ```python
    import numpy as np
    from kgen.models.token_transformer import sampling_weights

    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], "float32"))
    sampling_weights(logits, top_k=3)      # [[1.0, 0.6, 0.3, 0.0]]
    sampling_weights(logits, top_p=0.7)    # [[1.0, 0.6, 0.0, 0.0]]: 0.5 + 0.3 >= 0.7
    ```

    References:
        Fan, Lewis & Dauphin, "Hierarchical Neural Story Generation", ACL 2018 (top-k).
        Holtzman et al., "The Curious Case of Neural Text Degeneration", ICLR 2020
        (top-p, nucleus sampling).
    """
    logits = ops.cast(logits, "float32") / ops.cast(temperature, "float32")
    logits = logits - ops.max(logits, axis=-1, keepdims=True)
    if top_k is None and top_p is None:
        return ops.exp(logits)
    size = logits.shape[-1]
    index = ops.expand_dims(ops.arange(size, dtype="int32"), 0)
    descending = ops.flip(ops.sort(logits, axis=-1), axis=-1)
    keep = None
    in_top_k = None
    if top_k is not None:
        top_k = ops.cast(top_k, "int32")
        k = ops.where(top_k > 0, ops.minimum(top_k, size), size)
        kth = ops.sum(ops.where(index == k - 1, descending, 0.0), axis=-1, keepdims=True)
        in_top_k = descending >= kth
        keep = logits >= kth
    if top_p is not None:
        # The nucleus of the (top-k) distribution: the codes with less than top_p of the
        # mass before them, in decreasing order.
        weights = ops.exp(descending)
        if in_top_k is not None:
            weights = ops.where(in_top_k, weights, 0.0)
        total = ops.sum(weights, axis=-1, keepdims=True)
        before = ops.cumsum(weights, axis=-1) - weights
        top_p = ops.cast(top_p, "float32")
        nucleus = before < top_p * total
        if in_top_k is not None:
            nucleus = ops.logical_and(nucleus, in_top_k)
        count = ops.maximum(ops.sum(ops.cast(nucleus, "int32"), axis=-1, keepdims=True), 1)
        smallest = ops.sum(ops.where(index == count - 1, descending, 0.0), axis=-1,
                           keepdims=True)
        in_nucleus = ops.logical_or(logits >= smallest, top_p >= 1.0)
        keep = in_nucleus if keep is None else ops.logical_and(keep, in_nucleus)
    return ops.where(keep, ops.exp(logits), 0.0)


def inverse_cdf(weights, u):
    """One draw per row of ``weights`` ``(N, K)`` from uniform numbers ``u`` ``(N,)`` in [0, 1).

    The code ``j`` with ``c_{j-1} <= u c_K < c_j``, ``c`` the cumulative sums of the
    weights: a draw from the weights' distribution, which never picks a code of weight
    zero. Written with counts rather than ``argmax`` so that every backend picks the
    same code.

    Example:

    ```python
    import numpy as np
    from kgen.models.token_transformer import inverse_cdf

    weights = np.array([[1.0, 0.0, 3.0]], "float32")
    inverse_cdf(weights, np.array([0.2], "float32"))   # [0]
    inverse_cdf(weights, np.array([0.3], "float32"))   # [2]
    ```
    """
    weights = ops.cast(weights, "float32")
    size = weights.shape[-1]
    cdf = ops.cumsum(weights, axis=-1)
    last = cdf[:, -1:]
    above = cdf > ops.expand_dims(ops.cast(u, "float32"), -1) * last
    first = size - ops.sum(ops.cast(above, "int32"), axis=-1)
    # Rounding can put u * c_K at c_K: the last code of positive weight then.
    fallback = ops.sum(ops.cast(cdf < last, "int32"), axis=-1)
    return ops.cast(ops.where(ops.any(above, axis=-1), first, fallback), "int32")


def _place(codes, index, choice, known):
    """``codes`` ``(N, L)`` with column ``index`` set to ``choice`` ``(N,)`` where not known."""
    if isinstance(index, (int, np.integer)):   # a loop run eagerly (PyTorch)
        column = ops.convert_to_tensor(np.arange(codes.shape[1])[None] == index)
    else:
        column = ops.expand_dims(ops.arange(ops.shape(codes)[1], dtype="int32") == index, 0)
    replace = ops.logical_and(column, ops.logical_not(known))
    return ops.where(replace, ops.expand_dims(choice, 1), codes)


def _pad(array, size):
    """``array`` padded to ``size`` rows by repeating its last row (one compiled shape)."""
    if len(array) == size:
        return array
    return np.concatenate([array, np.repeat(array[-1:], size - len(array), axis=0)])


@keras.saving.register_keras_serializable(package="kgen")
class TokenTransformer(GenerativeModel):
    """A causal transformer prior over the code grids of a trained VQ-VAE (image GPT / Parti).

    A trained `kgen.models.VQVAE` turns an image into an ``h x w`` grid of code indices
    ``k`` in ``0 .. K-1``; read in raster order they are a sequence of ``L = h w`` tokens,
    modelled autoregressively by a causal transformer (`kgen.networks.CausalDecoder`):

    ``p(k | c) = prod_i p(k_i | k_<i, c)``,

    where ``c`` is a *prefix* of condition tokens fed before the codes: a start token
    (unconditional), a class token (``num_classes``: one start token per class), and,
    before it, ``num_prefix_tokens`` token ids of a caption (``prefix_vocabulary`` ids,
    from a text tokenizer). The transformer reads ``[prefix, start, k_0, ..., k_{L-2}]``
    and its output at the position of ``start`` and of each ``k_{i-1}`` gives the
    logits of ``k_i``. `fit()` encodes each batch of images with the frozen VQ-VAE
    (encoder in inference mode, nearest codes) and minimises the cross-entropy of the
    codes (nats per code), so the log-likelihood is exact (`code_log_prob`,
    `bits_per_code`). ``generate()`` samples code grids and decodes them with the VQ-VAE.

    **Sampling.** Codes are drawn one position at a time, each by the inverse CDF of
    ``softmax(logits / temperature)`` cut to the ``top_k`` most likely codes and to the
    nucleus of mass ``top_p`` (`sampling_weights`). The uniform numbers of the draws,
    ``(n, L)``, come from numpy's generator seeded with ``seed`` (`uniform_noise`), so a
    seed gives the same samples on every backend. ``sampler="cached"`` (default) runs one
    compiled ``fori_loop`` over the positions that feeds one token per step through the
    decoder's key/value cache (`kgen.networks.CausalDecoder.step`);
    ``sampler="uncached"`` runs the whole sequence through the decoder at every step
    (the reference: same samples, about ``L / 2`` times the work). Completion keeps
    given codes: ``generate(images=x, rows=r)`` keeps the top ``r`` rows of the codes of
    ``x`` and draws the others, each given everything before it.

    Logs: ``loss`` (cross-entropy, nats per code) and ``bits_per_code``.

    Args:
        vqvae: a trained `kgen.models.VQVAE` (or a subclass, such as a VQ-GAN).
        network: a Keras model from token ids ``(N, T)`` (``T <= num_prefix_tokens +
            L``) to logits ``(N, T, K)``, causal (`kgen.networks.CausalDecoder`, whose
            ``init_cache``/``step`` the cached sampler uses). Its input ids: ``0 .. K-1``
            the codes, ``K .. K + S - 1`` the start tokens (``S = num_classes`` or 1),
            then the ``prefix_vocabulary`` prefix ids.
        num_classes: classes of a class-conditional model (``fit(x, y)``,
            ``generate(labels=...)``), or None.
        num_prefix_tokens: length of the prefix of condition tokens (0: none).
        prefix_vocabulary: number of distinct prefix token ids (with
            ``num_prefix_tokens > 0``).
        seed: seed of the model's seed generator.
        **kwargs: `keras.Model` arguments (``name``).

    Example:

    ```python
    import kgen

    x = kgen.data.load("digits")[:64]
    vq = kgen.models.VQVAE.from_shape(x.shape[1:], num_embeddings=8, embedding_dim=4,
                                      base_filters=4)     # train it first: vq.fit(...)
    model = kgen.models.TokenTransformer.from_vqvae(vq, width=8, num_layers=1,
                                                    num_heads=2)
    model.compile()
    model.fit(kgen.data.images(x), epochs=1, verbose=0)
    model.bits_per_code(x[:32])                       # about log2(8) = 3 bits untrained
    samples = model.generate(4, seed=0, top_k=4)      # (4, 8, 8, 1)
    ```

    References:
        Chen et al., "Generative Pretraining from Pixels", ICML 2020 (image GPT).
        Esser, Rombach & Ommer, "Taming Transformers for High-Resolution Image
        Synthesis", CVPR 2021.
        Yu et al., "Scaling Autoregressive Models for Content-Rich Text-to-Image
        Generation", TMLR 2022 (Parti).
        van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning",
        NeurIPS 2017.
    """

    optimizer_names = ("model",)
    log_names = ("loss", "bits_per_code")
    network_names = ("vqvae", "network")

    def __init__(self, vqvae, network, num_classes=None, num_prefix_tokens=0,
                 prefix_vocabulary=None, seed=None, **kwargs):
        if not isinstance(vqvae, VQVAE):
            raise TypeError(f"TokenTransformer needs a kgen.models.VQVAE as vqvae; got "
                            f"{type(vqvae).__name__}.")
        if not isinstance(network, keras.layers.Layer):
            raise TypeError(f"The network must be a Keras model from token ids to logits; got "
                            f"{type(network).__name__}.")
        super().__init__(seed=seed, **kwargs)
        self.num_classes = checks.optional_integer(num_classes, "num_classes", 2)
        self.num_prefix_tokens = checks.integer(num_prefix_tokens, "num_prefix_tokens", 0)
        self.prefix_vocabulary = checks.optional_integer(prefix_vocabulary,
                                                         "prefix_vocabulary", 1)
        if self.num_prefix_tokens and self.prefix_vocabulary is None:
            raise ValueError("A prefix of condition tokens needs its prefix_vocabulary (the "
                             "number of distinct prefix token ids).")
        if not self.num_prefix_tokens and self.prefix_vocabulary is not None:
            raise ValueError("prefix_vocabulary is for a model with num_prefix_tokens > 0.")
        self.vqvae = vqvae
        self.network = network
        self.num_codes = int(vqvae.num_embeddings)
        self.code_shape = tuple(vqvae.code_shape)
        self.sequence_length = int(np.prod(self.code_shape))
        self.num_starts = self.num_classes or 1
        self.vocabulary_size = self.num_codes + self.num_starts + (self.prefix_vocabulary or 0)
        self.image_shape = tuple(checks.network_input_shapes(vqvae.encoder, "VQ-VAE's encoder"))
        expected = {"vocabulary_size": self.vocabulary_size, "output_size": self.num_codes}
        for name, value in expected.items():
            given = getattr(network, name, value)
            if given != value:
                raise ValueError(
                    f"The network has {name}={given}; this TokenTransformer needs {value} "
                    f"({self.num_codes} codes, {self.num_starts} start token(s), "
                    f"{self.prefix_vocabulary or 0} prefix ids). Build it with "
                    "TokenTransformer.from_vqvae.")
        length = self.num_prefix_tokens + self.sequence_length
        if getattr(network, "max_length", length) < length:
            raise ValueError(f"The network has {network.max_length} positions; the sequences "
                             f"have {length} tokens ({self.num_prefix_tokens} prefix tokens, "
                             f"{self.sequence_length} codes).")
        self._ensure_built()

    @classmethod
    def from_vqvae(cls, vqvae, width=128, num_layers=4, num_heads=4, mlp_ratio=4.0,
                   dropout=0.0, num_classes=None, num_prefix_tokens=0, prefix_vocabulary=None,
                   **kwargs):
        """A `TokenTransformer` over ``vqvae``'s codes with a `kgen.networks.CausalDecoder`.

        Args:
            vqvae: a trained `VQVAE`.
            width: size of the token vectors.
            num_layers: transformer blocks.
            num_heads: attention heads (dividing ``width``).
            mlp_ratio: MLP hidden width over ``width``.
            dropout: dropout rate in training.
            num_classes: the number of classes (see the class).
            num_prefix_tokens: the prefix tokens of each sequence (see the class).
            prefix_vocabulary: the size of the prefix's vocabulary (see the class).
            **kwargs: constructor arguments (``seed``, ``name``).

        Example:

        ```python
        import kgen
        vq = kgen.models.VQVAE.from_shape((8, 8, 1), num_embeddings=8, embedding_dim=4,
                                          base_filters=4)
        model = kgen.models.TokenTransformer.from_vqvae(vq, width=8, num_layers=1,
                                                        num_heads=2, num_classes=10)
        ```
        """
        if not isinstance(vqvae, VQVAE):
            raise TypeError(f"from_vqvae needs a kgen.models.VQVAE; got {type(vqvae).__name__}.")
        num_classes = checks.optional_integer(num_classes, "num_classes", 2)
        num_prefix_tokens = checks.integer(num_prefix_tokens, "num_prefix_tokens", 0)
        prefix_vocabulary = checks.optional_integer(prefix_vocabulary, "prefix_vocabulary", 1)
        vocabulary = vqvae.num_embeddings + (num_classes or 1) + (prefix_vocabulary or 0)
        network = transformer_decoder(
            vocabulary, num_prefix_tokens + int(np.prod(vqvae.code_shape)), width=width,
            num_layers=num_layers, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
            output_size=vqvae.num_embeddings, seed=kwargs.get("seed"), name="token_decoder")
        return cls(vqvae, network, num_classes=num_classes,
                   num_prefix_tokens=num_prefix_tokens, prefix_vocabulary=prefix_vocabulary,
                   **kwargs)

    def default_optimizer(self, name):
        return keras.optimizers.Adam(learning_rate=1e-3)

    # ------------------------------------------------------------- the sequence
    def code_grid(self, x):
        """The frozen VQ-VAE's code indices of a batch, int32 ``(n, h, w)`` (in-graph)."""
        z = ops.stop_gradient(self.vqvae.encoder(x, training=False))
        return ops.cast(self.vqvae.quantizer.nearest_codes(z), "int32")

    def _start_tokens(self, labels, count):
        if labels is None:
            return ops.full((count,), self.num_codes, "int32")
        return ops.reshape(ops.cast(labels, "int32"), (-1,)) + self.num_codes

    def _prefix_tokens(self, prefix):
        return ops.cast(prefix, "int32") + (self.num_codes + self.num_starts)

    def _tokens(self, codes, labels, prefix):
        """The decoder's input ``[prefix, start, k_0 .. k_{L-2}]``, ``(n, P + L)``."""
        codes = ops.cast(codes, "int32")
        start = ops.expand_dims(self._start_tokens(labels, ops.shape(codes)[0]), 1)
        parts = [start, codes[:, :-1]]
        if self.num_prefix_tokens:
            parts.insert(0, self._prefix_tokens(prefix))
        return ops.concatenate(parts, axis=1)

    def _code_logits(self, codes, labels, prefix, training=False):
        """The logits ``(n, L, K)`` of every code given the codes before it."""
        logits = self.network(self._tokens(codes, labels, prefix), training=training)
        return logits[:, self.num_prefix_tokens:]

    def _code_log_probs(self, codes, labels, prefix, training=False):
        """``log p(k_i | k_<i, c)`` of every code, ``(n, L)``."""
        log_p = ops.log_softmax(
            ops.cast(self._code_logits(codes, labels, prefix, training), "float32"), axis=-1)
        return ops.sum(ops.one_hot(ops.cast(codes, "int32"), self.num_codes) * log_p, axis=-1)

    def _conditions(self, y):
        """``(labels, prefix)`` of fit()'s ``y``: the labels, the prefix ids, or a dict of both."""
        needs = [name for name, used in (("labels", self.num_classes),
                                         ("prefix", self.num_prefix_tokens)) if used]
        if isinstance(y, dict):
            unknown = sorted(set(y) - {"labels", "prefix"})
            if unknown:
                raise ValueError(f"y may hold 'labels' and 'prefix'; got keys {unknown}.")
            labels, prefix = y.get("labels"), y.get("prefix")
        elif y is None:
            labels = prefix = None
        elif len(needs) == 2:
            raise ValueError("This TokenTransformer takes class labels and a prefix: pass y "
                             "as {'labels': labels, 'prefix': prefix_ids}.")
        elif needs == ["prefix"]:
            labels, prefix = None, y
        else:
            labels, prefix = y, None
        if not needs and (labels is not None or prefix is not None):
            raise ValueError("This TokenTransformer is unconditional: fit(x) takes no y (build "
                             "it with num_classes= or num_prefix_tokens= to condition it).")
        if self.num_classes is not None and labels is None:
            raise ValueError(f"This TokenTransformer is class-conditional ({self.num_classes} "
                             "classes): pass the labels, fit(x, y).")
        if self.num_classes is None and labels is not None:
            raise ValueError("This TokenTransformer takes no class labels (num_classes=None).")
        if self.num_prefix_tokens and prefix is None:
            raise ValueError(f"This TokenTransformer is conditioned on {self.num_prefix_tokens} "
                             "prefix tokens: pass them, fit(x, prefix_ids).")
        if not self.num_prefix_tokens and prefix is not None:
            raise ValueError("This TokenTransformer takes no prefix (num_prefix_tokens=0).")
        if prefix is not None:
            prefix = ops.reshape(ops.cast(prefix, "int32"), (-1, self.num_prefix_tokens))
        return labels, prefix

    def nll_loss(self, x, y=None, training=True):
        """Cross-entropy of the codes of a batch, nats per code; logs it in bits too."""
        labels, prefix = self._conditions(y)
        codes = ops.reshape(self.code_grid(x), (-1, self.sequence_length))
        loss = -ops.mean(self._code_log_probs(codes, labels, prefix, training))
        return loss, {"loss": loss, "bits_per_code": loss / math.log(2.0)}

    def training_updates(self):
        return [Update("model", self.nll_loss, self.network.trainable_variables)]

    def call(self, inputs, training=False):
        """The logits ``(n, L, K)`` of the codes of images ``x`` (``inputs = x``, or ``(x,
        y)`` with ``y`` as in `fit`)."""
        if isinstance(inputs, (tuple, list)):
            x, y = inputs
        else:
            x, y = inputs, None
        labels, prefix = self._conditions(y)
        codes = ops.reshape(self.code_grid(x), (-1, self.sequence_length))
        return self._code_logits(codes, labels, prefix, training)

    # ----------------------------------------------------------- checking input
    def check_labels(self, labels, num_samples, seed=None):
        """``labels`` as ``num_samples`` checked int32 labels (None for an unconditional model).

        The labels of every class-conditional family (`kgen.checks.labels`). For sampling
        (``seed`` given), a conditional model left without labels draws them uniformly
        from ``seed``; its likelihood needs them.
        """
        if self.num_classes is None:
            if labels is not None:
                raise ValueError("This TokenTransformer is not class-conditional "
                                 "(num_classes=None): it takes no labels.")
            return None
        if labels is None:
            if seed is None:
                raise ValueError(f"This TokenTransformer is class-conditional: pass labels= "
                                 f"(integers 0 .. {self.num_classes - 1}).")
            return np.random.default_rng([seed, 2]).integers(
                0, self.num_classes, num_samples).astype("int32")
        return checks.labels(labels, self.num_classes, num_samples)

    def check_prefix(self, prefix, num_samples):
        """``prefix`` as int32 ``(num_samples, num_prefix_tokens)`` checked ids (None without one).

        One prefix ``(num_prefix_tokens,)`` is repeated for every sample.

        Raises:
            TypeError: ids that are not integers.
            ValueError: a prefix for a model without one, none for a model with one, the
                wrong length or number, or ids out of ``0 .. prefix_vocabulary - 1``.
        """
        if not self.num_prefix_tokens:
            if prefix is not None:
                raise ValueError("This TokenTransformer takes no prefix (num_prefix_tokens=0).")
            return None
        if prefix is None:
            raise ValueError(f"This TokenTransformer is conditioned on a prefix: pass prefix= "
                             f"({self.num_prefix_tokens} token ids per sample, in 0 .. "
                             f"{self.prefix_vocabulary - 1}).")
        array = np.asarray(ops.convert_to_numpy(prefix)) if not isinstance(
            prefix, (list, tuple, np.ndarray)) else np.asarray(prefix)
        if array.dtype.kind not in "iu":
            raise TypeError(f"prefix must be integer token ids; got dtype {array.dtype}.")
        if array.ndim == 1:
            array = np.broadcast_to(array, (num_samples,) + array.shape)
        if array.ndim != 2 or array.shape != (num_samples, self.num_prefix_tokens):
            raise ValueError(f"prefix must have shape ({num_samples}, {self.num_prefix_tokens}) "
                             f"or ({self.num_prefix_tokens},); got {array.shape}.")
        if array.size and (array.min() < 0 or array.max() >= self.prefix_vocabulary):
            raise ValueError(f"prefix ids must lie in 0 .. {self.prefix_vocabulary - 1}; got "
                             f"values from {array.min()} to {array.max()}.")
        return array.astype("int32")

    def _condition_arrays(self, labels, prefix):
        return [a for a in (labels, prefix) if a is not None]

    # ------------------------------------------------------------- likelihood
    def _functions(self):
        functions = _FUNCTIONS.get(self)
        if functions is None:
            functions = _FUNCTIONS[self] = {}
        return functions

    def _compiled(self, key, make):
        functions = self._functions()
        if key not in functions:
            functions[key] = backend.compile_function(make(), self.network.variables)
        return functions[key]

    def _split(self, args, has_labels, has_prefix):
        labels = args[0] if has_labels else None
        prefix = args[-1] if has_prefix else None
        return labels, prefix

    def encode(self, x, batch_size=256):
        """The VQ-VAE's code grids of images ``x`` (uint8 or data space): int32 ``(n, h, w)``."""
        return self.vqvae.encode(x, batch_size)

    def codes_log_prob(self, codes, labels=None, prefix=None, batch_size=256):
        """Exact ``log p(k | c)`` in nats of code grids ``codes`` ``(n, h, w)``.

        Args:
            codes: int code indices in ``0 .. K-1``.
            labels: class labels of a class-conditional model (an int or ``n`` ints).
            prefix: prefix ids of a prefix-conditioned model.
            batch_size: grids per decoder call.

        Returns:
            float64 numpy array ``(n,)``.

        Example:

        ```python
        import numpy as np
        import kgen

        vq = kgen.models.VQVAE.from_shape((8, 8, 1), num_embeddings=8, embedding_dim=4,
                                          base_filters=4)
        model = kgen.models.TokenTransformer.from_vqvae(vq, width=8, num_layers=1,
                                                        num_heads=2)
        model.codes_log_prob(np.zeros((3, 4, 4), "int32"))   # 3 values, each < 0
        ```
        """
        codes = self.vqvae.check_codes(codes).reshape(-1, self.sequence_length)
        batch_size = checks.integer(batch_size, "batch_size", 1)
        count = len(codes)
        labels = self.check_labels(labels, count)
        prefix = self.check_prefix(prefix, count)
        has_labels, has_prefix = labels is not None, prefix is not None

        def make():
            def log_prob(codes, *conditions):
                labels, prefix = self._split(conditions, has_labels, has_prefix)
                return ops.sum(self._code_log_probs(codes, labels, prefix), axis=-1)
            return log_prob

        function = self._compiled(("log_prob", has_labels, has_prefix), make)
        size = max(1, min(batch_size, count))
        results = []
        for start in range(0, count, size):
            part = slice(start, start + size)
            args = [_pad(codes[part], size)] + [
                _pad(a[part], size) for a in self._condition_arrays(labels, prefix)]
            out = np.asarray(ops.convert_to_numpy(function(*args)), "float64")
            results.append(out[:len(codes[part])])
        return np.concatenate(results) if results else np.zeros((0,), "float64")

    def code_log_prob(self, x, labels=None, prefix=None, batch_size=256):
        """``log p(k | c)`` in nats of the code grid ``k`` of each image of ``x``."""
        return self.codes_log_prob(self.encode(x, batch_size), labels, prefix, batch_size)

    def bits_per_code(self, x, labels=None, prefix=None, batch_size=256):
        """The mean negative log-likelihood of the codes of images ``x``, in bits per code.

        At most ``log2(K)`` for a model no better than uniform codes.
        """
        nll = -self.code_log_prob(x, labels, prefix, batch_size).mean()
        return float(nll / (math.log(2.0) * self.sequence_length))

    def code_logits(self, codes, labels=None, prefix=None):
        """The decoder's logits ``(n, L, K)`` of every code of ``codes`` ``(n, h, w)``
        given the codes before it (numpy; ``log_softmax`` gives the conditionals)."""
        codes = self.vqvae.check_codes(codes).reshape(-1, self.sequence_length)
        labels = self.check_labels(labels, len(codes))
        prefix = self.check_prefix(prefix, len(codes))
        has_labels, has_prefix = labels is not None, prefix is not None

        def make():
            def logits(codes, *conditions):
                return self._code_logits(codes, *self._split(conditions, has_labels,
                                                             has_prefix))
            return logits

        function = self._compiled(("logits", has_labels, has_prefix), make)
        out = function(codes, *self._condition_arrays(labels, prefix))
        return np.asarray(ops.convert_to_numpy(out), "float32")

    # --------------------------------------------------------------- sampling
    def uniform_noise(self, num_samples, seed):
        """The uniform numbers in [0, 1) of the draws of ``num_samples`` samples for ``seed``.

        ``np.random.default_rng(seed).random((num_samples, L))`` as float32 (kept below
        1): what ``generate(seed=seed)`` uses, and the ``uniform`` input of the exported
        ``generate_from_latent`` signature. Row ``i`` is the noise of sample ``i``, so
        the first samples of a seed do not depend on how many are drawn.
        """
        num_samples = checks.integer(num_samples, "num_samples", 1)
        seed = checks.seed(seed)
        u = np.random.default_rng(seed).random((num_samples, self.sequence_length))
        return np.minimum(u.astype("float32"), _BELOW_ONE)

    def _draw(self, logits, u, temperature, top_k, top_p):
        return inverse_cdf(sampling_weights(logits, temperature, top_k, top_p), u)

    def _sample_loop(self, sampler, u, codes, known, temperature, top_k, top_p, labels,
                     prefix):
        """The codes ``(n, L)`` drawn by ``sampler``'s loop with uniform numbers ``u``."""
        count = ops.shape(u)[0]
        codes = ops.cast(codes, "int32")
        known = ops.cast(known, "bool")
        if sampler == "uncached":
            def body(i, codes):
                logits = ops.take(self._code_logits(codes, labels, prefix), i, axis=1)
                choice = self._draw(logits, ops.take(u, i, axis=1), temperature, top_k, top_p)
                return _place(codes, i, choice, known)

            return ops.fori_loop(0, self.sequence_length, body, codes)

        offset = self.num_prefix_tokens
        cache = self.network.init_cache(count)
        # On PyTorch the loop runs in Python and replays a trace of step() (one for every
        # position: the position is a tensor); elsewhere this is step() itself.
        step = backend.replayed_method(self.network, "step")
        if offset:
            _, cache = step(self._prefix_tokens(prefix), cache, ops.convert_to_tensor(0))
        start = self._start_tokens(labels, count)

        def body(i, state):
            codes, cache = state
            if isinstance(i, (int, np.integer)):   # a loop run eagerly (PyTorch)
                token = start if i == 0 else codes[:, i - 1]
                position = ops.convert_to_tensor(offset + int(i), "int32")
            else:
                previous = ops.take(codes, ops.maximum(i - 1, 0), axis=1)
                token = ops.where(ops.equal(i, 0), start, previous)
                position = offset + i
            logits, cache = step(ops.expand_dims(token, 1), cache, position)
            choice = self._draw(logits[:, 0], ops.take(u, i, axis=1), temperature, top_k,
                                top_p)
            return _place(codes, i, choice, known), cache

        codes, _ = ops.fori_loop(0, self.sequence_length, body, (codes, cache))
        return codes

    def _check_sampler(self, sampler):
        checks.one_of(sampler, "sampler", SAMPLERS)
        if sampler == "cached" and not all(callable(getattr(self.network, name, None))
                                           for name in ("init_cache", "step")):
            raise ValueError(
                f"sampler='cached' needs a network with init_cache() and step() (a "
                f"kgen.networks.CausalDecoder); {type(self.network).__name__} has none: "
                "use sampler='uncached'.")
        return sampler

    @staticmethod
    def _check_filters(temperature, top_k, top_p):
        """Checked ``(temperature, top_k, top_p)``; None for a cut that is not made."""
        temperature = checks.number(temperature, "temperature", 0.0, exclusive_minimum=True)
        top_k = None if top_k is None else checks.integer(top_k, "top_k", 1)
        top_p = None if top_p is None else checks.number(top_p, "top_p", 0.0, 1.0,
                                                         exclusive_minimum=True)
        return temperature, top_k, None if top_p == 1.0 else top_p

    def sample_codes(self, num_samples=None, seed=None, temperature=1.0, top_k=None,
                     top_p=None, labels=None, prefix=None, codes=None, known=None,
                     sampler="cached", batch_size=256):
        """Draws code grids, int32 ``(n, h, w)``, one position at a time in raster order.

        Args:
            num_samples: how many (may be None with ``codes``).
            seed: integer seed (`uniform_noise`), or None for fresh noise.
            temperature: positive; divides the logits.
            top_k: keep the ``top_k`` most likely codes at each step (None: all).
            top_p: keep the nucleus of mass ``top_p`` at each step (None: all).
            labels: class labels of a class-conditional model (drawn from the seed when
                None).
            prefix: prefix ids ``(n, P)`` (or ``(P,)`` for all) of a prefix-conditioned
                model.
            codes: known codes ``(n, h, w)`` for completion, with ``known``.
            known: bool ``(n, h, w)`` or ``(h, w)``: the codes of ``codes`` to keep.
            sampler: ``"cached"`` or ``"uncached"`` (see the class).
            batch_size: samples per compiled call.

        Example:

        ```python
        import kgen
        vq = kgen.models.VQVAE.from_shape((8, 8, 1), num_embeddings=8, embedding_dim=4,
                                          base_filters=4)
        model = kgen.models.TokenTransformer.from_vqvae(vq, width=8, num_layers=1,
                                                        num_heads=2)
        model.sample_codes(3, seed=0, top_p=0.9).shape   # (3, 4, 4)
        ```
        """
        sampler = self._check_sampler(sampler)
        temperature, top_k, top_p = self._check_filters(temperature, top_k, top_p)
        batch_size = checks.integer(batch_size, "batch_size", 1)
        seed = checks.seed(seed)
        if codes is None:
            if known is not None:
                raise ValueError("known= needs codes= (the values of the known codes).")
            if num_samples is None:
                raise ValueError("Pass num_samples (or codes= and known= to complete).")
            num_samples = checks.integer(num_samples, "num_samples", 1)
            codes = np.zeros((num_samples,) + self.code_shape, "int32")
            known = np.zeros(codes.shape, bool)
        else:
            codes = self.vqvae.check_codes(codes)
            if num_samples is not None and num_samples != len(codes):
                raise ValueError(f"num_samples={num_samples} but {len(codes)} code grids were "
                                 "given.")
            known = np.ones(codes.shape, bool) if known is None else self._check_known(
                known, codes.shape)
        count = len(codes)
        if seed is None:
            seed = int(np.random.default_rng().integers(2 ** 31 - 1))
        labels = self.check_labels(labels, count, seed=seed)
        prefix = self.check_prefix(prefix, count)
        has_labels, has_prefix = labels is not None, prefix is not None
        u = self.uniform_noise(count, seed)
        flat = codes.reshape(count, -1)
        known = known.reshape(count, -1)

        # The cuts that are made are inputs of the compiled loop; the others are left out.
        filters = [np.float32(temperature)] + [
            value for value in (None if top_k is None else np.int32(top_k),
                                None if top_p is None else np.float32(top_p))
            if value is not None]
        cuts = (top_k is not None, top_p is not None)

        def make():
            def run(u, codes, known, temperature, *rest):
                given = list(rest)
                top_k = given.pop(0) if cuts[0] else None
                top_p = given.pop(0) if cuts[1] else None
                labels, prefix = self._split(given, has_labels, has_prefix)
                return self._sample_loop(sampler, u, codes, known, temperature, top_k, top_p,
                                         labels, prefix)
            return run

        size = min(batch_size, count)
        function = self._compiled(("sample", sampler, size, has_labels, has_prefix) + cuts,
                                  make)
        results = []
        for start in range(0, count, size):
            part = slice(start, start + size)
            arrays = [u[part], flat[part], known[part]]
            conditions = self._condition_arrays(labels, prefix)
            args = [_pad(a, size) for a in arrays] + filters + [
                _pad(a[part], size) for a in conditions]
            out = np.asarray(ops.convert_to_numpy(function(*args)), "int32")
            results.append(out[:len(arrays[0])])
        return np.concatenate(results).reshape((count,) + self.code_shape)

    def _check_known(self, known, shape):
        known = np.asarray(known)
        if known.dtype != bool:
            raise TypeError(f"known must be boolean (True = keep); got dtype {known.dtype}.")
        if known.shape == shape[1:]:
            known = np.broadcast_to(known, shape)
        if known.shape != shape:
            raise ValueError(f"known must have shape {shape} or {shape[1:]}; got {known.shape}.")
        return np.array(known)

    def _known_from_mask(self, mask, count):
        """Codes whose whole cell of the image is known, from a pixel mask (True = known)."""
        mask = np.asarray(ops.convert_to_numpy(mask))
        if mask.dtype != bool:
            if mask.dtype.kind not in "iuf" or not np.isin(mask, (0, 1)).all():
                raise ValueError("mask must be boolean, or 0/1 numbers (1 = known pixel).")
            mask = mask.astype(bool)
        height, width = self.image_shape[:2]
        if mask.ndim == 4:
            mask = mask.all(axis=-1)
        elif mask.ndim == 3 and mask.shape == tuple(self.image_shape):
            mask = mask.all(axis=-1)[None]
        elif mask.ndim == 2:
            mask = mask[None]
        if mask.ndim != 3 or mask.shape[1:] != (height, width) or mask.shape[0] not in (1, count):
            raise ValueError(f"mask must cover the images: (n, {height}, {width}[, C]) or "
                             f"({height}, {width}); got shape {np.shape(mask)}.")
        rows, columns = self.code_shape
        if height % rows or width % columns:
            raise ValueError(f"The {height}x{width} images do not divide into the {rows}x"
                             f"{columns} code grid: pass rows= instead of mask=.")
        cells = mask.reshape(mask.shape[0], rows, height // rows, columns, width // columns)
        return np.broadcast_to(cells.all(axis=(2, 4)), (count, rows, columns)).copy()

    def _generate(self, num_samples, *, seed=None, temperature=1.0, top_k=None, top_p=None,
                  labels=None, prefix=None, images=None, rows=None, mask=None,
                  sampler="cached", batch_size=256):
        """Samples in data space; ``images=`` with ``rows=`` (or ``mask=``) completes them."""
        codes = known = None
        if images is None:
            if rows is not None or mask is not None:
                raise ValueError("rows= and mask= say what to keep of images=: pass the images.")
            if num_samples is None:
                if labels is None or np.ndim(labels) == 0:
                    raise ValueError("Pass num_samples (or one label per sample) to "
                                     "generate().")
                num_samples = len(labels)
        else:
            if (rows is None) == (mask is None):
                raise ValueError("Completion keeps part of images=: pass rows= (the top rows of "
                                 "codes to keep) or mask= (True where the pixels are known).")
            codes = self.encode(images, batch_size)
            if rows is not None:
                rows = checks.integer(rows, "rows", 0, self.code_shape[0])
                known = np.zeros(codes.shape, bool)
                known[:, :rows] = True
            else:
                known = self._known_from_mask(mask, len(codes))
        codes = self.sample_codes(num_samples, seed=seed, temperature=temperature, top_k=top_k,
                                  top_p=top_p, labels=labels, prefix=prefix, codes=codes,
                                  known=known, sampler=sampler, batch_size=batch_size)
        return self.vqvae.decode_codes(codes, batch_size)

    def serving_inputs(self, num_samples=None, *, seed=None, temperature=1.0, top_k=None,
                       top_p=None, labels=None, prefix=None, images=None, rows=None,
                       mask=None, sampler="cached", batch_size=256):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed,
        labels=labels, prefix=prefix)`` uses: ``{"uniform": (N, L)}`` (`uniform_noise`),
        with ``"labels"`` for a class-conditional model (given, or drawn from the seed as
        `generate` draws them) and ``"prefix"`` for a prefix-conditioned one.

        ``temperature``, ``top_k`` and ``top_p`` are fixed in the SavedModel (export
        options), so they do not change the inputs. The exported loop draws every code:
        completion (``images=`` with ``rows=`` or ``mask=``) is not exported.

        Example:

        ```python
        import kgen

        vqvae = kgen.models.VQVAE.from_shape((8, 8, 1), num_embeddings=8, embedding_dim=4,
                                             base_filters=4, downsamples=1)
        prior = kgen.models.TokenTransformer.from_vqvae(vqvae, width=8, num_layers=1,
                                                        num_heads=2)
        prior.serving_inputs(3, seed=0)["uniform"].shape   # (3, 16)
        ```
        """
        if images is not None or rows is not None or mask is not None:
            raise ValueError("The exported TokenTransformer draws every code: completion "
                             "(images=, rows=, mask=) is not part of the SavedModel.")
        self._check_sampler(sampler)
        if num_samples is None:
            if labels is None or np.ndim(labels) == 0:
                raise ValueError("Pass num_samples (or one label per sample).")
            num_samples = len(labels)
        if seed is None:
            raise ValueError("serving_inputs needs the seed of the samples to reproduce.")
        inputs = {"uniform": self.uniform_noise(num_samples, seed)}
        labels = self.check_labels(labels, num_samples, seed=seed)
        if labels is not None:
            inputs["labels"] = labels
        prefix = self.check_prefix(prefix, num_samples)
        if prefix is not None:
            inputs["prefix"] = prefix
        return inputs

    def serving_functions(self, temperature=1.0, top_k=None, top_p=None):
        """The whole ``generate()`` for `export_generator`: the cached sampling loop, then
        the VQ-VAE's decoder.

        ``generate_from_latent(uniform)`` takes the uniform numbers of the draws, ``(N,
        L)`` float32 in [0, 1) (with ``labels`` for a class-conditional model, ``prefix``
        ``(N, P)`` int32 for a prefix-conditioned one), so it equals ``generate(seed=s)``
        for ``uniform = model.uniform_noise(N, s)``; ``generate(seed, num_samples)``
        draws them in the graph.

        Args:
            temperature: fixed in the SavedModel.
            top_k: fixed in the SavedModel (None: no cut).
            top_p: fixed in the SavedModel (None: no cut).
        """
        temperature, top_k, top_p = self._check_filters(temperature, top_k, top_p)
        self._check_sampler("cached")
        decoder = self.vqvae.serving_functions()
        has_labels = self.num_classes is not None
        has_prefix = bool(self.num_prefix_tokens)
        grid = (-1,) + self.code_shape

        def sample(u, *conditions):
            labels, prefix = self._split(conditions, has_labels, has_prefix)
            zeros = ops.zeros_like(ops.cast(u, "int32"))
            codes = self._sample_loop("cached", u, zeros, ops.cast(zeros, "bool"),
                                      temperature, top_k, top_p, labels, prefix)
            return decoder.sample(ops.reshape(codes, grid))

        inputs = [ServingInput("uniform", (self.sequence_length,), noise="uniform")]
        if has_labels:
            inputs.append(ServingInput("labels", (), "int32", noise="categorical",
                                       classes=self.num_classes))
        if has_prefix:
            inputs.append(ServingInput("prefix", (self.num_prefix_tokens,), "int32",
                                       noise="categorical", classes=self.prefix_vocabulary))
        return ServingFunctions(sample, inputs, [self.network] + list(decoder.networks))

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, num_prefix_tokens=self.num_prefix_tokens,
                      prefix_vocabulary=self.prefix_vocabulary)
        return config


def _build(data, vqvae=None, width=128, num_layers=4, num_heads=4, mlp_ratio=4.0,
           dropout=0.0, seed=None):
    return TokenTransformer.from_vqvae(trained_vqvae(vqvae, data.shape), width=width,
                                       num_layers=num_layers, num_heads=num_heads,
                                       mlp_ratio=mlp_ratio, dropout=dropout,
                                       num_classes=data.num_classes, seed=seed)


__all__ = ["TokenTransformer"]

registry.register(registry.Family(
    name="token_transformer",
    model_class=TokenTransformer,
    summary="a causal transformer prior over the codes of a trained VQ-VAE (image GPT)",
    labels="optional",
    options=(
        registry.Option("vqvae", str, "the trained VQ-VAE: a run folder or .keras file"),
        registry.Option("width", int, "size of the token vectors", default=128),
        registry.Option("num_layers", int, "transformer blocks", default=4),
        registry.Option("num_heads", int, "attention heads per block", default=4),
        registry.Option("mlp_ratio", float, "MLP hidden width over the width", default=4.0),
        registry.Option("dropout", float, "dropout rate in training", default=0.0),
    ),
    build=_build,
    conditions=("labels", "temperature", "images", "mask"),
    export_options=(
        registry.Option("temperature", float, "sampling temperature", default=1.0),
        registry.Option("top_k", int, "keep the k most likely codes at each step"),
        registry.Option("top_p", float, "keep the nucleus of this mass at each step"),
    ),
    default_epochs=30,
    tiny={"vqvae": {"num_embeddings": 8, "embedding_dim": 4, "base_filters": 4},
          "width": 8, "num_layers": 1, "num_heads": 2},
    metrics=("fid", "kid", "is", "pr", "nll"),
))
