"""``prwarden db migrate-from-sqlite``: a store written by a released prwarden moves to
PostgreSQL with every row, and its cached review is still a hit there."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from cache.db import MIGRATIONS
from cache.postgres import PostgresStore
from testkit.fakes.github import FakeGitHub
from testkit.fakes.openai import FakeOpenAI
from testkit.pgcluster import Cluster
from testkit.reviewer import model_settings, script_reviewer
from tests.reviewing import FINDING, another_pull, idle, llm_calls, runs, serve
from tests.scenario import pull_scenario, wait_for

RELEASED = Path(__file__).parent / "data" / "release_store" / "store-d8a4755.db"


def _rows(conn: sqlite3.Connection | PostgresStore, table: str, columns: list[str]) -> list[Any]:
    sql = f"SELECT {', '.join(columns)} FROM {table}"
    rows = conn.execute(sql).fetchall() if isinstance(conn, sqlite3.Connection) else conn.read(sql)
    return sorted((tuple(row) for row in rows), key=repr)


def _migrate(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> int:
    monkeypatch.setenv("PRWARDEN_DATABASE_URL", url)
    return main(["db", "migrate-from-sqlite", *args])


@pytest.fixture
def released(tmp_path: Path) -> Path:
    """A copy of the released store (the command must not need to write it)."""
    path = tmp_path / "prwarden.db"
    shutil.copyfile(RELEASED, path)
    path.chmod(0o444)
    return path


def test_every_row_arrives_and_a_second_run_changes_nothing(
    postgres: Cluster,
    released: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    url = postgres.empty_database()
    assert _migrate(monkeypatch, url, str(released)) == 0
    out = capsys.readouterr().out
    source = sqlite3.connect(f"file:{released}?mode=ro", uri=True)
    tables = [
        name
        for (name,) in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith("sqlite_")
    ]
    assert {"jobs", "reviews", "llm_calls", "findings", "feedback", "shadow_signals"} <= set(tables)
    target = PostgresStore.connect(url)
    for table in tables:
        columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
        expected = _rows(source, table, columns)
        assert expected, f"the released store has rows in {table}"
        assert _rows(target, table, columns) == expected, table
        assert f"{table} " in out
    assert _migrate(monkeypatch, url, str(released)) == 0
    assert _rows(target, "llm_calls", ["id"]) == _rows(source, "llm_calls", ["id"])
    # New rows get ids past the copied ones.
    with target.transaction() as tx:
        new = tx.execute(
            "INSERT INTO review_runs (repo, head_sha, diff_hash, mode, outcome, summary,"
            " findings, injection_hits, config_errors, posted, held, dropped, tokens_in,"
            " tokens_out, cost, shadow, created_at) VALUES ('o/r', 'a', 'd', 'model', 'ok', '',"
            " '[]', '[]', '[]', 0, 0, 0, 0, 0, 0.0, 0, 0.0) RETURNING id"
        ).fetchone()[0]
    assert new > max(row[0] for row in _rows(source, "review_runs", ["id"]))
    target.close()


async def test_a_cached_review_is_a_hit_after_the_move(
    postgres: Cluster,
    monkeypatch: pytest.MonkeyPatch,
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
    restore_logging: None,
) -> None:
    """A PR reviewed on SQLite; after the move a PR with the same change is served from the
    cache on PostgreSQL. (The released store's entry was written under an older prompt
    version, so it is a miss for this code: the review is written here, by this code.)"""
    script_reviewer(fake, [FINDING])
    review = model_settings(fake)
    before = await serve(aiohttp_client, fake_github, app_private_key, tmp_path, review=review)
    first = pull_scenario(fake_github)
    body, headers = first.delivery()
    assert (await before.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(before) and len(first.reviews) == 1)
    assert llm_calls(before) > 0 and runs(before)[-1]["mode"] == "model"
    await before.close()

    url = postgres.empty_database()
    assert _migrate(monkeypatch, url, str(tmp_path / "prwarden.db")) == 0
    store = PostgresStore.connect(url)
    after = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path / "pg", review=review, db=store
    )
    calls = llm_calls(after)
    s = another_pull(first, 3)
    body, headers = s.delivery()
    assert (await after.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(after) and len(s.reviews) == 1)
    assert llm_calls(after) == calls, "no model call: the review came from the cache"
    assert runs(after)[-1]["mode"] == "cached"
    assert any(FINDING["title"] in c["body"] for c in s.comments)
    assert fake_github.invalid_requests == []
    store.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "absent.db", "no SQLite store at"),
        (lambda tmp: _write(tmp / "junk.db", b"not a database" * 100), "is not an SQLite store"),
    ],
    ids=["missing", "not-sqlite"],
)
def test_a_bad_file_is_refused_clearly(
    postgres: Cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
    make: Any,
    message: str,
) -> None:
    url = postgres.empty_database()
    assert _migrate(monkeypatch, url, str(make(tmp_path))) == 2
    assert message in capsys.readouterr().err
    target = PostgresStore.connect(url)
    assert target.read("SELECT COUNT(*) FROM jobs")[0][0] == 0
    target.close()


def test_without_a_database_url_it_says_what_to_set(
    released: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    monkeypatch.delenv("PRWARDEN_DATABASE_URL", raising=False)
    assert main(["db", "migrate-from-sqlite", str(released)]) == 2
    assert "set PRWARDEN_DATABASE_URL" in capsys.readouterr().err


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_db_upgrade_brings_a_store_to_the_current_schema(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    monkeypatch.delenv("PRWARDEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("PRWARDEN_DB", str(tmp_path / "old.db"))
    if backend == "sqlite":
        shutil.copyfile(RELEASED, tmp_path / "old.db")
    else:
        monkeypatch.setenv(
            "PRWARDEN_DATABASE_URL", request.getfixturevalue("postgres").empty_database()
        )
    assert main(["db", "upgrade"]) == 0
    assert f"{backend} store at schema version {len(MIGRATIONS)}" in capsys.readouterr().out
