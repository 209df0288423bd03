"""Big changes in priority order: rank the files, then pack them into groups that fit a budget.

A change too large for one review conversation is reviewed a group of files at a time, most
important first: the files the triage model named, in its order; then by risk (security-
sensitive names and code in the path and the added lines; tests and fixtures last); then by
size (more added lines first). A file larger than a group is a group of its own, its diff cut
to fit. Sizes are ``prwarden.tokens`` estimates of the diff as the model reads it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from prwarden import tokens
from review.diff import FileDiff
from review.diffview import render_file

_RISKY = re.compile(
    r"auth|login|passw|token|secret|crypt|session|cookie|permission|admin|sql|query|exec"
    r"|shell|subprocess|eval|pickle|yaml\.load|deserial|upload|path|redirect|sanitiz|escape"
    r"|payment|billing|lock|thread|async|migrat",
    re.IGNORECASE,
)
_LOW = re.compile(r"(^|/)(tests?|spec|fixtures?|examples?|docs?)/|(^|/)test_|_test\.\w+$")
MAX_RISK = 5


def risk(f: FileDiff) -> int:
    """How security- or correctness-sensitive a file's change looks, 0..MAX_RISK."""
    added = "\n".join(f.added.values())
    score = min(len(_RISKY.findall(f.path)) * 2 + len(_RISKY.findall(added)), MAX_RISK)
    return 0 if _LOW.search(f.path) else score


def rank(files: Sequence[FileDiff], focus: Sequence[str] = ()) -> list[FileDiff]:
    """The files in review order: triage focus first, then risk, then size."""
    order = {path: i for i, path in enumerate(dict.fromkeys(focus))}

    def key(f: FileDiff) -> tuple[int, int, int, str]:
        return (order.get(f.path, len(order)), -risk(f), -len(f.added), f.path)

    return sorted(files, key=key)


def file_tokens(f: FileDiff) -> int:
    return tokens.estimate(render_file(f))


def pack(files: Sequence[FileDiff], max_tokens: int) -> list[list[FileDiff]]:
    """Consecutive groups of ``files`` (kept in order), each at most ``max_tokens`` of diff."""
    groups: list[list[FileDiff]] = []
    used = 0
    for f in files:
        size = file_tokens(f)
        if not groups or used + size > max_tokens:
            groups.append([])
            used = 0
        groups[-1].append(f)
        used += size
    return groups
