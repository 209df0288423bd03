"""shellcheck over shell scripts (by suffix or ``#!`` line), never reading a ``.shellcheckrc``.

``--norc`` ignores every rc file, and without ``--external-sources`` a ``source`` directive in
the PR cannot make shellcheck open files the PR names.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tools.base import Diagnostic, Workspace
from tools.linters.common import (
    LEVELS,
    Linter,
    json_rows,
    lintable,
    read_head,
    run_checked,
    sort_diagnostics,
    workspace_path,
)

TOOL = "shellcheck"
SUFFIXES = frozenset({".sh", ".bash", ".ksh", ".dash"})
_SHEBANG = re.compile(rb"^#!\s*(?:/usr/bin/env\s+)?(?:/\S*/)?(?:ba|k|da)?sh\b")


def is_shell_script(file: Path, rel: str) -> bool:
    if PurePosixPath(rel).suffix in SUFFIXES:
        return True
    return not PurePosixPath(rel).suffix and bool(_SHEBANG.match(read_head(file)))


def build_shellcheck_argv(paths: Sequence[str]) -> list[str]:
    return ["--norc", "--format=json1", "--color=never", "--", *paths]


def parse_shellcheck_json(stdout: bytes, root: Path) -> tuple[Diagnostic, ...]:
    rows = json_rows(stdout, TOOL, "comments")
    return sort_diagnostics([_diagnostic(row, root) for row in rows])


def _diagnostic(row: Mapping[str, Any], root: Path) -> Diagnostic:
    return Diagnostic(
        source=TOOL,
        path=workspace_path(str(row["file"]), root),
        line=int(row["line"]),
        column=int(row.get("column") or 1),
        end_line=int(row.get("endLine") or row["line"]),
        code=f"SC{row['code']}",
        severity=LEVELS.get(str(row.get("level")), "warning"),
        message=str(row.get("message", ""))[:500],
    )


async def shellcheck_diagnostics(ws: Workspace, paths: Sequence[str]) -> tuple[Diagnostic, ...]:
    targets = await asyncio.to_thread(lintable, ws, paths, is_shell_script)
    if not targets:
        return ()
    # shellcheck exits 1 when it has comments; 2 and up mean it could not run.
    stdout = await run_checked(
        ws, "shellcheck", build_shellcheck_argv(targets), tool=TOOL, ok_returncodes=(0, 1)
    )
    return parse_shellcheck_json(stdout, ws.root)


LINTER = Linter(TOOL, "shell scripts", is_shell_script, shellcheck_diagnostics)
