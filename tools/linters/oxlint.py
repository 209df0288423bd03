"""oxlint over JavaScript and TypeScript, with prwarden's own config only.

``-c`` names prwarden's ``tools/data/oxlintrc.json`` (no JS plugins), ``--disable-nested-config``
stops oxlint from reading an ``.oxlintrc.json`` next to the files, and ``--no-ignore`` keeps an
``.eslintignore`` in the PR from hiding its own files.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tools.base import Diagnostic, DiagnosticSeverity, Workspace
from tools.linters.common import (
    Linter,
    json_rows,
    lintable,
    pinned_config,
    run_checked,
    sort_diagnostics,
    suffix_in,
    workspace_path,
)

TOOL = "oxlint"
SUFFIXES = frozenset({".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"})
PARSE_ERROR = "parse-error"
_CODE = re.compile(r"^([\w-]+)\(([\w/-]+)\)$")


def build_oxlint_argv(config: str, paths: Sequence[str]) -> list[str]:
    return [
        f"--config={config}",
        "--disable-nested-config",
        "--no-ignore",
        "--format=json",
        "--threads=1",
        "--",
        *paths,
    ]


def normalise_code(code: str | None) -> str:
    """``eslint(no-debugger)`` as ``eslint/no-debugger``; no rule at all is a parse error."""
    if not code:
        return PARSE_ERROR
    match = _CODE.match(code)
    return f"{match[1]}/{match[2]}" if match else code


def parse_oxlint_json(stdout: bytes, root: Path) -> tuple[Diagnostic, ...]:
    rows = json_rows(stdout, TOOL, "diagnostics")
    return sort_diagnostics([_diagnostic(row, root) for row in rows])


def _diagnostic(row: Mapping[str, Any], root: Path) -> Diagnostic:
    labels = row.get("labels") or [{}]
    span = labels[0].get("span") or {}
    code = normalise_code(row.get("code"))
    severity: DiagnosticSeverity = "error" if code == PARSE_ERROR else "warning"
    help_text = f" ({row['help']})" if row.get("help") else ""
    return Diagnostic(
        source=TOOL,
        path=workspace_path(str(row["filename"]), root),
        line=int(span.get("line") or 1),
        column=int(span.get("column") or 1),
        code=code,
        severity=severity,
        message=f"{row.get('message', '')}{help_text}"[:500],
    )


async def oxlint_diagnostics(ws: Workspace, paths: Sequence[str]) -> tuple[Diagnostic, ...]:
    targets = await asyncio.to_thread(lintable, ws, paths, suffix_in(SUFFIXES))
    if not targets:
        return ()
    argv = build_oxlint_argv(pinned_config("oxlintrc.json"), targets)
    # oxlint exits 1 when it reports an error-level diagnostic (a parse error).
    stdout = await run_checked(ws, "oxlint", argv, tool=TOOL, ok_returncodes=(0, 1))
    return parse_oxlint_json(stdout, ws.root)


LINTER = Linter(TOOL, "JavaScript and TypeScript", suffix_in(SUFFIXES), oxlint_diagnostics)
