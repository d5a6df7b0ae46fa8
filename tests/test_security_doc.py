"""docs/security.md's ASVS table: every "met" row names a test, and every test it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"
REFERENCE = re.compile(r"`((?:e2e/)?test_[a-z0-9_]+\.py)(?:::([a-z0-9_]+))?`")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def _met_rows() -> list[str]:
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| ")]
    return [r for r in rows if [c.strip() for c in r.split("|")][3:4] == ["met"]]


def test_every_met_row_names_a_test_that_exists() -> None:
    rows = _met_rows()
    assert len(rows) > 60
    missing: list[str] = []
    for row in rows:
        references = REFERENCE.findall(row)
        if not references:
            missing.append(f"no test named: {row}")
        for file, name in references:
            path = ROOT / "tests" / file
            if not path.exists():
                missing.append(f"{file} does not exist: {row}")
            elif name and name not in _tests_in(path):
                missing.append(f"{file}::{name} does not exist")
    assert missing == []
