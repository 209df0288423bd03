"""A scripted reviewer on the fake OpenAI server.

``reviewer`` answers any number of requests: a triage request gets a ``deep`` verdict over the
files in its diff, a review request gets a ``submit_review`` call with the scripted findings
whose path appears in the prompt. Usage is the fake's estimate from the request's size, so
tokens follow what the pipeline actually sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from review.settings import ReviewSettings
from testkit.fakes.openai import FakeOpenAI, Handler, tool_calls

API_KEY = "sk-test-Zq8vR2mN5pL7xK4wT9yB3cD6"
_DIFF_PATH = re.compile(r"^(?:\+\+\+ b/(\S+)$|### (\S+) \()", re.MULTILINE)


def paths_in(request: Mapping[str, Any]) -> list[str]:
    """The files whose diff a model request carries (as a patch or as the rendered diff)."""
    found = _DIFF_PATH.findall(_prompt_text(request))
    return list(dict.fromkeys(a or b for a, b in found))


def model_settings(fake: FakeOpenAI) -> ReviewSettings:
    return ReviewSettings(
        triage_model="gpt-4o-mini",
        review_model="gpt-4o",
        base_url=fake.base_url,
        api_key=API_KEY,
        llm_retries=0,
    )


def _prompt_text(request: Mapping[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in request["messages"])


def reviewer(
    findings: Sequence[Mapping[str, Any]] = (),
    calls: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> Handler:
    """One turn handler that can answer every triage and review request of a test; a review
    first asks for the tool ``calls`` (in parallel), then submits."""

    def handler(request: dict[str, Any]) -> Any:
        paths = paths_in(request)
        choice = request.get("tool_choice")
        if isinstance(choice, dict) and choice["function"]["name"] == "triage_verdict":
            verdict = {
                "level": "deep",
                "focus_files": paths[:10],
                "risk_areas": [],
                "reason": "code changed",
            }
            return tool_calls(("triage_verdict", verdict))(request)
        if calls and not any(m["role"] == "tool" for m in request["messages"]):
            return tool_calls(*calls)(request)
        mine = [f for f in findings if f["path"] in paths]
        return tool_calls(("submit_review", {"findings": mine}))(request)

    return handler


def script_reviewer(
    fake: FakeOpenAI,
    findings: Sequence[Mapping[str, Any]] = (),
    calls: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> None:
    """Give ``fake`` enough turns of ``reviewer(findings, calls)`` for any test."""
    fake.script(*[reviewer(findings, calls)] * 400)
