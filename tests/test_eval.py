"""``prwarden eval`` on real bug diffs: scores against a scripted model, the regression gate."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import corpora
from bot.cli import main
from bot.evaluate import (
    compare,
    load_baseline,
    load_dataset,
    report_json,
    run_eval,
)
from prwarden.errors import DatasetError
from review.diff import parse_diff
from review.settings import ReviewSettings
from testkit.fakes.openai import FakeOpenAI, Handler, Reply, tool_calls

CORPUS = corpora.ROOT / "bug_diffs"
CASES = ("fastapi-7", "httpie-1", "js-hexo-7", "luigi-2", "scrapy-7", "thefuck-10")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def _labels() -> dict[str, dict[str, Any]]:
    rows = (json.loads(line) for line in (CORPUS / "labels.jsonl").read_text().splitlines())
    return {row["id"]: row for row in rows if row["id"] in CASES}


LABELS = _labels()


def _subset(root: Path, cases: tuple[str, ...] = CASES, *, labels: bool = True) -> Path:
    (root / "cases").mkdir(parents=True)
    for case in cases:
        (root / "cases" / case).symlink_to(CORPUS / "cases" / case, target_is_directory=True)
    if labels:
        (root / "labels.jsonl").write_text("".join(json.dumps(LABELS[c]) + "\n" for c in cases))
    return root


def _line_text(case: str, line: int) -> str:
    f = parse_diff((CORPUS / "cases" / case / "pr.diff").read_text()).file(LABELS[case]["file"])
    assert f is not None
    return next(dl.text for h in f.hunks for dl in h.lines if dl.new == line)


def _noise_line(case: str) -> int:
    """A commentable line of the diff more than 3 lines away from every labelled line."""
    f = parse_diff((CORPUS / "cases" / case / "pr.diff").read_text()).file(LABELS[case]["file"])
    assert f is not None
    labelled = set(LABELS[case]["lines"])
    return next(
        n
        for h in f.hunks
        for dl in h.lines
        if (n := dl.new) is not None and f.commentable(n) and all(abs(n - x) > 3 for x in labelled)
    )


def _finding(case: str, line: int, what: str) -> dict[str, Any]:
    names = _IDENT.findall(_line_text(case, LABELS[case]["line"])) or ["value"]
    name = max(names, key=len)
    return {
        "path": LABELS[case]["file"],
        "line": line,
        "start_line": None,
        "severity": "high" if what == "bug" else "low",
        "category": "correctness" if what == "bug" else "maintainability",
        "title": f"`{name}` on line {line} breaks callers",
        "body": (
            f"When `{name}` is reached with an empty input this raises a TypeError, so every "
            f"request through `{name}` fails; restore the previous handling of `{name}`."
        ),
        "suggestion": None,
    }


def scripted_model(found: set[str], noise: set[str]) -> Handler:
    """Triage says deep; the review finds the labelled line in ``found`` cases, plus one
    finding on a far, unchanged line in ``noise`` cases."""

    def handler(request: dict[str, Any]) -> Reply | Awaitable[Reply]:
        choice = request.get("tool_choice")
        text = json.dumps(request["messages"])
        case = next(c for c in CASES if LABELS[c]["file"] in text)
        if isinstance(choice, dict) and choice["function"]["name"] == "triage_verdict":
            verdict = {
                "level": "deep",
                "focus_files": [LABELS[case]["file"]],
                "risk_areas": ["behaviour change"],
                "reason": "code change",
            }
            return tool_calls(("triage_verdict", verdict))(request)
        findings = []
        if case in found:
            findings.append(_finding(case, LABELS[case]["line"], "bug"))
        if case in noise:
            findings.append(_finding(case, _noise_line(case), "noise"))
        return tool_calls(("submit_review", {"findings": findings}))(request)

    return handler


@pytest.fixture
async def model() -> AsyncIterator[Callable[[Handler], FakeOpenAI]]:
    servers: list[FakeOpenAI] = []

    def start(handler: Handler) -> FakeOpenAI:
        fake = FakeOpenAI([handler] * 50)
        servers.append(fake)
        return fake

    yield start
    for fake in servers:
        await fake.close()
        assert fake.problems == [] and fake.rejected == []


def _settings(fake: FakeOpenAI) -> ReviewSettings:
    return ReviewSettings(
        triage_model="gpt-4o-mini",
        review_model="gpt-4o",
        base_url=fake.base_url,
        api_key="sk-test",
        llm_retries=0,
    )


HALF = {c for i, c in enumerate(CASES) if i % 2 == 0}
NOISE = {"httpie-1", "luigi-2", "fastapi-7", "thefuck-10"}


async def test_recall_and_precision_follow_the_script(
    model: Callable[[Handler], FakeOpenAI], tmp_path: Path
) -> None:
    fake = await model(scripted_model(HALF, NOISE)).start()
    report = await run_eval(load_dataset(_subset(tmp_path / "ds")), _settings(fake), concurrency=3)
    s = report.summary
    hits, noise = len(HALF), len(NOISE)
    assert (s.labelled_cases, s.errors) == (len(CASES), 0)
    assert s.found == hits and s.recall == pytest.approx(hits / len(CASES))
    assert s.reported == hits + noise
    assert s.precision == pytest.approx(hits / (hits + noise))
    assert s.false_positives_per_pr == pytest.approx(noise / len(CASES))
    assert {r.id for r in report.cases if r.found} == HALF
    assert report.by_category["correctness"].precision == 1.0
    assert report.by_category["maintainability"].hits == 0
    assert report.by_severity["low"].false_positives == noise
    assert s.tokens_per_pr > 0 and s.cost_per_pr > 0
    assert report.models == ("gpt-4o-mini", "gpt-4o")
    assert any(v.startswith("review@") for v in report.prompt_versions)


async def test_gate_fails_on_a_worse_model_and_names_the_regressed_cases(
    model: Callable[[Handler], FakeOpenAI],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dataset = _subset(tmp_path / "ds")
    good = await model(scripted_model(HALF, NOISE)).start()
    baseline = tmp_path / "baseline.json"
    report = await run_eval(load_dataset(dataset), _settings(good), concurrency=3)
    baseline.write_text(json.dumps(report_json(report)))
    kept = sorted(HALF)[:1]
    worse = await model(scripted_model(set(kept), NOISE)).start()
    monkeypatch.setenv("OPENAI_BASE_URL", worse.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("PRWARDEN_REVIEW_MODEL", "gpt-4o")
    monkeypatch.setenv("PRWARDEN_TRIAGE_MODEL", "gpt-4o-mini")
    argv = ["eval", str(dataset), "--baseline", str(baseline), "--concurrency", "2"]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 1
    assert "gate: FAILED" in out and "recall fell from 0.500 to 0.167" in out
    regressed = sorted(HALF - set(kept))
    assert f"missed now: {', '.join(regressed)}" in out
    assert "prompt versions differ" not in out


async def test_same_results_pass_and_changed_prompts_are_named(
    model: Callable[[Handler], FakeOpenAI], tmp_path: Path
) -> None:
    fake = await model(scripted_model(HALF, NOISE)).start()
    report = await run_eval(load_dataset(_subset(tmp_path / "ds")), _settings(fake))
    data = report_json(report)
    data["prompt_versions"] = ["review@0000000000"]
    stored = tmp_path / "b.json"
    stored.write_text(json.dumps(data))
    verdict = compare(report, load_baseline(stored), margin=0.02)
    assert verdict.passed and verdict.regressed_cases == ()
    assert any("prompt versions differ" in m for m in verdict.messages)


def test_static_run_writes_json_and_scores_the_linter(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    dataset = _subset(tmp_path / "ds", ("httpie-1", "luigi-2"))
    code = main(["eval", str(dataset), "--output", str(out), "--format", "json"])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["mode"] == "static" and data["models"] == [] and data["prompt_versions"] == []
    assert data["summary"]["labelled_cases"] == 2 and data["summary"]["errors"] == 0
    assert [c["mode"] for c in data["cases"]] == ["static", "static"]


def test_unlabelled_dataset_reports_no_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = _subset(tmp_path / "ds", ("httpie-1",), labels=False)
    assert main(["eval", str(dataset), "--output", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "has no labels" in out
    assert "recall (cases found)" not in out and "precision:" not in out
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["recall"] is None and summary["precision"] is None


def test_bad_inputs_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "missing")]) == 2
    assert "no cases/ folder" in capsys.readouterr().err
    dataset = _subset(tmp_path / "ds", ("httpie-1",))
    (dataset / "labels.jsonl").write_text('{"id": "httpie-1", "file": "x.py", "lines": "7"}\n')
    with pytest.raises(DatasetError, match="'lines' must be a list"):
        load_dataset(dataset)
    (dataset / "labels.jsonl").write_text('{"id": "other", "file": "x.py", "line": 3}\n')
    with pytest.raises(DatasetError, match=r"no cases/<id>/pr\.diff"):
        load_dataset(dataset)
    (dataset / "labels.jsonl").write_text("not json\n")
    with pytest.raises(DatasetError, match="not JSON"):
        load_dataset(dataset)
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something else"}')
    with pytest.raises(DatasetError, match="not a prwarden eval result"):
        load_baseline(bad)
    good = _subset(tmp_path / "ok", ("httpie-1",))
    assert main(["eval", str(good), "--baseline", str(bad)]) == 2
    assert main(["eval", str(good), "--concurrency", "0"]) == 2
    assert "concurrency must be at least 1" in capsys.readouterr().err


def test_a_diff_that_does_not_apply_is_an_error_row(tmp_path: Path) -> None:
    dataset = tmp_path / "ds"
    case = dataset / "cases" / "broken"
    (case / "base").mkdir(parents=True)
    (case / "base" / "a.py").write_text("x = 1\n")
    (case / "pr.diff").write_text(
        "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-y = 2\n+y = 3\n"
    )
    report = asyncio.run(run_eval(load_dataset(dataset), ReviewSettings()))
    assert report.summary.errors == 1 and report.summary.recall is None
    assert "does not apply" in report.cases[0].error
