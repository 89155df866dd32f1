"""The kgen command line, run in-process on the active backend."""

import csv

import pytest
from PIL import Image

from kgen import cli


def test_train_gan_on_digits_writes_checkpoint_grid_and_logs(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "gan", "--epochs", "2", "--out", str(out), "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "backend:" in printed and str(out / "model.keras") in printed
    with open(out / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert {"d_loss", "g_loss", "real_accuracy", "fake_accuracy"} <= set(rows[0])
    with Image.open(out / "samples.png") as picture:
        assert picture.mode == "L" and picture.size[0] > 64

    grid = tmp_path / "grid.png"
    assert cli.main(["generate", str(out / "model.keras"), "-n", "9", "--seed", "3",
                     "--out", str(grid)]) == 0
    with Image.open(grid) as picture:
        size = picture.size
    again = tmp_path / "again.png"
    cli.main(["generate", str(out / "model.keras"), "-n", "9", "--seed", "3", "--out", str(again)])
    assert grid.read_bytes() == again.read_bytes()  # same seed, same picture
    assert size[0] == size[1]  # 3 x 3 grid


def test_train_vae_on_the_ring(tmp_path):
    out = tmp_path / "ring"
    assert cli.main(["train", "vae", "--data", "ring", "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "model.keras").exists() and (out / "samples.png").exists()


def test_clear_errors(tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint"):
        cli.main(["generate", str(tmp_path / "missing.keras")])
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(SystemExit, match="could not load"):
        cli.main(["generate", str(bad)])
    with pytest.raises(SystemExit, match="--epochs must be at least 1"):
        cli.main(["train", "gan", "--epochs", "0"])
    with pytest.raises(ValueError, match="Unknown data set|available"):
        cli.main(["train", "gan", "--data", "nope", "--out", str(tmp_path / "x")])
