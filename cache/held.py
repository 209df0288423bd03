"""Findings held for the security team before they are posted.

A held finding moves ``pending → approved → posted``, or to ``rejected`` from ``pending`` or
``approved`` (not yet posted). Any other move raises ``StoreError`` saying why.
"""

from __future__ import annotations

import builtins
import time
from dataclasses import dataclass
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
        if state is not None and state not in HELD_STATES:
            raise StoreError(f"unknown held-finding state {state!r}; expected one of {HELD_STATES}")
        where = "" if state is None else "WHERE state = ?"
        params: builtins.list[str] = [] if state is None else [state]
        rows = fetch_all(
            self._db, f"SELECT * FROM findings {where} ORDER BY created_at, id", params
        )
        return tuple(_held(row) for row in rows)

    def get(self, finding_id: int) -> HeldFinding | None:
        """The held finding with this id, or ``None``."""
        row = fetch_one(self._db, "SELECT * FROM findings WHERE id = ?", (finding_id,))
        return None if row is None else _held(row)

    def approve(self, finding_id: int, by: str) -> HeldFinding:
        """Approve a pending finding for posting; return it as approved."""
        require_text(by, "by")
        return self._move(
            finding_id,
            ("pending",),
            "approve",
            "state = 'approved', decided_by = :by, decided_at = :now",
            {"by": by},
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
        )

    def _move(
        self,
        finding_id: int,
        allowed_from: tuple[str, ...],
        verb: str,
        assignments: str,
        params: dict[str, Any],
    ) -> HeldFinding:
        with write_transaction(self._db) as conn:
            row = conn.execute("SELECT state FROM findings WHERE id = ?", (finding_id,)).fetchone()
            if row is None:
                raise StoreError(f"cannot {verb} held finding {finding_id}: no such finding")
            if row[0] not in allowed_from:
                raise StoreError(
                    f"cannot {verb} held finding {finding_id}: it is {row[0]};"
                    f" that needs a finding that is {' or '.join(allowed_from)}"
                )
            conn.execute(
                f"UPDATE findings SET {assignments} WHERE id = :id",
                {**params, "id": finding_id, "now": self._clock()},
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
