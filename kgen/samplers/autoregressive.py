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

Each position is drawn with the Gumbel-max trick: ``argmax(logits / temperature + g)``
with ``g = -log(-log u)``, ``u ~ U(0, 1)``, is a draw from ``softmax(logits /
temperature)``. The noise ``g`` for all positions is drawn up front (`gumbel_noise`), so
the three loops give the same samples from the same noise, and a loop whose noise comes
from a seeded `keras.random.SeedGenerator` is reproducible.

Positions marked as known keep their given level (image completion): the loops draw
only the other positions, each conditioned on every earlier position, known or drawn.

References:
    van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016.
    Gumbel, "Statistical theory of extreme values and some practical applications", 1954;
    Maddison, Tarlow & Minka, "A* Sampling", NeurIPS 2014 (the Gumbel-max trick).
"""

import keras
from keras import ops


def gumbel_noise(shape, seed):
    """Standard Gumbel noise ``-log(-log u)``, ``u ~ U(0, 1)``, of ``shape``.

    Args:
        shape: the noise shape, ``(N, T, L)`` for the loops of this module.
        seed: a `keras.random.SeedGenerator` (or an integer seed).

    Example:

    ```python
    import keras
    from kgen.samplers.autoregressive import gumbel_noise

    gumbel_noise((2, 16, 4), keras.random.SeedGenerator(0)).shape   # (2, 16, 4)
    ```
    """
    u = keras.random.uniform(shape, minval=1e-20, maxval=1.0, seed=seed)
    return -ops.log(-ops.log(u))


def _pick(logits, noise, temperature):
    """Gumbel-max draw of one level per row of ``logits`` ``(N, L)``."""
    return ops.cast(ops.argmax(logits / temperature + noise, axis=-1), "int32")


def _set(flat, index, choice, known):
    """``flat`` (N, P) with column ``index`` set to ``choice`` (N,) where not known."""
    position = ops.expand_dims(ops.arange(ops.shape(flat)[1]) == index, 0)
    replace = ops.logical_and(position, ops.logical_not(known))
    return ops.where(replace, ops.expand_dims(choice, 1), flat)


def _check(levels, known, noise):
    shape = tuple(levels.shape)
    if len(shape) != 4:
        raise ValueError(f"levels must have shape (N, H, W, C); got {shape}.")
    positions = shape[1] * shape[2] * shape[3]
    if tuple(known.shape) != shape:
        raise ValueError(f"known must have the shape of levels {shape}; got {tuple(known.shape)}.")
    if tuple(noise.shape[:2]) != (shape[0], positions) or len(noise.shape) != 3:
        raise ValueError(
            f"noise must have shape (N, H * W * C, L) = ({shape[0]}, {positions}, L); "
            f"got {tuple(noise.shape)}.")
    return shape


def sample_naive(logits_fn, levels, known, noise, temperature=1.0):
    """Draws every unknown position in a Python loop, running ``logits_fn`` once per position.

    Args:
        logits_fn: a function from int32 levels ``(N, H, W, C)`` to logits
            ``(N, H, W, C, L)`` whose logits at position ``t`` depend only on the
            positions before ``t``.
        levels: int32 ``(N, H, W, C)``: the known levels (anything elsewhere).
        known: bool ``(N, H, W, C)``: positions to keep.
        noise: Gumbel noise ``(N, H * W * C, L)`` (`gumbel_noise`).
        temperature: divides the logits (1 samples the model).

    Returns:
        int32 tensor ``(N, H, W, C)``.

    Example:

    ```python
    import keras
    import numpy as np
    from keras import ops
    from kgen.samplers.autoregressive import gumbel_noise, sample_naive

    uniform = lambda levels: ops.zeros(tuple(levels.shape) + (4,))   # 4 equally likely levels
    levels = np.zeros((2, 2, 2, 1), "int32")
    noise = gumbel_noise((2, 4, 4), keras.random.SeedGenerator(0))
    sample_naive(uniform, levels, np.zeros((2, 2, 2, 1), bool), noise)
    ```
    """
    n, h, w, c = _check(levels, known, noise)
    flat = ops.reshape(ops.cast(levels, "int32"), (n, -1))
    known = ops.reshape(ops.convert_to_tensor(known, "bool"), (n, -1))
    for t in range(h * w * c):
        logits = ops.reshape(logits_fn(ops.reshape(flat, (n, h, w, c))), (n, h * w * c, -1))
        choice = _pick(logits[:, t], noise[:, t], temperature)
        flat = _set(flat, t, choice, known)
    return ops.reshape(flat, (n, h, w, c))


def sample_loop(logits_fn, levels, known, noise, temperature=1.0):
    """`sample_naive` as one ``ops.fori_loop`` over the positions (to compile once).

    Same arguments and result as `sample_naive`; meant to be called inside a function
    given to `kgen.backend.compile_function`.

    Example:

    ```python
    import keras
    import numpy as np
    from keras import ops
    from kgen.samplers.autoregressive import gumbel_noise, sample_loop

    uniform = lambda levels: ops.zeros(tuple(levels.shape) + (4,))
    noise = gumbel_noise((2, 4, 4), keras.random.SeedGenerator(0))
    sample_loop(uniform, np.zeros((2, 2, 2, 1), "int32"), np.zeros((2, 2, 2, 1), bool), noise)
    ```
    """
    n, h, w, c = _check(levels, known, noise)
    known = ops.reshape(ops.convert_to_tensor(known, "bool"), (n, -1))

    def body(t, flat):
        logits = ops.reshape(logits_fn(ops.reshape(flat, (n, h, w, c))), (n, h * w * c, -1))
        choice = _pick(ops.take(logits, t, axis=1), ops.take(noise, t, axis=1), temperature)
        return _set(flat, t, choice, known)

    flat = ops.fori_loop(0, h * w * c, body, ops.reshape(ops.cast(levels, "int32"), (n, -1)))
    return ops.reshape(flat, (n, h, w, c))


def sample_rows(context_fn, row_logits_fn, levels, known, noise, temperature=1.0):
    """Row by row: the context once per row, then one row's logits once per position.

    Args:
        context_fn: from int32 levels ``(N, H, W, C)`` to a list of tensors
            ``(N, H, W, F)`` whose row ``r`` depends only on rows ``< r``.
        row_logits_fn: from one row of levels ``(N, 1, W, C)`` and the matching rows of
            the context tensors (a list of ``(N, 1, W, F)``) to logits ``(N, 1, W, C, L)``.
        levels, known, noise, temperature: as in `sample_naive`.

    Returns:
        int32 tensor ``(N, H, W, C)``: the same samples as `sample_naive` with
        ``logits_fn(x) = row_logits_fn(x, context_fn(x))`` and the same noise.

    Example:

    ```python
    import keras
    import numpy as np
    from kgen.networks import GatedPixelCNN
    from kgen.samplers.autoregressive import gumbel_noise, sample_rows

    net = GatedPixelCNN((4, 4, 1), num_levels=2, filters=4, num_layers=2)
    values = lambda levels: keras.ops.cast(levels, "float32") * 2.0 - 1.0
    sample_rows(lambda lv: net.row_context(values(lv)),
                lambda row, ctx: net.row_logits(values(row), ctx),
                np.zeros((3, 4, 4, 1), "int32"), np.zeros((3, 4, 4, 1), bool),
                gumbel_noise((3, 16, 2), keras.random.SeedGenerator(0)))
    ```
    """
    n, h, w, c = _check(levels, known, noise)
    per_row = w * c
    rows = ops.reshape(ops.cast(levels, "int32"), (n, h, per_row))
    known = ops.reshape(ops.convert_to_tensor(known, "bool"), (n, h, per_row))
    noise = ops.reshape(noise, (n, h, per_row, -1))

    def row_body(r, rows):
        contexts = [ops.expand_dims(ops.take(ctx, r, axis=1), 1)
                    for ctx in context_fn(ops.reshape(rows, (n, h, w, c)))]
        row_noise = ops.take(noise, r, axis=1)
        row_known = ops.take(known, r, axis=1)

        def pixel_body(j, row):
            logits = row_logits_fn(ops.reshape(row, (n, 1, w, c)), contexts)
            logits = ops.reshape(logits, (n, per_row, -1))
            choice = _pick(ops.take(logits, j, axis=1), ops.take(row_noise, j, axis=1),
                           temperature)
            return _set(row, j, choice, row_known)

        row = ops.fori_loop(0, per_row, pixel_body, ops.take(rows, r, axis=1))
        this_row = ops.reshape(ops.arange(h) == r, (1, h, 1))
        return ops.where(this_row, ops.expand_dims(row, 1), rows)

    rows = ops.fori_loop(0, h, row_body, rows)
    return ops.reshape(rows, (n, h, w, c))


__all__ = ["gumbel_noise", "sample_loop", "sample_naive", "sample_rows"]
