"""Help that teaches: every subcommand's ``--help`` shows its defaults, the environment
variables it reads and one example, in plain text."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

# What each environment variable means, for the help of the commands that read it.
ENV_HELP = {
    "PRWARDEN_APP_ID": "the GitHub App's id",
    "PRWARDEN_PRIVATE_KEY": "the App's private key (PEM), or PRWARDEN_PRIVATE_KEY_PATH: its file",
    "PRWARDEN_WEBHOOK_SECRET": "verifies X-Hub-Signature-256",
    "PRWARDEN_GITHUB_URL": "GitHub's web address (default https://github.com)",
    "PRWARDEN_GITHUB_API_URL": "the REST API (default https://api.github.com; GHES: URL/api/v3)",
    "PRWARDEN_DB": "the SQLite store (default prwarden.db; local reviews: the state folder)",
    "PRWARDEN_WORKSPACES": "where PR tarballs are unpacked (default workspaces)",
    "OPENAI_BASE_URL": "the model endpoint, any OpenAI-compatible server",
    "OPENAI_API_KEY": "its key",
    "PRWARDEN_TRIAGE_MODEL": "the cheap model (default: the review model)",
    "PRWARDEN_REVIEW_MODEL": "the capable model (none: static tools only)",
    "PRWARDEN_LLM_TIMEOUT": "seconds per model call (default 60)",
    "PRWARDEN_MAX_TURNS": "agent turns per review (default 8)",
    "PRWARDEN_MAX_TOKENS": "tokens per review (default 60000)",
    "PRWARDEN_ADMIN_TOKEN": "opens the GET /findings page",
    "PRWARDEN_LOCAL_MODEL_URL": "a running llama.cpp server for --local",
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


def command(
    sub: Any,
    name: str,
    *,
    help: str,
    description: str = "",
    env: Sequence[str] = (),
    example: str,
) -> argparse.ArgumentParser:
    """A subcommand parser whose help ends with the variables it reads and an example."""
    parts = []
    if env:
        width = max(len(v) for v in env)
        rows = [f"  {v.ljust(width)}  {ENV_HELP[v]}" for v in env]
        parts.append("environment:\n" + "\n".join(rows))
    parts.append(f"example:\n  {example}")
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description or help,
        epilog="\n\n".join(parts),
        formatter_class=HelpFormatter,
    )
    return parser
