"""The SQLite store: open a database, bring its schema up to date, run write transactions.

Each migration is a function applied once, in order, to a ``Transaction`` (``cache.store``);
the same migrations build the PostgreSQL schema (``cache.postgres`` translates the column
types). SQLite keeps the number applied in ``user_version``. Add a migration at the end of
``MIGRATIONS``; never edit one that has shipped.

Writes go through ``write_transaction``: ``BEGIN IMMEDIATE`` takes the write lock up front,
so two processes on one file never both read a row as free and both take it.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlite_utils

from cache.store import Cursor, Dialect, Params, Store, Transaction, Written
from prwarden.errors import StoreError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    RowValue = TypeVar("RowValue", bound=DataclassInstance)
else:
    RowValue = TypeVar("RowValue")

Migration = Callable[[Transaction], None]
Clock = Callable[[], float]

_M001_SQL = (
    """CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        action TEXT,
        received_at REAL NOT NULL,
        job_id INTEGER
    )""",
    "CREATE INDEX idx_deliveries_received_at ON deliveries (received_at)",
    """CREATE TABLE installations (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        created_at REAL NOT NULL,
        removed_at REAL
    )""",
    """CREATE TABLE installation_repos (
        installation_id INTEGER NOT NULL,
        repo TEXT NOT NULL,
        added_at REAL NOT NULL,
        PRIMARY KEY (installation_id, repo)
    )""",
    """CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        installation_id INTEGER NOT NULL,
        repo TEXT NOT NULL,
        pr_number INTEGER NOT NULL,
        head_sha TEXT NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'running', 'done', 'failed', 'superseded')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before REAL NOT NULL DEFAULT 0.0,
        lease_owner TEXT,
        lease_until REAL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        error TEXT,
        delivery_id TEXT
    )""",
    "CREATE INDEX idx_jobs_state_not_before ON jobs (state, not_before)",
    "CREATE INDEX idx_jobs_repo_pr_state ON jobs (repo, pr_number, state)",
    "CREATE INDEX idx_jobs_installation_state ON jobs (installation_id, state)",
    """CREATE UNIQUE INDEX idx_jobs_live_unique ON jobs (kind, repo, pr_number, head_sha)
        WHERE state IN ('queued', 'running')""",
    """CREATE TABLE reviews (
        key TEXT PRIMARY KEY,
        diff_hash TEXT NOT NULL,
        result TEXT NOT NULL,
        models TEXT NOT NULL,
        prompt_versions TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_hit_at REAL NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0,
        size INTEGER NOT NULL
    )""",
    "CREATE INDEX idx_reviews_last_hit_at ON reviews (last_hit_at)",
    """CREATE TABLE file_reviews (
        key TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        findings TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_hit_at REAL NOT NULL
    )""",
    "CREATE INDEX idx_file_reviews_last_hit_at ON file_reviews (last_hit_at)",
    """CREATE TABLE review_runs (
        id INTEGER PRIMARY KEY,
        job_id INTEGER,
        installation_id INTEGER,
        repo TEXT NOT NULL,
        pr_number INTEGER,
        head_sha TEXT NOT NULL,
        diff_hash TEXT NOT NULL,
        mode TEXT NOT NULL,
        outcome TEXT NOT NULL,
        summary TEXT NOT NULL,
        findings TEXT NOT NULL,
        injection_hits TEXT NOT NULL,
        config_errors TEXT NOT NULL,
        posted INTEGER NOT NULL,
        held INTEGER NOT NULL,
        dropped INTEGER NOT NULL,
        tokens_in INTEGER NOT NULL,
        tokens_out INTEGER NOT NULL,
        cost REAL NOT NULL,
        review_id INTEGER,
        shadow INTEGER NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX idx_review_runs_repo_pr ON review_runs (repo, pr_number)",
    "CREATE INDEX idx_review_runs_created_at ON review_runs (created_at)",
    """CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        purpose TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        tokens_in INTEGER NOT NULL,
        tokens_out INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        cost REAL NOT NULL,
        installation_id INTEGER,
        repo TEXT NOT NULL,
        pr_number INTEGER,
        outcome TEXT NOT NULL
    )""",
    "CREATE INDEX idx_llm_calls_at ON llm_calls (at)",
    "CREATE INDEX idx_llm_calls_repo_at ON llm_calls (repo, at)",
    "CREATE INDEX idx_llm_calls_installation_at ON llm_calls (installation_id, at)",
    """CREATE TABLE tool_calls (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        tool TEXT NOT NULL,
        args TEXT NOT NULL,
        duration_ms REAL NOT NULL,
        bytes INTEGER NOT NULL,
        error TEXT,
        installation_id INTEGER,
        repo TEXT NOT NULL,
        pr_number INTEGER
    )""",
    "CREATE INDEX idx_tool_calls_repo_at ON tool_calls (repo, at)",
    """CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        installation_id INTEGER NOT NULL,
        repo TEXT NOT NULL,
        pr_number INTEGER NOT NULL,
        head_sha TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        finding TEXT NOT NULL,
        evidence TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'approved', 'rejected', 'posted')),
        decided_by TEXT,
        decided_at REAL,
        reason TEXT,
        comment_id INTEGER,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX idx_findings_state ON findings (state)",
    "CREATE UNIQUE INDEX idx_findings_pr_fingerprint ON findings (repo, pr_number, fingerprint)",
    """CREATE TABLE posted_comments (
        comment_id INTEGER PRIMARY KEY,
        installation_id INTEGER,
        repo TEXT NOT NULL,
        pr_number INTEGER NOT NULL,
        head_sha TEXT NOT NULL,
        path TEXT NOT NULL,
        line INTEGER,
        fingerprint TEXT NOT NULL,
        category TEXT NOT NULL,
        severity TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        source TEXT NOT NULL,
        anchored_code TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX idx_posted_comments_repo_pr ON posted_comments (repo, pr_number)",
    """CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        comment_id INTEGER NOT NULL,
        repo TEXT NOT NULL,
        pr_number INTEGER NOT NULL,
        signal TEXT NOT NULL CHECK (signal IN
            ('thumbs_up', 'thumbs_down', 'resolved', 'fixed', 'reply', 'would_help')),
        actor TEXT NOT NULL,
        at REAL NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE UNIQUE INDEX idx_feedback_unique ON feedback (comment_id, signal, actor)",
    """CREATE TABLE repo_state (
        repo TEXT PRIMARY KEY,
        paused INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    )""",
)


def _m001_core(conn: Transaction) -> None:
    for statement in _M001_SQL:
        conn.execute(statement)


def _m002_shadow_signals(conn: Transaction) -> None:
    conn.execute(
        """CREATE TABLE shadow_signals (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL,
            repo TEXT NOT NULL,
            pr_number INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            category TEXT NOT NULL,
            severity TEXT NOT NULL,
            signal TEXT NOT NULL CHECK (signal IN ('would_help')),
            head_sha TEXT NOT NULL,
            detail TEXT NOT NULL,
            at REAL NOT NULL
        )"""
    )
    conn.execute(
        "CREATE UNIQUE INDEX idx_shadow_signals_unique"
        " ON shadow_signals (repo, pr_number, fingerprint, signal)"
    )


def _m003_model_rejections(conn: Transaction) -> None:
    # Model output that failed validation: the reason of each rejected item, for the audit trail.
    conn.execute("ALTER TABLE review_runs ADD COLUMN model_rejections TEXT NOT NULL DEFAULT '[]'")


def _m004_scoped_review_cache(conn: Transaction) -> None:
    # Cache entries belong to the installation and repository whose tree they were computed
    # from: both are part of the primary key. Entries written before carry no scope, so they
    # cannot be attributed and are dropped (a cache loses nothing it cannot recompute).
    conn.execute("DROP TABLE reviews")
    conn.execute("DROP TABLE file_reviews")
    conn.execute(
        """CREATE TABLE reviews (
            installation_id INTEGER NOT NULL,
            repo TEXT NOT NULL,
            key TEXT NOT NULL,
            diff_hash TEXT NOT NULL,
            result TEXT NOT NULL,
            models TEXT NOT NULL,
            prompt_versions TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_hit_at REAL NOT NULL,
            hits INTEGER NOT NULL DEFAULT 0,
            size INTEGER NOT NULL,
            PRIMARY KEY (installation_id, repo, key)
        )"""
    )
    conn.execute("CREATE INDEX idx_reviews_last_hit_at ON reviews (last_hit_at)")
    conn.execute(
        """CREATE TABLE file_reviews (
            installation_id INTEGER NOT NULL,
            repo TEXT NOT NULL,
            key TEXT NOT NULL,
            path TEXT NOT NULL,
            findings TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_hit_at REAL NOT NULL,
            PRIMARY KEY (installation_id, repo, key)
        )"""
    )
    conn.execute("CREATE INDEX idx_file_reviews_last_hit_at ON file_reviews (last_hit_at)")


def _m005_finding_decisions(conn: Transaction) -> None:
    # Every decision on a held finding, in order: who, when, why, and the text before an edit.
    conn.execute(
        """CREATE TABLE finding_decisions (
            id INTEGER PRIMARY KEY,
            finding_id INTEGER NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('approve', 'approve_edited', 'reject', 'post')),
            "by" TEXT NOT NULL,
            at REAL NOT NULL,
            reason TEXT,
            before TEXT
        )"""
    )
    conn.execute("CREATE INDEX idx_finding_decisions_finding ON finding_decisions (finding_id)")


def _m006_cached_tokens(conn: Transaction) -> None:
    # Prompt tokens the provider served from its prefix cache (billed at the cached rate).
    columns = {d[0] for d in conn.execute("SELECT * FROM llm_calls LIMIT 0").description}
    if "cached_tokens" not in columns:
        conn.execute("ALTER TABLE llm_calls ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0")


def _m007_job_dedupe_keys(conn: Transaction) -> None:
    # Jobs that are not reviews of a head (a slash command, posting one held finding) are
    # deduplicated by a key of their own and never superseded by a newer head.
    conn.execute("ALTER TABLE jobs ADD COLUMN dedupe_key TEXT")
    conn.execute("DROP INDEX idx_jobs_live_unique")
    conn.execute(
        "CREATE UNIQUE INDEX idx_jobs_live_unique ON jobs (kind, repo, pr_number, head_sha)"
        " WHERE dedupe_key IS NULL AND state IN ('queued', 'running')"
    )
    conn.execute(
        "CREATE UNIQUE INDEX idx_jobs_live_dedupe_key ON jobs (dedupe_key)"
        " WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running')"
    )


def _m008_budget_holds(conn: Transaction) -> None:
    # Spend reserved by reviews in flight, so two workers cannot both take the last of a
    # daily budget: a review holds its worst case until its calls are logged.
    conn.execute(
        """CREATE TABLE budget_holds (
            job_id INTEGER PRIMARY KEY,
            installation_id INTEGER NOT NULL,
            repo TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            cost REAL NOT NULL,
            at REAL NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX idx_budget_holds_installation ON budget_holds (installation_id)")
    conn.execute("CREATE INDEX idx_budget_holds_repo ON budget_holds (repo)")


MIGRATIONS: tuple[Migration, ...] = (
    _m001_core,
    _m002_shadow_signals,
    _m003_model_rejections,
    _m004_scoped_review_cache,
    _m005_finding_decisions,
    _m006_cached_tokens,
    _m007_job_dedupe_keys,
    _m008_budget_holds,
)


@dataclasses.dataclass(frozen=True)
class Done:
    """A lone write's result (``cache.store.Written``)."""

    rowcount: int
    rows: list[Any]


class _SqliteTransaction:
    """A ``Transaction`` over the SQLite connection; rows come back as ``sqlite3.Row``."""

    for_update = ""
    skip_locked = ""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self.conn.executemany(sql, rows)

    def lock(self, key: str) -> None:
        """``BEGIN IMMEDIATE`` already holds the database's write lock."""

    def notify_jobs(self) -> None:
        """Workers on SQLite share one process and its wakeup event."""


class SqliteStore(sqlite_utils.Database):
    """The SQLite implementation of ``cache.store.Store``, on a sqlite-utils database."""

    @property
    def dialect(self) -> Dialect:
        return "sqlite"

    def transaction(self) -> AbstractContextManager[Transaction]:
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
        conn = self.conn
        if conn.in_transaction:
            name = f"prwarden_{secrets.token_hex(8)}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield _SqliteTransaction(conn)
            except BaseException:
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            conn.execute(f"RELEASE SAVEPOINT {name}")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteTransaction(conn)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def read(self, sql: str, params: Params = ()) -> list[Any]:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        return list(cursor.execute(sql, params))

    def write(self, sql: str, params: Params = ()) -> Written:
        with self.transaction() as tx:
            cursor = tx.execute(sql, params)
            rows = cursor.fetchall()
            return Done(cursor.rowcount, rows)

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    async def listen_jobs(self, wake: Callable[[], None]) -> None:
        """Nothing to listen to: SQLite's workers share the enqueuing process's wakeup."""

    def migrate(self) -> int:
        """Apply the migrations not yet applied; return the schema version reached.

        The version is read inside the write transaction, so processes opening a new file at
        the same moment apply each migration once.
        """
        with self.transaction() as tx:
            version = self.schema_version()
            check_version(version)
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                migration(tx)
                tx.execute(f"PRAGMA user_version = {number}")
        return len(MIGRATIONS)


def check_version(version: int) -> None:
    """Refuse a store whose schema is newer than this prwarden's migrations."""
    if version > len(MIGRATIONS):
        raise StoreError(
            f"the database is at schema version {version}, newer than this prwarden "
            f"knows ({len(MIGRATIONS)})"
        )


def write_transaction(db: Store) -> AbstractContextManager[Transaction]:
    """Run the block in one write transaction; roll back on error.

    Inside an already open transaction the block becomes a savepoint of it.
    """
    return db.transaction()


def fetch_all(db: Store, sql: str, params: Params = ()) -> list[Any]:
    """Rows of a query, addressable by column name."""
    return db.read(sql, params)


def fetch_one(db: Store, sql: str, params: Params = ()) -> Any:
    """The first row of a query, or ``None``."""
    rows = db.read(sql, params)
    return rows[0] if rows else None


def from_row(cls: type[RowValue], row: Any, **convert: Callable[[Any], Any]) -> RowValue:
    """Build the dataclass ``cls`` from the row's columns of the same names.

    ``convert`` maps a field name to a function applied to its column (JSON decoding,
    ``bool`` for 0/1 flags, ``tuple`` for lists).
    """
    values = {field.name: row[field.name] for field in dataclasses.fields(cls)}
    for name, function in convert.items():
        values[name] = function(values[name])
    return cls(**values)


def json_tuple(text: str) -> tuple[Any, ...]:
    """Decode a JSON list column into a tuple."""
    return tuple(json.loads(text))


def to_json(value: object, what: str) -> str:
    """Encode ``value`` as JSON for a column; ``StoreError`` names ``what`` when it cannot be."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} cannot be stored as JSON: {exc}") from exc


def from_json(text: str | None) -> Any:
    """Decode a JSON column (``None`` stays ``None``)."""
    return None if text is None else json.loads(text)


def require_text(value: str, name: str) -> str:
    """Return ``value`` when it is a non-blank string; otherwise raise ``StoreError``."""
    if not isinstance(value, str) or not value.strip():
        raise StoreError(f"{name} must be a non-empty string, got {value!r}")
    return value


def schema_version(db: Store) -> int:
    """The number of migrations applied to ``db``."""
    return db.schema_version()


def migrate(db: Store) -> int:
    """Apply the migrations not yet applied; return the schema version reached."""
    return db.migrate()


def stored_version(path: str | Path) -> int | None:
    """The schema version of the store at ``path``, read without creating or changing it;
    None when there is no store there."""
    file = Path(path)
    if not file.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the store {path}: {exc}") from None


def open_existing_db(path: str | Path) -> SqliteStore | None:
    """Open the store at ``path`` if there is one (for commands that only read); never create."""
    if str(path) != ":memory:" and not Path(path).is_file():
        return None
    return open_db(path)


def open_db(path: str | Path | None = None) -> SqliteStore:
    """Open (creating if needed) the store at ``path``; ``None`` or ``":memory:"`` for memory."""
    if path is None or str(path) == ":memory:":
        db = SqliteStore(memory=True)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = SqliteStore(str(path))
        db.conn.execute("PRAGMA busy_timeout = 5000")
        db.conn.execute("PRAGMA journal_mode = WAL")
        db.conn.execute("PRAGMA synchronous = NORMAL")
    db.conn.execute("PRAGMA foreign_keys = ON")
    db.migrate()
    return db
