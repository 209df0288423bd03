"""Where state goes: commands that only read never create a store; local reviews keep theirs
in the user's state folder ($XDG_STATE_HOME/prwarden), and PRWARDEN_DB still wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples"


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PRWARDEN_", "OPENAI_", "XDG_")) and k != "HOME"
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "args", [["stats"], ["findings", "list"], ["cache", "stats"], ["stats", "--format", "json"]]
)
def test_a_reading_command_in_an_empty_folder_creates_no_file(
    tmp_path: Path, args: list[str]
) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    done = _run(args, work, HOME=str(home))
    assert done.returncode == 0, done.stderr
    assert _files(tmp_path) == []
    assert "nothing recorded yet" in done.stderr


def test_local_reviews_keep_their_store_in_the_state_folder(tmp_path: Path) -> None:
    work, state = tmp_path / "work", tmp_path / "state"
    work.mkdir()
    review = ["review", "--repo", str(EXAMPLE / "shop"), "--diff", str(EXAMPLE / "shop.diff")]
    done = _run(review, work, HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(state))
    assert done.returncode == 0, done.stderr
    assert (state / "prwarden" / "prwarden.db").is_file()
    assert _files(work) == []
    # and the reading commands find it there
    stats = _run(["cache", "stats"], work, HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(state))
    assert stats.returncode == 0, stats.stderr
    assert "nothing recorded yet" not in stats.stderr and _files(work) == []


def test_prwarden_db_wins_over_the_state_folder(tmp_path: Path) -> None:
    state, db = tmp_path / "state", tmp_path / "chosen.db"
    review = ["review", "--repo", str(EXAMPLE / "shop"), "--diff", str(EXAMPLE / "shop.diff")]
    done = _run(review, tmp_path, XDG_STATE_HOME=str(state), PRWARDEN_DB=str(db))
    assert done.returncode == 0, done.stderr
    assert db.is_file() and not state.exists()


def test_a_reading_command_reads_the_server_store_in_the_working_folder(tmp_path: Path) -> None:
    from cache.db import open_db

    open_db(tmp_path / "prwarden.db").conn.close()
    done = _run(["findings", "list"], tmp_path, HOME=str(tmp_path / "home"))
    assert done.returncode == 0 and done.stdout.startswith("no pending findings"), done
    assert "nothing recorded yet" not in done.stderr
    assert not (tmp_path / "home").exists()
