"""zizmor over GitHub Actions workflows and action definitions: offline, prwarden's rules only.

``--no-config`` never reads a ``zizmor.yml`` (which could disable audits), ``--no-ignores``
disregards ``# zizmor: ignore[...]`` comments in the PR, and ``--offline`` with the clean
environment (no ``GH_TOKEN``) keeps it from calling GitHub.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tools.base import Diagnostic, DiagnosticSeverity, Workspace
from tools.linters.common import (
    Linter,
    json_rows,
    lintable,
    run_checked,
    sort_diagnostics,
    workspace_path,
)

TOOL = "zizmor"
_SEVERITY: Mapping[str, DiagnosticSeverity] = {
    "High": "error",
    "Medium": "warning",
    "Low": "info",
    "Informational": "info",
    "Unknown": "info",
}


def is_actions_file(_file: Path, rel: str) -> bool:
    path = PurePosixPath(rel)
    if path.suffix not in (".yml", ".yaml"):
        return False
    if path.parent.as_posix().endswith(".github/workflows"):
        return True
    return path.stem == "action"


def build_zizmor_argv(paths: Sequence[str]) -> list[str]:
    return [
        "--offline",
        "--no-config",
        "--no-ignores",
        "--no-exit-codes",
        "--no-progress",
        "--color=never",
        "--format=json",
        "--",
        *paths,
    ]


def parse_zizmor_json(stdout: bytes, root: Path) -> tuple[Diagnostic, ...]:
    rows = json_rows(stdout, TOOL)
    return sort_diagnostics([d for row in rows for d in _diagnostics(row, root)])


def _diagnostics(row: Mapping[str, Any], root: Path) -> list[Diagnostic]:
    """One diagnostic per primary location of a finding (its other locations are context)."""
    severity = _SEVERITY.get(str(row.get("determinations", {}).get("severity")), "warning")
    found = []
    for location in row.get("locations") or []:
        symbolic = location.get("symbolic") or {}
        if symbolic.get("kind") != "Primary":
            continue
        local = (symbolic.get("key") or {}).get("Local") or {}
        if "verbatim_path" not in local:
            continue
        span = location["concrete"]["location"]
        note = symbolic.get("annotation")
        found.append(
            Diagnostic(
                source=TOOL,
                path=workspace_path(str(local["verbatim_path"]), root),
                line=int(span["start_point"]["row"]) + 1,
                column=int(span["start_point"]["column"]) + 1,
                end_line=int(span["end_point"]["row"]) + 1,
                code=str(row["ident"]),
                severity=severity,
                message=(f"{row.get('desc', '')}: {note}" if note else str(row.get("desc")))[:500],
            )
        )
    return found


async def zizmor_diagnostics(ws: Workspace, paths: Sequence[str]) -> tuple[Diagnostic, ...]:
    targets = await asyncio.to_thread(lintable, ws, paths, is_actions_file)
    if not targets:
        return ()
    stdout = await run_checked(ws, "zizmor", build_zizmor_argv(targets), tool=TOOL)
    return parse_zizmor_json(stdout, ws.root)


LINTER = Linter(TOOL, "GitHub Actions workflows", is_actions_file, zizmor_diagnostics)
