"""SavedModel export of every family's generate(): the signatures give kgen's samples, in a
process that loads them with TensorFlow alone.

Every registered family that generates is exported (by one or more of the backends'
runs, below) once with its default export options and, when it has export options, once
more with a non-default value of each (`OPTION_VALUES`); every SavedModel is written in
one pass (on PyTorch, one TensorFlow process exports the checkpoints) and checked in one
TensorFlow process (``serving_check.py``).

Each run of the README's test command (one per backend) exports the families whose
serving inputs the checks below name (`EVERY_RUN`: latent vectors from the command line,
labels, fitted codes, input images in both directions, prompts through a diffusion loop)
and a third of the others (`harness.this_backends_share`), so that over the three runs
every family's SavedModel is served. A family's sampler is the same `keras.ops` code on
every backend, and `tests/models/test_cross_backend.py` shows that a checkpoint samples the
same on every backend.
"""

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
from kgen.models import registry
from harness import BACKENDS, build_tiny, generate_kwargs, this_backends_share, tiny_network

HERE = pathlib.Path(__file__).parent
SAVED_MODEL_CLI = pathlib.Path(sys.executable).parent / "saved_model_cli"
SHAPE = (8, 8, 1)
NUM_SAMPLES, SEED = 4, 3
#: A non-default value of every export option.
OPTION_VALUES = {"direction": "b_to_a", "steps": 4, "guidance_scale": 2.0, "temperature": 0.5,
                 "top_k": 3, "top_p": 0.9}
#: The diffusion loops' tolerance: the first DDIM step divides the network's output by
#: sqrt(alpha_bar_19) = 0.0025 (cosine schedule, 20 timesteps), so a float32 rounding of
#: the served graph (not kgen's compiled loop) grows 400 times: 1e-4 there, 1e-5 elsewhere.
DIFFUSION_TOLERANCE = 1e-4
#: The families every backend's run exports (see above).
EVERY_RUN = ("gan", "conditional_gan", "conditional_vae", "autoencoder", "cyclegan",
             "text_diffusion")


def exported_here(backend=None):
    """The names of the families this backend's test run (or ``backend``'s) exports
    (CLIP draws nothing to export: tests/models/test_clip.py)."""
    others = [family.name for family in registry.families()
              if family.generates and family.name not in EVERY_RUN]
    return list(EVERY_RUN) + this_backends_share(others, backend)


def test_the_three_runs_export_every_family_that_generates():
    exported = [set(exported_here(backend)) for backend in BACKENDS]
    assert set.union(*exported) == {f.name for f in registry.families() if f.generates}


def _cases(digits_small):
    """``{case: (family, model, export options, generate() arguments)}``: every family's
    tiny model with its default export options and, for a family with export options,
    with `OPTION_VALUES`; and an unconditional diffusion model (the tiny one has labels).
    """
    unknown = {option.name for family in registry.families()
               for option in family.export_options} - set(OPTION_VALUES)
    assert not unknown, f"give OPTION_VALUES a non-default value of {sorted(unknown)}"
    assert set(EVERY_RUN) <= set(registry.names())
    cases = {}
    here = exported_here()
    for family in registry.families():
        if family.name not in here:
            continue
        model, arrays = build_tiny(family)
        if family.name == "gan":
            # Moved away from the initialisation (batch-norm statistics included).
            model.compile()
            model.fit(digits_small[:64], batch_size=32, epochs=1, verbose=0)
        if family.finish is not None:
            family.finish(model, arrays[0])
        names = {option.name for option in family.export_options}
        kwargs = {key: value for key, value in
                  generate_kwargs(family, arrays, NUM_SAMPLES).items() if key not in names}
        cases[family.name] = (family, model, {}, kwargs)
        if names:
            options = {name: OPTION_VALUES[name] for name in sorted(names)}
            cases[f"{family.name}-options"] = (family, model, options, {**kwargs, **options})
    if "diffusion" in here:
        family = registry.get("diffusion")
        model = family.build(registry.TrainingData(SHAPE), **family.tiny, seed=0)
        cases["diffusion-unconditional"] = (family, model, {"steps": 4},
                                            {"num_samples": NUM_SAMPLES, "steps": 4})
    return cases


def _export(cases, folder):
    """Writes every case's SavedModel in one pass: ``kgen export`` on a checkpoint for the
    GAN and (with their options as flags) the cases with options, the model's method for
    the others; on PyTorch, all but the GAN from checkpoints in one TensorFlow process."""
    torch = keras.backend.backend() == "torch"
    jobs = []
    for case, (family, model, options, _) in cases.items():
        checkpoint, directory = folder / f"{case}.keras", folder / case
        if case == "gan" or (options and not torch):
            model.save(checkpoint)
            flags = [text for name, value in options.items()
                     for text in (f"--{name.replace('_', '-')}", str(value))]
            assert cli.main(["export", str(checkpoint), str(directory), *flags]) == 0
        elif not torch:
            assert model.export_generator(directory, **options) == str(directory)
        else:
            model.save(checkpoint)
            jobs.append((checkpoint, directory, options))
    if jobs:
        kgen.export.export_files(jobs)


def test_every_family_serves_the_samples_of_generate(tmp_path, digits_small):
    cases = _cases(digits_small)
    given, expected = {}, {}
    for case, (family, model, _, kwargs) in cases.items():
        given[case] = model.serving_inputs(seed=SEED, **kwargs)
        expected[case] = model.generate(seed=SEED, **kwargs)
    np.savez(tmp_path / "inputs.npz", **{f"{case}__{key}": value for case, inputs in
                                         given.items() for key, value in inputs.items()})
    cgan, ae = cases["conditional_gan"][1], cases["autoencoder"][1]
    cvae = cases["conditional_vae"][1]
    streams = {"latents_3": [[NUM_SAMPLES, cgan.latent_dim], [SEED, 1]],
               "normals_3": [[NUM_SAMPLES, cvae.latent_dim], [SEED, 1]],
               "codes_3": [[NUM_SAMPLES, ae.latent_dim], [SEED, 1]]}
    (tmp_path / "streams.json").write_text(json.dumps(streams))
    prompted = {case: [kwargs["prompt"], kwargs.get("negative_prompt", "")]
                for case, (*_, kwargs) in cases.items() if "prompt" in kwargs}
    (tmp_path / "prompts.json").write_text(json.dumps(prompted))
    _export(cases, tmp_path)

    # A fresh process with TensorFlow only; then saved_model_cli on the conditional GAN.
    command = (f"'{sys.executable}' '{HERE / 'serving_check.py'}' '{tmp_path}' && "
               f"'{SAVED_MODEL_CLI}' show --dir '{tmp_path / 'conditional_gan'}' --all")
    result = subprocess.run(command, shell=True, capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    out = dict(np.load(tmp_path / "outputs.npz"))
    specs = json.loads((tmp_path / "signatures.json").read_text())
    assert not out.pop("kgen_imported")
    assert set(specs) == set(cases)

    for case, (family, model, _, kwargs) in cases.items():
        # generate_from_latent(**serving_inputs(...)) is generate(...).
        samples = expected[case]
        tolerance = DIFFUSION_TOLERANCE if family.name in ("diffusion", "text_diffusion") \
            else 1e-5
        served = out[f"{case}__generate_from_latent__samples"]
        np.testing.assert_allclose(served, samples, atol=tolerance, err_msg=case)
        assert specs[case]["generate_from_latent"]["inputs"] == {
            key: [[None] + list(value.shape[1:]), value.dtype.name]
            for key, value in given[case].items()}, case
        # uint8 images: float32 rounding can move a value across a level's boundary.
        images = out[f"{case}__generate_from_latent__images"]
        assert images.dtype == np.uint8 and images.shape == samples.shape, case
        difference = np.abs(images.astype(int) - kgen.images.to_uint8(samples).astype(int))
        assert difference.max() <= 1, case
        for signature in specs[case].values():
            assert signature["outputs"]["images"] == [[None] + list(samples.shape[1:]),
                                                      "uint8"], case
        if "generate" not in specs[case]:
            continue
        # generate(seed, num_samples): in-graph noise, deterministic per seed.
        assert specs[case]["generate"]["inputs"] == {"num_samples": [[], "int32"],
                                                     "seed": [[], "int64"]}, case
        first = out[f"{case}__generate_3__samples"]
        assert first.shape == samples.shape, case
        np.testing.assert_array_equal(first, out[f"{case}__generate_3_again__samples"])
        other = out[f"{case}__generate_4__samples"]
        if family.seeded:
            assert np.abs(first - other).max() > 1e-3, case
        else:   # the image of a single-image model, whatever the seed
            np.testing.assert_array_equal(first, other)
            np.testing.assert_allclose(first, samples, atol=1e-5, err_msg=case)

    # generate(seed, num_samples) exists when every input can be drawn (not for the
    # translation models); generate_with_labels for the class-conditional models.
    translations = {case for case, (family, *_) in cases.items()
                    if family.data in ("paired", "unpaired")}
    assert {case for case in specs if "generate" in specs[case]} == \
        set(cases) - translations - set(prompted)
    # A text model's prompts as strings, tokenized in the graph, give the samples of
    # their token ids.
    assert prompted
    for case in prompted:
        np.testing.assert_array_equal(out[f"{case}__generate_from_prompt__samples"],
                                      out[f"{case}__generate_with_prompt_ids__samples"])
        assert specs[case]["generate_from_prompt"]["inputs"]["prompt"] == [[None], "string"]
    assert {case for case in specs if "generate_with_labels" in specs[case]} == {
        case for case, (*_, kwargs) in cases.items() if "labels" in kwargs}
    assert specs["conditional_gan"]["generate_with_labels"]["inputs"]["labels"] == [
        [None], "int32"]
    assert not any("generate_with_uniform" in spec for spec in specs.values())
    # generate_with_labels(seed, labels): the documented latent stream of the seed.
    labels = given["conditional_gan"]["labels"]
    np.testing.assert_allclose(out["conditional_gan__generate_with_labels__samples"],
                               cgan.generate(latents=out["latents_3"], labels=labels),
                               atol=1e-5)
    np.testing.assert_allclose(
        out["conditional_vae__generate_with_labels__samples"],
        cvae.generate(latents=out["normals_3"], labels=given["conditional_vae"]["labels"]),
        atol=1e-5)
    # The two directions of a CycleGAN are its two generators.
    assert np.abs(out["cyclegan__generate_from_latent__samples"]
                  - out["cyclegan-options__generate_from_latent__samples"]).max() > 1e-3
    # An autoencoder's generate(seed) draws its codes from the fitted Gaussian.
    mean, cholesky = (keras.ops.convert_to_numpy(v) for v in (ae.latent_mean, ae.latent_cholesky))
    codes = mean + out["codes_3"] @ cholesky.T
    np.testing.assert_allclose(out["autoencoder__generate_3__samples"],
                               ae.generate(latents=codes), atol=1e-5)
    shown = result.stdout
    for text in ("signature_def['generate']", "signature_def['generate_with_labels']",
                 "signature_def['generate_from_latent']", "dtype: DT_INT64",
                 "dtype: DT_UINT8", f"shape: (-1, {cgan.latent_dim})", "shape: (-1, 8, 8, 1)"):
        assert text in shown, text


def test_errors(tmp_path, capsys):
    gan = kgen.models.GAN.from_shape(SHAPE, latent_dim=16, base_filters=4, seed=0)
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
    with pytest.raises(ValueError, match=r"direction.*'a_to_b', 'b_to_a'"):
        cyclegan.export_generator(tmp_path / "cyclegan", direction="a_to_c")
    diffusion = kgen.models.Diffusion(tiny_network(), timesteps=20, schedule="cosine")
    with pytest.raises(ValueError, match="guidance_scale is for a class-conditional"):
        diffusion.export_generator(tmp_path / "diffusion", steps=4, guidance_scale=2.0)
    with pytest.raises(ValueError, match="use steps <= 20"):
        diffusion.export_generator(tmp_path / "diffusion", steps=50)
    # The inputs of generate() calls that the SavedModel does not run are refused.
    with pytest.raises(ValueError, match="deterministic DDIM"):
        diffusion.serving_inputs(2, seed=0, sampler="ddpm")
    pixelcnn = kgen.models.PixelCNN.from_shape(SHAPE, num_levels=2, filters=4, num_layers=1)
    with pytest.raises(ValueError, match="completion"):
        pixelcnn.serving_inputs(images=np.zeros((1,) + SHAPE, "float32"),
                                mask=np.ones(SHAPE, bool), seed=0)
    assert not any((tmp_path / name).exists() for name in ("gan", "cyclegan", "diffusion"))
    assert keras.backend.backend() in ("tensorflow", "jax", "torch")
