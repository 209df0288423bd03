"""Codebase search with ripgrep over the PR workspace: fixed strings by default, capped output."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import PurePosixPath

from prwarden.errors import JailError, ToolError
from tools.base import Diagnostic, ToolResult, Workspace, cap_text
from tools.process import Completed, find_program, run_program

TOOL = "search_codebase"
MAX_QUERY_CHARS = 300
MAX_GLOB_CHARS = 200
MAX_MATCHES = 200
MAX_FILES = 50
MAX_PER_FILE = 20
MAX_LINE_CHARS = 240
MAX_RG_OUTPUT = 4_000_000


@dataclass(frozen=True, slots=True)
class Match:
    path: str
    line: int
    column: int
    text: str


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    matches: tuple[Match, ...]
    capped: bool


def validate_query(query: str, glob: str | None) -> None:
    """Refuse queries and globs the tool will not run."""
    if not query:
        raise ToolError("query is empty", tool=TOOL)
    if len(query) > MAX_QUERY_CHARS:
        raise ToolError(f"query longer than {MAX_QUERY_CHARS} characters", tool=TOOL)
    if "\x00" in query or "\n" in query or "\r" in query:
        raise ToolError("query must be one line of text", tool=TOOL)
    if glob is not None:
        _validate_glob(glob)


def _validate_glob(glob: str) -> None:
    if not glob or len(glob) > MAX_GLOB_CHARS:
        raise ToolError(f"glob must be 1 to {MAX_GLOB_CHARS} characters", tool=TOOL)
    if "\x00" in glob or "\n" in glob:
        raise ToolError("glob must be one line of text", tool=TOOL)
    if glob.startswith(("/", "\\", "!", "~")) or (len(glob) > 1 and glob[1] == ":"):
        raise JailError(f"glob must be a relative pattern: {glob!r}", path=glob, tool=TOOL)
    if ".." in PurePosixPath(glob.replace("\\", "/")).parts:
        raise JailError(f"'..' is not allowed in globs: {glob!r}", path=glob, tool=TOOL)


def build_rg_argv(rg: str, query: str, glob: str | None, regex: bool) -> list[str]:
    """The ripgrep command line: no config file, no symlinks, no ignore files from the PR."""
    argv = [
        rg,
        "--json",
        "--no-config",
        "--no-follow",
        "--no-ignore",
        "--hidden",
        "--glob=!.git/",
        "--sort=path",
        "--no-messages",
        f"--max-count={MAX_PER_FILE}",
        "--max-filesize=1M",
        f"--max-columns={MAX_LINE_CHARS}",
        "--max-columns-preview",
        "--regex-size-limit=1M",
        "--dfa-size-limit=8M",
    ]
    if not regex:
        argv.append("--fixed-strings")
    if glob is not None:
        argv.append(f"--glob={glob}")
    argv += [f"--regexp={query}", "--", "."]
    return argv


def parse_rg_json(stdout: bytes, *, cut: bool) -> SearchOutcome:
    """Parse ``rg --json`` lines into matches, stopping at the match and file caps."""
    lines = stdout.splitlines()
    if cut and lines:
        lines = lines[:-1]
    matches: list[Match] = []
    files: set[str] = set()
    capped = cut
    for raw in lines:
        event = json.loads(raw)
        if event.get("type") != "match":
            continue
        data = event["data"]
        path = _text(data["path"]).removeprefix("./")
        if len(matches) >= MAX_MATCHES or (path not in files and len(files) >= MAX_FILES):
            capped = True
            break
        files.add(path)
        submatches = data.get("submatches") or [{"start": 0}]
        matches.append(
            Match(
                path=path,
                line=int(data["line_number"]),
                column=int(submatches[0]["start"]) + 1,
                text=_text(data["lines"]).rstrip("\r\n")[:MAX_LINE_CHARS],
            )
        )
    return SearchOutcome(matches=tuple(matches), capped=capped)


def _text(field: dict[str, str]) -> str:
    if "text" in field:
        return field["text"]
    return base64.b64decode(field.get("bytes", "")).decode("utf-8", errors="replace")


def render(query: str, outcome: SearchOutcome) -> str:
    """Matches grouped by file, with line numbers; says when the result was capped."""
    if not outcome.matches:
        return f"no matches for {query!r}"
    files = sorted({m.path for m in outcome.matches})
    head = f"{len(outcome.matches)} matches in {len(files)} files for {query!r}"
    if outcome.capped:
        head += (
            f" (capped: more matches exist; at most {MAX_MATCHES} matches, {MAX_FILES} files,"
            f" {MAX_PER_FILE} per file are shown; narrow the query or use a glob)"
        )
    out = [head]
    current = None
    for m in outcome.matches:
        if m.path != current:
            out.append(m.path)
            current = m.path
        out.append(f"  {m.line}: {m.text}")
    return "\n".join(out)


def to_diagnostics(outcome: SearchOutcome) -> tuple[Diagnostic, ...]:
    return tuple(
        Diagnostic(
            source="search",
            path=m.path,
            line=m.line,
            column=m.column,
            message=m.text,
            severity="info",
        )
        for m in outcome.matches
    )


def _check_completed(done: Completed, outcome: SearchOutcome) -> None:
    if done.returncode == 2 and not outcome.matches and not done.truncated:
        reason = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise ToolError(f"search failed: {' '.join(reason)[:300] or 'ripgrep error'}", tool=TOOL)


async def search_codebase(
    ws: Workspace, query: str, glob: str | None = None, regex: bool = False
) -> ToolResult:
    """Search the pull request's files for text (ripgrep).

    By default `query` is a fixed string; set `regex` to true for a Rust-syntax regular
    expression (no look-around or back-references). `glob` limits the files searched, e.g.
    "*.py" or "src/**/*.ts". Results are grouped by file with line numbers and capped.
    """
    validate_query(query, glob)
    argv = build_rg_argv(find_program("rg"), query, glob, regex)
    done = await run_program(
        argv, cwd=ws.root, time_limit=ws.timeout, max_output=MAX_RG_OUTPUT, tool=TOOL
    )
    outcome = parse_rg_json(done.stdout, cut=done.truncated)
    _check_completed(done, outcome)
    content, truncated = cap_text(render(query, outcome), ws.output_cap)
    return ToolResult(
        tool=TOOL,
        ok=True,
        content=content,
        diagnostics=to_diagnostics(outcome),
        truncated=truncated or outcome.capped,
    )
