"""A linter rule's own documentation, for SARIF rule metadata: ``ruff rule CODE``.

Three steps, as for every tool here: build the command line, run it (the only step that
touches the OS), parse its JSON. A code ruff does not know gives ``None``, never an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tools.process import find_program, run_program

TOOL = "rule_docs"
TIME_LIMIT = 15.0
MAX_OUTPUT = 200_000
_CODE = re.compile(r"[A-Z]{1,8}[0-9]{1,5}")


@dataclass(frozen=True, slots=True)
class RuleDoc:
    """What the linter says about one of its rules."""

    code: str
    name: str
    linter: str
    summary: str
    explanation: str


def build_rule_argv(ruff: str, code: str) -> list[str] | None:
    """``ruff rule CODE --output-format json``, or ``None`` when ``code`` is no rule code."""
    if not _CODE.fullmatch(code):
        return None
    return [ruff, "rule", code, "--output-format", "json"]


def parse_rule_json(stdout: bytes) -> RuleDoc | None:
    try:
        data = json.loads(stdout)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        return None
    return RuleDoc(
        code=data["code"],
        name=str(data.get("name") or data["code"]),
        linter=str(data.get("linter") or "ruff"),
        summary=str(data.get("summary") or data.get("name") or data["code"]),
        explanation=str(data.get("explanation") or ""),
    )


async def ruff_rule_doc(code: str) -> RuleDoc | None:
    """ruff's documentation of ``code``; ``None`` when ruff does not know it."""
    argv = build_rule_argv(find_program("ruff"), code)
    if argv is None:
        return None
    done = await run_program(
        argv, cwd=Path.cwd(), time_limit=TIME_LIMIT, max_output=MAX_OUTPUT, tool=TOOL
    )
    if done.returncode != 0 or done.truncated:
        return None
    return parse_rule_json(done.stdout)
