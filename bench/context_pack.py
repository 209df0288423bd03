"""The context pack's cost on the bundled bug cases: its tokens as their own column.

Run from the project root: ``python bench/context_pack.py``. For every case of
``corpora/bug_diffs`` the PR's head is built as ``prwarden eval`` builds it, and the first
review prompt's user message is rendered twice, with the pack and with the bare diff. The
table gives, over the cases, the median / p90 / max of the bare first prompt, of the pack's
own tokens (what it adds over the bare diff) and of the first prompt with the pack, plus how
many hunks were shown widened to their whole enclosing definition. Tokens are the pipeline's
estimate (characters / 4), the same one the agent's budgets use.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import corpora
from bot.evaluate import build_workspace, load_dataset
from prwarden.tokens import estimate as estimate_tokens
from review.agent import user_message
from review.context_pack import PACK_TOKENS, build_context_pack
from review.diff import parse_diff
from review.request import PRInfo
from security.spotlight import Spotlight

MAX_TOKENS = 16_000


def _stats(values: Sequence[int]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(ordered):.0f} / {p90} / {ordered[-1]}"


async def measure() -> list[str]:
    dataset = load_dataset(corpora.ROOT / "bug_diffs")
    bare, pack_tokens, packed = [], [], []
    widened = hunks = 0
    spotlight = Spotlight.new()
    with tempfile.TemporaryDirectory(prefix="prwarden-pack-") as tmp:
        for case in dataset.cases:
            root = await build_workspace(case, Path(tmp))
            diff = parse_diff((case.folder / "pr.diff").read_bytes())
            pack = build_context_pack(diff, root)
            pr = PRInfo(repo=case.id, title=case.id)
            common = {"focus_files": (), "risk_areas": (), "max_tokens": MAX_TOKENS}
            bare.append(estimate_tokens(user_message(diff, pr, spotlight, **common)))
            packed.append(estimate_tokens(user_message(diff, pr, spotlight, **common, pack=pack)))
            pack_tokens.append(pack.tokens)
            hunks += sum(len(f.hunks) for f in diff)
            widened += sum(len(r.hunks) for runs in pack.widened.values() for r in runs)
    return [
        f"context pack on corpora/bug_diffs ({len(dataset.cases)} cases; pack budget "
        f"{PACK_TOKENS} tokens)",
        "",
        "| first prompt, bare diff | context pack tokens | first prompt with pack | "
        "hunks widened |",
        "| --- | --- | --- | --- |",
        f"| {_stats(bare)} | {_stats(pack_tokens)} | {_stats(packed)} | {widened}/{hunks} |",
        "",
        "(median / p90 / max tokens per case; target: pack median <= 600)",
    ]


if __name__ == "__main__":
    print("\n".join(asyncio.run(measure())))
