"""hadolint over Dockerfiles, with prwarden's own config and no inline ignore pragmas.

``--config`` names prwarden's ``tools/data/hadolint.yaml``, so a ``.hadolint.yaml`` in the PR
(or in a home or XDG folder) is never read, and ``--disable-ignore-pragma`` disregards
``# hadolint ignore=...`` comments the PR adds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tools.base import Diagnostic, Workspace
from tools.linters.common import (
    LEVELS,
    Linter,
    json_rows,
    lintable,
    pinned_config,
    run_checked,
    sort_diagnostics,
    workspace_path,
)

TOOL = "hadolint"


def is_dockerfile(_file: Path, rel: str) -> bool:
    name = PurePosixPath(rel).name
    for base in ("Dockerfile", "Containerfile"):
        if name == base or name.startswith(base + ".") or name.endswith("." + base):
            return True
    return False


def build_hadolint_argv(config: str, paths: Sequence[str]) -> list[str]:
    return [
        f"--config={config}",
        "--disable-ignore-pragma",
        "--no-fail",
        "--no-color",
        "--format=json",
        *paths,
    ]


def parse_hadolint_json(stdout: bytes, root: Path) -> tuple[Diagnostic, ...]:
    rows = json_rows(stdout, TOOL)
    return sort_diagnostics([_diagnostic(row, root) for row in rows])


def _diagnostic(row: Mapping[str, Any], root: Path) -> Diagnostic:
    return Diagnostic(
        source=TOOL,
        path=workspace_path(str(row["file"]), root),
        line=int(row["line"]),
        column=int(row.get("column") or 1),
        code=str(row["code"]),
        severity=LEVELS.get(str(row.get("level")), "warning"),
        message=str(row.get("message", ""))[:500],
    )


async def hadolint_diagnostics(ws: Workspace, paths: Sequence[str]) -> tuple[Diagnostic, ...]:
    targets = await asyncio.to_thread(lintable, ws, paths, is_dockerfile)
    if not targets:
        return ()
    # hadolint takes no "--" separator: each path starts with "./" so none reads as an option.
    argv = build_hadolint_argv(pinned_config("hadolint.yaml"), [f"./{p}" for p in targets])
    stdout = await run_checked(ws, "hadolint", argv, tool=TOOL)
    return parse_hadolint_json(stdout, ws.root)


LINTER = Linter(TOOL, "Dockerfiles", is_dockerfile, hadolint_diagnostics)
