"""Findings held for the security team before they are posted.

A held finding moves ``pending → approved → posted``, or to ``rejected`` from ``pending`` or
``approved`` (not yet posted). Any other move raises ``StoreError`` saying why. Every move is
also written to ``finding_decisions`` (who, when, why, and the text an edit replaced), so the
history of a finding survives its current state.
"""

from __future__ import annotations

import builtins
import time
from dataclasses import dataclass, replace
from typing import Any

from cache.db import (
    Clock,
    fetch_all,
    fetch_one,
    from_json,
    from_row,
    require_text,
    to_json,
    write_transaction,
)
from cache.store import Store
from prwarden.errors import StoreError

HELD_STATES = ("pending", "approved", "rejected", "posted")
# One field of the finding's JSON column, in each engine's words.
_JSON_FIELD = {
    "sqlite": "json_extract(finding, '$.{}')",
    "postgresql": "(finding::jsonb ->> '{}')",
}
DECISION_ACTIONS = ("approve", "approve_edited", "reject", "post")


@dataclass(frozen=True)
class HeldFilter:
    """Which held findings to list; ``None`` (or 0 for ``max_age``) means any."""

    state: str | None = "pending"
    repo: str | None = None
    severity: str | None = None
    category: str | None = None
    max_age: float = 0.0

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in HELD_STATES:
            raise StoreError(
                f"unknown held-finding state {self.state!r}; expected one of {HELD_STATES}"
            )
        if self.max_age < 0:
            raise StoreError(f"max_age must not be negative, got {self.max_age!r}")


@dataclass(frozen=True)
class Decision:
    """One recorded move of a held finding."""

    id: int
    finding_id: int
    action: str
    by: str
    at: float
    reason: str | None
    before: dict[str, Any] | None


@dataclass(frozen=True)
class HeldFinding:
    """A held finding, with the evidence for holding it and the decision taken."""

    id: int
    installation_id: int
    repo: str
    pr_number: int
    head_sha: str
    fingerprint: str
    finding: dict[str, Any]
    evidence: dict[str, Any]
    state: str
    decided_by: str | None
    decided_at: float | None
    reason: str | None
    comment_id: int | None
    created_at: float


def _held(row: Any) -> HeldFinding:
    return from_row(HeldFinding, row, finding=from_json, evidence=from_json)


class HeldFindings:
    """The security team's queue of held findings."""

    def __init__(self, db: Store, *, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock

    def hold(
        self,
        *,
        installation_id: int,
        repo: str,
        pr_number: int,
        head_sha: str,
        fingerprint: str,
        finding: dict[str, Any],
        evidence: dict[str, Any],
    ) -> int:
        """Hold a finding; the same fingerprint on the same PR is held once (same id back)."""
        require_text(repo, "repo")
        require_text(fingerprint, "fingerprint")
        finding_json = to_json(finding, "finding")
        evidence_json = to_json(evidence, "evidence")
        with write_transaction(self._db) as conn:
            conn.execute(
                "INSERT INTO findings (installation_id, repo, pr_number, head_sha,"
                " fingerprint, finding, evidence, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)"
                " ON CONFLICT (repo, pr_number, fingerprint) DO NOTHING",
                (
                    installation_id,
                    repo,
                    pr_number,
                    head_sha,
                    fingerprint,
                    finding_json,
                    evidence_json,
                    self._clock(),
                ),
            )
            row = conn.execute(
                "SELECT id FROM findings WHERE repo = ? AND pr_number = ? AND fingerprint = ?",
                (repo, pr_number, fingerprint),
            ).fetchone()
        return int(row[0])

    def list(self, state: str | None = "pending") -> tuple[HeldFinding, ...]:
        """Held findings in ``state`` (``None``: all), oldest first."""
        return self.query(HeldFilter(state=state))

    def query(self, where: HeldFilter) -> tuple[HeldFinding, ...]:
        """Held findings matching ``where``, oldest first."""
        sql, params = self._where(where)
        rows = fetch_all(self._db, f"SELECT * FROM findings {sql} ORDER BY created_at, id", params)
        return tuple(_held(row) for row in rows)

    def counts(self, where: HeldFilter) -> dict[str, int]:
        """How many findings match ``where`` in each state (``where.state`` is ignored)."""
        sql, params = self._where(replace(where, state=None))
        rows = fetch_all(
            self._db, f"SELECT state, COUNT(*) AS n FROM findings {sql} GROUP BY state", params
        )
        found = {str(row["state"]): int(row["n"]) for row in rows}
        return {state: found.get(state, 0) for state in HELD_STATES}

    def repos(self) -> tuple[str, ...]:
        """Every repository with a held finding, sorted."""
        rows = fetch_all(self._db, "SELECT DISTINCT repo FROM findings ORDER BY repo")
        return tuple(str(row["repo"]) for row in rows)

    def _where(self, where: HeldFilter) -> tuple[str, builtins.list[Any]]:
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        for column, value in (("state", where.state), ("repo", where.repo)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        for key, value in (("severity", where.severity), ("category", where.category)):
            if value is not None:
                clauses.append(f"{_JSON_FIELD[self._db.dialect].format(key)} = ?")
                params.append(value)
        if where.max_age:
            clauses.append("created_at >= ?")
            params.append(self._clock() - where.max_age)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    def history(self, finding_id: int) -> tuple[Decision, ...]:
        """Every decision on the finding, oldest first."""
        rows = fetch_all(
            self._db,
            "SELECT * FROM finding_decisions WHERE finding_id = ? ORDER BY at, id",
            (finding_id,),
        )
        return tuple(from_row(Decision, row, before=from_json) for row in rows)

    def get(self, finding_id: int) -> HeldFinding | None:
        """The held finding with this id, or ``None``."""
        row = fetch_one(self._db, "SELECT * FROM findings WHERE id = ?", (finding_id,))
        return None if row is None else _held(row)

    def approve(
        self, finding_id: int, by: str, *, edited: dict[str, Any] | None = None
    ) -> HeldFinding:
        """Approve a pending finding for posting; return it as approved.

        With ``edited``, that finding replaces the held one (the caller validated it); the
        decision keeps the text it replaced.
        """
        require_text(by, "by")
        if edited is None:
            return self._move(
                finding_id,
                ("pending",),
                "approve",
                "state = 'approved', decided_by = :by, decided_at = :now",
                {"by": by},
            )
        return self._move(
            finding_id,
            ("pending",),
            "approve",
            "state = 'approved', decided_by = :by, decided_at = :now, finding = :finding",
            {"by": by, "finding": to_json(edited, "edited finding")},
            action="approve_edited",
        )

    def reject(self, finding_id: int, by: str, reason: str) -> HeldFinding:
        """Reject a pending or approved (not yet posted) finding; it will never be posted."""
        require_text(by, "by")
        return self._move(
            finding_id,
            ("pending", "approved"),
            "reject",
            "state = 'rejected', decided_by = :by, decided_at = :now, reason = :reason",
            {"by": by, "reason": reason},
        )

    def mark_posted(self, finding_id: int, comment_id: int) -> HeldFinding:
        """Record that an approved finding was posted as ``comment_id``."""
        return self._move(
            finding_id,
            ("approved",),
            "mark as posted",
            "state = 'posted', comment_id = :comment_id",
            {"comment_id": comment_id},
            action="post",
        )

    def _move(
        self,
        finding_id: int,
        allowed_from: tuple[str, ...],
        verb: str,
        assignments: str,
        params: dict[str, Any],
        *,
        action: str | None = None,
    ) -> HeldFinding:
        with write_transaction(self._db) as conn:
            row = conn.execute(
                "SELECT state, finding FROM findings WHERE id = ?", (finding_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"cannot {verb} held finding {finding_id}: no such finding")
            if row[0] not in allowed_from:
                raise StoreError(
                    f"cannot {verb} held finding {finding_id}: it is {row[0]};"
                    f" that needs a finding that is {' or '.join(allowed_from)}"
                )
            now = self._clock()
            conn.execute(
                f"UPDATE findings SET {assignments} WHERE id = :id",
                {**params, "id": finding_id, "now": now},
            )
            action = action or verb
            conn.execute(
                'INSERT INTO finding_decisions (finding_id, action, "by", at, reason, before)'
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    finding_id,
                    action,
                    params.get("by") or "prwarden",
                    now,
                    params.get("reason"),
                    row[1] if action == "approve_edited" else None,
                ),
            )
        moved = self.get(finding_id)
        assert moved is not None
        return moved

    def pending_count(self, repo: str, pr_number: int) -> int:
        """How many findings on a PR still wait for a decision."""
        row = fetch_one(
            self._db,
            "SELECT COUNT(*) FROM findings WHERE repo = ? AND pr_number = ? AND state = 'pending'",
            (repo, pr_number),
        )
        return int(row[0])
