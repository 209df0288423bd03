"""Titles keep their code spans the way GitHub pairs backticks, at a cost linear in their length."""

from __future__ import annotations

import cmarkgfm
from hypothesis import given
from hypothesis import strategies as st

from review.summary import _code_spans, inline_title
from security.output import _DEFANGED_DOT
from tests.gfm import live


@given(st.text(alphabet="`a <>[]()!*_:/.h", max_size=40))
def test_a_title_renders_with_nothing_live_whatever_its_backticks(text: str) -> None:
    # Spans are rebuilt by prwarden and the rest escaped, so what GitHub renders is inert
    # however the title's own backticks pair up. (Mentions and approvals are refused by output
    # validation before a title gets here: escaping cannot make "@name" inert on GitHub.)
    assert live("- x " + inline_title(text)) == []


def test_a_title_of_backticks_is_text() -> None:
    assert _code_spans("`" * 5000) == []
    assert "<code>" not in cmarkgfm.github_flavored_markdown_to_html(inline_title("`" * 5000))


def test_code_spans_stay_code_and_the_rest_is_escaped() -> None:
    assert inline_title("use `x < y` not *x*") == r"use `x < y` not \*x\*"


def test_defanged_dots_are_found_after_a_long_run_of_blanks() -> None:
    assert _DEFANGED_DOT.sub(".", " " * 50_000 + "evil [.] com") == " " * 50_000 + "evil.com"
