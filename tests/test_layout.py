"""The code's layout rules that no linter checks: private helpers stay private, dependencies show.

The layers themselves are import-linter's (``make lint``, pyproject's ``[tool.importlinter]``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    p
    for top in ("toegang", "tests", "bench")
    for p in sorted((ROOT / top).rglob("*.py"))
    if "migrations" not in p.parts and "node_modules" not in p.parts
]
# Apps with models, and the files each must have (docs/architecture.md, "Layout").
FILE_SET = ("models.py", "services.py", "selectors.py", "admin.py", "apps.py", "migrations")


def _module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    own = _module_of(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("toegang", "tests")):
            if node.module == own:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {node.module}.{alias.name}")
    return found


def _hidden_imports(path: Path) -> list[str]:
    """Imports of project modules inside a function, other than AppConfig.ready()'s wiring."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef) or func.name == "ready":
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n.startswith("toegang") for n in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {names[0]} inside {func.name}()")
    return found


def test_no_module_imports_another_modules_private_helper() -> None:
    found = [f for p in SOURCES for f in _private_imports(p)]
    assert found == []


def test_the_private_import_check_can_fail(tmp_path: Path) -> None:
    probe = ROOT / "toegang" / "_layout_probe.py"
    probe.write_text("from toegang.portal.common import _secret\n")
    try:
        assert _private_imports(probe) == ["toegang/_layout_probe.py:1 imports toegang.portal.common._secret"]
    finally:
        probe.unlink()


def test_no_function_level_import_hides_a_dependency_of_the_product() -> None:
    # bench/ and tests/ set Django up before importing the product, so only toegang/ is held to it.
    found = [f for p in SOURCES if p.parts[len(ROOT.parts)] == "toegang" for f in _hidden_imports(p)]
    assert found == []


@pytest.mark.parametrize(
    "app", sorted(p.parent.name for p in (ROOT / "toegang").glob("*/models.py") if p.parent.name != "portal")
)
def test_every_app_with_models_has_the_same_files(app: str) -> None:
    missing = [name for name in FILE_SET if not (ROOT / "toegang" / app / name).exists()]
    assert missing == []


def test_every_transactional_test_restores_the_migrations_rows() -> None:
    # A transactional test ends with a flush, which empties the tables the migrations filled
    # (audiences, content types); without serialized_rollback the tests after it fail, or the next
    # serialized test's restore collides with the content types the flush's post_migrate recreated.
    marker = re.compile(r"django_db\(([^)]*)\)")
    found = [
        f"{p.relative_to(ROOT)}: {m.group(0)}"
        for p in SOURCES
        if p.parts[len(ROOT.parts)] == "tests"
        for m in marker.finditer(p.read_text())
        if "transaction=True" in m.group(1) and "serialized_rollback=True" not in m.group(1)
    ]
    assert found == []
