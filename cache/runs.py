"""Review runs: what each review of a PR did, found, posted and cost."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cache.db import (
    fetch_all,
    fetch_one,
    from_row,
    json_tuple,
    require_text,
    to_json,
    write_transaction,
)
from cache.store import Store
from prwarden.errors import StoreError

RUN_MODES = ("model", "static", "cached", "skipped", "budget")


@dataclass(frozen=True)
class Run:
    """One recorded review run."""

    id: int
    job_id: int | None
    installation_id: int | None
    repo: str
    pr_number: int | None
    head_sha: str
    diff_hash: str
    mode: str
    outcome: str
    summary: str
    findings: tuple[dict[str, Any], ...]
    injection_hits: tuple[dict[str, Any], ...]
    config_errors: tuple[str, ...]
    posted: int
    held: int
    dropped: int
    tokens_in: int
    tokens_out: int
    cost: float
    review_id: int | None
    shadow: bool
    created_at: float
    model_rejections: tuple[str, ...] = ()


def _run(row: Any) -> Run:
    return from_row(
        Run,
        row,
        findings=json_tuple,
        injection_hits=json_tuple,
        config_errors=json_tuple,
        shadow=bool,
        model_rejections=json_tuple,
    )


def record_run(
    db: Store,
    *,
    job_id: int | None,
    installation_id: int | None,
    repo: str,
    pr_number: int | None,
    head_sha: str,
    diff_hash: str,
    mode: str,
    outcome: str,
    summary: str = "",
    findings: Sequence[dict[str, Any]] = (),
    injection_hits: Sequence[dict[str, Any]] = (),
    config_errors: Sequence[str] = (),
    posted: int = 0,
    held: int = 0,
    dropped: int = 0,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost: float = 0.0,
    review_id: int | None = None,
    shadow: bool = False,
    model_rejections: Sequence[str] = (),
    at: float | None = None,
) -> int:
    """Record one review run; return its id. ``at`` defaults to now."""
    if mode not in RUN_MODES:
        raise StoreError(f"unknown review mode {mode!r}; expected one of {RUN_MODES}")
    require_text(outcome, "outcome")
    counts = {"posted": posted, "held": held, "dropped": dropped}
    counts |= {"tokens_in": tokens_in, "tokens_out": tokens_out}
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise StoreError(f"{name} must be a non-negative integer, got {value!r}")
    if cost < 0:
        raise StoreError(f"cost must not be negative, got {cost!r}")
    with write_transaction(db) as conn:
        cursor = conn.execute(
            "INSERT INTO review_runs (job_id, installation_id, repo, pr_number, head_sha,"
            " diff_hash, mode, outcome, summary, findings, injection_hits, config_errors,"
            " posted, held, dropped, tokens_in, tokens_out, cost, review_id, shadow, created_at,"
            " model_rejections)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (
                job_id,
                installation_id,
                repo,
                pr_number,
                head_sha,
                diff_hash,
                mode,
                outcome,
                summary,
                to_json(list(findings), "findings"),
                to_json(list(injection_hits), "injection hits"),
                to_json(list(config_errors), "config errors"),
                posted,
                held,
                dropped,
                tokens_in,
                tokens_out,
                float(cost),
                review_id,
                int(bool(shadow)),
                time.time() if at is None else at,
                to_json(list(model_rejections), "model rejections"),
            ),
        )
        run_id = int(cursor.fetchone()[0])
    return run_id


def last_run(db: Store, repo: str, pr_number: int, *, posted_only: bool = False) -> Run | None:
    """The latest run on a PR; with ``posted_only``, the latest that posted a review."""
    posted = " AND review_id IS NOT NULL" if posted_only else ""
    row = fetch_one(
        db,
        f"SELECT * FROM review_runs WHERE repo = ? AND pr_number = ?{posted}"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        (repo, pr_number),
    )
    return None if row is None else _run(row)


def runs_for(db: Store, repo: str, pr_number: int) -> tuple[Run, ...]:
    """Every run on a PR, oldest first."""
    rows = fetch_all(
        db,
        "SELECT * FROM review_runs WHERE repo = ? AND pr_number = ? ORDER BY created_at, id",
        (repo, pr_number),
    )
    return tuple(_run(row) for row in rows)
