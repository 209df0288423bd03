"""The store seam: what ``review/`` and ``bot/`` see of the database, whichever engine it is.

Two implementations share this contract and the same SQL:

- ``cache.db.SqliteStore`` — one SQLite file (sqlite-utils), the embedded default;
- ``cache.postgres.PostgresStore`` — PostgreSQL (psycopg 3 with a connection pool), for several
  receivers and workers on several machines.

Queries are written once, in the subset both engines agree on: ``?`` or ``:name``
placeholders, ``INSERT ... ON CONFLICT``, ``RETURNING``, ``CASE`` instead of boolean
arithmetic. Where they differ (row locks, advisory locks, notifications), a ``Transaction``
method or a ``Store`` attribute names the difference once.

Rows are addressable by column name and by position, and unpack like tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

Params = Sequence[Any] | dict[str, Any]
Dialect = Literal["sqlite", "postgresql"]
JOBS_CHANNEL = "prwarden_jobs"


class Cursor(Protocol):
    """What a statement returns: rows to fetch, and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any:
        """The result's columns (``description[i][0]`` is a name), as DB-API cursors say."""
        ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Written(Protocol):
    """What a lone write did: rows it changed, and the rows of its ``RETURNING``."""

    @property
    def rowcount(self) -> int: ...

    @property
    def rows(self) -> list[Any]: ...


class Transaction(Protocol):
    """One open write transaction."""

    @property
    def for_update(self) -> str:
        """SQL suffix that locks the rows a ``SELECT`` read (empty where the engine has none)."""
        ...

    @property
    def skip_locked(self) -> str:
        """SQL suffix that locks the rows a ``SELECT`` read, passing over rows others locked."""
        ...

    def execute(self, sql: str, params: Params = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...

    def lock(self, key: str) -> None:
        """Hold ``key`` until the transaction ends: writers of the same key run one at a time.

        On SQLite the whole transaction already holds the database's one write lock.
        """
        ...

    def notify_jobs(self) -> None:
        """Wake idle workers (on commit) because a job became ready."""
        ...


class Store(Protocol):
    """The database behind prwarden: reads, write transactions, and its engine's name."""

    @property
    def dialect(self) -> Dialect: ...

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction; nested inside another it becomes a savepoint of it."""
        ...

    def read(self, sql: str, params: Params = ()) -> list[Any]:
        """Rows of a query (inside an open transaction, it sees that transaction's writes)."""
        ...

    def write(self, sql: str, params: Params = ()) -> Written:
        """Run one statement that stands alone, committed (or part of the open transaction):
        one round trip on PostgreSQL instead of ``BEGIN``, the statement and ``COMMIT``."""
        ...

    def schema_version(self) -> int: ...

    async def listen_jobs(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever another process queues a job (returns at once if none can)."""
        ...

    def migrate(self) -> int:
        """Apply the migrations not yet applied, under a lock; return the version reached."""
        ...

    def close(self) -> None: ...


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL server (``postgresql://`` or ``postgres://``)."""
    return url.startswith(("postgresql://", "postgres://"))


def open_store(database_url: str, db_path: str) -> Store:
    """PostgreSQL when ``database_url`` is set, else the SQLite file at ``db_path``; migrated."""
    if database_url:
        from cache.postgres import PostgresStore

        return PostgresStore.connect(database_url)
    from cache.db import open_db

    return open_db(db_path)
