"""Imports follow the agreed direction: bot → review → tools → security; review → cache.

Around the product, ``tests/`` and ``bench/`` share ``testkit/`` and never import each other,
and nothing of the product imports any of the three.
"""

from __future__ import annotations

import ast
import tomllib
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


# What may import what outside the product (each also imports the product itself).
SUPPORT_FORBIDDEN = {
    "tests": {"bench"},
    "bench": {"tests"},
    "testkit": {"tests", "bench"},
}
SUPPORT = tuple(SUPPORT_FORBIDDEN)


def _project_imports(path: Path, roots: tuple[str, ...] = PACKAGES) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names if name.split(".")[0] in roots}
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


@pytest.mark.parametrize("package", PACKAGES)
def test_the_product_imports_no_test_support(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(_project_imports(path, SUPPORT))
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert not {k: v for k, v in wrong.items() if v}


@pytest.mark.parametrize("folder", SUPPORT)
def test_tests_and_bench_share_only_testkit(folder: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(
            _project_imports(path, SUPPORT) & SUPPORT_FORBIDDEN[folder]
        )
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_the_fakes_judge_with_their_own_code() -> None:
    """The fakes are the oracles (is this line in the diff?): none reuses the product's code."""
    wrong = {
        str(path.relative_to(ROOT)): sorted(_project_imports(path))
        for path in sorted((ROOT / "testkit" / "fakes").rglob("*.py"))
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_test_support_is_not_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    installed = config["tool"]["setuptools"]["packages"]
    assert {p.split(".")[0] for p in installed} == set(PACKAGES)


def test_the_import_checks_see_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from tests.helpers import CORPORA\n    import bench.run\n")
    assert _project_imports(module, SUPPORT) == {"tests", "bench"}
