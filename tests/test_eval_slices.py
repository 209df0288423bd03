"""``prwarden eval`` by language and by tool: the static tools' recall on real bug cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import corpora
from bot.cli import main

CORPUS = corpora.ROOT / "bug_diffs"
# Two Python bugs ruff finds, one JavaScript bug oxlint finds, one miss of each language.
CASES = ("PySnooper-3", "youtube-dl-9", "js-express-11", "httpie-1", "js-hexo-7")


def _dataset(root: Path) -> Path:
    (root / "cases").mkdir(parents=True)
    rows = [json.loads(line) for line in (CORPUS / "labels.jsonl").read_text().splitlines()]
    for case in CASES:
        (root / "cases" / case).symlink_to(CORPUS / "cases" / case, target_is_directory=True)
    chosen = [row for row in rows if row["id"] in CASES]
    (root / "labels.jsonl").write_text("".join(json.dumps(row) + "\n" for row in chosen))
    return root


def test_static_eval_scores_each_language_and_each_tool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    assert main(["eval", str(_dataset(tmp_path / "ds")), "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    languages = data["by_language"]
    assert set(languages) == {"python", "javascript"}
    assert (languages["python"]["cases"], languages["python"]["found"]) == (3, 2)
    assert (languages["javascript"]["cases"], languages["javascript"]["found"]) == (2, 1)
    assert languages["javascript"]["recall"] == pytest.approx(0.5)
    tools = data["by_tool"]
    assert list(tools)[:6] == [
        "ruff",
        "oxlint",
        "shellcheck",
        "zizmor",
        "hadolint",
        "detect-secrets",
    ]
    assert (tools["ruff"]["found"], tools["ruff"]["hits"]) == (2, 2)
    assert (tools["oxlint"]["found"], tools["oxlint"]["precision"]) == (1, 1.0)
    assert tools["zizmor"] == {
        "cases": 5,
        "found": 0,
        "recall": 0.0,
        "reported": 0,
        "hits": 0,
        "precision": None,
    }
    table = capsys.readouterr().out
    assert "language  javascript" in table and "tool      oxlint" in table
    row = next(line for line in table.splitlines() if line.startswith("tool      ruff"))
    assert row.split()[2:5] == ["5", "2", "40.0%"]
