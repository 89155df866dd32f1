"""Text-conditioned diffusion: cross-attention, guidance, negative prompts, latents, saving."""

import keras
import numpy as np
import pytest

import kgen
from kgen.models import text_diffusion
from kgen.networks.diffusion_unet import SpatialCrossAttention

from checks_catalogue import covers

#: Tiny options: an 8x8 U-Net of one level, attention (self and cross) in its middle
#: only, and a one-block text encoder.
TINY = dict(timesteps=20, schedule="cosine", base_filters=4, channel_multipliers=(1,),
            num_res_blocks=1, attention_resolutions=(), groups=2, width=8, num_layers=1,
            num_heads=2)
PROMPT = "a red seven"
OTHER = "a large blue two on a green background"


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture(scope="module")
def scenes():
    """32 captioned scenes shrunk to 8x8, in data space, and their captions (32, 5)."""
    images, captions = kgen.data.load("captioned_digits", split="test", num_samples=32,
                                      return_captions=True)
    return kgen.data.to_data_space(images[:, ::4, ::4]), captions


@pytest.fixture(scope="module")
def trained(scenes):
    x, captions = scenes
    model = kgen.models.TextDiffusion.from_shape(x.shape[1:], captions, seed=0, ema=None,
                                                 **TINY)
    # A high learning rate: four steps move the zero-initialised output layers enough for
    # the prompt to show in the samples.
    model.compile(optimizer=keras.optimizers.Adam(5e-3))
    model.fit(x, captions, batch_size=16, epochs=2, verbose=0)
    return model


def test_cross_attention_masks_the_padding_and_reads_the_context(trained):
    assert [i.name for i in trained.network.inputs] == ["x_t", "t", "context",
                                                        "context_mask"]
    layer = SpatialCrossAttention(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 4, 4)).astype("float32")
    context = rng.standard_normal((2, 4, 6)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], "int32")
    out = to_numpy(layer(x, context, mask))
    padded = context.copy()
    padded[:, 3] = 50.0                      # padding: masked out
    np.testing.assert_allclose(to_numpy(layer(x, padded, mask)), out, atol=1e-5)
    changed = context.copy()
    changed[:, 0] += 1.0                     # a token: read
    assert np.abs(to_numpy(layer(x, changed, mask)) - out).max() > 1e-3


def test_pooled_context_adds_the_mean_text_to_every_block(tmp_path):
    from kgen.networks.diffusion_unet import MaskedMean, diffusion_unet

    rng = np.random.default_rng(0)
    context = rng.standard_normal((2, 4, 6)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], "int32")
    np.testing.assert_allclose(to_numpy(MaskedMean()(context, mask)),
                               [context[0, :2].mean(0), np.zeros(6)], atol=1e-6)
    net = diffusion_unet((8, 8, 1), base_filters=4, channel_multipliers=(1,),
                         num_res_blocks=1, groups=2, context_dim=6, num_heads=2,
                         pooled_context=True)
    # The zero-initialised layers (residual branches' last convolutions, the output)
    # opened and the cross-attention silenced: the text now reaches the output through the
    # pooled embedding alone.
    for weight in net.trainable_weights:
        if len(weight.shape) > 1 and not np.any(to_numpy(weight)):
            weight.assign(0.3 * rng.standard_normal(weight.shape).astype("float32"))
    for layer in net.layers:
        if isinstance(layer, SpatialCrossAttention):
            kernel = layer.attention.output_dense.kernel
            kernel.assign(np.zeros(kernel.shape, "float32"))
    x, t = rng.standard_normal((2, 8, 8, 1)).astype("float32"), np.array([3.0, 7.0], "float32")
    out = to_numpy(net([x, t, context, mask]))
    padded = context.copy()
    padded[:, 2:] += 5.0                          # padding only: no change
    np.testing.assert_allclose(to_numpy(net([x, t, padded, mask])), out, atol=1e-5)
    changed = context.copy()
    changed[0, 1] += 1.0                          # a token of the first text
    moved = np.abs(to_numpy(net([x, t, changed, mask])) - out).reshape(2, -1).max(1)
    assert moved[0] > 1e-3 and moved[1] < 1e-6
    net.save(tmp_path / "unet.keras")
    loaded = keras.saving.load_model(tmp_path / "unet.keras")
    np.testing.assert_allclose(to_numpy(loaded([x, t, context, mask])), out, atol=1e-5)
    with pytest.raises(ValueError, match="pooled_context needs a context"):
        diffusion_unet((8, 8, 1), base_filters=4, groups=2, pooled_context=True)
    with pytest.raises(TypeError, match="pooled_context must be True or False"):
        diffusion_unet((8, 8, 1), base_filters=4, groups=2, context_dim=6,
                       pooled_context="yes")


def test_the_prompt_conditions_the_samples(trained):
    a = trained.generate(2, prompt=PROMPT, seed=0, steps=3)
    assert a.shape == (2, 8, 8, 3) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(trained.generate(2, prompt=PROMPT, seed=0, steps=3), a)
    assert np.abs(trained.generate(2, prompt=OTHER, seed=0, steps=3) - a).max() > 1e-4
    # One prompt per sample: sample i is prompt i's.
    mixed = trained.generate(prompts=[PROMPT, OTHER], seed=0, steps=3)
    assert mixed.shape == (2, 8, 8, 3)


def test_samples_equal_with_and_without_the_traced_network(trained, monkeypatch):
    # On PyTorch the sampling loop replays a trace of the U-Net (kgen.backend
    # .replayed_network); it must draw exactly what the network itself draws.
    prompts = ["a red seven", "a small blue two on a green background"]
    traced = trained.generate(prompts=prompts, guidance_scale=3.0, seed=1, steps=4)
    if keras.backend.backend() == "torch":   # replayed, not run eagerly
        replay = kgen.backend.replayed_network(trained.sampling_network)
        assert replay._traces and not replay.eager
    monkeypatch.setenv("KGEN_TORCH_TRACE", "0")
    eager = trained.generate(prompts=prompts, guidance_scale=3.0, seed=1, steps=4)
    np.testing.assert_allclose(traced, eager, rtol=1e-5, atol=1e-5)


def test_empty_prompt_guidance_one_and_negative_prompts(trained):
    unconditional = trained.generate(2, seed=1, steps=3)
    np.testing.assert_array_equal(trained.generate(2, prompt="", seed=1, steps=3),
                                  unconditional)
    # w = 0 is the unconditional branch; w = 1 the conditional prediction.
    np.testing.assert_allclose(
        trained.generate(2, prompt=PROMPT, guidance_scale=0.0, seed=1, steps=3),
        unconditional, atol=1e-6)
    conditional = trained.generate(2, prompt=PROMPT, seed=1, steps=3)
    ids = trained.prompt_ids(2, prompt=PROMPT)
    x_t = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    t = np.array([10, 10], "int32")
    condition = (trained.encode_text(ids[:, 0]), trained.encode_text(ids[:, 1]))
    np.testing.assert_allclose(
        to_numpy(trained.denoise(x_t, t, condition, guidance_scale=1.0)),
        to_numpy(trained.denoise(x_t, t, (condition[0], None))), atol=1e-5)
    # A negative prompt takes the unconditional branch's place.
    np.testing.assert_allclose(
        trained.generate(2, prompt=PROMPT, negative_prompt=OTHER, guidance_scale=0.0, seed=1,
                         steps=3),
        trained.generate(2, prompt=OTHER, seed=1, steps=3), atol=1e-6)
    guided = trained.generate(2, prompt=PROMPT, guidance_scale=3.0, seed=1, steps=3)
    assert np.abs(guided - conditional).max() > 1e-4
    assert np.abs(trained.generate(2, prompt=PROMPT, negative_prompt=OTHER,
                                   guidance_scale=3.0, seed=1, steps=3) - guided).max() > 1e-4


@covers("text-inpaint-latent")
def test_trajectory_steps_and_inpainting_follow_the_prompt(trained, scenes):
    options = {"prompt": PROMPT, "negative_prompt": OTHER, "guidance_scale": 2.0, "seed": 3,
               "steps": 5}
    images = trained.generate(3, **options)
    timesteps, frames = trained.denoising_trajectory(3, **options)
    assert frames.shape == (6, 3, 8, 8, 3) and timesteps[-1] == -1 and len(timesteps) == 6
    np.testing.assert_allclose(frames[-1], images, atol=1e-6)
    parts = list(trained.sampling_steps(3, every=2, **options))
    assert [t for t, _ in parts] == [int(timesteps[2]), int(timesteps[4]), -1]
    np.testing.assert_allclose(parts[-1][1], images, atol=1e-6)
    # Inpainting: the known half is kept exactly, the prompt decides the rest.
    known = scenes[0][:2]
    mask = np.zeros((8, 8, 1), "float32")
    mask[:, :4] = 1.0
    filled = trained.generate(prompt=PROMPT, images=known, mask=mask, seed=1, steps=4)
    assert filled.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(filled[:, :, :4], known[:, :, :4])
    other = trained.generate(prompt=OTHER, images=known, mask=mask, seed=1, steps=4)
    assert np.abs(other[:, :, 4:] - filled[:, :, 4:]).max() > 1e-4
    # One image for several prompts.
    both = trained.generate(prompts=[PROMPT, OTHER], images=known[0], mask=mask, seed=1,
                            steps=4)
    np.testing.assert_array_equal(both[:, :, :4], np.repeat(known[:1, :, :4], 2, axis=0))
    with pytest.raises(ValueError, match="both images="):
        trained.generate(1, prompt=PROMPT, mask=mask)
    with pytest.raises(TypeError, match="num_samples"):
        list(trained.sampling_steps(2.5, prompt=PROMPT))


def test_save_load_gives_the_same_images(trained, tmp_path):
    path = tmp_path / "text.keras"
    trained.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is kgen.models.TextDiffusion
    assert loaded.tokenizer.get_vocabulary() == trained.tokenizer.get_vocabulary()
    # Guided: both branches (the prompt's and the empty text's) as before.
    kwargs = {"prompt": PROMPT, "guidance_scale": 2.0}
    np.testing.assert_allclose(loaded.generate(2, seed=5, steps=3, **kwargs),
                               trained.generate(2, seed=5, steps=3, **kwargs), atol=1e-6)


def test_the_exported_graph_tokenizes_as_the_model(trained):
    tf = pytest.importorskip("tensorflow")
    from kgen.export import tokenize_in_graph

    texts = ["A Red, seven!", "", "endoftext blue zzz", "  two   large  "]
    text = trained.serving_functions(steps=2).text
    np.testing.assert_array_equal(tokenize_in_graph(tf, tf.constant(texts), text).numpy(),
                                  trained.tokenizer(texts))
    inputs = trained.serving_inputs(2, seed=3, prompt=PROMPT, negative_prompt=OTHER,
                                    guidance_scale=2.0, steps=3)
    assert inputs["latent"].shape == (2, 8, 8, 3) and inputs["prompt_ids"].shape == (
        2, 2, trained.tokenizer.context_length)


@covers("generate-prompts", "prompt-too-long", "prompt-not-strings")
def test_bad_prompts_are_refused_clearly(trained):
    with pytest.raises(ValueError, match="prompts is empty"):
        trained.generate(prompts=[])
    with pytest.raises(TypeError, match="strings"):
        trained.generate(prompts=[PROMPT, 7])
    with pytest.raises(TypeError, match="single string"):
        trained.generate(prompts=PROMPT)
    with pytest.raises(TypeError, match="prompt must be a string"):
        trained.generate(2, prompt=[PROMPT])
    with pytest.raises(ValueError, match="longer than the context"):
        trained.generate(1, prompt=" ".join(["red"] * 40))
    with pytest.raises(ValueError, match="2 prompts for num_samples=3"):
        trained.generate(3, prompts=[PROMPT, OTHER])
    with pytest.raises(ValueError, match="guidance"):
        trained.generate(1, prompt=PROMPT, negative_prompt=OTHER)
    with pytest.raises(ValueError, match="captions"):
        trained.fit(np.zeros((4, 8, 8, 3), "float32"), epochs=1, verbose=0)
    plain = kgen.models.Diffusion.from_shape((8, 8, 1), timesteps=10, schedule="cosine",
                                             base_filters=4,
                                             channel_multipliers=(1,), num_res_blocks=1,
                                             groups=2)
    with pytest.raises(TypeError, match="TextDiffusion"):
        plain.generate(1, prompt=PROMPT)


def check_latents_are_not_clipped(model, pixel_model, images):
    """The predicted latents are not clipped to [-1, 1] as images are: a sampler left to
    decide does not clip them (``images``: ``generate(2, prompt=PROMPT, seed=0,
    steps=2)``), and one told to is refused."""
    assert model.clips_denoised is False and pixel_model.clips_denoised is True
    np.testing.assert_array_equal(images, model.generate(
        2, prompt=PROMPT, seed=0, sampler=kgen.samplers.DDIM(steps=2, clip_denoised=False)))
    with pytest.raises(ValueError, match="latents, scaled to unit variance"):
        model.generate(2, prompt=PROMPT, seed=0,
                       sampler=kgen.samplers.DDIM(steps=2, clip_denoised=True))


@covers("text-inpaint-latent", "sampler-clips-latents")
def test_latent_space_uses_the_autoencoder_and_its_scale(scenes, trained):
    x, captions = scenes
    vae = kgen.models.VAE.from_shape(x.shape[1:], latent_dim=16, base_filters=4, seed=0)
    # A trained text encoder kept frozen (as a CLIP's would be): not among the trained
    # variables.
    tokenizer, encoder = trained.tokenizer, trained.text_encoder
    options = {k: v for k, v in TINY.items() if k not in ("width", "num_layers", "num_heads")}
    model = kgen.models.TextDiffusion.from_shape(
        x.shape[1:], autoencoder=vae, tokenizer=tokenizer, text_encoder=encoder, seed=0,
        ema=None, **{**options, "base_filters": 4})
    assert model.sample_shape == (4, 4, 1) and model.image_shape == (8, 8, 3)
    assert model.train_text_encoder is False and model.ema_text_encoder is None
    trained_ids = {id(v) for v in model.training_updates()[0].variables}
    assert trained_ids == {id(v) for v in model.network.trainable_variables}
    with pytest.raises(ValueError, match="latent scale is not set"):
        model.generate(1, seed=0, steps=2)
    model.fit_latent_scale(x)   # what fit() does first when the scale is not set
    mean = vae.encode(x)[0]
    np.testing.assert_allclose(model.latent_scale, 1.0 / np.std(mean), rtol=1e-5)
    latents = to_numpy(model.training_data(x[:4]))
    assert latents.shape == (4, 4, 4, 1)
    # The chain's samples are decoded after dividing by the scale.
    z = np.random.default_rng(0).standard_normal((2, 4, 4, 1)).astype("float32")
    np.testing.assert_allclose(model.decode_latents(z),
                               vae.decode(z.reshape(2, 16) / model.latent_scale), atol=1e-6)
    images = model.generate(2, prompt=PROMPT, seed=0, steps=2)
    assert images.shape == (2, 8, 8, 3) and np.all(np.abs(images) <= 1.0)
    check_latents_are_not_clipped(model, trained, images)
    # The trajectory's frames are decoded images; the last is generate()'s.
    _, frames = model.denoising_trajectory(2, prompt=PROMPT, seed=0, steps=2)
    assert frames.shape == (3, 2, 8, 8, 3)
    np.testing.assert_allclose(frames[-1], images, atol=1e-5)
    with pytest.raises(ValueError, match="pixel-space TextDiffusion"):
        model.generate(prompt=PROMPT, images=x[:1], mask=np.ones((8, 8, 1)), seed=0)
    assert model.get_config()["latent_scale"] == model.latent_scale


def test_evaluate_takes_string_captions(trained, scenes):
    x, captions = scenes
    loss = trained.evaluate(x, captions, batch_size=16, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(loss) and 0.0 < loss < 10.0
    with pytest.raises(ValueError, match="32 images and 4 captions"):
        trained.evaluate(x, captions[:4], verbose=0)


def test_vq_latent_space_keeps_the_grid_and_decodes_the_nearest_codes(scenes, trained,
                                                                         tmp_path):
    x, _ = scenes
    vq = kgen.models.VQVAE.from_shape(x.shape[1:], num_embeddings=8, embedding_dim=2,
                                      base_filters=4, downsamples=1, seed=0)
    options = {k: v for k, v in TINY.items() if k not in ("width", "num_layers", "num_heads")}
    model = kgen.models.TextDiffusion.from_shape(
        x.shape[1:], autoencoder=vq, tokenizer=trained.tokenizer,
        text_encoder=trained.text_encoder, seed=0, ema=None, **options)
    # The U-Net works on the encoder's grid, not on a reshaped vector.
    assert model.sample_shape == (4, 4, 2) == text_diffusion.latent_shape_of(vq)
    assert model.image_shape == (8, 8, 3)
    model.fit_latent_scale(x)
    z_e = to_numpy(vq.encoder(x))     # before quantisation
    np.testing.assert_allclose(model.latent_scale, 1.0 / np.std(z_e), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(model.training_data(x[:4])),
                               z_e[:4] * model.latent_scale, rtol=1e-5, atol=1e-6)
    # A sampled latent is unscaled, replaced by its nearest codes and decoded.
    z = np.random.default_rng(0).standard_normal((3, 4, 4, 2)).astype("float32")
    codes = to_numpy(vq.quantizer.nearest_codes(z / model.latent_scale))
    decoded = model.decode_latents(z)
    np.testing.assert_allclose(decoded, np.clip(vq.decode_codes(codes), -1, 1), atol=1e-6)
    # The exported graph's decoding is the same.
    np.testing.assert_allclose(to_numpy(model._decode_in_graph(z)), decoded, atol=1e-5)
    images = model.generate(2, prompt=PROMPT, seed=0, steps=2)
    assert images.shape == (2, 8, 8, 3) and np.all(np.abs(images) <= 1.0)
    check_latents_are_not_clipped(model, trained, images)
    path = tmp_path / "vq_text.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.autoencoder, kgen.models.VQVAE)
    assert loaded.latent_scale == model.latent_scale
    np.testing.assert_allclose(loaded.generate(2, prompt=PROMPT, seed=0, steps=2), images,
                               atol=1e-5)


@covers("text-latent-shape")
def test_a_network_for_another_latent_grid_is_refused(scenes, trained):
    x, _ = scenes
    vq = kgen.models.VQVAE.from_shape(x.shape[1:], num_embeddings=8, embedding_dim=2,
                                      base_filters=4, downsamples=1, seed=0)
    network = kgen.networks.diffusion_unet((4, 4, 3), base_filters=4,
                                           channel_multipliers=(1,), num_res_blocks=1,
                                           attention_resolutions=(), groups=2,
                                           context_dim=trained.context_dim)
    with pytest.raises(ValueError, match=r"latent_shape_of\(vqvae\) = \(4, 4, 2\)"):
        kgen.models.TextDiffusion(network, trained.text_encoder, trained.tokenizer,
                                  autoencoder=vq, timesteps=20, schedule="cosine")
    with pytest.raises(TypeError, match="VQVAE; got PixelCNN"):
        text_diffusion.latent_shape_of(kgen.models.PixelCNN.from_shape((8, 8, 1)))
    with pytest.raises(TypeError, match="or kgen.models.VQVAE; got PixelCNN"):
        kgen.models.TextDiffusion(network, trained.text_encoder, trained.tokenizer,
                                  autoencoder=kgen.models.PixelCNN.from_shape((8, 8, 1)),
                                  timesteps=20, schedule="cosine")
