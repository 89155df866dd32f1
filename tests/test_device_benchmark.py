"""benchmarks/device.py's in-process entry on the active backend: one family, two steps,
and the structure of its table, JSON and docs block (no time is checked)."""

import importlib.util
import json
import math
import pathlib

import keras
import pytest

import kgen

ROOT = pathlib.Path(__file__).parent.parent
_spec = importlib.util.spec_from_file_location("device_benchmark",
                                               ROOT / "benchmarks" / "device.py")
device = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(device)

CONFIG = dict(device.SIZES["small"], steps=2, warmup=1, num_samples=4, generate_calls=1,
              dcgan_steps=0)


def test_one_family_gives_a_row_and_a_failing_one_a_failed_cell(monkeypatch):
    backend = keras.backend.backend()
    result = device.run_backend(backend, "small", CONFIG, families=["gan"])
    json.loads(json.dumps(result))   # what --json prints
    assert [row["family"] for row in result["rows"]] == ["gan"]
    fit, (generate,) = result["rows"][0]["fit"], result["rows"][0]["generate"]
    assert fit["steps_timed"] == 1 and math.isfinite(fit["ms"]) and fit["ms"] > 0
    assert generate["images_per_call"] == 4 and generate["images_per_s"] > 0
    assert result["device"] and "dcgan" not in result

    def broken(family, size, num_examples):
        raise RuntimeError("no | device")

    monkeypatch.setattr(device, "build", broken)
    vae = kgen.models.registry.get("vae")
    result["rows"].append(device.run_family(vae, backend, "small", CONFIG))
    text = device.report([result])
    rows = [line for line in text.splitlines() if line.startswith(f"| {backend} |")]
    assert len(rows) == 2 and all(line.count(" | ") == 6 for line in rows)
    assert "| gan |" in rows[0] and "generate(), 4 images" in rows[0]
    assert "failed: build: RuntimeError: no \\| device" in rows[1]
    assert "load average" in text and "Versions:" in text


def test_families_that_draw_no_samples_get_no_generate_cells():
    for name in ("clip", "deep_image_prior"):
        assert device._generate_calls(kgen.models.registry.get(name), None, CONFIG) == []
    row = {"family": "clip", "fit": {"ms": 1.0, "p10": 1.0, "p90": 1.0}, "generate": []}
    line = device.table([{"backend": "jax", "device": "CPU", "rows": [row]}]).splitlines()[-1]
    assert line.endswith("| - | - |") and "failed" not in line


def test_the_table_goes_between_the_markers_and_bad_arguments_are_refused(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"# T\n\nQuoted: `{device.MARKER}`.\n\n{device.MARKER}\nold\n"
                    f"{device.END_MARKER}\n\nAfter.\n")
    device.write_markdown(str(page), "| a |")
    device.write_markdown(str(page), "| b |")
    text = page.read_text()
    assert text.count(f"\n{device.MARKER}\n") == 1 and text.count(f"\n{device.END_MARKER}\n") == 1
    assert "| b |" in text and "| a |" not in text and "old" not in text
    assert text.endswith("\n\nAfter.\n")
    for argv in (["--steps", "2", "--warmup", "2"], ["--families", "nope"],
                 ["--generate-calls", "0"], ["--backend", "jax", "--size", "huge"]):
        with pytest.raises(SystemExit):
            device.parse_args(argv)
