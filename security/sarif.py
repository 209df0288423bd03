"""SARIF 2.1.0 export of findings, shaped for GitHub code scanning.

Each distinct ``rule_id`` becomes one entry of ``tool.driver.rules`` (id, name, short and full
description, help, default level, tags, precision, ``problem.severity`` and, for security
rules, ``security-severity``). Each finding becomes one result with a relative URI, a region,
and ``partialFingerprints.primaryLocationLineHash`` so GitHub can de-duplicate alerts. A
result's properties say whether it was posted or held, and for a held one its disposition code
(the caller's closed set; free-text reasons never reach SARIF).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
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
    findings: Sequence[SarifFinding], *, tool_version: str, repo_uri: str | None = None
) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run of prwarden holding ``findings``."""
    if not tool_version.strip():
        raise ValueError("tool_version is empty")
    rule_index: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for finding in findings:
        if finding.rule_id not in rule_index:
            rule_index[finding.rule_id] = len(rules)
            rules.append(_rule(finding))
        results.append(_result(finding, rule_index[finding.rule_id]))
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "semanticVersion": tool_version,
                "version": tool_version,
                "informationUri": TOOL_URI,
                "rules": rules,
            }
        },
        "automationDetails": {"id": f"{TOOL_NAME}/"},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if repo_uri:
        run["versionControlProvenance"] = [{"repositoryUri": repo_uri}]
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def _rule(f: SarifFinding) -> dict[str, Any]:
    tags = list(
        dict.fromkeys((f.category, "security") if f.category == "security" else (f.category,))
    )
    properties: dict[str, Any] = {
        "precision": "medium",
        "problem.severity": _PROBLEM_SEVERITY[f.level],
    }
    if f.category == "security":
        properties["security-severity"] = SECURITY_SEVERITY[f.severity]
    properties["tags"] = tags
    return {
        "id": f.rule_id,
        "name": _rule_name(f.rule_id),
        "shortDescription": {"text": _clip(f.title)},
        "fullDescription": {"text": _clip(f.title)},
        "help": {"text": _clip(f.message), "markdown": _clip(f.message)},
        "defaultConfiguration": {"level": f.level},
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
