"""Every environment variable the operator settings read is documented in README.md."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"\b(?:PRWARDEN|OPENAI|XDG)_[A-Z0-9_]+\b")
# the system's own, read only to find the user's home folder
SYSTEM = {"HOME"}


class RecordingEnv(Mapping[str, str]):
    """An empty environment that remembers every name asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _readme_names() -> set[str]:
    return set(_NAME.findall((ROOT / "README.md").read_text()))


def test_every_variable_the_settings_read_is_in_the_readme() -> None:
    env = RecordingEnv()
    Settings.from_env(env)
    assert len(env.asked) > 20, sorted(env.asked)
    missing = sorted(env.asked - SYSTEM - _readme_names())
    assert not missing, f"environment variables missing from README.md: {missing}"


def test_every_variable_named_in_the_bot_is_in_the_readme() -> None:
    named = {
        name
        for path in sorted((ROOT / "bot").rglob("*.py"))
        for name in _NAME.findall(path.read_text())
    }
    missing = sorted(named - _readme_names())
    assert not missing, f"environment variables missing from README.md: {missing}"
