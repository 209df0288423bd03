"""One result type for every tool, and the shape of a tool the agent can call.

Every tool (ripgrep search, ruff, tree-sitter symbols, file reads) answers with a
``ToolResult``: a short text the model reads, plus structured ``Diagnostic`` rows where the
tool has them. Tools never raise into the agent loop: the registry turns a ``ToolError`` or a
timeout into a result with ``ok=False``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DiagnosticSeverity = Literal["error", "warning", "info"]

DEFAULT_OUTPUT_CAP = 16_000


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One tool observation about a place in the workspace (reviewdog's ``Diagnostic``)."""

    source: str
    path: str
    line: int
    message: str
    column: int | None = None
    end_line: int | None = None
    code: str | None = None
    severity: DiagnosticSeverity = "warning"
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class ToolResult:
    tool: str
    ok: bool
    content: str
    diagnostics: tuple[Diagnostic, ...] = ()
    truncated: bool = False
    error: str | None = None

    @classmethod
    def failure(cls, tool: str, error: str) -> ToolResult:
        return cls(tool=tool, ok=False, content=f"error: {error}", error=error)


@dataclass(frozen=True, slots=True)
class Workspace:
    """The PR's files on disk (untrusted), and what the diff changed."""

    root: Path
    changed_files: frozenset[str] = frozenset()
    output_cap: int = DEFAULT_OUTPUT_CAP
    timeout: float = 20.0


ToolFn = Callable[[Workspace, Mapping[str, Any]], Awaitable[ToolResult]]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it (name, description, JSON schema) and how to run it."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    run: ToolFn = field(repr=False)

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


def cap_text(text: str, cap: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``cap`` characters, saying so at the end."""
    if len(text) <= cap:
        return text, False
    marker = f"\n[output truncated at {cap} characters]"
    return text[: max(cap - len(marker), 0)] + marker, True
