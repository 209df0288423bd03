"""A durable job queue in SQLite, with leases so a dead worker's job is picked up again.

A job moves ``queued → running → done | failed``; ``reschedule`` and ``release`` put a running
job back to ``queued``. A newer head SHA for the same (kind, repo, PR) marks older jobs
``superseded``: queued ones never run, running ones are reported to the caller so the worker
can cancel them, and whatever their worker reports afterwards is ignored. A superseded job
that had started leaves a ``superseded`` job behind, in the same transaction, so what it left
open (its check run) is closed even when its worker is busy elsewhere or dead.

Jobs with a ``dedupe_key`` (a slash command, posting one held finding) stand for their own
work: one live job per key, never superseding or superseded by a head SHA.

The same code runs on SQLite and PostgreSQL. On PostgreSQL several processes share the
queue: enqueues of one PR take an advisory lock on it; claims take rows with
``FOR UPDATE SKIP LOCKED``, and one advisory lock when ``per_installation_limit`` is set, so
the limit holds across every worker; an enqueue notifies idle workers.

``attempts`` counts attempts that ended without completing: a reschedule, a failure, or a
lease that expired and was re-claimed by another worker.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
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
from cache.store import Store, Transaction
from prwarden.errors import StoreError

JOB_STATES = ("queued", "running", "done", "failed", "superseded")
SUPERSEDED_KIND = "superseded"
_LIVE = "state IN ('queued', 'running')"
_READY = (
    "((state = 'queued' AND not_before <= :now) OR (state = 'running' AND lease_until <= :now))"
)


@dataclass(frozen=True)
class Job:
    """One unit of background work, as stored."""

    id: int
    kind: str
    installation_id: int
    repo: str
    pr_number: int
    head_sha: str
    payload: dict[str, Any]
    state: str
    attempts: int
    not_before: float
    created_at: float
    delivery_id: str | None
    lease_owner: str | None = None
    lease_until: float | None = None
    error: str | None = None
    dedupe_key: str | None = None


@dataclass(frozen=True)
class Enqueued:
    """The id of the queued job and the running jobs it superseded (to be cancelled)."""

    job_id: int
    superseded_running: tuple[int, ...]


def _job(row: Any) -> Job:
    return from_row(Job, row, payload=from_json)


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise StoreError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _kind_filter(kinds: Sequence[str] | None) -> tuple[str, dict[str, str]]:
    if kinds is None:
        return "", {}
    names = {f"k{i}": require_text(kind, "kind") for i, kind in enumerate(kinds)}
    placeholders = ", ".join(f":{name}" for name in names)
    return f" AND kind IN ({placeholders})", names


class JobQueue:
    """The job queue over one store; ``clock`` gives the time in epoch seconds."""

    def __init__(self, db: Store, *, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock

    def enqueue(
        self,
        kind: str,
        *,
        installation_id: int,
        repo: str,
        pr_number: int,
        head_sha: str,
        payload: dict[str, Any],
        delivery_id: str | None = None,
        dedupe_key: str | None = None,
    ) -> Enqueued:
        """Queue a job, superseding the same (kind, repo, PR)'s jobs for other head SHAs.

        When a job for the same head SHA is already queued or running, its id is returned
        and nothing is added. With a ``dedupe_key`` the job is the one live job of that key:
        it supersedes nothing and no head SHA supersedes it.
        """
        require_text(kind, "kind")
        require_text(repo, "repo")
        if isinstance(pr_number, bool) or not isinstance(pr_number, int) or pr_number < 0:
            raise StoreError(f"pr_number must be a non-negative integer, got {pr_number!r}")
        if not isinstance(payload, dict):
            raise StoreError(f"payload must be a dict, got {type(payload).__name__}")
        if dedupe_key is not None:
            require_text(dedupe_key, "dedupe_key")
        payload_json = to_json(payload, "job payload")
        key = {"kind": kind, "repo": repo, "pr": pr_number, "sha": head_sha, "dedupe": dedupe_key}
        with write_transaction(self._db) as conn:
            now = self._clock()
            if dedupe_key is not None:
                conn.lock(f"job:{dedupe_key}")
                same = conn.execute(
                    f"SELECT id FROM jobs WHERE dedupe_key = :dedupe AND {_LIVE}", key
                ).fetchone()
                if same is not None:
                    return Enqueued(job_id=int(same[0]), superseded_running=())
                running: tuple[int, ...] = ()
            else:
                conn.lock(f"job:{kind}:{repo}#{pr_number}")
                live = conn.execute(
                    "SELECT id, installation_id, head_sha, state, started_at, lease_until"
                    " FROM jobs WHERE kind = :kind AND repo = :repo AND pr_number = :pr"
                    f" AND dedupe_key IS NULL AND {_LIVE} ORDER BY id{conn.for_update}",
                    key,
                ).fetchall()
                same = next((row for row in live if row["head_sha"] == head_sha), None)
                if same is not None:
                    return Enqueued(job_id=int(same["id"]), superseded_running=())
                running = _supersede(conn, key, live, now)
            job_id = _insert(
                conn,
                (kind, installation_id, repo, pr_number, head_sha, payload_json),
                now=now,
                delivery_id=delivery_id,
                dedupe_key=dedupe_key,
            )
            conn.notify_jobs()
        return Enqueued(job_id=job_id, superseded_running=running)

    def claim(
        self,
        owner: str,
        lease_seconds: float,
        *,
        per_installation_limit: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> Job | None:
        """Lease the next ready job to ``owner``, or return ``None`` when none is ready.

        Ready: queued with ``not_before`` reached, or running with an expired lease. The
        installation with the fewest live leases goes first (ties: the one whose oldest
        ready job is oldest), skipping those at ``per_installation_limit``; within it,
        the oldest job.
        """
        require_text(owner, "owner")
        lease = _positive(lease_seconds, "lease_seconds")
        if per_installation_limit is not None and (
            isinstance(per_installation_limit, bool)
            or not isinstance(per_installation_limit, int)
            or per_installation_limit < 1
        ):
            raise StoreError(
                f"per_installation_limit must be a positive integer, got {per_installation_limit!r}"
            )
        kind_sql, kind_params = _kind_filter(kinds)
        if kinds is not None and not kind_params:
            return None
        with write_transaction(self._db) as conn:
            if per_installation_limit is not None:
                # Counting live leases and taking one must not interleave across workers.
                conn.lock("jobs:claim")
            now = self._clock()
            params: dict[str, Any] = {"now": now, **kind_params}
            busy = dict(
                conn.execute(
                    "SELECT installation_id, COUNT(*) FROM jobs"
                    " WHERE state = 'running' AND lease_until > :now GROUP BY installation_id",
                    params,
                ).fetchall()
            )
            candidates = sorted(
                (busy.get(inst, 0), oldest, inst)
                for inst, oldest in conn.execute(
                    f"SELECT installation_id, MIN(created_at) FROM jobs WHERE {_READY}{kind_sql}"
                    " GROUP BY installation_id",
                    params,
                )
                if per_installation_limit is None or busy.get(inst, 0) < per_installation_limit
            )
            for _, _, installation in candidates:
                row = conn.execute(
                    f"SELECT id FROM jobs WHERE installation_id = :inst AND {_READY}{kind_sql}"
                    f" ORDER BY created_at, id LIMIT 1{conn.skip_locked}",
                    {**params, "inst": installation},
                ).fetchone()
                if row is not None:
                    break
            else:
                return None
            conn.execute(
                "UPDATE jobs SET attempts = attempts"
                " + CASE WHEN state = 'running' THEN 1 ELSE 0 END, state = 'running',"
                " lease_owner = :owner, lease_until = :until, started_at = :now WHERE id = :id",
                {"owner": owner, "until": now + lease, "now": now, "id": row[0]},
            )
            return self.get(int(row[0]))

    def heartbeat(self, job_id: int, owner: str, lease_seconds: float) -> bool:
        """Extend ``owner``'s lease; ``False`` when the lease was lost or the job superseded."""
        lease = _positive(lease_seconds, "lease_seconds")
        with write_transaction(self._db) as conn:
            cursor = conn.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?"
                " AND state = 'running'",
                (self._clock() + lease, job_id, owner),
            )
            return cursor.rowcount == 1

    def complete(self, job_id: int, owner: str) -> bool:
        """Mark ``owner``'s running job done; ``False`` (and no change) if it was superseded."""
        return self._finish(job_id, owner, "state = 'done', finished_at = :now", {})

    def fail(self, job_id: int, owner: str, error: str) -> bool:
        """Mark ``owner``'s running job failed for good with ``error``."""
        return self._finish(
            job_id,
            owner,
            "state = 'failed', finished_at = :now, error = :error, attempts = attempts + 1",
            {"error": error},
        )

    def reschedule(self, job_id: int, owner: str, *, delay: float, error: str) -> bool:
        """Put ``owner``'s running job back in the queue, not to run before ``now + delay``."""
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise StoreError(f"delay must be a non-negative number of seconds, got {delay!r}")
        return self._finish(
            job_id,
            owner,
            "state = 'queued', not_before = :now + :delay, error = :error,"
            " attempts = attempts + 1, lease_owner = NULL, lease_until = NULL",
            {"delay": float(delay), "error": error},
        )

    def release(self, job_id: int, owner: str) -> bool:
        """Give ``owner``'s running job back to the queue untouched (worker shutting down)."""
        return self._finish(
            job_id, owner, "state = 'queued', lease_owner = NULL, lease_until = NULL", {}
        )

    def _finish(self, job_id: int, owner: str, assignments: str, params: dict[str, Any]) -> bool:
        with write_transaction(self._db) as conn:
            row = conn.execute(
                f"SELECT state, lease_owner FROM jobs WHERE id = ?{conn.for_update}", (job_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"job {job_id} does not exist")
            state, lease_owner = row
            if lease_owner != owner:
                raise StoreError(
                    f"job {job_id} is not leased to {owner!r} (lease holder: {lease_owner!r});"
                    " its lease expired and another worker took it"
                )
            if state == "superseded":
                return False
            if state != "running":
                raise StoreError(f"job {job_id} is {state}, not running")
            conn.execute(
                f"UPDATE jobs SET {assignments} WHERE id = :id",
                {**params, "id": job_id, "now": self._clock()},
            )
            return True

    def stopped_superseded(self, job_id: int) -> None:
        """The worker of superseded job ``job_id`` has stopped: its follow-up may run now."""
        with write_transaction(self._db) as conn:
            cursor = conn.execute(
                "UPDATE jobs SET not_before = ? WHERE dedupe_key = ? AND state = 'queued'",
                (self._clock(), f"superseded:{job_id}"),
            )
            if cursor.rowcount:
                conn.notify_jobs()

    def has_live(self, kind: str, repo: str, pr_number: int, head_sha: str) -> bool:
        """Whether a job of ``kind`` for this PR head is queued or running."""
        rows = fetch_all(
            self._db,
            "SELECT 1 FROM jobs WHERE kind = ? AND repo = ? AND pr_number = ? AND head_sha = ?"
            f" AND dedupe_key IS NULL AND {_LIVE}",
            (kind, repo, pr_number, head_sha),
        )
        return bool(rows)

    def get(self, job_id: int) -> Job | None:
        """The job with this id, or ``None``."""
        row = fetch_one(self._db, "SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else _job(row)

    def is_superseded(self, job_id: int) -> bool:
        """Whether a newer head SHA superseded this job."""
        job = self.get(job_id)
        if job is None:
            raise StoreError(f"job {job_id} does not exist")
        return job.state == "superseded"

    def jobs(self, *, state: str | None = None, limit: int = 100) -> tuple[Job, ...]:
        """The most recent jobs, newest first, optionally in one state."""
        if state is not None and state not in JOB_STATES:
            raise StoreError(f"unknown job state {state!r}; expected one of {JOB_STATES}")
        where = "" if state is None else "WHERE state = :state"
        rows = fetch_all(
            self._db,
            f"SELECT * FROM jobs {where} ORDER BY id DESC LIMIT :limit",
            {"state": state, "limit": limit},
        )
        return tuple(_job(row) for row in rows)

    def depth(self) -> dict[str, int]:
        """How many jobs are in each state (every state is present)."""
        counts = dict.fromkeys(JOB_STATES, 0)
        for state, count in self._db.read("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            counts[state] = int(count)
        return counts

    def oldest_wait(self) -> float | None:
        """Seconds the longest-waiting ready queued job has waited, or ``None`` if none."""
        now = self._clock()
        row = fetch_one(
            self._db,
            "SELECT MIN(CASE WHEN created_at > not_before THEN created_at ELSE not_before END)"
            " FROM jobs WHERE state = 'queued' AND not_before <= ?",
            (now,),
        )
        return None if row[0] is None else max(0.0, now - float(row[0]))


def _supersede(
    conn: Transaction, key: dict[str, Any], rows: Sequence[Any], now: float
) -> tuple[int, ...]:
    """Supersede ``rows``, the PR's live jobs of this kind for other heads; return the running
    ones.

    Each one that had started gets a ``superseded`` job to close what it left open, due
    when the old lease runs out (by then its worker has seen it lost the job, or is dead),
    or as soon as its worker says it stopped (``stopped_superseded``).
    """
    for row in rows:
        conn.execute(
            "UPDATE jobs SET state = 'superseded', finished_at = ? WHERE id = ?", (now, row[0])
        )
        if row["started_at"] is not None:
            _insert(
                conn,
                (
                    SUPERSEDED_KIND,
                    row["installation_id"],
                    key["repo"],
                    key["pr"],
                    row["head_sha"],
                    to_json({"job_id": int(row[0]), "kind": key["kind"]}, "job payload"),
                ),
                now=now,
                delivery_id=None,
                dedupe_key=f"superseded:{int(row[0])}",
                not_before=max(now, row["lease_until"] or now),
            )
    return tuple(int(row[0]) for row in rows if row["state"] == "running")


def _insert(
    conn: Transaction,
    fields: tuple[Any, ...],
    *,
    now: float,
    delivery_id: str | None,
    dedupe_key: str | None,
    not_before: float | None = None,
) -> int:
    """Insert a queued job from (kind, installation, repo, PR, head SHA, payload JSON)."""
    row = conn.execute(
        "INSERT INTO jobs (kind, installation_id, repo, pr_number, head_sha, payload,"
        " state, attempts, not_before, created_at, delivery_id, dedupe_key)"
        " VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?) RETURNING id",
        (*fields, now if not_before is None else not_before, now, delivery_id, dedupe_key),
    ).fetchone()
    return int(row[0])
