"""``prwarden review`` in a real git repository: the diff and the tools see the same tree,
the base is chosen and said, git's own errors come through, skipped files and empty diffs are
explained."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main

BASE = "import os\n\n\ndef f():\n    return os.sep\n"
COMMITTED = "import os\nimport sys\n\n\ndef f():\n    return os.sep\n"
# uncommitted: a docstring on top moves `import sys` down, and a new unused import
EDITED = '"""Module."""\n\nimport json\nimport os\nimport sys\n\n\ndef f():\n    return os.sep\n'


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("PRWARDEN_", "OPENAI_", "GIT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PRWARDEN_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / "gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
    )


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A clone of a repository whose main has app.py, on a new branch with one commit."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q")
    (upstream / "app.py").write_text(BASE)
    git(upstream, "add", ".")
    git(upstream, "commit", "-qm", "base")
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(upstream), str(work))
    git(work, "checkout", "-qb", "feature")
    (work / "app.py").write_text(COMMITTED)
    git(work, "commit", "-qam", "import sys")
    return work


def _review(work: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["review", "--repo", str(work), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _f401(result: dict[str, Any]) -> dict[int, str]:
    return {
        f["line"]: f["title"]
        for f in result["findings"]
        if f["path"] == "app.py" and "F401" in (f.get("rule") or "") + f["title"]
    }


def test_uncommitted_edits_are_reviewed_on_the_lines_they_are_on(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "app.py").write_text(EDITED)
    code, out, err = _review(work, capsys, "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    found = _f401(result)
    lines = EDITED.splitlines()
    assert set(found) == {3, 5}, result["findings"]
    assert lines[3 - 1] == "import json" and lines[5 - 1] == "import sys"
    assert "json" in found[3] and "sys" in found[5]
    assert "the working tree (with uncommitted edits to 1 file)" in result["compared"]
    assert "origin/main" in result["compared"]


def test_without_edits_the_committed_change_is_reviewed(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _review(work, capsys, "--format", "json")
    result = json.loads(out)
    assert code == 0 and result["compared"].startswith("HEAD against origin/main")
    assert set(_f401(result)) == {2}


def test_the_default_base_is_the_upstream_when_there_is_one(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(work, "branch", "-q", "--set-upstream-to", "origin/main")
    code, out, _ = _review(work, capsys)
    assert code == 0
    assert "reviewed: HEAD against origin/main (the branch's upstream)" in out


def test_a_bad_base_gets_gits_own_error(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _review(work, capsys, "--base", "no-such-ref")
    assert code == 2
    assert "fatal: Not a valid object name no-such-ref" in err
    assert "usage" not in err.lower()


def test_no_base_to_be_found_says_what_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    git(alone, "init", "-q")
    (alone / "a.py").write_text("x = 1\n")
    git(alone, "add", ".")
    git(alone, "commit", "-qm", "one")
    code, _, err = _review(alone, capsys)
    assert code == 2 and "pass --base REF" in err and "no remote" in err


def test_an_empty_diff_is_explained(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(work, "checkout", "-q", "main")
    code, out, _ = _review(work, capsys)
    assert code == 0
    assert "Nothing to review: the diff is empty (HEAD against origin/main" in out


def test_every_skipped_file_is_listed_with_its_reason(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (work / "app.py").unlink()
    git(work, "add", "-A")
    git(work, "commit", "-qm", "logo, no app")
    code, out, _ = _review(work, capsys)
    assert code == 0
    assert "Skipped files (2):" in out
    assert "  logo.png  (binary)" in out and "  app.py  (deleted)" in out
    assert "Nothing to review: every changed file was skipped" in out


def test_a_remote_without_a_recorded_default_still_gives_its_main(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(work, "remote", "set-head", "origin", "--delete")
    code, out, _ = _review(work, capsys)
    assert code == 0
    assert "against origin/main (origin records no default branch" in out
