"""``GET /metrics``: valid Prometheus text whose counters match what the test made happen."""

from __future__ import annotations

import json
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bot.app import make_app
from bot.context import CTX
from bot.handlers import router
from bot.metrics import OTHER_EVENT, WEBHOOK_EVENTS
from cache.db import open_db
from review.findings import Reason
from testkit.fakes.github import FakeGitHub
from testkit.fakes.openai import FakeOpenAI, _usage
from testkit.reviewer import model_settings, script_reviewer
from tests.helpers import make_settings
from tests.reviewing import FINDING, idle, runs, serve
from tests.scenario import example_files, pull_scenario, wait_for

TOOL_CALLS = (
    ("read_file", {"path": "shop/db.py"}),
    ("search_codebase", {"query": "orders_for"}),
    ("delete_repository", {"really": True}),
)

LEAK_HOST = "collect.attacker-example.net"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: TestClient[Any, Any]) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over every label set that includes ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        script_reviewer(server, [FINDING], calls=TOOL_CALLS)
        yield server
    assert server.problems == [] and server.rejected == []


async def test_metrics_count_what_happened_and_model_metrics_survive_a_restart(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
) -> None:
    review = replace(model_settings(fake), small_change_tokens=0)
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path, review=review)
    s = pull_scenario(fake_github)
    body, headers = s.delivery(delivery="delivery-1")
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    forged = {
        **headers,
        "X-GitHub-Delivery": "delivery-2",
        "X-Hub-Signature-256": "sha256=" + "0" * 64,
    }
    assert (await client.post("/webhook", data=body, headers=forged)).status == 401
    assert (await client.post("/webhook", data=body, headers=headers)).status == 200  # again
    await wait_for(lambda: idle(client) and len(s.reviews) == 1)
    new_sha = fake_github.add_commit(s.repo, example_files(), sha="f" * 40)
    fake_github.pulls[(s.repo, s.number)].head_sha = new_sha
    body, headers = s.delivery(action="synchronize", head_sha=new_sha)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and len(runs(client)) == 2)

    m = await scrape(client)
    assert value(m, "prwarden_webhooks_total", event="pull_request", status="202") == 2
    assert value(m, "prwarden_webhooks_total", event="pull_request", status="401") == 1
    assert value(m, "prwarden_webhooks_total", event="pull_request", status="200") == 1
    assert value(m, "prwarden_reviews_total", mode="model", outcome="posted") == 1
    assert value(m, "prwarden_reviews_total", mode="cached", outcome="unchanged") == 1
    assert value(m, "prwarden_review_cache_total", result="miss") == 1
    assert value(m, "prwarden_review_cache_total", result="hit") == 1

    by_model = Counter(r["model"] for r in fake.requests)
    assert set(by_model) == {"gpt-4o-mini", "gpt-4o"}
    for model, calls in by_model.items():
        assert total(m, "prwarden_model_calls_total", model=model) == calls
        sent = sum(_usage(r, "")["prompt_tokens"] for r in fake.requests if r["model"] == model)
        tokens_in = value(m, "prwarden_model_tokens_total", model=model, direction="in")
        tokens_out = value(m, "prwarden_model_tokens_total", model=model, direction="out")
        assert tokens_in == sent
        cost = value(m, "prwarden_model_cost_usd_total", model=model)
        cached = value(m, "prwarden_model_tokens_total", model=model, direction="cached")
        assert 0 <= cached <= tokens_in
        cost_now = review.cost(model, int(tokens_in), int(tokens_out), int(cached))
        assert cost == pytest.approx(cost_now)
        assert cost > 0
    assert (
        value(m, "prwarden_model_calls_total", model="gpt-4o-mini", purpose="triage", outcome="ok")
        == 1
    )

    for tool, outcome in (("read_file", "ok"), ("search_codebase", "ok"), ("(other)", "error")):
        assert value(m, "prwarden_tool_calls_total", tool=tool, outcome=outcome) == 1
        assert value(m, "prwarden_tool_duration_seconds_count", tool=tool) == 1
        assert value(m, "prwarden_tool_duration_seconds_bucket", tool=tool, le="+Inf") == 1
    assert total(m, "prwarden_tool_calls_total", tool="delete_repository") == 0

    posted = len(s.comments)
    assert posted >= 2 and any(FINDING["title"] in c["body"] for c in s.comments)
    assert value(m, "prwarden_findings_total", status="post", reason="none") == posted
    assert value(m, "prwarden_findings_total", status="hold", reason="held") == 2
    assert value(m, "prwarden_findings_total", status="drop", reason="already_posted") == posted
    # two reviews, each with the feedback sweep it queued beside it
    assert value(m, "prwarden_queue_depth", state="done") == 4
    assert value(m, "prwarden_queue_depth", state="queued") == 0

    restarted = make_app(
        make_settings(app_private_key, api_url=fake_github.base_url, workspaces=tmp_path / "ws"),
        db=open_db(tmp_path / "prwarden.db"),
        workers=False,
    )
    again = await scrape(await aiohttp_client(restarted))
    for name in (
        "prwarden_model_calls_total",
        "prwarden_model_tokens_total",
        "prwarden_tool_calls_total",
    ):
        assert total(again, name) == total(m, name) > 0
    assert total(again, "prwarden_webhooks_total") == 0
    assert client.app[CTX].db is not restarted[CTX].db


# -- labels come from closed sets ---------------------------------------------------------


async def test_unsigned_posts_with_made_up_events_do_not_grow_metrics(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request"}
    warm = await client.post("/webhook", data=b"{}", headers={**headers, "X-GitHub-Delivery": "w"})
    assert warm.status == 401
    warm = await client.post(
        "/webhook", data=b"{}", headers={**headers, "X-GitHub-Event": "x", "X-GitHub-Delivery": "y"}
    )
    assert warm.status == 401
    before = await (await client.get("/metrics")).text()
    sent = 500
    for _ in range(sent):
        made_up = {"X-GitHub-Event": secrets.token_hex(12), "X-GitHub-Delivery": str(uuid.uuid4())}
        response = await client.post("/webhook", data=b"{}", headers={**headers, **made_up})
        assert response.status == 401
    after = await (await client.get("/metrics")).text()

    # Same series, only their counts moved: nothing a request said became a label.
    assert _series(after) == _series(before)
    m = await scrape(client)
    assert value(m, "prwarden_webhooks_total", event="other", status="401") == sent + 1
    assert value(m, "prwarden_webhooks_total", event="pull_request", status="401") == 1
    events = {dict(labels)["event"] for (name, labels) in m if name == "prwarden_webhooks_total"}
    assert events <= WEBHOOK_EVENTS | {OTHER_EVENT}


def _series(text: str) -> set[str]:
    """Each sample line's name and labels (its value cut off)."""
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}


def test_every_event_a_handler_takes_has_its_own_label() -> None:
    # gidgethub's combined router holds every route of the routers it was built from.
    routed = set(router._shallow_routes) | set(router._deep_routes)
    assert {"pull_request", "issue_comment"} <= routed <= WEBHOOK_EVENTS


async def test_a_dropped_findings_detail_never_reaches_metrics(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    near = {**FINDING, "line": 22, "title": FINDING["title"] + "."}
    outside = {**FINDING, "title": "See the fix", "body": f"Details: https://{LEAK_HOST}/x"}
    async with FakeOpenAI() as model:
        script_reviewer(model, [FINDING, near, outside])
        review = model_settings(model)
        client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path, review=review)
        s = pull_scenario(fake_github)
        body, headers = s.delivery()
        assert (await client.post("/webhook", data=body, headers=headers)).status == 202
        await wait_for(lambda: idle(client) and len(s.reviews) == 1)

    rows = json.loads(runs(client)[0]["findings"])
    details = [r for row in rows for r in row["reasons"]]
    codes = {row["code"] for row in rows if row["status"] == "drop"}
    assert {Reason.DUPLICATE.value, Reason.UNSAFE.value} <= codes
    assert any(LEAK_HOST in d for d in details) and any("shop/db.py:" in d for d in details)
    text = await (await client.get("/metrics")).text()
    assert LEAK_HOST not in text and "shop/db.py" not in text and "same point" not in text
    m = await scrape(client)
    reasons = {dict(labels)["reason"] for (name, labels) in m if name == "prwarden_findings_total"}
    assert reasons and reasons <= {r.value for r in Reason} | {"none"}
    assert value(m, "prwarden_findings_total", status="drop", reason="unsafe") >= 1


async def test_metrics_token_when_set_is_required(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    token = "metrics-token-0123456789"
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, metrics_token=token
    )
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert right.status == 200 and "prwarden_queue_depth" in await right.text()
