"""Help that teaches: every subcommand's ``--help`` shows its defaults, the environment
variables it reads and one example, in plain text."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass

# What each environment variable means, for the help of the commands that read it.
ENV_HELP = {
    "PRWARDEN_APP_ID": "the GitHub App's id",
    "PRWARDEN_PRIVATE_KEY": "the App's private key (PEM), or PRWARDEN_PRIVATE_KEY_PATH: its file",
    "PRWARDEN_WEBHOOK_SECRET": "verifies X-Hub-Signature-256",
    "PRWARDEN_GITHUB_URL": "GitHub's web address (default https://github.com)",
    "PRWARDEN_GITHUB_API_URL": "the REST API (default https://api.github.com; GHES: URL/api/v3)",
    "PRWARDEN_DB": "the SQLite store (default prwarden.db; local reviews: the state folder)",
    "PRWARDEN_DATABASE_URL": "postgresql://...: the store and queue on PostgreSQL (default: none)",
    "PRWARDEN_PER_INSTALLATION": "reviews at once per installation, over all processes (default 2)",
    "PRWARDEN_WORKSPACES": "where PR tarballs are unpacked (default workspaces)",
    "OPENAI_BASE_URL": "the model endpoint, any OpenAI-compatible server",
    "OPENAI_API_KEY": "its key",
    "PRWARDEN_TRIAGE_MODEL": "the cheap model (default: the review model)",
    "PRWARDEN_REVIEW_MODEL": "the capable model (none: static tools only)",
    "PRWARDEN_LLM_TIMEOUT": "seconds per model call (default 60)",
    "PRWARDEN_MAX_TURNS": "agent turns per review (default 8)",
    "PRWARDEN_MAX_TOKENS": "tokens per review (default 60000)",
    "PRWARDEN_ADMIN_TOKEN": "signs in to the security console (/findings) and its JSON API",
    "PRWARDEN_LOCAL_MODEL_URL": "a running llama.cpp server for --local",
    "PRWARDEN_WORKERS": "reviews run at once (default 4)",
    "PRWARDEN_CLIENT_ID": "the App's OAuth client id, for the console's GitHub sign-in",
    "PRWARDEN_CLIENT_SECRET": "its secret",
    "PRWARDEN_SECURITY_TEAM": "org/team-slug whose active members may sign in to the console",
    "PRWARDEN_SESSION_KEY": "Fernet key of the console's session cookie (default: one per start)",
    "XDG_STATE_HOME": "the state folder (default ~/.local/state); its prwarden/ holds the store",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's lines and adds each option's default, when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            default in (None, False, argparse.SUPPRESS)
            or "default" in text
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


@dataclass(frozen=True, slots=True)
class CommandHelp:
    env: tuple[str, ...]
    example: str


_STORE = ("PRWARDEN_DB", "XDG_STATE_HOME")
_SHARED = ("PRWARDEN_DATABASE_URL", "PRWARDEN_DB")
_MODEL = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "PRWARDEN_TRIAGE_MODEL", "PRWARDEN_REVIEW_MODEL")
_APP = ("PRWARDEN_APP_ID", "PRWARDEN_PRIVATE_KEY", "PRWARDEN_WEBHOOK_SECRET")

# Every command, by its words after "prwarden": what it reads and how to call it.
COMMANDS: dict[str, CommandHelp] = {
    "serve": CommandHelp(
        (
            *_APP,
            "PRWARDEN_GITHUB_API_URL",
            *_MODEL,
            *_SHARED,
            "PRWARDEN_WORKSPACES",
            "PRWARDEN_ADMIN_TOKEN",
            "PRWARDEN_WORKERS",
            "PRWARDEN_CLIENT_ID",
            "PRWARDEN_CLIENT_SECRET",
            "PRWARDEN_SECURITY_TEAM",
            "PRWARDEN_SESSION_KEY",
        ),
        "prwarden serve --env-file .env --host 0.0.0.0 --port 8080",
    ),
    "worker": CommandHelp(
        (
            "PRWARDEN_APP_ID",
            "PRWARDEN_PRIVATE_KEY",
            "PRWARDEN_GITHUB_API_URL",
            *_MODEL,
            *_SHARED,
            "PRWARDEN_WORKSPACES",
            "PRWARDEN_WORKERS",
            "PRWARDEN_PER_INSTALLATION",
        ),
        "prwarden worker --env-file .env --concurrency 4 --port 9100",
    ),
    "db": CommandHelp(_SHARED, "prwarden db upgrade"),
    "db upgrade": CommandHelp(_SHARED, "prwarden db upgrade"),
    "db migrate-from-sqlite": CommandHelp(
        ("PRWARDEN_DATABASE_URL",), "prwarden db migrate-from-sqlite prwarden.db"
    ),
    "setup": CommandHelp(
        ("PRWARDEN_GITHUB_URL", "PRWARDEN_GITHUB_API_URL"),
        "prwarden setup --webhook-url https://review.example.com/webhook --env-file .env",
    ),
    "doctor": CommandHelp(
        (*_APP, "PRWARDEN_GITHUB_API_URL", *_MODEL, "PRWARDEN_DB"),
        "prwarden doctor --env-file .env",
    ),
    "review": CommandHelp(
        (
            *_MODEL,
            "PRWARDEN_LLM_TIMEOUT",
            "PRWARDEN_MAX_TURNS",
            "PRWARDEN_MAX_TOKENS",
            *_STORE,
            "PRWARDEN_LOCAL_MODEL_URL",
        ),
        "prwarden review --repo . --base origin/main --format json",
    ),
    "findings": CommandHelp(_STORE, "prwarden findings list --state all"),
    "findings list": CommandHelp(_STORE, "prwarden findings list --state pending"),
    "findings show": CommandHelp(_STORE, "prwarden findings show 7"),
    "findings approve": CommandHelp(_STORE, "prwarden findings approve 7 --by alice"),
    "findings reject": CommandHelp(
        _STORE, 'prwarden findings reject 7 --by alice --reason "false positive"'
    ),
    "findings export": CommandHelp(
        (*_STORE, "PRWARDEN_GITHUB_URL"), "prwarden findings export --repo octo/shop > held.sarif"
    ),
    "findings upload": CommandHelp(
        (*_STORE, "PRWARDEN_APP_ID", "PRWARDEN_PRIVATE_KEY", "PRWARDEN_GITHUB_API_URL"),
        "prwarden findings upload --repo octo/shop",
    ),
    "stats": CommandHelp(_STORE, "prwarden stats --days 7 --repo octo/shop"),
    "cache": CommandHelp(_STORE, "prwarden cache stats"),
    "cache stats": CommandHelp(_STORE, "prwarden cache stats"),
    "cache purge": CommandHelp(_STORE, "prwarden cache purge --older-than 30"),
    "eval": CommandHelp(_MODEL, "prwarden eval corpora/bug_diffs --format json"),
}


def epilog(help: CommandHelp) -> str:
    parts = []
    if help.env:
        width = max(len(v) for v in help.env)
        rows = [f"  {v.ljust(width)}  {ENV_HELP[v]}" for v in help.env]
        parts.append("environment:\n" + "\n".join(rows))
    parts.append(f"example:\n  {help.example}")
    return "\n\n".join(parts)


def subcommands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every subcommand under ``parser``, by its words (``"findings list"``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words = f"{prefix} {name}".strip()
                yield words, sub
                yield from subcommands(sub, words)


def teach(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give every subcommand its defaults, environment and example in ``--help``."""
    parser.formatter_class = HelpFormatter
    for words, sub in subcommands(parser):
        sub.formatter_class = HelpFormatter
        entry = COMMANDS.get(words)
        if entry is not None:
            sub.epilog = epilog(entry)
        if sub.description is None:
            sub.description = _help_of(parser, words)
    return parser


def _help_of(parser: argparse.ArgumentParser, words: str) -> str | None:
    *parents, last = words.split()
    node = parser
    for word in parents:
        node = dict(subcommands(node))[word]
    for action in node._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == last:
                    return choice.help
    return None
