"""Collapse near-duplicate findings within one review into one comment that lists the rest.

Two findings are the same point when they have the same path, line and title; or the same
category and either the same tool rule code or similar wording (token Jaccard of the
normalized title and body at least ``SIMILARITY``). The "same pattern in several places" case
becomes one comment, on the most severe and most specific of them, whose ``also_at`` names the
other locations; the others are dropped as duplicates of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from review.findings import AnnotatedFinding, Finding, Reason, normalize_title

SIMILARITY = 0.6

_TOKEN = re.compile(r"[a-z0-9_#]+")
_STOPWORD_TEXT = (
    "a an the this that these those is are was be to of in on at for and or it its by with "
    "as here there can could may might should would will"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def tokens(finding: Finding) -> frozenset[str]:
    """Normalized word tokens of the title and body (numbers folded, stopwords out)."""
    text = normalize_title(f"{finding.title} {finding.body}")
    return frozenset(t for t in _TOKEN.findall(text) if t not in _STOPWORDS)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def same_point(a: Finding, b: Finding) -> bool:
    """Whether two findings make the same point (see the module docstring)."""
    if (a.path, a.line, normalize_title(a.title)) == (b.path, b.line, normalize_title(b.title)):
        return True
    if a.category != b.category:
        return False
    if a.rule and a.rule == b.rule:
        return True
    return jaccard(tokens(a), tokens(b)) >= SIMILARITY


def rank_key(af: AnnotatedFinding) -> tuple[int, float, str, int]:
    """Sort key: most severe first, then most specific, then path/line order."""
    score = af.disposition.score if af.disposition.score is not None else 0.0
    return (-af.finding.severity.rank, -score, af.finding.path, af.finding.line)


@dataclass(slots=True)
class _Group:
    lead: int
    members: list[int] = field(default_factory=list)


def collapse(findings: Sequence[AnnotatedFinding]) -> tuple[AnnotatedFinding, ...]:
    """Collapse duplicates among the findings not already dropped; order is kept.

    Each finding joins the first group (in rank order) whose lead makes the same point, so a
    group's lead is its most severe, most specific member.
    """
    live = sorted(
        (i for i, af in enumerate(findings) if af.status != "drop"),
        key=lambda i: rank_key(findings[i]),
    )
    groups: list[_Group] = []
    for i in live:
        for group in groups:
            if same_point(findings[group.lead].finding, findings[i].finding):
                group.members.append(i)
                break
        else:
            groups.append(_Group(lead=i))

    out = list(findings)
    for group in groups:
        if not group.members:
            continue
        lead = findings[group.lead].finding
        here = (lead.path, lead.line)
        locations = {loc for loc in lead.also_at if loc != here}
        for i in group.members:
            member = findings[i].finding
            locations.update(loc for loc in ((member.path, member.line), *member.also_at))
            out[i] = findings[i].drop(Reason.DUPLICATE, f"same point as {lead.path}:{lead.line}")
        locations.discard(here)
        out[group.lead] = replace(
            findings[group.lead], finding=replace(lead, also_at=tuple(sorted(locations)))
        )
    return tuple(out)
