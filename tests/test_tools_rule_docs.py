"""A linter rule's documentation from ruff itself, for SARIF rule metadata."""

from __future__ import annotations

import pytest

from tools.rule_docs import build_rule_argv, parse_rule_json, ruff_rule_doc


@pytest.mark.parametrize("code", ["", "--help", "F401; rm -rf /", "f401", "F", "../F401", "F4O1x"])
def test_only_rule_codes_reach_the_command_line(code: str) -> None:
    assert build_rule_argv("ruff", code) is None


def test_the_command_line_asks_for_json() -> None:
    assert build_rule_argv("ruff", "S608") == ["ruff", "rule", "S608", "--output-format", "json"]


@pytest.mark.parametrize("stdout", [b"", b"not json", b"[]", b'{"name": "x"}', b"\xff\xfe"])
def test_unreadable_output_is_no_documentation(stdout: bytes) -> None:
    assert parse_rule_json(stdout) is None


async def test_ruff_documents_its_rules_and_not_others() -> None:
    doc = await ruff_rule_doc("S608")
    assert doc is not None
    assert doc.code == "S608" and doc.name == "hardcoded-sql-expression"
    assert doc.linter == "flake8-bandit" and "SQL" in doc.explanation
    assert await ruff_rule_doc("ZZ9999") is None
    assert await ruff_rule_doc("not a code") is None
