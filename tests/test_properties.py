"""Property suites for the parsers of untrusted input: webhook, diff, repo config, model output.

Each property names the only outcomes allowed (a value, or the one documented exception);
anything else is a crash. The example budget is fixed by the ``prwarden`` profile
(derandomized, no example database), so a CI run takes the same bounded time every time.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import make_app
from bot.webhook import parse_event
from cache.db import open_db
from prwarden.errors import DiffError, ModelOutputError, WebhookError
from review.config import ConfigProblem, RepoConfig, load_repo_config
from review.diff import Diff, parse_diff
from review.findings import Category, Finding, Severity
from review.llm import Completion, ToolCall
from review.submit import parse_submission
from review.triage import TRIAGE_FUNCTION, TriageVerdict, parse_verdict
from testkit.signing import SECRET, delivery_headers, payload, sign
from tests.helpers import CORPORA, make_settings

settings.register_profile(
    "prwarden",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "prwarden"))

BUG_DIFFS = sorted((CORPORA / "bug_diffs" / "cases").glob("*/pr.diff"))
REAL_DIFFS = [p.read_bytes() for p in BUG_DIFFS[:40]]
REAL_EVENTS = [
    "pull_request.opened.2",
    "pull_request.synchronize.1",
    "pull_request.closed.1",
    "issue_comment.created.1",
    "installation.created.1",
]
HUNK_HEADER = re.compile(rb"^@@ -\d+(,\d+)? \+\d+(,\d+)? @@")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


# ----- the webhook endpoint -----------------------------------------------------------------


@st.composite
def mutated_payloads(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(REAL_EVENTS))
    data = payload(name)
    for _ in range(draw(st.integers(1, 3))):
        target: Any = data
        while True:
            keys = sorted(target) if isinstance(target, dict) else []
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if isinstance(target[key], dict) and draw(st.integers(0, 3)) > 0:
                target = target[key]
                continue
            if draw(st.booleans()):
                del target[key]
            else:
                target[key] = draw(json_values)
            break
    return name.split(".")[0], json.dumps(data).encode()


@st.composite
def webhook_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["bytes", "json", "real", "real", "real", "text"]))
    if kind == "real":
        return draw(mutated_payloads())
    if kind == "bytes":
        return "ping", draw(st.binary(max_size=300))
    if kind == "json":
        return "pull_request", json.dumps(draw(json_values)).encode()
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-32"]))
    text = json.dumps({"action": draw(st.text(max_size=20)), "zen": "é"}, ensure_ascii=False)
    return "ping", text.encode(encoding, errors="replace")


@st.composite
def webhook_requests(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    event, body = draw(webhook_bodies())
    headers: dict[str, str] = {}
    if draw(st.integers(0, 9)) > 0:
        headers["X-GitHub-Event"] = draw(
            st.just(event)
            | st.sampled_from(["pull_request", "issue_comment", "installation", "ping", "push"])
            | header_text
        )
    if draw(st.integers(0, 9)) > 0:
        headers["X-GitHub-Delivery"] = draw(st.uuids().map(str) | header_text)
    signature = draw(
        st.sampled_from(["good", "good", "good", "other-secret", "random", "missing", "sha1"])
    )
    if signature == "good":
        headers["X-Hub-Signature-256"] = sign(body)
    elif signature == "other-secret":
        headers["X-Hub-Signature-256"] = sign(body, "not-the-secret")
    elif signature == "random":
        headers["X-Hub-Signature-256"] = draw(header_text)
    elif signature == "sha1":
        headers["X-Hub-Signature"] = "sha1=" + "0" * 40
    headers["Content-Type"] = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json",
                "application/json",
                "application/json; charset=utf-8",
                "APPLICATION/JSON",
                "application/x-www-form-urlencoded",
                "text/plain",
            ]
        )
        | header_text
    )
    if draw(st.integers(0, 9)) == 0:
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "deflate", "br", "bogus"]))
    return headers, body


@st.composite
def signed_mutated_deliveries(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    event, body = draw(mutated_payloads())
    return delivery_headers(event, body), body


async def _post_all(
    client: TestClient[Any, Any], requests: st.SearchStrategy[tuple[dict[str, str], bytes]]
) -> set[int]:
    """Post every example of ``requests``; each answer must be a 2xx or a JSON 400/401/413."""
    loop = asyncio.get_running_loop()
    statuses: set[int] = set()

    async def post(headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        async with client.post("/webhook", data=body, headers=headers) as response:
            raw = await response.read()
            if response.content_type != "application/json":
                return response.status, raw
            return response.status, json.loads(raw)

    @given(request=requests)
    @settings(max_examples=150)
    def check(request: tuple[dict[str, str], bytes]) -> None:
        future = asyncio.run_coroutine_threadsafe(post(*request), loop)
        status, answer = future.result(timeout=20)
        statuses.add(status)
        assert status in (200, 202, 400, 401, 413), (status, answer)
        if "Content-Encoding" in request[0] and status == 400 and isinstance(answer, bytes):
            return  # aiohttp's HTTP parser refused an encoding it cannot decode
        assert isinstance(answer, dict), answer
        if status >= 400:
            assert isinstance(answer.get("error"), str) and answer["error"]

    await asyncio.to_thread(check)
    return statuses


async def _client(aiohttp_client: Any, key: str, tmp_path: Path) -> TestClient[Any, Any]:
    app = make_app(
        make_settings(key, workspaces=tmp_path / "ws"),
        db=open_db(tmp_path / "prwarden.db"),
        workers=False,
    )
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client


async def test_the_webhook_endpoint_never_answers_5xx(
    aiohttp_client: Any, app_private_key: str, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, app_private_key, tmp_path)
    statuses = await _post_all(client, webhook_requests())
    assert {200, 400, 401} <= statuses, statuses


async def test_signed_deliveries_with_hostile_payloads_never_answer_5xx(
    aiohttp_client: Any, app_private_key: str, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, app_private_key, tmp_path)
    statuses = await _post_all(client, signed_mutated_deliveries())
    assert {202, 400} <= statuses, statuses


@given(request=webhook_requests())
def test_parse_event_returns_an_event_or_a_webhook_error(
    request: tuple[dict[str, str], bytes],
) -> None:
    headers, body = request
    try:
        event = parse_event(headers, body, SECRET)
    except WebhookError as exc:
        assert exc.status in (400, 401, 413)
        return
    assert isinstance(event.data, dict)
    assert headers.get("X-Hub-Signature-256") == sign(body)


# ----- the diff parser ----------------------------------------------------------------------


@st.composite
def mutated_diffs(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(REAL_DIFFS)).split(b"\n")
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(
            st.sampled_from(["delete", "duplicate", "flip", "header", "cr", "bytes", "truncate"])
        )
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "flip":
            prefix = draw(st.sampled_from([b"+", b"-", b" ", b"\\", b"@", b""]))
            lines[i] = prefix + lines[i][1:]
        elif op == "header":
            headers = [n for n, line in enumerate(lines) if HUNK_HEADER.match(line)]
            if headers:
                n = draw(st.sampled_from(headers))
                a, b, c, d = (draw(st.integers(0, 10**6)) for _ in range(4))
                lines[n] = f"@@ -{a},{b} +{c},{d} @@".encode() + lines[n].split(b"@@", 2)[-1]
        elif op == "cr":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + b"\r" + lines[i][at:]
        elif op == "bytes":
            lines[i] += draw(st.sampled_from([b"\xff\xfe", b"\xc3", b"\x00", b"\xed\xa0\x80"]))
        else:
            lines = lines[: i + 1]
    return b"\n".join(lines)


def _check_diff(data: bytes | str) -> None:
    try:
        diff = parse_diff(data)
    except DiffError:
        return
    assert isinstance(diff, Diff)
    for f in diff.files:
        assert set(f.added) <= f.right_lines, f.path
        assert all(n >= 1 for n in f.right_lines) and all(n >= 1 for n in f.left_lines)
        for line in f.added:
            assert f.commentable(line)
            assert f.nearest_changed(line) == line
        for hunk in f.hunks:
            for diff_line in hunk.lines:
                if diff_line.kind == "+":
                    assert diff_line.new in f.added
    diff.normalized_hash()


@given(data=mutated_diffs())
@settings(max_examples=200)
def test_mutated_real_diffs_parse_or_raise_diff_error(data: bytes) -> None:
    _check_diff(data)


@given(data=st.binary(max_size=2000) | st.text(max_size=500))
def test_random_input_to_the_diff_parser(data: bytes | str) -> None:
    _check_diff(data)


@given(
    body=st.lists(
        st.sampled_from(["+", "-", " ", "\\ No newline at end of file", "@@ -1 +1 @@", ""]).flatmap(
            lambda p: st.text(max_size=10).map(lambda t: p + t)
        ),
        max_size=20,
    )
)
def test_random_hunks_under_a_valid_header(body: list[str]) -> None:
    head = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n"
    _check_diff(head + "\n".join(body) + "\n")


# ----- the repo config loader ---------------------------------------------------------------

config_keys = st.sampled_from(sorted(RepoConfig.model_fields)) | st.text(max_size=12)


@st.composite
def config_documents(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.sampled_from(["text", "bytes", "nested", "known"]))
    if kind == "text":
        return draw(st.text(st.sampled_from(list("ab:- \n\t{}[]'\"#&*!|>%@`,?0.")), max_size=120))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "nested":
        return yaml.safe_dump(draw(json_values), allow_unicode=True)
    document = draw(st.dictionaries(config_keys, json_values, max_size=6))
    for key in ("paths", "categories"):
        if draw(st.booleans()):
            document[key] = draw(
                st.dictionaries(
                    config_keys | st.sampled_from(["ignore", "instructions"]),
                    json_values,
                    max_size=3,
                )
            )
    return yaml.safe_dump(document, allow_unicode=True)


@given(text=config_documents())
@settings(max_examples=150)
def test_the_config_loader_never_raises(text: str | bytes) -> None:
    config, problems = load_repo_config(text)
    assert isinstance(config, RepoConfig)
    assert isinstance(problems, tuple)
    assert all(isinstance(p, ConfigProblem) and str(p) for p in problems)


# ----- the model-output parsers -------------------------------------------------------------

VALID_FINDING: dict[str, Any] = {
    "path": "src/app.py",
    "line": 12,
    "start_line": None,
    "severity": Severity.HIGH.value,
    "category": Category.CORRECTNESS.value,
    "title": "Off-by-one in the loop bound",
    "body": "The last element is skipped when n is even.",
    "suggestion": None,
}


@st.composite
def mutated_findings(draw: st.DrawFn) -> Any:
    item: Any = dict(VALID_FINDING)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["delete", "replace", "extra", "swap"]))
        key = draw(st.sampled_from(sorted(VALID_FINDING)))
        if not isinstance(item, dict):
            break
        if op == "delete":
            item.pop(key, None)
        elif op == "replace":
            item[key] = draw(json_values)
        elif op == "extra":
            item[draw(st.text(max_size=8))] = draw(json_values)
        else:
            item = draw(json_values)
    return item


@st.composite
def submissions(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["text", "json", "payload", "payload", "payload"]))
    if kind == "text":
        return draw(st.text(max_size=100))
    if kind == "json":
        return json.dumps(draw(json_values))
    data: dict[str, Any] = {"findings": draw(st.lists(mutated_findings(), max_size=4))}
    if draw(st.integers(0, 5)) == 0:
        data[draw(st.text(max_size=5))] = draw(json_values)
    return json.dumps(data)


@given(arguments=submissions())
@settings(max_examples=200)
def test_submission_parser_gives_findings_rejections_or_model_output_error(
    arguments: str,
) -> None:
    try:
        findings, rejected = parse_submission(arguments)
    except ModelOutputError as exc:
        assert str(exc)
        return
    items = json.loads(arguments)["findings"]
    assert len(findings) + len(rejected) == len(items)
    assert all(isinstance(f, Finding) for f in findings)
    for raw, reason in rejected:
        assert isinstance(raw, dict) and isinstance(reason, str) and reason.startswith("findings[")


TRIAGE_DIFF = parse_diff(
    "diff --git a/src/app.py b/src/app.py\n--- a/src/app.py\n+++ b/src/app.py\n"
    "@@ -1,2 +1,3 @@\n a = 1\n+b = 2\n c = 3\n"
)


@st.composite
def verdicts(draw: st.DrawFn) -> str:
    data: Any = {
        "level": draw(st.sampled_from(["skip", "light", "deep"]) | json_values),
        "focus_files": draw(st.lists(st.sampled_from(["src/app.py", "other.py"]), max_size=3)),
        "risk_areas": draw(st.lists(st.text(max_size=10), max_size=3)),
        "reason": draw(st.text(max_size=20)),
    }
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(sorted(data)) | st.text(max_size=5))
        if draw(st.booleans()):
            data.pop(key, None)
        else:
            data[key] = draw(json_values)
    if draw(st.integers(0, 5)) == 0:
        return draw(st.text(max_size=40))
    return json.dumps(draw(st.just(data) | json_values))


@given(arguments=verdicts(), name=st.sampled_from([TRIAGE_FUNCTION, "other_function"]))
@settings(max_examples=150)
def test_verdict_parser_gives_a_verdict_or_model_output_error(arguments: str, name: str) -> None:
    completion = Completion(
        content=None,
        tool_calls=(ToolCall(id="call_1", name=name, arguments=arguments),),
        finish_reason="tool_calls",
        tokens_in=10,
        tokens_out=10,
        latency_ms=1.0,
        model="gpt-4o-mini",
    )
    try:
        verdict = parse_verdict(completion, TRIAGE_DIFF)
    except ModelOutputError as exc:
        assert exc.errors
        return
    assert isinstance(verdict, TriageVerdict)
    assert verdict.level in ("skip", "light", "deep")
    assert set(verdict.focus_files) <= set(TRIAGE_DIFF.paths)


async def test_an_undecodable_gzip_body_is_a_json_400(
    aiohttp_client: Any, app_private_key: str, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, app_private_key, tmp_path)
    body = b"not gzip at all" * 10
    headers = delivery_headers("ping", body)
    headers["Content-Encoding"] = "gzip"
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 400
    assert "unreadable body" in (await response.json())["error"]


async def test_signed_payloads_with_a_wrong_shape_or_nan_are_a_json_400(
    aiohttp_client: Any, app_private_key: str, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, app_private_key, tmp_path)
    broken = payload("pull_request.opened.2")
    broken["pull_request"]["head"] = None
    nan = payload("pull_request.opened.2")
    bodies = [
        json.dumps(broken).encode(),
        json.dumps(nan).replace('"id": 1,', '"id": NaN,').encode(),
    ]
    for body, expected in zip(bodies, ["wrong type", "NaN"], strict=True):
        response = await client.post(
            "/webhook", data=body, headers=delivery_headers("pull_request", body)
        )
        assert response.status == 400
        assert expected in (await response.json())["error"]
