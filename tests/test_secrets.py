"""Secret redaction (values, PEM bodies, logs, exceptions) and detect-secrets scanning."""

from __future__ import annotations

import json
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from prwarden.errors import ConfigError, GitHubError
from security.secrets import REDACTED, RedactingFilter, Redactor, find_secrets


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


PEM = _pem()
WEBHOOK = "whsec_5f1e2d3c4b5a69788796a5b4"
TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
API_KEY = "sk-proj-Zx81Qm0Lk2Jv7Hc4Rb9Tn6Wd3Ys5Pa1Ge8Uf0Io"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([PEM, WEBHOOK, TOKEN, API_KEY, "short"])


@pytest.mark.parametrize("secret", [WEBHOOK, TOKEN, API_KEY])
def test_each_value_is_redacted(redactor: Redactor, secret: str) -> None:
    text = f"calling with {secret}; again: {secret}."
    assert redactor.redact(text) == f"calling with {REDACTED}; again: {REDACTED}."


def test_pem_key_whole_and_line_by_line(redactor: Redactor) -> None:
    assert PEM.strip() not in redactor.redact(f"key={PEM}")
    body = PEM.strip().splitlines()[1:-1]
    leaked = "partial dump:\n" + "\n".join(body[2:4])
    redacted = redactor.redact(leaked)
    assert all(line not in redacted for line in body[2:4])
    assert redacted.count(REDACTED) == 2
    escaped = PEM.replace("\n", "\\n")
    assert "MII" not in redactor.redact(f'{{"key": "{escaped}"}}')


def test_short_values_are_ignored(redactor: Redactor) -> None:
    assert redactor.redact("a short note") == "a short note"
    assert Redactor([]).redact(TOKEN) == TOKEN


def test_bad_value_error_does_not_leak() -> None:
    with pytest.raises(ConfigError) as info:
        Redactor([WEBHOOK, 12345])  # type: ignore[list-item]
    assert WEBHOOK not in str(info.value)
    assert "12345" not in str(info.value)
    assert WEBHOOK not in repr(Redactor([WEBHOOK]))


def test_redacted_exception_text(redactor: Redactor) -> None:
    error = GitHubError(f"401 for token {TOKEN}", status_code=401)
    assert TOKEN not in redactor.redact(str(error))


def _logger(redactor: Redactor) -> tuple[logging.Logger, list[str]]:
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = ListHandler()
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger(f"test-secrets-{id(lines)}")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    return logger, lines


def test_log_record_message_and_args(redactor: Redactor) -> None:
    logger, lines = _logger(redactor)
    logger.info("token %s and key %r", TOKEN, {"api_key": API_KEY})
    logger.warning(f"webhook secret {WEBHOOK}")
    assert len(lines) == 2
    assert all(s not in line for line in lines for s in (TOKEN, API_KEY, WEBHOOK))
    assert lines[0].count(REDACTED) == 2


def test_log_record_exception_text(redactor: Redactor) -> None:
    logger, lines = _logger(redactor)
    try:
        raise GitHubError(f"bad credentials {TOKEN}", status_code=401)
    except GitHubError:
        logger.exception("request failed")
    assert "request failed" in lines[0]
    assert "GitHubError" in lines[0]
    assert TOKEN not in lines[0]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"', "AWS Access Key"),
        (f"export GITHUB_TOKEN={TOKEN}", "GitHub Token"),
        ("-----BEGIN RSA PRIVATE KEY-----", "Private Key"),
        ('password = "hunter2-correct-horse"', "Secret Keyword"),
        (f"OPENAI_API_KEY={API_KEY}", "OpenAI Token"),
        ("xoxb-123456789012-1234567890123-abcdefghijABCDEFGHIJklmn", "Slack Token"),
        ("https://admin:s3cretpass@db.example.com/x", "Basic Auth Credentials"),
    ],
)
def test_find_secrets_kinds(text: str, kind: str) -> None:
    assert kind in find_secrets(text)


@pytest.mark.parametrize(
    "text",
    [
        "Use a context manager here.",
        'token = request.headers.get("Authorization", "")',
        "commit 0123456789abcdef0123456789abcdef01234567 fixed it",
        "server at 8.8.8.8 answers",
    ],
)
def test_find_secrets_benign(text: str) -> None:
    assert find_secrets(text) == ()


def _escaped(value: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in value)


@pytest.mark.parametrize(
    "text",
    [
        f'{{"findings": [{{"body": "key {_escaped(API_KEY)}"}}]}}',
        f'{{"query": "{API_KEY[:3]}{_escaped(API_KEY[3:])}"}}',
        f'{{"{_escaped(WEBHOOK)}": 1}}',
        # JSON inside a JSON string (a log line quoting raw arguments), escaped twice over.
        json.dumps({"error": f'bad arguments {{"q": "{_escaped(TOKEN)}"}}'}),
        # Not JSON at all (a truncated tool call): its escapes are decoded to look.
        f'{{"findings": [{{"body": "{_escaped(API_KEY)}',
        "[" * 100_000 + f'"{_escaped(API_KEY)}"',
    ],
)
def test_a_secret_is_found_in_what_json_decodes_to(redactor: Redactor, text: str) -> None:
    out = redactor.redact_decoded(text)
    for secret in (API_KEY, WEBHOOK, TOKEN):
        assert secret not in out and _escaped(secret) not in out
        assert secret not in json.dumps(out)
    assert REDACTED in out


def test_json_without_a_secret_comes_back_as_written(redactor: Redactor) -> None:
    text = '{"query":  "caf\\u00e9",\n "n": [1, 2.50]}'
    assert redactor.redact_decoded(text) == text
    assert Redactor([]).redact_decoded(f'"{_escaped(API_KEY)}"') == f'"{_escaped(API_KEY)}"'
