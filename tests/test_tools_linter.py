"""run_linter and ruff_diagnostics: real ruff, fixed rules, no repository config ever read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prwarden.errors import JailError, ToolError
from tools.base import Diagnostic, Workspace
from tools.linter import run_linter
from tools.linters.ruff import RULES, build_ruff_argv, ruff_diagnostics
from tools.process import clean_env, find_program, run_program

BUGGY = """import os
import json

def load(path, seen=[]):
    label = f"loading"
    print(label, undefined_name)
    return json.loads(path)
"""

ATTACK_CONFIG = """
extend = "../outside/canary.toml"
[lint]
select = ["ALL"]
[lint.per-file-ignores]
"*" = ["F401", "F821", "B006", "F541"]
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "buggy.py").write_text(BUGGY)
    (root / "pkg" / "broken.py").write_text("def broken(:\n")
    (root / "pkg" / "clean.py").write_text("def ok() -> int:\n    return 1\n")
    (root / "README.md").write_text("# readme\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.toml").write_text("this is [[[ not toml\n")
    (outside / "evil.py").write_text("import os\n")
    changed = {"pkg/buggy.py", "pkg/broken.py", "pkg/clean.py", "README.md"}
    return Workspace(root=root, changed_files=frozenset(changed), timeout=30.0)


def _codes(diags: tuple[Diagnostic, ...]) -> list[tuple[str, int, str | None]]:
    return [(d.path, d.line, d.code) for d in diags]


async def test_finds_real_bugs_with_relative_paths(ws: Workspace) -> None:
    diags = await ruff_diagnostics(ws, ["pkg/buggy.py"])
    assert _codes(diags) == [
        ("pkg/buggy.py", 1, "F401"),
        ("pkg/buggy.py", 4, "B006"),
        ("pkg/buggy.py", 5, "F541"),
        ("pkg/buggy.py", 6, "F821"),
    ]
    assert all(d.source == "ruff" for d in diags)
    fixes = {d.code: d.fix for d in diags}
    assert fixes["F541"] == '    label = "loading"'
    assert fixes["F401"] == ""
    assert fixes["B006"] is None
    assert fixes["F821"] is None


async def test_syntax_error_is_an_error_diagnostic(ws: Workspace) -> None:
    diags = await ruff_diagnostics(ws, ["pkg/broken.py", "README.md", "pkg/clean.py"])
    assert {d.path for d in diags} == {"pkg/broken.py"}
    assert all(d.code == "invalid-syntax" and d.severity == "error" for d in diags)


async def test_no_python_files_means_no_run(ws: Workspace) -> None:
    assert await ruff_diagnostics(ws, ["README.md"]) == ()


@pytest.mark.parametrize("name", ["pyproject.toml", "ruff.toml", ".ruff.toml"])
async def test_repository_config_changes_nothing_and_canary_is_never_read(
    ws: Workspace, name: str
) -> None:
    baseline = await ruff_diagnostics(ws, ["pkg/buggy.py"])
    text = ATTACK_CONFIG
    if name == "pyproject.toml":
        text = text.replace("[lint", "[tool.ruff.lint")
        text = "[tool.ruff]\n" + text
    (ws.root / name).write_text(text)
    (ws.root / "pkg" / name).write_text(text)
    control = await run_program(
        [find_program("ruff"), "check", "--no-cache", "pkg/buggy.py"],
        cwd=ws.root,
        time_limit=30.0,
        max_output=100_000,
        tool="control",
    )
    assert control.returncode == 2, "without --isolated ruff would read the canary and fail"
    assert await ruff_diagnostics(ws, ["pkg/buggy.py"]) == baseline


async def test_ruff_environment_variables_are_not_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUFF_OUTPUT_FORMAT", "concise")
    monkeypatch.setenv("RUFF_CACHE_DIR", "/tmp/elsewhere")
    assert "RUFF_OUTPUT_FORMAT" in os.environ
    assert not [k for k in clean_env() if k.startswith("RUFF")]


def test_command_line_pins_rules_and_isolation() -> None:
    argv = build_ruff_argv("ruff", ["a.py"])
    assert "--isolated" in argv and "--no-cache" in argv and "--exit-zero" in argv
    assert f"--select={','.join(RULES)}" in argv
    assert argv[-2:] == ["--", "a.py"]
    assert {"F", "B", "PLE", "ASYNC", "E9"} <= set(RULES)


async def test_run_linter_on_a_changed_file(ws: Workspace) -> None:
    result = await run_linter(ws, "./pkg/buggy.py")
    assert result.ok
    assert "pkg/buggy.py:6:18 F821 Undefined name `undefined_name`" in result.content
    assert "(fix available)" in result.content
    clean = await run_linter(ws, "pkg/clean.py")
    assert clean.content == "ruff: no findings in pkg/clean.py" and clean.diagnostics == ()


async def test_run_linter_refuses_files_outside_the_change(ws: Workspace) -> None:
    (ws.root / "pkg" / "other.py").write_text("import os\n")
    with pytest.raises(ToolError, match="not a file changed"):
        await run_linter(ws, "pkg/other.py")
    with pytest.raises(ToolError, match="no linter for this file type"):
        await run_linter(ws, "README.md")


@pytest.mark.parametrize("path", ["../outside/evil.py", "/etc/passwd", "pkg/../../outside/evil.py"])
async def test_run_linter_refuses_escapes(tmp_path: Path, path: str) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "evil.py").write_text("import os\n")
    ws = Workspace(root=root, changed_files=frozenset({path}))
    with pytest.raises(JailError):
        await run_linter(ws, path)


async def test_run_linter_refuses_symlink_out(ws: Workspace) -> None:
    (ws.root / "evil.py").symlink_to(ws.root.parent / "outside" / "evil.py")
    changed = Workspace(root=ws.root, changed_files=frozenset({"evil.py"}))
    with pytest.raises(JailError, match="leaves the workspace"):
        await run_linter(changed, "evil.py")
    assert await ruff_diagnostics(changed, ["evil.py", "gone.py", "pkg"]) == ()
    found = await ruff_diagnostics(changed, ["evil.py", "pkg/buggy.py"])
    assert {d.path for d in found} == {"pkg/buggy.py"}
