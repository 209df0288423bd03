"""Shadow mode, measured: findings computed but not posted, and whether they would have helped.

A shadow run keeps its findings in ``review_runs`` (``shadow = 1``). When a later push or the
merged state changes the lines a stored finding was anchored on, a ``would_help`` signal is
recorded for its fingerprint: the author touched exactly the code the finding was about.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cache.db import Clock, fetch_all, json_tuple, require_text, write_transaction
from cache.store import Store

STORED_STATUSES = ("post", "hold")


@dataclass(frozen=True)
class ShadowFinding:
    """A finding a shadow run would have posted."""

    run_id: int
    head_sha: str
    fingerprint: str
    path: str
    line: int
    category: str
    severity: str
    anchored_code: str


@dataclass(frozen=True)
class ShadowRow:
    """The evidence for switching one repository from shadow to comment mode."""

    repo: str
    shadow_reviews: int
    pull_requests: int
    findings_stored: int
    would_help: int
    would_help_rate: float | None


def _finding(run_id: int, head_sha: str, data: dict[str, Any]) -> ShadowFinding | None:
    if data.get("status") not in STORED_STATUSES or not data.get("fingerprint"):
        return None
    return ShadowFinding(
        run_id=run_id,
        head_sha=head_sha,
        fingerprint=str(data["fingerprint"]),
        path=str(data.get("path", "")),
        line=int(data.get("line") or 0),
        category=str(data.get("category", "")),
        severity=str(data.get("severity", "")),
        anchored_code=str(data.get("anchored_code") or ""),
    )


def shadow_findings(db: Store, repo: str, pr_number: int) -> tuple[ShadowFinding, ...]:
    """Distinct findings of the PR's shadow runs (by fingerprint, first run that stored it)."""
    rows = fetch_all(
        db,
        "SELECT id, head_sha, findings FROM review_runs"
        " WHERE repo = ? AND pr_number = ? AND shadow = 1 ORDER BY created_at, id",
        (repo, pr_number),
    )
    seen: dict[str, ShadowFinding] = {}
    for row in rows:
        for data in json_tuple(row["findings"]):
            found = _finding(row["id"], row["head_sha"], data)
            if found is not None and found.fingerprint not in seen:
                seen[found.fingerprint] = found
    return tuple(seen.values())


def record_would_help(
    db: Store,
    *,
    repo: str,
    pr_number: int,
    finding: ShadowFinding,
    head_sha: str,
    detail: str = "",
    clock: Clock = time.time,
) -> bool:
    """Record that a later state changed the finding's lines; ``False`` if already recorded."""
    require_text(repo, "repo")
    require_text(head_sha, "head_sha")
    with write_transaction(db) as conn:
        cursor = conn.execute(
            "INSERT INTO shadow_signals (run_id, repo, pr_number, fingerprint,"
            " category, severity, signal, head_sha, detail, at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'would_help', ?, ?, ?)"
            " ON CONFLICT (repo, pr_number, fingerprint, signal) DO NOTHING",
            (
                finding.run_id,
                repo,
                pr_number,
                finding.fingerprint,
                finding.category,
                finding.severity,
                head_sha,
                detail,
                clock(),
            ),
        )
        return cursor.rowcount == 1


def shadow_stats(
    db: Store, *, repo: str | None = None, since: float | None = None
) -> tuple[ShadowRow, ...]:
    """Per repository: shadow reviews, distinct findings stored, and how many would have helped."""
    where: list[str] = ["shadow = 1"]
    params: list[Any] = []
    if repo is not None:
        where.append("repo = ?")
        params.append(repo)
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    rows = fetch_all(
        db,
        f"SELECT repo, pr_number, findings FROM review_runs WHERE {' AND '.join(where)}",
        params,
    )
    reviews: dict[str, int] = {}
    stored: dict[str, set[tuple[int, str]]] = {}
    for row in rows:
        reviews[row["repo"]] = reviews.get(row["repo"], 0) + 1
        keys = stored.setdefault(row["repo"], set())
        for data in json_tuple(row["findings"]):
            found = _finding(0, "", data)
            if found is not None:
                keys.add((row["pr_number"], found.fingerprint))
    helped = fetch_all(db, "SELECT repo, pr_number, fingerprint FROM shadow_signals")
    out: list[ShadowRow] = []
    for name in sorted(reviews):
        keys = stored[name]
        hits = sum((r["pr_number"], r["fingerprint"]) in keys for r in helped if r["repo"] == name)
        out.append(
            ShadowRow(
                repo=name,
                shadow_reviews=reviews[name],
                pull_requests=len({row["pr_number"] for row in rows if row["repo"] == name}),
                findings_stored=len(keys),
                would_help=hits,
                would_help_rate=hits / len(keys) if keys else None,
            )
        )
    return tuple(out)
