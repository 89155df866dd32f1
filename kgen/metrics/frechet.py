"""Fréchet Inception Distance (Heusel et al. 2017): the Fréchet distance of two Gaussians fitted to features.

``FID = ||mu_r - mu_g||^2 + Tr(C_r + C_g - 2 (C_r C_g)^{1/2})``, where ``mu`` and
``C`` are the mean and covariance of the features of real (``r``) and generated
(``g``) images.
"""

import json
import os

import keras
import numpy as np
from keras import ops

from kgen.metrics.extractors import extract_features, get_extractor


def frechet_distance(mu1, cov1, mu2, cov2):
    """The Fréchet (2-Wasserstein) distance between two Gaussians ``N(mu1, cov1)`` and ``N(mu2, cov2)``.

    ``d^2 = ||mu1 - mu2||^2 + Tr(cov1 + cov2 - 2 (cov1 cov2)^{1/2})``. The trace of the
    matrix square root is computed stably with a symmetric eigenproblem: with any
    factor ``cov1 = L L^T`` (Cholesky; or ``V diag(sqrt(w))`` from an
    eigendecomposition, keeping the positive eigenvalues, when both covariances are
    singular; the roles of ``cov1`` and ``cov2`` may swap), ``cov1 cov2 = L (L^T cov2)``
    has the eigenvalues of the symmetric positive semi-definite ``L^T cov2 L``, so
    ``Tr (cov1 cov2)^{1/2} = sum sqrt(eig(L^T cov2 L))``, tiny negative round-off
    eigenvalues clipped at 0. This needs no complex arithmetic (unlike
    ``scipy.linalg.sqrtm`` of the non-symmetric ``cov1 cov2``) and no ``eps * I``
    regularisation of singular covariances (fewer samples than dimensions).

    The computation runs on the host in float64 numpy, whatever the backend: JAX has
    no float64 by default, and a float32 eigendecomposition of a 2048x2048 covariance
    loses the small eigenvalues, whose square roots the trace sums.

    Args:
        mu1: mean of the first Gaussian, shape ``(D,)`` (numpy array or tensor).
        cov1: its covariance, shape ``(D, D)``, symmetric positive semi-definite.
        mu2: mean of the second Gaussian, shape ``(D,)``.
        cov2: its covariance, shape ``(D, D)``.

    Returns:
        The squared Fréchet distance, a Python float (never negative).

    Raises:
        ValueError: shapes that do not match, non-finite values, a non-symmetric
            covariance, or a covariance that is not positive semi-definite (an
            eigenvalue below ``-1e-6`` times the sum of the absolute values of its
            diagonal, a bound of its largest eigenvalue: it is no covariance, and the
            formula would give meaningless, even negative, values; the round-off
            eigenvalues of a covariance, float32 statistics included, are far smaller).

    Example:

    ```python
    import numpy as np
    from kgen.metrics import frechet_distance

    frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2))   # 2 + 2 * (1 + 4 - 4) = 4.0
    ```

    References:
        Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
        Nash Equilibrium", NeurIPS 2017.
        Dowson & Landau, "The Fréchet distance between multivariate normal
        distributions", Journal of Multivariate Analysis 1982.
    """
    mu1, mu2 = _as_mean(mu1, "mu1"), _as_mean(mu2, "mu2")
    cov1, cov2 = _as_covariance(cov1, "cov1"), _as_covariance(cov2, "cov2")
    dims = {"mu1": mu1.shape[0], "cov1": cov1.shape[0], "mu2": mu2.shape[0], "cov2": cov2.shape[0]}
    if len(set(dims.values())) != 1:
        raise ValueError(
            "The means and covariances must have the same dimension D (mu: (D,), cov: "
            f"(D, D)); got {', '.join(f'{k}: {v}' for k, v in dims.items())}. Both "
            "statistics must come from the same feature extractor."
        )
    _check_positive_semidefinite(cov1, "cov1")
    _check_positive_semidefinite(cov2, "cov2")
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(cov1) + np.trace(cov2) \
        - 2.0 * _trace_sqrt_product(cov1, cov2)
    # Round-off can take a distance of 0 (equal Gaussians) a hair below it.
    return float(max(distance, 0.0))


#: Relative size of the negative eigenvalues a covariance may have (round-off).
PSD_TOLERANCE = 1e-6


def _check_positive_semidefinite(cov, what):
    """Refuses a symmetric matrix with an eigenvalue below ``-PSD_TOLERANCE * scale``,
    ``scale`` the sum of the absolute values of the diagonal (at least the largest
    eigenvalue of a covariance).

    A Cholesky factorisation of ``cov + tolerance * I`` succeeds exactly when every
    eigenvalue exceeds ``-tolerance``, and costs a third of an eigendecomposition,
    which is only computed to name the offending eigenvalue.
    """
    scale = float(np.abs(np.diag(cov)).sum())
    if scale == 0.0:
        scale = float(np.abs(cov).max(initial=0.0))
    if scale == 0.0:
        return
    tolerance = PSD_TOLERANCE * scale
    try:
        np.linalg.cholesky(cov + tolerance * np.eye(cov.shape[0]))
        return
    except np.linalg.LinAlgError:
        pass
    smallest = float(np.linalg.eigvalsh(cov).min())
    if smallest >= -tolerance:
        return
    raise ValueError(
        f"{what} is not positive semi-definite (its smallest eigenvalue is "
        f"{smallest:.4g}), so it is not a covariance matrix: the Fréchet distance of it "
        "would be meaningless. Pass the covariance of the features "
        "(np.cov(features, rowvar=False)).")


def _trace_sqrt_product(cov1, cov2):
    """``Tr (cov1 cov2)^{1/2}`` for symmetric positive semi-definite ``cov1``, ``cov2``.

    ``cov1 cov2`` and ``cov2 cov1`` have the same eigenvalues, so either may be
    factored: a Cholesky factor when one of them is positive definite, else the
    eigendecomposition ``V diag(w) V^T`` of ``cov1`` restricted to its positive
    eigenvalues (rank-deficient covariances then give a smaller eigenproblem).
    """
    for first, second in ((cov1, cov2), (cov2, cov1)):
        try:
            factor = np.linalg.cholesky(first)
            break
        except np.linalg.LinAlgError:
            continue
    else:
        eigenvalues, eigenvectors = np.linalg.eigh(cov1)
        positive = eigenvalues > 0
        factor = eigenvectors[:, positive] * np.sqrt(eigenvalues[positive])
        second = cov2
    middle = factor.T @ second @ factor
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    return float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))


def _to_float64(x, what):
    if ops.is_tensor(x):
        x = ops.convert_to_numpy(x)
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must be a numeric array ({error}).") from None
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contains non-finite values (NaN or inf).")
    return x


def _as_mean(mu, what):
    mu = _to_float64(mu, what)
    if mu.ndim != 1:
        raise ValueError(f"{what} must be a mean vector of shape (D,); got shape {mu.shape}.")
    return mu


def _as_covariance(cov, what):
    cov = _to_float64(cov, what)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(
            f"{what} must be a covariance matrix of shape (D, D); got shape {cov.shape}."
        )
    scale = max(1.0, float(np.abs(cov).max(initial=0.0)))
    if np.abs(cov - cov.T).max(initial=0.0) > 1e-5 * scale:
        raise ValueError(
            f"{what} is not symmetric, so it is not a covariance matrix. Pass the "
            "covariance of the features (np.cov(features, rowvar=False))."
        )
    return (cov + cov.T) / 2.0


# ------------------------------------------------------------------ statistics files
def save_statistics(path, mu, cov, **protocol):
    """Saves feature statistics (mean, covariance) and their protocol to a ``.npz`` file.

    Args:
        path: file path; numpy adds ``.npz`` when missing.
        mu: mean ``(D,)``.
        cov: covariance ``(D, D)``.
        **protocol: how the statistics were made, stored as JSON: the extractor
            (``extractor="inception_v3"``), the number of images (``num_images=``),
            the resize... `FrechetInceptionDistance` checks the extractor when it
            loads the file as its reference.

    Returns:
        The path written (with ``.npz``).

    Example:

    ```python
    import numpy as np
    from kgen.metrics import load_statistics, save_statistics

    path = save_statistics("/tmp/stats.npz", np.zeros(4), np.eye(4), extractor="digits_classifier")
    mu, cov, protocol = load_statistics(path)
    ```
    """
    mu, cov = _as_mean(mu, "mu"), _as_covariance(cov, "cov")
    if cov.shape[0] != mu.shape[0]:
        raise ValueError(f"mu has {mu.shape[0]} dimensions but cov is {cov.shape}.")
    try:
        text = json.dumps(protocol, sort_keys=True)
    except TypeError as error:
        raise ValueError(f"The protocol entries must be JSON values ({error}).") from None
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    np.savez(path, mu=mu, cov=cov, protocol=np.array(text))
    return path


def load_statistics(path):
    """Loads feature statistics saved by `save_statistics` (or `FrechetInceptionDistance.save_reference`).

    Args:
        path: the ``.npz`` file.

    Returns:
        ``(mu, cov, protocol)``: float64 arrays ``(D,)`` and ``(D, D)``, and the protocol
        dict (empty for a file with ``mu`` and ``cov`` only, such as the statistics
        files of TTUR or pytorch-fid).

    Raises:
        ValueError: the file is missing or does not hold ``mu`` and ``cov``.

    Example:

    ```python
    from kgen.metrics import load_statistics

    mu, cov, protocol = load_statistics("/tmp/stats.npz")
    ```
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(
            f"Statistics file {path!r} not found. Make one with "
            "kgen.metrics.compute_reference_statistics and save_statistics, or "
            "FrechetInceptionDistance.save_reference."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"mu", "cov"} - set(data.files)
            if missing:
                raise ValueError(f"it has no {' or '.join(sorted(missing))} (keys: {data.files})")
            mu, cov = data["mu"], data["cov"]
            protocol = json.loads(str(data["protocol"])) if "protocol" in data.files else {}
    except (OSError, ValueError) as error:
        raise ValueError(f"Could not read statistics from {path!r}: {error}.") from None
    mu, cov = _as_mean(mu, f"mu in {path}"), _as_covariance(cov, f"cov in {path}")
    if cov.shape[0] != mu.shape[0]:
        raise ValueError(f"{path!r} holds mu of {mu.shape[0]} dimensions but cov {cov.shape}.")
    return mu, cov, protocol


def compute_reference_statistics(images, extractor="inception_v3"):
    """Mean and covariance of the features of a set of images, computed in batches.

    Args:
        images: images in data space, as one array ``(N, H, W, C)`` (the extractor
            batches it) or an iterable of batches (a ``tf.data.Dataset`` or a list; an
            ``(images, labels)`` element counts by its images).
        extractor: a feature extractor spec (see `kgen.metrics.get_extractor`).

    Returns:
        ``(mu, cov)``: float64 numpy arrays ``(D,)`` and ``(D, D)`` (covariance with
        the ``N - 1`` normalisation of ``np.cov``).

    Example:

    ```python
    import kgen
    from kgen.metrics import compute_reference_statistics, get_extractor, save_statistics

    x = kgen.data.load("digits", split="train")
    extractor = get_extractor("digits")
    mu, cov = compute_reference_statistics(kgen.data.to_data_space(x), extractor)
    save_statistics("/tmp/digits_train.npz", mu, cov, num_images=len(x), **extractor.protocol)
    ```

    References:
        Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
        Nash Equilibrium", NeurIPS 2017 (precomputed statistics of the real images).
    """
    metric = FrechetInceptionDistance(extractor)
    for batch in _batches(images):
        metric.update_state(batch, None)
    return metric.real_statistics()


def _batches(images):
    if isinstance(images, np.ndarray) or ops.is_tensor(images):
        yield images
        return
    if isinstance(images, (str, bytes)) or not hasattr(images, "__iter__"):
        raise TypeError(
            f"images must be an array (N, H, W, C) or an iterable of batches; got "
            f"{type(images).__name__}."
        )
    for batch in images:
        if isinstance(batch, (tuple, list)) and batch and not np.isscalar(batch[0]):
            batch = batch[0]  # (images, labels)
        yield batch


# ----------------------------------------------------------------------- metric
class FrechetInceptionDistance(keras.metrics.Metric):
    """Fréchet Inception Distance between real and generated images, streamed over batches.

    ``update_state(real, generated)`` adds the features of a batch of real and/or
    generated images (either may be None); ``result()`` is the Fréchet distance of
    the Gaussians fitted to all the features seen so far; ``reset_state()`` starts
    over (a reference stays). Lower is better; 0 means equal feature statistics.

    Only the running statistics are kept, not the features: per side, the count, the
    mean and the centred sum of outer products ``M2 = sum (x - mean)(x - mean)^T``,
    merged batch by batch with the parallel update of Chan et al. in float64. Centred
    sums do not suffer the cancellation of raw sums of squares. The state lives in
    float32 metric variables (JAX has no float64 by default), each float64 value held
    as two float32 parts ``hi + lo`` (about 48 significant bits): streaming in batches
    gives the statistics of all features at once to about 1e-12 relative, and the
    rounding of a plain float32 covariance, which shifts the FID of a few hundred
    2048-D samples by about 1e-4 relative, is avoided. The covariance is
    ``M2 / (N - 1)``, as ``np.cov``. Memory: ``4 D^2`` float32 numbers per side
    (64 MiB per side for InceptionV3's 2048 features; the real side needs none when a
    reference is given).

    With the default ``"inception_v3"`` extractor this is FID with keras.applications'
    InceptionV3 (see `kgen.metrics.inception_v3` for the protocol and why its values
    are not comparable to published FIDs); with ``"digits"``, the offline digits
    classifier; any `keras.Model` or callable works too. Feature extraction is not
    part of a compiled training step: call the metric eagerly (after ``fit``, in a
    callback, or in an evaluation loop).

    Args:
        extractor: feature extractor: ``"inception_v3"``, ``"digits"``, a
            `FeatureExtractor`, a `keras.Model` or a callable (see `get_extractor`).
        reference: fixed statistics of the real images: a ``.npz`` path (from
            `save_reference` or `save_statistics`) or a ``(mu, cov)`` pair. Then
            ``update_state`` takes only generated images (``real=None``).
        name: metric name.
        dtype: dtype of the result.

    Example:

    ```python
    import numpy as np
    import kgen
    from kgen.metrics import FrechetInceptionDistance

    train = kgen.data.to_data_space(kgen.data.load("digits", split="train"))
    test = kgen.data.to_data_space(kgen.data.load("digits", split="test"))
    fid = FrechetInceptionDistance("digits")
    for batch in np.array_split(test, 3):
        fid.update_state(None, batch)
    fid.update_state(train, None)
    float(fid.result())
    fid.save_reference("/tmp/digits_train.npz")   # later: reference="/tmp/digits_train.npz"
    ```

    References:
        Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
        Nash Equilibrium", NeurIPS 2017.
        Chan, Golub & LeVeque, "Updating Formulae and a Pairwise Algorithm for
        Computing Sample Variances", 1979.
    """

    def __init__(self, extractor="inception_v3", reference=None, name="fid", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._extractor_spec = extractor if isinstance(extractor, str) else None
        self.extractor = get_extractor(extractor)
        self._reference = None
        self._reference_protocol = None
        self._state = None
        self.num_features = self.extractor.num_features
        if reference is not None:
            self._set_reference(reference)
        if self.num_features is not None:
            self._build_state(self.num_features)

    # -------------------------------------------------------------- state
    def _build_state(self, dim):
        self.num_features = int(dim)
        state = {}
        # With a reference, the real images' statistics are fixed: no state for them.
        for side in ("generated",) if self._reference is not None else ("real", "generated"):
            state[side] = {"count": self.add_variable((), "zeros", dtype="int32", name=f"{side}_count")}
            for key, shape in (("mean", (dim,)), ("m2", (dim, dim))):
                # Each float64 value v is held as two float32 parts: hi = f32(v), lo = f32(v - hi).
                state[side][key] = tuple(
                    self.add_variable(shape, "zeros", dtype="float32", name=f"{side}_{key}_{part}")
                    for part in ("hi", "lo")
                )
        self._state = state

    @staticmethod
    def _read(pair):
        hi, lo = pair
        return (ops.convert_to_numpy(hi.value).astype(np.float64)
                + ops.convert_to_numpy(lo.value).astype(np.float64))

    @staticmethod
    def _write(pair, value):
        hi = value.astype(np.float32)
        pair[0].assign(hi)
        pair[1].assign((value - hi.astype(np.float64)).astype(np.float32))

    def _set_reference(self, reference):
        if isinstance(reference, (str, os.PathLike)):
            mu, cov, protocol = load_statistics(reference)
            self._check_protocol(protocol, os.fspath(reference))
        else:
            try:
                mu, cov = reference
            except (TypeError, ValueError):
                raise ValueError(
                    "reference must be a .npz path or a (mu, cov) pair; got "
                    f"{type(reference).__name__}."
                ) from None
            mu, cov, protocol = _as_mean(mu, "reference mu"), _as_covariance(cov, "reference cov"), {}
            if cov.shape[0] != mu.shape[0]:
                raise ValueError(f"reference mu has {mu.shape[0]} dimensions but cov {cov.shape}.")
        if self.num_features is not None and mu.shape[0] != self.num_features:
            raise ValueError(
                f"The reference statistics have {mu.shape[0]} dimensions but the extractor "
                f"{self.extractor.name!r} gives {self.num_features}: they were made with "
                "another extractor. Recompute them with this one."
            )
        self.num_features = mu.shape[0]
        self._reference = (mu, cov)
        self._reference_protocol = protocol

    def _check_protocol(self, protocol, path):
        mine = self.extractor.protocol
        builtin = {"inception_v3", "digits_classifier"}
        for key in ("extractor", "output", "weights", "resize"):
            if key not in protocol or key not in mine or protocol[key] == mine[key]:
                continue
            # A user model's name may change between sessions: only a built-in name counts.
            if key != "extractor" or builtin & {protocol[key], mine[key]}:
                raise ValueError(
                    f"The reference statistics in {path!r} were made with {key}="
                    f"{protocol[key]!r}, but this metric's extractor has {key}={mine[key]!r}: "
                    "the distance would compare different features. Recompute the "
                    "reference with this extractor, or use the extractor it was made with."
                )

    @property
    def reference(self):
        """The fixed ``(mu, cov)`` of the real images, or None."""
        return self._reference

    def update_state(self, real=None, generated=None):
        """Adds the features of a batch of real and/or generated images.

        Args:
            real: real images ``(N, H, W, C)`` in data space, or None. Must be None
                when the metric has a reference.
            generated: generated images, or None.
        """
        if real is None and generated is None:
            raise ValueError("update_state got neither real nor generated images; pass at least one.")
        if real is not None and self._reference is not None:
            raise ValueError(
                f"{type(self).__name__} has fixed reference statistics for the real images; "
                "call update_state(None, generated) (or drop `reference` to stream real "
                "images)."
            )
        batches = {}
        for side, images in (("real", real), ("generated", generated)):
            if images is not None:
                batches[side] = extract_features(self.extractor, images, what=f"{side} images")
        for side, features in batches.items():
            if self._state is None:
                self._build_state(features.shape[1])
            if features.shape[1] != self.num_features:
                raise ValueError(
                    f"The {side} images give {features.shape[1]} features but this metric "
                    f"holds {self.num_features}-dimensional statistics (from earlier batches "
                    "or its reference): real and generated images must go through the same "
                    "extractor to features of the same size."
                )
        for side, features in batches.items():
            self._merge(side, features)

    def _merge(self, side, features):
        """Chan et al.'s parallel update of (count, mean, M2) with one batch."""
        state = self._state[side]
        x = features.astype(np.float64)
        n_b = x.shape[0]
        mean_b = x.mean(axis=0)
        centred = x - mean_b
        m2_b = centred.T @ centred
        n_a = int(ops.convert_to_numpy(state["count"].value))
        if n_a == 0:
            count, mean, m2 = n_b, mean_b, m2_b
        else:
            mean_a, m2_a = self._read(state["mean"]), self._read(state["m2"])
            count = n_a + n_b
            delta = mean_b - mean_a
            mean = mean_a + delta * (n_b / count)
            m2 = m2_a + m2_b + np.outer(delta, delta) * (n_a * n_b / count)
        if count > np.iinfo(np.int32).max:
            raise ValueError(f"{type(self).__name__} counts at most 2^31 - 1 images per side.")
        state["count"].assign(np.int32(count))
        self._write(state["mean"], mean)
        self._write(state["m2"], m2)

    def _statistics(self, side):
        count = self.count(side)
        if count < 2:
            raise ValueError(
                f"{type(self).__name__} has {count} {side} image(s); a covariance needs at "
                f"least 2. Call update_state with {side} images first."
            )
        state = self._state[side]
        return self._read(state["mean"]), self._read(state["m2"]) / (count - 1)

    def real_statistics(self):
        """``(mu, cov)`` of the real features (the reference when one is set), float64."""
        if self._reference is not None:
            return self._reference
        return self._statistics("real")

    def generated_statistics(self):
        """``(mu, cov)`` of the generated features seen so far, float64."""
        return self._statistics("generated")

    def count(self, side="generated"):
        """The number of ``"real"`` or ``"generated"`` images seen since the last reset."""
        if side not in ("real", "generated"):
            raise ValueError(f"side must be 'real' or 'generated', got {side!r}.")
        if self._state is None or side not in self._state:
            return 0
        return int(ops.convert_to_numpy(self._state[side]["count"].value))

    def result(self):
        """The Fréchet distance between the real and generated feature statistics."""
        mu_r, cov_r = self.real_statistics()
        mu_g, cov_g = self.generated_statistics()
        return ops.convert_to_tensor(frechet_distance(mu_r, cov_r, mu_g, cov_g), dtype=self.dtype)

    def save_reference(self, path):
        """Saves the real images' statistics (with the protocol) for use as ``reference=``.

        Args:
            path: ``.npz`` file path.

        Returns:
            The path written.
        """
        mu, cov = self.real_statistics()
        protocol = dict(self._reference_protocol or self.extractor.protocol)
        if self._reference is None:
            protocol["num_images"] = self.count("real")
        return save_statistics(path, mu, cov, **protocol)

    def get_config(self):
        """The metric's config; only a named extractor (``"inception_v3"``) is serialisable."""
        if self._extractor_spec is None:
            raise NotImplementedError(
                f"{type(self).__name__} with a custom extractor has no config; re-create it "
                "in code."
            )
        return {"name": self.name, "dtype": self.dtype, "extractor": self._extractor_spec}
