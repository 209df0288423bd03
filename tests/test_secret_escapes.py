"""Secrets a model writes with JSON escapes are redacted where they are decoded: nothing
stored, logged or posted holds an operator secret in any spelling.

The scripted model sends the operator's API key ``\\u``-escaped inside its tool-call JSON (in
a search query and in finding bodies), and the webhook secret, the admin token and the metrics
token besides. The real app reviews the PR; then every row of every table, every log line,
every request to GitHub and everything posted is searched for each secret, plain, JSON-escaped
and ``\\u``-escaped.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any

from bot.config import Console, Settings
from bot.context import CTX
from bot.logs import setup_logging
from review.findings import Reason
from review.settings import ReviewSettings
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import Call, FakeOpenAI, tool_calls
from tests.helpers import SECRET
from tests.model_scripts import (
    API_KEY,
    Client,
    db_of,
    finding,
    model_settings,
    review_pr,
    serve,
    triage,
)
from tests.reviewing import FINDING
from tests.scenario import example_diff, example_files, pull_scenario
from tests.test_e2e_security import dump_db, posted_texts

ADMIN_TOKEN = "admin-token-0123456789abcdef"
METRICS_TOKEN = "metrics-token-0123456789abcdef"
SECRET_NAME = re.compile(r"secret|token|password|(?:^|_)key$")


def escaped(value: str) -> str:
    """``value`` as JSON text with every character written as a ``\\u`` escape."""
    return "".join(f"\\u{ord(c):04x}" for c in value)


def spellings(secret: str) -> list[str]:
    return [secret, json.dumps(secret)[1:-1], escaped(secret), escaped(secret).upper()]


async def _serve(
    aiohttp_client: Any, gh: FakeGitHub, key: str, tmp_path: Path, fake: FakeOpenAI
) -> Client:
    """The real app with the fake model, and every secret setting set."""
    review = model_settings(fake.base_url)
    return await serve(
        aiohttp_client,
        gh,
        key,
        tmp_path,
        review,
        admin_token=ADMIN_TOKEN,
        metrics_token=METRICS_TOKEN,
    )


def _raw_submit(bodies: list[str]) -> str:
    """``submit_review`` arguments as raw JSON text, the bodies spliced in as written."""
    items = []
    for i, body in enumerate(bodies):
        item = finding("shop/db.py", 23, title=f"credential note {i}", body="BODY")
        items.append(json.dumps(item).replace('"BODY"', f'"{body}"'))
    items.append(json.dumps(FINDING))
    return '{"findings": [' + ", ".join(items) + "]}"


async def test_no_secret_in_any_spelling_is_stored_logged_or_posted(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
    restore_logging: None,
) -> None:
    bodies = [
        f"Configured key for the reviewer: {escaped(API_KEY)}",
        f"Half escaped: {API_KEY[:4]}{escaped(API_KEY[4:])}",
        f"The webhook secret is {escaped(SECRET)}",
        f"The admin token is {ADMIN_TOKEN}, the metrics token {escaped(METRICS_TOKEN)}",
    ]
    search = Call("search_codebase", f'{{"query": "{escaped(API_KEY)}"}}')
    fake.script(
        triage("deep"), tool_calls(search), tool_calls(("submit_review", _raw_submit(bodies)))
    )
    s = pull_scenario(fake_github)
    client = await _serve(aiohttp_client, fake_github, app_private_key, tmp_path, fake)
    settings: Settings = client.app[CTX].settings
    handler = setup_logging(settings.secret_values, level=logging.DEBUG)
    buffer = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    await review_pr(client, s)

    db = db_of(client)
    record = next(db["review_runs"].rows)
    rows = {r["title"]: r for r in json.loads(record["findings"])}
    for i in range(len(bodies)):
        row = rows[f"credential note {i}"]
        assert (row["status"], row["code"]) == ("drop", Reason.UNSAFE.value), row
        assert "[REDACTED]" in row["body"]
    assert rows[FINDING["title"]]["status"] == "post"
    # The review was cached, whole and per file: those rows are searched too.
    assert db["reviews"].count == 1 and db["file_reviews"].count >= 1
    assert db["tool_calls"].count >= 1

    places = {
        "database": dump_db(db),
        "logs": buffer.getvalue(),
        "github requests": json.dumps([[r.path, r.json] for r in fake_github.requests]),
        "posted": "\n".join(posted_texts(s)),
    }
    for where, text in places.items():
        for secret in (API_KEY, SECRET, ADMIN_TOKEN, METRICS_TOKEN):
            for spelling in spellings(secret):
                assert spelling not in text, f"{secret[:6]}... reached the {where}"
    assert fake.rejected == [] and fake.problems == []


def test_every_secret_setting_is_a_known_secret() -> None:
    """A field is a secret when it is declared ``repr=False``; names that say so must be."""
    values = {
        "private_key": "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
        "webhook_secret": "webhook-secret-value",
        "admin_token": "admin-token-value",
        "metrics_token": "metrics-token-value",
    }
    console = Console(client_secret="client-secret-value", session_key="session-key-value")
    settings = Settings(
        **values, review=ReviewSettings(api_key="sk-api-key-value-0000"), console=console
    )
    assert set(settings.secret_values) == {
        *values.values(),
        "sk-api-key-value-0000",
        "client-secret-value",
        "session-key-value",
    }
    for cls in (Settings, ReviewSettings, Console):
        for f in cls.__dataclass_fields__.values():
            if "str" in str(f.type) and SECRET_NAME.search(f.name):
                assert not f.repr, f"{cls.__name__}.{f.name} looks secret but is not repr=False"


async def test_no_operator_secret_reaches_a_prompt(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
) -> None:
    """A PR (say, to the operator's own deployment repository) that holds the webhook secret
    and the admin token: the diff and the file the model reads reach it redacted."""
    path = "deploy/prwarden_env.py"
    content = f'WEBHOOK_SECRET = "{SECRET}"\nADMIN_TOKEN = "{ADMIN_TOKEN}"\n'
    diff = example_diff() + (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,2 @@\n"
        + "".join(f"+{line}\n" for line in content.splitlines())
    )
    fake.script(
        triage("deep"),
        tool_calls(Call("read_file", {"path": path})),
        tool_calls(("submit_review", {"findings": [FINDING]})),
    )
    s = pull_scenario(fake_github, files={**example_files(), path: content.encode()}, diff=diff)
    client = await _serve(aiohttp_client, fake_github, app_private_key, tmp_path, fake)
    await review_pr(client, s)

    assert len(fake.requests) == 3
    sent = json.dumps(fake.requests)
    assert "[REDACTED]" in sent and path in sent
    for secret in (SECRET, ADMIN_TOKEN):
        for spelling in spellings(secret):
            assert spelling not in sent
    assert fake.rejected == [] and fake.problems == []
