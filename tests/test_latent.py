"""Tests for kgen.latent: lerp, slerp and interpolate."""

import numpy as np
import pytest

from kgen import latent


def _unit(rng, *shape):
    v = rng.normal(size=shape)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_lerp_midpoint_is_the_mean_and_shapes():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    mid = latent.lerp(a, b, 0.5)
    assert mid.shape == (3, 5) and mid.dtype == np.float32
    np.testing.assert_allclose(mid, (a + b) / 2, atol=1e-6)
    assert latent.lerp(a, b, np.linspace(0, 1, 7)).shape == (7, 3, 5)
    assert latent.lerp(a[0], b[0], [0.0, 1.0]).shape == (2, 5)


def test_slerp_endpoints_and_shapes():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=16), rng.normal(size=16)
    path = latent.slerp(a, b, [0.0, 0.3, 1.0])
    assert path.shape == (3, 16) and path.dtype == np.float32
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, atol=1e-6)
    assert latent.slerp(a, b, 0.5).shape == (16,)


def test_slerp_of_unit_vectors_stays_on_the_sphere_at_constant_speed():
    rng = np.random.default_rng(2)
    a, b = _unit(rng, 32), _unit(rng, 32)
    path = latent.slerp(a, b, np.linspace(0, 1, 9)).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-6)
    steps = np.arccos(np.clip(np.sum(path[1:] * path[:-1], axis=1), -1, 1))
    np.testing.assert_allclose(steps, np.arccos(a @ b) / 8, atol=1e-5)


def test_slerp_known_value():
    out = latent.slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.5)
    np.testing.assert_allclose(out, [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-7)


def test_slerp_batch_is_row_by_row():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    t = np.array([0.25, 0.75])
    batch = latent.slerp(a, b, t)
    assert batch.shape == (2, 4, 8)
    for i in range(4):
        np.testing.assert_allclose(batch[:, i], latent.slerp(a[i], b[i], t), atol=1e-6)


@pytest.mark.parametrize("scale_b", [2.0, -1.0, 0.0, 1.0 + 1e-12])
def test_slerp_falls_back_to_lerp_for_parallel_vectors(scale_b):
    a = np.array([0.6, 0.8, 0.0])
    t = np.linspace(0, 1, 5)
    out = latent.slerp(a, scale_b * a, t)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, latent.lerp(a, scale_b * a, t), atol=1e-6)


def test_interpolate():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 6)), rng.normal(size=(2, 6))
    z = latent.interpolate(a, b, steps=5)
    assert z.shape == (5, 2, 6) and z.dtype == np.float32
    np.testing.assert_allclose(z[0], a, atol=1e-6)
    np.testing.assert_allclose(z[-1], b, atol=1e-6)
    np.testing.assert_allclose(z, latent.slerp(a, b, np.linspace(0, 1, 5)))
    middle = latent.interpolate(a, b, 3, method="lerp")[1]
    np.testing.assert_allclose(middle, (a + b) / 2, atol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match=r"same shape.*\(3,\).*\(4,\)"):
        latent.slerp(np.zeros(3), np.zeros(4), 0.5)
    with pytest.raises(ValueError, match=r"shape \(d,\) or \(n, d\)"):
        latent.lerp(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), 0.5)
    with pytest.raises(ValueError, match="scalar or a 1-D array"):
        latent.slerp(np.ones(3), np.ones(3), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="method must be 'slerp' or 'lerp'"):
        latent.interpolate(np.ones(3), np.ones(3), method="cubic")
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        latent.interpolate(np.ones(3), np.ones(3), steps=1)
