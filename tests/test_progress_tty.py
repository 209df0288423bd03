"""A local review shows its progress on a terminal (stages, agent turns, tokens so far) and
writes nothing extra when standard error is a pipe: the review alone goes to standard output."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

from tests.fakes.openai import FakeOpenAI
from tests.model_scripts import API_KEY, Investigation, submit

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples"
REVIEW = ["review", "--repo", str(EXAMPLE / "shop"), "--diff", str(EXAMPLE / "shop.diff")]


def _turns() -> list[object]:
    look = Investigation.of(query="orders_for", lint_path="shop/db.py", symbol="orders_for")
    # The example is a small change: it goes to the review model with no triage call.
    return [look.turn, submit()]


def _env(model: FakeOpenAI, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRWARDEN_", "OPENAI_"))}
    env.update(
        OPENAI_BASE_URL=model.base_url,
        OPENAI_API_KEY=API_KEY,
        PRWARDEN_TRIAGE_MODEL="cheap",
        PRWARDEN_REVIEW_MODEL="capable",
        PRWARDEN_DB=str(db),
        TERM="xterm",
    )
    return env


def _on_a_terminal(env: dict[str, str]) -> tuple[int, str, str]:
    """Run a review with standard error on a pseudo-terminal; what each stream got."""
    master, slave = pty.openpty()
    seen: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                return
            if not chunk:
                return
            seen.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", *REVIEW],
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(slave)
        reader.join(timeout=30)
        os.close(master)
    return done.returncode, done.stdout.decode(), b"".join(seen).decode(errors="replace")


async def test_a_terminal_shows_progress_and_a_pipe_gets_only_the_review(tmp_path: Path) -> None:
    async with FakeOpenAI(_turns()) as model:
        code, out, terminal = await asyncio.to_thread(_on_a_terminal, _env(model, tmp_path / "a"))
    assert code == 0, terminal
    assert "prwarden: agent" in terminal and "prwarden: triage" not in terminal
    assert "agent turn 2" in terminal and "tokens so far" in terminal
    assert "prwarden review by model capable" in out
    assert "tokens so far" not in out and "\r" not in out

    async with FakeOpenAI(_turns()) as model:
        piped = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot.cli", *REVIEW],
            capture_output=True,
            env=_env(model, tmp_path / "b"),
            timeout=120,
            check=False,
        )
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == b""
    assert piped.stdout.decode() == out
