"""A transposed convolution for JAX whose kernel gradient avoids XLA:CPU's slow path.

The gradient of ``jax.lax.conv_transpose`` with respect to its kernel is a convolution
with dilated inputs, which XLA:CPU does not hand to its fast convolution library: for
the DCGAN generator's 4x4, stride-2 layers on batches of 64 it took 70 to 200 ms, where
the forward pass and the input gradient took 3 ms (see docs/benchmarks.md). Here the
forward pass and the input gradient are the native ones, and only the kernel gradient
is computed from the *sub-pixel* form of the same layer (Shi et al. 2016), which uses
ordinary stride-1 convolutions only:

A transposed convolution of stride ``s`` writes ``x[i] * w[t]`` to output position
``s * i + t - p`` (``p`` the padding before). The outputs of one phase
``a = position mod s`` therefore read a few consecutive inputs, each through one tap of
the kernel: output ``s * m + a`` is ``sum_d x[m + d] * w[a + p - s * d]``. All phases
together are one stride-1 convolution of ``x`` with a small kernel that has
``s * s * filters`` output channels (each phase's taps gathered from ``w``, zero where a
phase has none), followed by a pixel shuffle that interleaves the phases. Both forms
compute the same function, so their kernel gradients are equal up to float rounding.

`conv_transpose` handles ``"same"`` and ``"valid"`` padding with any kernel size and
stride, channels-last, no dilation, no output padding; `kgen.networks.Conv2DTranspose`
calls it only in that case and the native operation otherwise.
"""

import functools

import jax
import jax.numpy as jnp
import keras
import numpy as np


def _phase_taps(kernel_size, stride, padding):
    """For one spatial axis: the table ``taps[a, j]`` of the kernel tap that phase ``a``
    reads from input ``m + j + first`` (``kernel_size`` where it reads none), and
    ``first``, the offset of the window's first input."""
    before = max(kernel_size - stride, 0) // 2 if padding == "same" else 0
    offsets = {}
    for phase in range(stride):
        for tap in range(kernel_size):
            if (phase + before - tap) % stride == 0:
                offsets[phase, (phase + before - tap) // stride] = tap
    first = min(d for _, d in offsets)
    last = max(d for _, d in offsets)
    taps = np.full((stride, last - first + 1), kernel_size, dtype=np.int32)
    for (phase, d), tap in offsets.items():
        taps[phase, d - first] = tap
    return taps, first


def _output_length(length, kernel_size, stride, padding):
    if padding == "same":
        return length * stride
    return length * stride + max(kernel_size - stride, 0)


def subpixel_conv_transpose(x, kernel, strides, padding):
    """The transposed convolution of ``x`` ``(N, H, W, C)`` with ``kernel``
    ``(kh, kw, filters, C)`` as a stride-1 convolution and a pixel shuffle; equal to
    ``keras.ops.conv_transpose(x, kernel, strides, padding)`` up to float rounding."""
    (kh, kw, filters, channels), (sh, sw) = kernel.shape, strides
    height, width = x.shape[1], x.shape[2]
    taps_h, first_h = _phase_taps(kh, sh, padding)
    taps_w, first_w = _phase_taps(kw, sw, padding)
    out_h, out_w = (_output_length(height, kh, sh, padding),
                    _output_length(width, kw, sw, padding))
    rows_h, rows_w = -(-out_h // sh), -(-out_w // sw)  # outputs per phase, rounded up
    # (kh + 1, kw + 1, filters, C): the extra last tap on each axis is zero.
    padded = jnp.pad(kernel, [(0, 1), (0, 1), (0, 0), (0, 0)])
    gathered = jnp.take(padded, taps_h.reshape(-1), axis=0)
    gathered = jnp.take(gathered, taps_w.reshape(-1), axis=1)
    window_h, window_w = taps_h.shape[1], taps_w.shape[1]
    gathered = gathered.reshape(sh, window_h, sw, window_w, filters, channels)
    # (window_h, window_w, C, phase_h, phase_w, filters), as an HWIO kernel.
    phases = gathered.transpose(1, 3, 5, 0, 2, 4).reshape(
        window_h, window_w, channels, sh * sw * filters)
    low_h, low_w = max(-first_h, 0), max(-first_w, 0)
    high_h = max(rows_h - 1 + first_h + window_h - 1 - (height - 1), 0)
    high_w = max(rows_w - 1 + first_w + window_w - 1 - (width - 1), 0)
    x = jnp.pad(x, [(0, 0), (low_h, high_h), (low_w, high_w), (0, 0)])
    z = jax.lax.conv_general_dilated(x, phases.astype(x.dtype), (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    start_h, start_w = first_h + low_h, first_w + low_w
    z = z[:, start_h:start_h + rows_h, start_w:start_w + rows_w]
    z = z.reshape(-1, rows_h, rows_w, sh, sw, filters).transpose(0, 1, 3, 2, 4, 5)
    return z.reshape(-1, rows_h * sh, rows_w * sw, filters)[:, :out_h, :out_w]


def _native(x, kernel, strides, padding):
    return keras.ops.conv_transpose(x, kernel, strides=strides, padding=padding)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_transpose(x, kernel, strides, padding):
    """``keras.ops.conv_transpose(x, kernel, strides, padding)`` (channels-last, no
    dilation or output padding), whose kernel gradient is that of
    `subpixel_conv_transpose`; ``strides`` a tuple of two ints, ``padding`` ``"same"``
    or ``"valid"``."""
    return _native(x, kernel, strides, padding)


def _forward(x, kernel, strides, padding):
    return _native(x, kernel, strides, padding), (x, kernel)


def _backward(strides, padding, saved, upstream):
    x, kernel = saved
    _, input_vjp = jax.vjp(lambda inputs: _native(inputs, kernel, strides, padding), x)
    _, kernel_vjp = jax.vjp(
        lambda weights: subpixel_conv_transpose(x, weights, strides, padding), kernel)
    return input_vjp(upstream)[0], kernel_vjp(upstream)[0]


conv_transpose.defvjp(_forward, _backward)
