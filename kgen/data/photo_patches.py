"""Patches of scikit-image's colour photographs, for an unpaired translation task.

``load_unpaired("photos-negative")`` needs no download: domain A holds 16x16 patches of
the colour photographs shipped with scikit-image, domain B other patches of them as
colour negatives (``255 - x``, every channel inverted). The true translation of an A
patch is known, so a translator's error can be measured on held-out patches.
"""

import numpy as np

from kgen import checks

#: The colour photographs the patches are cut from (scikit-image's bundled images).
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")

#: Side of the square each photograph is resized to, side of a patch, and the step
#: between patches.
PHOTO_SIZE, PATCH_SIZE, PATCH_STEP = 128, 16, 8

#: Columns at and right of this one are held out: test patches come from there, training
#: patches from the left, so no pixel is in both splits.
TEST_COLUMN = 96


def photo_patches(split="all"):
    """Overlapping 16x16 patches of the bundled colour photographs, as uint8.

    Each photograph of `PHOTOS` is cut to its central square and resized to 128x128;
    patches are taken every 8 pixels. The training split's patches lie in the left 96
    columns of each photograph, the test split's in the right 32, so the splits share
    no pixel.

    Args:
        split: ``"all"``, ``"train"`` or ``"test"``.

    Returns:
        uint8 array ``(N, 16, 16, 3)``: 660 patches for ``"train"``, 180 for
        ``"test"``, 900 for ``"all"``.

    Example:

    ```python
    from kgen.data.photo_patches import photo_patches
    photo_patches("test").shape  # (180, 16, 16, 3)
    ```
    """
    from kgen.data.bundled import SPLITS
    from kgen.data.images_bundled import load_image

    checks.one_of(split, "split", SPLITS)
    patches = []
    for name in PHOTOS:
        photo = load_image(name, size=PHOTO_SIZE, channels=3)
        for top in range(0, PHOTO_SIZE - PATCH_SIZE + 1, PATCH_STEP):
            for left in range(0, PHOTO_SIZE - PATCH_SIZE + 1, PATCH_STEP):
                held_out = left >= TEST_COLUMN
                in_train = left + PATCH_SIZE <= TEST_COLUMN
                if split == "all" or (split == "test" and held_out) or (
                        split == "train" and in_train):
                    patches.append(photo[top:top + PATCH_SIZE, left:left + PATCH_SIZE])
    return np.stack(patches)
