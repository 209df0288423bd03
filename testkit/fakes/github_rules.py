"""GitHub's rules, as the fake enforces them: the words of its refusals, its limits, which
credential each operation takes, where an inline comment may anchor (read with the fake's own
diff reader, ``hunks``, never the bot's), and the one GraphQL query it answers."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from testkit.fakes import hunks

TOO_LARGE_MESSAGE = (
    "Sorry, the diff exceeded the maximum number of files (300). Consider using "
    "'List pull requests files' API or locally cloning the repository instead."
)
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
EXPIRED_JWT_MESSAGE = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time "
    "at which the assertion expires"
)
INTEGRATION_REFUSED = "Resource not accessible by integration"
MAX_JWT_LIFETIME = 600
MAX_SARIF_BYTES = 10 * 1024 * 1024
CONTENTS_INLINE_LIMIT = 1024 * 1024
# Operations that act as a signed-in person: they take a user token, not an installation's.
USER_OPERATIONS = frozenset({"users/get-authenticated", "teams/get-membership-for-user-in-org"})
# Outside /app, these take the App's JWT too (GitHub: "you must use a JWT to access").
JWT_OPERATIONS = frozenset({"apps/get-repo-installation"})
# The one GraphQL query the fake answers: review threads of a PR, with their resolved state.
REVIEW_THREADS_SHAPE = re.sub(
    r"\s+",
    " ",
    """query($owner: String!, $name: String!, $number: Int!, $cursor: String) {
  repository(owner: $owner, name: $name) { pullRequest(number: $number) {
    reviewThreads(first: 100, after: $cursor) { pageInfo { hasNextPage endCursor }
      nodes { isResolved comments(first: 100) { nodes { fullDatabaseId } } } } } } }""",
)


def thread_variable_errors(variables: Any) -> list[str]:
    if not isinstance(variables, dict):
        return ["variables must be an object"]
    expected: dict[str, type | tuple[type, ...]] = {
        "owner": str,
        "name": str,
        "number": int,
        "cursor": (str, type(None)),
    }
    errors = [f"unexpected variable {k!r}" for k in variables if k not in expected]
    for key, kind in expected.items():
        value = variables.get(key)
        if (key != "cursor" and key not in variables) or not isinstance(value, kind):
            errors.append(f"variable {key!r} is missing or has the wrong type")
    return errors


def file_patch(f: hunks.File) -> str | None:
    """The ``patch`` field GitHub gives a file in the files list: its hunks, no headers."""
    if f.is_binary or not f.hunks:
        return None
    return f.patch


def file_entry(f: hunks.File) -> dict[str, Any]:
    additions, deletions, status = f.additions, f.deletions, f.status
    entry: dict[str, Any] = {
        "sha": hashlib.sha1(f.patch.encode("utf-8", "surrogatepass")).hexdigest(),
        "filename": f.path,
        "status": status,
        "additions": additions,
        "deletions": deletions,
        "changes": additions + deletions,
        "blob_url": f"https://github.com/x/y/blob/0/{f.path}",
        "raw_url": f"https://github.com/x/y/raw/0/{f.path}",
        "contents_url": f"https://api.github.com/repos/x/y/contents/{f.path}",
    }
    patch = file_patch(f)
    if patch is not None:
        entry["patch"] = patch
    if f.status == "renamed" and f.old_path:
        entry["previous_filename"] = f.old_path
    return entry


def anchor_error(diff: hunks.Files, comment: Mapping[str, Any]) -> str | None:
    """GitHub's reason for refusing an inline comment's anchor, or None when it resolves."""
    f = diff.file(str(comment.get("path", "")))
    if f is None:
        return "Pull request review thread path is invalid"
    if "line" not in comment:
        position = comment.get("position")
        if isinstance(position, int) and 1 <= position <= f.positions:
            return None
        return "Line could not be resolved"
    side = str(comment.get("side", "RIGHT"))
    line = comment["line"]
    if side not in ("RIGHT", "LEFT") or not isinstance(line, int) or not f.commentable(line, side):
        return "Line could not be resolved"
    start = comment.get("start_line")
    if start is None:
        return None
    start_side = str(comment.get("start_side", side))
    if start_side not in ("RIGHT", "LEFT") or not isinstance(start, int):
        return "Start line could not be resolved"
    if not f.commentable(start, start_side):
        return "Start line could not be resolved"
    if (start_side, start) == (side, line) or (start_side == side and start > line):
        return "Pull request review thread start_line must precede the end line."
    if f.hunk_of(start, start_side) != f.hunk_of(line, side):
        return "Pull request review thread start line must be part of the same hunk as the line."
    return None
