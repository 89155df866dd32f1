"""The accuracy of a discriminator: how often its outputs fall on the right side of a threshold.

GAN-like models log it on real and on generated samples at every step (``real_accuracy``
and ``fake_accuracy``): a discriminator that wins every time (both near 1) leaves the
generator with little signal; one at chance (both near 0.5) cannot tell the samples apart.
"""

import keras
from keras import ops

from kgen import checks


def binary_accuracy(logits, target_is_real, threshold=0.0):
    """Fraction of outputs on the right side of ``threshold`` (real: above, fake: below).

    Args:
        logits: the discriminator's outputs on a batch of samples.
        target_is_real: True if the samples are real (outputs above ``threshold`` are
            right), False if they are generated (outputs below it are right).
        threshold: the output that separates the two answers: 0 for logits, 0.5 for the
            0-1 targets of the least-squares loss (`kgen.losses.AdversarialLoss.threshold`).

    Returns:
        A scalar in ``[0, 1]``, in ``keras.backend.floatx()``.

    Example:

    ```python
    import numpy as np
    from kgen.metrics.accuracy import binary_accuracy
    binary_accuracy(np.array([2.0, -1.0, 0.5, 3.0], "float32"), True)   # 0.75
    ```
    """
    if not isinstance(target_is_real, bool):
        raise TypeError(f"target_is_real must be True or False; got {target_is_real!r} "
                        f"({type(target_is_real).__name__}).")
    threshold = checks.number(threshold, "threshold")
    logits = ops.convert_to_tensor(logits)
    correct = ops.greater(logits, threshold) if target_is_real else ops.less(logits, threshold)
    return ops.mean(ops.cast(correct, keras.backend.floatx()))
