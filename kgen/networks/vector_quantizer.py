"""Vector quantisation layer with a codebook (van den Oord et al. 2017, Razavi et al. 2019).

The layer maps each vector of its input (the last axis, of size ``embedding_dim``) to the
nearest of ``num_embeddings`` codebook vectors and passes gradients straight through.
It carries no loss: `kgen.models.VQVAE` adds the commitment and codebook terms. Its state
(the codebook, the exponential-moving-average statistics and the per-code usage counters)
is made of Keras variables changed with `keras.ops` assignments in `update_codebook`, so
it is carried through a compiled training step on every backend.

References:
    van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning",
    NeurIPS 2017.
    Razavi, van den Oord & Vinyals, "Generating Diverse High-Fidelity Images with
    VQ-VAE-2", NeurIPS 2019.
"""

import keras
import numpy as np
from keras import ops

from kgen import checks, replica
from kgen.precision import float32

CODEBOOK_UPDATES = ("ema", "loss")


@keras.saving.register_keras_serializable(package="kgen")
class VectorQuantizer(keras.layers.Layer):
    """Nearest-codebook-vector quantisation with a straight-through gradient.

    ``call(z)`` replaces every vector ``z`` (last axis) by its nearest codebook vector
    ``e_k``, ``k = argmin_j ||z - e_j||^2``, and returns ``z + stop_gradient(e_k - z)``:
    the value is ``e_k`` and the gradient with respect to ``z`` is the identity (the
    straight-through estimator).

    The codebook is learned in one of two ways (``codebook_update``):

    - ``"ema"`` (default): it is not trained by gradients; `update_codebook` moves each
      code to the exponential moving average of the encoder outputs assigned to it, with
      Laplace smoothing of the counts (van den Oord et al. 2017, App. A.1; Razavi et al.
      2019). A code that gets no assignment in a batch keeps its vector.
    - ``"loss"``: the codebook is a trainable variable; the model adds the codebook loss
      ``||stop_gradient(z) - e_k||^2``.

    Dead codes (with ``restart_after``): `update_codebook` counts, for each code, the
    training steps since it was last assigned; a code unused for ``restart_after`` steps
    is re-initialised to a randomly chosen input vector of the current batch.

    Args:
        num_embeddings: number of codebook vectors ``K``.
        embedding_dim: size ``D`` of each vector (the input's last axis).
        codebook_update: ``"ema"`` or ``"loss"``.
        decay: decay ``gamma`` of the moving averages (``"ema"`` only).
        epsilon: Laplace smoothing of the cluster sizes (``"ema"`` only).
        restart_after: steps without an assignment after which a code is restarted;
            None (or 0) never restarts.
        seed: seed of the random choice of restart vectors.
        **kwargs: `keras.layers.Layer` arguments (``name``...).

    Example:

    ```python
    import numpy as np
    from kgen.networks import VectorQuantizer

    vq = VectorQuantizer(num_embeddings=16, embedding_dim=4, seed=0)
    z = np.random.default_rng(0).normal(size=(2, 3, 3, 4)).astype("float32")
    codes = vq.nearest_codes(z)          # int32 (2, 3, 3)
    quantized = vq(z)               # (2, 3, 3, 4): codebook vectors
    ```

    References:
        van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning",
        NeurIPS 2017.
        Razavi, van den Oord & Vinyals, "Generating Diverse High-Fidelity Images with
        VQ-VAE-2", NeurIPS 2019.
    """

    def __init__(self, num_embeddings, embedding_dim, codebook_update="ema", decay=0.99,
                 epsilon=1e-5, restart_after=100, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_embeddings = checks.integer(num_embeddings, "num_embeddings", 1)
        self.embedding_dim = checks.integer(embedding_dim, "embedding_dim", 1)
        checks.one_of(codebook_update, "codebook_update", CODEBOOK_UPDATES)
        decay = checks.number(decay, "decay", 0.0, 1.0, exclusive_maximum=True)
        epsilon = checks.number(epsilon, "epsilon", 0.0, exclusive_minimum=True)
        restart_after = checks.optional_integer(restart_after, "restart_after", 0)
        self.codebook_update = codebook_update
        self.decay = decay
        self.epsilon = epsilon
        self.restart_after = restart_after or None
        self.seed = checks.seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed, name="restart_seed")
        self.build((None, self.embedding_dim))   # the shapes are known: usable at once

    def build(self, input_shape=None):
        if input_shape is not None and input_shape[-1] is not None \
                and int(input_shape[-1]) != self.embedding_dim:
            raise ValueError(
                f"VectorQuantizer has embedding_dim={self.embedding_dim}, but its input has "
                f"{input_shape[-1]} channels; make the encoder output {self.embedding_dim} "
                "channels or change embedding_dim.")
        if self.built:
            return
        k, d = self.num_embeddings, self.embedding_dim
        limit = float(np.sqrt(3.0 / d))
        self.embeddings = self.add_weight(
            shape=(k, d), name="embeddings",
            initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed),
            trainable=self.codebook_update == "loss")
        if self.codebook_update == "ema":
            self.ema_cluster_size = self.add_weight(
                shape=(k,), name="ema_cluster_size", initializer="zeros", trainable=False)
            self.ema_embedding_sum = self.add_weight(
                shape=(k, d), name="ema_embedding_sum", initializer="zeros", trainable=False)
        self.unused_steps = self.add_weight(
            shape=(k,), name="unused_steps", initializer="zeros", trainable=False)
        self.built = True

    # ------------------------------------------------------------ quantising
    def _flatten(self, z):
        z = float32(ops.convert_to_tensor(z))
        if z.shape[-1] is not None and int(z.shape[-1]) != self.embedding_dim:
            raise ValueError(
                f"VectorQuantizer expects vectors of size embedding_dim={self.embedding_dim} "
                f"on the last axis; got shape {tuple(z.shape)}.")
        return ops.reshape(z, (-1, self.embedding_dim))

    def distances(self, z):
        """Squared distances ``||z - e_j||^2`` of every input vector to every code, (M, K)."""
        flat = self._flatten(z)
        codebook = float32(ops.convert_to_tensor(self.embeddings))
        return (ops.sum(ops.square(flat), axis=1, keepdims=True)
                - 2.0 * ops.matmul(flat, ops.transpose(codebook))
                + ops.sum(ops.square(codebook), axis=1)[None, :])

    def nearest_codes(self, z):
        """The index of the nearest code of every vector of ``z``: int32, ``z.shape[:-1]``."""
        indices = ops.cast(ops.argmin(self.distances(z), axis=1), "int32")
        return ops.reshape(indices, ops.shape(z)[:-1])

    def lookup(self, indices):
        """The codebook vectors of integer ``indices``: shape ``indices.shape + (D,)``."""
        indices = ops.cast(indices, "int32")
        return float32(ops.take(ops.convert_to_tensor(self.embeddings), indices, axis=0))

    def call(self, z):
        z = float32(ops.convert_to_tensor(z))
        quantized = self.lookup(self.nearest_codes(z))
        return z + ops.stop_gradient(quantized - z)

    def compute_output_shape(self, input_shape):
        return input_shape

    # ------------------------------------------------------------- statistics
    def histogram(self, indices):
        """How many times each code appears in ``indices``: float32 (K,)."""
        flat = ops.reshape(ops.cast(indices, "int32"), (-1,))
        return ops.sum(ops.one_hot(flat, self.num_embeddings, dtype="float32"), axis=0)

    @staticmethod
    def perplexity(counts):
        """``exp(entropy)`` of the code distribution given by ``counts``: from 1 to K."""
        probs = counts / ops.maximum(ops.sum(counts), 1.0)
        entropy = -ops.sum(probs * ops.log(probs + 1e-10))
        return ops.exp(entropy)

    @staticmethod
    def usage(counts):
        """Fraction of the codes that appear at least once."""
        return ops.mean(ops.cast(counts > 0, "float32"))

    # -------------------------------------------------------------- updating
    def update_codebook(self, z):
        """One training step's update of the codebook state from encoder outputs ``z``.

        With ``"ema"``: ``N_k <- gamma N_k + (1 - gamma) n_k`` and
        ``m_k <- gamma m_k + (1 - gamma) sum_{i: k_i = k} z_i``; the cluster sizes are
        smoothed, ``N'_k = (N_k + eps) / (n + K eps) n`` with ``n = sum_k N_k``, and each
        code used in this batch becomes ``e_k = m_k / N'_k``. Then the usage counters are
        advanced and dead codes restarted (see the class docstring).

        Args:
            z: encoder outputs, any shape ending in ``embedding_dim`` (gradients stopped).
        """
        # The statistics of the global batch: the same update on every replica of a
        # data-parallel step, and the update one device makes.
        flat = replica.gather_batch(ops.stop_gradient(self._flatten(z)))
        indices = ops.reshape(self.nearest_codes(flat), (-1,))
        counts = self.histogram(indices)
        used = counts > 0
        codebook = float32(ops.convert_to_tensor(self.embeddings))
        if self.codebook_update == "ema":
            one_hot = ops.one_hot(indices, self.num_embeddings, dtype="float32")
            sums = ops.matmul(ops.transpose(one_hot), flat)
            rate = 1.0 - self.decay
            cluster_size = self.ema_cluster_size * self.decay + rate * counts
            embedding_sum = self.ema_embedding_sum * self.decay + rate * sums
            total = ops.sum(cluster_size)
            smoothed = ((cluster_size + self.epsilon)
                        / (total + self.num_embeddings * self.epsilon) * total)
            codebook = ops.where(used[:, None], embedding_sum / smoothed[:, None], codebook)
        unused_steps = ops.where(used, 0.0, self.unused_steps + 1.0)
        if self.restart_after is not None:
            dead = unused_steps >= float(self.restart_after)
            size = ops.shape(flat)[0]
            picks = keras.random.uniform((self.num_embeddings,), seed=self.seed_generator)
            picks = ops.minimum(ops.cast(picks * ops.cast(size, "float32"), "int32"), size - 1)
            fresh = ops.take(flat, picks, axis=0)
            codebook = ops.where(dead[:, None], fresh, codebook)
            unused_steps = ops.where(dead, 0.0, unused_steps)
            if self.codebook_update == "ema":
                cluster_size = ops.where(dead, 1.0, cluster_size)
                embedding_sum = ops.where(dead[:, None], fresh, embedding_sum)
        if self.codebook_update == "ema":
            self.ema_cluster_size.assign(cluster_size)
            self.ema_embedding_sum.assign(embedding_sum)
        self.embeddings.assign(codebook)
        self.unused_steps.assign(unused_steps)
        return counts

    def get_config(self):
        config = super().get_config()
        config.update(num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim,
                      codebook_update=self.codebook_update, decay=self.decay,
                      epsilon=self.epsilon, restart_after=self.restart_after, seed=self.seed)
        return config
