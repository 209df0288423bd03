"""Model and tool call logs: spend windows for budgets and per-repository statistics."""

from __future__ import annotations

from typing import Any

import pytest
import sqlite_utils

from cache import accounting, runs
from cache.db import open_db
from prwarden.errors import StoreError


def _llm(db: sqlite_utils.Database, **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "purpose": "review",
        "model": "gpt-4o",
        "prompt_version": "review@7",
        "tokens_in": 1000,
        "tokens_out": 200,
        "latency_ms": 850.0,
        "cost": 0.02,
        "installation_id": 1,
        "repo": "octo/a",
        "pr_number": 3,
        "outcome": "ok",
        "at": 100.0,
    }
    fields.update(overrides)
    return accounting.record_llm_call(db, **fields)


def _run(db: sqlite_utils.Database, **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "job_id": None,
        "installation_id": 1,
        "repo": "octo/a",
        "pr_number": 3,
        "head_sha": "abc",
        "diff_hash": "h",
        "mode": "model",
        "outcome": "posted",
        "summary": "",
        "findings": [],
        "injection_hits": [],
        "config_errors": [],
        "posted": 2,
        "held": 1,
        "dropped": 3,
        "tokens_in": 0,
        "tokens_out": 0,
        "cost": 0.0,
        "review_id": 9,
        "shadow": False,
        "at": 100.0,
    }
    fields.update(overrides)
    return runs.record_run(db, **fields)


def _tool(db: sqlite_utils.Database, **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "tool": "search",
        "args": {},
        "duration_ms": 1.0,
        "bytes": 0,
        "error": None,
        "installation_id": None,
        "repo": "",
        "pr_number": None,
    }
    fields.update(overrides)
    return accounting.record_tool_call(db, **fields)


def test_usage_since_counts_only_the_window_and_filters() -> None:
    db = open_db(":memory:")
    _llm(db, at=50.0)
    _llm(db, at=100.0, tokens_in=10, tokens_out=5, cost=0.5)
    _llm(db, at=150.0, repo="octo/b", installation_id=2, pr_number=1, cost=1.0)
    _llm(db, at=160.0, pr_number=4, cost=0.25)
    spend = accounting.usage_since(db, 100.0)
    assert (spend.tokens, spend.calls) == (15 + 1200 + 1200, 3)
    assert spend.cost == pytest.approx(1.75)
    assert accounting.usage_since(db, 100.0, repo="octo/a").cost == pytest.approx(0.75)
    assert accounting.usage_since(db, 0.0, installation_id=2).calls == 1
    per_pr = accounting.usage_since(db, 0.0, repo="octo/a", pr_number=3)
    assert (per_pr.calls, per_pr.tokens) == (2, 1215)
    assert accounting.usage_since(db, 161.0) == accounting.Spend(tokens=0, cost=0.0, calls=0)


def test_stats_sums_per_installation_and_repo() -> None:
    db = open_db(":memory:")
    _run(db)
    _run(db, mode="cached", posted=1, held=0, dropped=0, at=110.0)
    _run(db, mode="cached", at=500.0)
    _run(db, repo="octo/b", installation_id=2, posted=0, held=0, dropped=1)
    _llm(db)
    _llm(db, purpose="triage", model="gpt-4o-mini", tokens_in=300, tokens_out=10, cost=0.001)
    _llm(db, at=120.0)
    _llm(db, repo="octo/c", installation_id=2, model="local", cost=0.0)
    _llm(db, at=500.0)
    table = accounting.stats(db, since=100.0, until=500.0)
    assert [(s.installation_id, s.repo) for s in table] == [
        (1, "octo/a"),
        (2, "octo/b"),
        (2, "octo/c"),
    ]
    a, b, c = table
    assert (a.reviews, a.cache_hits, a.cache_hit_rate) == (2, 1, 0.5)
    assert (a.findings_posted, a.findings_held, a.findings_dropped) == (3, 1, 3)
    assert (a.model_calls, a.tokens_in, a.tokens_out) == (3, 2300, 410)
    assert a.cost == pytest.approx(0.041)
    assert [(m.model, m.calls, m.tokens_in) for m in a.models] == [
        ("gpt-4o", 2, 2000),
        ("gpt-4o-mini", 1, 300),
    ]
    assert a.models[0].cost == pytest.approx(0.04)
    assert (b.reviews, b.model_calls, b.cache_hit_rate, b.findings_dropped) == (1, 0, 0.0, 1)
    assert (c.reviews, c.model_calls, c.models[0].model) == (0, 1, "local")
    assert [s.repo for s in accounting.stats(db, since=0.0, repo="octo/b")] == ["octo/b"]
    assert accounting.stats(db, since=0.0)[0].reviews == 3
    assert accounting.stats(db, since=1000.0) == ()


def test_tool_calls_are_logged_with_their_arguments() -> None:
    db = open_db(":memory:")
    call_id = _tool(db, args={"pattern": "eval\\(", "path": "src"}, bytes=2048, repo="octo/a")
    row = db.conn.execute(
        "SELECT tool, args, bytes, error FROM tool_calls WHERE id = ?", (call_id,)
    )
    assert row.fetchone() == ("search", '{"path":"src","pattern":"eval\\\\("}', 2048, None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tokens_in": -1}, "tokens_in must be a non-negative integer"),
        ({"tokens_out": 1.5}, "tokens_out must be a non-negative integer"),
        ({"cost": float("nan")}, "cost must be a non-negative number"),
        ({"model": ""}, "model must be a non-empty string"),
    ],
)
def test_bad_llm_calls_are_refused(overrides: dict[str, Any], message: str) -> None:
    db = open_db(":memory:")
    with pytest.raises(StoreError, match=message):
        _llm(db, **overrides)
    assert accounting.usage_since(db, 0.0).calls == 0


def test_a_tool_call_the_model_misnamed_is_still_logged() -> None:
    db = open_db(":memory:")
    _tool(db, tool="", error="unknown tool ''")
    row = db.conn.execute("SELECT tool, error FROM tool_calls").fetchone()
    assert row == ("", "unknown tool ''")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"args": {"path": Exception("x")}}, "tool arguments cannot be stored as JSON"),
        ({"tool": None}, "tool must be a string, got NoneType"),
        ({"bytes": -5}, "bytes must be a non-negative integer"),
    ],
)
def test_bad_tool_calls_are_refused(overrides: dict[str, Any], message: str) -> None:
    db = open_db(":memory:")
    with pytest.raises(StoreError, match=message):
        _tool(db, **overrides)
    assert db.conn.execute("SELECT COUNT(*) FROM tool_calls").fetchone() == (0,)
