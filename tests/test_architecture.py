"""Imports follow the agreed direction: bot → review → tools → security; review → cache."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "review", "tools", "security", "cache", "prwarden")
ALLOWED = {
    "bot": {"bot", "review", "tools", "security", "cache", "prwarden"},
    "review": {"review", "tools", "security", "cache", "prwarden"},
    "tools": {"tools", "security", "prwarden"},
    "security": {"security", "prwarden"},
    "cache": {"cache", "prwarden"},
    "prwarden": {"prwarden"},
}


def _project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names if name.split(".")[0] in PACKAGES}
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_follow_the_design(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(_project_imports(path) - ALLOWED[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_review_knows_nothing_of_github_or_http() -> None:
    for path in sorted((ROOT / "review").rglob("*.py")):
        source = path.read_text()
        assert "gidgethub" not in source and "aiohttp" not in source, path
