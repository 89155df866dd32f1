"""Autoregressive sampling of discrete images in raster order, then channel order.

An autoregressive model over images with ``C`` channels of ``L`` levels gives
``p(x) = prod_t p(x_t | x_<t)`` over the ``T = H * W * C`` positions ``t`` (rows, then
columns, then channels). Sampling draws the positions one after the other, each from the
model's distribution given everything drawn before. Three loops do it, with the same
result for the same noise:

- `sample_naive`: a Python loop that runs the whole network once per position.
- `sample_loop`: the same computation as one ``ops.fori_loop`` over the positions, for
  `kgen.backend.compile_function` to compile once.
- `sample_rows`: for networks whose logits at row ``r`` depend on the rows above only
  through a per-row *context* (a gated PixelCNN's vertical stack, see
  `kgen.networks.GatedPixelCNN`): an outer loop over the rows computes the context once
  per row, and an inner loop over the ``W * C`` positions of the row runs only the
  horizontal part on that single row. The network's work per position drops from a
  whole image to one row (about ``H`` times less), and the vertical stack runs ``H``
  times instead of ``T`` times.

Each position is drawn by inverting its cumulative distribution: with one uniform number
``u ~ U[0, 1)`` per position, the level drawn is the first level whose cumulative
probability under ``softmax(logits / temperature)`` exceeds ``u``, an exact draw from
that distribution. The numbers for all positions come in up front (``(N, T)``, drawn
with numpy from a seed by `uniform_noise`), so the three loops give the same samples
from the same numbers, on every backend, and an exported loop takes them as an input.
One number per position, rather than one Gumbel number per position and level, keeps
the noise small: ``(N, 3072)`` for 32x32 RGB images of 256 levels, not
``(N, 3072, 256)``.

Positions marked as known keep their given level (image completion): the loops draw
only the other positions, each conditioned on every earlier position, known or drawn.

References:
    van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016.
    Devroye, "Non-Uniform Random Variate Generation", Springer 1986, section 2.2
    (inversion).
"""

import numpy as np
from keras import ops


def uniform_noise(num_samples, positions, seed):
    """Uniform numbers in ``[0, 1)``, float32 ``(num_samples, positions)``, drawn with numpy.

    Row ``i`` depends only on ``seed`` and ``i`` (not on ``num_samples``), and the
    numbers are the same on every backend.

    Args:
        num_samples: rows.
        positions: numbers per row (``H * W * C`` for the loops of this module).
        seed: a non-negative integer.

    Example:

    ```python
    from kgen.samplers.autoregressive import uniform_noise

    uniform_noise(2, 16, seed=0).shape   # (2, 16)
    ```
    """
    return np.random.default_rng([int(seed), 3]).random((int(num_samples), int(positions)),
                                                        dtype=np.float32)


def inverse_cdf(logits, uniform, temperature=1.0):
    """One level per row of ``logits`` ``(N, L)``: the first whose cumulative probability
    under ``softmax(logits / temperature)`` exceeds the row's number of ``uniform`` ``(N,)``.

    For ``u ~ U[0, 1)`` the level is a draw from that distribution (a level of
    probability 0 is never drawn).

    Example:

    ```python
    import numpy as np
    from kgen.samplers.autoregressive import inverse_cdf

    logits = np.log(np.array([[0.5, 0.25, 0.25]] * 3, "float32"))
    inverse_cdf(logits, np.array([0.1, 0.6, 0.9], "float32"))   # [0, 1, 2]
    ```
    """
    probabilities = ops.softmax(ops.cast(logits, "float32") / temperature, axis=-1)
    below = ops.cumsum(probabilities, axis=-1)[:, :-1] <= ops.expand_dims(
        ops.cast(uniform, "float32"), -1)
    return ops.cast(ops.sum(ops.cast(below, "int32"), axis=-1), "int32")


def _set(flat, index, choice, known):
    """``flat`` (N, P) with column ``index`` set to ``choice`` (N,) where not known."""
    position = ops.expand_dims(ops.arange(ops.shape(flat)[1]) == index, 0)
    replace = ops.logical_and(position, ops.logical_not(known))
    return ops.where(replace, ops.expand_dims(choice, 1), flat)


def _check(levels, known, uniform):
    shape = tuple(levels.shape)
    if len(shape) != 4:
        raise ValueError(f"levels must have shape (N, H, W, C); got {shape}.")
    positions = shape[1] * shape[2] * shape[3]
    if tuple(known.shape) != shape:
        raise ValueError(f"known must have the shape of levels {shape}; got {tuple(known.shape)}.")
    if tuple(uniform.shape) != (shape[0], positions):
        raise ValueError(
            f"uniform must have shape (N, H * W * C) = ({shape[0]}, {positions}): one "
            f"number per position; got {tuple(uniform.shape)}.")
    return shape


def sample_naive(logits_fn, levels, known, uniform, temperature=1.0):
    """Draws every unknown position in a Python loop, running ``logits_fn`` once per position.

    Args:
        logits_fn: a function from int32 levels ``(N, H, W, C)`` to logits
            ``(N, H, W, C, L)`` whose logits at position ``t`` depend only on the
            positions before ``t``.
        levels: int32 ``(N, H, W, C)``: the known levels (anything elsewhere).
        known: bool ``(N, H, W, C)``: positions to keep.
        uniform: numbers in ``[0, 1)``, ``(N, H * W * C)``, one per position
            (`uniform_noise`).
        temperature: divides the logits (1 samples the model).

    Returns:
        int32 tensor ``(N, H, W, C)``.

    Example:

    ```python
    import numpy as np
    from keras import ops
    from kgen.samplers.autoregressive import sample_naive, uniform_noise

    uniform = lambda levels: ops.zeros(tuple(levels.shape) + (4,))   # 4 equally likely levels
    levels = np.zeros((2, 2, 2, 1), "int32")
    sample_naive(uniform, levels, np.zeros((2, 2, 2, 1), bool), uniform_noise(2, 4, seed=0))
    ```
    """
    n, h, w, c = _check(levels, known, uniform)
    flat = ops.reshape(ops.cast(levels, "int32"), (n, -1))
    known = ops.reshape(ops.convert_to_tensor(known, "bool"), (n, -1))
    uniform = ops.convert_to_tensor(uniform)
    for t in range(h * w * c):
        logits = ops.reshape(logits_fn(ops.reshape(flat, (n, h, w, c))), (n, h * w * c, -1))
        choice = inverse_cdf(logits[:, t], uniform[:, t], temperature)
        flat = _set(flat, t, choice, known)
    return ops.reshape(flat, (n, h, w, c))


def sample_loop(logits_fn, levels, known, uniform, temperature=1.0):
    """`sample_naive` as one ``ops.fori_loop`` over the positions (to compile once).

    Same arguments and result as `sample_naive`; meant to be called inside a function
    given to `kgen.backend.compile_function`.

    Example:

    ```python
    import numpy as np
    from keras import ops
    from kgen.samplers.autoregressive import sample_loop, uniform_noise

    uniform = lambda levels: ops.zeros(tuple(levels.shape) + (4,))
    sample_loop(uniform, np.zeros((2, 2, 2, 1), "int32"), np.zeros((2, 2, 2, 1), bool),
                uniform_noise(2, 4, seed=0))
    ```
    """
    n, h, w, c = _check(levels, known, uniform)
    known = ops.reshape(ops.convert_to_tensor(known, "bool"), (n, -1))
    uniform = ops.convert_to_tensor(uniform)

    def body(t, flat):
        logits = ops.reshape(logits_fn(ops.reshape(flat, (n, h, w, c))), (n, h * w * c, -1))
        choice = inverse_cdf(ops.take(logits, t, axis=1), ops.take(uniform, t, axis=1),
                             temperature)
        return _set(flat, t, choice, known)

    flat = ops.fori_loop(0, h * w * c, body, ops.reshape(ops.cast(levels, "int32"), (n, -1)))
    return ops.reshape(flat, (n, h, w, c))


def sample_rows(context_fn, row_logits_fn, levels, known, uniform, temperature=1.0):
    """Row by row: the context once per row, then one row's logits once per position.

    Args:
        context_fn: from int32 levels ``(N, H, W, C)`` to a list of tensors
            ``(N, H, W, F)`` whose row ``r`` depends only on rows ``< r``.
        row_logits_fn: from one row of levels ``(N, 1, W, C)`` and the matching rows of
            the context tensors (a list of ``(N, 1, W, F)``) to logits ``(N, 1, W, C, L)``.
        levels, known, uniform, temperature: as in `sample_naive`.

    Returns:
        int32 tensor ``(N, H, W, C)``: the same samples as `sample_naive` with
        ``logits_fn(x) = row_logits_fn(x, context_fn(x))`` and the same numbers.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.networks import GatedPixelCNN
    from kgen.samplers.autoregressive import sample_rows, uniform_noise

    net = GatedPixelCNN((4, 4, 1), num_levels=2, filters=4, num_layers=2)
    values = lambda levels: keras.ops.cast(levels, "float32") * 2.0 - 1.0
    sample_rows(lambda lv: net.row_context(values(lv)),
                lambda row, ctx: net.row_logits(values(row), ctx),
                np.zeros((3, 4, 4, 1), "int32"), np.zeros((3, 4, 4, 1), bool),
                uniform_noise(3, 16, seed=0))
    ```
    """
    n, h, w, c = _check(levels, known, uniform)
    per_row = w * c
    rows = ops.reshape(ops.cast(levels, "int32"), (n, h, per_row))
    known = ops.reshape(ops.convert_to_tensor(known, "bool"), (n, h, per_row))
    uniform = ops.reshape(ops.convert_to_tensor(uniform), (n, h, per_row))

    def row_body(r, rows):
        contexts = [ops.expand_dims(ops.take(ctx, r, axis=1), 1)
                    for ctx in context_fn(ops.reshape(rows, (n, h, w, c)))]
        row_uniform = ops.take(uniform, r, axis=1)
        row_known = ops.take(known, r, axis=1)

        def pixel_body(j, row):
            logits = row_logits_fn(ops.reshape(row, (n, 1, w, c)), contexts)
            logits = ops.reshape(logits, (n, per_row, -1))
            choice = inverse_cdf(ops.take(logits, j, axis=1), ops.take(row_uniform, j, axis=1),
                                 temperature)
            return _set(row, j, choice, row_known)

        row = ops.fori_loop(0, per_row, pixel_body, ops.take(rows, r, axis=1))
        this_row = ops.reshape(ops.arange(h) == r, (1, h, 1))
        return ops.where(this_row, ops.expand_dims(row, 1), rows)

    rows = ops.fori_loop(0, h, row_body, rows)
    return ops.reshape(rows, (n, h, w, c))


__all__ = ["inverse_cdf", "sample_loop", "sample_naive", "sample_rows", "uniform_noise"]
