"""Walks through latent space: linear and spherical interpolation.

Feed the result to a generator to see how samples change between two latent
codes. Gaussian latent vectors concentrate near a sphere, so spherical
interpolation (`slerp`) keeps intermediate codes at a typical norm,
where a straight line (`lerp`) passes closer to the origin.
"""

import numpy as np

# sin(angle) below this counts as parallel (or opposite): slerp falls back to lerp.
_PARALLEL_SIN = 1e-6


def _check_pair(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}.")
    if a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise ValueError(
            f"a and b must be latent vectors of shape (d,) or (n, d), got shape {a.shape}."
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite: they contain NaN or inf.")
    return a, b


def _check_t(t):
    t = np.asarray(t, dtype=np.float64)
    if t.ndim > 1:
        raise ValueError(f"t must be a scalar or a 1-D array of fractions, got shape {t.shape}.")
    if not np.isfinite(t).all():
        raise ValueError("t must be finite: it contains NaN or inf.")
    return t


def _expand(t, a):
    """Reshape t so it broadcasts against a, giving t.shape + a.shape."""
    return t.reshape(t.shape + (1,) * a.ndim)


def lerp(a, b, t):
    """Linear interpolation ``(1 - t) * a + t * b``.

    Args:
        a: latent vector ``(d,)`` or batch of vectors ``(n, d)``.
        b: the other end, same shape as ``a``.
        t: fraction (a scalar) or 1-D array of fractions; 0 gives ``a``,
            1 gives ``b``.

    Returns:
        float32 array of shape ``t.shape + a.shape``.

    Example:

    ```python
    import numpy as np
    import kgen

    kgen.latent.lerp(np.zeros(2), np.ones(2), [0.0, 0.5])
    # array([[0. , 0. ], [0.5, 0.5]], dtype=float32)
    ```
    """
    a, b = _check_pair(a, b)
    t = _expand(_check_t(t), a)
    return ((1.0 - t) * a + t * b).astype(np.float32)


def slerp(a, b, t):
    """Spherical linear interpolation between latent vectors.

    With ``omega`` the angle between ``a`` and ``b``::

        slerp(a, b, t) = sin((1 - t) omega) / sin(omega) * a + sin(t omega) / sin(omega) * b

    For a batch ``(n, d)`` each row pair has its own angle. Where the vectors
    are (nearly) parallel or opposite, or one is zero, the angle is undefined
    and the result is `lerp`.

    Args:
        a: latent vector ``(d,)`` or batch of vectors ``(n, d)``.
        b: the other end, same shape as ``a``.
        t: fraction (a scalar) or 1-D array of fractions; 0 gives ``a``,
            1 gives ``b``.

    Returns:
        float32 array of shape ``t.shape + a.shape``.

    Example:

    ```python
    import numpy as np
    import kgen

    kgen.latent.slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.5)
    # array([0.7071068, 0.7071068], dtype=float32)
    ```

    References:
        Shoemake, "Animating rotation with quaternion curves", SIGGRAPH 1985.
        White, "Sampling Generative Networks", arXiv:1609.04468, 2016.
    """
    a, b = _check_pair(a, b)
    t = _expand(_check_t(t), a)
    norm_a = np.linalg.norm(a, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=-1, keepdims=True)
    nonzero = (norm_a > 0) & (norm_b > 0)
    safe_a = np.where(nonzero, norm_a, 1.0)
    safe_b = np.where(nonzero, norm_b, 1.0)
    cos = np.clip(np.sum(a * b, axis=-1, keepdims=True) / (safe_a * safe_b), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    spherical = nonzero & (sin > _PARALLEL_SIN)
    safe_sin = np.where(spherical, sin, 1.0)
    weight_a = np.where(spherical, np.sin((1.0 - t) * omega) / safe_sin, 1.0 - t)
    weight_b = np.where(spherical, np.sin(t * omega) / safe_sin, t)
    return (weight_a * a + weight_b * b).astype(np.float32)


def interpolate(a, b, steps=8, method="slerp"):
    """Evenly spaced points from ``a`` to ``b``, both ends included.

    Args:
        a: latent vector ``(d,)`` or batch of vectors ``(n, d)``.
        b: the other end, same shape as ``a``.
        steps: number of points, at least 2.
        method: ``"slerp"`` (`slerp`) or ``"lerp"`` (`lerp`).

    Returns:
        float32 array of shape ``(steps,) + a.shape``; the first entry is
        ``a`` and the last ``b``.

    Example:

    ```python
    import numpy as np
    import kgen

    rng = np.random.default_rng(0)
    z = kgen.latent.interpolate(rng.normal(size=128), rng.normal(size=128), steps=8)
    z.shape  # (8, 128): feed to a generator to see one sample morph into another
    ```

    References:
        White, "Sampling Generative Networks", arXiv:1609.04468, 2016.
    """
    functions = {"slerp": slerp, "lerp": lerp}
    if method not in functions:
        raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}.")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}.")
    return functions[method](a, b, np.linspace(0.0, 1.0, steps))
