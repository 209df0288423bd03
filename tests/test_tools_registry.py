"""ToolRegistry.call never raises: every bad call becomes an error result the model can read."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tools.base import ToolResult, ToolSpec, Workspace
from tools.linter import run_linter
from tools.read_file import read_file
from tools.registry import ToolRegistry, default_registry, parse_arguments
from tools.search import search_codebase
from tools.symbols import get_symbol_definition

NAMES = ("search_codebase", "run_linter", "get_symbol_definition", "read_file")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text("import os\n\ndef handler(x):\n    return x\n")
    (tmp_path / "secret.txt").write_text("TOP SECRET\n")
    return Workspace(root=root, changed_files=frozenset({"app.py"}), timeout=10.0)


def _slow_spec(name: str, seconds: float) -> ToolSpec:
    async def run(ws: Workspace, args: Mapping[str, Any]) -> ToolResult:
        await asyncio.sleep(seconds)
        return ToolResult(tool=name, ok=True, content="x" * int(args.get("size", 10)))

    params = {"type": "object", "properties": {"size": {"type": "integer"}}}
    return ToolSpec(name=name, description="sleeps", parameters=params, run=run)


def test_default_registry_schemas() -> None:
    registry = default_registry()
    assert registry.names == NAMES
    schemas = registry.schemas()
    functions = {s["function"]["name"]: s["function"] for s in schemas}
    assert all(s["type"] == "function" for s in schemas)
    docs: list[Callable[..., Any]] = [search_codebase, run_linter, get_symbol_definition, read_file]
    for name, fn in zip(NAMES, docs, strict=True):
        assert functions[name]["description"] == inspect.getdoc(fn)
        params = functions[name]["parameters"]
        assert params["additionalProperties"] is False
        assert set(params["required"]) <= set(params["properties"])
        signature = set(inspect.signature(fn).parameters) - {"ws"}
        assert set(params["properties"]) == signature


async def test_real_tools_through_the_registry(ws: Workspace) -> None:
    registry = default_registry()
    search = await registry.call("search_codebase", '{"query": "handler"}', ws)
    assert search.ok and "app.py\n  3: def handler(x):" in search.content
    lint = await registry.call("run_linter", {"path": "app.py"}, ws)
    assert lint.ok and [d.code for d in lint.diagnostics] == ["F401"]
    symbol = await registry.call("get_symbol_definition", '{"name": "handler"}', ws)
    assert symbol.ok and "app.py:3-4 function handler" in symbol.content
    read = await registry.call("read_file", '{"path": "app.py", "start": 3, "end": 3}', ws)
    assert read.ok and read.content.endswith("3 | def handler(x):")


async def test_null_optional_arguments_mean_not_given(ws: Workspace) -> None:
    registry = default_registry()
    args = '{"query": "handler", "glob": null, "regex": null}'
    assert (await registry.call("search_codebase", args, ws)).ok
    args = '{"path": "app.py", "start": null, "end": null}'
    assert (await registry.call("read_file", args, ws)).ok
    refused = await registry.call("read_file", '{"path": null}', ws)
    assert refused.error is not None and "None is not of type 'string'" in refused.error


async def test_unknown_tool(ws: Workspace) -> None:
    result = await default_registry().call("rm_rf", "{}", ws)
    assert not result.ok
    assert result.error is not None and "unknown tool 'rm_rf'" in result.error


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"query": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, not list"),
        ('"handler"', "must be a JSON object, not str"),
        ("x" * 30_000, "longer than"),
    ],
)
async def test_malformed_arguments(ws: Workspace, arguments: str, message: str) -> None:
    result = await default_registry().call("search_codebase", arguments, ws)
    assert not result.ok
    assert result.error is not None and message in result.error


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("search_codebase", "{}", "'query' is a required property"),
        ("search_codebase", '{"query": "x", "shell": "rm"}', "Additional properties"),
        ("search_codebase", '{"query": 5}', "query: 5 is not of type 'string'"),
        ("search_codebase", '{"query": "x", "regex": "yes"}', "regex: 'yes' is not of type"),
        ("read_file", '{"path": "app.py", "start": 0}', "start: 0 is less than the minimum"),
        ("run_linter", '{"path": ""}', "path: '' should be non-empty"),
    ],
)
async def test_schema_invalid_arguments(
    ws: Workspace, name: str, arguments: str, message: str
) -> None:
    result = await default_registry().call(name, arguments, ws)
    assert not result.ok
    assert result.error is not None and message in result.error


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("read_file", {"path": "../secret.txt"}),
        ("read_file", {"path": "/etc/passwd"}),
        ("search_codebase", {"query": "SECRET", "glob": "../*"}),
        ("run_linter", {"path": "../secret.txt"}),
        ("get_symbol_definition", {"name": "x", "path": "/etc"}),
    ],
)
async def test_jail_errors_become_results(
    ws: Workspace, name: str, arguments: dict[str, Any]
) -> None:
    result = await default_registry().call(name, json.dumps(arguments), ws)
    assert not result.ok
    assert result.content.startswith("error: ")
    assert "SECRET" not in result.content


async def test_timeouts_become_results(ws: Workspace) -> None:
    never = asyncio.Event()
    cancelled: list[bool] = []

    async def run(ws: Workspace, args: Mapping[str, Any]) -> ToolResult:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return ToolResult(tool="sleepy", ok=True, content="finished")

    spec = ToolSpec(name="sleepy", description="waits", parameters={"type": "object"}, run=run)
    quick = Workspace(root=ws.root, timeout=0.05)
    result = await ToolRegistry([spec]).call("sleepy", "{}", quick)
    assert not result.ok and result.error == "sleepy timed out after 0.05 s"
    assert cancelled == [True]  # the tool was stopped, not left running


async def test_real_search_timing_out_is_killed_and_reported(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    for i in range(30):
        (root / f"m{i}.py").write_text("needle = 1\n" * 1000)
    result = await default_registry().call(
        "search_codebase", {"query": "needle"}, Workspace(root=root, timeout=0.001)
    )
    assert not result.ok and result.error is not None and "timed out" in result.error


async def test_output_is_capped(ws: Workspace) -> None:
    registry = ToolRegistry([_slow_spec("big", 0.0)])
    result = await registry.call("big", {"size": 5000}, Workspace(root=ws.root, output_cap=300))
    assert result.ok and result.truncated and len(result.content) <= 300


async def test_calls_run_concurrently(ws: Workspace) -> None:
    # Each call finishes only once all four are running at the same time: run one after the
    # other, the first would wait until its timeout.
    barrier = asyncio.Barrier(4)

    def meeting(name: str) -> ToolSpec:
        async def run(ws: Workspace, args: Mapping[str, Any]) -> ToolResult:
            await barrier.wait()
            return ToolResult(tool=name, ok=True, content="met")

        return ToolSpec(name=name, description="meets", parameters={"type": "object"}, run=run)

    registry = ToolRegistry([meeting(f"slow{i}") for i in range(4)])
    quick = Workspace(root=ws.root, timeout=5.0)
    results = await asyncio.gather(*(registry.call(f"slow{i}", "{}", quick) for i in range(4)))
    assert [r.content for r in results] == ["met"] * 4


async def test_real_tools_concurrently(ws: Workspace) -> None:
    registry = default_registry()
    results = await asyncio.gather(
        registry.call("search_codebase", {"query": "os"}, ws),
        registry.call("run_linter", {"path": "app.py"}, ws),
        registry.call("get_symbol_definition", {"name": "handler"}, ws),
        registry.call("read_file", {"path": "app.py"}, ws),
        registry.call("read_file", {"path": "../secret.txt"}, ws),
    )
    assert [r.ok for r in results] == [True, True, True, True, False]
    assert [r.tool for r in results] == [*NAMES, "read_file"]


def test_duplicate_tool_names_rejected() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        ToolRegistry([_slow_spec("a", 0), _slow_spec("a", 0)])


def test_parse_arguments() -> None:
    assert parse_arguments("") == {}
    assert parse_arguments({"a": 1}) == {"a": 1}
    assert parse_arguments('{"a": 1}') == {"a": 1}
