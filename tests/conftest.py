"""Shared fixtures for GitHub-facing tests: the App's key pair, the corpora, a fake GitHub."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import sqlite_utils

import corpora as corpus_data
from cache.db import open_db
from cache.store import Store, open_store
from testkit.fakes.github import FakeGitHub
from testkit.fakes.openai import FakeOpenAI
from testkit.pgcluster import INSTALL_HINT, Cluster, binaries
from testkit.signing import generate_key_pair

APP_ID = "424242"


@pytest.fixture(scope="session")
def app_key_pair() -> tuple[str, str]:
    """A fresh RSA key for the test App: (private PEM, public PEM)."""
    return generate_key_pair()


@pytest.fixture(scope="session")
def app_private_key(app_key_pair: tuple[str, str]) -> str:
    return app_key_pair[0]


@pytest.fixture(scope="session")
def corpora() -> Path:
    return corpus_data.ROOT


@pytest.fixture
async def fake_github(app_key_pair: tuple[str, str]) -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub.running(app_id=APP_ID, public_key=app_key_pair[1]) as gh:
        yield gh


@pytest.fixture
def db() -> sqlite_utils.Database:
    """A fresh in-memory store with the current schema."""
    return open_db(":memory:")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A PostgreSQL server for the session; skipped (said plainly) where none is installed.

    CI sets ``CI=true``: there a missing PostgreSQL fails the run instead of skipping.
    """
    bin_dir = binaries()
    if bin_dir is None:
        reason = f"PostgreSQL is not installed ({INSTALL_HINT}): PostgreSQL store tests skipped"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise RuntimeError(f"CI must run the PostgreSQL tests, but {reason}")
        pytest.skip(reason)
    cluster = Cluster(bin_dir)
    cluster.start()
    yield cluster
    cluster.stop()


StoreOpener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    """Opens handles on one fresh store (an SQLite file, or a PostgreSQL database), each
    as another process would; every handle is closed after the test."""
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").database()
    opened: list[Store] = []

    def opener() -> Store:
        store = open_store(url, str(tmp_path / "store.db"))
        opened.append(store)
        return store

    yield opener
    for store in opened:
        # A handle a thread opened was closed by that thread (SQLite refuses others).
        with contextlib.suppress(sqlite3.ProgrammingError):
            store.close()


@pytest.fixture
def store(open_shared_store: StoreOpener) -> Store:
    """A fresh store on each backend."""
    return open_shared_store()


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    """The fake OpenAI-compatible server, empty; tests script its turns."""
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``setup_logging`` (and ``cli.main``) replace prwarden's handlers; put them back."""
    logger = logging.getLogger("prwarden")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]
