"""The ``submit_review`` function the agent ends with, and the parser of its arguments.

The schema is strict (every key required, optional values nullable, no extra keys), so a
compliant model cannot produce a shape we do not expect. ``parse_submission`` turns the raw
JSON into ``Finding`` values; an item that breaks the schema or a ``Finding`` rule is rejected
with the reason, never patched. Raw dicts go no further than this module.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from prwarden.errors import ModelOutputError
from review.findings import MAX_BODY, MAX_SUGGESTION, MAX_TITLE, Category, Finding, Severity
from security import bounded_json

SUBMIT_REVIEW = "submit_review"

_FINDING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "line": {"type": "integer", "description": "last line; a + line"},
        "start_line": {"type": ["integer", "null"], "description": "first line, or null"},
        "severity": {"type": "string", "enum": [s.value for s in Severity]},
        "category": {"type": "string", "enum": [c.value for c in Category]},
        "title": {"type": "string"},
        "body": {"type": "string"},
        "suggestion": {
            "type": ["string", "null"],
            "description": "replaces lines start_line..line, or null",
        },
    },
    "required": [
        "path",
        "line",
        "start_line",
        "severity",
        "category",
        "title",
        "body",
        "suggestion",
    ],
    "additionalProperties": False,
}

SUBMIT_REVIEW_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": SUBMIT_REVIEW,
        "description": "End the review with every finding (an empty list when there is none).",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"findings": {"type": "array", "items": _FINDING_SCHEMA}},
            "required": ["findings"],
            "additionalProperties": False,
        },
    },
}

_LIMITS: dict[str, Any] = {
    "properties": {
        "path": {"minLength": 1, "maxLength": 1000},
        "line": {"minimum": 1},
        "start_line": {"anyOf": [{"type": "null"}, {"minimum": 1}]},
        "title": {"minLength": 1, "maxLength": MAX_TITLE},
        "body": {"maxLength": MAX_BODY},
        "suggestion": {"anyOf": [{"type": "null"}, {"maxLength": MAX_SUGGESTION}]},
    }
}
_ITEM = Draft202012Validator({"allOf": [_FINDING_SCHEMA, _LIMITS]})


def parse_submission(arguments: str) -> tuple[list[Finding], list[tuple[dict[str, Any], str]]]:
    """Valid findings, and each rejected raw item with the reason it was rejected.

    Raises ``ModelOutputError`` when the payload as a whole is unusable (not JSON, not an
    object, no ``findings`` list).
    """
    try:
        payload = bounded_json.loads(arguments, strict=False)
    except (ValueError, TypeError) as exc:
        raise ModelOutputError(
            "submit_review arguments are not JSON", errors=[f"not valid JSON: {exc}"]
        ) from None
    if not isinstance(payload, dict):
        raise ModelOutputError(
            "submit_review arguments must be an object",
            errors=[f"expected an object with 'findings', got {type(payload).__name__}"],
        )
    extra = sorted(set(payload) - {"findings"})
    items = payload.get("findings")
    if not isinstance(items, list) or extra:
        errors = []
        if not isinstance(items, list):
            errors.append(f"'findings' must be a list, got {type(items).__name__}")
        if extra:
            errors.append(f"unexpected keys: {extra}")
        raise ModelOutputError("submit_review arguments do not follow the schema", errors=errors)
    findings: list[Finding] = []
    rejected: list[tuple[dict[str, Any], str]] = []
    for index, item in enumerate(items):
        raw = item if isinstance(item, dict) else {"value": item}
        reason = _item_problem(item)
        if reason is None:
            try:
                findings.append(Finding.from_dict(item))
                continue
            except ModelOutputError as exc:
                reason = "; ".join(exc.errors) or str(exc)
        rejected.append((raw, f"findings[{index}]: {reason}"))
    return findings, rejected


def _item_problem(item: Any) -> str | None:
    errors = sorted(_ITEM.iter_errors(item), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.absolute_path)
        parts.append(f"{where}: {error.message}" if where else error.message)
    return "; ".join(parts)
