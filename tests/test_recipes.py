"""Every recipe has its configuration beside it, and every configuration resolves."""

import pathlib

import pytest

import kgen
from kgen.cli import config as configs

RECIPES = pathlib.Path(__file__).parent.parent / "recipes"
CONFIGS = sorted(RECIPES.glob("*.toml"))


def test_every_recipe_has_its_configuration():
    scripts = sorted(RECIPES.glob("*.py"))
    assert len(scripts) >= 14
    missing = [p.name for p in scripts if not p.with_suffix(".toml").exists()]
    assert not missing, f"recipes without a .toml beside them: {missing}"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_a_configuration_resolves_for_its_family(path):
    resolved = configs.resolve(configs.read(path))
    family = kgen.models.registry.get(resolved["family"])
    assert set(resolved["model"]) <= {option.name for option in family.options}
    assert resolved["train"]["epochs"] >= 1
    assert f"kgen train --config recipes/{path.name}" in path.read_text() or \
        path.with_suffix(".py").exists()
