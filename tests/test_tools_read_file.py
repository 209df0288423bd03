"""read_file: bounded, numbered windows of files inside the workspace only."""

from __future__ import annotations

from pathlib import Path

import pytest

from prwarden.errors import JailError, ToolError
from tools.base import Workspace
from tools.read_file import MAX_FILE_BYTES, MAX_WINDOW_LINES, read_file


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "long.py").write_text("".join(f"line {i}\n" for i in range(1, 1001)))
    (root / "src" / "short.py").write_text("a = 1\r\nb = 2\r\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n")
    return Workspace(root=root)


async def test_window_is_numbered(ws: Workspace) -> None:
    result = await read_file(ws, "src/long.py", start=10, end=12)
    assert result.ok
    assert result.content.splitlines() == [
        "src/long.py (lines 10-12 of 1000)",
        "    10 | line 10",
        "    11 | line 11",
        "    12 | line 12",
    ]


async def test_window_is_bounded(ws: Workspace) -> None:
    result = await read_file(ws, "src/long.py")
    lines = result.content.splitlines()
    assert lines[0] == f"src/long.py (lines 1-{MAX_WINDOW_LINES} of 1000)"
    assert len(lines) == MAX_WINDOW_LINES + 1
    asked_more = await read_file(ws, "src/long.py", start=501, end=1000)
    assert "lines 501-900 of 1000" in asked_more.content
    assert "ask again from 901" in asked_more.content


async def test_past_the_end_and_crlf(ws: Workspace) -> None:
    result = await read_file(ws, "src/long.py", start=2000)
    assert result.content == "src/long.py has 1000 lines; nothing at line 2000"
    short = await read_file(ws, "src/short.py")
    assert short.content.splitlines()[1:] == ["     1 | a = 1", "     2 | b = 2"]


async def test_output_cap(ws: Workspace) -> None:
    small = Workspace(root=ws.root, output_cap=200)
    result = await read_file(small, "src/long.py")
    assert result.truncated and len(result.content) <= 200


@pytest.mark.parametrize(
    ("start", "end", "message"), [(0, None, "start must be"), (5, 4, "end must not")]
)
async def test_bad_windows(ws: Workspace, start: int, end: int | None, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await read_file(ws, "src/long.py", start=start, end=end)


async def test_binary_and_directories_refused(ws: Workspace) -> None:
    (ws.root / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(ToolError, match="binary"):
        await read_file(ws, "img.png")
    with pytest.raises(ToolError, match="not a file"):
        await read_file(ws, "src")


async def test_huge_file_refused(ws: Workspace) -> None:
    with (ws.root / "huge.log").open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ToolError, match="larger than"):
        await read_file(ws, "huge.log")


@pytest.mark.parametrize(
    "path", ["../outside/secret.txt", "/etc/passwd", "src/../../outside/secret.txt", "nope.txt"]
)
async def test_escapes_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(JailError):
        await read_file(ws, path)


async def test_symlink_out_refused(ws: Workspace) -> None:
    (ws.root / "innocent.txt").symlink_to(ws.root.parent / "outside" / "secret.txt")
    (ws.root / "dir").symlink_to(ws.root.parent / "outside")
    for path in ("innocent.txt", "dir/secret.txt"):
        with pytest.raises(JailError, match="leaves the workspace"):
            await read_file(ws, path)
