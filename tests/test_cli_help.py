"""Help that teaches: each subcommand's --help shows its defaults, the environment variables
it reads and one example, and no markup leaks into the plain text."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from bot.cli import _parser
from bot.cli_help import COMMANDS, ENV_HELP, subcommands

PARSER = _parser()
ALL = dict(subcommands(PARSER))


def _help(words: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        PARSER.parse_args([*words.split(), "--help"])
    return out.getvalue()


def test_every_command_has_its_environment_and_an_example() -> None:
    missing = sorted(set(ALL) - set(COMMANDS))
    assert not missing, f"document these commands in bot.cli_help.COMMANDS: {missing}"
    assert all(v in ENV_HELP for entry in COMMANDS.values() for v in entry.env)


@pytest.mark.parametrize("words", sorted(ALL))
def test_help_shows_defaults_environment_and_an_example(words: str) -> None:
    text = _help(words)
    assert f"example:\n  prwarden {words.split()[0]}" in text
    if COMMANDS[words].env:
        assert "environment:" in text
        for name in COMMANDS[words].env:
            assert name in text
    for action in ALL[words]._actions:
        has_default = action.default not in (None, False, argparse.SUPPRESS)
        if action.option_strings and has_default and action.help != argparse.SUPPRESS:
            assert f"default: {action.default}" in " ".join(text.split()), (words, action.dest)


@pytest.mark.parametrize("words", ["", *sorted(ALL)])
def test_no_markup_in_plain_text(words: str) -> None:
    text = _help(words) if words else PARSER.format_help()
    assert "``" not in text and "**" not in text
    assert "usage: prwarden" in text
