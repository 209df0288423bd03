"""The store itself: migrations, transactions, deliveries, installations, pauses, review runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cache import deliveries, runs
from cache.db import MIGRATIONS, open_db, schema_version, write_transaction
from prwarden.errors import StoreError


def test_open_db_migrates_once_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "store.db"
    db = open_db(path)
    assert schema_version(db) == len(MIGRATIONS)
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    deliveries.record_delivery(db, "d-1", event="ping", action=None)
    db.close()
    again = open_db(path)
    assert schema_version(again) == len(MIGRATIONS)
    assert not deliveries.record_delivery(again, "d-1", event="ping", action=None)


def test_a_database_from_a_newer_prwarden_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    db = open_db(path)
    db.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this prwarden knows"):
        open_db(path)


def test_write_transaction_rolls_back_on_error() -> None:
    db = open_db(":memory:")
    with pytest.raises(RuntimeError), write_transaction(db) as conn:
        conn.execute("INSERT INTO repo_state VALUES ('o/r', 1, 0, 'x')")
        raise RuntimeError("boom")
    assert not deliveries.is_paused(db, "o/r")
    with write_transaction(db), pytest.raises(RuntimeError), write_transaction(db) as inner:
        inner.execute("INSERT INTO repo_state VALUES ('o/r', 1, 0, 'x')")
        raise RuntimeError("inner")
    assert not db.conn.in_transaction
    assert not deliveries.is_paused(db, "o/r")


def test_schema_enforces_states() -> None:
    db = open_db(":memory:")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        db.conn.execute(
            "INSERT INTO jobs (kind, installation_id, repo, pr_number, head_sha, state,"
            " created_at) VALUES ('review', 1, 'o/r', 1, 'x', 'bogus', 0)"
        )


def test_delivery_is_new_once_and_links_its_job() -> None:
    db = open_db(":memory:")
    assert deliveries.record_delivery(db, "d-1", event="pull_request", action="opened")
    assert not deliveries.record_delivery(db, "d-1", event="pull_request", action="opened")
    deliveries.attach_job(db, "d-1", 42)
    row = db.conn.execute("SELECT job_id FROM deliveries WHERE id = 'd-1'").fetchone()
    assert row == (42,)
    with pytest.raises(StoreError, match="delivery 'nope' was never recorded"):
        deliveries.attach_job(db, "nope", 1)
    with pytest.raises(StoreError, match="delivery_id must be a non-empty string"):
        deliveries.record_delivery(db, " ", event="ping", action=None)


def test_forgotten_delivery_is_new_again() -> None:
    db = open_db(":memory:")
    deliveries.record_delivery(db, "d-1", event="ping", action=None, clock=lambda: 100.0)
    deliveries.record_delivery(db, "d-2", event="ping", action=None, clock=lambda: 200.0)
    assert deliveries.forget_delivery(db, "d-1")
    assert not deliveries.forget_delivery(db, "d-1")
    assert deliveries.record_delivery(db, "d-1", event="ping", action=None, clock=lambda: 300.0)
    assert deliveries.forget_deliveries(db, before=250.0) == 1
    assert deliveries.record_delivery(db, "d-2", event="ping", action=None)


def test_installation_lifecycle() -> None:
    db = open_db(":memory:")
    deliveries.remember_installation(db, 5, "octo", ["octo/b", "octo/a"])
    assert deliveries.is_installed(db, 5)
    assert deliveries.installation_repos(db, 5) == ("octo/a", "octo/b")
    deliveries.add_repos(db, 5, ["octo/c", "octo/a"])
    deliveries.remove_repos(db, 5, ["octo/b", "octo/zzz"])
    assert deliveries.installation_repos(db, 5) == ("octo/a", "octo/c")
    deliveries.remember_installation(db, 5, "octo", ["octo/d"])
    assert deliveries.installation_repos(db, 5) == ("octo/d",)
    deliveries.forget_installation(db, 5)
    assert not deliveries.is_installed(db, 5)
    assert deliveries.installation_repos(db, 5) == ()
    deliveries.remember_installation(db, 5, "octo", [])
    assert deliveries.is_installed(db, 5)


def test_repos_added_to_a_missed_installation_record_it() -> None:
    db = open_db(":memory:")
    assert not deliveries.is_installed(db, 9)
    deliveries.add_repos(db, 9, ["octo/a"])
    assert deliveries.is_installed(db, 9)
    assert deliveries.installation_repos(db, 9) == ("octo/a",)


@pytest.mark.parametrize("repos", ["octo/a", ["noslash"], ["a/b/c"], ["/name"], [""]])
def test_bad_repo_names_are_refused(repos: Any) -> None:
    db = open_db(":memory:")
    with pytest.raises(StoreError, match="repo"):
        deliveries.remember_installation(db, 1, "octo", repos)
    assert not deliveries.is_installed(db, 1)


def test_pause_and_resume() -> None:
    db = open_db(":memory:")
    assert not deliveries.is_paused(db, "octo/a")
    deliveries.set_paused(db, "octo/a", True, "maintainer")
    assert deliveries.is_paused(db, "octo/a")
    assert not deliveries.is_paused(db, "octo/b")
    deliveries.set_paused(db, "octo/a", False, "maintainer")
    assert not deliveries.is_paused(db, "octo/a")
    with pytest.raises(StoreError, match="by must be a non-empty string"):
        deliveries.set_paused(db, "octo/a", True, "")


def _run(db: Any, **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "job_id": 1,
        "installation_id": 5,
        "repo": "octo/a",
        "pr_number": 3,
        "head_sha": "abc",
        "diff_hash": "h1",
        "mode": "model",
        "outcome": "posted",
        "summary": "2 findings",
        "findings": [{"title": "x", "disposition": "post"}],
        "injection_hits": [{"where": "body", "score": 0.9}],
        "config_errors": ["max_comments: expected an integer"],
        "posted": 1,
        "held": 1,
        "dropped": 0,
        "tokens_in": 100,
        "tokens_out": 20,
        "cost": 0.01,
        "review_id": 77,
        "shadow": False,
    }
    fields.update(overrides)
    return runs.record_run(db, **fields)


def test_runs_round_trip_and_last_run() -> None:
    db = open_db(":memory:")
    first = _run(db, at=10.0)
    _run(db, at=20.0, review_id=None, mode="skipped", outcome="skipped", shadow=True)
    _run(db, pr_number=4, at=30.0)
    latest = runs.last_run(db, "octo/a", 3)
    assert latest is not None and latest.mode == "skipped" and latest.shadow
    posted = runs.last_run(db, "octo/a", 3, posted_only=True)
    assert posted is not None and posted.id == first
    assert posted.findings == ({"title": "x", "disposition": "post"},)
    assert posted.config_errors == ("max_comments: expected an integer",)
    assert posted.injection_hits[0]["score"] == 0.9
    assert [r.created_at for r in runs.runs_for(db, "octo/a", 3)] == [10.0, 20.0]
    assert runs.last_run(db, "octo/a", 99) is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mode": "turbo"}, "unknown review mode 'turbo'"),
        ({"posted": -1}, "posted must be a non-negative integer"),
        ({"cost": -0.5}, "cost must not be negative"),
        ({"findings": [{"x": {1, 2}}]}, "findings cannot be stored as JSON"),
    ],
)
def test_bad_runs_are_refused(overrides: dict[str, Any], message: str) -> None:
    db = open_db(":memory:")
    with pytest.raises(StoreError, match=message):
        _run(db, **overrides)
    assert runs.runs_for(db, "octo/a", 3) == ()
