"""Structured logs: one JSON object a line, with the job's identifiers, secrets redacted.

Identifiers come from the record's ``extra=`` or from ``log_context``, which binds them for
everything logged inside it (the webhook's delivery, a job and the review it runs). Every
line is redacted as a whole: known secret values and GitHub token shapes become ``[REDACTED]``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from cache.queue import Job
from security.secrets import RedactingFilter, Redactor

CONTEXT_FIELDS = (
    "delivery_id",
    "installation_id",
    "repo",
    "pr_number",
    "head_sha",
    "job_id",
    "status",
    "reason",
    "error",
    "user",
    "command",
    "github_event",
    "action",
    "kind",
    "attempt",
    "state",
    "jobs",
    "purpose",
    "model",
    "outcome",
    "mode",
)
_TOKENS = re.compile(r"\b(?:gh[pousr]_|github_pat_)[\w-]{20,}")
_bound: ContextVar[Mapping[str, Any] | None] = ContextVar("prwarden_log_context", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (``None`` values left out) to every line logged inside the block."""
    token = _bound.set(
        {**(_bound.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    )
    try:
        yield
    finally:
        _bound.reset(token)


def delivery_fields(delivery_id: str, event: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """What a webhook payload says about where it comes from (fields it lacks are left out)."""
    pull = _mapping(data.get("pull_request") or data.get("issue"))
    fields = {
        "delivery_id": delivery_id,
        "github_event": event,
        "action": data.get("action"),
        "installation_id": _mapping(data.get("installation")).get("id"),
        "repo": _mapping(data.get("repository")).get("full_name"),
        "pr_number": pull.get("number"),
        "head_sha": _mapping(pull.get("head")).get("sha"),
    }
    return {k: v for k, v in fields.items() if v is not None and not isinstance(v, dict | list)}


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object; an empty one otherwise (payloads are untrusted)."""
    return value if isinstance(value, dict) else {}


def job_fields(job: Job) -> dict[str, Any]:
    """A job's identifiers, for ``log_context``."""
    return {
        "job_id": job.id,
        "kind": job.kind,
        "delivery_id": job.delivery_id,
        "installation_id": job.installation_id,
        "repo": job.repo,
        "pr_number": job.pr_number,
        "head_sha": job.head_sha,
    }


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        bound = _bound.get() or {}
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name, bound.get(name))
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, default=str)
        if self._redactor is not None:
            line = self._redactor.redact_decoded(line)
        return _TOKENS.sub("[REDACTED]", line)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is at each record (not at set-up), unless given a stream."""

    def __init__(self) -> None:
        self._chosen: Any = None
        super().__init__()

    @property
    def stream(self) -> Any:
        return self._chosen if self._chosen is not None else sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        self._chosen = None if value is sys.stderr else value


def setup_logging(secrets: Iterable[str] = (), *, level: int = logging.INFO) -> logging.Handler:
    """Send prwarden's logs to stderr as JSON lines, with every known secret redacted."""
    handler = _StderrHandler()
    redactor = Redactor(secrets)
    handler.setFormatter(JsonFormatter(redactor))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger("prwarden")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler
