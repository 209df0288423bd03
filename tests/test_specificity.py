"""Specificity: specific findings rank above generic ones, deterministically, with reasons."""

from __future__ import annotations

import pytest

import corpora
from prwarden.errors import ConfigError
from review.diff import Diff, parse_diff
from review.findings import Category, Finding, Severity
from review.specificity import TOOL_RULE_FLOOR, generic_phrases, parse_phrases, score

CORPORA = corpora.ROOT
PATH = "pysnooper/pysnooper.py"


def diff() -> Diff:
    return parse_diff((CORPORA / "bug_diffs/cases/PySnooper-3/pr.diff").read_bytes())


def make(title: str, body: str, *, line: int = 26, **kw: object) -> Finding:
    return Finding(
        path=PATH,
        line=line,
        severity=Severity.HIGH,
        category=Category.CORRECTNESS,
        title=title,
        body=body,
        **kw,  # type: ignore[arg-type]
    )


SPECIFIC = make(
    "Writes to `output_path`, which is undefined here",
    "`get_write_function` opens `output_path`, but the parameter is `output`: when a path "
    "string is passed, the first write raises NameError and nothing is logged.",
    suggestion="            with open(output, 'a') as output_file:\n",
)

GENERIC_TEXTS = [
    ("Consider adding tests", "Consider adding tests for this function."),
    ("Error handling", "Ensure proper error handling is in place here."),
    ("Readability", "This could be improved for better readability."),
    ("File handling", "Make sure to close files correctly in all cases."),
    ("Best practice", "It is recommended to follow best practices when writing files."),
    ("Nit", "Looks good to me overall, just double-check this."),
]


def test_specific_finding_scores_high_with_reasons() -> None:
    result = score(SPECIFIC, diff())
    assert result.score >= 0.9
    joined = " | ".join(result.reasons)
    assert "anchored on a changed line" in joined
    assert "output_path" in joined
    assert "says what goes wrong" in joined
    assert "offers a suggestion" in joined


@pytest.mark.parametrize(("title", "body"), GENERIC_TEXTS)
def test_each_generic_finding_scores_below_the_specific_one(title: str, body: str) -> None:
    d = diff()
    generic = score(make(title, body), d)
    assert generic.score < 0.5 < score(SPECIFIC, d).score
    assert any(r.startswith(("generic phrasing", "very short")) for r in generic.reasons)


def test_score_is_deterministic_and_in_range() -> None:
    d = diff()
    assert score(SPECIFIC, d) == score(SPECIFIC, d)
    for title, body in GENERIC_TEXTS:
        assert 0.0 <= score(make(title, body), d).score <= 1.0


def test_context_line_and_english_words_get_less() -> None:
    d = diff()
    on_change = score(make("Wrong variable", "The path variable is wrong when appending."), d)
    on_context = score(
        make("Wrong variable", "The path variable is wrong when appending.", line=25), d
    )
    assert on_context.score < on_change.score
    assert "not anchored on a changed line" in on_context.reasons
    # "output" is a changed-line identifier, but as a plain English word it does not count.
    plain = score(make("Output is lost", "The output is lost when appending to a file."), d)
    assert "names nothing from the changed lines" in plain.reasons


def test_code_span_counts_as_a_fix_when_there_is_no_suggestion() -> None:
    with_code = make("Wrong name", "Use `open(output, 'a')` instead of `open(output_path, 'a')`.")
    result = score(with_code, diff())
    assert "shows code for the fix" in result.reasons


def test_tool_rule_findings_get_the_floor() -> None:
    terse = make("F821 undefined name", "Undefined name", source="ruff", rule="F821")
    result = score(terse, diff())
    assert result.score == TOOL_RULE_FLOOR
    assert any("floor" in r for r in result.reasons)
    # The same text from the model gets no floor.
    assert score(make("F821 undefined name", "Undefined name"), diff()).score < TOOL_RULE_FLOOR


def test_phrase_list_is_data_and_compiles() -> None:
    patterns = generic_phrases()
    assert len(patterns) >= 20
    assert any(p.search("Consider adding tests for the parser") for p in patterns)


def test_bad_phrase_line_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"phrases\.txt:3: not a valid regular expression"):
        parse_phrases("# comment\nok phrase\n(unclosed\n", source="phrases.txt")


def test_comments_and_blank_lines_are_skipped() -> None:
    assert [p.pattern for p in parse_phrases("# c\n\n  make sure to  \n")] == ["make sure to"]
