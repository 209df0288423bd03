"""Collapse near-duplicate findings within one review into one comment that lists the rest.

Two findings are the same point when they have the same path, line and title; or the same
category and either the same tool rule code or similar wording (token Jaccard of the
normalized title and body at least ``SIMILARITY``). The "same pattern in several places" case
becomes one comment, on the most severe and most specific of them, whose ``also_at`` names the
other locations; the others are dropped as duplicates of it.

Before that, a linter's finding and the model's on the same line about the same problem become
one thread (``merge_tool_findings``): the model's words, the linter's rule id; the linter's
finding is dropped as a duplicate. The same problem means the same category and the model names
the rule, or a name the linter quotes, or their wording overlaps.
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


MERGE_SIMILARITY = 0.2
MERGE_SHARED_WORDS = 2
_QUOTED = re.compile(r"`([^`\n]+)`")


def same_problem(model: Finding, tool: Finding) -> bool:
    """Whether a model finding and a tool finding on its lines say the same thing."""
    if model.path != tool.path or not model.first_line <= tool.line <= model.line:
        return False
    # A different category is a different concern (and a held category must stay held).
    if model.category != tool.category:
        return False
    text = f"{model.title}\n{model.body}"
    if tool.rule and re.search(rf"\b{re.escape(tool.rule)}\b", text, re.IGNORECASE):
        return True
    quoted = {q for q in _QUOTED.findall(tool.title) if len(q) > 1}
    if any(q in text for q in quoted):
        return True
    a, b = tokens(model), tokens(tool) - {(tool.rule or "").lower(), tool.source.lower()}
    shared = {t for t in a & b if len(t) >= 4}
    return jaccard(a, b) >= MERGE_SIMILARITY or len(shared) >= MERGE_SHARED_WORDS


def merge_tool_findings(findings: Sequence[AnnotatedFinding]) -> tuple[AnnotatedFinding, ...]:
    """Fold each live tool finding into the model finding on its line that makes its point."""
    out = list(findings)
    models = [i for i, af in enumerate(out) if af.status != "drop" and af.finding.source == "model"]
    for i, af in enumerate(out):
        tool = af.finding
        if af.status == "drop" or tool.source == "model" or not tool.rule:
            continue
        for j in models:
            model = out[j].finding
            if model.tool_rule or not same_problem(model, tool):
                continue
            severity = max(model.severity, tool.severity, key=lambda s: s.rank)
            merged = replace(model, tool_rule=tool.rule, severity=severity)
            single = model.start_line is None or model.start_line == model.line
            if merged.suggestion is None and tool.suggestion is not None and single:
                merged = replace(merged, suggestion=tool.suggestion)
            out[j] = replace(out[j], finding=merged)
            out[i] = af.drop(
                Reason.DUPLICATE, f"{tool.source} {tool.rule} merged into {model.path}:{model.line}"
            )
            break
    return tuple(out)
