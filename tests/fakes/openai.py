"""A fake OpenAI-compatible server: aiohttp on loopback, scripted per test, strict as the real API.

Every request is validated against OpenAI's published OpenAPI description (the chat subset in
``corpora/openai_openapi``, with its OpenAPI 3.0 ``nullable`` leftovers rewritten to
``anyOf [..., {type: null}]``) and against the rules the real API enforces beyond the schema
(tool messages answering the preceding assistant's tool calls, valid JSON Schema parameters,
strict function schemas, ``tool_choice`` naming a known function). A rejected request gets
status 400 in OpenAI's error shape, and is recorded in ``rejected``.

The script is a list of turns, one per accepted chat request. A turn is a response body, or a
callable taking the request JSON and returning a body, a ``Fault`` (status, headers, body) or
an awaitable of either. Scripted bodies are validated against the response schema too, so the
fake cannot drift from the real protocol; a bad one is answered with 500 and recorded in
``problems``.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import inspect
import json
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource

import corpora

CORPUS = corpora.ROOT / "openai_openapi"
SPEC_PATH = CORPUS / "chat-subset.openapi.json"
_SPEC_URN = "urn:openai-openapi:chat-subset"


class Fault(NamedTuple):
    """A non-200 answer: status, headers, JSON body."""

    status: int
    headers: Mapping[str, str]
    body: Mapping[str, Any]


Reply = Mapping[str, Any] | Fault
Handler = Callable[[dict[str, Any]], Reply | Awaitable[Reply]]
Turn = Mapping[str, Any] | Handler


class Rejection(NamedTuple):
    body: Any
    status: int
    message: str
    param: str | None


def _normalize_nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_normalize_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _normalize_nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _spec() -> dict[str, Any]:
    raw = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    normalized: dict[str, Any] = _normalize_nullable(raw)
    return normalized


@cache
def validator(component: str) -> Draft202012Validator:
    """A validator for one component schema of the chat subset (nullable normalized)."""
    resource = Resource.from_contents(_spec(), default_specification=_draft())
    registry: Registry[Any] = Registry().with_resource(_SPEC_URN, resource)
    return Draft202012Validator(
        {"$ref": f"{_SPEC_URN}#/components/schemas/{component}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _draft() -> Any:
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012


def schema_errors(component: str, instance: Any) -> list[str]:
    """Every schema error of ``instance`` against ``component``, as readable strings."""
    errors = sorted(validator(component).iter_errors(instance), key=lambda e: list(e.path))
    return [f"{_json_path(e.absolute_path)}: {_best(e).message}"[:500] for e in errors]


def _best(error: Any) -> Any:
    from jsonschema.exceptions import best_match

    if error.context:
        return best_match(error.context)
    return error


def _json_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "(root)"


def error_body(
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class InvalidRequest(Exception):
    """A request the real API answers with 400 (message, param and code as OpenAI sends them)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


# -- request rules beyond the schema ------------------------------------------------------


def check_request(body: Any) -> None:
    """Raise ``InvalidRequest`` for anything the real API answers with 400 or refuses."""
    if not isinstance(body, dict):
        raise InvalidRequest("We could not parse the JSON body of your request.")
    errors = schema_errors("CreateChatCompletionRequest", body)
    if errors:
        raise InvalidRequest("Invalid request: " + "; ".join(errors[:5]))
    _check_tools(body)
    _check_tool_choice(body)
    _check_message_order(body["messages"])


def _check_tools(body: dict[str, Any]) -> None:
    seen: set[str] = set()
    for i, tool in enumerate(body.get("tools") or []):
        if tool.get("type") != "function":
            continue
        fn = tool["function"]
        name = fn["name"]
        if name in seen:
            raise InvalidRequest(f"Duplicate function name '{name}' in tools.", f"tools[{i}]")
        seen.add(name)
        params = fn.get("parameters")
        if params is None:
            continue
        param = f"tools[{i}].function.parameters"
        try:
            Draft202012Validator.check_schema(params)
        except SchemaError as exc:
            raise InvalidRequest(
                f"Invalid schema for function '{name}': {exc.message}",
                param,
                "invalid_function_parameters",
            ) from None
        if params.get("type") != "object":
            raise InvalidRequest(
                f"Invalid schema for function '{name}': schema must be a JSON Schema of "
                f"'type: \"object\"', got 'type: \"{params.get('type')}\"'.",
                param,
                "invalid_function_parameters",
            )
        if fn.get("strict"):
            problem = _strict_problem(params, ())
            if problem:
                raise InvalidRequest(
                    f"Invalid schema for function '{name}': {problem}",
                    param,
                    "invalid_function_parameters",
                )


def _strict_problem(node: Any, context: tuple[str, ...]) -> str | None:
    """Structured Outputs' rules: objects close their properties and require every one."""
    if not isinstance(node, dict):
        return None
    types = node.get("type")
    is_object = types == "object" or (isinstance(types, list) and "object" in types)
    if is_object:
        if node.get("additionalProperties") is not False:
            return (
                f"In context={context}, 'additionalProperties' is required to be supplied "
                "and to be false."
            )
        props = node.get("properties") or {}
        missing = [key for key in props if key not in (node.get("required") or [])]
        if missing:
            return (
                f"In context={context}, 'required' is required to be supplied and to be an "
                f"array including every key in properties. Missing '{missing[0]}'."
            )
        for key, child in props.items():
            problem = _strict_problem(child, (*context, "properties", key))
            if problem:
                return problem
    for key in ("items",):
        if key in node:
            problem = _strict_problem(node[key], (*context, key))
            if problem:
                return problem
    for key in ("anyOf", "allOf"):
        for n, child in enumerate(node.get(key) or []):
            problem = _strict_problem(child, (*context, key, str(n)))
            if problem:
                return problem
    for name, child in (node.get("$defs") or {}).items():
        problem = _strict_problem(child, (*context, "$defs", name))
        if problem:
            return problem
    return None


def _check_tool_choice(body: dict[str, Any]) -> None:
    choice = body.get("tool_choice")
    if choice is None:
        return
    tools = body.get("tools") or []
    if not tools:
        raise InvalidRequest(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
        )
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice["function"]["name"]
        names = {t["function"]["name"] for t in tools if t.get("type") == "function"}
        if name not in names:
            raise InvalidRequest(
                f"Invalid value for 'tool_choice': tool_choice '{name}' not found in 'tools' "
                "parameter.",
                "tool_choice",
            )


def _check_message_order(messages: list[dict[str, Any]]) -> None:
    pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message
    answerable: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg["role"]
        if role == "tool":
            call_id = msg["tool_call_id"]
            if call_id not in answerable:
                raise InvalidRequest(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            answerable.discard(call_id)
            pending.pop(call_id, None)
            continue
        if pending:
            raise InvalidRequest(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(pending))}",
                f"messages.[{min(pending.values())}].role",
            )
        answerable = set()
        if role == "assistant":
            for call in msg.get("tool_calls") or []:
                pending[call["id"]] = i
                answerable.add(call["id"])
    if pending:
        raise InvalidRequest(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(sorted(pending))}",
            f"messages.[{min(pending.values())}].role",
        )


# -- response builders --------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """The fake's own token count when none is given: four characters a token."""
    return max(1, len(text) // 4) if text else 0


CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128
MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3


def _segments(request: Mapping[str, Any]) -> list[str]:
    """The prompt as the provider lays it out for its prefix cache: tools, then each message."""
    parts = [json.dumps(request.get("tools") or [], ensure_ascii=False)]
    for message in request.get("messages") or []:
        text = message.get("content")
        if not isinstance(text, str):
            text = json.dumps(text, ensure_ascii=False) if text is not None else ""
        extra = {k: message[k] for k in ("name", "tool_calls", "tool_call_id") if k in message}
        parts.append(f"{message.get('role')}\n{text}" + (json.dumps(extra) if extra else ""))
    return parts


def cacheable(prefix_tokens: int) -> int:
    """What OpenAI reports as cached for an identical prefix of ``prefix_tokens``: nothing
    under 1,024 tokens, then 1,024 plus whole steps of 128."""
    if prefix_tokens < CACHE_MIN_TOKENS:
        return 0
    return CACHE_MIN_TOKENS + (prefix_tokens - CACHE_MIN_TOKENS) // CACHE_STEP_TOKENS * 128


class TokenMeter:
    """Counts prompt tokens (chat accounting: a few tokens per message) and the prefix a
    provider would have cached from earlier requests to the same model."""

    def __init__(self, count: Callable[[str], int] = estimate_tokens) -> None:
        self.count = count
        self._seen: dict[str, list[list[str]]] = {}

    def prompt_tokens(self, request: Mapping[str, Any]) -> int:
        parts = _segments(request)
        return (
            sum(self.count(p) for p in parts)
            + MESSAGE_OVERHEAD * (len(parts) - 1)
            + (REPLY_PRIMING)
        )

    def cached_tokens(self, request: Mapping[str, Any]) -> int:
        parts = _segments(request)
        best = 0
        for earlier in self._seen.get(str(request.get("model")), []):
            same = 0
            tokens = 0
            while same < min(len(parts), len(earlier)) and parts[same] == earlier[same]:
                tokens += self.count(parts[same]) + (MESSAGE_OVERHEAD if same else 0)
                same += 1
            if same < min(len(parts), len(earlier)):
                a, b = parts[same], earlier[same]
                n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
                tokens += self.count(a[: min(len(a), len(b)) if n is None else n])
            best = max(best, tokens)
        return min(cacheable(best), self.prompt_tokens(request))

    def remember(self, request: Mapping[str, Any]) -> None:
        self._seen.setdefault(str(request.get("model")), []).append(_segments(request))


_METER: contextvars.ContextVar[TokenMeter | None] = contextvars.ContextVar("meter", default=None)


def _usage(request: Mapping[str, Any], completion_text: str) -> dict[str, Any]:
    meter = _METER.get()
    cached = meter.cached_tokens(request) if meter is not None else 0
    meter = meter or TokenMeter()
    prompt = meter.prompt_tokens(request)
    completion = meter.count(completion_text) + 3
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _completion(
    request: Mapping[str, Any],
    message: dict[str, Any],
    finish_reason: str,
    out_text: str,
    usage: bool | Mapping[str, Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-" + secrets.token_urlsafe(21).replace("-", "a").replace("_", "b")[:29],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(request.get("model", "gpt-4o-mini")),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "service_tier": "default",
        "system_fingerprint": "fp_" + secrets.token_hex(5),
    }
    if usage is True:
        body["usage"] = _usage(request, out_text)
    elif isinstance(usage, Mapping):
        body["usage"] = dict(usage)
    return body


def new_call_id() -> str:
    return "call_" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")[:24]


@dataclass(frozen=True)
class Call:
    """One scripted tool call; ``arguments`` may be a dict or raw (possibly broken) JSON text."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str = field(default_factory=new_call_id)

    @property
    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


def text(
    content: str, *, finish_reason: str = "stop", usage: bool | Mapping[str, Any] = True
) -> Handler:
    """A turn answering with assistant text."""

    def handler(request: dict[str, Any]) -> Reply:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": content,
            "refusal": None,
            "annotations": [],
        }
        return _completion(request, message, finish_reason, content, usage)

    return handler


def tool_calls(
    *calls: Call | tuple[str, Mapping[str, Any] | str],
    content: str | None = None,
    usage: bool | Mapping[str, Any] = True,
) -> Handler:
    """A turn answering with one or more (parallel) tool calls."""
    made = [c if isinstance(c, Call) else Call(c[0], c[1]) for c in calls]

    def handler(request: dict[str, Any]) -> Reply:
        message = {
            "role": "assistant",
            "content": content,
            "refusal": None,
            "annotations": [],
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_text},
                }
                for c in made
            ],
        }
        out = "".join(c.name + c.arguments_text for c in made)
        return _completion(request, message, "tool_calls", out, usage)

    return handler


def fault(
    status: int,
    message: str = "The server had an error while processing your request.",
    *,
    headers: Mapping[str, str] | None = None,
    type_: str = "server_error",
    code: str | None = None,
) -> Handler:
    """A turn answering with an error status (500, 503, 400, ...)."""

    def handler(request: dict[str, Any]) -> Reply:
        return Fault(status, dict(headers or {}), error_body(message, type_=type_, code=code))

    return handler


def rate_limited(retry_after: int | None = 1) -> Handler:
    """A 429 as OpenAI sends it, with ``Retry-After`` in whole seconds (or none)."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return fault(
        429,
        "Rate limit reached for gpt-4o-mini in organization org-fake on requests per min "
        "(RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
        headers=headers,
        type_="requests",
        code="rate_limit_exceeded",
    )


def slow(seconds: float, then: Turn) -> Handler:
    """A turn that answers with ``then`` after ``seconds`` (for client timeouts)."""

    async def handler(request: dict[str, Any]) -> Reply:
        await asyncio.sleep(seconds)
        return await _resolve(then, request)

    return handler


async def _resolve(turn: Turn, request: dict[str, Any]) -> Reply:
    if isinstance(turn, Mapping):
        return turn
    result = turn(request)
    if inspect.isawaitable(result):
        result = await result
    return result


def closed_port() -> int:
    """A loopback port with nothing listening on it (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- the server ---------------------------------------------------------------------------

MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1")


class FakeOpenAI:
    """The fake server. ``async with FakeOpenAI(turns) as fake: fake.base_url ...``."""

    def __init__(
        self,
        turns: Iterable[Turn] = (),
        *,
        models: Iterable[str] = MODELS,
        count_tokens: Callable[[str], int] = estimate_tokens,
    ):
        self.turns: list[Turn] = list(turns)
        self.meter = TokenMeter(count_tokens)
        self.models = tuple(models)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.rejected: list[Rejection] = []
        self.problems: list[str] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    def script(self, *turns: Turn) -> None:
        self.turns.extend(turns)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    async def start(self) -> FakeOpenAI:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _reject(self, body: Any, status: int, err: InvalidRequest, type_: str) -> web.Response:
        self.rejected.append(Rejection(body, status, err.message, err.param))
        return web.json_response(
            error_body(err.message, type_=type_, param=err.param, code=err.code), status=status
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            return self._reject(
                None,
                401,
                InvalidRequest("You didn't provide an API key.", code="missing_api_key"),
                "invalid_request_error",
            )
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._reject(
                None,
                400,
                InvalidRequest("We could not parse the JSON body of your request."),
                "invalid_request_error",
            )
        try:
            check_request(body)
        except InvalidRequest as err:
            return self._reject(body, 400, err, "invalid_request_error")
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        index = len(self.requests) - 1
        if index >= len(self.turns):
            message = f"fake OpenAI: no scripted turn for request {index + 1}"
            self.problems.append(message)
            return web.json_response(error_body(message, type_="server_error"), status=500)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        token = _METER.set(self.meter)
        try:
            reply = await _resolve(self.turns[index], copy.deepcopy(body))
        finally:
            _METER.reset(token)
            if task is not None:
                self._tasks.discard(task)
        if isinstance(reply, Fault):
            errors = schema_errors("ErrorResponse", reply.body)
            if errors:
                return self._drift(index, errors)
            return web.json_response(dict(reply.body), status=reply.status, headers=reply.headers)
        errors = schema_errors("CreateChatCompletionResponse", reply)
        if errors:
            return self._drift(index, errors)
        self.meter.remember(body)
        return web.json_response(dict(reply))

    def _drift(self, index: int, errors: list[str]) -> web.Response:
        message = f"fake OpenAI: scripted turn {index + 1} is not a valid response: {errors}"
        self.problems.append(message)
        return web.json_response(error_body(message, type_="server_error"), status=500)

    async def _models(self, request: web.Request) -> web.Response:
        body = {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 1721172741, "owned_by": "system"}
                for m in self.models
            ],
        }
        errors = schema_errors("ListModelsResponse", body)
        if errors:
            return self._drift(-1, errors)
        return web.json_response(body)
