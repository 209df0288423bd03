"""Structured logs: one JSON object a line, with the job's identifiers, secrets redacted."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

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
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(secrets: Iterable[str] = (), *, level: int = logging.INFO) -> logging.Handler:
    """Send prwarden's logs to stderr as JSON lines, with every known secret redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    root = logging.getLogger("prwarden")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler
