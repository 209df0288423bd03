"""What the review cache saves: the latency of a cache hit, and the model tokens a re-push costs.

Run from the project root: ``python bench/cache_bench.py [--runs N] [--files F] [--lines L]``.

1. Cache hit: ``review.pipeline.run_review`` on a change already reviewed, with a real SQLite
   file — everything a job does between fetching from GitHub and the publish call (diff parse,
   cache lookup, the static linter over the changed files, filters, the review body). The first
   review goes to a scripted model on the fake OpenAI server (loopback); the timed runs must
   make no model call, which the script checks.
2. Per-file reuse: a PR of F new files is reviewed, then a push changes one of them. The model's
   usage is the fake's estimate from the request size (about 4 characters a token), so the
   tokens are what the pipeline actually sent; the ratio of the second review's input tokens
   to the first's shows how much of the first the second reused.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlite_utils

from cache.db import open_db
from review.pipeline import run_review
from review.request import CallContext, PRInfo, ReviewRequest
from testkit.fakes.openai import FakeOpenAI
from testkit.reviewer import model_settings, paths_in, script_reviewer


def module_text(index: int, lines: int, revision: int = 0) -> str:
    body = [f'"""Module {index} (revision {revision})."""', ""]
    for n in range(lines // 3):
        body += [
            f"def step_{index}_{n}(value: int) -> int:",
            f"    return value * {n + revision}",
            "",
        ]
    return "\n".join(body) + "\n"


def new_file_diff(path: str, text: str) -> str:
    lines = text.splitlines()
    head = f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
    hunk = f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n"
    return head + hunk + "".join(f"+{line}\n" for line in lines)


def write_pr(root: Path, texts: dict[str, str]) -> str:
    for path, text in texts.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return "".join(new_file_diff(path, text) for path, text in sorted(texts.items()))


def tokens_in_since(db: sqlite_utils.Database, after_id: int) -> tuple[int, int, int]:
    """(input tokens, calls, last id) of the model calls logged after ``after_id``."""
    tokens, calls, last = db.conn.execute(
        "SELECT COALESCE(SUM(tokens_in), 0), COUNT(*), COALESCE(MAX(id), ?) FROM llm_calls"
        " WHERE id > ?",
        (after_id, after_id),
    ).fetchone()
    return int(tokens), int(calls), int(last)


def request_for(fake: FakeOpenAI, diff: str, workspace: Path, sha: str) -> ReviewRequest:
    return ReviewRequest(
        diff=diff,
        workspace=workspace,
        settings=model_settings(fake),
        pr=PRInfo(repo="bench/cache", number=1, title="Bench", head_sha=sha),
        context=CallContext(installation_id=1, repo="bench/cache", pr_number=1),
    )


async def cache_hit_latency(fake: FakeOpenAI, root: Path, runs: int, files: int) -> list[float]:
    db = open_db(root / "hit.db")
    workspace = root / "hit"
    texts = {f"pkg/mod_{i}.py": module_text(i, 30) for i in range(files)}
    request = request_for(fake, write_pr(workspace, texts), workspace, "a" * 40)
    first = await run_review(request, db=db)
    if first.mode != "model":
        raise SystemExit(f"the first review should use the model, got {first.mode}")
    _, _, last = tokens_in_since(db, 0)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await run_review(request, db=db)
        times.append((time.perf_counter() - started) * 1000)
        if result.mode != "cached":
            raise SystemExit(f"expected a cache hit, got {result.mode}")
    if tokens_in_since(db, last)[1]:
        raise SystemExit("a cache hit called the model")
    return times


async def reviewed_tokens(
    fake: FakeOpenAI, db: sqlite_utils.Database, workspace: Path, texts: dict[str, str], sha: str
) -> int:
    """Review the PR made of ``texts``; the input tokens of the model calls it made."""
    _, _, last = tokens_in_since(db, 0)
    await run_review(request_for(fake, write_pr(workspace, texts), workspace, sha), db=db)
    return tokens_in_since(db, last)[0]


async def reuse_ratio(fake: FakeOpenAI, root: Path, files: int, lines: int) -> dict[str, int]:
    db = open_db(root / "reuse.db")
    texts = {f"pkg/mod_{i}.py": module_text(i, lines) for i in range(files)}
    first = await reviewed_tokens(fake, db, root / "reuse", texts, "b" * 40)
    changed = {"pkg/mod_3.py": module_text(3, lines, revision=1)}
    second = await reviewed_tokens(fake, db, root / "reuse", {**texts, **changed}, "c" * 40)
    sent = paths_in(fake.requests[-1])
    if sent != list(changed):
        raise SystemExit(f"the second push should send only {list(changed)}, sent {sent}")
    alone = await reviewed_tokens(
        fake, open_db(root / "alone.db"), root / "alone", changed, "d" * 40
    )
    return {"first push": first, "second push": second, "the changed file alone": alone}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed cache hits")
    parser.add_argument("--files", type=int, default=10, help="files in the PR")
    parser.add_argument("--lines", type=int, default=90, help="lines per file (reuse ratio)")
    options = parser.parse_args()
    async with FakeOpenAI() as fake:
        script_reviewer(fake)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            times = await cache_hit_latency(fake, root, options.runs, options.files)
            tokens = await reuse_ratio(fake, root, options.files, options.lines)
    quantiles = statistics.quantiles(times, n=100)
    print()
    print(f"| cache hit, run_review ({len(times)} runs, {options.files} files) | ms |")
    print("| --- | ---: |")
    print(f"| p50 | {statistics.median(times):.1f} |")
    print(f"| p99 | {quantiles[98]:.1f} |")
    print(f"| max | {max(times):.1f} |")
    print()
    print(f"| per-file reuse ({options.files} files, 1 changed) | tokens in |")
    print("| --- | ---: |")
    for name, count in tokens.items():
        print(f"| {name} | {count} |")
    first, second = tokens["first push"], tokens["second push"]
    print(f"| second / first | {second / first:.3f} (one file of {options.files}) |")
    print(f"| second / changed file alone | {second / tokens['the changed file alone']:.3f} |")
    print()
    print("Every model request carries a fixed part (system prompt, tool schemas), so the")
    print("second push costs what a review of the changed file alone costs, not a tenth.")


if __name__ == "__main__":
    asyncio.run(main())
