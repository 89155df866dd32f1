"""docs/guides/checks.md lists exactly the bad inputs of the tests' catalogue, and every
row of the catalogue is checked by a test."""

import ast
import pathlib

import checks_catalogue

TESTS = pathlib.Path(__file__).parent
ROOT = TESTS.parent
PAGE = ROOT / "docs" / "guides" / "checks.md"


def _covered():
    """``{row id: [test names]}`` from the ``@covers(...)`` decorators of the test files."""
    found = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) \
                        == "covers":
                    for argument in decorator.args:
                        found.setdefault(argument.value, []).append(
                            f"{path.relative_to(TESTS)}::{node.name}")
    return found


def test_every_row_is_tested_and_every_test_names_a_row():
    rows = [row.id for row in checks_catalogue.ROWS]
    assert len(rows) == len(set(rows)), "repeated row ids"
    covered = _covered()
    assert not [row for row in rows if row not in covered], "rows without a test"
    assert not [name for name in covered if name not in rows], "tests of unknown rows"


def test_the_checks_page_lists_exactly_the_catalogue():
    assert PAGE.read_text() == checks_catalogue.render(), (
        "docs/guides/checks.md differs from the catalogue: write it with "
        ".venv/bin/python tests/checks_catalogue.py > docs/guides/checks.md")
    listed = [line for line in PAGE.read_text().splitlines()
              if line.startswith("| ") and not line.startswith("| What you pass")
              and not line.startswith("| ---")]
    assert len(listed) == len(checks_catalogue.ROWS)


def test_the_page_is_in_the_guides_of_the_site():
    assert "guides/checks.md" in (ROOT / "mkdocs.yml").read_text()
