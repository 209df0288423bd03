"""Operator settings from an env file (``prwarden setup`` writes one), over the environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from prwarden.errors import ConfigError


def environment(env_file: Path | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with ``env_file``'s values on top: the file named on the command line
    wins over what the shell happens to export."""
    env = dict(os.environ if base is None else base)
    if env_file is None:
        return env
    if not env_file.is_file():
        raise ConfigError(f"--env-file {env_file} does not exist", key="--env-file")
    values = dotenv_values(env_file, interpolate=False)
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def add_env_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help="read settings from FILE (as prwarden setup writes it); they win over the "
        "environment (default: the environment only)",
    )
