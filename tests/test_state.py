"""Where state goes: commands that only read never create a store; local reviews keep theirs
in the user's state folder ($XDG_STATE_HOME/prwarden), and PRWARDEN_DB still wins."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from cache.db import open_db

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


def test_stats_in_an_empty_folder_creates_no_file(tmp_path: Path) -> None:
    """cd $(mktemp -d) && prwarden stats"""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    done = _run(["stats"], work, HOME=str(home))
    assert done.returncode == 0, done.stderr
    assert _files(tmp_path) == []
    assert "nothing recorded yet" in done.stderr


@pytest.fixture
def cli(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> Callable[..., tuple[int, str, str]]:
    """``prwarden ARGS`` in-process, in folder ``cwd``, with only the given variables set."""

    def run(args: list[str], cwd: Path, **env: str) -> tuple[int, str, str]:
        for name in list(os.environ):
            if name.startswith(("PRWARDEN_", "OPENAI_", "XDG_")):
                monkeypatch.delenv(name)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(cwd)
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.mark.parametrize(
    "args",
    [
        ["findings", "list"],
        ["findings", "show", "1"],
        ["cache", "stats"],
        ["stats", "--format", "json"],
    ],
)
def test_no_reading_command_creates_a_file(
    tmp_path: Path, args: list[str], cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, _, err = cli(args, tmp_path)
    assert code == (2 if "show" in args else 0), err
    assert "nothing recorded yet" in err
    assert _files(tmp_path) == []


REVIEW = ["review", "--repo", str(EXAMPLE / "shop"), "--diff", str(EXAMPLE / "shop.diff")]


def test_local_reviews_keep_their_store_in_the_state_folder(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    work, state = tmp_path / "work", tmp_path / "state"
    work.mkdir()
    code, _, err = cli(REVIEW, work, XDG_STATE_HOME=str(state))
    assert code == 0, err
    assert (state / "prwarden" / "prwarden.db").is_file()
    assert _files(work) == []
    # and the reading commands find it there
    code, _, err = cli(["cache", "stats"], work, XDG_STATE_HOME=str(state))
    assert code == 0 and "nothing recorded yet" not in err and _files(work) == []


def test_prwarden_db_wins_over_the_state_folder(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    state, db = tmp_path / "state", tmp_path / "chosen.db"
    code, _, err = cli(REVIEW, tmp_path, XDG_STATE_HOME=str(state), PRWARDEN_DB=str(db))
    assert code == 0, err
    assert db.is_file() and not state.exists()


def test_a_reading_command_reads_the_server_store_in_the_working_folder(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    open_db(tmp_path / "prwarden.db").conn.close()
    code, out, err = cli(["findings", "list"], tmp_path)
    assert code == 0 and out.startswith("no pending findings"), err
    assert "nothing recorded yet" not in err
    assert not (tmp_path / "home").exists()
