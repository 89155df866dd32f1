"""SavedModel export of generate(): signatures equal kgen's samples, loaded by TensorFlow alone."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import kgen
from kgen import cli
from harness import tiny_network

HERE = pathlib.Path(__file__).parent
SAVED_MODEL_CLI = pathlib.Path(sys.executable).parent / "saved_model_cli"
LATENT, CLASSES = 16, 3
SHAPE = (8, 8, 1)


def _models():
    gan = kgen.models.GAN.from_shape(SHAPE, latent_dim=LATENT, base_filters=4, seed=0)
    cgan = kgen.models.ConditionalGAN.from_shape(
        SHAPE, num_classes=CLASSES, latent_dim=LATENT, base_filters=4, embedding_dim=4,
        seed=0)
    vae = kgen.models.VAE.from_shape(SHAPE, latent_dim=4, base_filters=4, seed=0)
    return gan, cgan, vae


def _gumbel_uniforms(shape, seed):
    """The uniform numbers of an autoregressive model's Gumbel-max draws for ``seed``."""
    stream = keras.random.SeedGenerator(0)
    stream.state.assign(np.array([seed, 0], keras.backend.standardize_dtype(stream.state.dtype)))
    return keras.ops.convert_to_numpy(
        keras.random.uniform(shape, minval=1e-20, maxval=1.0, seed=stream))


def _other_families(x):
    """``{name: (model, export options, inputs, generate() for those inputs)}``: the other
    families, with the inputs of their ``generate_from_latent`` and the samples kgen gives."""
    rng = np.random.default_rng(1)
    z, labels = rng.standard_normal((5, 4)).astype("float32"), np.array([2, 0, 1, 1, 2], "int32")
    pix2pix = kgen.models.Pix2Pix.from_shape(SHAPE, base_filters=4, depth=1, num_layers=1,
                                             seed=0)
    cyclegan = kgen.models.CycleGAN.from_shape(SHAPE, base_filters=4, num_blocks=0,
                                               num_layers=1, seed=0)
    ae = kgen.models.Autoencoder.from_shape(SHAPE, latent_dim=4, base_filters=4, seed=0)
    ae.fit_latent_gaussian(x[:64])
    cvae = kgen.models.ConditionalVAE.from_shape(SHAPE, num_classes=CLASSES, latent_dim=4,
                                                 base_filters=4, embedding_dim=4, seed=0)
    vq = kgen.models.VQVAE.from_shape(SHAPE, num_embeddings=8, embedding_dim=4, base_filters=4,
                                      seed=0)
    codes = rng.integers(0, 8, (5,) + vq.code_shape).astype("int32")
    prior = kgen.models.LatentPrior.from_vqvae(vq, filters=4, num_layers=1, seed=0)
    diffusion = kgen.models.Diffusion(tiny_network(), timesteps=20, schedule="cosine", seed=0)
    guided = kgen.models.Diffusion(tiny_network(CLASSES), timesteps=20, schedule="cosine",
                                   num_classes=CLASSES, seed=0)
    x_t = diffusion.standard_normal((5,) + SHAPE, 7)    # the starting noise of seed 7
    pixelcnn = kgen.models.PixelCNN.from_shape(SHAPE, num_levels=4, num_classes=CLASSES,
                                               filters=4, num_layers=1, seed=0)
    u = _gumbel_uniforms((5, 64, 4), 7)
    # The prior's draws over the code grid, for the same seed.
    u_codes = _gumbel_uniforms((5, int(np.prod(vq.code_shape)), 8), 7)
    images = x[5:10]
    return {
        "pix2pix": (pix2pix, {}, {"inputs": images}, pix2pix.generate(inputs=images)),
        "cyclegan": (cyclegan, {}, {"inputs": images}, cyclegan.generate(inputs=images)),
        "cyclegan_ba": (cyclegan, {"direction": "b_to_a"}, {"inputs": images},
                        cyclegan.generate(inputs=images, direction="b_to_a")),
        "ae": (ae, {}, {"latent": z}, ae.generate(latents=z)),
        "cvae": (cvae, {}, {"latent": z, "labels": labels},
                 cvae.generate(latents=z, labels=labels)),
        "vqvae": (vq, {}, {"codes": codes}, vq.generate(codes=codes)),
        "prior": (prior, {}, {"uniform": u_codes}, prior.generate(5, seed=7)),
        "diffusion": (diffusion, {"steps": 4}, {"latent": x_t},
                      diffusion.generate(5, seed=7, steps=4)),
        "guided": (guided, {"steps": 4, "guidance_scale": 2.0},
                   {"latent": x_t, "labels": labels},
                   guided.generate(seed=7, steps=4, labels=labels, guidance_scale=2.0)),
        "pixelcnn": (pixelcnn, {}, {"uniform": u, "labels": labels},
                     pixelcnn.generate(5, seed=7, labels=labels)),
    }


#: Families exported with ``kgen export`` on a checkpoint, with their options.
CLI_EXPORTS = {"diffusion": ["--steps", "4"], "cyclegan_ba": ["--direction", "b_to_a"]}


def _export_others(families, folder):
    """Exports with the command line (`CLI_EXPORTS`), in this process, or, on PyTorch,
    from checkpoints in one TensorFlow process."""
    jobs = []
    for name, (model, options, _, _) in families.items():
        if name in CLI_EXPORTS:
            model.save(folder / f"{name}.keras")
            assert cli.main(["export", str(folder / f"{name}.keras"), str(folder / name),
                             *CLI_EXPORTS[name]]) == 0
        elif keras.backend.backend() != "torch":
            model.export_generator(folder / name, **options)
        else:
            model.save(folder / f"{name}.keras")
            jobs.append((folder / f"{name}.keras", folder / name, options))
    if jobs:
        kgen.export.export_files(jobs)


def test_signatures_give_the_samples_of_generate(tmp_path, digits_small):
    gan, cgan, vae = _models()
    # Moved away from the initialisation (batch-norm statistics included) by a short fit.
    gan.compile()
    gan.fit(digits_small[:64], batch_size=32, epochs=1, verbose=0)
    z = np.random.default_rng(0).standard_normal((5, LATENT)).astype("float32")
    labels = np.array([0, 1, 2, 1, 0], "int32")
    expected = {"gan": gan.generate(latents=z),
                "cgan": cgan.generate(latents=z, labels=labels),
                "vae": vae.generate(latents=z[:, :4])}
    others = _other_families(digits_small)
    arrays = {f"{name}__{key}": value for name, (_, _, given, _) in others.items()
              for key, value in given.items()}
    np.savez(tmp_path / "inputs.npz", gan__latent=z, cgan__latent=z, cgan__labels=labels,
             vae__latent=z[:, :4], **arrays)

    # The CLI on a checkpoint; the model method for the others.
    gan.save(tmp_path / "gan.keras")
    assert cli.main(["export", str(tmp_path / "gan.keras"), str(tmp_path / "gan")]) == 0
    assert cgan.export_generator(tmp_path / "cgan") == str(tmp_path / "cgan")
    vae.export_generator(tmp_path / "vae")
    _export_others(others, tmp_path)

    # A fresh process with TensorFlow only; then saved_model_cli on the conditional GAN.
    command = (f"'{sys.executable}' '{HERE / 'serving_check.py'}' '{tmp_path}' && "
               f"'{SAVED_MODEL_CLI}' show --dir '{tmp_path / 'cgan'}' --all")
    result = subprocess.run(command, shell=True, capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    out = dict(np.load(tmp_path / "outputs.npz"))
    assert not out.pop("kgen_imported")
    assert out["latents_3"].shape == (5, LATENT)
    for name, samples in expected.items():
        served = out[f"{name}__generate_from_latent__samples"]
        np.testing.assert_allclose(served, samples, atol=1e-5)
        images = out[f"{name}__generate_from_latent__images"]
        assert images.dtype == np.uint8 and images.shape == (5, 8, 8, 1)
        # float32 rounding can move a value across a level's boundary: 1 level at most.
        difference = np.abs(images.astype(int) - kgen.images.to_uint8(samples).astype(int))
        assert difference.max() <= 1
        # generate(seed, num_samples): in-graph noise, deterministic per seed.
        first = out[f"{name}__generate_3__samples"]
        assert first.shape == (5, 8, 8, 1)
        np.testing.assert_array_equal(first, out[f"{name}__generate_3_again__samples"])
        assert np.abs(first - out[f"{name}__generate_4__samples"]).max() > 1e-3
    # generate_with_labels(seed, labels): the documented latent stream of the seed.
    np.testing.assert_allclose(out["cgan__generate_with_labels__samples"],
                               cgan.generate(latents=out["latents_3"], labels=labels),
                               atol=1e-5)

    specs = json.loads((tmp_path / "signatures.json").read_text())
    assert specs["cgan"]["generate"]["inputs"] == {"num_samples": [[], "int32"],
                                                   "seed": [[], "int64"]}
    assert specs["cgan"]["generate_with_labels"]["inputs"]["labels"] == [[None], "int32"]
    assert specs["gan"]["generate_from_latent"]["inputs"] == {"latent": [[None, LATENT],
                                                                         "float32"]}
    assert specs["vae"]["generate"]["outputs"]["images"] == [[None, 8, 8, 1], "uint8"]
    assert "generate_with_labels" not in specs["gan"]
    _check_other_families(others, out, specs)
    shown = result.stdout
    for text in ("signature_def['generate']", "signature_def['generate_with_labels']",
                 "signature_def['generate_from_latent']", "dtype: DT_INT64",
                 "dtype: DT_UINT8", f"shape: (-1, {LATENT})", "shape: (-1, 8, 8, 1)"):
        assert text in shown, text


def _check_other_families(families, out, specs):
    for name, (model, _, given, expected) in families.items():
        served = out[f"{name}__generate_from_latent__samples"]
        # The first DDIM step divides the network's output by sqrt(alpha_bar_19) = 0.0025
        # (cosine schedule, 20 timesteps): a float32 rounding of the served graph (not
        # kgen's compiled loop) grows 400 times, so 1e-4 there, 1e-5 elsewhere.
        tolerance = 1e-4 if isinstance(model, kgen.models.Diffusion) else 1e-5
        np.testing.assert_allclose(served, expected, atol=tolerance, err_msg=name)
        assert out[f"{name}__generate_from_latent__images"].shape == (5,) + SHAPE
        assert specs[name]["generate_from_latent"]["inputs"] == {
            key: [[None] + list(value.shape[1:]), value.dtype.name]
            for key, value in given.items()}, name
    # Only the families whose every input can be drawn have generate(seed, num_samples).
    drawn = {name for name in specs if "generate" in specs[name]}
    assert drawn & set(families) == {"ae", "cvae", "vqvae", "prior", "diffusion", "guided",
                                     "pixelcnn"}
    for name in drawn & set(families):
        first = out[f"{name}__generate_3__samples"]
        np.testing.assert_array_equal(first, out[f"{name}__generate_3_again__samples"])
        assert np.abs(first - out[f"{name}__generate_4__samples"]).max() > 1e-3, name
    assert {name for name in specs if "generate_with_labels" in specs[name]} == {
        "cgan", "cvae", "guided", "pixelcnn"}
    assert not any("generate_with_uniform" in spec for spec in specs.values())
    # The two directions of a CycleGAN are its two generators.
    assert np.abs(out["cyclegan__generate_from_latent__samples"]
                  - out["cyclegan_ba__generate_from_latent__samples"]).max() > 1e-3
    # An autoencoder's generate(seed) draws its codes from the fitted Gaussian.
    ae = families["ae"][0]
    mean, cholesky = (keras.ops.convert_to_numpy(v) for v in (ae.latent_mean, ae.latent_cholesky))
    codes = mean + out["normal_3_4"] @ cholesky.T
    np.testing.assert_allclose(out["ae__generate_3__samples"], ae.generate(latents=codes),
                               atol=1e-5)


def test_errors(tmp_path, capsys):
    gan, _, _ = _models()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(ValueError, match="not an empty folder"):
        gan.export_generator(tmp_path / "full")
    with pytest.raises(SystemExit, match="no checkpoint"):
        cli.main(["export", str(tmp_path / "missing.keras"), str(tmp_path / "out")])
    # An option the family does not have, named as it is typed.
    gan.save(tmp_path / "gan.keras")
    with pytest.raises(SystemExit, match=r"GAN has no export option\(s\) \['--steps'\]"):
        cli.main(["export", str(tmp_path / "gan.keras"), str(tmp_path / "out"), "--steps", "4"])
    with pytest.raises(SystemExit):
        cli.main(["export", str(tmp_path / "gan.keras"), str(tmp_path / "out"),
                  "--direction", "up"])
    assert "invalid choice: 'up'" in capsys.readouterr().err

    class Plain(kgen.models.GenerativeModel):
        pass

    with pytest.raises(NotImplementedError, match="serving_functions"):
        Plain().export_generator(tmp_path / "plain")
    with pytest.raises(ValueError, match="categorical input needs classes"):
        kgen.export.ServingInput("labels", (), "int32", noise="categorical")
    with pytest.raises(ValueError, match="both loc and scale"):
        kgen.export.ServingInput("latent", (2,), loc=(0.0, 0.0))
    # Export options are checked before anything is written.
    with pytest.raises(TypeError, match=r"no export option\(s\) \['steps'\]"):
        gan.export_generator(tmp_path / "gan", steps=4)
    cyclegan = kgen.models.CycleGAN.from_shape(SHAPE, base_filters=4, num_blocks=0,
                                               num_layers=1, seed=0)
    with pytest.raises(ValueError, match="direction must be one of"):
        cyclegan.export_generator(tmp_path / "cyclegan", direction="a_to_c")
    diffusion = kgen.models.Diffusion(tiny_network(), timesteps=20, schedule="cosine")
    with pytest.raises(ValueError, match="guidance_scale is for a class-conditional"):
        diffusion.export_generator(tmp_path / "diffusion", steps=4, guidance_scale=2.0)
    with pytest.raises(ValueError, match="use steps <= 20"):
        diffusion.export_generator(tmp_path / "diffusion", steps=50)
    assert not any((tmp_path / name).exists() for name in ("gan", "cyclegan", "diffusion"))
    assert keras.backend.backend() in ("tensorflow", "jax", "torch")
