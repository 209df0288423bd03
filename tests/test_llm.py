"""LLMClient against the fake OpenAI server, through the real openai client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlite_utils

from prwarden import tokens
from prwarden.errors import LLMError
from review.llm import Completion, LLMClient, retry_after_seconds
from review.request import CallContext
from review.settings import ReviewSettings
from tests.fakes.openai import (
    Call,
    FakeOpenAI,
    closed_port,
    fault,
    rate_limited,
    slow,
    text,
    tool_calls,
)

KEY = "sk-test-Zq81SECRETkey"
CONTEXT = CallContext(installation_id=7, repo="octo/widgets", pr_number=12)
USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}


Make = Callable[..., LLMClient]


@pytest.fixture
async def make(fake: FakeOpenAI, db: sqlite_utils.Database) -> AsyncIterator[Make]:
    clients: list[LLMClient] = []

    def build(**overrides: Any) -> LLMClient:
        options: dict[str, Any] = {
            "base_url": fake.base_url,
            "api_key": KEY,
            "llm_retries": 2,
            "llm_timeout": 5.0,
        }
        options.update(overrides)
        client = LLMClient(ReviewSettings(**options), db=db, context=CONTEXT, backoff=0.01)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


def _rows(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db["llm_calls"].rows_where(order_by="id"))


async def _hello(llm: LLMClient, **extra: Any) -> Completion:
    return await llm.chat(
        purpose="review",
        model="gpt-4o-mini",
        prompt_version="review@abc",
        messages=[{"role": "user", "content": "hello"}],
        **extra,
    )


async def test_a_call_is_logged_with_tokens_latency_cost_and_prompt_version(
    fake: FakeOpenAI, make: Make, db: sqlite_utils.Database
) -> None:
    fake.script(text("hi there", usage=USAGE))
    llm = make()
    completion = await _hello(llm)
    assert completion.content == "hi there" and completion.finish_reason == "stop"
    assert (completion.tokens_in, completion.tokens_out) == (1200, 300)
    [row] = _rows(db)
    expected_cost = ReviewSettings().cost("gpt-4o-mini", 1200, 300)
    assert expected_cost > 0
    assert row["purpose"] == "review" and row["model"] == "gpt-4o-mini"
    assert row["prompt_version"] == "review@abc" and row["outcome"] == "ok"
    assert (row["tokens_in"], row["tokens_out"]) == (1200, 300)
    assert row["cost"] == pytest.approx(expected_cost)
    assert row["latency_ms"] > 0
    assert (row["installation_id"], row["repo"], row["pr_number"]) == (7, "octo/widgets", 12)
    assert llm.usage.calls == 1 and llm.usage.cost == pytest.approx(expected_cost)
    assert fake.requests[0]["temperature"] == pytest.approx(0.1)


async def test_one_row_per_call_and_a_running_usage_total(
    fake: FakeOpenAI, make: Make, db: sqlite_utils.Database
) -> None:
    fake.script(text("a", usage=USAGE), text("b", usage=USAGE), text("c", usage=USAGE))
    llm = make()
    for _ in range(3):
        await _hello(llm)
    assert len(_rows(db)) == 3
    assert (llm.usage.calls, llm.usage.tokens_in, llm.usage.tokens_out) == (3, 3600, 900)


async def test_tool_calls_come_back_with_a_message_ready_for_the_history(
    fake: FakeOpenAI, make: Make
) -> None:
    search = Call("search", {"query": "x"})
    fake.script(tool_calls(search, ("lint", '{"path": "a.py"}')), text("done"))
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("search", "lint")
    ]
    llm = make()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    first = await llm.chat(
        purpose="review", model="gpt-4o", prompt_version="v", messages=messages, tools=tools
    )
    assert first.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("search", '{"query": "x"}'),
        ("lint", '{"path": "a.py"}'),
    ]
    assert first.tool_calls[0].id == search.id
    messages.append(first.message)
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in first.tool_calls]
    second = await llm.chat(
        purpose="review", model="gpt-4o", prompt_version="v", messages=messages, tools=tools
    )
    assert second.content == "done" and fake.rejected == []


async def test_429_is_retried_after_the_servers_retry_after(
    fake: FakeOpenAI, make: Make, db: sqlite_utils.Database
) -> None:
    fake.script(rate_limited(retry_after=1), text("ok"))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    settings = ReviewSettings(base_url=fake.base_url, api_key=KEY, llm_retries=1)
    llm = LLMClient(settings, db=db, sleep=sleep)
    completion = await _hello(llm)
    await llm.aclose()
    assert waits == [1.0]
    assert completion.content == "ok"
    assert [r["outcome"] for r in _rows(db)] == ["error:http_429", "ok"]


async def test_a_long_retry_after_is_capped(fake: FakeOpenAI, db: sqlite_utils.Database) -> None:
    fake.script(rate_limited(retry_after=600), text("ok"))
    settings = ReviewSettings(base_url=fake.base_url, api_key=KEY, llm_retries=1)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    llm = LLMClient(settings, db=db, max_retry_wait=0.05, sleep=sleep)
    assert (await _hello(llm)).content == "ok"
    await llm.aclose()
    assert waits == [0.05]


async def test_server_errors_are_retried_then_succeed(
    fake: FakeOpenAI, make: Make, db: sqlite_utils.Database
) -> None:
    fake.script(fault(500), fault(503, "The engine is currently overloaded"), text("ok"))
    assert (await _hello(make())).content == "ok"
    assert [r["outcome"] for r in _rows(db)] == ["error:http_500", "error:http_503", "ok"]


async def test_server_errors_that_persist_raise_a_retryable_llm_error(
    fake: FakeOpenAI, make: Make, db: sqlite_utils.Database
) -> None:
    fake.script(*(fault(503) for _ in range(3)))
    with pytest.raises(LLMError) as info:
        await _hello(make())
    assert info.value.status == 503 and info.value.retryable
    assert len(_rows(db)) == 3


async def test_a_bad_request_is_not_retried(
    fake: FakeOpenAI, make: Make, db: sqlite_utils.Database
) -> None:
    fake.script(fault(400, "Invalid 'messages[0]'", type_="invalid_request_error"))
    with pytest.raises(LLMError) as info:
        await _hello(make())
    assert info.value.status == 400 and not info.value.retryable
    assert "Invalid 'messages[0]'" in str(info.value)
    assert [r["outcome"] for r in _rows(db)] == ["error:http_400"]


async def test_a_request_the_api_refuses_is_an_llm_error(fake: FakeOpenAI, make: Make) -> None:
    llm = make()
    with pytest.raises(LLMError) as info:
        await llm.chat(
            purpose="review",
            model="gpt-4o-mini",
            prompt_version="v",
            messages=[{"role": "tool", "tool_call_id": "call_x", "content": "orphan"}],
        )
    assert info.value.status == 400
    assert len(fake.rejected) == 1


async def test_endpoint_down_raises_llm_error_without_the_key(db: sqlite_utils.Database) -> None:
    settings = ReviewSettings(
        base_url=f"http://127.0.0.1:{closed_port()}/v1", api_key=KEY, llm_retries=2
    )
    llm = LLMClient(settings, db=db, backoff=0.01)
    with pytest.raises(LLMError) as info:
        await _hello(llm)
    await llm.aclose()
    assert info.value.retryable and info.value.status is None
    assert "unreachable" in str(info.value) and KEY not in str(info.value)
    assert [r["outcome"] for r in _rows(db)] == ["error:connection"] * 3
    assert KEY not in repr(_rows(db)) and KEY not in repr(settings)


async def test_a_slow_endpoint_times_out(
    fake: FakeOpenAI, make: Make, db: sqlite_utils.Database
) -> None:
    fake.script(slow(3, text("late")))
    with pytest.raises(LLMError) as info:
        await _hello(make(llm_timeout=0.2, llm_retries=0))
    assert "timed out" in str(info.value) and info.value.retryable
    assert [r["outcome"] for r in _rows(db)] == ["error:timeout"]


async def test_missing_usage_is_estimated_and_says_so(
    fake: FakeOpenAI, make: Make, db: sqlite_utils.Database
) -> None:
    said = "The change looks fine, nothing to report. " * 10
    fake.script(text(said, usage=False))
    completion = await _hello(make())
    assert completion.usage_estimated and completion.tokens_out == tokens.estimate(said)
    # The estimate is close to what the provider would count (o200k_base: 91 tokens).
    assert 80 <= completion.tokens_out <= 105
    assert completion.tokens_in > 0
    [row] = _rows(db)
    assert row["outcome"] == "ok:usage_estimated" and row["tokens_out"] == completion.tokens_out


async def test_the_key_is_sent_but_never_echoed(
    fake: FakeOpenAI, make: Make, db: sqlite_utils.Database
) -> None:
    fake.script(fault(401, f"Incorrect API key provided: {KEY}", type_="invalid_request_error"))
    with pytest.raises(LLMError) as info:
        await _hello(make())
    assert fake.headers[0]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in str(info.value) and "[REDACTED]" in str(info.value)
    assert KEY not in repr(_rows(db))


def test_retry_after_headers() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "3"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after_seconds({}) is None


async def test_a_response_without_choices_is_an_llm_error(
    fake: FakeOpenAI, make: Make, db: sqlite_utils.Database
) -> None:
    def empty(request: dict[str, Any]) -> Any:
        body = dict(text("x")(request))  # type: ignore[arg-type]
        body["choices"] = []
        return body

    fake.script(empty)
    with pytest.raises(LLMError) as info:
        await _hello(make())
    assert "no choices" in str(info.value) and not info.value.retryable
    assert [r["outcome"] for r in _rows(db)] == ["error:bad_response"]
