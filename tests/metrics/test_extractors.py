"""Feature extractors: the shipped digits classifier, InceptionV3 (random init; offline ImageNet errors)."""

import dataclasses
import os
import socket
import sys

import keras
import numpy as np
import pytest

import kgen
from kgen.metrics import (
    FeatureExtractor,
    FrechetInceptionDistance,
    InceptionScore,
    digits_classifier,
    get_extractor,
    inception_v3,
    prompt_adherence,
)
from checks_catalogue import covers
from kgen.data import captioned
from kgen.metrics.extractors import (
    DIGITS_CLASSIFIER_WEIGHTS,
    EXTRACTORS,
    INCEPTION_V3_WEIGHTS,
    SCENE_CLASSIFIER_WEIGHTS,
    InceptionInput,
    load_digits_classifier,
    load_scene_classifier,
    scene_attributes,
    scene_classifier,
)

NOTOP = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.fixture(scope="module")
def digits_splits():
    train = kgen.data.to_data_space(kgen.data.load("digits", split="train"))
    test, labels = kgen.data.load("digits", split="test", return_labels=True)
    return train, kgen.data.to_data_space(test), labels


@pytest.fixture(scope="module")
def noise(digits_splits):
    return np.random.default_rng(0).uniform(-1, 1, digits_splits[1].shape).astype("float32")


# ---------------------------------------------------------------- digits classifier
def test_shipped_digits_classifier_reaches_97_percent_on_the_test_split(digits_splits):
    _, test, labels = digits_splits
    logits = load_digits_classifier().predict(test, verbose=0)
    accuracy = np.mean(logits.argmax(-1) == labels)
    assert accuracy >= 0.97, accuracy


def test_digits_extractor_outputs(digits_splits):
    _, test, labels = digits_splits
    features = digits_classifier()(test)
    logits = digits_classifier(output="logits")(test)
    assert features.shape == (360, 64) and features.dtype == np.float32
    assert logits.shape == (360, 10)
    assert np.mean(logits.argmax(-1) == labels) >= 0.97
    # uint8 images are scaled to data space by the extractor.
    raw = kgen.data.load("digits", split="test")
    np.testing.assert_allclose(digits_classifier()(raw), features, rtol=1e-5, atol=1e-5)


def test_digits_fid_of_held_out_digits_is_far_below_noise(digits_splits, noise):
    train, test, _ = digits_splits
    fid = FrechetInceptionDistance("digits")
    fid.update_state(train, test)
    real_fid = float(fid.result())
    fid.reset_state()
    fid.update_state(train, noise)
    noise_fid = float(fid.result())
    assert 0.0 < real_fid < noise_fid / 5, (real_fid, noise_fid)


def test_digits_inception_score_of_real_digits_is_near_ten(digits_splits, noise):
    _, test, _ = digits_splits
    real, random = InceptionScore("digits"), InceptionScore("digits")
    real.update_state(test)
    random.update_state(noise)
    assert 8.0 < float(real.result()) <= 10.0
    assert float(random.result()) < float(real.result()) / 2


def test_digits_extractor_rejects_bad_images():
    extractor = get_extractor("digits")
    with pytest.raises(ValueError, match="rank 4"):
        extractor(np.zeros((8, 8), "float32"))
    with pytest.raises(ValueError, match=r"\(8, 8, 1\)"):
        extractor(np.zeros((2, 16, 16, 1), "float32"))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        extractor(np.full((2, 8, 8, 1), 3.0, "float32"))
    with pytest.raises(ValueError, match="real images: .*non-finite"):
        FrechetInceptionDistance("digits").update_state(np.full((2, 8, 8, 1), np.nan), None)


def test_get_extractor_resolves_names_models_and_callables():
    assert get_extractor("digits").num_features == 64
    assert get_extractor("digits", output="logits").num_features == 10
    model = keras.Sequential([keras.Input((3, 3, 1)), keras.layers.Flatten()], name="flat9")
    from_model = get_extractor(model)
    assert isinstance(from_model, FeatureExtractor) and from_model.name == "flat9"
    assert from_model.num_features == 9
    assert get_extractor(from_model) is from_model
    x = np.arange(18, dtype="float32").reshape(2, 3, 3, 1)
    np.testing.assert_array_equal(from_model(x), x.reshape(2, 9))
    halves = get_extractor(lambda b: keras.ops.convert_to_tensor(b[:, ::2]))
    np.testing.assert_array_equal(halves(np.eye(4, dtype="float32")), np.eye(4)[:, ::2])
    with pytest.raises(ValueError, match="Unknown output 'probabilities'"):
        digits_classifier(output="probabilities")


# ---------------------------------------------------------------------- InceptionV3
@pytest.fixture(scope="module")
def inception():
    """InceptionV3 with random weights, built once for the module (it is heavy on CPU)."""
    return inception_v3(weights=None)


def _bilinear_matrix(n_in, n_out):
    """Bilinear interpolation with half-pixel centres, edges clamped, as a (n_out, n_in) matrix."""
    weights = np.zeros((n_out, n_in))
    for i in range(n_out):
        source = np.clip((i + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = int(np.floor(source))
        high = min(low + 1, n_in - 1)
        weights[i, low] += 1 - (source - low)
        weights[i, high] += source - low
    return weights


def test_inception_preprocessing_repeats_gray_and_resizes_bilinearly():
    network = keras.Sequential([keras.Input((299, 299, 3)), keras.layers.Identity()])
    preprocess = InceptionInput(network)
    gray = np.random.default_rng(0).uniform(-1, 1, (2, 8, 6, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(preprocess(gray))
    assert out.shape == (2, 299, 299, 3)
    rows, cols = _bilinear_matrix(8, 299), _bilinear_matrix(6, 299)
    expected = np.einsum("hi,wj,nij->nhw", rows, cols, gray[..., 0].astype(np.float64))
    for channel in range(3):
        np.testing.assert_allclose(out[..., channel], expected, atol=1e-5)
    rgb = np.random.default_rng(1).uniform(-1, 1, (1, 299, 299, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(preprocess(rgb)), rgb)


def test_inception_v3_runs_end_to_end_on_small_images(inception):
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (2, 8, 8, 1)).astype("float32")
    generated = rng.uniform(-1, 1, (2, 8, 8, 1)).astype("float32")
    features = inception(real)
    assert features.shape == (2, 2048) and np.isfinite(features).all()
    assert inception.protocol["resize"].startswith("keras.ops.image.resize bilinear to 299x299")
    # FID against reference statistics (mu, s * I): a positive-definite reference keeps the
    # 2048-D computation small. With 2 generated images the covariance has rank 1, so
    # FID = |mu - mu_g|^2 + 2048 s + |d|^2 / 2 - 2 sqrt(s |d|^2 / 2), d = g_1 - g_2.
    g = inception(generated).astype(np.float64)
    d = g[0] - g[1]
    s = (d @ d / 2) / 2048  # all four terms of similar size
    fid = FrechetInceptionDistance(inception, reference=(features.mean(0), s * np.eye(2048)))
    fid.update_state(None, generated)
    mean_shift = features.mean(0) - g.mean(0)
    expected = mean_shift @ mean_shift + 2048 * s + d @ d / 2 - 2 * np.sqrt(s * (d @ d) / 2)
    assert float(fid.result()) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        inception(np.zeros((1, 8, 8, 4), "float32"))


def test_inception_v3_logits_give_an_inception_score(inception):
    classifier = inception_v3(weights=None, output="logits")
    assert classifier.num_features == 1000 and classifier.protocol["output"] == "logits"
    score = InceptionScore(classifier, splits=2)
    score.update_state(np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 1)))
    assert score.predictions().shape == (2, 1000)
    # One image per split: p(y) = p(y|x), so each split scores exactly 1.
    assert float(score.result()) == pytest.approx(1.0, abs=1e-6)


def test_inception_v3_loads_weights_from_a_path(inception, tmp_path):
    path = str(tmp_path / "inception.weights.h5")
    inception.model.network.save_weights(path)
    loaded = inception_v3(weights=path)
    assert loaded.protocol["weights"] == "inception.weights.h5"
    for a, b in zip(loaded.model.network.weights, inception.model.network.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    with pytest.raises(ValueError, match="does not exist"):
        inception_v3(weights=str(tmp_path / "missing.h5"))


def _network_reachable(host="storage.googleapis.com"):
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


@pytest.mark.skipif(_network_reachable(), reason="the network is reachable: no offline error")
def test_inception_v3_imagenet_weights_offline_raise_a_how_to(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache
    with pytest.raises(RuntimeError) as error:
        inception_v3(weights="imagenet")
    message = str(error.value)
    assert NOTOP in message and 'weights="/path/to/' in message
    assert os.path.join(str(tmp_path), "models") in message
    assert not os.listdir(os.path.join(str(tmp_path), "models"))  # no partial file left


def test_inception_v3_download_failure_is_one_fast_attempt(monkeypatch, tmp_path):
    # A real download from a port where nothing listens: refused at once, whatever the network.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logits = INCEPTION_V3_WEIGHTS["logits"]
    origin = f"http://127.0.0.1:{port}/{logits.file_name}"
    monkeypatch.setitem(INCEPTION_V3_WEIGHTS, "logits", dataclasses.replace(logits, origin=origin))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match=f"download {origin} on a machine with network"):
        inception_v3(weights="imagenet", output="logits")


# ---------------------------------------------------------------- scene classifier
@pytest.fixture(scope="module")
def test_scenes():
    return captioned.load_scenes("test", num_samples=256, seed=3)


def test_shipped_scene_classifier_reads_the_attributes_of_unseen_scenes(test_scenes):
    # Scenes of the test digits, which the classifier never saw (seed 3: not the scenes
    # of the accuracy table either).
    seen = scene_attributes(test_scenes["images"])
    right = {name: np.mean(seen[name] == test_scenes["attributes"][name])
             for name in captioned.ATTRIBUTES}
    assert min(right[name] for name in ("colour", "background", "size", "position")) >= 0.98, \
        right
    assert right["digit"] >= 0.9, right
    held = captioned.load_scenes("heldout", num_samples=128, seed=3)
    assert np.mean(scene_attributes(held["images"])["colour"]
                   == held["attributes"]["colour"]) >= 0.98


@covers("scene-classifier-inputs")
def test_scene_extractor_outputs_and_errors(test_scenes):
    images = test_scenes["images"][:20]
    features = scene_classifier()(images)
    logits = scene_classifier(output="logits")(images)
    assert features.shape == (20, 128) and logits.shape == (20, 10)
    assert features.min() >= 0.0   # the ReLU features
    # uint8 scenes are scaled by the package's rule: the same as data space.
    np.testing.assert_allclose(scene_classifier()(kgen.data.to_data_space(images)),
                               features, rtol=1e-5, atol=1e-5)
    direct = load_scene_classifier().predict(kgen.data.to_data_space(images), verbose=0)
    np.testing.assert_allclose(logits, direct["digit"], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(scene_attributes(images)["digit"],
                                  direct["digit"].argmax(-1))
    assert get_extractor("scenes").num_features == 128
    assert EXTRACTORS["scenes"] is EXTRACTORS["scene_classifier"] is scene_classifier
    with pytest.raises(ValueError, match=r"takes images of shape \(32, 32, 3\)"):
        scene_classifier()(np.zeros((2, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match=r"takes \(32, 32, 3\) images .*got a batch of "
                                         r"shape \(2, 16, 16, 3\)"):
        scene_attributes(np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match=r"scene classifier weights .* not found.*"
                                         r"scripts/train_scene_classifier.py"):
        scene_attributes(images, weights="/no/such/scenes.weights.h5")
    with pytest.raises(TypeError, match="weights must be"):
        scene_classifier(weights=3)
    with pytest.raises(ValueError, match="Could not load the scene classifier weights"):
        load_scene_classifier(DIGITS_CLASSIFIER_WEIGHTS)


# ------------------------------------------------------------------- the package
def test_digits_classifier_weights_ship_next_to_their_module():
    module = sys.modules["kgen.metrics.extractors.digits_classifier"]
    assert DIGITS_CLASSIFIER_WEIGHTS == os.path.join(
        os.path.dirname(module.__file__), "digits_classifier.weights.h5")
    assert os.path.isfile(DIGITS_CLASSIFIER_WEIGHTS)
    assert kgen.metrics.DIGITS_CLASSIFIER_WEIGHTS == DIGITS_CLASSIFIER_WEIGHTS


def test_the_package_data_globs_take_the_digits_weights():
    # pyproject's package-data globs, expanded (recursively, as setuptools does) in the
    # package folder, find the shipped weights at their place.
    import glob

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "pyproject.toml"), "rb") as file:
        globs = tomllib.load(file)["tool"]["setuptools"]["package-data"]["kgen"]
    package = os.path.dirname(kgen.__file__)
    found = {path for pattern in globs
             for path in glob.glob(pattern, root_dir=package, recursive=True)}
    for shipped in (DIGITS_CLASSIFIER_WEIGHTS, SCENE_CLASSIFIER_WEIGHTS):
        assert os.path.relpath(shipped, package) in found, (globs, found)


def test_named_extractors_and_errors():
    assert EXTRACTORS["inception"] is EXTRACTORS["inception_v3"] is inception_v3
    assert EXTRACTORS["digits"] is EXTRACTORS["digits_classifier"] is digits_classifier
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        digits_classifier(batch_size=2.0)
    with pytest.raises(ValueError, match="batch_size must be an integer of at least 1"):
        FeatureExtractor(lambda x: x, batch_size=0)
    with pytest.raises(ValueError, match="not found"):
        digits_classifier(weights="/no/such/digits.weights.h5")
    with pytest.raises(TypeError, match="weights must be"):
        inception_v3(weights=3)


# ---------------------------------------------------------------- prompt adherence
def test_prompt_adherence_counts_the_scenes_whose_every_attribute_is_right(test_scenes):
    images, wanted = test_scenes["images"][:64], {
        name: values[:64] for name, values in test_scenes["attributes"].items()}
    seen = scene_attributes(images)
    right = {name: seen[name] == wanted[name] for name in captioned.ATTRIBUTES}
    shares = prompt_adherence(images, wanted)
    assert set(shares) == {"all", *captioned.ATTRIBUTES}
    assert shares["all"] == np.mean(np.logical_and.reduce(list(right.values())))
    assert shares["all"] >= 0.9   # real scenes: the ceiling
    # Asking every scene for another background (the next colour) makes none adhere,
    # and only the background share drops.
    other = dict(wanted, background=(wanted["background"] + 1)
                 % len(captioned.ATTRIBUTES["background"]))
    moved = prompt_adherence(images, other)
    assert moved["all"] == 0.0 and moved["background"] <= 0.05
    assert moved["digit"] == shares["digit"] and moved["colour"] == shares["colour"]


@covers("prompt-adherence-attributes")
def test_prompt_adherence_names_what_is_wrong_with_the_attributes(test_scenes):
    images = test_scenes["images"][:4]
    wanted = {name: values[:4] for name, values in test_scenes["attributes"].items()}
    with pytest.raises(ValueError, match="must be a mapping"):
        prompt_adherence(images, [wanted["digit"]])
    with pytest.raises(ValueError, match=r"lacks \['position'\]"):
        prompt_adherence(images, {k: v for k, v in wanted.items() if k != "position"})
    with pytest.raises(ValueError, match=r"attributes\['size'\] must be 4 integer"):
        prompt_adherence(images, dict(wanted, size=wanted["size"][:3]))
    with pytest.raises(ValueError, match=r"attributes\['digit'\] must be 4 integer"):
        prompt_adherence(images, dict(wanted, digit=wanted["digit"].astype("float32")))
    with pytest.raises(ValueError, match=r"attributes\['size'\] indexes 2 values"):
        prompt_adherence(images, dict(wanted, size=np.full(4, 2)))
