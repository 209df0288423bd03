"""What a review costs in tokens: the bundled bug cases through ``run_review`` with a fake model.

The driver runs every case of ``corpora/bug_diffs`` (real one-file bug-introducing diffs) through
the real pipeline, against the fake OpenAI server with a model that answers the way a careful
reviewer would on the first try: triage (when asked) says ``deep`` with the changed file as
focus; the review makes one turn of two parallel tool calls (``read_file`` of the eleven lines
around the labelled line, ``search_codebase`` for a name on it within the changed file), then
submits the labelled finding.

Every request is counted by the fake server with OpenAI's ``o200k_base`` encoding (shipped
offline by ``bpe-openai``; ``prwarden.tokens``' estimate when it is not installed) plus chat
accounting (3 tokens a message, 3 to prime the reply), and the server reports cached prompt
tokens the way OpenAI does: an identical prefix of at least 1,024 tokens with an earlier request
to the same model, in steps of 128. Cost is the pipeline's own, from the price table.

``python bench/tokens_bench.py`` prints the per-PR medians; ``bench/run.py`` includes them.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import corpora
from cache.db import open_db
from prwarden import tokens
from review.agent import user_message
from review.context_pack import build_context_pack
from review.diff import parse_diff
from review.pipeline import run_review
from review.request import PRInfo, ReviewRequest, ReviewResult
from review.settings import Budget, ReviewSettings
from security.spotlight import Spotlight
from tests.fakes.openai import FakeOpenAI, TokenMeter, _segments, tool_calls

CASES = corpora.ROOT / "bug_diffs"
TRIAGE_MODEL = "gpt-4.1-nano"
REVIEW_MODEL = "gpt-4.1"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_KEYWORDS = {"self", "return", "def", "class", "import", "from", "None", "True", "False", "not"}


def counter() -> tuple[Callable[[str], int], str]:
    """The exact ``o200k_base`` count when ``bpe-openai`` is installed, else the estimator."""
    try:
        import bpe_openai
    except ImportError:
        return tokens.estimate, "prwarden.tokens estimate"
    encoding = bpe_openai.get_encoding("o200k_base")
    return (lambda text: len(encoding.encode(text))), "o200k_base"


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    path: str
    line: int
    diff: bytes
    base: Path

    @classmethod
    def load_all(cls) -> list[Case]:
        cases = []
        for raw in (CASES / "labels.jsonl").read_text().splitlines():
            label = json.loads(raw)
            folder = CASES / "cases" / label["id"]
            cases.append(
                cls(
                    label["id"],
                    label["file"],
                    int(label["line"]),
                    (folder / "pr.diff").read_bytes(),
                    folder / "base",
                )
            )
        return cases

    def name_on_line(self) -> str:
        """A name from the labelled added line, for the search and the finding."""
        wanted = f"+{self.line}"
        text = self.diff.decode("utf-8", "replace")
        added = _added_lines(text)
        line = added.get(self.line) or next(iter(added.values()), "")
        names = [n for n in _NAME.findall(line) if n not in _KEYWORDS]
        return names[0] if names else Path(self.path).stem or wanted


def _added_lines(diff: str) -> dict[int, str]:
    out: dict[int, str] = {}
    number = 0
    for line in diff.splitlines():
        hunk = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)", line)
        if hunk:
            number = int(hunk.group(1))
            continue
        if line.startswith("+++") or line.startswith("---"):
            continue
        if line.startswith("+"):
            out[number] = line[1:]
            number += 1
        elif line.startswith(" "):
            number += 1
    return out


def careful_model(case: Case) -> Callable[[dict[str, Any]], Any]:
    """Triage says deep; the review reads and searches once in parallel, then submits."""
    name = case.name_on_line()
    finding = {
        "path": case.path,
        "line": case.line,
        "start_line": None,
        "severity": "high",
        "category": "correctness",
        "title": f"`{name}` no longer handles the failing case",
        "body": (
            f"The change to `{name}` drops the guard the old code had: when the input is empty "
            "or missing, this line raises a TypeError instead of returning the fallback value."
        ),
        "suggestion": None,
    }

    def handler(request: dict[str, Any]) -> Any:
        choice = request.get("tool_choice")
        if isinstance(choice, dict) and choice["function"]["name"] == "triage_verdict":
            verdict = {"level": "deep", "focus_files": [case.path], "risk_areas": [], "reason": "x"}
            return tool_calls(("triage_verdict", verdict))(request)
        if not any(m["role"] == "tool" for m in request["messages"]):
            start = max(1, case.line - 5)
            return tool_calls(
                ("read_file", {"path": case.path, "start": start, "end": case.line + 5}),
                ("search_codebase", {"query": name, "glob": case.path}),
            )(request)
        return tool_calls(("submit_review", {"findings": [finding]}))(request)

    return handler


@dataclass(frozen=True, slots=True)
class PerPR:
    calls: int
    prompt_tokens: int
    fixed_tokens: int
    cached_tokens: int
    input_cost: float
    context_pack: int
    posted: int


def _fixed_tokens(request: Mapping[str, Any], meter: TokenMeter) -> int:
    """Tokens of the request that do not depend on the PR: tool schemas and system prompt."""
    tools, *messages = _segments(request)
    system = [
        m for m, raw in zip(messages, request["messages"], strict=True) if raw["role"] == "system"
    ]
    return meter.count(tools) + sum(meter.count(m) + 3 for m in system[:1])


def pack_tokens(case: Case, pr: PRInfo, count: Callable[[str], int]) -> int:
    """What the context pack adds to the first prompt of ``case`` (and to every later turn)."""
    diff = parse_diff(case.diff)
    pack = build_context_pack(diff, case.base)
    spotlight = Spotlight("0" * 16)
    common: dict[str, Any] = {
        "focus_files": (),
        "risk_areas": (),
        "max_tokens": Budget().diff_tokens,
    }
    bare = user_message(diff, pr, spotlight, **common)
    return count(user_message(diff, pr, spotlight, **common, pack=pack)) - count(bare)


async def measure(limit: int | None = None) -> tuple[list[PerPR], str, list[float]]:
    """Review every bug case; the per-PR figures, the counter's name, the estimator's ratios."""
    count, how = counter()
    cases = Case.load_all()[:limit]
    settings_base = ReviewSettings(triage_model=TRIAGE_MODEL, review_model=REVIEW_MODEL)
    rows: list[PerPR] = []
    ratios: list[float] = []
    async with FakeOpenAI(count_tokens=count) as fake:
        settings = ReviewSettings(
            triage_model=TRIAGE_MODEL,
            review_model=REVIEW_MODEL,
            base_url=fake.base_url,
            api_key="sk-bench-0123456789",
            llm_retries=0,
            prices=settings_base.prices,
        )
        with tempfile.TemporaryDirectory() as folder:
            db = open_db(Path(folder) / "bench.db")
            for case in cases:
                fake.script(*[careful_model(case)] * 8)
                first = len(fake.requests)
                before = db["llm_calls"].count
                pr = PRInfo(
                    repo=case.id,
                    title=f"Update {Path(case.path).name}",
                    body=f"Tidies {case.path}.",
                )
                result: ReviewResult = await run_review(
                    ReviewRequest(diff=case.diff, workspace=case.base, settings=settings, pr=pr),
                    db=db,
                )
                fake.turns = fake.turns[: len(fake.requests)]
                sent = fake.requests[first:]
                calls = list(db["llm_calls"].rows_where("id > ?", [before], order_by="id"))
                for request in sent:
                    text = json.dumps(request["tools"]) + json.dumps(request["messages"])
                    ratios.append(tokens.estimate(text) / max(count(text), 1))
                rows.append(
                    PerPR(
                        calls=len(calls),
                        prompt_tokens=sum(c["tokens_in"] for c in calls),
                        fixed_tokens=sum(_fixed_tokens(r, fake.meter) for r in sent),
                        cached_tokens=sum(c["cached_tokens"] for c in calls),
                        input_cost=sum(
                            settings.cost(c["model"], c["tokens_in"], 0, c["cached_tokens"])
                            for c in calls
                        ),
                        context_pack=pack_tokens(case, pr, count)
                        * sum(1 for c in calls if c["purpose"] != "triage"),
                        posted=len(result.posted),
                    )
                )
    return rows, how, ratios


def summary(rows: list[PerPR]) -> dict[str, float]:
    def median(values: list[float]) -> float:
        return float(statistics.median(values)) if values else 0.0

    return {
        "prs": len(rows),
        "calls": median([r.calls for r in rows]),
        "prompt_tokens": median([r.prompt_tokens for r in rows]),
        "fixed_share": median([r.fixed_tokens / max(r.prompt_tokens, 1) for r in rows]),
        "cached_tokens": median([r.cached_tokens for r in rows]),
        "input_cost": median([r.input_cost for r in rows]),
        "context_pack": median([r.context_pack for r in rows]),
        "without_pack": median([r.prompt_tokens - r.context_pack for r in rows]),
        "posted": sum(r.posted for r in rows),
    }


def main() -> int:
    rows, how, ratios = asyncio.run(measure())
    figures = summary(rows)
    print(f"counted with {how}; {figures['prs']} bug cases")
    for key, value in figures.items():
        print(f"{key:>14}: {value:,.5f}" if isinstance(value, float) else f"{key:>14}: {value}")
    if ratios:
        ratios.sort()
        print(
            f"estimator / {how}: median {statistics.median(ratios):.3f}, "
            f"p5 {ratios[len(ratios) // 20]:.3f}, p95 {ratios[-len(ratios) // 20 - 1]:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
