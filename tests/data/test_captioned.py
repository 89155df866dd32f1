"""Captioned data: the bundled scenes, captions beside the images of a folder, and token
ids."""

import json

import numpy as np
import pytest
from PIL import Image

import kgen
from kgen import data
from kgen.data import captioned
from kgen.networks import Tokenizer

from checks_catalogue import covers


@pytest.fixture(scope="module")
def scenes():
    return captioned.load_scenes("train", num_samples=300, seed=0)


# ---------------------------------------------------------------- the scenes
def test_scenes_are_deterministic_for_a_seed_and_differ_between_seeds(scenes):
    again = captioned.load_scenes("train", num_samples=300, seed=0)
    np.testing.assert_array_equal(scenes["images"], again["images"])
    np.testing.assert_array_equal(scenes["captions"], again["captions"])
    other = captioned.load_scenes("train", num_samples=300, seed=1)
    assert not np.array_equal(scenes["images"], other["images"])
    assert scenes["images"].shape == (300, 32, 32, 3) and scenes["images"].dtype == np.uint8
    assert scenes["captions"].shape == (300, len(captioned.TEMPLATES))


def test_the_pixels_show_the_attributes(scenes):
    images, attributes = scenes["images"].astype(int), scenes["attributes"]
    palette = np.asarray([captioned.RGB[c] for c in captioned.COLOURS])
    # The corner opposite the digit is background.
    opposite = {0: (31, 31), 1: (31, 0), 2: (0, 31), 3: (0, 0), 4: (0, 0)}
    for k in range(len(images)):
        background = palette[attributes["background"][k]]
        ink = palette[attributes["colour"][k]]
        row, column = opposite[int(attributes["position"][k])]
        np.testing.assert_array_equal(images[k, row, column], background)
        # The pixel furthest from the background is (nearly) the digit's colour.
        distance = np.abs(images[k] - background).sum(-1)
        r, c = np.unravel_index(np.argmax(distance), distance.shape)
        assert np.abs(images[k, r, c] - ink).max() <= 40, k
        # The digit's pixels lie in the named part of the scene, at its size.
        rows, columns = np.nonzero(distance > 30)
        side = captioned.SIDES[captioned.SIZES[attributes["size"][k]]]
        assert rows.max() - rows.min() < side + 1 and columns.max() - columns.min() < side + 1
        middle = (rows.mean(), columns.mean())
        position = captioned.POSITIONS[attributes["position"][k]]
        if position == "centre":
            assert all(abs(m - 15.5) < 6 for m in middle), (k, middle)
        else:
            vertical, horizontal = position.split()
            assert (middle[0] < 15.5) == (vertical == "top"), (k, middle)
            assert (middle[1] < 15.5) == (horizontal == "left"), (k, middle)


def test_captions_describe_the_attributes_and_never_the_background_as_the_digit(scenes):
    attributes, captions = scenes["attributes"], scenes["captions"]
    assert np.all(attributes["colour"] != attributes["background"])
    for k in range(0, 300, 37):
        row = {name: int(values[k]) for name, values in attributes.items()}
        assert [captioned.caption(row, t) for t in range(5)] == list(captions[k])
    assert captioned.caption({"digit": 7, "colour": "red", "background": "blue",
                              "size": "small", "position": "top left"}, 1) == \
        "red 7, top left, blue background"
    assert len({str(c) for c in captions[:, 0]}) > 100       # many different scenes


def test_held_out_pairs_appear_only_in_the_heldout_split():
    held = set(captioned.HELD_OUT)
    # Every scene of "all" (train and test): never a held-out pair, every other pair.
    attributes = captioned.load_scenes("all", seed=2)["attributes"]
    pairs = {(int(d), captioned.COLOURS[c])
             for d, c in zip(attributes["digit"], attributes["colour"])}
    assert not pairs & held
    assert len(pairs) == 10 * len(captioned.COLOURS) - len(held)
    heldout = captioned.load_scenes("heldout", num_samples=100, seed=2)["attributes"]
    pairs = {(int(d), captioned.COLOURS[c])
             for d, c in zip(heldout["digit"], heldout["colour"])}
    assert pairs <= held and len(pairs) == 10


def test_grouped_scenes_differ_only_in_their_digit():
    scenes = captioned.load_scenes("train", num_samples=40, seed=3, group_size=4)
    attributes = {k: v.reshape(10, 4) for k, v in scenes["attributes"].items()}
    for name in ("colour", "background", "size", "position"):
        assert (attributes[name] == attributes[name][:, :1]).all(), name
    assert all(len(set(row)) == 4 for row in attributes["digit"].tolist())
    held = set(captioned.HELD_OUT)
    assert not {(int(d), captioned.COLOURS[c]) for d, c in zip(
        scenes["attributes"]["digit"], scenes["attributes"]["colour"])} & held
    with pytest.raises(ValueError, match="group_size applies to the 'train' and 'test'"):
        captioned.load_scenes("heldout", num_samples=8, group_size=2)
    with pytest.raises(ValueError, match=r"group_size must be an integer in 1\.\.8; got 9"):
        captioned.load_scenes("train", num_samples=8, group_size=9)


def test_scene_batches_are_fresh_every_epoch_and_repeatable():
    tokenizer = Tokenizer.adapted(captioned.load_scenes("train", 64)["captions"])
    batches = captioned.SceneBatches(tokenizer, batch_size=8, steps=3, group_size=2, seed=5)
    assert len(batches) == 3
    x, ids = batches[1]
    assert x.shape == (8, 32, 32, 3) and x.dtype == np.uint8
    assert ids.shape == (8, 5, tokenizer.context_length) and ids.dtype == np.int32
    np.testing.assert_array_equal(batches[1][0], x)
    assert not np.array_equal(batches[0][0], x)
    batches.on_epoch_end()
    assert not np.array_equal(batches[1][0], x)
    again = captioned.SceneBatches(tokenizer, batch_size=8, steps=3, group_size=2, seed=5)
    np.testing.assert_array_equal(again[1][0], x)
    with pytest.raises(ValueError, match="multiple of group_size"):
        captioned.SceneBatches(tokenizer, batch_size=6, group_size=4)


def test_train_and_test_scenes_draw_on_their_own_digit_images():
    scene = captioned.load_scenes("test", num_samples=1, seed=0)
    for split, found in (("test", True), ("train", False)):
        digits = kgen.data.load("digits", split=split)[..., 0]
        for k in range(1):
            attributes = {name: np.full(len(digits), values[k])
                          for name, values in scene["attributes"].items()}
            rendered = captioned.render(digits, attributes).astype(int)
            image = scene["images"][k].astype(int)
            # Rendered without jitter: every shift of up to one pixel.
            best = min(np.abs(np.roll(rendered, (dy, dx), axis=(1, 2)) - image)
                       .reshape(len(digits), -1).max(axis=1).min()
                       for dy in (-1, 0, 1) for dx in (-1, 0, 1))
            assert (best == 0) == found, (split, k, best)


def test_load_returns_what_is_asked_in_order():
    x, y, text, attributes = data.load("captioned_digits", split="test", num_samples=5,
                                       return_labels=True, return_captions=True,
                                       return_attributes=True)
    assert x.shape == (5, 32, 32, 3) and y.dtype == np.int32
    np.testing.assert_array_equal(y, attributes["digit"])
    assert text.shape == (5, 5) and sorted(attributes) == sorted(captioned.ATTRIBUTES)
    assert data.load("captioned_digits", split="test", num_samples=5).shape == (5, 32, 32, 3)
    assert len(data.load("captioned_digits", split="all", num_samples=10)) == 10
    assert len(data.load("captioned_digits", split="test")) == 4 * 360
    with pytest.raises(ValueError, match="'digits' has no captions"):
        data.load("digits", return_captions=True)
    with pytest.raises(ValueError, match="Unknown split 'valid'.*heldout"):
        data.load("captioned_digits", split="valid")
    with pytest.raises(TypeError, match="num_samples must be an integer"):
        data.load("captioned_digits", num_samples=2.5)
    with pytest.raises(ValueError, match="Unknown data set 'scenes'.*'captioned_digits'"):
        data.load("scenes")


def test_one_attribute_changes_differ_in_exactly_one_attribute():
    base = {"digit": 3, "colour": 1, "background": 5, "size": 1, "position": 2}
    changes = captioned.one_attribute_changes(base)
    assert len(changes) == 9 + 5 + 5 + 1 + 4
    for name, changed in changes:
        assert [k for k in base if base[k] != changed[k]] == [name]
        assert changed["colour"] != changed["background"]
    assert len({captioned.caption(c) for _, c in changes}) == len(changes)


# ---------------------------------------------------------------- data sources
def test_captioned_digits_as_a_captioned_source():
    source = data.open_source("captioned_digits", kind="captioned", split="heldout")
    assert source.kind == "captioned" and source.num_examples == 1440
    assert source.description == ("captioned_digits: 1440 images of 32x32x3 (split heldout), "
                                  "7200 captions (5 per image)")
    images, text = next(iter(source.dataset(4, seed=0)))
    assert images.shape == (4, 32, 32, 3) and float(np.max(images)) <= 1.0
    assert text.shape == (4, 5) and text.dtype == "string"
    x, table = source.arrays(limit=6)
    np.testing.assert_array_equal(table, source.captions[source._subset(1440, 6, 0)])
    reference, captions = data.load("captioned_digits", split="heldout", return_captions=True)
    row = int(np.flatnonzero((reference == x[0]).all(axis=(1, 2, 3)))[0])
    assert list(table[0]) == list(captions[row])
    small = data.open_source("captioned_digits", kind="captioned", split="heldout",
                             image_size=16, channels=1)
    assert small.shape == (16, 16, 1)
    with pytest.raises(ValueError, match="swap left and right"):
        source.dataset(4, flip=True)
    with pytest.raises(ValueError, match="labels=True needs kind='samples'"):
        data.open_source("captioned_digits", kind="captioned", labels=True)
    with pytest.raises(ValueError, match="'digits' is a samples data set, not captioned.*"
                                         "'captioned_digits'.*captions.jsonl"):
        data.open_source("digits", kind="captioned")
    # As samples (for an image model such as the autoencoder of a latent text model): the
    # scenes without their captions, each labelled with its digit.
    scenes = data.open_source("captioned_digits", split="test", labels=True)
    images, digits = scenes.arrays(limit=8)
    reference, classes = data.load("captioned_digits", split="test", return_labels=True)
    assert scenes.shape == (32, 32, 3) and scenes.num_classes == 10 and scenes.captions is None
    assert scenes.kind == "samples" and scenes.num_examples == len(reference) == 1440
    rows = [int(np.flatnonzero((reference == image).all(axis=(1, 2, 3)))[0]) for image in images]
    np.testing.assert_array_equal(digits, classes[rows])
    with pytest.raises(ValueError, match="Unknown data source 'nope' for kind='captioned'"):
        data.open_source("nope", kind="captioned")


# ---------------------------------------------------------------- TensorFlow Datasets
_BUILDERS = {}


def _captioned_tfds_builder():
    """A TensorFlow Datasets builder of images of two sizes with COCO-like captions (a
    sequence of texts) and a title that is not a caption, made without network."""
    if "builder" not in _BUILDERS:
        import tensorflow_datasets as tfds

        class KgenTinyCaptioned(tfds.core.GeneratorBasedBuilder):
            VERSION = tfds.core.Version("1.0.0")

            def _info(self):
                return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(None, None, 3)),
                    "captions": tfds.features.Sequence({"text": tfds.features.Text()}),
                    "title": tfds.features.Text()}))

            def _split_generators(self, dl_manager):
                return {"train": self._generate_examples(4), "test": self._generate_examples(1)}

            def _generate_examples(self, count):
                for i in range(count):
                    texts = [f"a square of shade {i}", f"shade {i}"][:1 + i % 2]
                    yield i, {"image": np.full((6 + 2 * (i % 2), 6, 3), 40 * i, np.uint8),
                              "captions": {"text": texts}, "title": f"picture {i}"}

        tfds.disable_progress_bar()
        _BUILDERS["builder"] = KgenTinyCaptioned
    return _BUILDERS["builder"]


@covers("tfds-captions")
def test_a_tfds_set_with_captions_through_the_captioned_pipeline(tmp_path, monkeypatch):
    _captioned_tfds_builder()(data_dir=str(tmp_path)).download_and_prepare()
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    source = data.open_source("tfds:kgen_tiny_captioned", kind="captioned", image_size=4)
    assert source.num_examples == 4 and source.shape == (4, 4, 3)
    assert "captions from captions/text" in source.description
    images, table = source.arrays()
    shade = images[:, 0, 0, 0] // 40
    assert sorted(shade.tolist()) == [0, 1, 2, 3]
    for row, i in zip(table, shade):   # the captions of each image, never its title
        expected = [f"a square of shade {i}", f"shade {i}"][:1 + i % 2]
        assert [c for c in row if c] == expected
    tokenizer = Tokenizer.adapted(table)
    x, ids = next(iter(data.tokenized(source, tokenizer).dataset(4, seed=0)))
    assert tuple(x.shape) == (4, 4, 4, 3) and tuple(ids.shape)[:2] == (4, 2)
    test = data.open_source("tfds:kgen_tiny_captioned:test", kind="captioned")
    assert test.num_examples == 1 and test.shape == (6, 6, 3)
    # Images of several sizes need image_size; a set without captions is named.
    with pytest.raises(ValueError, match=r"images of several sizes .*pass image_size"):
        data.open_source("tfds:kgen_tiny_captioned", kind="captioned")
    with pytest.raises(RuntimeError, match=r"Could not load .*'coco_captions'.*tfds.load"):
        data.open_source("tfds:coco_captions", kind="captioned")


def test_tfds_caption_features_are_the_texts_named_as_captions():
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(4, 4, 3)),
        "caption": tfds.features.Text(), "title": tfds.features.Text(),
        "annotations": tfds.features.Sequence({"text": tfds.features.Text(),
                                               "id": tfds.features.Scalar(np.int64)})})
    assert sorted(captioned.tfds_caption_features(features)) == [("annotations", "text"),
                                                                  ("caption",)]
    assert captioned.tfds_caption_features(tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(4, 4, 3)), "label": tfds.features.ClassLabel(
            num_classes=2)})) == []


def _image(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 6, 3), value, np.uint8)).save(path)


def _folder(root, names=("a.png", "b.png", "c.png", "d.png")):
    for k, name in enumerate(names):
        _image(root / name, 50 * k)
    return root


def test_folder_with_captions_jsonl(tmp_path):
    root = _folder(tmp_path / "photos", ("a.png", "b.png", "c.png"))
    lines = [{"file": "a.png", "caption": "a black square"},
             {"file": "b.png", "caption": "a dark square"},
             {"file": "a.png", "caption": "nothing but black"},
             {"file": "c.png", "caption": "grey"}]
    (root / "captions.jsonl").write_text("\n".join(json.dumps(e) for e in lines) + "\n\n")
    source = data.open_source(f"folder:{root}", kind="captioned")
    assert source.num_examples == 3 and source.shape == (6, 6, 3)
    x, table = source.arrays()
    by_value = {int(image[0, 0, 0]): list(row) for image, row in zip(x, table)}
    assert by_value == {0: ["a black square", "nothing but black"], 50: ["a dark square", ""],
                        100: ["grey", ""]}
    images, text = next(iter(source.dataset(3, seed=0)))
    assert images.shape == (3, 6, 6, 3) and text.shape == (3, 2)
    assert "4 captions (1 to 2 per image)" in source.description


def test_folder_with_captions_txt(tmp_path):
    root = _folder(tmp_path / "photos", ("a.png", "b.png"))
    (root / "captions.txt").write_text("a.png\ta black square\n\nb.png\tgrey\n"
                                       "a.png\t  the darkest one  \n")
    source = data.open_source(root, kind="captioned")
    x, table = source.arrays()
    assert [list(r) for r in table] == [["a black square", "the darkest one"], ["grey", ""]]


@covers("folder-captions")
def test_folder_caption_errors(tmp_path):
    root = _folder(tmp_path / "none", ("a.png",))
    with pytest.raises(ValueError, match="has no captions file.*captions.jsonl.*captions.txt"):
        data.open_source(f"folder:{root}", kind="captioned")
    both = _folder(tmp_path / "both", ("a.png",))
    (both / "captions.txt").write_text("a.png\tx\n")
    (both / "captions.jsonl").write_text(json.dumps({"file": "a.png", "caption": "x"}))
    with pytest.raises(ValueError, match="both captions.jsonl and captions.txt"):
        data.open_source(f"folder:{both}", kind="captioned")
    bad = _folder(tmp_path / "bad", ("a.png", "b.png"))
    (bad / "captions.jsonl").write_text('{"file": "a.png", "caption": "x"}\nnot json\n')
    with pytest.raises(ValueError, match="Line 2 of .* is not JSON"):
        data.open_source(f"folder:{bad}", kind="captioned")
    (bad / "captions.jsonl").write_text('{"file": "a.png", "text": "x"}\n')
    with pytest.raises(ValueError, match="Line 1 .* keys 'file' and 'caption'"):
        data.open_source(f"folder:{bad}", kind="captioned")
    (bad / "captions.jsonl").write_text('{"file": "a.png", "caption": " "}\n')
    with pytest.raises(ValueError, match="the caption of 'a.png' is empty"):
        data.open_source(f"folder:{bad}", kind="captioned")
    # Captions that do not match the images: a missing caption, an unknown file.
    (bad / "captions.jsonl").write_text('{"file": "a.png", "caption": "x"}\n')
    with pytest.raises(ValueError, match=r"1 of the 2 images .* have no caption in "
                                         r"captions.jsonl: 'b.png'"):
        data.open_source(f"folder:{bad}", kind="captioned")
    (bad / "captions.jsonl").unlink()
    (bad / "captions.txt").write_text("a.png\tx\nb.png\ty\ngone.png\tz\n")
    with pytest.raises(ValueError, match=r"Line 3 of .* names 'gone.png', which is not an "
                                         r"image of the folder"):
        data.open_source(f"folder:{bad}", kind="captioned")
    (bad / "captions.txt").write_text("a.png x\n")
    with pytest.raises(ValueError, match="Line 1 of .* has no tab"):
        data.open_source(f"folder:{bad}", kind="captioned")


# ---------------------------------------------------------------- tokens
def test_caption_tokens_and_a_tokenized_source():
    tokenizer = Tokenizer(["red", "blue", "seven"], context_length=4)
    ids = captioned.caption_tokens([["red seven", ""], ["blue", "red"]], tokenizer)
    assert ids.shape == (2, 2, 4)
    assert ids[0, 1].tolist() == [0, 0, 0, 0] and ids[1, 1].tolist() == [3, 2, 0, 0]
    assert captioned.caption_tokens(["", "red"], tokenizer)[0].tolist() == [2, 0, 0, 0]
    with pytest.raises(ValueError, match=r"rows \[1\] of the captions table are all empty"):
        captioned.caption_tokens([["red"], [""]], tokenizer)
    with pytest.raises(TypeError, match="captions must be strings"):
        captioned.caption_tokens([1, 2], tokenizer)

    source = data.open_source("captioned_digits", kind="captioned", split="heldout")
    tokenizer = Tokenizer.adapted(source.arrays()[1])
    tokens = data.tokenized(source, tokenizer)
    assert tokens.num_examples == source.num_examples and "as token ids" in tokens.description
    x, ids = next(iter(tokens.dataset(4, seed=0)))
    reference, text = next(iter(source.dataset(4, seed=0)))
    np.testing.assert_array_equal(x, reference)
    assert ids.shape == (4, 5, tokenizer.context_length) and ids.dtype == "int32"
    decoded = tokenizer.detokenize(np.asarray(ids))
    assert decoded[0][1] == " ".join(
        text.numpy()[0, 1].decode().replace(",", "").split())
    with pytest.raises(ValueError, match="kind='captioned'"):
        data.tokenized(data.open_source("digits"), tokenizer)
