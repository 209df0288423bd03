"""Linear-time prefilters for Python regular expressions, built on RE2.

Python's ``re`` backtracks: one pattern can take time quadratic (or worse) in its input, and
running a table of them over a large diff costs a full pass each. ``Prefilter`` compiles, for a
Python pattern, an RE2 pattern that matches *at least* wherever the Python one does (RE2 runs
in time linear in its input). Only when the prefilter finds something does the exact Python
pattern run, so clean text costs one linear pass per rule and never a backtracking one.

The RE2 pattern is a superset because every construct RE2 lacks or reads differently is
widened, never narrowed: lookarounds, word boundaries and ``^``/``$`` anchors are dropped (they
only ever reject a match), possessive quantifiers become greedy ones, and ``\\w``, ``\\s``,
``\\d`` become their full Unicode classes (RE2's are ASCII). Inside a negated class the ASCII
forms are kept, which widens the negation. A pattern the converter cannot vouch for gets no
prefilter and always runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import re2

_MAX_MEM = 64 << 20
_WIDE = {
    "w": r"\p{L}\p{N}_",
    "s": r"\s\v\x{1c}-\x{1f}\x{85}\p{Z}",
    "d": r"\p{Nd}",
}
_LOOKAROUND = ("(?=", "(?!", "(?<=", "(?<!")
_UNSAFE = re.compile(r"\\[1-9gABZ]|\(\?P=|\(\?\(|\(\?>")


@dataclass(frozen=True, slots=True)
class Prefilter:
    """A linear-time test that is true wherever ``pattern`` could match."""

    pattern: re.Pattern[str]
    superset: re2._Regexp | None

    def may_match(self, text: str) -> bool:
        if self.superset is None:
            return True
        return self.superset.search(text) is not None


def prefilter(pattern: re.Pattern[str]) -> Prefilter:
    """The prefilter of a compiled Python pattern (``None`` inside when none can be built)."""
    source = superset_source(pattern.pattern)
    if source is None:
        return Prefilter(pattern, None)
    flags = ""
    if pattern.flags & re.IGNORECASE:
        flags += "i"
    if pattern.flags & re.DOTALL:
        flags += "s"
    options = re2.Options()
    options.max_mem = _MAX_MEM
    try:
        compiled = re2.compile(f"(?{flags}){source}" if flags else source, options)
    except re2.error:
        return Prefilter(pattern, None)
    return Prefilter(pattern, compiled)


def superset_source(source: str) -> str | None:
    """An RE2 pattern matching wherever the Python ``source`` matches, or ``None``."""
    if _UNSAFE.search(source):
        return None
    out: list[str] = []
    i = 0
    n = len(source)
    while i < n:
        if source.startswith(_LOOKAROUND, i):
            end = _group_end(source, i)
            if end < 0:
                return None
            i = end
            continue
        ch = source[i]
        if ch == "\\":
            if i + 1 >= n:
                return None
            nxt = source[i + 1]
            if nxt == "b":
                pass
            elif nxt in _WIDE:
                out.append(f"[{_WIDE[nxt]}]")
            else:
                out.append(source[i : i + 2])
            i += 2
            continue
        if ch == "[":
            end, cls = _char_class(source, i)
            if end < 0:
                return None
            out.append(cls)
            i = end
            continue
        if ch in "^$":
            i += 1
            continue
        if ch in "*+?}" and source.startswith("+", i + 1):
            out.append(ch)  # possessive: the greedy form matches at least as much
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _group_end(source: str, start: int) -> int:
    """The index just past the group opened at ``start``, or -1."""
    depth = 0
    i = start
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i, _ = _char_class(source, i)
            if i < 0:
                return -1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _char_class(source: str, start: int) -> tuple[int, str]:
    """Convert the class opened at ``start``; return (index past it, RE2 text) or (-1, '')."""
    i = start + 1
    negated = source.startswith("^", i)
    if negated:
        i += 1
    out = ["[^" if negated else "["]
    first = True
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "]" and not first:
            out.append("]")
            return i + 1, "".join(out)
        first = False
        if ch == "\\":
            if i + 1 >= n:
                return -1, ""
            nxt = source[i + 1]
            if nxt in _WIDE and not negated:
                out.append(_WIDE[nxt])
            elif nxt == "b":
                out.append(r"\x08")
            else:
                out.append(source[i : i + 2])
            i += 2
            continue
        if ch == "[":
            out.append(r"\[")
        else:
            out.append(ch)
        i += 1
    return -1, ""
