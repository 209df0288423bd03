"""Prompt-injection detection for untrusted pull-request text.

The detector is a table of weighted, named rules (``security/data/injection_rules.tsv``).
A window of text scores the sum of the weights of the distinct rules that match inside it,
capped at 1.0; a window at or above the threshold is an injection hit. Windows are the whole text in
overlapping chunks, each paragraph, each block of consecutive comment lines, each
triple-quoted string and each HTML comment, so an instruction hidden in a code comment is
scored on its own. Hidden Unicode (tag characters, bidi controls, zero-width runs) and words
spelled in regional-indicator letters are hits by themselves, and base64 or hex blobs are
decoded and scanned again.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from security.prefilter import Prefilter, prefilter

DEFAULT_THRESHOLD = 0.5
EXCERPT_CHARS = 200
_CHUNK_CHARS = 4000
SEGMENT_CHARS = 256 * 1024
_MAX_DEPTH = 2


@dataclass(frozen=True, slots=True)
class InjectionHit:
    """One flagged span of the scanned text: ``text[start:end]``."""

    score: float
    reasons: tuple[str, ...]
    start: int
    end: int
    excerpt: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A named signal: ``pattern`` matches it, ``weight`` is what it adds to a window's score.

    ``raw`` rules run on the text as written (line-anchored markup such as ``### System:``);
    the others run on the folded text (see ``_normalise``). ``screen`` is the rule's
    linear-time prefilter: the pattern itself runs only where the screen finds something.
    """

    name: str
    weight: float
    pattern: re.Pattern[str]
    raw: bool
    screen: Prefilter


@cache
def rules() -> tuple[Rule, ...]:
    """The rule table, read from ``security/data/injection_rules.tsv``."""
    table = resources.files("security").joinpath("data/injection_rules.tsv").read_text("utf-8")
    return tuple(_parse_rules(table))


def _parse_rules(table: str) -> Iterator[Rule]:
    for number, line in enumerate(table.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 4 or fields[2] not in {"n", "c", "r"}:
            raise ValueError(f"injection_rules.tsv line {number}: want name, weight, n|c|r, regex")
        name, weight, mode, regex = fields
        flags = {"n": re.IGNORECASE, "c": 0, "r": re.IGNORECASE | re.MULTILINE}[mode]
        pattern = re.compile(regex, flags)
        yield Rule(name, float(weight), pattern, raw=mode == "r", screen=prefilter(pattern))


@dataclass(frozen=True, slots=True)
class _Match:
    rule: Rule
    start: int
    end: int


def scan(text: str, *, threshold: float = DEFAULT_THRESHOLD) -> tuple[InjectionHit, ...]:
    """Return the flagged spans of ``text``, ordered by position.

    A text longer than ``SEGMENT_CHARS`` is scanned in segments of that size that overlap by
    a window (``_CHUNK_CHARS``), so whatever any rule costs on its input is bounded per segment
    and the whole scan stays linear in the length of the text.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    hits: dict[tuple[int, int], InjectionHit] = {}
    for offset, segment in _segments(text):
        for hit in _scan(segment, threshold, 0):
            start, end = hit.start + offset, hit.end + offset
            if (start, end) not in hits:
                hits[start, end] = InjectionHit(hit.score, hit.reasons, start, end, hit.excerpt)
    return tuple(sorted(hits.values(), key=lambda h: (h.start, h.end)))


def _segments(text: str) -> Iterator[tuple[int, str]]:
    if len(text) <= SEGMENT_CHARS:
        yield 0, text
        return
    start = 0
    while start < len(text):
        end = min(len(text), start + SEGMENT_CHARS)
        if end < len(text):
            cut = text.rfind("\n", start + SEGMENT_CHARS // 2, end)
            end = cut + 1 if cut >= 0 else end
        yield start, text[start:end]
        if end >= len(text):
            return
        back = text.rfind("\n", end - _CHUNK_CHARS, end - 1)
        start = back + 1 if back > start else end - _CHUNK_CHARS


def scan_many(
    texts: list[str], *, threshold: float = DEFAULT_THRESHOLD
) -> list[tuple[InjectionHit, ...]]:
    """``scan`` of each text, in order: one call for a process pool to run."""
    return [scan(text, threshold=threshold) for text in texts]


def score(text: str) -> tuple[float, tuple[str, ...]]:
    """Return the score of the most suspicious window of ``text`` and its reasons."""
    hits = _scan(text, 0.0, 0)
    if not hits:
        return 0.0, ()
    best = max(hits, key=lambda h: h.score)
    return best.score, best.reasons


def _scan(text: str, threshold: float, depth: int) -> list[InjectionHit]:
    matches = _matches(text)
    hits = _window_hits(text, matches, threshold)
    hits.extend(h for h in _hidden_unicode_hits(text, depth) if h.score >= threshold)
    if depth < _MAX_DEPTH:
        hits.extend(h for h in _encoded_hits(text, depth) if h.score >= threshold)
    return hits


# --- normalisation ------------------------------------------------------------------------

_FOLD = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2014": "-",
    "\u2013": "-",
}
# Possessive runs of blanks: with backtracking, a line of many spaces costs the square of its
# length (the two runs and the lookahead try every split of it).
_LINE_MARKER = re.compile(
    r"^[ \t]*+(?:[+\-](?=[ \t]*+(?:#|//|/\*|\*|<!--|--|;)))?[ \t]*+"
    r"(?:#+|//+|/\*+|\*+/?|<!--|-->|--+|;+|\"\"\"|''')",
    re.MULTILINE,
)


def _hidden(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf"


def _normalise(text: str) -> tuple[str, list[int]]:
    """Fold ``text`` for matching; return it with the source offset of every character.

    Whitespace runs become one space, invisible format characters are dropped, quotes and
    dashes are folded, compatibility forms are NFKC-normalised, and comment markers at the
    start of lines are removed so that a sentence split over comment lines reads as one.
    """
    out: list[str] = []
    pos: list[int] = []
    space = True
    segment_start = 0
    spans = [(m.start(), m.end()) for m in _LINE_MARKER.finditer(text) if m.end() > m.start()]
    for marker_start, marker_end in [*spans, (len(text), len(text))]:
        # Printable ASCII and whitespace go by runs; other characters one at a time.
        for m in _RUN.finditer(text, segment_start, marker_start):
            run, i = m.group(), m.start()
            if run[0] in _ASCII_PRINTABLE:
                out.append(run)
                pos.extend(range(i, m.end()))
                space = False
            elif run[0].isspace():
                if not space:
                    out.append(" ")
                    pos.append(i)
                    space = True
            elif not _hidden(run):
                folded = _FOLD.get(run) or unicodedata.normalize("NFKC", run)
                out.extend(folded)
                pos.extend([i] * len(folded))
                space = folded == " "
        segment_start = marker_end
    return "".join(out), pos


_ASCII_PRINTABLE = frozenset(map(chr, range(0x21, 0x7F)))
_RUN = re.compile(r"[!-~]+|\s+|.", re.DOTALL)


def _matches(text: str) -> list[_Match]:
    folded, pos = _normalise(text)
    found: list[_Match] = []
    for rule in rules():
        if not rule.screen.may_match(text if rule.raw else folded):
            continue
        if rule.raw:
            found.extend(_Match(rule, m.start(), m.end()) for m in rule.pattern.finditer(text))
        else:
            found.extend(
                _Match(rule, pos[m.start()], pos[m.end() - 1] + 1)
                for m in rule.pattern.finditer(folded)
                if m.end() > m.start()
            )
    found.sort(key=lambda m: m.start)
    return found


# --- windows ------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n[ \t+\-]*\n")
_COMMENT_LINE = re.compile(r"^[+\- ]?[ \t]*(?:#|//|/\*|\*|--|;)", re.MULTILINE)
_BLOCK_DELIMITERS = (('"""', '"""'), ("'''", "'''"), ("<!--", "-->"), ("/*", "*/"))


def _windows(text: str) -> Iterator[tuple[int, int]]:
    n = len(text)
    if n <= _CHUNK_CHARS:
        yield 0, n
    else:
        step = _CHUNK_CHARS // 2
        for start in range(0, n - step, step):
            yield start, min(n, start + _CHUNK_CHARS)
    start = 0
    for m in _PARAGRAPH_BREAK.finditer(text):
        yield start, m.start()
        start = m.end()
    yield start, n
    yield from _comment_blocks(text)
    yield from _blocks(text)


def _blocks(text: str) -> Iterator[tuple[int, int]]:
    """Triple-quoted strings, HTML and C comments, leftmost first, in one pass over ``text``.

    Each opener looks for its closer once: an opener with no closer after it means no later
    opener of that kind has one either, so that kind is dropped (a lazy regex would rescan the
    rest of the text from every unclosed opener, quadratic in the input).
    """
    live = list(_BLOCK_DELIMITERS)
    openers = {d: text.find(d[0]) for d in live}
    pos = 0
    while live:
        for d in live:
            if 0 <= openers[d] < pos:
                openers[d] = text.find(d[0], pos)
        candidates = [(openers[d], i, d) for i, d in enumerate(live) if openers[d] >= 0]
        if not candidates:
            return
        start, _, (opener, closer) = min(candidates)
        close = text.find(closer, start + len(opener))
        if close < 0:
            live.remove((opener, closer))
            continue
        end = close + len(closer)
        yield start, end
        pos = end


def _comment_blocks(text: str) -> Iterator[tuple[int, int]]:
    block_start = block_end = -1
    offset = 0
    for line in text.splitlines(keepends=True):
        if _COMMENT_LINE.match(line):
            if block_start < 0:
                block_start = offset
            block_end = offset + len(line)
        elif block_start >= 0:
            yield block_start, block_end
            block_start = -1
        offset += len(line)
    if block_start >= 0:
        yield block_start, block_end


def _window_score(matches: list[_Match]) -> tuple[float, tuple[str, ...]]:
    weights: dict[str, float] = {}
    for m in matches:
        weights[m.rule.name] = max(weights.get(m.rule.name, 0.0), m.rule.weight)
    total = min(1.0, round(sum(weights.values()), 3))
    reasons = tuple(name for name, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])))
    return total, reasons


def _window_hits(text: str, matches: list[_Match], threshold: float) -> list[InjectionHit]:
    if not matches:
        return []
    starts = [m.start for m in matches]
    candidates: list[tuple[int, float, tuple[str, ...], int, int]] = []
    for w_start, w_end in set(_windows(text)):
        lo = bisect.bisect_left(starts, w_start)
        hi = bisect.bisect_left(starts, w_end)
        inside = [m for m in matches[lo:hi] if m.end <= w_end]
        if not inside:
            continue
        total, reasons = _window_score(inside)
        if total >= threshold and total > 0.0:
            span_start = min(m.start for m in inside)
            span_end = max(m.end for m in inside)
            candidates.append((w_end - w_start, total, reasons, span_start, span_end))
    candidates.sort(key=lambda c: (-c[1], c[0]))
    hits: list[InjectionHit] = []
    taken = _Spans()
    for _, total, reasons, s, e in candidates:
        if taken.overlaps(s, e):
            continue
        taken.add(s, e)
        hits.append(_hit(text, total, reasons, s, e))
    return hits


class _Spans:
    """Disjoint half-open spans, sorted, with an overlap test in logarithmic time."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self._starts, start)
        if i and self._ends[i - 1] > start:
            return True
        return i < len(self._starts) and self._starts[i] < end

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)


def _hit(text: str, total: float, reasons: tuple[str, ...], start: int, end: int) -> InjectionHit:
    excerpt = " ".join(text[start:end].split())
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[: EXCERPT_CHARS - 1] + "\u2026"
    return InjectionHit(total, reasons, start, end, excerpt)


# --- hidden unicode -----------------------------------------------------------------------

_TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]+")
_ZERO_WIDTH_RUN = re.compile("[\u200b\u200c\u200d\u2060-\u2064\ufeff\u180e]{2,}")
_REGIONAL_RUN = re.compile("[\U0001f1e6-\U0001f1ff]+")


def _hidden_unicode_hits(text: str, depth: int) -> Iterator[InjectionHit]:
    for m in _TAG_RUN.finditer(text):
        decoded = "".join(chr(ord(c) - 0xE0000) for c in m.group(0) if ord(c) >= 0xE0020)
        inner = _inner_reasons(decoded, depth)
        yield _hit(text, 1.0, ("hidden-unicode:tags", *inner), m.start(), m.end())
    for m in _BIDI.finditer(text):
        yield _hit(text, 0.6, ("hidden-unicode:bidi",), m.start(), m.end())
    for m in _ZERO_WIDTH_RUN.finditer(text):
        if not _is_emoji_join(text, m.start(), m.end()):
            yield _hit(text, 0.6, ("hidden-unicode:zero-width",), m.start(), m.end())
    yield from _regional_letter_hits(text, depth)


def _regional_letter_hits(text: str, depth: int) -> Iterator[InjectionHit]:
    """Words spelled in regional-indicator letters: flags come in pairs, spelled words do not."""
    runs = list(_REGIONAL_RUN.finditer(text))
    if sum(len(m.group(0)) % 2 for m in runs) < 2:
        return
    decoded = " ".join("".join(chr(ord(c) - 0x1F1E6 + 0x61) for c in m.group(0)) for m in runs)
    inner = _inner_reasons(decoded, depth)
    yield _hit(text, 0.6, ("obfuscated:regional-letters", *inner), runs[0].start(), runs[-1].end())


def _is_emoji_join(text: str, start: int, end: int) -> bool:
    run = text[start:end]
    if set(run) - {"\u200d", "\ufe0f"}:
        return False
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    return bool(before and after) and unicodedata.category(after) == "So"


def _inner_reasons(decoded: str, depth: int) -> tuple[str, ...]:
    if depth >= _MAX_DEPTH or not decoded.strip():
        return ()
    hits = _scan(decoded, DEFAULT_THRESHOLD, depth + 1)
    return tuple(dict.fromkeys(r for h in hits for r in h.reasons))


# --- encoded blobs ------------------------------------------------------------------------

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){16,}(?![0-9A-Fa-f])")
_ESCAPED_HEX = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){12,}")


def _encoded_hits(text: str, depth: int) -> Iterator[InjectionHit]:
    for kind, pattern in (("base64", _BASE64), ("hex", _HEX), ("hex", _ESCAPED_HEX)):
        for m in pattern.finditer(text):
            decoded = _decode(kind, m.group(0))
            if decoded is None:
                continue
            inner = _scan(decoded, DEFAULT_THRESHOLD, depth + 1)
            if inner:
                best = max(h.score for h in inner)
                reasons = tuple(dict.fromkeys(r for h in inner for r in h.reasons))
                yield _hit(text, best, (f"encoded:{kind}", *reasons), m.start(), m.end())


def _decode(kind: str, blob: str) -> str | None:
    try:
        if kind == "hex":
            raw = bytes.fromhex(blob.replace("\\x", ""))
        else:
            stripped = blob.rstrip("=")
            padded = stripped + "=" * (-len(stripped) % 4)
            alphabet = b"-_" if ("-" in blob or "_" in blob) else None
            raw = base64.b64decode(padded, altchars=alphabet, validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    printable = sum(1 for c in decoded if c.isprintable() or c in "\n\t")
    if not decoded or printable / len(decoded) < 0.95 or not re.search(r"[A-Za-z]{3}", decoded):
        return None
    return decoded
