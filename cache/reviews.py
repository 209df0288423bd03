"""The review cache: a finished review by key (diff hash + models + prompts + config), and
per-file findings by a file's own key, so a re-push of the same change costs nothing.

Every entry belongs to a ``CacheScope``: the installation and repository whose tree the
review read. The scope is part of each row's primary key and every lookup names it, so an
entry computed for one repository is never served to another, whatever its key.

Entries older than ``ttl_seconds`` are misses; past ``max_entries`` the least recently used
entries are evicted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cache.db import (
    Clock,
    fetch_one,
    from_json,
    from_row,
    json_tuple,
    require_text,
    to_json,
    write_transaction,
)
from cache.store import Store, Transaction
from prwarden.errors import StoreError

# The size of the findings column in bytes, in each engine's words.
_BYTES = {"sqlite": "LENGTH(CAST(findings AS BLOB))", "postgresql": "OCTET_LENGTH(findings)"}


@dataclass(frozen=True, slots=True)
class CacheScope:
    """Whose review an entry is: an installation (``0`` for none, as in local reviews) and the
    repository (``owner/name``, or a local workspace) the review read."""

    installation_id: int
    repo: str

    def __post_init__(self) -> None:
        if isinstance(self.installation_id, bool) or not isinstance(self.installation_id, int):
            raise StoreError(f"installation_id must be an integer, got {self.installation_id!r}")
        if self.installation_id < 0:
            raise StoreError(f"installation_id must be >= 0, got {self.installation_id}")
        require_text(self.repo, "cache scope repo")


@dataclass(frozen=True)
class CachedReview:
    """A cached review result with what produced it, and whose it is."""

    installation_id: int
    repo: str
    key: str
    diff_hash: str
    result: dict[str, Any]
    models: tuple[str, ...]
    prompt_versions: tuple[str, ...]
    created_at: float
    last_hit_at: float
    hits: int


@dataclass(frozen=True)
class CacheStats:
    """Size of the cache; ``oldest``/``newest`` are creation times of reviews (or ``None``)."""

    entries: int
    file_entries: int
    bytes: int
    hits: int
    oldest: float | None
    newest: float | None


def _names(values: Sequence[str], what: str) -> list[str]:
    if isinstance(values, str):
        raise StoreError(f"{what} must be a sequence of strings, got the string {values!r}")
    return [require_text(value, what) for value in values]


class ReviewCache:
    """Cached reviews and per-file findings in one store."""

    def __init__(
        self,
        db: Store,
        *,
        clock: Clock = time.time,
        ttl_seconds: float = 30 * 86400,
        max_entries: int = 5000,
        max_file_entries: int = 50_000,
    ) -> None:
        if not ttl_seconds > 0:
            raise StoreError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        if max_entries < 1 or max_file_entries < 1:
            raise StoreError(
                f"max_entries and max_file_entries must be at least 1, got "
                f"{max_entries!r} and {max_file_entries!r}"
            )
        self._db = db
        self._clock = clock
        self._ttl = float(ttl_seconds)
        self._max = {"reviews": max_entries, "file_reviews": max_file_entries}

    def get(self, scope: CacheScope, key: str) -> CachedReview | None:
        """The review ``scope`` cached under ``key`` (counting a hit); ``None`` when absent or
        expired."""
        where = "installation_id = ? AND repo = ? AND key = ?"
        params = (scope.installation_id, scope.repo, key)
        with write_transaction(self._db) as conn:
            now = self._clock()
            cursor = conn.execute(
                f"UPDATE reviews SET hits = hits + 1, last_hit_at = ? WHERE {where}"
                " AND created_at > ?",
                (now, *params, now - self._ttl),
            )
            if cursor.rowcount != 1:
                return None
            row = fetch_one(self._db, f"SELECT * FROM reviews WHERE {where}", params)
        assert row is not None
        return _cached(row)

    def put(
        self,
        scope: CacheScope,
        key: str,
        *,
        diff_hash: str,
        result: dict[str, Any],
        models: Sequence[str],
        prompt_versions: Sequence[str],
    ) -> None:
        """Cache ``result`` under ``key`` (replacing an older entry), then enforce the size cap."""
        require_text(key, "cache key")
        if not isinstance(result, dict):
            raise StoreError(f"result must be a dict, got {type(result).__name__}")
        result_json = to_json(result, "review result")
        models_json = to_json(_names(models, "model"), "models")
        prompts_json = to_json(_names(prompt_versions, "prompt version"), "prompt versions")
        with write_transaction(self._db) as conn:
            now = self._clock()
            conn.execute(
                "INSERT INTO reviews (installation_id, repo, key, diff_hash, result,"
                " models, prompt_versions, created_at, last_hit_at, hits, size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)"
                " ON CONFLICT (installation_id, repo, key) DO UPDATE SET"
                " diff_hash = excluded.diff_hash, result = excluded.result,"
                " models = excluded.models, prompt_versions = excluded.prompt_versions,"
                " created_at = excluded.created_at, last_hit_at = excluded.last_hit_at,"
                " hits = 0, size = excluded.size",
                (
                    scope.installation_id,
                    scope.repo,
                    key,
                    diff_hash,
                    result_json,
                    models_json,
                    prompts_json,
                    now,
                    now,
                    len(result_json.encode()),
                ),
            )
            self._evict(conn, "reviews")

    def get_file(self, scope: CacheScope, key: str) -> list[dict[str, Any]] | None:
        """The findings ``scope`` cached for one file's key, or ``None`` when absent or
        expired."""
        where = "installation_id = ? AND repo = ? AND key = ?"
        params = (scope.installation_id, scope.repo, key)
        with write_transaction(self._db) as conn:
            now = self._clock()
            cursor = conn.execute(
                f"UPDATE file_reviews SET last_hit_at = ? WHERE {where} AND created_at > ?",
                (now, *params, now - self._ttl),
            )
            if cursor.rowcount != 1:
                return None
            row = conn.execute(f"SELECT findings FROM file_reviews WHERE {where}", params)
            findings: list[dict[str, Any]] = from_json(row.fetchone()[0])
        return findings

    def put_file(
        self, scope: CacheScope, key: str, *, path: str, findings: list[dict[str, Any]]
    ) -> None:
        """Cache one file's findings under its key, then enforce the size cap."""
        require_text(key, "cache key")
        require_text(path, "path")
        if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
            raise StoreError("findings must be a list of dicts")
        findings_json = to_json(findings, "file findings")
        with write_transaction(self._db) as conn:
            now = self._clock()
            conn.execute(
                "INSERT INTO file_reviews (installation_id, repo, key, path, findings,"
                " created_at, last_hit_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (installation_id, repo, key) DO UPDATE SET path = excluded.path,"
                " findings = excluded.findings, created_at = excluded.created_at,"
                " last_hit_at = excluded.last_hit_at",
                (scope.installation_id, scope.repo, key, path, findings_json, now, now),
            )
            self._evict(conn, "file_reviews")

    def _evict(self, conn: Transaction, table: str) -> None:
        conn.execute(
            f"DELETE FROM {table} WHERE (installation_id, repo, key) NOT IN"
            f" (SELECT installation_id, repo, key FROM {table}"
            " ORDER BY last_hit_at DESC, created_at DESC LIMIT ?)",
            (self._max[table],),
        )

    def stats(self) -> CacheStats:
        """How many entries, how many bytes, how many hits; oldest and newest review."""
        entries, size, hits, oldest, newest = fetch_one(
            self._db,
            "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(hits), 0),"
            " MIN(created_at), MAX(created_at) FROM reviews",
        )
        file_entries, file_size = fetch_one(
            self._db,
            f"SELECT COUNT(*), COALESCE(SUM({_BYTES[self._db.dialect]}), 0) FROM file_reviews",
        )
        return CacheStats(
            entries=int(entries),
            file_entries=int(file_entries),
            bytes=int(size) + int(file_size),
            hits=int(hits),
            oldest=oldest,
            newest=newest,
        )

    def purge(self, *, older_than: float | None = None) -> int:
        """Delete entries created more than ``older_than`` seconds ago (default: the TTL).

        ``older_than=0`` empties the cache. Returns how many entries (reviews and files)
        were deleted.
        """
        age = self._ttl if older_than is None else older_than
        if isinstance(age, bool) or not isinstance(age, int | float) or age < 0:
            raise StoreError(f"older_than must be a non-negative number of seconds, got {age!r}")
        with write_transaction(self._db) as conn:
            cutoff = self._clock() - age
            deleted = conn.execute("DELETE FROM reviews WHERE created_at <= ?", (cutoff,))
            count = deleted.rowcount
            deleted = conn.execute("DELETE FROM file_reviews WHERE created_at <= ?", (cutoff,))
            return count + deleted.rowcount


def _cached(row: Any) -> CachedReview:
    return from_row(
        CachedReview, row, result=from_json, models=json_tuple, prompt_versions=json_tuple
    )
