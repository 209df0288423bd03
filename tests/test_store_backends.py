"""The store contract, on SQLite and on PostgreSQL: the same calls give the same answers.

Deliveries, the review cache, runs, held findings, feedback, the call logs and what they add
up to, shadow signals, budget holds, migrations and metrics, each checked on both backends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from bot.metrics import Metrics
from cache import accounting, deliveries, feedback, runs, shadow
from cache.accounting import Ceiling, admit_spend, release_spend
from cache.db import MIGRATIONS
from cache.held import HeldFilter, HeldFindings
from cache.postgres import PostgresStore, to_psycopg
from cache.queue import JobQueue
from cache.reviews import CacheScope, ReviewCache
from cache.store import Store
from prwarden.errors import StoreError
from testkit.pgcluster import Cluster
from tests.conftest import StoreOpener

NOW = 1_800_000_000.0
SCOPE = CacheScope(1, "o/r")


def _together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same moment; their results in order."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # reported to the test, which asserts on it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_a_delivery_is_new_once_even_when_two_receivers_record_it_together(
    open_shared_store: StoreOpener,
) -> None:
    def receive() -> bool:
        store = open_shared_store()  # each receiver its own handle, opened in its thread
        return deliveries.record_delivery(store, "d-1", event="pull_request", action="opened")

    assert sorted(_together(receive, receive)) == [False, True]
    assert open_shared_store().read("SELECT COUNT(*) FROM deliveries")[0][0] == 1


def test_deliveries_installations_and_pauses(store: Store) -> None:
    assert deliveries.record_delivery(store, "d-1", event="ping", action=None, clock=lambda: NOW)
    assert not deliveries.record_delivery(store, "d-1", event="ping", action=None)
    job = JobQueue(store).enqueue(
        "review", installation_id=1, repo="o/r", pr_number=1, head_sha="a" * 40, payload={}
    )
    deliveries.attach_job(store, "d-1", job.job_id)
    with pytest.raises(StoreError, match="never recorded"):
        deliveries.attach_job(store, "d-2", job.job_id)
    assert deliveries.forget_deliveries(store, before=NOW + 1) == 1
    deliveries.remember_installation(store, 9, "octo", ["octo/a", "octo/b"])
    deliveries.add_repos(store, 9, ["octo/b", "octo/c"])
    deliveries.remove_repos(store, 9, ["octo/a"])
    assert deliveries.installation_repos(store, 9) == ("octo/b", "octo/c")
    assert deliveries.is_installed(store, 9)
    deliveries.forget_installation(store, 9)
    assert not deliveries.is_installed(store, 9)
    deliveries.set_paused(store, "octo/b", True, by="admin")
    assert deliveries.is_paused(store, "octo/b") and not deliveries.is_paused(store, "octo/c")
    deliveries.set_paused(store, "octo/b", False, by="admin")
    assert not deliveries.is_paused(store, "octo/b")


def test_review_cache_hits_expiry_eviction_and_stats(store: Store) -> None:
    now = [NOW]
    cache = ReviewCache(store, clock=lambda: now[0], ttl_seconds=100, max_entries=2)
    for n in range(3):
        cache.put(SCOPE, f"k{n}", diff_hash="h", result={"n": n, "text": "100 %"}, models=["m"],
                  prompt_versions=["p1"])  # fmt: skip
        now[0] += 1
    assert cache.get(SCOPE, "k0") is None, "the least recently used entry was evicted"
    hit = cache.get(SCOPE, "k2")
    assert hit is not None and hit.result == {"n": 2, "text": "100 %"} and hit.hits == 1
    assert hit.models == ("m",) and hit.prompt_versions == ("p1",)
    cache.put_file(SCOPE, "f1", path="a.py", findings=[{"title": "é"}])
    assert cache.get_file(SCOPE, "f1") == [{"title": "é"}]
    stats = cache.stats()
    assert (stats.entries, stats.file_entries, stats.hits) == (2, 1, 1)
    assert stats.bytes > len('[{"title":"é"}]')
    now[0] += 200
    assert cache.get(SCOPE, "k2") is None
    assert cache.get(CacheScope(1, "o/other"), "k1") is None, "scoped to its repository"
    assert cache.purge() == 3


def test_runs_held_findings_and_feedback(store: Store) -> None:
    run_id = runs.record_run(
        store, job_id=None, installation_id=1, repo="o/r", pr_number=3, head_sha="a" * 40,
        diff_hash="d", mode="model", outcome="posted", findings=[{"status": "post"}], posted=1,
        tokens_in=10, tokens_out=5, cost=0.5, review_id=77, shadow=True, at=NOW,
    )  # fmt: skip
    last = runs.last_run(store, "o/r", 3, posted_only=True)
    assert last is not None and last.id == run_id and last.shadow is True
    assert last.findings == ({"status": "post"},) and last.cost == 0.5
    held = HeldFindings(store, clock=lambda: NOW)
    fields = dict(installation_id=1, repo="o/r", pr_number=3, head_sha="a" * 40)
    first = held.hold(**fields, fingerprint="fp", finding={"x": 1}, evidence={})
    assert held.hold(**fields, fingerprint="fp", finding={"x": 2}, evidence={}) == first
    assert held.pending_count("o/r", 3) == 1
    assert held.approve(first, "lead").state == "approved"
    with pytest.raises(StoreError, match="it is approved"):
        held.approve(first, "lead")
    assert held.mark_posted(first, 5).comment_id == 5
    assert [d.action for d in held.history(first)] == ["approve", "post"]
    assert held.history(first)[0].by == "lead"
    other = held.hold(**fields, fingerprint="fp2", finding={"severity": "high"}, evidence={})
    assert [f.id for f in held.query(HeldFilter(state=None, severity="high"))] == [other]
    assert held.counts(HeldFilter(repo="o/r"))["pending"] == 1
    for comment_id, category in ((1, "security"), (2, "security"), (3, "style")):
        feedback.record_posted_comment(
            store, comment_id=comment_id, installation_id=1, repo="o/r", pr_number=3,
            head_sha="a" * 40, path="a.py", line=comment_id, fingerprint=f"fp{comment_id}",
            category=category, severity="high", prompt_version="v1", source="model",
            anchored_code="x = 1", clock=lambda: NOW,
        )  # fmt: skip
    assert feedback.record_feedback(store, comment_id=1, signal="thumbs_up", actor="dev")
    assert not feedback.record_feedback(store, comment_id=1, signal="thumbs_up", actor="dev")
    assert feedback.record_feedback(store, comment_id=1, signal="resolved", actor="prwarden")
    with pytest.raises(StoreError, match="not posted by prwarden"):
        feedback.record_feedback(store, comment_id=99, signal="reply", actor="dev")
    rows = {r.category: r for r in feedback.acceptance(store, repo="o/r")}
    assert (rows["security"].posted, rows["security"].accepted) == (2, 1)
    assert rows["security"].acceptance_rate == 0.5 and rows["style"].accepted == 0


def test_call_logs_add_up_to_spend_and_stats(store: Store) -> None:
    for n, model in enumerate(("gpt-4o", "gpt-4o", "gpt-4o-mini")):
        accounting.record_llm_call(
            store, purpose="review", model=model, prompt_version="v1", tokens_in=100 * (n + 1),
            tokens_out=10, latency_ms=5.0, cost=0.25, installation_id=1, repo="o/r", pr_number=3,
            outcome="ok", at=NOW + n,
        )  # fmt: skip
    accounting.record_tool_call(
        store, tool="search", args={"q": "50 %"}, duration_ms=3.0, bytes=10, error=None,
        installation_id=1, repo="o/r", pr_number=3, at=NOW,
    )  # fmt: skip
    runs.record_run(
        store, job_id=None, installation_id=1, repo="o/r", pr_number=3, head_sha="a" * 40,
        diff_hash="d", mode="cached", outcome="posted", posted=2, at=NOW,
    )  # fmt: skip
    spend = accounting.usage_since(store, NOW + 1, installation_id=1)
    assert (spend.tokens, spend.cost, spend.calls) == (520, 0.5, 2)
    assert isinstance(spend.tokens, int)
    [row] = accounting.stats(store, since=NOW - 1)
    assert (row.reviews, row.cache_hits, row.cache_hit_rate, row.findings_posted) == (1, 1, 1.0, 2)
    assert (row.model_calls, row.tokens_in, row.tokens_out) == (3, 600, 30)
    assert [m.model for m in row.models] == ["gpt-4o", "gpt-4o-mini"]


def test_shadow_signals_once_per_finding(store: Store) -> None:
    run_id = runs.record_run(
        store, job_id=None, installation_id=1, repo="o/r", pr_number=3, head_sha="a" * 40,
        diff_hash="d", mode="model", outcome="shadow", shadow=True,
        findings=[{"status": "post", "fingerprint": "fp1", "path": "a.py", "line": 2}],
    )  # fmt: skip
    [found] = shadow.shadow_findings(store, "o/r", 3)
    assert found.run_id == run_id and found.fingerprint == "fp1"
    kwargs = dict(repo="o/r", pr_number=3, finding=found, head_sha="b" * 40)
    assert shadow.record_would_help(store, **kwargs)  # type: ignore[arg-type]
    assert not shadow.record_would_help(store, **kwargs)  # type: ignore[arg-type]
    [row] = shadow.shadow_stats(store)
    assert (row.shadow_reviews, row.findings_stored, row.would_help) == (1, 1, 1)


def test_metrics_read_the_store(store: Store) -> None:
    accounting.record_tool_call(
        store, tool="search_codebase", args={}, duration_ms=30.0, bytes=1, error="boom",
        installation_id=1, repo="o/r", pr_number=3,
    )  # fmt: skip
    text = Metrics(store).render().decode()
    assert 'prwarden_tool_calls_total{outcome="error",tool="search_codebase"} 1.0' in text
    assert 'prwarden_queue_depth{state="queued"} 0.0' in text


def _running_job(store: Store, pr: int, *, clock: Callable[[], float]) -> int:
    queue = JobQueue(store, clock=clock)
    queue.enqueue(
        "review", installation_id=1, repo="o/r", pr_number=pr, head_sha="a" * 40, payload={}
    )
    job = queue.claim(f"w{pr}", 60)
    assert job is not None
    return job.id


def test_two_workers_racing_for_the_last_of_a_budget_admit_one(
    open_shared_store: StoreOpener,
) -> None:
    """The ceiling is 1,000 tokens and 990 are spent: one review may go, the other waits; once
    the first has logged its spend and let go, the second finds the budget exhausted."""
    seed = open_shared_store()
    clock = lambda: NOW  # noqa: E731
    accounting.record_llm_call(
        seed, purpose="review", model="m", prompt_version="v", tokens_in=990, tokens_out=0,
        latency_ms=1.0, cost=0.0, installation_id=1, repo="o/r", pr_number=1, outcome="ok",
        at=NOW,
    )  # fmt: skip
    jobs = [_running_job(seed, pr, clock=clock) for pr in (2, 3)]
    ceilings = (Ceiling("installation", 1000, 0.0), Ceiling("repository", 0, 0.0))

    def admit(handle: Store, job_id: int) -> str:
        return admit_spend(
            handle, job_id=job_id, installation_id=1, repo="o/r", since=NOW - 10, now=NOW,
            ceilings=ceilings, hold_tokens=500, hold_cost=0.0,
        ).state  # fmt: skip

    # Each worker its own handle, opened in its thread, as in its own process.
    answers = _together(*(lambda j=j: admit(open_shared_store(), j) for j in jobs))
    assert sorted(answers) == ["admitted", "contended"]
    winner, loser = (jobs[0], jobs[1]) if answers[0] == "admitted" else (jobs[1], jobs[0])
    accounting.record_llm_call(
        seed, purpose="review", model="m", prompt_version="v", tokens_in=20, tokens_out=0,
        latency_ms=1.0, cost=0.0, installation_id=1, repo="o/r", pr_number=2, outcome="ok",
        at=NOW,
    )  # fmt: skip
    release_spend(seed, winner)
    assert admit(seed, loser) == "exhausted"


def test_a_dead_workers_hold_lapses_with_its_lease(store: Store) -> None:
    now = [NOW]
    job_id = _running_job(store, 2, clock=lambda: now[0])
    ceilings = (Ceiling("installation", 1000, 0.0), Ceiling("repository", 0, 0.0))
    args: dict[str, Any] = dict(
        installation_id=1, repo="o/r", since=NOW - 10, ceilings=ceilings, hold_tokens=1000,
        hold_cost=0.0,
    )  # fmt: skip
    assert admit_spend(store, job_id=job_id, now=now[0], **args).state == "admitted"
    other = _running_job(store, 3, clock=lambda: now[0])
    assert admit_spend(store, job_id=other, now=now[0], **args).state == "contended"
    now[0] += 61  # the first worker's lease ran out: it is dead, its hold no longer counts
    assert admit_spend(store, job_id=other, now=now[0], **args).state == "admitted"


def test_placeholders_are_rewritten_outside_literals() -> None:
    sql = "SELECT '?', ':x', a::text FROM t WHERE b = ? AND c = :name AND d LIKE '50%'"
    assert to_psycopg(sql) == (
        "SELECT '?', ':x', a::text FROM t WHERE b = %s AND c = %(name)s AND d LIKE '50%%'"
    )


def test_postgres_migrations_run_once_when_processes_start_together(postgres: Cluster) -> None:
    url = postgres.empty_database()
    stores = _together(*(lambda: PostgresStore.connect(url, max_size=2) for _ in range(3)))
    assert all(isinstance(s, PostgresStore) for s in stores), stores
    assert {s.schema_version() for s in stores} == {len(MIGRATIONS)}
    for s in stores:
        s.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE prwarden_schema SET version = version + 1")
    with pytest.raises(StoreError, match="newer than this prwarden knows"):
        PostgresStore.connect(url)


def test_an_unreachable_postgres_is_a_clear_error(postgres: Cluster) -> None:
    url = f"postgresql://prwarden@/postgres?host={postgres.root}/nowhere"
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        PostgresStore.connect(url, timeout=1.0)
