"""search_codebase runs the real ripgrep, jailed, capped and timed."""

from __future__ import annotations

from pathlib import Path

import pytest

from prwarden.errors import JailError, ToolError
from tools.base import Workspace
from tools.search import MAX_MATCHES, search_codebase


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(
        "import os\n\ndef handler(req):\n    return eval(req.body)\n\naxb = 1\nvalue = a.b(2)\n"
    )
    (root / "src" / "web.ts").write_text("export function handler(req: Req) { return 1 }\n")
    (root / "docs.md").write_text("call handler( with care\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "creds.txt").write_text("SECRET_TOKEN=abc\n")
    return Workspace(root=root, timeout=10.0)


async def test_fixed_string_by_default(ws: Workspace) -> None:
    result = await search_codebase(ws, "a.b(")
    assert result.ok
    assert [(d.path, d.line) for d in result.diagnostics] == [("src/app.py", 7)]
    assert "src/app.py\n  7: value = a.b(2)" in result.content
    assert all(d.source == "search" for d in result.diagnostics)


async def test_regex_when_asked(ws: Workspace) -> None:
    result = await search_codebase(ws, r"a.b\b", regex=True)
    assert {(d.path, d.line) for d in result.diagnostics} == {("src/app.py", 6), ("src/app.py", 7)}
    literal = await search_codebase(ws, "handler(", regex=False)
    assert {d.path for d in literal.diagnostics} == {"src/app.py", "src/web.ts", "docs.md"}
    with pytest.raises(ToolError, match="regex parse error"):
        await search_codebase(ws, "handler(", regex=True)


async def test_glob_filters_files(ws: Workspace) -> None:
    result = await search_codebase(ws, "handler", glob="*.ts")
    assert [d.path for d in result.diagnostics] == ["src/web.ts"]
    result = await search_codebase(ws, "handler", glob="src/**")
    assert {d.path for d in result.diagnostics} == {"src/app.py", "src/web.ts"}


async def test_no_match(ws: Workspace) -> None:
    result = await search_codebase(ws, "does-not-occur-anywhere")
    assert result.ok and result.diagnostics == ()
    assert result.content.startswith("no matches")


@pytest.mark.parametrize("glob", ["../*", "src/../../outside/*", "/etc/*", "!*.py", "C:/x"])
async def test_escaping_globs_refused(ws: Workspace, glob: str) -> None:
    with pytest.raises(JailError):
        await search_codebase(ws, "SECRET_TOKEN", glob=glob)


async def test_symlinks_out_of_the_workspace_are_not_followed(ws: Workspace) -> None:
    outside = ws.root.parent / "outside"
    (ws.root / "linked").symlink_to(outside)
    (ws.root / "creds.txt").symlink_to(outside / "creds.txt")
    result = await search_codebase(ws, "SECRET_TOKEN")
    assert result.diagnostics == ()
    result = await search_codebase(ws, "SECRET_TOKEN", glob="linked/*")
    assert result.diagnostics == ()


async def test_repository_ignore_files_and_rg_config_are_not_read(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws.root / ".ignore").write_text("*.py\n")
    (ws.root / ".rgignore").write_text("src/\n")
    config = tmp_path / "rgrc"
    config.write_text("--glob=!*.py\n--max-count=0\n")
    monkeypatch.setenv("RIPGREP_CONFIG_PATH", str(config))
    result = await search_codebase(ws, "eval(")
    assert [(d.path, d.line) for d in result.diagnostics] == [("src/app.py", 4)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("x" * 301, "longer than 300"),
        ("two\nlines", "one line"),
        ("nul\x00byte", "one line"),
    ],
)
async def test_bad_queries_refused(ws: Workspace, query: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await search_codebase(ws, query)


async def test_pathological_regex_refused(ws: Workspace) -> None:
    with pytest.raises(ToolError, match="size limit"):
        await search_codebase(ws, "(a{1000}){1000}", regex=True)


@pytest.fixture
def big_ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "big"
    root.mkdir()
    line = "value = compute(needle, 42)  # a line of ordinary code\n"
    for i in range(100):
        (root / f"mod_{i:03}.py").write_text(line * 1000)
    return Workspace(root=root, timeout=10.0, output_cap=8_000)


async def test_search_on_100k_lines_is_capped(big_ws: Workspace) -> None:
    # Within the workspace's timeout, or it would be a timeout error rather than a result.
    result = await search_codebase(big_ws, "needle")
    assert result.ok and result.truncated
    assert "capped" in result.content
    assert len(result.diagnostics) == MAX_MATCHES
    assert len(result.content) <= big_ws.output_cap


async def test_timeout_kills_the_search(big_ws: Workspace) -> None:
    slow = Workspace(root=big_ws.root, timeout=0.001)
    with pytest.raises(ToolError, match="timed out"):
        await search_codebase(slow, "needle")
