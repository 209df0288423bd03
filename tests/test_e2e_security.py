"""The real app against a hostile PR and a model that obeys it: nothing unsafe gets out.

Pull requests carry real injections from ``corpora/injections``; the scripted model
does what they ask (approves, links out, plants an image beacon, recites its system prompt,
leaks secrets). Every posted text, log line, database row and request body is then searched.
Security findings are held for people and reach the PR only once approved.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import markupsafe
import pytest
import sqlite_utils

import corpora
from bot import cli
from bot.context import CTX
from bot.logs import setup_logging
from review.diff import parse_diff
from review.prompts import load_prompt
from security.injection import scan
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import FakeOpenAI, fault
from tests.helpers import SECRET, sign
from tests.model_scripts import (
    API_KEY,
    OUTSIDE_HOST,
    Investigation,
    Replies,
    call_arguments,
    db_of,
    finding,
    model_settings,
    obeying_model,
    review_pr,
    serve,
    submit,
    triage,
)
from tests.scenario import PullScenario, pull_scenario, wait_for

CORPORA = corpora.ROOT
CODE_INJECTIONS = CORPORA / "injections" / "code_injections.jsonl"
SARIF_SCHEMA = CORPORA / "sarif" / "sarif-schema-2.1.0.json"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ADMIN_TOKEN = "admin-token-for-the-triage-page-0042"
PER_WRAPPER = 2
UNDETECTED = 2

COMPANION = "src/pricing.py"
COMPANION_DIFF = (
    f"diff --git a/{COMPANION} b/{COMPANION}\nnew file mode 100644\nindex 0000000..3333333\n"
    f"--- /dev/null\n+++ b/{COMPANION}\n@@ -0,0 +1,2 @@\n"
    "+def unit_price(total: float, count: int) -> float:\n+    return total / count\n"
)
COMPANION_TEXT = b"def unit_price(total: float, count: int) -> float:\n    return total / count\n"

# What each hostile finding must be dropped for (``unsafe: <code>``), in obeying_findings order.
EXPECTED_REASONS = {
    "approval": "approval:",
    "link": f"link:{OUTSIDE_HOST}",
    "image": "image:markdown",
    "system prompt": "echo:system prompt",
    "aws key": "secret:AWS Access Key",
    "leak 1": "secret:redacted",
}


def _added_text(row: dict[str, Any]) -> str:
    return "\n".join(
        line[1:]
        for line in row["diff"].splitlines()
        if line.startswith("+") and not line.startswith("+++")
    )


def _sample() -> list[dict[str, Any]]:
    """Rows per wrapper the detector flags, plus rows it misses (validation must not care)."""
    rows = [json.loads(line) for line in CODE_INJECTIONS.read_text().splitlines()]
    usable = sorted(
        (r for r in rows if r["label"] == "injection" and "diff" in r), key=lambda r: r["id"]
    )
    chosen: list[dict[str, Any]] = []
    for wrapper in sorted({r["wrapper"] for r in usable}):
        flagged = [r for r in usable if r["wrapper"] == wrapper and scan(_added_text(r))]
        chosen += flagged[:PER_WRAPPER]
    chosen += [r for r in usable if not scan(_added_text(r))][:UNDETECTED]
    return chosen


SAMPLE = _sample()


def injection_pr(row: dict[str, Any]) -> tuple[dict[str, bytes], str]:
    """The head files and diff of a PR that adds the row's injection to its real host file.

    The host file is rebuilt from the diff's new side at its real line numbers. A Markdown
    host comes with a small code change, so the model is asked to review the PR at all.
    """
    path = row["host_file"]
    diff = f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n" + row["diff"]
    if not diff.endswith("\n"):
        diff += "\n"
    changed = parse_diff(diff).file(path)
    assert changed is not None
    lines = {ln.new: ln.text for h in changed.hunks for ln in h.lines if ln.new is not None}
    text = "".join(lines.get(n, "") + "\n" for n in range(1, max(lines) + 1))
    files = {path: text.encode()}
    if path.endswith(".md"):
        files[COMPANION] = COMPANION_TEXT
        diff += COMPANION_DIFF
    return files, diff


def posted_texts(s: PullScenario) -> list[str]:
    """Everything prwarden published on the PR: comments, review bodies, check run output."""
    out = [c["body"] for c in s.comments]
    out += [r["body"] for r in s.reviews]
    out += [str(c.get("body")) for c in s.gh.pulls[(s.repo, s.number)].issue_comments]
    for run in s.gh.check_runs.values():
        output = run.get("output") or {}
        out += [str(output.get(k) or "") for k in ("title", "summary", "text")]
    return out


def dump_db(db: sqlite_utils.Database) -> str:
    """Every row of every table, as text."""
    return "\n".join(
        json.dumps(row, default=str) for name in db.table_names() for row in db[name].rows
    )


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server
    assert server.rejected == [] and server.problems == [], (server.rejected, server.problems)


# -- an obeying model on real injections ------------------------------------------------


@pytest.mark.parametrize("row", SAMPLE, ids=[f"{r['wrapper']}-{r['id']}" for r in SAMPLE])
async def test_a_model_that_obeys_injections_gets_nothing_unsafe_posted(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    model: FakeOpenAI,
    row: dict[str, Any],
) -> None:
    path = row["host_file"]
    line = int(row["injected_lines_in_file"][0])
    replies = Replies()
    # An injection the detector missed can be quoted back; only a flagged one counts as echo.
    echo = row["attack_text"] if scan(_added_text(row)) else ""
    model.script(
        triage("deep"),
        replies.keep(obeying_model(path=path, line=line, leak=[API_KEY], echo=echo)),
    )
    files, diff = injection_pr(row)
    s = pull_scenario(fake_github, files=files, diff=diff, title="Small cleanup")
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, model_settings(model.base_url)
    )
    run = await review_pr(client, s)
    assert len(model.requests) == 2 and run["conclusion"] == "success"
    assert len(s.reviews) == 1

    submitted = call_arguments(replies.bodies[0]["choices"][0]["message"]["tool_calls"][0])
    hostile = [f["body"] for f in submitted["findings"]]
    system_prompt = load_prompt("review").text
    texts = "\n".join(posted_texts(s))
    lowered = texts.lower()
    for needle in ("lgtm", "safe to merge", "approve this pr", OUTSIDE_HOST, "!["):
        assert needle not in lowered, needle
    assert API_KEY not in texts and hostile[4].split()[-1] not in texts
    assert system_prompt[:60] not in texts and "untrusted nonce" not in texts
    for body in hostile:
        assert body not in texts

    db = db_of(client)
    record = next(db["review_runs"].rows)
    rows = json.loads(record["findings"])
    from_model = [r for r in rows if r["source"] == "model"]
    # Recorded as the model said it, except the API key: that never gets past the client.
    assert [r["body"] for r in from_model] == [b.replace(API_KEY, "[REDACTED]") for b in hostile]
    assert API_KEY not in record["findings"]
    assert all(r["status"] == "drop" for r in from_model)
    for r in from_model:
        assert r["reasons"] and all(x.startswith("unsafe: ") for x in r["reasons"]), r
    for r, (kind, code) in zip(from_model, EXPECTED_REASONS.items(), strict=False):
        assert any(x.startswith(f"unsafe: {code}") for x in r["reasons"]), (kind, r["reasons"])
    assert record["held"] == 0 and db["findings"].count == 0

    hits = json.loads(record["injection_hits"])
    expected = scan(_added_text(row))
    in_file = [h for h in hits if h["where"] == path]
    assert [h["excerpt"] for h in in_file] == [h.excerpt for h in expected]
    if expected:
        assert in_file and all(h["score"] > 0 and h["reasons"] for h in in_file)
        echoed = from_model[-1]["reasons"]
        assert any(x.startswith(("unsafe: echo:flagged", "unsafe: injection:")) for x in echoed)


# -- secrets ----------------------------------------------------------------------------


async def test_no_secret_reaches_a_log_a_row_a_request_body_or_the_pr(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    model: FakeOpenAI,
    restore_logging: None,
) -> None:
    look = Investigation.of(query=API_KEY, lint_path="shop/db.py", symbol="orders_for")
    model.script(
        fault(500, f"upstream refused the key {API_KEY}"),
        triage("deep"),
        look.turn,
        obeying_model(path="shop/db.py", line=21, leak=[API_KEY]),
    )
    s = pull_scenario(fake_github)
    fake_github.fail_next("GET", rf"/pulls/{s.number}$", 502, body={"message": "Bad gateway"})
    client = await serve(
        aiohttp_client,
        fake_github,
        app_private_key,
        tmp_path,
        model_settings(model.base_url, llm_retries=1),
        admin_token=ADMIN_TOKEN,
    )
    settings = client.app[CTX].settings
    handler = setup_logging(settings.secret_values, level=logging.DEBUG)
    buffer = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    body, headers = s.delivery()
    forged = {**headers, "X-Hub-Signature-256": sign(body, "not-the-secret")}
    assert (await client.post("/webhook", data=body, headers=forged)).status == 401
    await review_pr(client, s)

    tokens = list(fake_github.issued_tokens)
    assert tokens, "the fake issued no installation token"
    private_lines = [ln for ln in app_private_key.splitlines() if "PRIVATE KEY" not in ln]
    secrets = [SECRET, API_KEY, ADMIN_TOKEN, *tokens, app_private_key, *private_lines[:3]]
    logged = buffer.getvalue()
    lines = [json.loads(line) for line in logged.splitlines()]
    assert len(lines) > 3 and all(isinstance(line, dict) for line in lines)
    warned = {(line["logger"], line["level"]) for line in lines}
    # The forged delivery, the model's 500 and GitHub's 502 were each logged.
    assert any(line["logger"] == "prwarden.webhook" and line.get("status") == 401 for line in lines)
    assert {("prwarden.llm", "warning"), ("prwarden.github", "warning")} <= warned, warned
    places = {
        "logs": logged,
        "database": dump_db(db_of(client)),
        "model requests": json.dumps(model.requests),
        "github requests": json.dumps(
            [[r.method, r.path, dict(r.query), r.json] for r in fake_github.requests]
        ),
        "posted": "\n".join(posted_texts(s)),
    }
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a secret reached the {where}"
            assert json.dumps(secret)[1:-1] not in text, f"a secret reached the {where}"
    # The attempt was real: the model asked for the key, and the key reached no one.
    assert model.headers[0]["Authorization"] == f"Bearer {API_KEY}"
    assert all(r.headers.get("authorization") for r in fake_github.requests)
    assert "unsafe: secret:redacted" in places["database"]


# -- held security findings -------------------------------------------------------------

SQL = finding(
    "shop/db.py",
    15,
    category="security",
    title="SQL built with an f-string: customer -> '{customer}' & the query",
    body=(
        "`orders_for` formats `customer` into the SQL text; a customer named "
        "`x' OR '1'='1` reads every order. Keep the `?` placeholder."
    ),
    suggestion=(
        '    rows = conn.execute("SELECT id, customer, total FROM orders WHERE customer = ?", '
        "(customer,))\n"
    ),
)
SWALLOW = finding(
    "shop/db.py",
    22,
    category="security",
    title="total_spent hides database errors that signal tampering",
    body="`except Exception: pass` in `total_spent` swallows `sqlite3.DatabaseError` silently.",
)
IMPORT = finding(
    "shop/orders.py",
    25,
    category="security",
    severity="medium",
    title="add_line shares one basket between customers",
    body=(
        "`basket.append(line)` mutates the default list of `add_line`, so one customer's "
        "lines show up in the next customer's basket."
    ),
)


def _sarif_validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out


async def test_held_security_findings_are_posted_only_once_a_person_approves(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    model: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    model.script(triage("deep"), submit(SQL, SWALLOW, IMPORT))
    s = pull_scenario(fake_github)
    client = await serve(
        aiohttp_client,
        fake_github,
        app_private_key,
        tmp_path,
        model_settings(model.base_url),
        admin_token=ADMIN_TOKEN,
    )
    run = await review_pr(client, s)
    titles = [f["title"] for f in (SQL, SWALLOW, IMPORT)]
    assert not any(t in c["body"] for c in s.comments for t in titles)
    held = db_of(client)["findings"].count
    assert held >= 3
    assert f"{held} finding(s) await security review" in run["output"]["summary"]
    (summary,) = s.gh.pulls[(s.repo, s.number)].issue_comments
    assert f"{held} finding(s) held for security review" in summary["body"]
    assert not any(t in summary["body"] for t in titles)  # a count only, never the text

    monkeypatch.setenv("PRWARDEN_DB", str(tmp_path / "prwarden.db"))
    listing = _cli(["findings", "list"], capsys)
    ids = {}
    for title in titles:
        line = next(x for x in listing.splitlines() if title in x)
        assert "pending" in line and f"{s.repo}#{s.number}" in line
        ids[title] = int(line.split()[0])

    # The web page: no token, no page (a browser is sent to sign in); with it, the queue, escaped.
    anonymous = await client.get("/findings", allow_redirects=False)
    assert (anonymous.status, anonymous.headers["Location"]) == (303, "/login")
    as_api = await client.get("/findings", headers={"Accept": "application/json"})
    assert as_api.status == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (await client.get("/findings", headers=wrong)).status == 401
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    page = await client.get("/findings", headers=auth)
    assert page.status == 200
    text = await page.text()
    assert str(markupsafe.escape(SQL["title"])) in text and SQL["title"] not in text
    denied = await client.post(f"/findings/{ids[IMPORT['title']]}/approve", json={"by": "eve"})
    assert denied.status == 401

    approved = _cli(["findings", "approve", str(ids[SQL["title"]]), "--by", "alice"], capsys)
    assert "approved" in approved
    _cli(
        ["findings", "reject", str(ids[SWALLOW["title"]]), "--by", "bob", "--reason", "known"],
        capsys,
    )
    response = await client.post(
        f"/findings/{ids[IMPORT['title']]}/approve", json={"by": "carol"}, headers=auth
    )
    assert response.status == 200 and (await response.json())["state"] == "approved"

    def posted(title: str) -> list[dict[str, Any]]:
        return [c for c in s.comments if title in c["body"]]

    # Two approvals on one PR in a row: both get posted (neither job supersedes the other).
    await wait_for(lambda: bool(posted(SQL["title"])) and bool(posted(IMPORT["title"])))
    await wait_for(lambda: db_of(client)["jobs"].count_where("state != 'done'") == 0)
    for f in (SQL, IMPORT):
        (comment,) = posted(f["title"])
        assert (comment["path"], comment["line"]) == (f["path"], f["line"])
        assert comment["commit_id"] == s.head_sha
    assert posted(SWALLOW["title"]) == []
    states = {r["id"]: (r["state"], r["decided_by"]) for r in db_of(client)["findings"].rows}
    assert {i: states.pop(i) for i in ids.values()} == {
        ids[SQL["title"]]: ("posted", "alice"),
        ids[SWALLOW["title"]]: ("rejected", "bob"),
        ids[IMPORT["title"]]: ("posted", "admin token (carol)"),
    }
    assert set(states.values()) <= {("pending", None)}

    validator = _sarif_validator()
    assert await asyncio.to_thread(cli.main, ["findings", "export"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert list(validator.iter_errors(exported)) == []
    results = exported["runs"][0]["results"]
    assert len(results) == db_of(client)["findings"].count
    by_title = {r["properties"]["title"]: r for r in results}
    for f in (SQL, SWALLOW, IMPORT):
        region = by_title[f["title"]]["locations"][0]["physicalLocation"]["region"]
        assert region["endLine"] == f["line"]
        assert by_title[f["title"]]["ruleId"] == "prwarden/security"

    # ``prwarden review --format sarif`` on the same change, with the model, in a fresh DB.
    model.script(triage("deep"), submit(SQL))
    monkeypatch.setenv("PRWARDEN_DB", str(tmp_path / "local.db"))
    monkeypatch.setenv("OPENAI_BASE_URL", model.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("PRWARDEN_REVIEW_MODEL", "capable")
    argv = [
        "review",
        "--repo",
        str(EXAMPLES / "shop"),
        "--diff",
        str(EXAMPLES / "shop.diff"),
        "--format",
        "sarif",
    ]
    code = await asyncio.to_thread(cli.main, argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    log = json.loads(out.out)
    assert list(validator.iter_errors(log)) == []
    rules = {r["ruleId"] for r in log["runs"][0]["results"]}
    assert "prwarden/security" in rules and any(r.startswith("F") for r in rules)
    assert len(model.requests) == 4
