"""The durable job queue: leases, supersede, dedup, fairness, reschedule, concurrency.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from cache.queue import SUPERSEDED_KIND, JobQueue
from cache.store import Store
from prwarden.errors import StoreError
from tests.conftest import StoreOpener


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _enqueue(queue: JobQueue, sha: str = "a" * 40, **overrides: Any) -> int:
    kind = overrides.pop("kind", "review")
    fields: dict[str, Any] = {
        "installation_id": 1,
        "repo": "octo/app",
        "pr_number": 7,
        "head_sha": sha,
        "payload": {"action": "opened"},
    }
    fields.update(overrides)
    return queue.enqueue(kind, **fields).job_id


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(store: Store, clock: Clock) -> JobQueue:
    return JobQueue(store, clock=clock)


def test_claim_hands_out_the_job_with_its_payload(queue: JobQueue) -> None:
    job_id = _enqueue(queue, delivery_id="d-1")
    job = queue.claim("w1", 30)
    assert job is not None
    assert (job.id, job.state, job.lease_owner, job.attempts) == (job_id, "running", "w1", 0)
    assert job.payload == {"action": "opened"}
    assert job.delivery_id == "d-1"
    assert queue.claim("w2", 30) is None


def test_queue_survives_reopening_the_store(open_shared_store: StoreOpener, clock: Clock) -> None:
    db = open_shared_store()
    job_id = _enqueue(JobQueue(db, clock=clock))
    db.close()
    job = JobQueue(open_shared_store(), clock=clock).claim("w1", 30)
    assert job is not None and job.id == job_id and job.repo == "octo/app"


def test_expired_lease_is_reclaimed_and_the_old_owner_is_refused(
    queue: JobQueue, clock: Clock
) -> None:
    job_id = _enqueue(queue)
    assert queue.claim("dead", 30) is not None
    clock.now += 29
    assert queue.claim("w2", 30) is None
    clock.now += 2
    job = queue.claim("w2", 30)
    assert job is not None and job.id == job_id and job.attempts == 1
    assert not queue.heartbeat(job_id, "dead", 30)
    with pytest.raises(StoreError, match="not leased to 'dead'"):
        queue.complete(job_id, "dead")
    assert queue.complete(job_id, "w2")
    done = queue.get(job_id)
    assert done is not None and done.state == "done"


def test_heartbeat_keeps_the_lease(queue: JobQueue, clock: Clock) -> None:
    job_id = _enqueue(queue)
    queue.claim("w1", 30)
    clock.now += 25
    assert queue.heartbeat(job_id, "w1", 30)
    clock.now += 25
    assert queue.claim("w2", 30) is None


def test_newer_sha_supersedes_queued_job(queue: JobQueue) -> None:
    old = _enqueue(queue, sha="1" * 40)
    result = queue.enqueue(
        "review", installation_id=1, repo="octo/app", pr_number=7, head_sha="2" * 40, payload={}
    )
    assert result.superseded_running == ()
    assert queue.is_superseded(old)
    job = queue.claim("w1", 30)
    assert job is not None and job.id == result.job_id
    assert queue.claim("w1", 30) is None


def test_newer_sha_reports_running_job_and_ignores_its_completion(queue: JobQueue) -> None:
    old = _enqueue(queue, sha="1" * 40)
    queue.claim("w1", 30)
    result = queue.enqueue(
        "review", installation_id=1, repo="octo/app", pr_number=7, head_sha="2" * 40, payload={}
    )
    assert result.superseded_running == (old,)
    assert not queue.heartbeat(old, "w1", 30)
    assert queue.complete(old, "w1") is False
    assert queue.is_superseded(old)
    other_pr = _enqueue(queue, sha="3" * 40, pr_number=8)
    assert not queue.is_superseded(other_pr) and not queue.is_superseded(result.job_id)


def test_same_sha_while_live_returns_the_existing_job(queue: JobQueue) -> None:
    first = _enqueue(queue)
    assert _enqueue(queue) == first
    queue.claim("w1", 30)
    assert _enqueue(queue) == first
    assert _enqueue(queue, kind="feedback") != first
    queue.complete(first, "w1")
    assert _enqueue(queue) != first
    assert queue.depth()["queued"] == 2


def test_lone_installation_is_not_starved(queue: JobQueue, clock: Clock) -> None:
    for n in range(50):
        _enqueue(queue, installation_id=1, pr_number=n)
        clock.now += 1
    lone = _enqueue(queue, installation_id=2, repo="other/lib", pr_number=1)
    claimed = []
    for _ in range(3):
        job = queue.claim("w", 60, per_installation_limit=2)
        assert job is not None
        claimed.append(job.id)
    assert lone in claimed
    assert claimed.index(lone) == 1, "the installation with no running job goes next"


def test_installations_take_turns_without_a_limit(queue: JobQueue, clock: Clock) -> None:
    for n in range(4):
        _enqueue(queue, installation_id=1, pr_number=n)
        clock.now += 1
    for n in range(2):
        _enqueue(queue, installation_id=2, repo="other/lib", pr_number=n)
        clock.now += 1
    order = []
    while (job := queue.claim("w", 60)) is not None:
        order.append(job.installation_id)
    assert order == [1, 2, 1, 2, 1, 1]


def test_per_installation_limit_holds_back_a_busy_installation(queue: JobQueue) -> None:
    for n in range(3):
        _enqueue(queue, pr_number=n)
    assert queue.claim("w", 60, per_installation_limit=2) is not None
    assert queue.claim("w", 60, per_installation_limit=2) is not None
    assert queue.claim("w", 60, per_installation_limit=2) is None
    assert queue.claim("w", 60) is not None


def test_reschedule_waits_for_not_before(queue: JobQueue, clock: Clock) -> None:
    job_id = _enqueue(queue)
    queue.claim("w1", 30)
    assert queue.reschedule(job_id, "w1", delay=60, error="rate limited")
    clock.now += 59
    assert queue.claim("w1", 30) is None
    assert queue.oldest_wait() is None
    clock.now += 1
    job = queue.claim("w1", 30)
    assert job is not None and job.id == job_id
    assert (job.attempts, job.error) == (1, "rate limited")


def test_release_requeues_without_counting_an_attempt(queue: JobQueue) -> None:
    job_id = _enqueue(queue)
    queue.claim("w1", 30)
    assert queue.release(job_id, "w1")
    job = queue.claim("w2", 30)
    assert job is not None and job.id == job_id and job.attempts == 0


def test_fail_records_the_error(queue: JobQueue) -> None:
    job_id = _enqueue(queue)
    queue.claim("w1", 30)
    queue.fail(job_id, "w1", "GitHubError: 404")
    job = queue.get(job_id)
    assert job is not None and (job.state, job.error) == ("failed", "GitHubError: 404")
    with pytest.raises(StoreError, match="is failed, not running"):
        queue.complete(job_id, "w1")


def test_claim_filters_by_kind(queue: JobQueue) -> None:
    _enqueue(queue, kind="review")
    feedback = _enqueue(queue, kind="feedback")
    job = queue.claim("w1", 30, kinds=["feedback"])
    assert job is not None and job.id == feedback
    assert queue.claim("w1", 30, kinds=["feedback"]) is None
    assert queue.claim("w1", 30, kinds=[]) is None


def test_depth_and_oldest_wait(queue: JobQueue, clock: Clock) -> None:
    assert queue.oldest_wait() is None
    _enqueue(queue, pr_number=1)
    clock.now += 5
    _enqueue(queue, pr_number=2)
    clock.now += 5
    assert queue.oldest_wait() == 10
    queue.claim("w1", 30)
    assert queue.depth() == {"queued": 1, "running": 1, "done": 0, "failed": 0, "superseded": 0}
    assert queue.oldest_wait() == 5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda q: q.complete(999, "w1"), "job 999 does not exist"),
        (lambda q: q.fail(999, "w1", "x"), "job 999 does not exist"),
        (lambda q: q.is_superseded(999), "job 999 does not exist"),
        (lambda q: q.claim("", 30), "owner must be a non-empty string"),
        (lambda q: q.claim("w1", 0), "lease_seconds must be a positive"),
        (lambda q: q.claim("w1", 30, per_installation_limit=0), "per_installation_limit"),
        (lambda q: q.heartbeat(1, "w1", -1), "lease_seconds must be a positive"),
        (lambda q: _enqueue(q, kind=""), "kind must be a non-empty string"),
        (lambda q: _enqueue(q, pr_number=-1), "pr_number must be a non-negative"),
        (lambda q: _enqueue(q, payload={"x": object()}), "job payload cannot be stored as JSON"),
        (lambda q: _enqueue(q, payload=["a"]), "payload must be a dict"),
    ],
)
def test_bad_calls_are_refused_clearly(queue: JobQueue, call: Any, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        call(queue)


def test_bad_reschedule_delay_is_refused(queue: JobQueue) -> None:
    job_id = _enqueue(queue)
    queue.claim("w1", 30)
    with pytest.raises(StoreError, match="delay must be a non-negative"):
        queue.reschedule(job_id, "w1", delay=-1, error="x")
    job = queue.get(job_id)
    assert job is not None and job.state == "running"


@pytest.mark.parametrize("limit", [None, 2])
def test_two_threads_never_claim_the_same_job(
    open_shared_store: StoreOpener, limit: int | None
) -> None:
    seed = JobQueue(open_shared_store())
    for n in range(60):
        _enqueue(seed, installation_id=n % 3, pr_number=n)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def worker(owner: str) -> None:
        store = open_shared_store()  # opened in its thread, as SQLite requires
        queue = JobQueue(store)
        start.wait()
        while (job := queue.claim(owner, 60, per_installation_limit=limit)) is not None:
            claimed[owner].append(job.id)
            if limit is not None:
                queue.complete(job.id, owner)
        store.close()

    threads = [threading.Thread(target=worker, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert len(claimed["a"]) + len(claimed["b"]) == 60
    assert len(set(claimed["a"]) | set(claimed["b"])) == 60


def test_two_commands_on_one_pr_do_not_supersede_each_other(queue: JobQueue) -> None:
    """``/prwarden pause`` then ``/prwarden review`` before a worker claims the first: both run."""
    pause = _enqueue(queue, kind="command", sha="command:1", dedupe_key="command:1")
    review = _enqueue(queue, kind="command", sha="command:2", dedupe_key="command:2")
    assert pause != review and not queue.is_superseded(pause)
    assert _enqueue(queue, kind="command", sha="command:1", dedupe_key="command:1") == pause
    _enqueue(queue, sha="b" * 40)  # a push supersedes reviews, never the commands
    claimed = {queue.claim("w", 30).id for _ in range(3)}  # type: ignore[union-attr]
    assert {pause, review} <= claimed


def test_a_started_job_superseded_leaves_a_job_to_close_its_check_run(
    queue: JobQueue, clock: Clock
) -> None:
    old = _enqueue(queue, sha="1" * 40)
    assert queue.claim("busy", 30) is not None
    _enqueue(queue, sha="2" * 40)
    follow = [j for j in queue.jobs(state="queued") if j.kind == SUPERSEDED_KIND]
    assert [(j.head_sha, j.payload) for j in follow] == [
        ("1" * 40, {"job_id": old, "kind": "review"})
    ]
    assert follow[0].not_before == clock.now + 30, "due when the old worker's lease runs out"
    new = queue.claim("w", 30, kinds=["review"])
    assert new is not None and new.head_sha == "2" * 40
    assert queue.claim("w", 30, kinds=[SUPERSEDED_KIND]) is None
    queue.stopped_superseded(old)  # the old worker saw it lost the job and stopped
    job = queue.claim("w", 30, kinds=[SUPERSEDED_KIND])
    assert job is not None and job.id == follow[0].id


def test_a_job_superseded_before_it_started_leaves_nothing_behind(queue: JobQueue) -> None:
    _enqueue(queue, sha="1" * 40)
    _enqueue(queue, sha="2" * 40)
    assert [j.kind for j in queue.jobs()] == ["review", "review"]
