"""Comments prwarden posted, and what people did with them: reactions, resolutions, fixes.

Acceptance is measured per (category, severity, prompt version): the share of posted comments
that got a thumbs-up, were resolved, or were fixed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cache.db import (
    Clock,
    fetch_all,
    fetch_one,
    from_row,
    require_text,
    write_transaction,
)
from cache.store import Store
from prwarden.errors import StoreError

SIGNALS = ("thumbs_up", "thumbs_down", "resolved", "fixed", "reply", "would_help")
ACCEPTING = ("thumbs_up", "resolved", "fixed")


@dataclass(frozen=True)
class PostedComment:
    """An inline comment prwarden posted, with what it was about."""

    comment_id: int
    installation_id: int | None
    repo: str
    pr_number: int
    head_sha: str
    path: str
    line: int | None
    fingerprint: str
    category: str
    severity: str
    prompt_version: str
    source: str
    anchored_code: str
    created_at: float


@dataclass(frozen=True)
class AcceptanceRow:
    """Feedback on one (category, severity, prompt version).

    Signal counts are comments that got the signal at least once; ``acceptance_rate`` is
    the share of posted comments with a thumbs-up, a resolution or a fix.
    """

    category: str
    severity: str
    prompt_version: str
    posted: int
    thumbs_up: int
    thumbs_down: int
    resolved: int
    fixed: int
    reply: int
    would_help: int
    accepted: int
    acceptance_rate: float


_REPLACE_POSTED = ", ".join(
    f"{column} = excluded.{column}"
    for column in (
        "installation_id",
        "repo",
        "pr_number",
        "head_sha",
        "path",
        "line",
        "fingerprint",
        "category",
        "severity",
        "prompt_version",
        "source",
        "anchored_code",
        "created_at",
    )
)


def _posted(row: Any) -> PostedComment:
    return from_row(PostedComment, row)


def record_posted_comment(
    db: Store,
    *,
    comment_id: int,
    installation_id: int | None,
    repo: str,
    pr_number: int,
    head_sha: str,
    path: str,
    line: int | None,
    fingerprint: str,
    category: str,
    severity: str,
    prompt_version: str,
    source: str,
    anchored_code: str,
    clock: Clock = time.time,
) -> None:
    """Remember a comment prwarden posted (recording it again replaces it)."""
    require_text(repo, "repo")
    require_text(path, "path")
    require_text(fingerprint, "fingerprint")
    with write_transaction(db) as conn:
        conn.execute(
            "INSERT INTO posted_comments (comment_id, installation_id, repo,"
            " pr_number, head_sha, path, line, fingerprint, category, severity, prompt_version,"
            " source, anchored_code, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT (comment_id) DO UPDATE SET {_REPLACE_POSTED}",
            (
                comment_id,
                installation_id,
                repo,
                pr_number,
                head_sha,
                path,
                line,
                fingerprint,
                category,
                severity,
                prompt_version,
                source,
                anchored_code,
                clock(),
            ),
        )


def posted_comment(db: Store, comment_id: int) -> PostedComment | None:
    """The posted comment with this GitHub id, or ``None`` when prwarden did not post it."""
    row = fetch_one(db, "SELECT * FROM posted_comments WHERE comment_id = ?", (comment_id,))
    return None if row is None else _posted(row)


def posted_comments(db: Store, repo: str, pr_number: int) -> tuple[PostedComment, ...]:
    """Every comment prwarden posted on a PR, oldest first."""
    rows = fetch_all(
        db,
        "SELECT * FROM posted_comments WHERE repo = ? AND pr_number = ?"
        " ORDER BY created_at, comment_id",
        (repo, pr_number),
    )
    return tuple(_posted(row) for row in rows)


def record_feedback(
    db: Store,
    *,
    comment_id: int,
    signal: str,
    actor: str,
    detail: str = "",
    clock: Clock = time.time,
) -> bool:
    """Record a signal on a posted comment; ``False`` when this actor already gave it."""
    if signal not in SIGNALS:
        raise StoreError(f"unknown feedback signal {signal!r}; expected one of {SIGNALS}")
    require_text(actor, "actor")
    with write_transaction(db) as conn:
        row = conn.execute(
            "SELECT repo, pr_number FROM posted_comments WHERE comment_id = ?", (comment_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"comment {comment_id} was not posted by prwarden")
        cursor = conn.execute(
            "INSERT INTO feedback (comment_id, repo, pr_number, signal, actor, at, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (comment_id, signal, actor) DO NOTHING",
            (comment_id, row[0], row[1], signal, actor, clock(), detail),
        )
        return cursor.rowcount == 1


def acceptance(
    db: Store, *, repo: str | None = None, since: float | None = None
) -> tuple[AcceptanceRow, ...]:
    """Acceptance of posted comments, grouped by category, severity and prompt version."""
    where = ["1 = 1"]
    params: dict[str, Any] = {}
    if repo is not None:
        where.append("p.repo = :repo")
        params["repo"] = repo
    if since is not None:
        where.append("p.created_at >= :since")
        params["since"] = since
    has = (
        "CASE WHEN EXISTS (SELECT 1 FROM feedback f WHERE f.comment_id = p.comment_id"
        " AND f.signal {}) THEN 1 ELSE 0 END"
    )
    signal_columns = ", ".join(f"SUM({has.format(f'= {s!r}')}) AS {s}" for s in SIGNALS)
    accepted = has.format("IN (" + ", ".join(repr(s) for s in ACCEPTING) + ")")
    rows = fetch_all(
        db,
        f"SELECT p.category, p.severity, p.prompt_version, COUNT(*) AS posted, {signal_columns},"
        f" SUM({accepted}) AS accepted FROM posted_comments p WHERE {' AND '.join(where)}"
        " GROUP BY p.category, p.severity, p.prompt_version"
        " ORDER BY p.category, p.severity, p.prompt_version",
        params,
    )
    return tuple(
        AcceptanceRow(
            category=row["category"],
            severity=row["severity"],
            prompt_version=row["prompt_version"],
            posted=row["posted"],
            thumbs_up=int(row["thumbs_up"]),
            thumbs_down=int(row["thumbs_down"]),
            resolved=int(row["resolved"]),
            fixed=int(row["fixed"]),
            reply=int(row["reply"]),
            would_help=int(row["would_help"]),
            accepted=int(row["accepted"]),
            acceptance_rate=int(row["accepted"]) / row["posted"],
        )
        for row in rows
    )
