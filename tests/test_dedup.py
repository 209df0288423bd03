"""Dedup: the same point in several places becomes one finding listing the other places."""

from __future__ import annotations

from dataclasses import replace

from review.dedup import collapse, jaccard, same_point, tokens
from review.findings import AnnotatedFinding, Category, Disposition, Finding, Reason, Severity

# Locations are real added lines of corpora/large_diffs/scrapy_2.13.1_2.13.4.diff.
MAX_SIZE_SITES = [
    ("scrapy/utils/_compression.py", 42, Severity.MEDIUM, 0.8),
    ("scrapy/utils/gz.py", 34, Severity.HIGH, 0.7),
    ("scrapy/downloadermiddlewares/httpcompression.py", 108, Severity.MEDIUM, 0.9),
]


def make(
    path: str,
    line: int,
    severity: Severity = Severity.MEDIUM,
    score: float = 0.8,
    *,
    title: str = "max_size of 0 disables the decompression limit",
    body: str = "`_check_max_size` treats max_size=0 as no limit, so a zero "
    "DOWNLOAD_MAXSIZE lets a decompression bomb through.",
    category: Category = Category.SECURITY,
    rule: str | None = None,
) -> AnnotatedFinding:
    f = Finding(
        path=path,
        line=line,
        severity=severity,
        category=category,
        title=title,
        body=body,
        rule=rule,
        source="ruff" if rule else "model",
    )
    return AnnotatedFinding(f, Disposition("post", (), score), fingerprint=f"fp{line}")


def test_three_similar_findings_in_three_files_collapse_into_the_most_severe() -> None:
    findings = [make(*site) for site in MAX_SIZE_SITES]
    out = collapse(findings)
    assert len(out) == 3
    kept = [af for af in out if af.status == "post"]
    assert len(kept) == 1
    lead = kept[0].finding
    assert (lead.path, lead.line) == ("scrapy/utils/gz.py", 34)  # the HIGH one
    assert lead.also_at == (
        ("scrapy/downloadermiddlewares/httpcompression.py", 108),
        ("scrapy/utils/_compression.py", 42),
    )
    for af in out:
        if af is not kept[0]:
            assert af.status == "drop"
            assert af.code is Reason.DUPLICATE
            assert af.disposition.reasons == ("duplicate: same point as scrapy/utils/gz.py:34",)


def test_ties_go_to_the_more_specific_finding() -> None:
    a = make("scrapy/utils/_compression.py", 42, score=0.6)
    b = make("scrapy/utils/gz.py", 34, score=0.95)
    out = collapse([a, b])
    assert [af.status for af in out] == ["drop", "post"]
    assert out[1].finding.also_at == (("scrapy/utils/_compression.py", 42),)


def test_dissimilar_findings_are_kept() -> None:
    a = make("scrapy/utils/gz.py", 34)
    b = make(
        "scrapy/core/engine.py",
        243,
        title="Start-request task reference is cleared before stop() runs",
        body="If `stop()` is awaited after the error, `_start_request_processing_dfd` is "
        "already None, so the cancel in `close_spider` is skipped.",
        category=Category.CORRECTNESS,
    )
    out = collapse([a, b])
    assert out == (a, b)


def test_same_wording_in_another_category_is_not_a_duplicate() -> None:
    a = make("scrapy/utils/gz.py", 34)
    b = make("scrapy/utils/_compression.py", 42, category=Category.CORRECTNESS)
    assert [af.status for af in collapse([a, b])] == ["post", "post"]


def test_same_rule_code_collapses_even_with_different_text() -> None:
    a = make("scrapy/core/engine.py", 10, title="Line too long", body="", rule="E501", score=0.75)
    b = make(
        "scrapy/core/scraper.py", 195, title="Overlong", body="wrap it", rule="E501", score=0.75
    )
    out = collapse([a, b])
    assert [af.status for af in out] == ["post", "drop"]
    assert out[0].finding.also_at == (("scrapy/core/scraper.py", 195),)


def test_exact_same_place_and_title_always_collapses() -> None:
    a = make("scrapy/utils/gz.py", 34, body="One explanation.", category=Category.SECURITY)
    b = make("scrapy/utils/gz.py", 34, body="Totally different words.", category=Category.STYLE)
    out = collapse([a, b])
    assert sorted(af.status for af in out) == ["drop", "post"]
    # Same location: nothing else to list.
    assert next(af for af in out if af.status == "post").finding.also_at == ()


def test_dropped_findings_are_left_alone() -> None:
    a = make("scrapy/utils/gz.py", 34).drop(Reason.GENERIC, "too vague")
    b = make("scrapy/utils/_compression.py", 42)
    out = collapse([a, b])
    assert out == (a, b)


def test_existing_also_at_is_carried_over() -> None:
    a = make("scrapy/utils/gz.py", 34, severity=Severity.HIGH)
    f = make("scrapy/utils/_compression.py", 42).finding
    b = AnnotatedFinding(replace(f, also_at=(("scrapy/utils/_compression.py", 63),)))
    out = collapse([a, b])
    assert out[0].finding.also_at == (
        ("scrapy/utils/_compression.py", 42),
        ("scrapy/utils/_compression.py", 63),
    )


def test_similarity_measure() -> None:
    f = make("scrapy/utils/gz.py", 34).finding
    assert jaccard(tokens(f), tokens(f)) == 1.0
    assert jaccard(frozenset(), frozenset()) == 1.0
    assert same_point(f, f)
    # Numbers are folded, so the same message about another value still matches.
    g = make("a.py", 1, title="max_size of 5 disables the decompression limit").finding
    assert "#" in tokens(g) and same_point(f, g)
