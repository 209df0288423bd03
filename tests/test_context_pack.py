"""The context pack in the first prompt: each hunk widened to its whole enclosing function,
the signatures of what the added lines call, within the pack's own token budget."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import corpora
from bot.evaluate import build_workspace, load_dataset
from review.context_pack import PACK_TOKENS, build_context_pack
from review.diff import parse_diff
from review.pipeline import run_review
from review.request import ReviewRequest
from tests.fakes.openai import FakeOpenAI
from tests.reviewing import model_settings, script_reviewer

CASES = {c.id: c for c in load_dataset(corpora.ROOT / "bug_diffs").cases}


def _python_function(lines: list[str], name: str) -> tuple[int, int]:
    """Lines (1-based) of method ``name``: from its ``def`` to the last line indented deeper."""
    start = next(i for i, text in enumerate(lines) if re.match(rf"\s*def {name}\(", text))
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith(":"))
    for i in range(end + 1, len(lines)):
        text = lines[i]
        if text.strip() and len(text) - len(text.lstrip()) <= indent:
            break
        if text.strip():
            end = i
    return start + 1, end + 1


def _js_assigned_function(lines: list[str], head: str) -> tuple[int, int]:
    """Lines of ``head = function ... {`` up to the first ``};`` at column 0 after it."""
    start = next(i for i, text in enumerate(lines) if text.startswith(head))
    end = next(i for i in range(start, len(lines)) if lines[i] == "};")
    return start + 1, end + 1


# A long method (87 lines, one hunk) and a long function with two hunks in it.
LONG = {
    "tornado-2": ("tornado/http1connection.py", lambda ls: _python_function(ls, "write_headers")),
    "js-express-11": ("lib/response.js", lambda ls: _js_assigned_function(ls, "res.send =")),
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    script_reviewer(server)
    await server.start()
    yield server
    await server.close()


def _first_review_prompt(fake: FakeOpenAI) -> str:
    def is_triage(request: dict[str, Any]) -> bool:
        choice = request.get("tool_choice")
        return isinstance(choice, dict) and choice["function"]["name"] == "triage_verdict"

    first = next(r for r in fake.requests if not is_triage(r))
    return "\n".join(str(m.get("content") or "") for m in first["messages"] if m["role"] == "user")


@pytest.mark.parametrize("case_id", sorted(LONG))
async def test_first_prompt_holds_the_whole_enclosing_function_of_every_hunk(
    case_id: str, fake: FakeOpenAI, tmp_path: Path
) -> None:
    case = CASES[case_id]
    path, locate = LONG[case_id]
    workspace = await build_workspace(case, tmp_path)
    lines = (workspace / path).read_text().splitlines()
    start, end = locate(lines)
    assert end - start > 60, "the case's hunk sits in a long function"
    diff_text = (case.folder / "pr.diff").read_bytes()
    hunks = parse_diff(diff_text).file(path)
    assert hunks is not None
    assert all(start <= h.new_start and h.new_start + h.new_length - 1 <= end for h in hunks.hunks)

    request = ReviewRequest(diff=diff_text, workspace=workspace, settings=model_settings(fake))
    result = await run_review(request)
    assert result.mode == "model"
    prompt = _first_review_prompt(fake)
    for n in range(start, end + 1):
        text = lines[n - 1]
        assert f"\n{n}  {text}" in prompt or f"\n{n} +{text}" in prompt, f"line {n} missing"
    # Widened, not repeated: each line of the function is shown once.
    assert prompt.count(f"\n{start}  {lines[start - 1]}\n") == 1


async def test_the_pack_is_deterministic_within_budget_and_names_where_callees_live(
    tmp_path: Path,
) -> None:
    case = CASES["black-1"]
    workspace = await build_workspace(case, tmp_path)
    diff = parse_diff((case.folder / "pr.diff").read_bytes())
    pack = build_context_pack(diff, workspace)
    assert build_context_pack(diff, workspace) == pack
    assert 0 < pack.tokens <= PACK_TOKENS
    source = (workspace / "black.py").read_text().splitlines()
    where = next(i for i, t in enumerate(source, 1) if t.startswith("def shutdown("))
    assert f"black.py:{where} function shutdown: def shutdown(" in pack.render_signatures()
    assert all("\n" not in s and len(s) < 400 for s in pack.signatures)


async def test_a_small_budget_leaves_hunks_bare_and_nothing_is_lost(tmp_path: Path) -> None:
    case = CASES["tornado-2"]
    workspace = await build_workspace(case, tmp_path)
    diff = parse_diff((case.folder / "pr.diff").read_bytes())
    pack = build_context_pack(diff, workspace, budget=50)
    assert pack.widened == {} and pack.tokens <= 50
    bare = pack.render_diff(diff, [], 100_000)
    for f in diff:
        for h in f.hunks:
            for line in h.lines:
                assert line.text in bare


async def test_files_outside_the_workspace_or_unparsable_give_no_pack(tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("def f():\n    return 1\n")
    root = tmp_path / "ws"
    root.mkdir()
    (root / "link.py").symlink_to(outside)
    (root / "data.bin").write_bytes(b"\x00\x01" * 100)
    diff = parse_diff(
        "diff --git a/link.py b/link.py\n--- a/link.py\n+++ b/link.py\n"
        "@@ -1,2 +1,2 @@\n def f():\n-    return 0\n+    return 1\n"
    )
    pack = build_context_pack(diff, root)
    assert pack.files == {} and pack.signatures == () and pack.tokens == 0
