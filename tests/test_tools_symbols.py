"""get_symbol_definition finds functions, classes and methods with the real tree-sitter grammars."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from prwarden.errors import JailError, ToolError
from tools.base import Workspace
from tools.symbols import (
    MAX_FILE_BYTES,
    MAX_MATCHES,
    DefinitionCache,
    extract_definitions,
    find_definitions,
    get_symbol_definition,
)

FIXTURES = Path(__file__).parent / "data" / "tools" / "symbols"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURES, root / "src")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.py").write_text("def leaked_secret():\n    return 'secret'\n")
    return Workspace(root=root)


CASES = [
    # (file, name, expected qualname, kind, first line, last line)
    ("shapes.py", "area", "area", "function", 4, 5),
    ("shapes.py", "Circle", "Circle", "class", 8, 14),
    ("shapes.py", "Circle.area", "Circle.area", "method", 12, 14),
    ("shapes.js", "perimeter", "perimeter", "function", 1, 3),
    ("shapes.js", "Square", "Square", "class", 5, 13),
    ("shapes.js", "Square.perimeter", "Square.perimeter", "method", 10, 12),
    ("shapes.js", "double", "double", "function", 15, 15),
    ("shapes.ts", "totalVolume", "totalVolume", "function", 5, 7),
    ("shapes.ts", "Cube", "Cube", "class", 9, 15),
    ("shapes.ts", "Cube.volume", "Cube.volume", "method", 12, 14),
    ("shapes.ts", "Shape", "Shape", "interface", 1, 3),
    ("widget.tsx", "Widget", "Widget", "class", 1, 5),
    ("widget.tsx", "Widget.render", "Widget.render", "method", 2, 4),
    ("widget.tsx", "useWidget", "useWidget", "function", 7, 9),
    ("shapes.go", "NewRect", "NewRect", "function", 11, 13),
    ("shapes.go", "Rect", "Rect", "type", 3, 5),
    ("shapes.go", "Rect.Area", "Rect.Area", "method", 7, 9),
]


@pytest.mark.parametrize(("file", "name", "qualname", "kind", "first", "last"), CASES)
async def test_finds_definitions_in_each_language(
    ws: Workspace, file: str, name: str, qualname: str, kind: str, first: int, last: int
) -> None:
    result = await get_symbol_definition(ws, name, path=f"src/{file}")
    assert result.ok, result.content
    found = [(d.path, d.message, d.line, d.end_line) for d in result.diagnostics]
    assert (f"src/{file}", f"{kind} {qualname}", first, last) in found
    assert all(
        d.message.rpartition(".")[2].endswith(name.rpartition(".")[2]) for d in result.diagnostics
    )
    source = (FIXTURES / file).read_text().splitlines()
    assert f"src/{file}:{first}-{last} {kind} {qualname}" in result.content
    assert f"{first:>6} | {source[first - 1]}" in result.content
    assert f"{last:>6} | {source[last - 1]}" in result.content


async def test_bare_method_name_matches_across_languages(ws: Workspace) -> None:
    result = await get_symbol_definition(ws, "perimeter")
    assert {d.message for d in result.diagnostics} == {
        "function perimeter",
        "method Square.perimeter",
    }
    result = await get_symbol_definition(ws, "area")
    assert {d.message for d in result.diagnostics} == {"function area", "method Circle.area"}


async def test_unknown_name(ws: Workspace) -> None:
    result = await get_symbol_definition(ws, "NoSuchThing")
    assert result.ok and result.diagnostics == ()
    assert result.content == "no definition of 'NoSuchThing' found"


@pytest.mark.parametrize("name", ["", "a b", "x;rm -rf", "1abc", "a.b.c.d.e", "a" * 300])
async def test_bad_names_refused(ws: Workspace, name: str) -> None:
    with pytest.raises(ToolError, match="name must be"):
        await get_symbol_definition(ws, name)


@pytest.mark.parametrize("path", ["../outside", "../outside/leak.py", "/etc", "src/../../outside"])
async def test_paths_outside_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(JailError):
        await get_symbol_definition(ws, "leaked_secret", path=path)


async def test_symlinks_out_are_neither_walked_nor_accepted(ws: Workspace) -> None:
    outside = ws.root.parent / "outside"
    (ws.root / "linkdir").symlink_to(outside)
    (ws.root / "leak.py").symlink_to(outside / "leak.py")
    result = await get_symbol_definition(ws, "leaked_secret")
    assert result.diagnostics == ()
    with pytest.raises(JailError, match="leaves the workspace"):
        await get_symbol_definition(ws, "leaked_secret", path="linkdir")


async def test_binary_and_huge_files_skipped(ws: Workspace) -> None:
    (ws.root / "bin.py").write_bytes(b"def in_binary():\n    pass\n\x00\x01")
    (ws.root / "huge.py").write_text("def in_huge():\n    pass\n" + "#" * MAX_FILE_BYTES)
    assert (await get_symbol_definition(ws, "in_binary")).diagnostics == ()
    assert (await get_symbol_definition(ws, "in_huge")).diagnostics == ()


async def test_matches_are_capped(ws: Workspace) -> None:
    many = "".join(f"class C{i}:\n    def run(self):\n        pass\n" for i in range(15))
    (ws.root / "many.py").write_text(many)
    result = await get_symbol_definition(ws, "run", path="many.py")
    assert result.truncated
    assert len(result.diagnostics) == MAX_MATCHES
    assert f"capped at {MAX_MATCHES}" in result.content


def test_cache_by_content_hash(ws: Workspace) -> None:
    cache = DefinitionCache(max_entries=2)
    root = ws.root.resolve()
    find_definitions(root, root, "Circle", cache)
    assert cache.parsed == 1
    find_definitions(root, root, "Circle", cache)
    assert cache.parsed == 1
    (root / "copy.py").write_bytes((root / "src" / "shapes.py").read_bytes())
    assert len(find_definitions(root, root, "Circle", cache)) == 2
    assert cache.parsed == 1
    (root / "src" / "shapes.py").write_text("class Circle:\n    pass\n")
    find_definitions(root, root, "Circle", cache)
    assert cache.parsed == 2


def test_deadline_stops_the_walk(ws: Workspace) -> None:
    root = ws.root.resolve()
    with pytest.raises(ToolError, match="took too long"):
        find_definitions(root, root, "Circle", DefinitionCache(), deadline=time.monotonic() - 1)


def test_nested_definitions_are_qualified() -> None:
    source = (
        b"class A:\n    class B:\n        def m(self):\n"
        b"            def inner():\n                pass\n"
    )
    assert [(d.qualname, d.kind) for d in extract_definitions(source, "python")] == [
        ("A", "class"),
        ("A.B", "class"),
        ("A.B.m", "method"),
        ("A.B.m.inner", "function"),
    ]
