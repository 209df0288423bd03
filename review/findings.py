"""Findings: what a reviewer (model or tool) says about a line, and what became of it.

A ``Finding`` checks itself on construction: a relative path with no ``..``, positive
lines, a range that runs forwards, a known severity and category, bounded texts. Whether it
anchors on the diff is decided later against the ``Diff`` (annotate, then filter): each
finding gets a ``Disposition`` saying whether it is posted, held for a person or dropped,
and why.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from prwarden.errors import ModelOutputError
from review.evidence import Evidence

MAX_TITLE = 200
MAX_BODY = 4000
MAX_SUGGESTION = 8000


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_SEVERITY_ORDER = list(Severity)


class Category(StrEnum):
    CORRECTNESS = "correctness"
    SECURITY = "security"
    PERFORMANCE = "performance"
    MAINTAINABILITY = "maintainability"
    STYLE = "style"
    TESTS = "tests"
    DOCUMENTATION = "documentation"


Status = Literal["post", "hold", "drop"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One review finding on the new side of a file (``line`` is the last line of the range)."""

    path: str
    line: int
    severity: Severity
    category: Category
    title: str
    body: str
    start_line: int | None = None
    suggestion: str | None = None
    source: str = "model"
    rule: str | None = None
    also_at: tuple[tuple[str, int], ...] = ()
    # The agent's tool calls before it submitted this finding (prwarden's record, not model text).
    evidence: tuple[Evidence, ...] = ()
    # The rule id of a linter finding on the same problem, merged into this model finding.
    tool_rule: str | None = None

    def __post_init__(self) -> None:
        errors = _check(self)
        if errors:
            raise ModelOutputError("invalid finding: " + "; ".join(errors), errors=errors)

    @property
    def first_line(self) -> int:
        return self.start_line if self.start_line is not None else self.line

    def with_anchor(self, line: int, start_line: int | None = None) -> Finding:
        return replace(self, line=line, start_line=start_line)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "start_line": self.start_line,
            "severity": self.severity.value,
            "category": self.category.value,
            "title": self.title,
            "body": self.body,
            "suggestion": self.suggestion,
            "source": self.source,
            "rule": self.rule,
            "also_at": [list(loc) for loc in self.also_at],
            "evidence": [e.to_dict() for e in self.evidence],
            "tool_rule": self.tool_rule,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Build from a stored or model-produced dict; raises ``ModelOutputError`` if invalid."""
        try:
            return cls(
                path=str(data["path"]),
                line=int(data["line"]),
                start_line=int(data["start_line"]) if data.get("start_line") is not None else None,
                severity=Severity(data["severity"]),
                category=Category(data["category"]),
                title=str(data["title"]),
                body=str(data.get("body") or ""),
                suggestion=data.get("suggestion"),
                source=str(data.get("source") or "model"),
                rule=data.get("rule"),
                also_at=tuple((str(p), int(n)) for p, n in data.get("also_at") or ()),
                evidence=tuple(Evidence.from_dict(e) for e in data.get("evidence") or ()),
                tool_rule=str(data["tool_rule"])[:100] if data.get("tool_rule") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelOutputError(f"invalid finding: {exc!r}", errors=[repr(exc)]) from exc


def _check(f: Finding) -> list[str]:
    errors: list[str] = []
    if not f.path or f.path.startswith("/") or "\\" in f.path:
        errors.append(f"path {f.path!r} must be relative with forward slashes")
    elif any(part in ("", ".", "..") for part in f.path.split("/")):
        errors.append(f"path {f.path!r} must not contain empty, '.' or '..' parts")
    if not isinstance(f.line, int) or f.line < 1:
        errors.append(f"line {f.line!r} must be a positive integer")
    if f.start_line is not None and (
        not isinstance(f.start_line, int) or f.start_line < 1 or f.start_line > f.line
    ):
        errors.append(f"start_line {f.start_line!r} must be between 1 and line {f.line}")
    if not isinstance(f.severity, Severity):
        errors.append(f"severity {f.severity!r} is not one of {[s.value for s in Severity]}")
    if not isinstance(f.category, Category):
        errors.append(f"category {f.category!r} is not one of {[c.value for c in Category]}")
    if not f.title.strip() or len(f.title) > MAX_TITLE:
        errors.append(f"title must be 1..{MAX_TITLE} characters")
    if len(f.body) > MAX_BODY:
        errors.append(f"body must be at most {MAX_BODY} characters")
    if f.suggestion is not None and len(f.suggestion) > MAX_SUGGESTION:
        errors.append(f"suggestion must be at most {MAX_SUGGESTION} characters")
    return errors


class Reason(StrEnum):
    """Why a finding is not posted as the model wrote it: a closed set, one owner.

    The code is what metrics labels, SARIF and summaries count; the ``Note`` that carries it
    adds a free-text detail for people. ``REANCHORED`` and ``SUGGESTION_DROPPED`` note a
    change to a finding that is still posted; every other code decides its status.
    """

    REANCHORED = "reanchored"
    SUGGESTION_DROPPED = "suggestion_dropped"
    NOT_ANCHORED = "not_anchored"
    CATEGORY_DISABLED = "category_disabled"
    PATH_IGNORED = "path_ignored"
    UNSAFE = "unsafe"
    GENERIC = "generic"
    BELOW_SEVERITY = "below_severity"
    DUPLICATE = "duplicate"
    ALREADY_POSTED = "already_posted"
    HELD = "held"
    OVER_MAX = "over_max"

    @property
    def label(self) -> str:
        """The words people read for this code."""
        return _REASON_LABELS[self]


_REASON_LABELS = {
    Reason.REANCHORED: "re-anchored",
    Reason.SUGGESTION_DROPPED: "suggestion dropped",
    Reason.NOT_ANCHORED: "not anchored",
    Reason.CATEGORY_DISABLED: "category disabled",
    Reason.PATH_IGNORED: "path ignored",
    Reason.UNSAFE: "unsafe",
    Reason.GENERIC: "generic",
    Reason.BELOW_SEVERITY: "below severity threshold",
    Reason.DUPLICATE: "duplicate",
    Reason.ALREADY_POSTED: "already posted",
    Reason.HELD: "held for security review",
    Reason.OVER_MAX: "over max_comments",
}


@dataclass(frozen=True, slots=True)
class Note:
    """One step of a finding's disposition: a code from ``Reason`` and a detail for people."""

    code: Reason
    detail: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.code, Reason):
            raise TypeError(f"code must be a Reason, got {self.code!r}")

    @property
    def text(self) -> str:
        return f"{self.code.label}: {self.detail}" if self.detail else self.code.label


@dataclass(frozen=True, slots=True)
class Disposition:
    """What became of a finding: posted, held for a person, or dropped; with the notes why."""

    status: Status
    notes: tuple[Note, ...] = ()
    score: float | None = None

    @property
    def code(self) -> Reason | None:
        """The code that decided a hold or a drop; ``None`` for a posted finding."""
        if self.status == "post" or not self.notes:
            return None
        return self.notes[-1].code

    @property
    def reasons(self) -> tuple[str, ...]:
        """The notes as text for people, in order."""
        return tuple(n.text for n in self.notes)

    def to_dict(self) -> dict[str, Any]:
        """``status``, the deciding ``code`` (or ``None``) and the ``reasons`` for people."""
        return {
            "status": self.status,
            "code": self.code.value if self.code else None,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class AnnotatedFinding:
    finding: Finding
    disposition: Disposition = field(default_factory=lambda: Disposition("post"))
    fingerprint: str = ""

    def drop(self, code: Reason, detail: str = "") -> AnnotatedFinding:
        return self._decide("drop", Note(code, detail))

    def hold(self, code: Reason = Reason.HELD, detail: str = "") -> AnnotatedFinding:
        return self._decide("hold", Note(code, detail))

    def _decide(self, status: Status, note: Note) -> AnnotatedFinding:
        d = self.disposition
        return replace(self, disposition=Disposition(status, (*d.notes, note), d.score))

    @property
    def status(self) -> Status:
        return self.disposition.status

    @property
    def code(self) -> Reason | None:
        return self.disposition.code


def suggestion_lines(suggestion: str) -> list[str]:
    """The replacement lines of a suggestion; one trailing newline only ends the last line."""
    text = suggestion.replace("\r\n", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def is_noop_suggestion(suggestion: str, anchored_code: str) -> bool:
    """Whether committing the suggestion would leave the anchored lines as they are."""
    proposed = [line.rstrip() for line in suggestion_lines(suggestion)]
    current = [line.rstrip() for line in anchored_code.replace("\r\n", "\n").split("\n")]
    return proposed == current


_WS = re.compile(r"\s+")
_NUM = re.compile(r"\d+")


def normalize_code(text: str) -> str:
    return _WS.sub(" ", text).strip()


def normalize_title(text: str) -> str:
    return _NUM.sub("#", _WS.sub(" ", text.lower())).strip(" .!:")


def fingerprint(finding: Finding, anchored_code: str) -> str:
    """A fingerprint stable under line shifts: path, anchored code, category, title."""
    key = "\x1f".join(
        (
            finding.path,
            normalize_code(anchored_code),
            finding.category.value,
            normalize_title(finding.title),
        )
    )
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]
