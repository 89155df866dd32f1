"""Data sets and input pipelines.

- `load`: bundled offline data sets (``"digits"``, ``"ring"``,
  ``"grid"``) and prepared TensorFlow Datasets (``"tfds:<name>"``).
- `images`: a batched, shuffled ``tf.data.Dataset`` of images scaled
  to ``[-1, 1]``, ready for ``model.fit()``.
- `validate_images`, `to_data_space`: the checks and scaling that
  `images` uses, for reuse.
- `mixture_modes`: the modes of the 2-D Gaussian mixtures.
- `load_image`: one of the photographs and textures shipped inside scikit-image
  (`BUNDLED_IMAGES`), for single-image models.
- `load_paired`, `load_unpaired`, `load_folder`, `edge_map`: image-to-image
  translation data (bundled digit pairs, image folders, TensorFlow Datasets).
- `paired_images`, `unpaired_images`: pipelines of ``(a, b)`` batches in
  ``[-1, 1]`` for paired and unpaired translation.

Example:

```python
import kgen

x = kgen.data.load("digits")
ds = kgen.data.images(x, batch_size=64)
```
"""

from kgen.data.bundled import BUNDLED, SPLITS, load, mixture_modes
from kgen.data.images_bundled import BUNDLED_IMAGES, load_image
from kgen.data.pipeline import (
    images,
    paired_images,
    to_data_space,
    unpaired_images,
    validate_images,
)
from kgen.data.translation import edge_map, load_folder, load_paired, load_unpaired

__all__ = [
    "BUNDLED",
    "BUNDLED_IMAGES",
    "SPLITS",
    "edge_map",
    "images",
    "load",
    "load_image",
    "load_folder",
    "load_paired",
    "load_unpaired",
    "mixture_modes",
    "paired_images",
    "to_data_space",
    "unpaired_images",
    "validate_images",
]
