"""Secret redaction and detection.

``Redactor`` removes the operator's own secret values (App private key, webhook secret, tokens,
model API key) from any text, and from what a JSON text decodes to (``redact_decoded``: a value
written with ``\\u`` escapes is found too); ``RedactingFilter`` applies it to log records;
``find_secrets`` runs detect-secrets' plugins in memory over arbitrary text and names the kinds
it finds.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import BasePlugin
from detect_secrets.util.code_snippet import get_code_snippet

from prwarden.errors import ConfigError

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 8

_PEM_BODY = re.compile(r"-----BEGIN [A-Z0-9 ]+-----(.*?)-----END [A-Z0-9 ]+-----", re.DOTALL)
_NOT_SECRETS = frozenset({"Public IP (ipv4)"})
_EXTRA_KINDS = (
    ("OpenAI Token", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}")),
    ("GitHub Token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})")),
)


class Redactor:
    """Replaces known secret values in text with ``[REDACTED]``.

    Values shorter than ``MIN_SECRET_CHARS`` are ignored (they would redact ordinary words).
    A PEM value also redacts every line of its body on its own, and each value is matched in
    its JSON-escaped form too (newlines written as ``\\n``).
    """

    def __init__(self, values: Iterable[str]) -> None:
        needles: set[str] = set()
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise ConfigError(
                    f"secret value #{index} is a {type(value).__name__}, not a string",
                    key="secrets",
                    expected="string",
                )
            needles.update(_needles(value))
        ordered = sorted(needles, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __repr__(self) -> str:
        return "Redactor(<hidden>)"

    def redact(self, text: str) -> str:
        """Return ``text`` with every known secret replaced by ``[REDACTED]``."""
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def contains(self, text: str) -> bool:
        """Whether ``text`` holds any known secret."""
        return self._pattern is not None and self._pattern.search(text) is not None

    def redact_decoded(self, text: str) -> str:
        """``text`` (JSON, as a model's tool-call arguments and log lines are) with every known
        secret redacted in what it decodes to, so escapes (``\\u0073k-...``) hide nothing.

        Valid JSON comes back re-encoded only when something was redacted. A string (or text
        that is not JSON) holding ``\\u`` escapes is also looked at with them decoded.
        """
        if self._pattern is None:
            return text
        try:
            value = json.loads(text, strict=False)
            redacted = _map_strings(value, self._redact_unescaped)
        except (ValueError, RecursionError):
            return self._redact_unescaped(text)
        return text if redacted == value else json.dumps(redacted)

    def redact_value(self, value: Any) -> Any:
        """``value`` (strings, lists and dicts, as a chat request's messages) with every known
        secret redacted in every string in it, escapes decoded where they hide one."""
        if self._pattern is None:
            return value
        return _map_strings(value, self._redact_unescaped)

    def _redact_unescaped(self, text: str) -> str:
        text = self.redact(text)
        if "\\u" in text:
            decoded = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
            if self.contains(decoded):
                return self.redact(decoded)
        return text


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _map_strings(value: Any, f: Callable[[str], str]) -> Any:
    """``value`` (decoded JSON) with ``f`` applied to every string in it, keys included."""
    if isinstance(value, str):
        return f(value)
    if isinstance(value, list):
        return [_map_strings(v, f) for v in value]
    if isinstance(value, dict):
        return {f(k): _map_strings(v, f) for k, v in value.items()}
    return value


def _needles(value: str) -> set[str]:
    found: set[str] = set()
    stripped = value.strip()
    if len(stripped) >= MIN_SECRET_CHARS:
        found.add(stripped)
        found.add(stripped.replace("\r\n", "\n").replace("\n", "\\n"))
    for body in _PEM_BODY.findall(value):
        for line in body.replace("\\n", "\n").splitlines():
            line = line.strip()
            if len(line) >= MIN_SECRET_CHARS:
                found.add(line)
    return found


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the rendered message and exception text of each record."""

    def __init__(self, redactor: Redactor, name: str = "") -> None:
        super().__init__(name)
        self._redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redactor.redact(record.stack_info)
        return True


@cache
def _plugins() -> tuple[BasePlugin, ...]:
    mapping: Mapping[str, type[BasePlugin]] = get_mapping_from_secret_type_to_class()
    return tuple(cls() for kind, cls in sorted(mapping.items()) if kind not in _NOT_SECRETS)


# Entropy alone flags hashes, fixtures and test vectors in code; a PR's added lines are
# scanned by the detectors that recognise a secret's shape or its assignment to a keyword.
_ENTROPY_ONLY = frozenset({"Base64 High Entropy String", "Hex High Entropy String"})


def secret_lines(path: str, lines: Mapping[int, str]) -> tuple[tuple[int, str], ...]:
    """``(line number, kind)`` of each secret detect-secrets finds on the numbered ``lines``.

    Only the kind is returned, never the value: callers report where a secret is, not what.
    """
    numbers = sorted(lines)
    texts = [lines[n] for n in numbers]
    found: set[tuple[int, str]] = set()
    for index, (number, line) in enumerate(zip(numbers, texts, strict=True)):
        if not line.strip():
            continue
        context = get_code_snippet(lines=texts, line_number=index + 1)
        for plugin in _plugins():
            for secret in plugin.analyze_line(path, line, number, context):
                if secret.type not in _ENTROPY_ONLY:
                    found.add((number, secret.type))
        found.update((number, kind) for kind, pattern in _EXTRA_KINDS if pattern.search(line))
    return tuple(sorted(found))


def secret_lines_many(
    files: list[tuple[str, dict[int, str]]],
) -> list[tuple[tuple[int, str], ...]]:
    """``secret_lines`` of each ``(path, lines)``, in order: one call for a process pool to run."""
    return [secret_lines(path, lines) for path, lines in files]


def redact_found_secrets(text: str) -> str:
    """``text`` with every value detect-secrets recognises (entropy aside) as ``[REDACTED]``."""
    lines = text.splitlines()
    values: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        context = get_code_snippet(lines=lines, line_number=number)
        for plugin in _plugins():
            for secret in plugin.analyze_line("text", line, number, context):
                if secret.type not in _ENTROPY_ONLY and secret.secret_value:
                    values.add(secret.secret_value)
        for _kind, pattern in _EXTRA_KINDS:
            values.update(m.group(0) for m in pattern.finditer(line))
    return Redactor(values).redact(text) if values else text


def find_secrets(text: str) -> tuple[str, ...]:
    """Kinds of secret that detect-secrets' plugins find in ``text`` (e.g. "AWS Access Key")."""
    kinds: set[str] = set()
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        context = get_code_snippet(lines=lines, line_number=number)
        for plugin in _plugins():
            kinds.update(s.type for s in plugin.analyze_line("text", line, number, context))
    kinds.update(kind for kind, pattern in _EXTRA_KINDS if pattern.search(text))
    return tuple(sorted(kinds))
