"""FID, KID, Inception Score and precision/recall against closed forms and direct numpy computations."""

import keras
import numpy as np
import pytest
import scipy.linalg

from kgen.metrics import (
    FeatureExtractor,
    FrechetInceptionDistance,
    InceptionScore,
    KernelInceptionDistance,
    PrecisionRecall,
    compute_reference_statistics,
    frechet_distance,
    get_extractor,
    inception_score,
    kernel_inception_distance,
    load_statistics,
    precision_recall,
    save_statistics,
)


def identity(batch):
    return batch


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _flatten_model(shape=(4, 4, 1)):
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten()], name="flatten")


# ------------------------------------------------------------------ Fréchet distance
def test_frechet_distance_matches_scipy_sqrtm_closed_form():
    rng = np.random.default_rng(0)
    for _ in range(3):
        mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
        cov1, cov2 = _spd(rng, 8), _spd(rng, 8)
        covmean = scipy.linalg.sqrtm(cov1 @ cov2).real
        expected = np.sum((mu1 - mu2) ** 2) + np.trace(cov1 + cov2 - 2 * covmean)
        assert frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_commuting_and_singular_covariances():
    # Diagonal covariances: d^2 = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(5.0 + 1.0 + 0.0 + 4.0)
    # Equal rank-deficient covariances (4 samples in 8 dimensions): only the means differ.
    x = np.random.default_rng(1).normal(size=(4, 8))
    cov = np.cov(x, rowvar=False)
    assert np.linalg.matrix_rank(cov) == 3
    assert frechet_distance(x.mean(0), cov, x.mean(0) + 1.0, cov) == pytest.approx(8.0, abs=1e-6)


def test_frechet_distance_rejects_bad_shapes():
    eye = np.eye(3)
    with pytest.raises(ValueError, match="same dimension"):
        frechet_distance(np.zeros(3), eye, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match=r"shape \(D,\)"):
        frechet_distance(np.zeros((3, 1)), eye, np.zeros(3), eye)
    with pytest.raises(ValueError, match=r"shape \(D, D\)"):
        frechet_distance(np.zeros(3), np.zeros((3, 2)), np.zeros(3), eye)
    with pytest.raises(ValueError, match="not symmetric"):
        frechet_distance(np.zeros(3), np.triu(np.ones((3, 3))), np.zeros(3), eye)


# ------------------------------------------------------------------------- FID metric
def test_fid_of_a_set_against_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(200, 8)).astype("float32")
    fid = FrechetInceptionDistance(identity)
    fid.update_state(x, x)
    assert abs(float(fid.result())) < 1e-3


def test_fid_streaming_equals_all_at_once():
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (100, 4, 4, 1)).astype("float32")
    generated = (0.5 * rng.uniform(-1, 1, (90, 4, 4, 1)) + 0.2).astype("float32")
    flatten = _flatten_model()
    once = FrechetInceptionDistance(flatten)
    once.update_state(real, generated)
    streamed = FrechetInceptionDistance(flatten)
    for r, g in zip(np.array_split(real, 7), np.array_split(generated, 7)):
        streamed.update_state(r, g)

    for side, x in (("real", real), ("generated", generated)):
        mu, cov = getattr(streamed, f"{side}_statistics")()
        flat = x.reshape(len(x), -1).astype(np.float64)
        # float64 statistics held as float32 hi + lo pairs: far below float32 round-off.
        np.testing.assert_allclose(mu, flat.mean(0), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(cov, np.cov(flat, rowvar=False), rtol=1e-10, atol=1e-13)
        assert streamed.count(side) == len(x)
    expected = frechet_distance(
        real.reshape(100, -1).mean(0), np.cov(real.reshape(100, -1), rowvar=False),
        generated.reshape(90, -1).mean(0), np.cov(generated.reshape(90, -1), rowvar=False),
    )
    # result() is a float32 scalar.
    assert float(streamed.result()) == pytest.approx(expected, rel=1e-6)
    assert float(streamed.result()) == pytest.approx(float(once.result()), rel=1e-6)

    streamed.reset_state()
    assert streamed.count("real") == 0
    with pytest.raises(ValueError, match="at least 2"):
        streamed.result()


def test_fid_streaming_keeps_precision_far_from_the_origin():
    # Features with mean 1000 and std 1: raw float32 sums of squares would lose the covariance.
    rng = np.random.default_rng(0)
    x = (1000.0 + rng.normal(size=(300, 4))).astype("float32")
    fid = FrechetInceptionDistance(identity)
    for batch in np.array_split(x, 15):
        fid.update_state(batch, None)
    mu, cov = fid.real_statistics()
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-9,
                               atol=1e-12)


def test_fid_reference_statistics_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (60, 4, 4, 1)).astype("float32")
    generated = rng.uniform(-0.5, 1, (50, 4, 4, 1)).astype("float32")
    extractor = FeatureExtractor(_flatten_model(), name="flatten16")
    fid = FrechetInceptionDistance(extractor)
    fid.update_state(real, generated)
    path = fid.save_reference(tmp_path / "real.npz")

    mu, cov, protocol = load_statistics(path)
    assert protocol == {"extractor": "flatten16", "num_images": 60}
    computed = compute_reference_statistics(np.array_split(real, 4), extractor)
    np.testing.assert_allclose(computed[0], mu, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(computed[1], cov, rtol=1e-10, atol=1e-13)

    with_reference = FrechetInceptionDistance(extractor, reference=path)
    with_reference.update_state(None, generated)
    assert float(with_reference.result()) == pytest.approx(float(fid.result()), rel=1e-6)
    with pytest.raises(ValueError, match="reference"):
        with_reference.update_state(real, generated)

    # A (mu, cov) pair works as a reference too; statistics of another extractor do not.
    pair = FrechetInceptionDistance(extractor, reference=(mu, cov))
    pair.update_state(None, generated)
    assert float(pair.result()) == pytest.approx(float(fid.result()), rel=1e-6)
    other = save_statistics(tmp_path / "other", mu, cov, extractor="inception_v3")
    assert other.endswith("other.npz")
    with pytest.raises(ValueError, match="extractor='inception_v3'"):
        FrechetInceptionDistance(extractor, reference=other)
    with pytest.raises(ValueError, match="not found"):
        load_statistics(tmp_path / "missing.npz")


def test_fid_rejects_bad_inputs():
    fid = FrechetInceptionDistance(identity)
    with pytest.raises(ValueError, match="neither real nor generated"):
        fid.update_state(None, None)
    fid.update_state(np.zeros((4, 8), "float32"), None)
    with pytest.raises(ValueError, match="5 features .* 8-dimensional"):
        fid.update_state(None, np.zeros((4, 5), "float32"))
    fid.update_state(None, np.ones((1, 8), "float32"))
    with pytest.raises(ValueError, match="1 generated image.*at least 2"):
        fid.result()
    # An extractor must give (batch, D) features: a network without Flatten is refused.
    conv = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"generated images: .*\(batch, D\)"):
        FrechetInceptionDistance(conv).update_state(None, np.zeros((3, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="reference statistics have 3 dimensions"):
        FrechetInceptionDistance(_flatten_model(), reference=(np.zeros(3), np.eye(3)))
    with pytest.raises(ValueError, match="Unknown feature extractor"):
        FrechetInceptionDistance("vgg")
    with pytest.raises(TypeError, match="callable"):
        get_extractor(3)


# ------------------------------------------------------------------------------- KID
def _mmd2_unbiased_numpy(x, y):
    x, y = x.astype(np.float64), y.astype(np.float64)
    m, d = x.shape

    def k(a, b):
        return (a @ b.T / d + 1.0) ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) \
        - 2.0 * kxy.sum() / m**2


def test_kid_matches_the_unbiased_estimator_in_numpy():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(60, 5)).astype("float32")
    generated = rng.normal(0.5, 1.2, size=(60, 5)).astype("float32")
    # Both sets smaller than subset_size: one subset of everything. Kernel values are
    # float32 (keras.ops), their sums float64: about 1e-7 relative.
    mean, std = kernel_inception_distance(real, generated)
    assert mean == pytest.approx(_mmd2_unbiased_numpy(generated, real), rel=1e-6)
    assert std == 0.0

    # Subsets drawn as documented: numpy default_rng(seed), generated indices then real.
    real = rng.normal(size=(80, 5)).astype("float32")
    generated = rng.normal(0.3, 1.0, size=(70, 5)).astype("float32")
    draws = np.random.default_rng(3)
    expected = []
    for _ in range(5):
        g = generated[draws.choice(70, 30, replace=False)]
        r = real[draws.choice(80, 30, replace=False)]
        expected.append(_mmd2_unbiased_numpy(g, r))
    mean, std = kernel_inception_distance(real, generated, subset_size=30, num_subsets=5, seed=3)
    assert mean == pytest.approx(np.mean(expected), rel=1e-6)
    assert std == pytest.approx(np.std(expected), rel=1e-5)


def test_kid_metric_keeps_features_over_batches():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(50, 6)).astype("float32")
    generated = rng.normal(1.0, 1.0, size=(50, 6)).astype("float32")
    kid = KernelInceptionDistance(identity, subset_size=50)
    for r, g in zip(np.array_split(real, 3), np.array_split(generated, 3)):
        kid.update_state(r, g)
    np.testing.assert_array_equal(kid.features("generated"), generated)
    expected = _mmd2_unbiased_numpy(generated, real)
    assert float(kid.result()) == pytest.approx(expected, rel=1e-6)
    assert kid.result_with_std()[1] == 0.0
    same = KernelInceptionDistance(identity)
    same.update_state(real, real.copy())
    assert abs(float(same.result())) < 0.05 * expected
    kid.reset_state()
    with pytest.raises(ValueError, match="no real images"):
        kid.result()
    with pytest.raises(ValueError, match="different sizes"):
        KernelInceptionDistance(identity).update_state(real, generated[:, :4])


# -------------------------------------------------------------- precision and recall
def _precision_recall_numpy(real, generated, k):
    def radii(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.sort(d, axis=1)[:, k]

    def inside(manifold, probes):
        d = np.linalg.norm(probes[:, None] - manifold[None], axis=-1)
        return np.mean((d <= radii(manifold)[None]).any(axis=1))

    return inside(real, generated), inside(generated, real)


def test_precision_recall_of_identical_disjoint_and_half_overlapping_sets():
    x = np.random.default_rng(0).normal(size=(50, 8)).astype("float32")
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)
    # Half the samples on the data, half far away: precision 1/2, the data fully covered.
    assert precision_recall(x, np.concatenate([x, x + 100.0])) == (0.5, 1.0)


def test_precision_recall_matches_brute_force_numpy():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(40, 3)).astype("float32")
    generated = rng.normal(0.7, 0.6, size=(30, 3)).astype("float32")
    for k in (1, 3):
        expected = _precision_recall_numpy(real.astype(np.float64), generated.astype(np.float64), k)
        got = precision_recall(real, generated, k=k, batch_size=16)
        assert got == pytest.approx(expected, abs=1e-12)
        assert 0.0 < got[0] < 1.0 and 0.0 < got[1] < 1.0


def test_precision_recall_metric():
    x = np.random.default_rng(2).normal(size=(40, 4)).astype("float32")
    pr = PrecisionRecall(identity)
    for batch in np.array_split(x, 4):
        pr.update_state(batch, batch + 100.0)
    pr.update_state(None, x)
    result = pr.result()
    assert sorted(result) == ["precision", "recall"]
    assert float(result["precision"]) == 0.5 and float(result["recall"]) == 1.0
    with pytest.raises(ValueError, match="more than 3 real samples"):
        precision_recall(x[:3], x)


# ------------------------------------------------------------------- Inception Score
def test_inception_score_closed_forms():
    # Uniform predictions: p(y|x) = p(y), IS = 1.
    assert inception_score(np.zeros((100, 10))) == pytest.approx((1.0, 0.0), abs=1e-12)
    # Confident predictions spread evenly over 10 classes: IS = 10, from logits or probabilities.
    one_hot = np.eye(10)[np.arange(100) % 10]
    assert inception_score(60.0 * one_hot) == pytest.approx((10.0, 0.0), abs=1e-9)
    assert inception_score(one_hot, from_logits=False) == pytest.approx((10.0, 0.0), abs=1e-12)
    # Two classes, half the images (0.9, 0.1), half (0.1, 0.9): p(y) = (0.5, 0.5).
    p = np.array([[0.9, 0.1]] * 5 + [[0.1, 0.9]] * 5)
    expected = np.exp(0.9 * np.log(1.8) + 0.1 * np.log(0.2))
    assert inception_score(p, splits=1, from_logits=False)[0] == pytest.approx(expected, rel=1e-12)
    assert inception_score(np.log(p), splits=1)[0] == pytest.approx(expected, rel=1e-12)


def test_inception_score_metric_and_errors():
    logits = 40.0 * np.eye(4)[np.arange(40) % 4]
    score = InceptionScore(identity, splits=5)
    for batch in np.array_split(logits, 3):
        score.update_state(batch)
    assert float(score.result()) == pytest.approx(4.0, rel=1e-6)
    assert score.result_with_std() == pytest.approx((4.0, 0.0), abs=1e-6)
    with pytest.raises(ValueError, match="at least 10 images"):
        inception_score(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"\(N, num_classes\)"):
        inception_score(np.zeros(20))
    with pytest.raises(ValueError, match="probabilities"):
        inception_score(np.full((20, 2), 0.7), from_logits=False)
