"""Anchoring findings on real diffs: keep, move within a hunk, collapse ranges, or refuse."""

from __future__ import annotations

from functools import cache

import pytest

import corpora
from review.anchors import WINDOW, anchor, anchored_code, starts_definition
from review.diff import Diff, parse_diff
from review.findings import Category, Finding, Severity

CORPORA = corpora.ROOT
TRACER = "pysnooper/tracer.py"


@cache
def corpus_diff(relative: str) -> Diff:
    return parse_diff((CORPORA / relative).read_bytes())


def tracer_diff() -> Diff:
    return corpus_diff("bug_diffs/cases/PySnooper-2/pr.diff")


def finding(path: str = TRACER, line: int = 310, **kw: object) -> Finding:
    fields: dict[str, object] = {
        "severity": Severity.MEDIUM,
        "category": Category.CORRECTNESS,
        "title": "custom_repr is no longer passed",
        "body": "get_local_reprs drops custom_repr.",
    }
    fields.update(kw)
    return Finding(path=path, line=line, **fields)  # type: ignore[arg-type]


def test_added_and_context_lines_keep_their_anchor() -> None:
    diff = tracer_diff()
    for line in (310, 311):  # added, context
        assert anchor(finding(line=line), diff) == finding(line=line)


def test_off_diff_line_moves_to_the_nearest_added_line_of_the_same_hunk() -> None:
    diff = tracer_diff()
    fd = diff.file(TRACER)
    assert fd is not None and not fd.commentable(314)
    moved = anchor(finding(line=314, suggestion="x = 1\n"), diff)
    assert isinstance(moved, Finding)
    assert moved.line == 310 and moved.start_line is None
    assert moved.suggestion is None  # it was written for line 314
    assert fd.commentable(moved.line)


def test_move_does_not_cross_a_definition() -> None:
    diff = tracer_diff()
    fd = diff.file(TRACER)
    assert fd is not None
    # Line 275 lies in `def trace` (which starts on 271); the only added line within the
    # window, 270, is the blank line before that def: it belongs to the previous method.
    assert not fd.commentable(275) and WINDOW >= 5
    result = anchor(finding(line=275), diff)
    assert isinstance(result, str)
    assert result.startswith("line 275 is not in the diff")


def test_line_beyond_the_window_is_dropped() -> None:
    diff = tracer_diff()
    result = anchor(finding(line=262), diff)  # hunk 242..257, added line 250
    assert isinstance(result, str) and "within 5 lines" in result


def test_unknown_path_deleted_and_binary_files_are_refused() -> None:
    assert anchor(finding(path="nope.py"), tracer_diff()) == ("path is not in the diff")
    scrapy = corpus_diff("large_diffs/scrapy_2.13.1_2.13.4.diff")
    deleted = scrapy.file("artwork/README.rst")
    assert deleted is not None and deleted.status == "deleted"
    assert anchor(finding(path="artwork/README.rst", line=3), scrapy) == ("file is deleted")
    assert anchor(finding(path="artwork/scrapy-logo.jpg", line=1), scrapy) == ("binary file")


def test_range_within_one_hunk_is_kept_with_its_suggestion() -> None:
    f = finding(line=250, start_line=245, suggestion="a\nb\n")
    assert anchor(f, tracer_diff()) == f


def test_range_across_hunks_collapses_onto_its_last_line() -> None:
    diff = tracer_diff()
    fd = diff.file(TRACER)
    assert fd is not None and not fd.range_commentable(210, 245)
    result = anchor(finding(line=245, start_line=210, suggestion="x\n"), diff)
    assert isinstance(result, Finding)
    assert (result.start_line, result.line, result.suggestion) == (None, 245, None)
    assert fd.commentable(result.line)


def test_range_ending_off_diff_collapses_and_moves() -> None:
    result = anchor(finding(line=314, start_line=309), tracer_diff())
    assert isinstance(result, Finding)
    assert (result.start_line, result.line) == (None, 310)


def test_single_line_range_is_a_single_line_anchor() -> None:
    result = anchor(finding(line=310, start_line=310, suggestion="y\n"), tracer_diff())
    assert isinstance(result, Finding)
    assert (result.start_line, result.line, result.suggestion) == (None, 310, "y\n")


def test_anchored_code_is_the_new_file_text() -> None:
    diff = tracer_diff()
    assert anchored_code(finding(line=310), diff).strip() == (
        "get_local_reprs(frame, watch=self.watch)"
    )
    two = anchored_code(finding(line=133, start_line=132), diff)
    assert two.splitlines()[0].strip() == "def write(self, s):"
    assert anchored_code(finding(path="nope.py"), diff) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("    def trace(self, frame, event, arg):", True),
        ("async def run():", True),
        ("class Tracer:", True),
        ("func main() {", True),
        ("export default function handler(req, res) {", True),
        ("    @functools.wraps(function)", True),
        ("    default_value = 1", False),
        ("    classify(x)", False),
    ],
)
def test_definition_lines(text: str, expected: bool) -> None:
    assert starts_definition(text) is expected
