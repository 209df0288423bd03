"""Static findings: ruff's diagnostics on the changed lines, as ``Finding`` values.

This is the review prwarden gives with no model configured, and the fallback when the model is
unavailable. Only diagnostics on added lines count: a PR is not blamed for code it did not touch.
"""

from __future__ import annotations

from collections.abc import Iterable

from review.diff import Diff
from review.findings import Category, Finding, Severity
from tools.base import Diagnostic

# Rule-code prefixes, longest first, to the category and severity of their findings.
_RULES: tuple[tuple[str, Category, Severity], ...] = (
    ("F821", Category.CORRECTNESS, Severity.HIGH),  # undefined name
    ("F811", Category.CORRECTNESS, Severity.MEDIUM),  # redefinition of unused name
    ("F841", Category.MAINTAINABILITY, Severity.LOW),  # unused local variable
    ("F401", Category.MAINTAINABILITY, Severity.LOW),  # unused import
    ("F63", Category.CORRECTNESS, Severity.HIGH),  # comparisons that are always true/false
    ("F7", Category.CORRECTNESS, Severity.HIGH),  # syntax errors in statements
    ("F", Category.CORRECTNESS, Severity.MEDIUM),
    ("E9", Category.CORRECTNESS, Severity.HIGH),  # syntax / IO errors
    ("S", Category.SECURITY, Severity.MEDIUM),
    ("ASYNC", Category.PERFORMANCE, Severity.MEDIUM),
    ("PLE", Category.CORRECTNESS, Severity.HIGH),
    ("B", Category.CORRECTNESS, Severity.MEDIUM),
    ("RUF", Category.CORRECTNESS, Severity.LOW),
)


def classify(code: str | None) -> tuple[Category, Severity]:
    for prefix, category, severity in _RULES:
        if code and code.startswith(prefix):
            return category, severity
    return Category.CORRECTNESS, Severity.LOW


def findings_from_diagnostics(diagnostics: Iterable[Diagnostic], diff: Diff) -> list[Finding]:
    """Turn tool diagnostics on added lines into findings; the rest are not the PR's doing."""
    findings: list[Finding] = []
    for diag in diagnostics:
        changed = diff.file(diag.path)
        if changed is None or diag.line not in changed.added:
            continue
        category, severity = classify(diag.code)
        code = diag.code or diag.source
        # ruff's fix is the new text of the one line it touches ("" deletes the line).
        suggestion = diag.fix if diag.fix is not None and "\n" not in diag.fix else None
        findings.append(
            Finding(
                path=diag.path,
                line=diag.line,
                severity=severity,
                category=category,
                title=f"{code}: {diag.message}"[:200],
                body=f"`{diag.source}` reports {code} on this line: {diag.message}.",
                suggestion=suggestion,
                source=diag.source,
                rule=diag.code,
            )
        )
    return findings
