"""The hidden markers prwarden posts have one owner, ``review.render``, next to their parsers."""

from __future__ import annotations

from pathlib import Path

from review.render import (
    fingerprint_marker,
    fingerprints_in,
    has_review_marker,
    review_marker,
)

ROOT = Path(__file__).resolve().parents[1]
OWNER = ROOT / "review" / "render.py"


def test_no_module_but_render_spells_a_marker() -> None:
    spelled = [
        f"{path.relative_to(ROOT)}: {literal}"
        for package in ("bot", "review", "cache", "tools", "security")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != OWNER
        for literal in ("prwarden:fp=", "prwarden:review sha=")
        if literal in path.read_text()
    ]
    assert spelled == []


def test_markers_read_back_what_they_write() -> None:
    assert fingerprints_in([f"text\n\n{fingerprint_marker('0123456789abcdef')}"]) == {
        "0123456789abcdef"
    }
    assert has_review_marker(f"body\n{review_marker('a' * 40)}")
    assert has_review_marker(f"body\n{review_marker('a' * 40, 'cmd-7')}")
    # a look-alike that the parser does not accept is not a marker
    assert not has_review_marker("<!-- prwarden:review sha=not-a-sha -->")
