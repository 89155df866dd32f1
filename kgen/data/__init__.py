"""Data sets and input pipelines.

- `load`: bundled offline data sets (``"digits"``, ``"ring"``,
  ``"grid"``) and prepared TensorFlow Datasets (``"tfds:<name>"``).
- `images`: a batched, shuffled ``tf.data.Dataset`` of images scaled
  to ``[-1, 1]``, ready for ``model.fit()``.
- `validate_images`, `to_data_space`: the checks and scaling that
  `images` uses, for reuse.
- `mixture_modes`: the modes of the 2-D Gaussian mixtures.

Example:

```python
import kgen

x = kgen.data.load("digits")
ds = kgen.data.images(x, batch_size=64)
```
"""

from kgen.data.bundled import BUNDLED, SPLITS, load, mixture_modes
from kgen.data.pipeline import images, to_data_space, validate_images

__all__ = [
    "BUNDLED",
    "SPLITS",
    "images",
    "load",
    "mixture_modes",
    "to_data_space",
    "validate_images",
]
