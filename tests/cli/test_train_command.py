"""`kgen train`: every family from the command line on a user's folder, run folders, configs,
exact resume after kill -9, and the CLI's errors.

Each family's run from the command line is checked in one of the README's three test runs
(`harness.this_backends_share`: a third of the families on each backend); the runs other
checks use are trained wherever they are used."""

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from PIL import Image

import kgen
from harness import NUM_CLASSES, this_backends_share
from kgen import cli
from kgen.cli import config as configs

from checks_catalogue import covers

BACKEND = keras.backend.backend()
FAMILIES = kgen.models.registry.names()
#: The families whose command-line runs this backend's test run checks.
FAMILIES_HERE = this_backends_share(FAMILIES)


# --------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A user's data: 8x8 grey digits as PNGs in class sub-folders (one file corrupt),
    A/B folders of digits and their edge maps, two pictures, and captioned scenes with
    their captions in captions.txt."""
    root = tmp_path_factory.mktemp("data")
    images, labels = kgen.data.load("digits", return_labels=True)
    images, labels = images[:48], labels[:48] % NUM_CLASSES
    for index, (image, label) in enumerate(zip(images, labels)):
        folder = root / "classes" / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(folder / f"{index:03d}.png")
    (root / "classes" / "class_0" / "broken.png").write_bytes(b"\x89PNG not really")
    edges = kgen.data.edge_map(images)
    for side, data in (("A", edges), ("B", images)):
        (root / "pairs" / side).mkdir(parents=True)
        for index, image in enumerate(data[:32]):
            Image.fromarray(image[..., 0]).save(root / "pairs" / side / f"{index:03d}.png")
    for name in ("astronaut", "brick"):
        Image.fromarray(kgen.data.load_image(name, size=16, channels=3)).save(
            root / f"{name}.png")
    scenes, captions = kgen.data.load("captioned_digits", split="train", num_samples=24,
                                      return_captions=True)
    (root / "captioned").mkdir()
    lines = []
    for index, (scene, row) in enumerate(zip(scenes, captions)):
        Image.fromarray(scene).save(root / "captioned" / f"{index:03d}.png")
        lines += [f"{index:03d}.png\t{caption}" for caption in row[:2]]
    (root / "captioned" / "captions.txt").write_text("\n".join(lines) + "\n")
    return root


def data_flags(family, folders):
    if family.data == "samples":
        return ["--data", f"folder:{folders / 'classes'}"] + (
            ["--labels"] if family.labels != "none" else [])
    if family.data in ("paired", "unpaired"):
        return ["--data", f"folder:{folders / 'pairs'}"]
    if family.data == "captioned":
        return ["--data", f"folder:{folders / 'captioned'}", "--image-size", "8"]
    if family.data == "image":
        return ["--data", str(folders / "astronaut.png")]
    return ["--data", f"{folders / 'astronaut.png'},{folders / 'brick.png'}"]


def option_flags(family, runs):
    flags = []
    for name, value in family.tiny.items():
        option = family.option(name)
        if name == "vqvae":     # the latent prior takes a trained VQ-VAE's run folder
            value = str(runs["vqvae"])
        if option.type is bool:
            flags.append(option.flag if value else "--no-" + option.flag[2:])
        elif option.type is tuple:
            flags += [option.flag, ",".join(str(v) for v in value)]
        else:
            flags += [option.flag, str(value)]
    return flags


def condition_flags(family, folders):
    if "inputs" in family.conditions and family.data in ("paired", "unpaired"):
        return ["--inputs", str(folders / "pairs" / "A")]
    if family.labels == "required":
        return ["--labels", "0,1,2,1"]
    if "prompt" in family.conditions:
        return ["--prompt", "a red seven", "--guidance-scale", "2", "--steps", "2"]
    return []


class Runs(dict):
    """``{family name: run folder}``: each family trained for one short epoch from the
    command line when its run is first asked for (a latent prior's VQ-VAE first)."""

    def __init__(self, folders, root):
        super().__init__()
        self.folders, self.root = folders, root

    def __missing__(self, name):
        family = kgen.models.registry.get(name)
        out = self.root / name
        code = cli.main(["train", name, *data_flags(family, self.folders),
                         *option_flags(family, self), "--epochs", "1", "--batch-size", "8",
                         "--steps-per-epoch", "2", "--samples", "4", "--no-tensorboard",
                         "--out", str(out)])
        assert code == 0, name
        self[name] = out
        return out


@pytest.fixture(scope="module")
def runs(folders, tmp_path_factory):
    return Runs(folders, tmp_path_factory.mktemp("runs"))


@covers("cli-no-samples")
@pytest.mark.parametrize("name", FAMILIES_HERE)
def test_every_family_trains_generates_and_evaluates_from_the_command_line(
        name, runs, folders, tmp_path, capsys):
    family = kgen.models.registry.get(name)
    run = runs[name]
    assert (run / "last.keras").is_file()
    assert (run / "samples.png").is_file() == family.generates
    assert (run / "samples" / "epoch_0001.png").is_file() == family.generates
    resolved = configs.read(run / "config.toml")
    assert resolved["family"] == name and resolved["train"]["epochs"] == 1
    assert set(resolved["optimizer"]) == set(keras.saving.load_model(
        run / "last.keras").optimizer_names)
    with open(run / "log.csv") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["0"]
    if family.data == "samples":   # the corrupt file was skipped and named
        assert "broken.png" in (run / "skipped_files.txt").read_text()
    grid = tmp_path / "grid.png"
    if not family.generates:   # CLIP: a clear error, no file
        with pytest.raises(SystemExit, match="draws no samples"):
            cli.main(["generate", str(run), "-n", "4", "--out", str(grid)])
        with pytest.raises(SystemExit, match="draws no samples"):
            cli.main(["export", str(run), str(tmp_path / "export")])
        assert not grid.exists()
        return
    assert cli.main(["generate", str(run), "-n", "4", "--seed", "1", "--out", str(grid),
                     "--individual", str(tmp_path / "each"),
                     *condition_flags(family, folders)]) == 0
    assert grid.is_file() and len(os.listdir(tmp_path / "each")) >= 1
    # Captioned scenes are RGB: their FID needs the InceptionV3 weights (not offline).
    if family.metrics and family.data != "captioned":
        metric = family.metrics[0]
        extra = ["--reference", str(folders / "astronaut.png")] if metric == "psnr" else \
            ["--data", data_flags(family, folders)[1], "-n", "40"]
        assert cli.main(["evaluate", str(run), "--metric", metric, *extra]) == 0
        assert f"{metric}:" in capsys.readouterr().out


def test_a_run_is_repeated_from_its_config_and_resumed_when_done(runs, tmp_path, capsys):
    run = runs["gan"]
    again = tmp_path / "again"
    assert cli.main(["train", "--config", str(run / "config.toml"), "--out", str(again)]) == 0
    first = keras.saving.load_model(run / "last.keras")
    second = keras.saving.load_model(again / "last.keras")
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                      keras.ops.convert_to_numpy(b))
    assert configs.read(again / "config.toml") == configs.read(run / "config.toml")
    assert cli.main(["train", "--resume", str(again)]) == 0
    assert "nothing to do" in capsys.readouterr().out


@covers("cli-rerank")
def test_generate_keeps_the_samples_a_clip_run_ranks_first(runs, folders, tmp_path, capsys):
    from kgen.cli.run_folder import checkpoint_path

    each = tmp_path / "each"
    flags = ["--prompt", "a red seven", "--steps", "2"]
    assert cli.main(["generate", str(runs["text_diffusion"]), "-n", "2", "--seed", "1",
                     *flags, "--rerank", str(runs["clip"]), "--candidates", "3",
                     "--individual", str(each), "--out", str(tmp_path / "grid.png")]) == 0
    assert "the 2 of 6 closest to 'a red seven'" in capsys.readouterr().out
    model = kgen.models.load(checkpoint_path(str(runs["text_diffusion"])))
    clip = kgen.models.load(checkpoint_path(str(runs["clip"])))
    drawn = model.generate(6, seed=1, prompt="a red seven", steps=2)
    best = kgen.clip_guidance.rerank(clip, drawn, "a red seven", top=2)
    for index, image in enumerate(best.images):
        kgen.images.save_grid(image[None], tmp_path / "expected.png")
        np.testing.assert_array_equal(np.asarray(Image.open(each / f"{index:05d}.png")),
                                      np.asarray(Image.open(tmp_path / "expected.png")))
    # What cannot be ranked is refused: grey 8x8 digits against a CLIP model of RGB
    # scenes, a model without prompts and no --rerank-prompt, a run that is not CLIP.
    with pytest.raises(SystemExit, match="--rerank: .*"):
        cli.main(["generate", str(runs["gan"]), "-n", "2", "--rerank", str(runs["clip"]),
                  "--rerank-prompt", "a red seven", "--out", str(tmp_path / "gan.png")])
    with pytest.raises(SystemExit, match="needs the text to rank by"):
        cli.main(["generate", str(runs["gan"]), "-n", "2", "--rerank",
                  str(runs["clip"]), "--out", str(tmp_path / "x.png")])
    with pytest.raises(SystemExit, match="takes a trained CLIP model"):
        cli.main(["generate", str(runs["text_diffusion"]), "-n", "2", *flags, "--rerank",
                  str(runs["gan"]), "--out", str(tmp_path / "x.png")])
    with pytest.raises(SystemExit, match="cannot rank samples that follow one given input"):
        cli.main(["generate", str(runs["pix2pix"]), "--inputs", str(folders / "pairs" / "A"),
                  "--rerank", str(runs["clip"]), "--rerank-prompt", "a seven", "--out",
                  str(tmp_path / "x.png")])
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(SystemExit, match="--candidates is a re-ranking option"):
        cli.main(["generate", str(runs["gan"]), "-n", "2", "--candidates", "4",
                  "--out", str(tmp_path / "x.png")])


# ------------------------------------------------------------------- resume
RESUME_FAMILIES = {"gan": ["--data", "digits", "--base-filters", "8", "--latent-dim", "16"],
                   "diffusion": ["--data", "digits", "--timesteps", "20", "--schedule", "cosine",
                                 "--base-filters",
                                 "8", "--channel-multipliers", "1", "--num-res-blocks", "1"],
                   "cyclegan": ["--data", "digits-rotated", "--base-filters", "4",
                                "--num-blocks", "1", "--num-layers", "1", "--pool-size", "8"]}


def _train_command(name, out, epochs):
    return ["train", name, *RESUME_FAMILIES[name], "--epochs", str(epochs), "--batch-size",
            "16", "--steps-per-epoch", "6", "--samples", "4", "--no-tensorboard", "--seed",
            "3", "--out", str(out)]


def _kill_during_epoch(command, run, epoch):
    """Runs the CLI in a process and kills it (SIGKILL) once epoch ``epoch`` is saved."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; from kgen import cli; "
                                "sys.exit(cli.main(sys.argv[1:]))", *command],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=dict(os.environ, KERAS_BACKEND=BACKEND))
    state = pathlib.Path(run) / "state.json"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and process.poll() is None:
            if state.exists() and f'"epoch": {epoch},' in state.read_text():
                break
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    return process.returncode


#: The family each backend's run kills and resumes: the three runs of the suite together
#: kill every family of RESUME_FAMILIES and resume on every backend (the atomic writes
#: that a kill tests are the backends' common code). The diffusion model, whose three runs
#: compile the most on JAX, goes to the PyTorch run, which compiles nothing and ends
#: first. KGEN_ALL_RESUMES=1 kills all three on the current backend.
KILLED_ON = {"tensorflow": "gan", "jax": "cyclegan", "torch": "diffusion"}
KILLED = sorted(RESUME_FAMILIES) if os.environ.get("KGEN_ALL_RESUMES") == "1" \
    else [KILLED_ON[BACKEND]]


@pytest.mark.parametrize("name", KILLED)
def test_a_run_killed_mid_training_resumes_to_the_weights_of_an_uninterrupted_one(
        name, tmp_path):
    killed = tmp_path / "killed"
    code = _kill_during_epoch(_train_command(name, killed, 3), killed, 1)
    assert code == -signal.SIGKILL, "the run ended before it could be killed"
    assert configs.read(killed / "config.toml")["train"]["epochs"] == 3
    # A temporary file of a write the kill interrupted is cleaned up on resume.
    (killed / ".last.keras.12345.tmp.keras").write_bytes(b"")
    assert cli.main(["train", "--resume", str(killed)]) == 0
    assert not (killed / ".last.keras.12345.tmp.keras").exists()
    whole = tmp_path / "whole"
    assert cli.main(_train_command(name, whole, 3)) == 0
    resumed = keras.saving.load_model(killed / "last.keras")
    straight = keras.saving.load_model(whole / "last.keras")
    state = [(a, b) for a, b in zip(resumed.weights + resumed.optimizer.variables,
                                    straight.weights + straight.optimizer.variables)]
    assert len(state) > 10
    difference = max(float(np.max(np.abs(keras.ops.convert_to_numpy(a)
                                          - keras.ops.convert_to_numpy(b))))
                     for a, b in state)
    print(f"{name}: largest difference resumed vs uninterrupted {difference:.3g}")
    assert difference <= 1e-6
    with open(killed / "log.csv") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["0", "1", "2"]


def test_accumulation_steps_from_the_flag_to_the_compiled_model():
    from kgen.cli import train as training

    family = kgen.models.registry.get("vae")
    args = cli.build_parser().parse_args(["train", "vae", "--accumulation-steps", "4",
                                          "--lr-schedule", "cosine", "--epochs", "3"])
    resolved = configs.resolve(training.config_from_flags(args, family), family)
    assert resolved["train"]["accumulation_steps"] == 4
    model = kgen.models.VAE.from_shape((2,), latent_dim=2, base_filters=2)
    training.compile_model(model, resolved, steps_per_epoch=10)
    assert model.accumulation_steps == 4
    # The schedule runs over the run's updates: 3 epochs of 10 steps, one update in 4.
    schedule = model.optimizer["model"].get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay" and schedule["config"]["decay_steps"] == 7
    # An older configuration without the key trains without accumulation.
    assert configs.resolve({"family": "vae"}, family)["train"]["accumulation_steps"] == 1


# ------------------------------------------------------------------- errors
@covers("cli-option-minimum", "cli-seed", "cli-unknown-data")
def test_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit, match="no checkpoint"):
        cli.main(["generate", str(tmp_path / "missing.keras")])
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(SystemExit, match="could not load .* not a .keras archive"):
        cli.main(["generate", str(bad)])
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    with pytest.raises(SystemExit, match="the file is empty"):
        cli.main(["generate", str(empty)])
    with pytest.raises(SystemExit, match="--epochs must be an integer of at least 1") as error:
        cli.main(["train", "gan", "--epochs", "0"])
    assert error.value.code == 2
    with pytest.raises(SystemExit, match="--accumulation-steps must be an integer of at least 1"):
        cli.main(["train", "gan", "--accumulation-steps", "0"])
    with pytest.raises(SystemExit, match="Unknown data source 'nope'"):
        cli.main(["train", "gan", "--data", "nope", "--epochs", "1", "--out",
                  str(tmp_path / "x")])
    # (--epochs 1: should a check ever let these through, the test stays short.)
    with pytest.raises(SystemExit, match="--latent-dim must be an integer of at least 1"):
        cli.main(["train", "gan", "--latent-dim", "0", "--epochs", "1", "--out",
                  str(tmp_path / "x")])
    with pytest.raises(SystemExit, match=r"--seed must be an integer in 0\.\.2147483647; got -1"):
        cli.main(["train", "gan", "--seed", "-1", "--epochs", "1", "--out",
                  str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="name a model family"):
        cli.main(["train"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="is a file, so nothing can be written under it"):
        cli.main(["train", "gan", "--out", str(tmp_path / "file" / "run")])
    with pytest.raises(SystemExit, match="is not a run folder"):
        cli.main(["train", "--resume", str(tmp_path)])
    assert "kgen: error:" in capsys.readouterr().err


@covers("cli-out-under-a-file", "cli-out-jpeg", "cli-batch-larger-than-data")
def test_paths_that_cannot_be_written_and_batches_larger_than_the_data(tmp_path, capsys):
    checkpoint = tmp_path / "gan.keras"
    kgen.models.GAN.from_shape((8, 8, 1), latent_dim=4, base_filters=4, seed=0).save(
        checkpoint)
    (tmp_path / "file").write_text("x")
    in_the_way = str(tmp_path / "file")
    with pytest.raises(SystemExit, match=f"--out .*: '{in_the_way}' is a file, so nothing"):
        cli.main(["generate", str(checkpoint), "-n", "4", "--out",
                  str(tmp_path / "file" / "grid.png")])
    with pytest.raises(SystemExit, match=f"--individual .*: '{in_the_way}' is a file"):
        cli.main(["generate", str(checkpoint), "-n", "4", "--out", str(tmp_path / "g.png"),
                  "--individual", str(tmp_path / "file" / "each")])
    with pytest.raises(SystemExit, match=f"DIRECTORY .*: '{in_the_way}' is a file"):
        cli.main(["export", str(checkpoint), str(tmp_path / "file" / "export")])
    assert cli.main(["generate", str(checkpoint), "-n", "4", "--out",
                     str(tmp_path / "grid.jpg")]) == 0
    assert (tmp_path / "grid.jpg").read_bytes()[:3] == b"\xff\xd8\xff"   # JPEG
    with pytest.raises(SystemExit, match=r"Batch size 5000 is larger than the 1797 examples "
                                         r"of 'digits'.*at most 1797 \(--batch-size"):
        cli.main(["train", "gan", "--data", "digits", "--batch-size", "5000", "--epochs",
                  "1", "--out", str(tmp_path / "big")])
    assert "kgen: error:" in capsys.readouterr().err
