"""How specific a finding is: a deterministic score in 0..1 with the reasons for it.

A useful review comment sits on a changed line, names the code it is about, says what goes
wrong and when, and shows the fix. Each of those adds to the score; stock phrases that fit any
change (``review/data/generic_phrases.txt``) and very short bodies take from it.

Points (the sum is clamped to 0..1):

======================================  ======
starting value                           0.20
anchored on an added line                +0.20
names identifiers of the changed lines   +0.25
says what goes wrong                     +0.10
says when (condition or concrete value)  +0.10
a suggestion / a code span               +0.20 / +0.10
each generic phrase (at most two)        -0.25
fewer than ``SHORT_WORDS`` words         -0.15
======================================  ======

A tool finding carrying a rule code (a ruff code, say) names an exact, documented check, so
it scores at least ``TOOL_RULE_FLOOR``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from prwarden.errors import ConfigError
from review.diff import Diff
from review.findings import Finding

BASE = 0.20
ANCHORED_ON_CHANGE = 0.20
NAMES_IDENTIFIERS = 0.25
SAYS_WHAT = 0.10
SAYS_WHEN = 0.10
HAS_SUGGESTION = 0.20
HAS_CODE_SPAN = 0.10
GENERIC_PENALTY = 0.25
MAX_GENERIC_HITS = 2
SHORT_PENALTY = 0.15
SHORT_WORDS = 8
TOOL_RULE_FLOOR = 0.75
PHRASES_RESOURCE = "generic_phrases.txt"


@dataclass(frozen=True, slots=True)
class Specificity:
    score: float
    reasons: tuple[str, ...]


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_CODE_BLOCK = re.compile(r"```")
_EFFECT = re.compile(
    r"\b(?:raises?|throws?|crash(?:es)?|fails?|breaks?|returns? (?:none|null|undefined|nan)"
    r"|returns? (?:the )?wrong|off[- ]by[- ]one|race(?: condition)?|deadlocks?|leaks?"
    r"|overflows?|truncat\w+|never (?:closed|released|called|awaited)|infinite loop"
    r"|injection|traversal|unbound|undefined|uninitiali[sz]ed|dropp?(?:ed|s)"
    r"|\w+(?:Error|Exception))\b",
    re.IGNORECASE,
)
_WHEN = re.compile(
    r"\b(?:when|whenever|if|unless|once|after|before|for (?:an? |any )?(?:empty|negative|"
    r"zero|missing|large)|on (?:an? )?(?:empty|second|first|last))\b"
    r"|(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])|'[^'\n]{1,40}'|\"[^\"\n]{1,40}\"",
    re.IGNORECASE,
)
_KEYWORD_TEXT = (
    "and as assert async await break case class const continue def del elif else except "
    "export false finally for from func function global if import in is lambda let new nil "
    "none nonlocal not null or pass raise return self this true try type var while with "
    "yield string int str bool list dict set the a an of to"
)
_KEYWORDS = frozenset(_KEYWORD_TEXT.split())
_WORD = re.compile(r"\S+")


def score(finding: Finding, diff: Diff, changed: frozenset[str] | None = None) -> Specificity:
    """Score how specific ``finding`` is against the diff it comments on.

    ``changed`` is ``changed_identifiers(diff)``; pass it when scoring many findings of one
    diff, so it is computed once.
    """
    text = f"{finding.title}\n{finding.body}"
    value = BASE
    reasons: list[str] = []

    fd = diff.file(finding.path)
    if fd is not None and finding.line in fd.added:
        value += ANCHORED_ON_CHANGE
        reasons.append("anchored on a changed line")
    else:
        reasons.append("not anchored on a changed line")

    if changed is None:
        changed = changed_identifiers(diff)
    named = _named_identifiers(text, changed)
    if named:
        value += NAMES_IDENTIFIERS
        reasons.append("names " + ", ".join(named[:3]) + " from the changed lines")
    else:
        reasons.append("names nothing from the changed lines")

    if _EFFECT.search(text):
        value += SAYS_WHAT
        reasons.append("says what goes wrong")
    if _WHEN.search(text):
        value += SAYS_WHEN
        reasons.append("says when it goes wrong")

    if finding.suggestion:
        value += HAS_SUGGESTION
        reasons.append("offers a suggestion")
    elif _CODE_BLOCK.search(finding.body) or _has_code_span(finding.body):
        value += HAS_CODE_SPAN
        reasons.append("shows code for the fix")

    hits = [m.group(0) for p in generic_phrases() if (m := p.search(text))]
    if hits:
        value -= GENERIC_PENALTY * min(len(hits), MAX_GENERIC_HITS)
        reasons.append("generic phrasing: " + "; ".join(repr(h) for h in hits[:MAX_GENERIC_HITS]))

    words = len(_WORD.findall(text))
    if words < SHORT_WORDS:
        value -= SHORT_PENALTY
        reasons.append(f"very short ({words} words)")

    if finding.rule and finding.source != "model" and value < TOOL_RULE_FLOOR:
        value = TOOL_RULE_FLOOR
        reasons.append(f"tool rule {finding.rule}: floor {TOOL_RULE_FLOOR}")

    return Specificity(round(min(max(value, 0.0), 1.0), 3), tuple(reasons))


def changed_identifiers(diff: Diff) -> frozenset[str]:
    """The identifiers of the diff's added lines (keywords and one-letter names left out)."""
    names: set[str] = set()
    for fd in diff:
        for text in fd.added.values():
            names.update(_IDENT.findall(text))
    return frozenset(n for n in names if len(n) > 1 and n.lower() not in _KEYWORDS)


def _named_identifiers(text: str, changed: frozenset[str]) -> list[str]:
    """Identifiers of the changed lines that the text names as code.

    A word counts when it sits in a code span or looks like code (``snake_case``,
    ``camelCase``, ``dotted.name``, ``call()``); plain English words that happen to be
    variable names (``path``, ``data``) do not.
    """
    found: list[str] = []
    spans = " ".join(_CODE_SPAN.findall(text))
    for name in _IDENT.findall(spans):
        if name in changed and name not in found:
            found.append(name)
    for token in re.findall(r"[A-Za-z_][\w.]*(?:\(\))?", text):
        for name in _IDENT.findall(token):
            if name in changed and name not in found and _looks_like_code(token, name):
                found.append(name)
    return found


def _looks_like_code(token: str, name: str) -> bool:
    return (
        "_" in name
        or "." in token.strip(".")
        or token.endswith("()")
        or (any(c.isupper() for c in name[1:]) and any(c.islower() for c in name))
    )


def _has_code_span(body: str) -> bool:
    return any(re.search(r"[()=\[\].]", span) for span in _CODE_SPAN.findall(body))


def parse_phrases(text: str, source: str = PHRASES_RESOURCE) -> tuple[re.Pattern[str], ...]:
    """Compile a phrase list: one regex a line, ``#`` comments and blank lines skipped."""
    patterns: list[re.Pattern[str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            patterns.append(re.compile(line, re.IGNORECASE))
        except re.error as exc:
            raise ConfigError(
                f"{source}:{number}: not a valid regular expression: {exc}",
                key=str(number),
                expected="a Python regular expression",
                source=source,
            ) from exc
    return tuple(patterns)


@cache
def generic_phrases() -> tuple[re.Pattern[str], ...]:
    """The packaged list of generic phrases."""
    data = resources.files("review").joinpath("data", PHRASES_RESOURCE)
    return parse_phrases(data.read_text(encoding="utf-8"))
