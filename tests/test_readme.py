"""The README's set-up is what CI runs, and it needs nothing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def test_ci_runs_the_readmes_two_commands_from_a_clone_with_nothing_beside_it() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in ci.splitlines()]
    for command in commands:
        assert command in lines, f"CI does not run the README's command: {command}"
    assert "git clone" in ci and "mktemp -d" in ci  # a fresh copy, no sibling folders
    assert lines.index(commands[0]) < lines.index(commands[1])


def test_nothing_in_the_tests_or_the_bench_reads_outside_the_repository() -> None:
    # The ways a path climbs out of the checkout: a parent of the repository root, or the
    # sibling folder the corpora once came from.
    outside = re.compile(r"""parents\[\d\]\.parent\b|["']\.\./shared|/ ["']shared["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("tests", "bench", "bot", "review", "tools", "security", "cache")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if outside.search(line)
    ]
    assert offenders == []
