"""`kgen evaluate`: values printed with their protocol, and clear errors."""

import re

import keras
import numpy as np
import pytest
from PIL import Image

import kgen
from checks_catalogue import covers
from harness import RecordLogs
from kgen import cli
from kgen.callbacks import Evaluate
from kgen.metrics import compute_metric


def ring_gan():
    return kgen.models.GAN.from_shape((2,), base_filters=32, seed=0)


def test_cli_evaluate_modes_prints_value_and_protocol(tmp_path, capsys):
    gan = ring_gan()
    gan.compile()
    gan.fit(kgen.data.load("ring", num_samples=512), batch_size=128, epochs=1, verbose=0)
    path = str(tmp_path / "ring.keras")
    gan.save(path)
    assert cli.main(["evaluate", path, "--data", "ring", "--metric", "modes", "-n", "600"]) == 0
    printed = capsys.readouterr().out
    assert "Protocol: mode coverage on 'ring'" in printed
    assert "within 3 standard deviations" in printed and "600 samples (seed 0" in printed
    modes = int(re.search(r"^modes: (\d+) of 8$", printed, re.M).group(1))
    quality = float(re.search(r"^high_quality: ([0-9.]+)$", printed, re.M).group(1))
    expected = compute_metric(keras.saving.load_model(path), kgen.metrics.ModeCoverage("ring"),
                              600, batch_size=250, seed=0)
    assert modes == expected["modes"]
    assert quality == pytest.approx(expected["high_quality"], abs=1e-4)

    with pytest.raises(SystemExit, match="--metric modes measures the 2-D Gaussian mixtures"):
        cli.main(["evaluate", path, "--data", "digits", "--metric", "modes"])
    with pytest.raises(SystemExit, match="--metric nll: the gan family is measured by "
                                         "fid, kid, is, pr, modes"):
        cli.main(["evaluate", path, "--data", "ring", "--metric", "nll"])
    with pytest.raises(SystemExit, match="measures images|not available"):
        cli.main(["evaluate", path, "--data", "ring", "--metric", "fid"])


def small_image_vae():
    """A Gaussian VAE of 8x8x1 images with small dense networks (cheap to compile)."""
    encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(8)], name="encoder")
    decoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(64), keras.layers.Reshape((8, 8, 1))],
                               name="decoder")
    return kgen.models.VAE(encoder, decoder, likelihood="gaussian", seed=0)


def test_fid_of_the_digits_during_fit_and_from_the_cli(tmp_path, capsys):
    train = kgen.data.load("digits", split="train")
    test = kgen.data.load("digits", split="test")
    vae = small_image_vae()
    vae.compile()
    record = RecordLogs()
    fid = kgen.metrics.FrechetInceptionDistance("digits")
    vae.fit(kgen.data.images(train, batch_size=128, seed=0), epochs=2, verbose=0, callbacks=[
        Evaluate(fid, num_samples=300, data=test, batch_size=100, seed=2), record])
    values = [logs["fid"] for logs in record.logs]
    assert all(isinstance(v, float) and v > 0 for v in values)
    assert fid.count("real") == 360 and fid.count("generated") == 300

    # `kgen evaluate` on the saved model, with the same samples, gives the last value and
    # says how it was measured.
    path = str(tmp_path / "vae.keras")
    vae.save(path)
    assert cli.main(["evaluate", path, "--metric", "fid", "-n", "300", "--seed", "2",
                     "--batch-size", "100"]) == 0
    printed = capsys.readouterr().out
    assert "extractor digits_classifier (output: features" in printed
    assert "generated: 300 samples (seed 2" in printed
    assert "real: 360 images of digits, split 'test' (the held-out 20%" in printed
    value = float(re.search(r"^fid: ([0-9.e+-]+)$", printed, re.M).group(1))
    assert value == pytest.approx(values[-1], rel=1e-5)


def test_cli_evaluate_nll_prints_value_and_protocol(tmp_path, capsys):
    path = str(tmp_path / "vae.keras")
    small_image_vae().save(path)
    assert cli.main(["evaluate", path, "--metric", "nll", "-n", "16"]) == 0
    printed = capsys.readouterr().out
    assert "K = 16 samples of q(z|x)" in printed
    assert "360 examples of digits, split 'test' (the held-out 20%" in printed
    assert "dequantized" in printed
    nll = float(re.search(r"^nll: ([0-9.]+) nats per example", printed, re.M).group(1))
    negative_elbo = float(re.search(r"negative ELBO: ([0-9.]+)", printed).group(1))
    bits = float(re.search(r"^bits_per_dim: ([0-9.]+)", printed, re.M).group(1))
    vae = keras.saving.load_model(path)
    test = kgen.metrics.dequantize(kgen.data.load("digits", split="test"), seed=0)
    elbo, log_p = vae.log_likelihood_bounds(test, num_samples=16, batch_size=4096, seed=0)
    assert nll == pytest.approx(-log_p.mean(), abs=1e-3)
    assert negative_elbo == pytest.approx(-elbo.mean(), abs=1e-3)
    assert bits == pytest.approx(kgen.metrics.bits_per_dim(-log_p.mean(), 64), abs=1e-3)

    with pytest.raises(SystemExit, match=r"models samples of shape \(8, 8, 1\) but --data ring"):
        cli.main(["evaluate", path, "--metric", "nll", "--data", "ring"])


def test_cli_train_split_and_likelihood_options(tmp_path, capsys):
    out = tmp_path / "ring"
    assert cli.main(["train", "vae", "--data", "ring", "--split", "train", "--likelihood",
                     "bernoulli", "--epochs", "1", "--batch-size", "256", "--out",
                     str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"kgen evaluate {out} --metric modes" in printed
    assert keras.saving.load_model(str(out / "last.keras")).likelihood == "bernoulli"
    # --likelihood is an option of the VAE families only.
    with pytest.raises(SystemExit) as error:
        cli.main(["train", "gan", "--data", "ring", "--likelihood", "gaussian", "--out",
                  str(tmp_path / "gan")])
    assert error.value.code == 2
    assert "unrecognized arguments: --likelihood" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "vae", "--split", "test"])   # never train on the held-out split
    assert "invalid choice: 'test'" in capsys.readouterr().err


@covers("scene-classifier-inputs")
def test_scenes_are_measured_with_the_shipped_scene_classifier(tmp_path, capsys):
    gan = kgen.models.GAN.from_shape((32, 32, 3), base_filters=4, latent_dim=8, seed=0)
    path = str(tmp_path / "scenes.keras")
    gan.save(path)
    assert cli.main(["evaluate", path, "--metric", "fid", "--data", "captioned_digits",
                     "-n", "40", "--batch-size", "20"]) == 0
    printed = capsys.readouterr().out
    assert "extractor scene_classifier (output: features" in printed
    assert "real: 1440 images of captioned_digits, split 'test' (scenes drawn with seed 0)" \
        in printed
    expected = compute_metric(keras.saving.load_model(path),
                              kgen.metrics.FrechetInceptionDistance("scenes"), 40,
                              data=kgen.data.load("captioned_digits", split="test"),
                              batch_size=20, seed=0)
    fid = float(re.search(r"^fid: ([0-9.e+-]+)", printed, re.M).group(1))
    assert fid == pytest.approx(float(expected), rel=1e-4)
    # The shipped classifiers take their own image shape only.
    with pytest.raises(SystemExit, match=r"scenes extractor takes images of shape "
                                         r"\(32, 32, 3\); the checkpoint generates "
                                         r"\(8, 8, 1\)"):
        cli.main(["evaluate", _saved(small_image_vae(), tmp_path), "--metric", "fid",
                  "--extractor", "scenes"])


def _saved(model, tmp_path):
    path = str(tmp_path / f"{model.name}.keras")
    model.save(path)
    return path


def test_cli_evaluate_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        cli.main(["evaluate", "x.keras", "--metric", "sharpness"])
    assert error.value.code == 2 and "invalid choice: 'sharpness'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no checkpoint"):
        cli.main(["evaluate", str(tmp_path / "missing.keras"), "--metric", "fid"])
    with pytest.raises(SystemExit, match="--num-samples must be an integer of at least 1"):
        cli.main(["evaluate", "x.keras", "--metric", "modes", "-n", "0"])
    path = str(tmp_path / "vae.keras")
    small_image_vae().save(path)
    with pytest.raises(SystemExit, match="Unknown data source 'nope'"):
        cli.main(["evaluate", path, "--metric", "nll", "--data", "nope"])


@covers("cli-evaluate-l1-without-truth")
def test_cli_evaluate_l1_of_cyclegan_against_the_true_translation(tmp_path, capsys):
    model = kgen.models.CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=0,
                                            num_layers=1)
    path = str(tmp_path / "cyclegan.keras")
    model.save(path)
    assert cli.main(["evaluate", path, "--metric", "l1", "--data", "digits-inverted"]) == 0
    printed = capsys.readouterr().out
    assert "its true translation (kgen.data.true_translation)" in printed
    a, b = kgen.data.load_unpaired("digits-inverted", split="test")
    truth = kgen.data.to_data_space(255 - a)
    expected = np.mean(np.abs(model.generate(inputs=a) - truth))
    baseline = np.mean(np.abs(kgen.data.to_data_space(b).mean(axis=0) - truth))
    assert float(re.search(r"^l1: ([0-9.]+)$", printed, re.M).group(1)) == pytest.approx(
        expected, rel=1e-4)
    assert float(re.search(r"^mean-target l1: ([0-9.]+)$", printed, re.M).group(1)) == \
        pytest.approx(baseline, rel=1e-4)
    folders = tmp_path / "domains"
    for domain in "AB":
        (folders / domain).mkdir(parents=True)
        Image.fromarray(a[0, ..., 0]).save(folders / domain / "0.png")
    with pytest.raises(SystemExit, match="or a bundled unpaired set whose true translation"):
        cli.main(["evaluate", path, "--metric", "l1", "--data", f"folder:{folders}"])
