"""kgen.pretrained: published weights from the Keras cache, one download, one offline error."""

import dataclasses
import hashlib
import os
import socket
import time

import pytest

from kgen import pretrained
from kgen.metrics.extractors import INCEPTION_V3_WEIGHTS, inception_v3
from kgen.networks import vgg

CONTENT = b"not really weights"


def refused_origin(file_name):
    """An http URL on 127.0.0.1 at a port where nothing listens: a download fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{file_name}"


def tiny_weights(**changes):
    fields = dict(description="the weights of a tiny network", file_name="tiny.weights.h5",
                  origin="https://example.com/tiny.weights.h5",
                  file_hash=hashlib.md5(CONTENT).hexdigest(), used_by="tiny_network",
                  random_weights="a random tiny network")
    fields.update(changes)
    return pretrained.PretrainedWeights(**fields)


def put_in_cache(root, weights, content=CONTENT):
    folder = os.path.join(root, weights.cache_subdir)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, weights.file_name)
    with open(path, "wb") as file:
        file.write(content)
    return path


def check_offline_message(message, weights, origin, cache):
    """The one shape of the message: what file, from where, where to put it, the alternatives."""
    name = weights.file_name
    target = os.path.join(cache, "models", name)
    assert message.startswith(f"Could not get {weights.description} ({name}): the file is not "
                              f"in the Keras cache and downloading it from {origin} failed (")
    assert f"download {weights.origin} on a machine with network access" in message
    assert f"put it at {target} (the Keras cache: $KERAS_HOME/models/{name}, by default " \
           f"~/.keras/models/{name})" in message
    assert f'{weights.used_by}(..., weights="/path/to/{name}")' in message
    assert message.endswith(f"weights=None gives {weights.random_weights}.")


# -------------------------------------------------------------- the cached file
def test_a_cached_file_is_used_without_network(tmp_path, monkeypatch):
    # The origin refuses connections: the file can only come from the cache.
    weights = tiny_weights(origin=refused_origin("tiny.weights.h5"))
    path = put_in_cache(str(tmp_path), weights)
    assert pretrained.fetch_weights(weights, cache_dir=str(tmp_path)) == path
    # KERAS_HOME is read at each call, as the cache root.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert pretrained.keras_cache_dir() == str(tmp_path)
    assert pretrained.cached_path(weights) == path
    assert pretrained.fetch_weights(weights) == path
    assert pretrained.weights_path("imagenet", weights) == path
    with open(path, "rb") as file:
        assert file.read() == CONTENT


def test_a_sha256_hash_is_checked_too(tmp_path):
    weights = tiny_weights(file_hash=hashlib.sha256(CONTENT).hexdigest(),
                           origin=refused_origin("tiny.weights.h5"))
    path = put_in_cache(str(tmp_path), weights)
    assert pretrained.is_published_file(path, weights)
    assert pretrained.fetch_weights(weights, cache_dir=str(tmp_path)) == path
    assert not pretrained.is_published_file(path, tiny_weights(file_hash="0" * 64))


def test_a_cached_vgg_file_is_found_without_network(tmp_path, monkeypatch):
    # A file with VGG-19's name in a temporary KERAS_HOME is the one used; its hash stands
    # in for the published one.
    weights = dataclasses.replace(vgg.VGG19_WEIGHTS, file_hash=hashlib.md5(CONTENT).hexdigest(),
                                  origin=refused_origin(vgg.VGG19_WEIGHTS_FILE))
    home = str(tmp_path / "keras_home")
    path = put_in_cache(home, weights)
    assert path == os.path.join(home, "models", vgg.VGG19_WEIGHTS_FILE)
    monkeypatch.setattr(vgg, "VGG19_WEIGHTS", weights)
    monkeypatch.setenv("KERAS_HOME", home)
    assert vgg.imagenet_weights_path(origin=weights.origin) == path
    assert pretrained.weights_path("imagenet", vgg.VGG19_WEIGHTS) == path


# --------------------------------------------------------------- offline errors
@pytest.mark.parametrize("family", ["vgg19", "inception_v3"])
def test_offline_error_has_one_shape_for_every_network(family, tmp_path, monkeypatch):
    home = str(tmp_path / "keras_home")
    monkeypatch.setenv("KERAS_HOME", home)
    if family == "vgg19":
        weights = vgg.VGG19_WEIGHTS
        origin = refused_origin(weights.file_name)
        monkeypatch.setattr(vgg, "VGG19_WEIGHTS", dataclasses.replace(weights, origin=origin))
        build = lambda: vgg.vgg19_features(["block1_conv1"], weights="imagenet")  # noqa: E731
    else:
        weights = INCEPTION_V3_WEIGHTS["features"]
        origin = refused_origin(weights.file_name)
        monkeypatch.setitem(INCEPTION_V3_WEIGHTS, "features",
                            dataclasses.replace(weights, origin=origin))
        build = lambda: inception_v3(weights="imagenet")  # noqa: E731
    start = time.time()
    with pytest.raises(RuntimeError) as info:
        build()
    assert time.time() - start < 10.0
    check_offline_message(str(info.value), dataclasses.replace(weights, origin=origin), origin,
                          home)
    assert weights.file_name in str(info.value)
    assert not os.listdir(os.path.join(home, "models"))  # no partial file left


def test_a_mirror_that_fails_names_the_mirror_and_the_published_url(tmp_path):
    mirror = refused_origin(vgg.VGG19_WEIGHTS_FILE)
    with pytest.raises(RuntimeError) as info:
        vgg.imagenet_weights_path(cache_dir=str(tmp_path), origin=mirror, timeout=5.0)
    check_offline_message(str(info.value), vgg.VGG19_WEIGHTS, mirror, str(tmp_path))
    assert vgg.VGG19_WEIGHTS_URL in str(info.value)


def test_a_stale_cached_file_is_named_in_the_offline_error(tmp_path):
    weights = tiny_weights(origin=refused_origin("tiny.weights.h5"))
    put_in_cache(str(tmp_path), weights, b"an older file")
    with pytest.raises(RuntimeError) as info:
        pretrained.fetch_weights(weights, cache_dir=str(tmp_path))
    check_offline_message(str(info.value), weights, weights.origin, str(tmp_path))
    assert "had another hash than " + weights.file_hash in str(info.value)


# --------------------------------------------------------- the weights= argument
def test_weights_argument_values(tmp_path):
    weights = tiny_weights()
    assert pretrained.weights_path(None, weights) is None
    local = tmp_path / "mine.h5"
    local.write_bytes(CONTENT)
    assert pretrained.weights_path(str(local), weights) == str(local)
    assert pretrained.weights_path(local, weights) == str(local)  # an os.PathLike
    with pytest.raises(pretrained.WeightsFileNotFoundError, match="does not exist") as info:
        pretrained.weights_path(str(tmp_path / "missing.h5"), weights)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    assert "tiny.weights.h5" in str(info.value) and "weights=None" in str(info.value)
    with pytest.raises(TypeError, match="weights must be 'imagenet'"):
        pretrained.weights_path(3, weights)
    with pytest.raises(TypeError, match="weights must be 'imagenet'"):
        vgg.vgg19_features(["block1_conv1"], weights=1.0)


def test_file_hash(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"a")
    assert pretrained.file_hash(str(path)) == "0cc175b9c0f1b6a831c399e269772661"
    assert pretrained.file_hash(str(path), "sha256") == hashlib.sha256(b"a").hexdigest()
