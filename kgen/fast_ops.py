"""Operations of kgen's layers that a backend may compute faster its own way.

`conv_transpose` is ``keras.ops.conv_transpose`` (channels-last, no dilation, no output
padding) until `kgen.backend` is imported (every kgen model imports it), which installs
the active backend's version: on JAX, the same forward pass with a kernel gradient that
avoids XLA:CPU's slow path (`kgen.backend.jax_conv_transpose`); on TensorFlow and
PyTorch, Keras's operation. Like `kgen.replica`, this module is backend-free and imports
nothing from kgen, so the networks can call it.

Example:

```python
import numpy as np
from kgen import fast_ops

x = np.ones((1, 2, 2, 1), "float32")
kernel = np.ones((2, 2, 1, 1), "float32")
fast_ops.conv_transpose(x, kernel, (2, 2), "same").shape   # (1, 4, 4, 1)
```
"""

import keras


def _keras_conv_transpose(x, kernel, strides, padding):
    return keras.ops.conv_transpose(x, kernel, strides=tuple(strides), padding=padding)


_installed = {"conv_transpose": _keras_conv_transpose}


def install(conv_transpose=None):
    """Installs a backend's implementation (the one given; None keeps the current one).

    Returns:
        The implementations installed before, as a dict: ``install(**previous)`` puts
        them back.

    Raises:
        TypeError: an implementation that is not callable.
    """
    if conv_transpose is not None and not callable(conv_transpose):
        raise TypeError(f"conv_transpose must be a function; got "
                        f"{type(conv_transpose).__name__}.")
    previous = dict(_installed)
    if conv_transpose is not None:
        _installed["conv_transpose"] = conv_transpose
    return previous


def conv_transpose(x, kernel, strides, padding):
    """The transposed convolution of ``x`` ``(N, H, W, channels)`` with ``kernel``
    ``(kh, kw, filters, channels)``, ``strides`` two ints and ``padding`` ``"same"`` or
    ``"valid"``: what ``keras.ops.conv_transpose`` returns, through the installed
    implementation."""
    return _installed["conv_transpose"](x, kernel, strides, padding)
