"""The audit log of model and tool calls, and what it adds up to: spend for budgets, and
per-repository statistics for ``prwarden stats``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cache.db import (
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


@dataclass(frozen=True)
class Spend:
    """Model usage in a window: tokens (in + out), cost and number of calls."""

    tokens: int
    cost: float
    calls: int


@dataclass(frozen=True)
class ModelUsage:
    """One model's share of a repository's usage."""

    model: str
    calls: int
    tokens_in: int
    tokens_out: int
    cost: float
    cached_tokens: int = 0


@dataclass(frozen=True)
class RepoStats:
    """Reviews, cache hits, model usage and findings of one repository in a window."""

    installation_id: int | None
    repo: str
    reviews: int
    cache_hits: int
    cache_hit_rate: float
    model_calls: int
    tokens_in: int
    tokens_out: int
    cost: float
    cached_tokens: int
    findings_posted: int
    findings_dropped: int
    findings_held: int
    models: tuple[ModelUsage, ...]


def _count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StoreError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _text(value: str, name: str) -> str:
    if not isinstance(value, str):
        raise StoreError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _amount(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise StoreError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def record_llm_call(
    db: Store,
    *,
    purpose: str,
    model: str,
    prompt_version: str,
    tokens_in: int,
    tokens_out: int,
    latency_ms: float,
    cost: float,
    installation_id: int | None,
    repo: str,
    pr_number: int | None,
    outcome: str,
    at: float | None = None,
    cached_tokens: int = 0,
) -> int:
    """Log one model call; return its id. ``at`` defaults to now.

    ``cached_tokens`` is the part of ``tokens_in`` the provider served from its prompt cache.
    """
    values = (
        time.time() if at is None else at,
        require_text(purpose, "purpose"),
        require_text(model, "model"),
        prompt_version,
        _count(tokens_in, "tokens_in"),
        _count(tokens_out, "tokens_out"),
        _amount(latency_ms, "latency_ms"),
        _amount(cost, "cost"),
        installation_id,
        repo,
        pr_number,
        require_text(outcome, "outcome"),
        _count(cached_tokens, "cached_tokens"),
    )
    if cached_tokens > tokens_in:
        raise StoreError(f"cached_tokens ({cached_tokens}) exceeds tokens_in ({tokens_in})")
    with write_transaction(db) as conn:
        row = conn.execute(
            "INSERT INTO llm_calls (at, purpose, model, prompt_version, tokens_in, tokens_out,"
            " latency_ms, cost, installation_id, repo, pr_number, outcome, cached_tokens)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            values,
        ).fetchone()
    return int(row[0])


def record_tool_call(
    db: Store,
    *,
    tool: str,
    args: dict[str, Any],
    duration_ms: float,
    bytes: int,
    error: str | None,
    installation_id: int | None,
    repo: str,
    pr_number: int | None,
    at: float | None = None,
) -> int:
    """Log one tool call; return its id. ``at`` defaults to now.

    ``tool`` is logged as the model named it, even when that names no tool.
    """
    values = (
        time.time() if at is None else at,
        _text(tool, "tool"),
        to_json(args, "tool arguments"),
        _amount(duration_ms, "duration_ms"),
        _count(bytes, "bytes"),
        error,
        installation_id,
        repo,
        pr_number,
    )
    with write_transaction(db) as conn:
        row = conn.execute(
            "INSERT INTO tool_calls (at, tool, args, duration_ms, bytes, error,"
            " installation_id, repo, pr_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            values,
        ).fetchone()
    return int(row[0])


def usage_since(
    db: Store,
    since: float,
    *,
    repo: str | None = None,
    installation_id: int | None = None,
    pr_number: int | None = None,
) -> Spend:
    """Model usage from ``since`` (inclusive) on, narrowed by any filter given."""
    where = ["at >= :since"]
    params: dict[str, Any] = {"since": since}
    for column, value in (
        ("repo", repo),
        ("installation_id", installation_id),
        ("pr_number", pr_number),
    ):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    tokens, cost, calls = fetch_one(
        db,
        "SELECT COALESCE(SUM(tokens_in + tokens_out), 0), COALESCE(SUM(cost), 0.0), COUNT(*)"
        f" FROM llm_calls WHERE {' AND '.join(where)}",
        params,
    )
    return Spend(tokens=int(tokens), cost=float(cost), calls=int(calls))


def _window(column: str, until: float | None, repo: str | None) -> str:
    clauses = [f"{column} >= :since"]
    if until is not None:
        clauses.append(f"{column} < :until")
    if repo is not None:
        clauses.append("repo = :repo")
    return " AND ".join(clauses)


def stats(
    db: Store,
    *,
    since: float,
    until: float | None = None,
    repo: str | None = None,
) -> tuple[RepoStats, ...]:
    """Per (installation, repository) totals in ``[since, until)``, sorted by repository."""
    params = {"since": since, "until": until, "repo": repo}
    runs = {
        (inst, name): (reviews, cached, posted, dropped, held)
        for inst, name, reviews, cached, posted, dropped, held in db.read(
            "SELECT installation_id, repo, COUNT(*),"
            " SUM(CASE WHEN mode = 'cached' THEN 1 ELSE 0 END), SUM(posted),"
            f" SUM(dropped), SUM(held) FROM review_runs WHERE {_window('created_at', until, repo)}"
            " GROUP BY installation_id, repo",
            params,
        )
    }
    per_model: dict[tuple[int | None, str], list[ModelUsage]] = {}
    for inst, name, model, calls, tokens_in, tokens_out, cost, cached in db.read(
        "SELECT installation_id, repo, model, COUNT(*), SUM(tokens_in), SUM(tokens_out),"
        f" SUM(cost), SUM(cached_tokens) FROM llm_calls WHERE {_window('at', until, repo)}"
        " GROUP BY installation_id, repo, model ORDER BY model",
        params,
    ):
        usage = ModelUsage(
            model, int(calls), int(tokens_in), int(tokens_out), float(cost), int(cached)
        )
        per_model.setdefault((inst, name), []).append(usage)
    result = []
    for inst, name in sorted(runs.keys() | per_model.keys(), key=lambda k: (k[1], k[0] or 0)):
        reviews, cached, posted, dropped, held = runs.get((inst, name), (0, 0, 0, 0, 0))
        models = tuple(per_model.get((inst, name), ()))
        result.append(
            RepoStats(
                installation_id=inst,
                repo=name,
                reviews=int(reviews),
                cache_hits=int(cached),
                cache_hit_rate=int(cached) / int(reviews) if reviews else 0.0,
                model_calls=sum(m.calls for m in models),
                tokens_in=sum(m.tokens_in for m in models),
                tokens_out=sum(m.tokens_out for m in models),
                cost=sum(m.cost for m in models),
                cached_tokens=sum(m.cached_tokens for m in models),
                findings_posted=int(posted),
                findings_dropped=int(dropped),
                findings_held=int(held),
                models=models,
            )
        )
    return tuple(result)


@dataclass(frozen=True)
class Ceiling:
    """A daily ceiling on one scope (``installation`` or ``repository``); 0 means none."""

    scope: str
    tokens: int
    cost: float


@dataclass(frozen=True)
class Admission:
    """Whether a review may spend: ``admitted`` (its hold is recorded), ``exhausted`` (the
    ceiling of ``scope`` is reached), or ``contended`` (only reviews in flight stand between
    the spend and the ceiling: try again when they are done)."""

    state: str
    scope: str = ""
    which: str = ""


def admit_spend(
    db: Store,
    *,
    job_id: int,
    installation_id: int,
    repo: str,
    since: float,
    now: float,
    ceilings: tuple[Ceiling, Ceiling],
    hold_tokens: int,
    hold_cost: float,
) -> Admission:
    """Check the installation's and repository's ceilings and hold this review's worst case,
    in one transaction: two workers cannot both take the last of a budget.

    Holds count while their job runs with a live lease, so a dead worker's hold lapses.
    """
    by_scope: dict[str, tuple[str, Any]] = {
        "installation": ("installation_id", installation_id),
        "repository": ("repo", repo),
    }
    with write_transaction(db) as tx:
        tx.lock(f"budget:installation:{installation_id}")
        tx.lock(f"budget:repository:{repo}")
        for ceiling in ceilings:
            if not (ceiling.tokens or ceiling.cost):
                continue
            column, value = by_scope[ceiling.scope]
            spend = (
                usage_since(db, since, installation_id=installation_id)
                if ceiling.scope == "installation"
                else usage_since(db, since, repo=repo)
            )
            held = fetch_one(
                db,
                "SELECT COALESCE(SUM(h.tokens), 0), COALESCE(SUM(h.cost), 0.0) FROM budget_holds h"
                " JOIN jobs j ON j.id = h.job_id AND j.state = 'running' AND j.lease_until > ?"
                f" WHERE h.{column} = ? AND h.job_id != ?",
                (now, value, job_id),
            )
            for what, limit, spent, holding in (
                ("token", ceiling.tokens, spend.tokens, int(held[0])),
                ("cost", ceiling.cost, spend.cost, float(held[1])),
            ):
                if not limit:
                    continue
                if spent >= limit:
                    return Admission("exhausted", ceiling.scope, what)
                if holding and spent + holding >= limit:
                    return Admission("contended", ceiling.scope, what)
        tx.execute(
            "INSERT INTO budget_holds (job_id, installation_id, repo, tokens, cost, at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
            " tokens = excluded.tokens, cost = excluded.cost, at = excluded.at",
            (job_id, installation_id, repo, hold_tokens, hold_cost, now),
        )
    return Admission("admitted")


def release_spend(db: Store, job_id: int) -> None:
    """Drop a review's hold: its calls are logged, so its real spend counts from now on."""
    with write_transaction(db) as tx:
        tx.execute("DELETE FROM budget_holds WHERE job_id = ?", (job_id,))


@dataclass(frozen=True)
class LoggedToolCall:
    """One tool call from the audit log."""

    at: float
    tool: str
    args: dict[str, Any]
    duration_ms: float
    bytes: int
    error: str | None


@dataclass(frozen=True)
class LoggedModelCall:
    """One model call from the audit log (no prompt text is kept)."""

    at: float
    purpose: str
    model: str
    prompt_version: str
    tokens_in: int
    tokens_out: int
    outcome: str


def calls_on_pr(
    db: Store, repo: str, pr_number: int, *, since: float, until: float
) -> tuple[tuple[LoggedToolCall, ...], tuple[LoggedModelCall, ...]]:
    """The tool and model calls logged for one PR in ``(since, until]``, oldest first."""
    window = "repo = ? AND pr_number = ? AND at > ? AND at <= ?"
    params = (repo, pr_number, since, until)
    tools = fetch_all(
        db,
        "SELECT at, tool, args, duration_ms, bytes, error FROM tool_calls"
        f" WHERE {window} ORDER BY at, id",
        params,
    )
    models = fetch_all(
        db,
        "SELECT at, purpose, model, prompt_version, tokens_in, tokens_out, outcome FROM llm_calls"
        f" WHERE {window} ORDER BY at, id",
        params,
    )
    return (
        tuple(from_row(LoggedToolCall, row, args=from_json) for row in tools),
        tuple(from_row(LoggedModelCall, row) for row in models),
    )
