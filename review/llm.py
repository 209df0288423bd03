"""The one seam to the model: an async chat client over any OpenAI-compatible endpoint.

``LLMClient.chat`` sends one chat completion, retrying on 429, 5xx, timeouts and refused
connections (honouring ``Retry-After``, capped) up to ``settings.llm_retries`` times, and logs
every attempt, success or failure, to the ``llm_calls`` table with tokens from the API's
``usage`` (estimated with ``prwarden.tokens`` when a server leaves it out, and said so in the
outcome), including the prompt tokens the provider served from its prefix cache
(``usage.prompt_tokens_details.cached_tokens``), which are priced at the cached-input rate.
The API key never appears in an error, a log line or the database: it, and every other
operator secret the client is given, is replaced with ``[REDACTED]`` in every message sent to
the model, and in whatever the model answers, before anything else reads it; in tool-call
arguments, in what the JSON decodes to, so a key written with ``\\u`` escapes is caught too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from cache.accounting import record_llm_call
from cache.store import Store
from prwarden import tokens
from prwarden.errors import LLMError, ModelOutputError
from review.progress import AGENT_PURPOSES, Progress, ProgressSink, Stage
from review.request import CallContext, Usage
from review.settings import ReviewSettings
from security.secrets import Redactor

if TYPE_CHECKING:
    import openai

log = logging.getLogger("prwarden.llm")

NO_CONTEXT = CallContext()
"""The context of calls made for no installation (local reviews, tests)."""

MAX_RETRY_WAIT = 30.0
"""Longest wait honoured from a ``Retry-After`` header, in seconds."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model asked for; ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Completion:
    """One answer of the model, with what it cost."""

    content: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    tokens_in: int
    tokens_out: int
    latency_ms: float
    model: str
    usage_estimated: bool = False
    cached_tokens: int = 0

    @property
    def message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation history."""
        # Empty text rather than null: OpenAI takes both, llama.cpp's server refuses null.
        message: dict[str, Any] = {"role": "assistant", "content": self.content or ""}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        return message


class _AttemptFailed(Exception):
    def __init__(self, error: LLMError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, _AttemptFailed) and exc.error.retryable


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait: ``retry-after-ms`` first, then ``Retry-After`` seconds."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    seconds = headers.get("retry-after")
    if seconds is not None:
        try:
            return max(float(seconds), 0.0)
        except ValueError:
            return None
    return None


class LLMClient:
    """Chat completions with retries, accounting and a running ``usage`` total."""

    def __init__(
        self,
        settings: ReviewSettings,
        *,
        db: Store | None = None,
        context: CallContext = NO_CONTEXT,
        backoff: float = 0.5,
        max_retry_wait: float = MAX_RETRY_WAIT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        secrets: Sequence[str] = (),
        progress: ProgressSink | None = None,
    ) -> None:
        self._settings = settings
        self._redactor = Redactor([v for v in (settings.api_key, *secrets) if v])
        self._progress = progress
        self._turns = 0
        self._sleep = sleep
        self._db = db
        self._context = context
        self._backoff = backoff
        self._max_retry_wait = max_retry_wait
        self._usage = Usage()
        # Imported here: the SDK takes longer to import than a static review takes to run.
        import openai

        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or "unused",
            timeout=settings.llm_timeout,
            max_retries=0,
        )

    @property
    def usage(self) -> Usage:
        """Everything this client has spent so far."""
        return self._usage

    async def aclose(self) -> None:
        await self._client.close()

    async def list_models(self) -> tuple[str, ...]:
        """The model ids the endpoint lists (``GET /models``); ``LLMError`` when it cannot."""
        import openai

        try:
            page = await self._client.models.list()
        except openai.APIStatusError as exc:
            raise LLMError(
                self._redact(f"listing models failed: HTTP {exc.status_code}: {_detail(exc)}"),
                status=exc.status_code,
            ) from None
        except openai.APITimeoutError:
            raise LLMError(
                f"listing models timed out after {self._settings.llm_timeout}s"
            ) from None
        except openai.APIConnectionError:
            raise LLMError("the model endpoint is unreachable") from None
        except openai.APIError as exc:
            raise LLMError(self._redact(f"listing models: {exc.message[:300]}")) from None
        return tuple(m.id for m in page.data)

    async def chat(
        self,
        *,
        purpose: str,
        model: str,
        prompt_version: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        max_tokens: int | None = None,
        response_format: dict[str, Any] | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """Send one chat completion; raise ``LLMError`` when the endpoint stays down."""
        request: dict[str, Any] = {
            "model": model,
            # A file of the PR or a tool's output may hold an operator secret: none is sent.
            "messages": self._redactor.redact_value(messages),
            "temperature": self._settings.temperature if temperature is None else temperature,
        }
        if tools is not None:
            request["tools"] = tools
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        if response_format is not None:
            request["response_format"] = response_format
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.llm_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            reraise=True,
            sleep=self._sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(purpose, prompt_version, request)
        except _AttemptFailed as failed:
            raise failed.error from None
        raise LLMError("no attempt was made", retryable=False)  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _AttemptFailed) and exc.retry_after is not None:
            return min(exc.retry_after, self._max_retry_wait)
        step = self._backoff * 2 ** (state.attempt_number - 1)
        return float(min(step, self._max_retry_wait) * (0.5 + random.random() / 2))

    async def _attempt(
        self, purpose: str, prompt_version: str, request: dict[str, Any]
    ) -> Completion:
        import openai

        model = str(request["model"])
        started = time.perf_counter()
        try:
            response = await self._client.chat.completions.create(**request)
        except openai.APIStatusError as exc:
            status = exc.status_code
            retryable = status == 429 or status >= 500
            self._record(purpose, model, prompt_version, started, f"error:http_{status}")
            error = LLMError(
                self._redact(f"{purpose} call to {model} failed: HTTP {status}: {_detail(exc)}"),
                status=status,
                retryable=retryable,
            )
            raise _AttemptFailed(error, retry_after_seconds(exc.response.headers)) from None
        except openai.APITimeoutError:
            self._record(purpose, model, prompt_version, started, "error:timeout")
            error = LLMError(
                f"{purpose} call to {model} timed out after {self._settings.llm_timeout}s",
                retryable=True,
            )
            raise _AttemptFailed(error) from None
        except openai.APIConnectionError:
            self._record(purpose, model, prompt_version, started, "error:connection")
            error = LLMError(
                f"{purpose} call to {model}: the model endpoint is unreachable", retryable=True
            )
            raise _AttemptFailed(error) from None
        except openai.APIError as exc:
            self._record(purpose, model, prompt_version, started, "error:bad_response")
            raise LLMError(
                self._redact(f"{purpose} call to {model}: unusable response: {exc.message[:300]}")
            ) from None
        except asyncio.CancelledError:
            self._record(purpose, model, prompt_version, started, "error:cancelled")
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            return self._completion(purpose, prompt_version, request, response, latency_ms)
        except ModelOutputError as exc:
            self._record(purpose, model, prompt_version, started, "error:bad_response")
            raise LLMError(f"{purpose} call to {model}: unusable response: {exc}") from None

    def _completion(
        self,
        purpose: str,
        prompt_version: str,
        request: dict[str, Any],
        response: Any,
        latency_ms: float,
    ) -> Completion:
        if not response.choices:
            raise ModelOutputError("the response has no choices")
        choice = response.choices[0]
        calls: list[ToolCall] = []
        for call in choice.message.tool_calls or ():
            function = getattr(call, "function", None)
            if function is None:
                raise ModelOutputError(f"unsupported tool call type {call.type!r}")
            arguments = self._redactor.redact_decoded(function.arguments)
            calls.append(ToolCall(call.id, function.name, arguments))
        content = choice.message.content
        if content:
            content = self._redact(content)
        estimated = response.usage is None
        if estimated:
            sent = json.dumps(request["messages"]) + json.dumps(request.get("tools") or [])
            said = (content or "") + "".join(c.name + c.arguments for c in calls)
            tokens_in, tokens_out = tokens.estimate(sent), tokens.estimate(said)
            cached = 0
        else:
            tokens_in = response.usage.prompt_tokens
            tokens_out = response.usage.completion_tokens
            details = getattr(response.usage, "prompt_tokens_details", None)
            cached = min(int(getattr(details, "cached_tokens", None) or 0), tokens_in)
        completion = Completion(
            content=content,
            tool_calls=tuple(calls),
            finish_reason=str(choice.finish_reason),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=latency_ms,
            model=str(request["model"]),
            usage_estimated=estimated,
            cached_tokens=cached,
        )
        outcome = "ok:usage_estimated" if estimated else "ok"
        self._log_call(purpose, completion.model, prompt_version, completion, outcome)
        return completion

    def _record(
        self, purpose: str, model: str, prompt_version: str, started: float, outcome: str
    ) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        failed = Completion(None, (), "", 0, 0, latency_ms, model)
        log.warning(
            "model call failed", extra={"purpose": purpose, "model": model, "outcome": outcome}
        )
        self._log_call(purpose, model, prompt_version, failed, outcome)

    def _report(self, purpose: str, model: str) -> None:
        if self._progress is None:
            return
        agent = purpose in AGENT_PURPOSES
        self._turns += agent
        self._progress(
            Progress(
                Stage.AGENT if agent else Stage.TRIAGE,
                detail=model,
                turns=self._turns,
                tokens=self._usage.tokens_in + self._usage.tokens_out,
            )
        )

    def _log_call(
        self, purpose: str, model: str, prompt_version: str, c: Completion, outcome: str
    ) -> None:
        cost = self._settings.cost(model, c.tokens_in, c.tokens_out, c.cached_tokens)
        self._usage = self._usage + Usage(1, c.tokens_in, c.tokens_out, cost, c.cached_tokens)
        self._report(purpose, model)
        if self._db is None:
            return
        record_llm_call(
            self._db,
            purpose=purpose,
            model=model,
            prompt_version=prompt_version,
            tokens_in=c.tokens_in,
            tokens_out=c.tokens_out,
            cached_tokens=c.cached_tokens,
            latency_ms=c.latency_ms,
            cost=cost,
            installation_id=self._context.installation_id,
            repo=self._context.repo,
            pr_number=self._context.pr_number,
            outcome=outcome,
            at=self._context.clock(),
        )

    def _redact(self, text: str) -> str:
        return self._redactor.redact(text)


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message")
        if message is None and isinstance(body.get("error"), dict):
            message = body["error"].get("message")
        if message is not None:
            return str(message)[:500]
    return exc.message[:500]
