"""Tool phase of one agent turn: N tool calls run concurrently versus one after another.

Run from the project root: ``python bench/tool_parallel.py [--files F] [--sleep S] [--repeat R]``.
Both columns go through the real code path (``review.agent.run_tool_calls`` →
``ToolRegistry.call``); "sequential" runs the same calls one per phase. Two kinds of tool:
ToolSpecs that wait a fixed time (an I/O-bound tool such as a remote lookup), and real
``search_codebase`` (ripgrep) calls over a generated workspace (CPU- and disk-bound, so the
gain is limited by the cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from review.agent import run_tool_calls
from review.llm import ToolCall
from security.spotlight import Spotlight
from tools.base import ToolResult, ToolSpec, Workspace
from tools.registry import ToolRegistry, default_registry

WORDS = ("alpha", "beta", "gamma", "delta", "parse", "render", "token", "cache", "queue", "lease")


def sleeping_registry(seconds: float, count: int) -> ToolRegistry:
    def spec(name: str) -> ToolSpec:
        async def run(ws: Workspace, args: Mapping[str, Any]) -> ToolResult:
            await asyncio.sleep(seconds)
            return ToolResult(tool=name, ok=True, content=f"{name} waited {seconds}s")

        params = {"type": "object", "properties": {}, "additionalProperties": False}
        return ToolSpec(name=name, description="waits", parameters=params, run=run)

    return ToolRegistry([spec(f"wait_{i}") for i in range(count)])


def generate_workspace(root: Path, files: int, lines: int) -> None:
    rng = random.Random(7)
    for i in range(files):
        path = root / f"pkg{i % 20}" / f"mod_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = [
            f"def {rng.choice(WORDS)}_{n}(x):\n    return x + {n}  # {rng.choice(WORDS)}"
            for n in range(lines // 2)
        ]
        path.write_text("\n".join(body) + "\n")


async def phase_seconds(
    calls: Sequence[ToolCall], registry: ToolRegistry, ws: Workspace, *, parallel: bool
) -> float:
    spotlight = Spotlight.new()
    started = time.perf_counter()
    if parallel:
        phase = await run_tool_calls(calls, registry=registry, workspace=ws, spotlight=spotlight)
        results = list(phase.records)
    else:
        results = []
        for call in calls:
            one = await run_tool_calls([call], registry=registry, workspace=ws, spotlight=spotlight)
            results += one.records
    elapsed = time.perf_counter() - started
    failed = [r.name for r in results if not r.ok]
    if failed:
        raise SystemExit(f"tool calls failed: {failed}")
    return elapsed


async def best_of(repeat: int, *args: Any, parallel: bool) -> float:
    return min([await phase_seconds(*args, parallel=parallel) for _ in range(repeat)])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000, help="files in the generated workspace")
    parser.add_argument("--sleep", type=float, default=0.2, help="seconds each waiting tool takes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell (best is shown)")
    options = parser.parse_args()
    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(f"cores: {cores} (usable by this process: {usable})")
    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_workspace(root, options.files, 200)
        ws = Workspace(root=root, timeout=60.0)
        for n in (3, 8):
            waits = sleeping_registry(options.sleep, n)
            calls = [ToolCall(f"call_{i}", f"wait_{i}", "{}") for i in range(n)]
            par = await best_of(options.repeat, calls, waits, ws, parallel=True)
            seq = await best_of(options.repeat, calls, waits, ws, parallel=False)
            rows.append((f"wait {options.sleep:g}s", n, par, seq))
            searches = [
                ToolCall(f"call_{i}", "search_codebase", f'{{"query": "{WORDS[i]}_1"}}')
                for i in range(n)
            ]
            registry = default_registry()
            par = await best_of(options.repeat, searches, registry, ws, parallel=True)
            seq = await best_of(options.repeat, searches, registry, ws, parallel=False)
            rows.append((f"search_codebase ({options.files} files)", n, par, seq))
    print(f"{'tool':<32} {'N':>3} {'parallel s':>11} {'sequential s':>13} {'seq/par':>8}")
    for name, n, par, seq in rows:
        print(f"{name:<32} {n:>3} {par:>11.3f} {seq:>13.3f} {seq / par:>8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
