"""Texture synthesis and style transfer models, and the VGG features they use."""

import time

import keras
import numpy as np
import pytest
from keras import ops

import kgen
from kgen.networks import vgg

STYLE = ["block1_conv1", "block2_conv1"]
CONTENT = ["block1_conv2"]


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def image(name, size=16):
    return kgen.data.load_image(name, size=size, channels=3)


# ------------------------------------------------------------ VGG features
def test_vgg19_features_preprocessing_shapes_and_seed():
    pixels = np.array([[[[1.0, 0.0, -1.0]]]], "float32")   # RGB 255, 127.5, 0
    np.testing.assert_allclose(
        numpy(vgg.CaffePreprocessing()(pixels))[0, 0, 0],
        [0.0 - 103.939, 127.5 - 116.779, 255.0 - 123.68], rtol=1e-5)

    extractor = vgg.vgg19_features(["block2_conv1", "block1_conv1"], weights=None, seed=3)
    names = [layer.name for layer in extractor.layers]
    assert "block2_conv2" not in names and "block2_pool" not in names   # stops early
    assert isinstance(extractor.get_layer("block1_pool"), keras.layers.AveragePooling2D)
    x = np.zeros((2, 16, 16, 3), "float32")
    f2, f1 = extractor(x)
    assert tuple(f2.shape) == (2, 8, 8, 128) and tuple(f1.shape) == (2, 16, 16, 64)
    again = vgg.vgg19_features(["block1_conv1"], weights=None, seed=3, pooling="max")
    np.testing.assert_array_equal(numpy(again.get_layer("block1_conv1").kernel),
                                  numpy(extractor.get_layer("block1_conv1").kernel))
    with pytest.raises(ValueError, match="Unknown VGG-19 layer"):
        vgg.vgg19_features(["conv1_1"], weights=None)
    with pytest.raises(ValueError, match="np.repeat"):
        vgg.vgg19_features(["block1_conv1"], weights=None, input_shape=(16, 16, 1))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vgg.vgg19_features(["block1_conv1"], weights="/no/such/vgg19.h5")


def test_offline_imagenet_weights_give_a_clear_message_quickly(tmp_path):
    # An empty cache and an origin that refuses connections: the download fails the
    # way it does offline, at once, and the message says what to fetch and how to pass it.
    start = time.time()
    with pytest.raises(RuntimeError) as info:
        vgg.imagenet_weights_path(cache_dir=str(tmp_path),
                                  origin="http://127.0.0.1:9/" + vgg.VGG19_WEIGHTS_FILE,
                                  timeout=5.0)
    assert time.time() - start < 10.0
    message = str(info.value)
    assert vgg.VGG19_WEIGHTS_FILE in message and vgg.VGG19_WEIGHTS_URL in message
    assert 'weights="/path/to/' in message and "weights=None" in message
    assert not list(tmp_path.glob("models/*.h5"))


# ------------------------------------------------------------------ models
def test_texture_synthesis_lowers_its_loss_and_round_trips(tmp_path):
    extractor = vgg.vgg19_features(STYLE, weights=None, seed=0)
    model = kgen.models.TextureSynthesis(image("brick"), extractor=extractor,
                                         style_layers=STYLE, seed=0)
    start = model.generate()
    history = model.fit(epochs=2, steps_per_epoch=15, verbose=0).history
    assert set(history) == {"loss", "style", "tv"}
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    result = model.generate()
    assert result.shape == (1, 16, 16, 3) and result.dtype == np.float32
    assert result.min() >= -1.0 and result.max() <= 1.0
    assert not np.allclose(result, start)
    # Same seed, same start; the texture's Gram matrices are the targets.
    twin = kgen.models.TextureSynthesis(image("brick"), extractor=extractor,
                                        style_layers=STYLE, seed=0)
    np.testing.assert_array_equal(twin.generate(), start)

    path = str(tmp_path / "texture.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.generate(), result)
    for a, b in zip(loaded.target_grams, model.target_grams):
        np.testing.assert_allclose(numpy(a), numpy(b), rtol=1e-6)
    with pytest.raises(ValueError, match="one image"):
        model.generate(2)
    with pytest.raises(ValueError, match="takes no data"):
        model.fit(np.zeros((4, 16, 16, 3)))
    with pytest.raises(ValueError, match="needs steps"):
        model.fit()
    with pytest.raises(ValueError, match="positive integer"):
        model.fit(steps=0)


def test_style_transfer_lowers_its_loss_and_logs_each_term():
    extractor = vgg.vgg19_features(STYLE + CONTENT, weights=None, seed=0)
    content, style = image("astronaut"), image("gravel", size=24)
    model = kgen.models.StyleTransfer(content, style, extractor=extractor, style_layers=STYLE,
                                      content_layers=CONTENT, seed=0)
    np.testing.assert_allclose(model.generate()[0],
                               kgen.data.to_data_space(content[None])[0], atol=1e-6)
    history = model.fit(epochs=2, steps_per_epoch=15, verbose=0).history
    assert set(history) == {"loss", "style", "content", "tv"}
    assert history["loss"][-1] < history["loss"][0]
    assert history["style"][-1] < history["style"][0]
    # Started from the content image, the content term grows from zero as style comes in.
    assert history["content"][0] > 0.0
    assert model.generate().shape == (1, 16, 16, 3)


def test_bad_inputs_name_the_problem():
    extractor = vgg.vgg19_features(STYLE, weights=None, seed=0)
    gray = kgen.data.load_image("brick", size=16)
    with pytest.raises(ValueError, match="3 channels.*np.repeat"):
        kgen.models.TextureSynthesis(gray, extractor=extractor, style_layers=STYLE)
    with pytest.raises(ValueError, match="returns 2 feature maps"):
        kgen.models.TextureSynthesis(image("brick"), extractor=extractor,
                                     style_layers=["block1_conv1"])
    # Gram matrices are normalised by the number of positions: any output size works.
    larger = kgen.models.TextureSynthesis(image("brick"), extractor=extractor,
                                          style_layers=STYLE, image_shape=(24, 32), seed=0)
    assert larger.generate().shape == (1, 24, 32, 3)
    with pytest.raises(ValueError, match="image_shape"):
        kgen.models.TextureSynthesis(image("brick"), extractor=extractor, style_layers=STYLE,
                                     image_shape=(16, 16, 1))
    with pytest.raises(ValueError, match="init"):
        kgen.models.StyleTransfer(image("coffee"), image("brick"), extractor=extractor,
                                  style_layers=STYLE[:1], content_layers=STYLE[1:],
                                  init="style")
    with pytest.raises(ValueError, match="Unknown image"):
        kgen.data.load_image("lena")
