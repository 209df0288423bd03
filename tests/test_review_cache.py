"""The review cache: hits, expiry, LRU eviction, purge, per-file findings, stats."""

from __future__ import annotations

from pathlib import Path

import pytest

from cache.db import open_db
from cache.reviews import CacheScope, ReviewCache
from prwarden.errors import StoreError

DAY = 86400.0
HERE = CacheScope(1, "octo/shop")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _put(cache: ReviewCache, key: str, result: dict[str, object] | None = None) -> None:
    cache.put(
        HERE,
        key,
        diff_hash=f"diff-{key}",
        result=result if result is not None else {"findings": [], "key": key},
        models=["gpt-4o-mini", "gpt-4o"],
        prompt_versions=["triage@3", "review@7"],
    )


def test_put_then_get_counts_hits(clock: Clock) -> None:
    cache = ReviewCache(open_db(":memory:"), clock=clock)
    assert cache.get(HERE, "k1") is None
    _put(cache, "k1", {"findings": [{"title": "SQL injection", "line": 4}]})
    clock.now += 10
    hit = cache.get(HERE, "k1")
    assert hit is not None
    assert hit.result == {"findings": [{"title": "SQL injection", "line": 4}]}
    assert hit.models == ("gpt-4o-mini", "gpt-4o")
    assert hit.prompt_versions == ("triage@3", "review@7")
    assert (hit.diff_hash, hit.hits, hit.last_hit_at) == ("diff-k1", 1, clock.now)
    again = cache.get(HERE, "k1")
    assert again is not None and again.hits == 2


def test_cache_persists_in_a_file(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "store.db"
    db = open_db(path)
    _put(ReviewCache(db, clock=clock), "k1")
    db.close()
    assert ReviewCache(open_db(path), clock=clock).get(HERE, "k1") is not None


def test_expired_entries_are_misses(clock: Clock) -> None:
    cache = ReviewCache(open_db(":memory:"), clock=clock, ttl_seconds=DAY)
    _put(cache, "k1")
    clock.now += DAY - 1
    assert cache.get(HERE, "k1") is not None
    clock.now += 1
    assert cache.get(HERE, "k1") is None
    _put(cache, "k1")
    assert cache.get(HERE, "k1") is not None


def test_least_recently_hit_entry_is_evicted(clock: Clock) -> None:
    cache = ReviewCache(open_db(":memory:"), clock=clock, max_entries=3)
    for key in ("a", "b", "c"):
        _put(cache, key)
        clock.now += 1
    assert cache.get(HERE, "a") is not None
    clock.now += 1
    _put(cache, "d")
    assert cache.get(HERE, "b") is None
    assert all(cache.get(HERE, key) is not None for key in ("a", "c", "d"))
    assert cache.stats().entries == 3


def test_file_findings_round_trip_and_expire(clock: Clock) -> None:
    cache = ReviewCache(open_db(":memory:"), clock=clock, ttl_seconds=DAY, max_file_entries=2)
    findings = [{"path": "app.py", "line": 3, "title": "unused import"}]
    cache.put_file(HERE, "f1", path="app.py", findings=findings)
    assert cache.get_file(HERE, "f1") == findings
    assert cache.get_file(HERE, "missing") is None
    clock.now += 1
    cache.put_file(HERE, "f2", path="b.py", findings=[])
    clock.now += 1
    cache.put_file(HERE, "f3", path="c.py", findings=[])
    assert cache.get_file(HERE, "f1") is None
    assert cache.get_file(HERE, "f2") == []
    clock.now += DAY
    assert cache.get_file(HERE, "f3") is None


def test_stats_and_purge(clock: Clock) -> None:
    cache = ReviewCache(open_db(":memory:"), clock=clock, ttl_seconds=10 * DAY)
    assert cache.stats().oldest is None
    first = clock.now
    _put(cache, "old")
    clock.now += 5 * DAY
    _put(cache, "new")
    cache.put_file(HERE, "f1", path="a.py", findings=[{"t": "é"}])
    cache.get(HERE, "new")
    cache.get(HERE, "new")
    stats = cache.stats()
    assert (stats.entries, stats.file_entries, stats.hits) == (2, 1, 2)
    assert (stats.oldest, stats.newest) == (first, clock.now)
    result_bytes = 2 * len('{"findings":[],"key":"xxx"}')
    assert stats.bytes == result_bytes + len('[{"t":"\\u00e9"}]')
    assert cache.purge() == 0
    assert cache.purge(older_than=DAY) == 1
    assert cache.get(HERE, "old") is None and cache.get(HERE, "new") is not None
    assert cache.purge(older_than=0) == 2
    assert cache.stats().entries == cache.stats().file_entries == 0


def test_undecodable_text_from_a_diff_round_trips(clock: Clock) -> None:
    cache = ReviewCache(open_db(":memory:"), clock=clock)
    text = b"caf\xe9 \xff".decode("utf-8", errors="surrogateescape")
    _put(cache, "k1", {"snippet": text})
    hit = cache.get(HERE, "k1")
    assert hit is not None and hit.result == {"snippet": text}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: _put(c, ""), "cache key must be a non-empty string"),
        (lambda c: _put(c, "k", {"x": float("nan")}), "review result cannot be stored as JSON"),
        (
            lambda c: c.put(
                HERE, "k", diff_hash="h", result={}, models="gpt-4o", prompt_versions=[]
            ),
            "model must be a sequence of strings",
        ),
        (lambda c: c.put_file(HERE, "k", path="a.py", findings=["no"]), "list of dicts"),
        (lambda c: c.purge(older_than=-1), "older_than must be a non-negative"),
    ],
)
def test_bad_input_is_refused(call: object, message: str) -> None:
    cache = ReviewCache(open_db(":memory:"))
    with pytest.raises(StoreError, match=message):
        call(cache)  # type: ignore[operator]
    assert cache.stats().entries == 0


def test_an_entry_is_served_only_to_the_scope_that_wrote_it(clock: Clock) -> None:
    cache = ReviewCache(open_db(":memory:"), clock=clock)
    _put(cache, "same-key")
    cache.put_file(HERE, "file-key", path="app.py", findings=[{"title": "from octo/shop"}])
    for other in (CacheScope(2, "octo/shop"), CacheScope(1, "octo/other"), CacheScope(0, "x")):
        assert cache.get(other, "same-key") is None
        assert cache.get_file(other, "file-key") is None
    hit = cache.get(HERE, "same-key")
    assert hit is not None and (hit.installation_id, hit.repo) == (1, "octo/shop")
    # Another scope writing the same key gets its own entry; neither overwrites the other.
    other = CacheScope(2, "evil/fork")
    cache.put(other, "same-key", diff_hash="d", result={"mine": 1}, models=[], prompt_versions=[])
    theirs, ours = cache.get(other, "same-key"), cache.get(HERE, "same-key")
    assert theirs is not None and theirs.result == {"mine": 1}
    assert ours is not None and ours.result["key"] == "same-key"


@pytest.mark.parametrize(
    ("installation", "repo", "message"),
    [(-1, "o/r", "installation_id must be >= 0"), (1, " ", "repo"), (True, "o/r", "integer")],
)
def test_a_scope_must_name_its_repository(installation: int, repo: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        CacheScope(installation, repo)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(StoreError, match="ttl_seconds must be positive"):
        ReviewCache(open_db(":memory:"), ttl_seconds=0)
    with pytest.raises(StoreError, match="max_entries"):
        ReviewCache(open_db(":memory:"), max_entries=0)
