"""SARIF 2.1.0 export of findings, shaped for GitHub code scanning.

Each distinct ``rule_id`` becomes one entry of ``tool.driver.rules`` (id, name, short and full
description, help, default level, tags, precision, ``problem.severity`` and, for security
rules, ``security-severity``). That metadata comes from the rule, never from a finding: the
linter's own text for a linter rule (``linter_rule``, given by the caller), else prwarden's
description of the finding's category (``category_rule``). Each finding becomes one result
with a relative URI, a region, and ``partialFingerprints.primaryLocationLineHash`` so GitHub
can de-duplicate alerts. A result's properties say whether it was posted or held, and for a held
one its disposition code (the caller's closed set; free-text reasons never reach SARIF).

``sarif_log`` writes one run per ``SarifRun`` (one repository and commit), each with its
``versionControlProvenance`` (repository URI, revision, branch) and an ``automationDetails.id``
of ``prwarden/held/<commit>/``: the category is the commit's, because GitHub takes one run per
tool and category in an upload, and held findings are decisions about one commit, not a scan
of a branch that a later commit's scan would close.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "prwarden"
TOOL_URI = "https://github.com/prwarden/prwarden"
MAX_DESCRIPTION = 1024
MAX_RULE_NAME = 255

LEVELS = frozenset({"error", "warning", "note"})
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
_PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
STATUSES = frozenset({"post", "hold", "drop"})
_CODE = re.compile(r"[a-z][a-z_]{0,39}")
HELD_CATEGORY = "prwarden/held"

# prwarden's own rules: one per finding category (review.findings.Category), with its level.
CATEGORIES: Mapping[str, tuple[str, str, str]] = {
    "security": (
        "Security weakness found in a reviewed change",
        "A change that lets an attacker read, alter or run what they should not: injection, "
        "broken access control, unsafe deserialisation, secrets, weak cryptography.",
        "error",
    ),
    "correctness": (
        "Bug found in a reviewed change",
        "Code that does not do what it evidently intends: wrong results, crashes, lost "
        "errors, races, resource leaks.",
        "warning",
    ),
    "performance": (
        "Needless cost found in a reviewed change",
        "Work that grows faster than it must, or is repeated, blocked or held longer than needed.",
        "warning",
    ),
    "maintainability": (
        "Hard-to-maintain code in a reviewed change",
        "Code that will be hard to change safely: duplication, hidden coupling, misleading "
        "names or structure.",
        "note",
    ),
    "style": (
        "Style issue in a reviewed change",
        "Code that departs from the project's conventions in a way a reader will notice.",
        "note",
    ),
    "tests": (
        "Missing or weak test in a reviewed change",
        "A behaviour the change adds or alters that no test checks, or a test that cannot fail.",
        "note",
    ),
    "documentation": (
        "Documentation gap in a reviewed change",
        "Documentation that is missing, wrong or out of date for what the change does.",
        "note",
    ),
}
GENERIC_CATEGORY = ("Finding from prwarden's review", "A finding from prwarden's review.", "note")


@dataclass(frozen=True, slots=True)
class SarifRule:
    """One rule of ``tool.driver.rules``, described by its owner (a linter, or prwarden)."""

    id: str
    short: str
    full: str
    help_markdown: str
    level: str
    category: str

    def __post_init__(self) -> None:
        if not self.id.strip() or not self.short.strip():
            raise ValueError("invalid SARIF rule: id and short description must not be empty")
        if self.level not in LEVELS:
            raise ValueError(f"invalid SARIF rule: level {self.level!r}")


def category_rule(category: str, rule_id: str | None = None) -> SarifRule:
    """prwarden's rule for a finding category (``prwarden/<category>`` unless given)."""
    short, full, level = CATEGORIES.get(category, GENERIC_CATEGORY)
    return SarifRule(
        id=rule_id or f"{TOOL_NAME}/{category}",
        short=short,
        full=full,
        help_markdown=f"{full}\n\nprwarden holds findings of this kind for review before posting.",
        level=level,
        category=category,
    )


def linter_rule(
    rule_id: str, *, name: str, linter: str, summary: str, explanation: str, category: str
) -> SarifRule:
    """A linter rule, described in the linter's own words."""
    short = f"{name} ({linter} {rule_id})"
    level = "error" if category == "security" else "warning"
    return SarifRule(
        id=rule_id,
        short=short,
        full=summary or short,
        help_markdown=explanation or summary or short,
        level=level,
        category=category,
    )


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a run's findings were found: repository URI, commit, and branch or PR ref."""

    repository_uri: str
    revision_id: str
    branch: str

    def __post_init__(self) -> None:
        if not (self.repository_uri.strip() and self.revision_id.strip() and self.branch.strip()):
            raise ValueError("invalid provenance: repository, revision and branch are needed")


@dataclass(frozen=True, slots=True)
class SarifRun:
    """The findings of one repository at one commit."""

    provenance: Provenance
    findings: Sequence[SarifFinding]


@dataclass(frozen=True, slots=True)
class SarifFinding:
    """One finding to export; ``path`` is relative to the repository root."""

    rule_id: str
    title: str
    message: str
    path: str
    start_line: int
    end_line: int
    level: str
    severity: str
    category: str
    fingerprint: str
    status: str = "post"
    code: str | None = None

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("invalid SARIF finding: " + "; ".join(problems))


def _problems(f: SarifFinding) -> list[str]:
    problems = [
        f"{name} is empty"
        for name in ("rule_id", "title", "message", "path", "fingerprint", "category")
        if not getattr(f, name).strip()
    ]
    normalised = posixpath.normpath(f.path) if f.path else ""
    if f.path.startswith("/") or "\\" in f.path or _SCHEME.match(f.path):
        problems.append(f"path {f.path!r} is not relative to the repository root")
    elif normalised.startswith("..") or normalised != f.path.removeprefix("./"):
        problems.append(f"path {f.path!r} is not normalised")
    if f.start_line < 1:
        problems.append(f"start_line {f.start_line} is below 1")
    if f.end_line < f.start_line:
        problems.append(f"end_line {f.end_line} is before start_line {f.start_line}")
    if f.level not in LEVELS:
        problems.append(f"level {f.level!r} is not one of error, warning, note")
    if f.status not in STATUSES:
        problems.append(f"status {f.status!r} is not one of post, hold, drop")
    if f.code is not None and not _CODE.fullmatch(f.code):
        problems.append(f"code {f.code!r} is not a disposition code")
    if f.severity not in SECURITY_SEVERITY:
        problems.append(f"severity {f.severity!r} is not one of {', '.join(SECURITY_SEVERITY)}")
    return problems


def to_sarif(
    findings: Sequence[SarifFinding],
    *,
    tool_version: str,
    repo_uri: str | None = None,
    rules: Mapping[str, SarifRule] | None = None,
) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run of prwarden holding ``findings``."""
    run = _run(findings, tool_version, rules or {}, f"{TOOL_NAME}/")
    if repo_uri:
        run["versionControlProvenance"] = [{"repositoryUri": repo_uri}]
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def sarif_log(
    runs: Sequence[SarifRun], *, tool_version: str, rules: Mapping[str, SarifRule] | None = None
) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run per repository and commit, each with its provenance."""
    out = []
    for run in runs:
        body = _run(
            run.findings,
            tool_version,
            rules or {},
            f"{HELD_CATEGORY}/{run.provenance.revision_id}/",
        )
        body["versionControlProvenance"] = [
            {
                "repositoryUri": run.provenance.repository_uri,
                "revisionId": run.provenance.revision_id,
                "branch": run.provenance.branch,
            }
        ]
        out.append(body)
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": out}


def _run(
    findings: Sequence[SarifFinding],
    tool_version: str,
    known: Mapping[str, SarifRule],
    automation_id: str,
) -> dict[str, Any]:
    if not tool_version.strip():
        raise ValueError("tool_version is empty")
    rule_index: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for finding in findings:
        if finding.rule_id not in rule_index:
            rule_index[finding.rule_id] = len(rules)
            rule = known.get(finding.rule_id) or category_rule(finding.category, finding.rule_id)
            rules.append(_rule(rule))
        results.append(_result(finding, rule_index[finding.rule_id]))
    return {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "semanticVersion": tool_version,
                "version": tool_version,
                "informationUri": TOOL_URI,
                "rules": rules,
            }
        },
        "automationDetails": {"id": automation_id},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }


def _rule(rule: SarifRule) -> dict[str, Any]:
    security = rule.category == "security"
    tags = list(dict.fromkeys((rule.category, "security") if security else (rule.category,)))
    properties: dict[str, Any] = {
        "precision": "medium",
        "problem.severity": _PROBLEM_SEVERITY[rule.level],
    }
    if security:
        properties["security-severity"] = SECURITY_SEVERITY["high"]
    properties["tags"] = tags
    return {
        "id": rule.id,
        "name": _rule_name(rule.id),
        "shortDescription": {"text": _clip(rule.short)},
        "fullDescription": {"text": _clip(rule.full)},
        "help": {"text": _clip(rule.help_markdown), "markdown": _clip(rule.help_markdown)},
        "defaultConfiguration": {"level": rule.level},
        "properties": properties,
    }


def _result(f: SarifFinding, index: int) -> dict[str, Any]:
    return {
        "ruleId": f.rule_id,
        "ruleIndex": index,
        "level": f.level,
        "message": {"text": f.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": quote(f.path.removeprefix("./"), safe="/"),
                        "uriBaseId": "%SRCROOT%",
                    },
                    "region": {"startLine": f.start_line, "endLine": f.end_line},
                }
            }
        ],
        "partialFingerprints": {"primaryLocationLineHash": f.fingerprint},
        "properties": {
            "severity": f.severity,
            "category": f.category,
            "title": f.title,
            "status": f.status,
            **({"disposition": f.code} if f.code else {}),
        },
    }


def _rule_name(rule_id: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", rule_id)
    return ("".join(w[:1].upper() + w[1:] for w in words if w) or "Rule")[:MAX_RULE_NAME]


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "\u2026"
