"""benchmarks/reproduce.py builds its table from results alone: no recipe runs here."""

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).parent.parent
_spec = importlib.util.spec_from_file_location("reproduce", ROOT / "benchmarks" / "reproduce.py")
reproduce = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reproduce)
ROWS = {row.name: row for row in reproduce.ROWS}


def record(row, seed, seconds=30.0, ok=True, mode="full", backend="jax", **values):
    return {"row": row, "seed": seed, "mode": mode, "backend": backend, "ok": ok,
            "seconds": seconds, "eval_seconds": 0.0, "values": values, "notes": [],
            "load_average": [1.0, 2.0], "cpus": 2, "platform": "Linux", "finished":
            "2026-01-01T00:00:00+00:00", "versions": {"keras": "3"}, "commit": "abc"}


def test_every_recipe_has_a_row_and_takes_a_seed():
    scripts = {row.script for row in reproduce.ROWS}
    for path in sorted((ROOT / "recipes").glob("*.py")):
        assert f"recipes/{path.name}" in scripts, f"{path.name} has no row in reproduce.py"
        assert re.search(r'add_argument\("--seed", type=int, default=0', path.read_text()), \
            f"{path.name} takes no --seed"
    for row in reproduce.ROWS:
        source = (ROOT / row.script).read_text()
        for length in row.lengths:
            assert f'"{length.flag}"' in source and str(length.default) in source, \
                (row.name, length.flag)


def test_mean_and_spread_over_seeds():
    assert reproduce.mean_spread([1.0, 2.0, 3.0], 2) == "2.00 ± 1.00"
    assert reproduce.mean_spread([0.3761], 3) == "0.376"


def test_three_seeds_under_ten_minutes_else_one():
    assert reproduce.seeds_to_run([0, 1, 2], None) == [0, 1, 2]
    assert reproduce.seeds_to_run([0, 1, 2], record("x", 0, seconds=590.0)) == [0, 1, 2]
    slow = dict(record("x", 0, seconds=590.0), eval_seconds=20.0)   # 10 min 10 s in all
    assert reproduce.seeds_to_run([0, 1, 2], slow) == [0]


def test_table_from_results():
    results = [record("pixelcnn_digits_2", s, bpd=v) for s, v in enumerate([0.37, 0.38, 0.39])]
    results += [record("dcgan_digits", 0, seconds=700.0, fid=20.0, kid=5.0),
                record("vae_digits", 0, ok=False),
                record("vae_digits", 0, mode="smoke", elbo=30.0)]
    rows = [ROWS["pixelcnn_digits_2"], ROWS["dcgan_digits"], ROWS["vae_digits"],
            ROWS["dip_inpaint"]]
    text = reproduce.table(results, rows, "full", seeds=[0, 1, 2])
    lines = {line.split("`")[1]: line for line in text.splitlines() if line.startswith("| `")}
    assert "0, 1, 2" in lines["pixelcnn_digits_2"]
    assert "**0.380 ± 0.010**" in lines["pixelcnn_digits_2"]
    assert "one seed: the run took 11 min 40 s, over 10 min" in lines["dcgan_digits"]
    assert "digits-FID, 10,000 samples: **20.00**" in lines["dcgan_digits"]
    assert "| failed |" in lines["vae_digits"] and "30.00" not in lines["vae_digits"]
    assert "| not run |" in lines["dip_inpaint"]
    assert "KERAS_BACKEND=torch python recipes/dip_inpaint.py" in lines["dip_inpaint"]
    assert "Plumbing check" not in text
    smoke = reproduce.table(results, [ROWS["vae_digits"]], "smoke")
    assert "Plumbing check only" in smoke and "--epochs 2" in smoke


def test_the_table_goes_between_the_markers(tmp_path):
    page = tmp_path / "page.md"
    # The prose may quote the markers: only lines of their own count.
    prose = "Before: between `<!-- table -->` and `<!-- /table -->`."
    page.write_text(f"# Title\n\n{prose}\n\n<!-- table -->\n\nAfter.\n")
    reproduce.write_markdown(str(page), "| a |\n")
    reproduce.write_markdown(str(page), "| b |\n")
    text = page.read_text()
    assert text.count("\n<!-- table -->\n") == 1 and text.count("\n<!-- /table -->\n") == 1
    assert "| b |" in text and "| a |" not in text
    assert text.startswith(f"# Title\n\n{prose}") and text.endswith("\n\nAfter.\n")


def test_rerun_sets_the_rows_earlier_records_aside(tmp_path, capsys):
    path = str(tmp_path / "results.jsonl")
    vae = [record("vae_digits", s, elbo=30.0 + s) for s in range(3)]
    others = [record("vae_digits", 0, mode="smoke", elbo=90.0),
              record("dcgan_digits", 0, fid=20.0)]
    for r in vae + others:
        reproduce.append_result(path, r)
    moved = reproduce.set_aside(path, [ROWS["vae_digits"]], "full", "documented")
    assert moved == 3
    assert reproduce.read_results(path) == others
    assert reproduce.read_results(str(tmp_path / "results.replaced.jsonl")) == vae
    assert reproduce.set_aside(path, [ROWS["vae_digits"]], "full", "documented") == 0
    # Without rows named, --rerun would run every row for hours: it is refused.
    for argv, message in ((["--rerun"], "name them with --only"),
                          (["--rerun", "--only", "vae_digits", "--table-only"], "runs nothing")):
        with pytest.raises(SystemExit):
            reproduce.parse_args(argv)
        assert message in capsys.readouterr().err
