"""The webhook edge: fail closed, refuse bad input with the right status, never enqueue twice."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import make_app
from bot.config import Settings
from bot.context import CTX
from cache import deliveries
from cache.db import open_db
from prwarden.errors import ConfigError
from testkit.signing import SECRET, delivery_headers, payload, sign
from tests.helpers import make_settings


@pytest.fixture
async def client(aiohttp_client: Any, app_private_key: str) -> TestClient:
    app = make_app(make_settings(app_private_key), db=open_db(":memory:"), workers=False)
    return await aiohttp_client(app)


def _jobs(client: TestClient) -> list[Any]:
    return list(client.app[CTX].queue.jobs())


async def _post(client: TestClient, event: str, data: Any, **kw: Any) -> Any:
    body = json.dumps(data).encode()
    return await client.post("/webhook", data=body, headers=delivery_headers(event, body, **kw))


def test_no_secret_no_start(app_private_key: str) -> None:
    settings = make_settings(app_private_key)
    for broken in (
        Settings(**{**_fields(settings), "webhook_secret": ""}),
        Settings(**{**_fields(settings), "app_id": ""}),
        Settings(**{**_fields(settings), "private_key": ""}),
        Settings(**{**_fields(settings), "private_key": "not a key"}),
    ):
        with pytest.raises(ConfigError):
            make_app(broken, db=open_db(":memory:"), workers=False)


def _fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


async def test_pull_request_opened_is_queued(client: TestClient) -> None:
    data = payload("pull_request.opened.2")
    response = await _post(client, "pull_request", data)
    assert response.status == 202
    body = await response.json()
    jobs = _jobs(client)
    assert [j.id for j in jobs] == body["jobs"]
    job = jobs[0]
    assert (job.kind, job.repo, job.pr_number, job.head_sha) == (
        "review",
        data["repository"]["full_name"],
        data["number"],
        data["pull_request"]["head"]["sha"],
    )
    assert job.installation_id == data["installation"]["id"]


async def test_forged_signature_is_401_and_creates_no_job(client: TestClient) -> None:
    body = json.dumps(payload("pull_request.opened.2")).encode()
    headers = delivery_headers("pull_request", body, secret="wrong-secret")
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 401
    headers = delivery_headers("pull_request", body)
    response = await client.post("/webhook", data=body + b" ", headers=headers)
    assert response.status == 401
    assert _jobs(client) == []


@pytest.mark.parametrize(
    "signature",
    ["", "sha1=" + "0" * 40, "sha256=xyz", "sha256=" + "0" * 64],
)
async def test_missing_or_malformed_signature_is_401(client: TestClient, signature: str) -> None:
    body = json.dumps(payload("pull_request.opened.2")).encode()
    headers = delivery_headers("pull_request", body)
    headers["X-Hub-Signature-256"] = signature
    if not signature:
        del headers["X-Hub-Signature-256"]
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 401
    assert _jobs(client) == []


async def test_sha1_signature_alone_is_not_accepted(client: TestClient) -> None:
    import hashlib
    import hmac

    body = json.dumps(payload("pull_request.opened.2")).encode()
    headers = delivery_headers("pull_request", body)
    del headers["X-Hub-Signature-256"]
    headers["X-Hub-Signature"] = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 401


async def test_redelivery_is_acknowledged_without_a_second_job(client: TestClient) -> None:
    data = payload("pull_request.opened.2")
    first = await _post(client, "pull_request", data, delivery="d-1")
    again = await _post(client, "pull_request", data, delivery="d-1")
    assert first.status == 202
    assert again.status == 200
    assert (await again.json())["status"] == "duplicate delivery"
    assert len(_jobs(client)) == 1


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b""])
async def test_malformed_body_is_400(client: TestClient, body: bytes) -> None:
    response = await client.post(
        "/webhook", data=body, headers=delivery_headers("pull_request", body)
    )
    assert response.status == 400
    assert "error" in await response.json()
    assert _jobs(client) == []


@pytest.mark.parametrize("missing", ["X-GitHub-Event", "X-GitHub-Delivery"])
async def test_missing_headers_are_400(client: TestClient, missing: str) -> None:
    body = json.dumps(payload("ping.1")).encode()
    headers = delivery_headers("ping", body)
    del headers[missing]
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 400


async def test_wrong_content_type_is_400(client: TestClient) -> None:
    body = b"payload=%7B%7D"
    headers = delivery_headers("ping", body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 400


async def test_body_over_25_mb_is_413(client: TestClient) -> None:
    body = b'{"zen": "' + b"x" * (26 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/webhook",
        data=io.BytesIO(body),
        headers={**delivery_headers("ping", b"{}"), "X-Hub-Signature-256": sign(body)},
    )
    assert response.status == 413
    assert _jobs(client) == []


async def test_draft_waits_for_ready_for_review(client: TestClient) -> None:
    data = payload("pull_request.opened.2")
    data["pull_request"]["draft"] = True
    response = await _post(client, "pull_request", data)
    assert response.status == 200
    assert _jobs(client) == []
    ready = payload("pull_request.ready_for_review.2")
    response = await _post(client, "pull_request", ready)
    assert response.status == 202
    assert len(_jobs(client)) == 1


async def test_newer_push_supersedes_the_queued_review(client: TestClient) -> None:
    data = payload("pull_request.opened.2")
    await _post(client, "pull_request", data)
    newer = json.loads(json.dumps(data))
    newer["action"] = "synchronize"
    newer["pull_request"]["head"]["sha"] = "f" * 40
    await _post(client, "pull_request", newer)
    states = {j.head_sha: j.state for j in client.app[CTX].queue.jobs()}
    assert states[data["pull_request"]["head"]["sha"]] == "superseded"
    assert states["f" * 40] == "queued"


async def test_installation_events_remember_and_forget(client: TestClient) -> None:
    created = payload("installation.created.1")
    inst = created["installation"]["id"]
    response = await _post(client, "installation", created)
    assert response.status == 200
    db = client.app[CTX].db
    assert deliveries.is_installed(db, inst)
    removed = payload("installation.deleted.1")
    removed["installation"]["id"] = inst
    await _post(client, "installation", removed)
    assert not deliveries.is_installed(db, inst)


async def test_ping_and_healthz(client: TestClient) -> None:
    response = await _post(client, "ping", payload("ping.1"))
    assert response.status == 200
    health = await client.get("/healthz")
    assert health.status == 200
    assert (await health.json())["status"] == "ok"


async def test_slash_command_queues_a_command_job(client: TestClient) -> None:
    data = payload("issue_comment.created")
    data["issue"]["pull_request"] = {"url": "https://api.github.com/x"}
    data["comment"]["body"] = "/prwarden pause"
    data["comment"]["user"]["type"] = "User"
    response = await _post(client, "issue_comment", data)
    assert response.status == 202
    (job,) = _jobs(client)
    assert job.kind == "command"
    assert job.payload["command"] == "pause"


async def test_slash_command_with_arguments_is_ignored(client: TestClient) -> None:
    data = payload("issue_comment.created")
    data["issue"]["pull_request"] = {"url": "https://api.github.com/x"}
    data["comment"]["body"] = "/prwarden review --model evil --base-url http://attacker"
    response = await _post(client, "issue_comment", data)
    assert response.status == 200
    assert _jobs(client) == []
