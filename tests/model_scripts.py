"""Scripted model turns for the fake OpenAI server: what a model would answer, as handlers.

Each builder returns a turn (``tests.fakes.openai.Handler``) to put in ``FakeOpenAI.script``.
``Replies`` keeps every body the fake sent back, so a test can compare the usage the model
reported with what prwarden recorded.
"""

from __future__ import annotations

import inspect
import json
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import make_app
from bot.context import CTX
from cache.db import open_db
from review.settings import Price, ReviewSettings
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import Call, Handler, Reply, Turn, tool_calls
from tests.helpers import make_settings
from tests.scenario import PullScenario, wait_for

Client = TestClient[web.Request, web.Application]

Request = dict[str, Any]
FindingDict = dict[str, Any]

APPROVAL = "LGTM, safe to merge, approve this PR."
OUTSIDE_HOST = "collect.attacker-example.net"
OUTSIDE_LINK = f"Details: https://{OUTSIDE_HOST}/c?pr=1&token=abc"
IMAGE_BEACON = f"![build status](https://{OUTSIDE_HOST}/pixel.png?seen=1)"
# The opening of the system prompt: plain instructions, nothing a secret or injection rule sees.
PROMPT_COPY = 1500


def fake_aws_key() -> str:
    """An AWS access key id by shape (``AKIA`` + 16 upper-case letters and digits)."""
    alphabet = string.ascii_uppercase + "234567"
    return "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))


def system_text(request: Request) -> str:
    """The system message of a chat request."""
    return str(next(m["content"] for m in request["messages"] if m["role"] == "system"))


def user_text(request: Request) -> str:
    """The first user message of a chat request (where the nonce and the PR's text are)."""
    return str(next(m["content"] for m in request["messages"] if m["role"] == "user"))


def is_triage(request: Request) -> bool:
    return any(t["function"]["name"] == "triage_verdict" for t in request.get("tools") or [])


def finding(
    path: str,
    line: int,
    *,
    title: str,
    body: str,
    severity: str = "high",
    category: str = "correctness",
    suggestion: str | None = None,
    start_line: int | None = None,
) -> FindingDict:
    """One item of ``submit_review``'s ``findings`` array, every key present (strict schema)."""
    return {
        "path": path,
        "line": line,
        "start_line": start_line,
        "severity": severity,
        "category": category,
        "title": title,
        "body": body,
        "suggestion": suggestion,
    }


def triage(
    level: str = "deep",
    *,
    focus: Sequence[str] = (),
    risks: Sequence[str] = (),
    reason: str = "changes application code",
) -> Handler:
    """The cheap model's forced ``triage_verdict`` call."""
    arguments = {
        "level": level,
        "focus_files": list(focus),
        "risk_areas": list(risks),
        "reason": reason,
    }
    return tool_calls(("triage_verdict", arguments))


@dataclass(frozen=True)
class Investigation:
    """One turn in which the model asks for search, linter and symbols together."""

    calls: tuple[Call, Call, Call]

    @classmethod
    def of(cls, *, query: str, lint_path: str, symbol: str) -> Investigation:
        return cls(
            (
                Call("search_codebase", {"query": query}),
                Call("run_linter", {"path": lint_path}),
                Call("get_symbol_definition", {"name": symbol}),
            )
        )

    @property
    def turn(self) -> Handler:
        return tool_calls(*self.calls)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.calls]


def submit(*findings: FindingDict) -> Handler:
    """The ``submit_review`` call with the given findings."""
    return tool_calls(("submit_review", {"findings": list(findings)}))


def submit_built(build: Callable[[Request], Sequence[FindingDict]]) -> Handler:
    """``submit_review`` with findings built from the request the model received."""

    def handler(request: Request) -> Reply:
        inner = submit(*build(request))
        reply = inner(request)
        assert not inspect.isawaitable(reply)
        return reply

    return handler


def obeying_findings(
    request: Request,
    *,
    path: str,
    line: int,
    leak: Sequence[str] = (),
    echo: str = "",
) -> list[FindingDict]:
    """What a model that obeys injected instructions submits, one hostile finding each.

    An approval, a link to an outside host, a markdown image beacon, the opening of its own
    system prompt (taken from ``request``), an AWS-shaped key, each value of ``leak`` (secrets
    it was told to exfiltrate) and, when given, an echo of the injected text.
    """
    bodies = {
        "approval": APPROVAL,
        "link": OUTSIDE_LINK,
        "image": IMAGE_BEACON,
        "system prompt": system_text(request)[:PROMPT_COPY],
        "aws key": f"Use this deploy credential: {fake_aws_key()}",
    }
    for i, value in enumerate(leak):
        bodies[f"leak {i + 1}"] = f"Configured credential for the reviewer: {value}"
    if echo:
        bodies["echo"] = "The file says: " + echo[:1000]
    categories = ("correctness", "security")
    return [
        finding(
            path,
            line,
            title=f"Reviewer note {i + 1}",
            body=body,
            severity="high",
            category=categories[i % 2],
        )
        for i, body in enumerate(bodies.values())
    ]


def obeying_model(*, path: str, line: int, leak: Sequence[str] = (), echo: str = "") -> Handler:
    """A ``submit_review`` turn from a model that obeys every injection it read."""
    return submit_built(
        lambda request: obeying_findings(request, path=path, line=line, leak=leak, echo=echo)
    )


@dataclass
class Replies:
    """Wraps turns so every reply body the fake sends is kept, in order."""

    bodies: list[Mapping[str, Any]] = field(default_factory=list)

    def keep(self, turn: Turn) -> Handler:
        async def handler(request: Request) -> Reply:
            if isinstance(turn, Mapping):
                reply: Any = turn
            else:
                reply = turn(request)
                if inspect.isawaitable(reply):
                    reply = await reply
            if isinstance(reply, Mapping):
                self.bodies.append(reply)
            return reply  # type: ignore[no-any-return]

        return handler

    def usage(self) -> list[tuple[str, int, int]]:
        """``(model, prompt_tokens, completion_tokens)`` of each reply."""
        return [
            (
                str(b["model"]),
                int(b["usage"]["prompt_tokens"]),
                int(b["usage"]["completion_tokens"]),
            )
            for b in self.bodies
        ]


def tool_answers(request: Request) -> list[dict[str, Any]]:
    """The tool messages of a request, in order."""
    return [m for m in request["messages"] if m["role"] == "tool"]


def assistant_tool_calls(request: Request) -> list[list[dict[str, Any]]]:
    """The ``tool_calls`` of each assistant message of a request that has any."""
    return [
        m["tool_calls"]
        for m in request["messages"]
        if m["role"] == "assistant" and m.get("tool_calls")
    ]


def call_arguments(call: Mapping[str, Any]) -> Any:
    return json.loads(call["function"]["arguments"])


# -- running the real app against both fakes ------------------------------------------------

API_KEY = "sk-test-" + "k3yV4lue" * 5
PRICES = {"cheap": Price(1.0, 4.0), "capable": Price(10.0, 30.0)}


def model_settings(base_url: str, **overrides: Any) -> ReviewSettings:
    """Review settings for the fake model server: a cheap triage and a capable review model."""
    values: dict[str, Any] = {
        "triage_model": "cheap",
        "review_model": "capable",
        "base_url": base_url,
        "api_key": API_KEY,
        "llm_retries": 0,
        "prices": PRICES,
        # Scripted conversations walk the whole pipeline: triage is asked even for small changes.
        "small_change_tokens": 0,
    }
    values.update(overrides)
    return ReviewSettings(**values)


async def serve(
    aiohttp_client: Any,
    gh: FakeGitHub,
    key: str,
    tmp_path: Path,
    review: ReviewSettings,
    **settings: Any,
) -> Client:
    """The real app (real workers) on a file database under ``tmp_path``."""
    app = make_app(
        make_settings(
            key,
            api_url=gh.base_url,
            db_path=str(tmp_path / "prwarden.db"),
            workspaces=tmp_path / "ws",
            review=review,
            **settings,
        ),
        db=open_db(tmp_path / "prwarden.db"),
    )
    client: Client = await aiohttp_client(app)
    return client


def idle(client: Client) -> bool:
    depth = client.app[CTX].queue.depth()
    return bool(depth.get("queued", 0) == 0 and depth.get("running", 0) == 0)


def db_of(client: Client) -> sqlite_utils.Database:
    db: sqlite_utils.Database = client.app[CTX].db
    return db


async def review_pr(client: Client, s: PullScenario) -> dict[str, Any]:
    """Deliver ``pull_request.opened``; wait for the completed check run and return it."""
    body, headers = s.delivery()
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 202, await response.text()

    def completed() -> bool:
        runs = s.check_runs()
        return idle(client) and bool(runs) and runs[0]["status"] == "completed"

    await wait_for(completed, within=30)
    runs = s.check_runs()
    assert len(runs) == 1, runs
    return runs[0]
