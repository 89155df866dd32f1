"""Data sets and input pipelines.

- `open_source`: one spec for all training data (bundled names, ``"tfds:NAME"``,
  ``"folder:PATH"``), returning a `DataSource` whose ``dataset()`` streams
  batches in a deterministic epoch order.
- `set_epoch`: choose the epoch whose order the next pass over a pipeline gives.
- `load`: bundled offline data sets (``"digits"``, ``"ring"``,
  ``"grid"``, ``"captioned_digits"``) and prepared TensorFlow Datasets (``"tfds:<name>"``).
- `images`: a batched, shuffled ``tf.data.Dataset`` of images scaled
  to ``[-1, 1]``, ready for ``model.fit()``.
- `validate_images`, `to_data_space`: the checks and scaling that
  `images` uses, for reuse.
- `mixture_modes`: the modes of the 2-D Gaussian mixtures.
- `load_image`: one of the photographs and textures shipped inside scikit-image
  (`BUNDLED_IMAGES`), for single-image models.
- `load_paired`, `load_unpaired`, `load_folder`, `edge_map`, `true_translation`: image-to-image
  translation data (bundled digit pairs, image folders, TensorFlow Datasets).
- `paired_images`, `unpaired_images`: pipelines of ``(a, b)`` batches in
  ``[-1, 1]`` for paired and unpaired translation.
- `captioned`: captioned images (the bundled digit scenes, captions beside the images
  of a folder); `tokenized`: a captioned source whose batches carry token ids.

Example:

```python
import kgen

x = kgen.data.load("digits")
ds = kgen.data.images(x, batch_size=64)
source = kgen.data.open_source("digits", labels=True)
train = source.dataset(64, seed=0)        # (x, y) batches, epoch after epoch
```
"""

from kgen.data import captioned
from kgen.data.bundled import BUNDLED, CAPTIONED, SPLITS, load, mixture_modes
from kgen.data.captioned import tokenized
from kgen.data.epochs import set_epoch
from kgen.data.folders import IMAGE_EXTENSIONS
from kgen.data.images_bundled import BUNDLED_IMAGES, load_image
from kgen.data.pipeline import (
    images,
    paired_images,
    to_data_space,
    unpaired_images,
    validate_images,
)
from kgen.data.sources import KINDS, DataSource, open_source
from kgen.data.translation import (
    edge_map,
    load_folder,
    load_paired,
    load_unpaired,
    true_translation,
)

__all__ = [
    "BUNDLED",
    "BUNDLED_IMAGES",
    "CAPTIONED",
    "DataSource",
    "IMAGE_EXTENSIONS",
    "KINDS",
    "SPLITS",
    "captioned",
    "edge_map",
    "images",
    "load",
    "load_image",
    "load_folder",
    "load_paired",
    "load_unpaired",
    "true_translation",
    "mixture_modes",
    "open_source",
    "paired_images",
    "set_epoch",
    "to_data_space",
    "tokenized",
    "unpaired_images",
    "validate_images",
]
