"""Evidence: what the agent looked at before it wrote a finding, from its own transcript.

Each tool call of the agent loop becomes one ``Evidence`` entry built by prwarden from the
call's arguments and the tool's structured result (never from model prose): a search with its
hit and file counts, a file window read, the lint rule ids a linter run reported, a symbol
looked up and how many definitions were found. A reader sees at a glance whether a comment
rests on a look at the code or on the diff alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tools.base import ToolResult

MAX_TARGET = 200
MAX_RULES = 20


class EvidenceKind(StrEnum):
    SEARCH = "search"
    READ = "read"
    LINT = "lint"
    SYMBOL = "symbol"
    OTHER = "other"


_KINDS = {
    "search_codebase": EvidenceKind.SEARCH,
    "read_file": EvidenceKind.READ,
    "run_linter": EvidenceKind.LINT,
    "get_symbol_definition": EvidenceKind.SYMBOL,
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One tool call: which tool, on what, and what it found (counts, ranges, rule ids)."""

    kind: EvidenceKind
    tool: str
    target: str
    ok: bool = True
    hits: int | None = None
    files: int | None = None
    start: int | None = None
    end: int | None = None
    rules: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "tool": self.tool,
            "target": self.target,
            "ok": self.ok,
            "hits": self.hits,
            "files": self.files,
            "start": self.start,
            "end": self.end,
            "rules": list(self.rules),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        def number(key: str) -> int | None:
            value = data.get(key)
            return int(value) if value is not None else None

        return cls(
            kind=EvidenceKind(data["kind"]),
            tool=str(data["tool"])[:100],
            target=str(data.get("target") or "")[:MAX_TARGET],
            ok=bool(data.get("ok", True)),
            hits=number("hits"),
            files=number("files"),
            start=number("start"),
            end=number("end"),
            rules=tuple(str(r) for r in data.get("rules") or ())[:MAX_RULES],
        )


def evidence_of(tool: str, args: Mapping[str, Any] | str, result: ToolResult) -> Evidence:
    """The evidence entry of one tool call: its arguments and the tool's structured result."""
    kind = _KINDS.get(tool, EvidenceKind.OTHER)
    given: Mapping[str, Any] = args if isinstance(args, Mapping) else {}
    name = tool[:100] or "(unnamed)"
    if not result.ok:
        return Evidence(kind, name, _target(kind, given), ok=False)
    found = result.diagnostics
    if kind in (EvidenceKind.SEARCH, EvidenceKind.SYMBOL):
        return Evidence(
            kind,
            name,
            _target(kind, given),
            hits=len(found),
            files=len({d.path for d in found}),
        )
    if kind is EvidenceKind.READ:
        window = found[0] if found else None
        return Evidence(
            kind,
            name,
            window.path if window else _target(kind, given),
            start=window.line if window else None,
            end=(window.end_line or window.line) if window else None,
        )
    if kind is EvidenceKind.LINT:
        rules = tuple(dict.fromkeys(d.code for d in found if d.code))[:MAX_RULES]
        return Evidence(kind, name, _target(kind, given), hits=len(found), rules=rules)
    return Evidence(kind, name, "")


def _target(kind: EvidenceKind, args: Mapping[str, Any]) -> str:
    key = {
        EvidenceKind.SEARCH: "query",
        EvidenceKind.READ: "path",
        EvidenceKind.LINT: "path",
        EvidenceKind.SYMBOL: "name",
    }.get(kind)
    value = args.get(key) if key else None
    return str(value)[:MAX_TARGET] if isinstance(value, str | int) else ""
