"""Static findings: the linters' diagnostics and detect-secrets' hits on the changed lines.

This is the review prwarden gives with no model configured, and the fallback when the model is
unavailable. Only diagnostics on added lines count: a PR is not blamed for code it did not touch.
What a tool's rule means (category, severity) is data: ``review/data/lint_rules.tsv``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from prwarden.errors import ConfigError
from review.diff import Diff, FileDiff
from review.findings import Category, Finding, Severity
from security.secrets import secret_lines
from tools.base import Diagnostic

RULES_RESOURCE = "lint_rules.tsv"
SECRETS_SOURCE = "detect-secrets"
DEFAULT = "*"


@dataclass(frozen=True, slots=True)
class RuleClass:
    category: Category
    severity: Severity


def parse_rules(text: str, where: str = RULES_RESOURCE) -> Mapping[str, Mapping[str, RuleClass]]:
    """The rules table: tool -> rule prefix -> class; ``ConfigError`` on a malformed row."""
    table: dict[str, dict[str, RuleClass]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        cells = raw.split("\t")
        if len(cells) != 5:
            raise ConfigError(
                f"{where}:{number}: expected 5 tab-separated cells, got {len(cells)}",
                key=RULES_RESOURCE,
                expected="tool, rule, category, severity, why",
            )
        tool, rule, category, severity, _why = cells
        try:
            entry = RuleClass(Category(category), Severity(severity))
        except ValueError as exc:
            raise ConfigError(
                f"{where}:{number}: {exc}", key=RULES_RESOURCE, expected="a category and severity"
            ) from None
        table.setdefault(tool, {})[rule] = entry
    return table


@cache
def rules() -> Mapping[str, Mapping[str, RuleClass]]:
    data = resources.files("review").joinpath("data", RULES_RESOURCE)
    return parse_rules(data.read_text(encoding="utf-8"))


def classify(source: str, code: str | None) -> tuple[Category, Severity]:
    """The category and severity of tool ``source``'s rule ``code`` (longest prefix wins)."""
    table = rules().get(source, {})
    best = table.get(DEFAULT)
    length = -1
    for prefix, entry in table.items():
        if prefix != DEFAULT and code and code.startswith(prefix) and len(prefix) > length:
            best, length = entry, len(prefix)
    if best is None:
        return Category.CORRECTNESS, Severity.LOW
    return best.category, best.severity


def findings_from_diagnostics(diagnostics: Iterable[Diagnostic], diff: Diff) -> list[Finding]:
    """Turn tool diagnostics on added lines into findings; the rest are not the PR's doing."""
    findings: list[Finding] = []
    for diag in diagnostics:
        changed = diff.file(diag.path)
        if changed is None or diag.line not in changed.added:
            continue
        category, severity = classify(diag.source, diag.code)
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


def secret_findings(files: Iterable[FileDiff]) -> list[Finding]:
    """A finding for each secret detect-secrets sees on an added line; its text names the kind
    of secret and never the value."""
    return secret_findings_from(
        (f.path, line, kind) for f in files for line, kind in secret_lines(f.path, f.added)
    )


def secret_findings_from(found: Iterable[tuple[str, int, str]]) -> list[Finding]:
    """The findings of ``(path, line, kind)`` secrets (from ``secret_lines``, wherever it ran)."""
    category, severity = classify(SECRETS_SOURCE, None)
    return [
        Finding(
            path=path,
            line=line,
            severity=severity,
            category=category,
            title=f"Secret added: {kind}",
            body=(
                f"`{SECRETS_SOURCE}` recognises a {kind} on this added line. A "
                "credential committed to the repository is exposed to everyone who can "
                "read it, history included: revoke it, then load it from the "
                "environment or a secret store instead."
            ),
            source=SECRETS_SOURCE,
            rule=kind,
        )
        for path, line, kind in found
    ]
