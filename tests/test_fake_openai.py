"""The fake OpenAI server accepts what the real API accepts and refuses what it refuses."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from review.submit import SUBMIT_REVIEW_TOOL
from review.triage import TRIAGE_TOOL
from tests.fakes.openai import (
    CORPUS,
    Call,
    FakeOpenAI,
    InvalidRequest,
    check_request,
    schema_errors,
    text,
    tool_calls,
)

KEY = "sk-test-fake"


def _tool(name: str, parameters: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    params = parameters if parameters is not None else {"type": "object", "properties": {}}
    return {"type": "function", "function": {"name": name, "parameters": params, **extra}}


def _client(fake: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)


def _example(name: str) -> Any:
    return json.loads((CORPUS / "examples" / name).read_text())


def test_the_corpus_examples_are_valid() -> None:
    check_request(_example("request_two_tools_tool_reply.json"))
    assert (
        schema_errors("CreateChatCompletionResponse", _example("response_parallel_tool_calls.json"))
        == []
    )
    assert schema_errors("ListModelsResponse", _example("models_list_response.json")) == []


async def test_accepts_the_real_clients_tool_round_trip() -> None:
    first = Call("get_x", {"a": 1})
    second = Call("get_y", {})
    tools: list[Any] = [_tool("get_x"), _tool("get_y")]
    async with FakeOpenAI([tool_calls(first, second), text("done")]) as fake:
        client = _client(fake)
        messages: list[Any] = [{"role": "user", "content": "hi"}]
        reply = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            tools=tools,
        )
        calls = reply.choices[0].message.tool_calls or []
        assert [c.id for c in calls] == [first.id, second.id]
        assert reply.id.startswith("chatcmpl-") and reply.usage is not None
        assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
        messages.append(reply.choices[0].message.model_dump(exclude_none=True))
        messages += [{"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in calls]
        final = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            tools=tools,
        )
        assert final.choices[0].message.content == "done"
        models = await client.models.list()
        await client.close()
    assert [m.id for m in models.data] == list(fake.models)
    assert len(fake.requests) == 2 and fake.rejected == [] and fake.problems == []
    assert fake.headers[0]["Authorization"] == f"Bearer {KEY}"


async def _rejected(messages: list[dict[str, Any]], **extra: Any) -> openai.BadRequestError:
    async with FakeOpenAI([text("never")]) as fake:
        client = _client(fake)
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model="gpt-4o-mini", messages=messages, **extra)  # type: ignore[arg-type]
        await client.close()
    assert fake.requests == [] and len(fake.rejected) == 1
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    assert schema_errors("ErrorResponse", {"error": body}) == []
    return info.value


def _assistant(*ids: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "get_x", "arguments": "{}"}}
            for i in ids
        ],
    }


async def test_rejects_a_tool_message_without_a_matching_call() -> None:
    error = await _rejected(
        [
            {"role": "user", "content": "hi"},
            _assistant("call_a"),
            {"role": "tool", "tool_call_id": "call_b", "content": "x"},
        ],
        tools=[_tool("get_x")],
    )
    assert "must be a response to a preceeding message with 'tool_calls'" in error.message


async def test_rejects_a_tool_message_after_a_user_message() -> None:
    await _rejected(
        [
            _assistant("call_a"),
            {"role": "tool", "tool_call_id": "call_a", "content": "x"},
            {"role": "user", "content": "more"},
            {"role": "tool", "tool_call_id": "call_a", "content": "again"},
        ],
        tools=[_tool("get_x")],
    )


async def test_rejects_tool_calls_left_unanswered() -> None:
    error = await _rejected(
        [
            {"role": "user", "content": "hi"},
            _assistant("call_a", "call_b"),
            {"role": "tool", "tool_call_id": "call_a", "content": "x"},
            {"role": "user", "content": "go on"},
        ],
        tools=[_tool("get_x")],
    )
    assert "call_b" in error.message
    assert isinstance(error.body, dict) and error.body["param"] == "messages.[1].role"


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "object", "properties": {"x": {"type": "strng"}}},
        {"type": "object", "required": "x"},
        {"type": "array", "items": {"type": "string"}},
    ],
)
async def test_rejects_function_parameters_that_are_not_a_json_schema_object(
    parameters: dict[str, Any],
) -> None:
    error = await _rejected([{"role": "user", "content": "hi"}], tools=[_tool("get_x", parameters)])
    assert isinstance(error.body, dict) and error.body["code"] == "invalid_function_parameters"
    assert error.body["param"] == "tools[0].function.parameters"


async def test_rejects_a_strict_function_with_an_optional_property() -> None:
    params = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    error = await _rejected(
        [{"role": "user", "content": "hi"}], tools=[_tool("get_x", params, strict=True)]
    )
    assert "Missing 'b'" in error.message


def test_our_strict_functions_pass_the_strict_rules() -> None:
    check_request(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [SUBMIT_REVIEW_TOOL, TRIAGE_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "submit_review"}},
        }
    )


async def test_rejects_tool_choice_naming_an_unknown_function() -> None:
    error = await _rejected(
        [{"role": "user", "content": "hi"}],
        tools=[_tool("get_x")],
        tool_choice={"type": "function", "function": {"name": "get_y"}},
    )
    assert "tool_choice 'get_y' not found" in error.message


async def test_rejects_tool_choice_without_tools() -> None:
    await _rejected([{"role": "user", "content": "hi"}], tool_choice="auto")


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "hi"}]},
        {"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "hi"}]},
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 3},
        {"model": "gpt-4o-mini", "messages": [{"role": "tool", "content": "no id"}]},
        {"model": "gpt-4o-mini", "messages": "hi"},
    ],
)
async def test_rejects_schema_invalid_bodies(body: dict[str, Any]) -> None:
    async with (
        FakeOpenAI([text("never")]) as fake,
        aiohttp.ClientSession() as http,
        http.post(
            f"{fake.base_url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {KEY}"},
        ) as response,
    ):
        status, answer = response.status, await response.json()
    assert status == 400
    assert schema_errors("ErrorResponse", answer) == []
    assert fake.requests == [] and len(fake.rejected) == 1


async def test_accepts_explicit_nulls_on_nullable_fields() -> None:
    check_request(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "seed": None,
            "stop": None,
            "max_tokens": None,
        }
    )


async def test_refuses_a_request_without_an_api_key() -> None:
    async with (
        FakeOpenAI([text("never")]) as fake,
        aiohttp.ClientSession() as http,
        http.post(
            f"{fake.base_url}/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        ) as response,
    ):
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "missing_api_key"


async def test_a_scripted_response_that_drifts_from_the_schema_is_caught() -> None:
    def drifted(request: dict[str, Any]) -> dict[str, Any]:
        body = dict(text("x")(request))  # type: ignore[arg-type]
        body["choices"] = [{**body["choices"][0], "finish_reason": "done"}]
        return body

    async with FakeOpenAI([drifted]) as fake:
        client = _client(fake)
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        await client.close()
    assert len(fake.problems) == 1 and "finish_reason" in fake.problems[0]


async def test_running_out_of_script_is_a_recorded_problem() -> None:
    async with FakeOpenAI([]) as fake:
        client = _client(fake)
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        await client.close()
    assert fake.problems == ["fake OpenAI: no scripted turn for request 1"]


def test_check_request_reports_the_param() -> None:
    with pytest.raises(InvalidRequest) as info:
        check_request(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [_tool("a"), _tool("a")],
            }
        )
    assert info.value.param == "tools[1]"


def test_cached_tokens_follow_openais_rule() -> None:
    from tests.fakes.openai import cacheable

    assert [cacheable(n) for n in (0, 1023, 1024, 1151, 1152, 5000)] == [
        0,
        0,
        1024,
        1024,
        1152,
        4992,
    ]
