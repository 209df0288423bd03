"""The agent loop against the fake OpenAI server, with the real tools over a real workspace."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

import corpora
from prwarden import tokens
from prwarden.errors import ModelOutputError
from review.agent import MAX_CALLS_PER_TURN, AgentOutcome, run_agent
from review.diff import parse_diff
from review.llm import LLMClient
from review.prompts import load_prompt
from review.request import CallContext, PRInfo
from review.settings import Budget, ReviewSettings
from review.submit import parse_submission
from security.injection import scan
from security.spotlight import Spotlight
from tests.fakes.openai import Call, FakeOpenAI, slow, text, tool_calls
from tools.base import ToolResult, ToolSpec, Workspace
from tools.registry import ToolRegistry, default_registry

CORPORA = corpora.ROOT
CASE = CORPORA / "bug_diffs" / "cases" / "PySnooper-3"
PATH = "pysnooper/pysnooper.py"
DIFF = parse_diff((CASE / "pr.diff").read_text())
PR = PRInfo(repo="cool-RR/PySnooper", number=3, title="Write to the output path", body="Fix.")
CONTEXT = CallContext(installation_id=1, repo="cool-RR/PySnooper", pr_number=3)
DEFAULT_BUDGET = Budget()
FINDING = {
    "path": PATH,
    "line": 26,
    "start_line": None,
    "severity": "high",
    "category": "correctness",
    "title": "output_path is not defined in get_write_function",
    "body": "The closure opens output_path, which does not exist here; every write raises.",
    "suggestion": "            with open(output, 'a') as output_file:",
}


def submit(*findings: Mapping[str, Any] | str) -> Any:
    if len(findings) == 1 and isinstance(findings[0], str):
        return tool_calls(("submit_review", findings[0]))
    return tool_calls(("submit_review", {"findings": list(findings)}))


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(CASE / "base", root)
    source = root / PATH
    source.write_text(
        source.read_text().replace("with open(output, 'a')", "with open(output_path, 'a')")
    )
    return Workspace(root=root, changed_files=frozenset({PATH}), timeout=10.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server
    assert server.problems == [] and server.rejected == []


@pytest.fixture
async def llm(fake: FakeOpenAI, db: sqlite_utils.Database) -> AsyncIterator[LLMClient]:
    settings = ReviewSettings(base_url=fake.base_url, api_key="sk-t", llm_retries=0)
    client = LLMClient(settings, db=db, context=CONTEXT)
    yield client
    await client.aclose()


async def _run(
    llm: LLMClient,
    workspace: Workspace,
    db: sqlite_utils.Database,
    *,
    budget: Budget = DEFAULT_BUDGET,
    registry: ToolRegistry | None = None,
    spotlight: Spotlight | None = None,
    **extra: Any,
) -> AgentOutcome:
    return await run_agent(
        llm=llm,
        model="gpt-4o",
        registry=registry or default_registry(),
        workspace=workspace,
        diff=DIFF,
        pr=PR,
        budget=budget,
        spotlight=spotlight or Spotlight.new(),
        prompt=load_prompt("review"),
        repair_prompt=load_prompt("repair"),
        db=db,
        context=CONTEXT,
        **extra,
    )


def _tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] == "tool"]


async def test_three_parallel_tool_calls_are_all_answered_before_the_next_request(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    calls = [
        Call("search_codebase", {"query": "output_path"}),
        Call("run_linter", {"path": PATH}),
        Call("get_symbol_definition", {"name": "get_write_function"}),
    ]
    fake.script(tool_calls(*calls), submit(FINDING))
    outcome = await _run(llm, workspace, db)
    assert outcome.stop_reason == "submitted" and outcome.turns == 2
    assert [f.title for f in outcome.findings] == [FINDING["title"]]
    answers = _tool_messages(fake.requests[1])
    assert [m["tool_call_id"] for m in answers] == [c.id for c in calls]
    assert fake.requests[1]["messages"][-4]["tool_calls"][0]["id"] == calls[0].id
    assert "F821" in answers[1]["content"]
    assert "def get_write_function" in answers[2]["content"]
    assert [(r.name, r.ok) for r in outcome.tool_calls] == [(c.name, True) for c in calls]
    rows = list(db["tool_calls"].rows_where(order_by="id"))
    assert sorted(r["tool"] for r in rows) == sorted(c.name for c in calls)
    assert all(r["repo"] == "cool-RR/PySnooper" and r["pr_number"] == 3 for r in rows)
    assert json.loads(next(r for r in rows if r["tool"] == "run_linter")["args"]) == {"path": PATH}
    assert db["llm_calls"].count == 2 and outcome.usage.calls == 2


def _spec(name: str, run: Any) -> ToolSpec:
    params = {"type": "object", "properties": {}, "additionalProperties": False}
    return ToolSpec(name=name, description=f"{name} tool", parameters=params, run=run)


async def test_the_tool_calls_of_one_turn_run_concurrently(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    barrier = asyncio.Barrier(3)

    def meeting(name: str) -> ToolSpec:
        async def run(ws: Workspace, args: Mapping[str, Any]) -> ToolResult:
            await barrier.wait()  # returns only once all three calls are running at once
            return ToolResult(tool=name, ok=True, content="met")

        return _spec(name, run)

    registry = ToolRegistry([meeting("a"), meeting("b"), meeting("c")])
    fake.script(tool_calls(("a", {}), ("b", {}), ("c", {})), submit())
    ws = Workspace(root=workspace.root, timeout=2.0)
    outcome = await _run(llm, ws, db, registry=registry)
    assert [r.ok for r in outcome.tool_calls] == [True, True, True]
    assert outcome.stop_reason == "submitted" and outcome.findings == ()


async def test_a_tool_timeout_becomes_an_error_result_and_the_review_goes_on(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    async def hang(ws: Workspace, args: Mapping[str, Any]) -> ToolResult:
        await asyncio.sleep(30)
        return ToolResult(tool="hang", ok=True, content="never")

    async def quick(ws: Workspace, args: Mapping[str, Any]) -> ToolResult:
        return ToolResult(tool="quick", ok=True, content="fine")

    registry = ToolRegistry([_spec("hang", hang), _spec("quick", quick)])
    fake.script(tool_calls(("hang", {}), ("quick", {})), submit(FINDING))
    ws = Workspace(root=workspace.root, timeout=0.2)
    outcome = await _run(llm, ws, db, registry=registry)
    assert outcome.stop_reason == "submitted" and len(outcome.findings) == 1
    assert [(r.name, r.ok) for r in outcome.tool_calls] == [("hang", False), ("quick", True)]
    hung, fine = _tool_messages(fake.requests[1])
    assert "timed out" in hung["content"] and "fine" in fine["content"]
    errors = {r["tool"]: r["error"] for r in db["tool_calls"].rows}
    assert "timed out" in errors["hang"] and errors["quick"] is None


async def test_unknown_tools_and_malformed_arguments_get_error_results(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    fake.script(
        tool_calls(
            ("rm_rf", {"path": "/"}), ("read_file", '{"path": '), ("read_file", {"path": 7})
        ),
        tool_calls(("read_file", {"path": PATH, "start": 20, "end": 30})),
        submit(FINDING),
    )
    outcome = await _run(llm, workspace, db)
    assert outcome.stop_reason == "submitted" and outcome.turns == 3
    assert [r.ok for r in outcome.tool_calls] == [False, False, False, True]
    unknown, broken, typed = _tool_messages(fake.requests[1])
    assert "unknown tool 'rm_rf'" in unknown["content"]
    assert "not valid JSON" in broken["content"]
    assert "invalid arguments" in typed["content"]
    assert "output_path" in _tool_messages(fake.requests[2])[-1]["content"]
    logged = [json.loads(r["args"]) for r in db["tool_calls"].rows]
    assert {"unparsed": '{"path": '} in logged


async def test_an_invalid_submission_is_repaired_once_then_dropped_and_recorded(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    urgent = {**FINDING, "severity": "urgent", "title": "Bad severity"}
    backwards = {**FINDING, "start_line": 30, "title": "Backwards range"}
    fake.script(submit(FINDING, urgent), submit(FINDING, backwards))
    outcome = await _run(llm, workspace, db)
    assert outcome.stop_reason == "submitted" and outcome.turns == 2
    assert [f.title for f in outcome.findings] == [FINDING["title"]]
    [(raw, reason)] = outcome.rejected
    assert raw["title"] == "Backwards range" and "start_line 30" in reason
    repair = fake.requests[1]
    assert repair["tool_choice"] == {"type": "function", "function": {"name": "submit_review"}}
    [errors] = _tool_messages(repair)
    assert "'urgent' is not one of" in errors["content"]
    assert repair["messages"][-1]["content"] == load_prompt("repair").text.strip()
    rows = list(db["llm_calls"].rows_where(order_by="id"))
    assert [r["purpose"] for r in rows] == ["review", "repair"]
    assert rows[1]["prompt_version"] == load_prompt("repair").version


async def test_a_repair_that_fixes_everything_leaves_nothing_rejected(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    fake.script(submit({**FINDING, "line": "26"}), submit(FINDING))
    outcome = await _run(llm, workspace, db)
    assert outcome.rejected == () and len(outcome.findings) == 1
    assert outcome.findings[0].line == 26


async def test_garbage_submissions_end_as_invalid_output_with_nothing_patched(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    fake.script(submit("{'findings': [}"), submit('"just a string"'))
    outcome = await _run(llm, workspace, db)
    assert outcome.stop_reason == "invalid_output" and outcome.findings == ()
    assert [raw for raw, _ in outcome.rejected] == [
        {"arguments": "{'findings': [}"},
        {"arguments": '"just a string"'},
    ]
    assert "not valid JSON" in outcome.rejected[0][1]


async def test_the_turn_budget_forces_a_final_submit_and_keeps_what_was_found(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    fake.script(tool_calls(("search_codebase", {"query": "output_path"})), submit(FINDING))
    outcome = await _run(llm, workspace, db, budget=Budget(max_turns=2))
    assert outcome.stop_reason == "budget_turns" and len(outcome.findings) == 1
    assert fake.requests[0]["tool_choice"] == "auto"
    assert fake.requests[1]["tool_choice"]["function"]["name"] == "submit_review"
    assert outcome.turns == 2


async def test_a_model_that_ignores_the_forced_submit_ends_with_nothing(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    fake.script(tool_calls(("search_codebase", {"query": "x"})))
    outcome = await _run(llm, workspace, db, budget=Budget(max_turns=1))
    assert outcome.stop_reason == "budget_turns" and outcome.findings == ()
    assert len(fake.requests) == 1 and outcome.tool_calls == ()


async def test_the_token_budget_ends_cleanly_before_an_unaffordable_call(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    outcome = await _run(llm, workspace, db, budget=Budget(max_tokens=500))
    assert outcome.stop_reason == "budget_tokens" and outcome.findings == ()
    assert fake.requests == [] and db["llm_calls"].count == 0


async def test_the_time_budget_ends_cleanly_during_a_slow_call(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    fake.script(slow(5, submit(FINDING)))
    outcome = await _run(llm, workspace, db, budget=Budget(max_seconds=0.3))
    assert outcome.stop_reason == "budget_time" and outcome.findings == ()
    assert [r["outcome"] for r in db["llm_calls"].rows] == ["error:cancelled"]


async def test_plain_text_without_a_submit_is_no_submit(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    fake.script(text("LGTM!"), text("Looks good to me."))
    outcome = await _run(llm, workspace, db)
    assert outcome.stop_reason == "no_submit" and outcome.findings == ()
    assert fake.requests[1]["tool_choice"]["function"]["name"] == "submit_review"


def _injection() -> str:
    for line in (CORPORA / "injections" / "injections.jsonl").read_text().splitlines():
        item = json.loads(line)
        if item["label"] == "injection" and len(item["text"]) < 600 and scan(item["text"]):
            return str(item["text"])
    raise AssertionError("no detectable injection in the corpus")


async def test_injected_instructions_in_tool_output_are_flagged_and_stay_wrapped(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    injection = _injection()
    (workspace.root / "NOTES.txt").write_text(injection + "\n")
    spotlight = Spotlight.new()
    fake.script(tool_calls(("read_file", {"path": "NOTES.txt"})), submit())
    outcome = await _run(llm, workspace, db, spotlight=spotlight)
    assert outcome.injections and outcome.injections[0].where == "read_file"
    [message] = _tool_messages(fake.requests[1])
    content = message["content"]
    assert content.startswith(spotlight.open_tag("tool:read_file"))
    assert "looks like instructions" in content.split(spotlight.close_tag, 1)[1]


async def test_the_prompt_carries_trusted_instructions_and_wrapped_pr_text(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    spotlight = Spotlight.new()
    fake.script(submit())
    await _run(
        llm,
        workspace,
        db,
        spotlight=spotlight,
        instructions=["Every file write must use the output argument."],
        risk_areas=["wrong variable in closure"],
        focus_files=[PATH, "not/in/diff.py"],
    )
    request = fake.requests[0]
    system, user = request["messages"]
    assert system["content"].startswith(load_prompt("review").text.strip())
    assert spotlight.nonce not in system["content"] and spotlight.nonce not in str(request["tools"])
    assert user["content"].startswith(spotlight.nonce_notice())
    assert "- Every file write must use the output argument." in system["content"]
    assert (
        spotlight.wrap("pr", f"{PR.title}\n\n{PR.body}" if PR.body else PR.title) in user["content"]
    )
    assert spotlight.wrap("triage_notes", "wrong variable in closure") in user["content"]
    assert "not/in/diff.py" not in user["content"]
    assert "\n26 +            with open(output_path, 'a') as output_file:" in user["content"]
    assert request["temperature"] == pytest.approx(0.1)
    assert [t["function"]["name"] for t in request["tools"]][-1] == "submit_review"


async def test_prompts_share_their_prefix_across_pull_requests_and_turns(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    read = ("read_file", {"path": PATH, "start": 1, "end": 30})
    search = ("search_codebase", {"query": "output_path"})
    fake.script(tool_calls(read, search), submit(), tool_calls(read, search), submit())
    await _run(llm, workspace, db, spotlight=Spotlight.new())
    await _run(llm, workspace, db, spotlight=Spotlight.new())
    first, second, third, fourth = fake.requests
    assert first["tools"] == third["tools"]
    assert first["messages"][0] == third["messages"][0]
    for earlier, later in ((first, second), (third, fourth)):
        assert later["messages"][: len(earlier["messages"])] == earlier["messages"]
    rows = list(db["llm_calls"].rows)
    # The second turn of each review reads its first turn back from the provider's cache.
    assert rows[1]["cached_tokens"] >= 1024 and rows[3]["cached_tokens"] >= 1024
    assert all(r["cached_tokens"] % 128 == 0 and r["cached_tokens"] <= r["tokens_in"] for r in rows)
    assert rows[1]["cost"] < ReviewSettings().cost(
        "gpt-4o", rows[1]["tokens_in"], rows[1]["tokens_out"]
    )


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({**FINDING, "confidence": 0.9}, "Additional properties are not allowed"),
        ({k: v for k, v in FINDING.items() if k != "suggestion"}, "'suggestion' is a required"),
        ({**FINDING, "line": 0}, "line: 0 is less than the minimum of 1"),
        ({**FINDING, "path": "../etc/passwd"}, "must not contain empty, '.' or '..' parts"),
        ({**FINDING, "title": ""}, "title"),
        ("a finding as a string", "is not of type 'object'"),
    ],
)
def test_parse_submission_rejects_each_bad_item_with_its_reason(item: Any, reason: str) -> None:
    findings, rejected = parse_submission(json.dumps({"findings": [FINDING, item]}))
    assert [f.title for f in findings] == [FINDING["title"]]
    [(raw, why)] = rejected
    assert why.startswith("findings[1]: ") and reason in why
    assert raw == (item if isinstance(item, dict) else {"value": item})


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("not json", "not valid JSON"),
        ("[]", "expected an object"),
        ('{"findings": {}}', "'findings' must be a list"),
        ('{"findings": [], "verdict": "approve"}', "unexpected keys: ['verdict']"),
    ],
)
def test_parse_submission_refuses_an_unusable_payload(payload: str, error: str) -> None:
    with pytest.raises(ModelOutputError) as info:
        parse_submission(payload)
    assert any(error in e for e in info.value.errors)


async def test_calls_beyond_the_per_turn_limit_get_an_error_instead_of_running(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    many = [("read_file", {"path": PATH, "start": n, "end": n}) for n in range(1, 11)]
    fake.script(tool_calls(*many), submit())
    outcome = await _run(llm, workspace, db)
    assert [r.ok for r in outcome.tool_calls] == [True] * MAX_CALLS_PER_TURN + [False] * 2
    answers = _tool_messages(fake.requests[1])
    assert len(answers) == 10 and "at most 8 tool calls per turn" in answers[-1]["content"]


async def test_tool_outputs_are_cut_in_tokens_and_elided_once_used(
    fake: FakeOpenAI, llm: LLMClient, workspace: Workspace, db: sqlite_utils.Database
) -> None:
    async def big(ws: Workspace, args: Mapping[str, Any]) -> ToolResult:
        text = "\n".join(f"line {i}: value_{i} = compute(value_{i - 1}) + {i}" for i in range(3000))
        return ToolResult(tool="big", ok=True, content=text)

    registry = ToolRegistry([_spec("big", big)])
    fake.script(*[tool_calls(("big", {}))] * 3, submit())
    budget = Budget(max_tokens=200_000, tool_output_tokens=800)
    outcome = await _run(llm, workspace, db, registry=registry, budget=budget)
    assert outcome.stop_reason == "submitted"
    last = fake.requests[-1]
    answers = _tool_messages(last)
    assert len(answers) == 3
    # The newest outputs are shown, cut to the cap; the first, two turns old, is a note.
    assert "elided after use" in answers[0]["content"] and len(answers[0]["content"]) < 200
    for answer in answers[1:]:
        assert "cut at about 800 tokens" in answer["content"]
        assert 700 <= tokens.estimate(answer["content"]) <= 900
    # Until then each prompt extended the one before.
    for earlier, later in zip(fake.requests[:2], fake.requests[1:3], strict=True):
        assert later["messages"][: len(earlier["messages"])] == earlier["messages"]
