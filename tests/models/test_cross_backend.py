"""A seed gives the same samples on every backend: every family's checkpoint, saved on this
backend and loaded under another (`SAMPLED_ON`: over the README's three test runs, each
backend's checkpoints are sampled on another backend), generates what it generates here.

Every family's tiny model is saved once; one Python process of the other backend loads
all the checkpoints and samples them (this file, run as a script), and the samples are
compared here: within 1e-5 for continuous outputs, exactly for the discrete levels of a
PixelCNN and the code grids of a latent prior (a tiny network and a seed for which no
uniform number falls within float32 rounding of a cumulative probability). The sampling
noise of every family is drawn with numpy from the seed (latent vectors, a diffusion
model's starting noise and the noise of its stochastic steps, the uniform numbers of
autoregressive draws), so only float32 rounding differs between backends. A family that
draws no samples (CLIP) is compared on its similarities of images and texts.

    KERAS_BACKEND=torch python tests/models/test_cross_backend.py FOLDER
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

BACKENDS = ("jax", "tensorflow", "torch")
#: The backend that samples this backend's checkpoints: a cycle, so that the README's test
#: command (one run per backend) loads every backend's checkpoints on another backend and
#: has every backend load another's.
SAMPLED_ON = {"tensorflow": "jax", "jax": "torch", "torch": "tensorflow"}
#: Calls beyond each family's usual ``generate()`` (`harness.generate_kwargs`): the
#: stochastic samplers of a diffusion model (DDPM; DDIM with eta > 0 inpainting with
#: RePaint resampling).
EXTRA_CALLS = {
    "diffusion": ({"sampler": "ddpm", "steps": None},
                  {"steps": 5, "eta": 0.5, "resample": 2, "images": "known", "mask": "mask"}),
}


def _arguments(kwargs, arrays):
    """``kwargs`` with the names of ``arrays`` (strings) replaced by the arrays."""
    out = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        out[key] = arrays[value] if isinstance(value, str) and value in arrays else value
    return out


def sample_all(folder, models=None):
    """Loads every checkpoint of ``folder/plan.json`` (or takes it from ``models``) and
    writes its samples for every call to ``folder/<backend>.npz`` (``<family>__<call>``,
    and ``<family>__<call>__codes`` for a latent prior)."""
    import keras

    import kgen  # noqa: F401 (registers kgen's classes for loading)

    folder = pathlib.Path(folder)
    plan = json.loads((folder / "plan.json").read_text())
    arrays = dict(np.load(folder / "arrays.npz"))
    samples = {}
    for name, calls in plan.items():
        model = (models or {}).get(name) or keras.saving.load_model(folder / f"{name}.keras")
        for index, kwargs in enumerate(calls):
            kwargs = _arguments(kwargs, arrays)
            method = kwargs.pop("method", "generate")   # "similarity" for CLIP
            samples[f"{name}__{index}"] = getattr(model, method)(**kwargs)
            if name == "latent_prior":
                kwargs.pop("batch_size", None)
                samples[f"{name}__{index}__codes"] = model.sample_codes(
                    kwargs.pop("num_samples"), **kwargs)
    np.savez(folder / f"{keras.backend.backend()}.npz", **samples)


def _plan(folder, digits_small):
    """Saves every family's tiny model, the calls and the arrays they use; returns the
    models, the plan ``{family: [generate() arguments]}`` and the arrays."""
    import kgen
    from harness import build_tiny, generate_kwargs

    mask = np.zeros((8, 8, 1), "float32")
    mask[:4] = 1.0
    arrays = {"known": digits_small[:4], "mask": mask}
    plan, models = {}, {}
    for family in kgen.models.registry.families():
        model, data = build_tiny(family)
        if family.finish is not None:
            family.finish(model, data[0])
        model.save(folder / f"{family.name}.keras")
        models[family.name] = model
        if not family.generates:   # a dual encoder: its scores of images and texts
            x, ids = data
            arrays[f"{family.name}_images"] = x[:4]
            plan[family.name] = [{"method": "similarity", "images": f"{family.name}_images",
                                  "texts": model.tokenizer.detokenize(ids[:4, 0])}]
            continue
        base = generate_kwargs(family, data) if data is not None else {}
        for key, value in base.items():
            if isinstance(value, np.ndarray):
                arrays[f"{family.name}_{key}"] = value
                base[key] = f"{family.name}_{key}"
        calls = [{**base, "seed": 3}] + [{**base, **extra, "seed": 5}
                                         for extra in EXTRA_CALLS.get(family.name, ())]
        plan[family.name] = calls
    (folder / "plan.json").write_text(json.dumps(plan))
    np.savez(folder / "arrays.npz", **arrays)
    return models, plan, arrays


def test_every_family_samples_the_same_on_the_other_backends(tmp_path, digits_small):
    import keras

    here = keras.backend.backend()
    models, plan, arrays = _plan(tmp_path, digits_small)
    other = SAMPLED_ON[here]
    # The other backend samples every checkpoint, at the same time as this one.
    process = subprocess.Popen(
        [sys.executable, __file__, str(tmp_path)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="2"))
    sample_all(tmp_path, models)
    _, error = process.communicate()
    assert process.returncode == 0, error[-3000:]
    ours = dict(np.load(tmp_path / f"{here}.npz"))
    assert set(ours) >= {f"{name}__0" for name in plan}
    theirs = dict(np.load(tmp_path / f"{other}.npz"))
    assert set(theirs) == set(ours)
    for key, samples in ours.items():
        message = f"{key}: {here} and {other}"
        if key.startswith("pixelcnn") or key.endswith("__codes"):
            # Discrete draws: the same levels and codes.
            np.testing.assert_array_equal(theirs[key], samples, err_msg=message)
        else:
            np.testing.assert_allclose(theirs[key], samples, atol=1e-5, err_msg=message)
    # The stochastic calls are what they say: inpainting keeps the known pixels.
    np.testing.assert_array_equal(ours["diffusion__2"][:, :4], arrays["known"][:, :4])

if __name__ == "__main__":
    sample_all(sys.argv[1])
