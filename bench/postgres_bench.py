"""The PostgreSQL rows of ``bench/run.py``: several processes on one database.

- webhook acknowledgement p50/p99 at 200/s of a receiver (``prwarden serve --workers 0``) on
  PostgreSQL, the deliveries from ``testkit/loadgen.py`` in its own process;
- reviews per minute with 1, 2 and 4 worker processes (``prwarden worker --concurrency 1``)
  with a fake model that answers every call after 2 s;
- the scale-out run of ``tests/test_scale_out.py`` at full size: 1,000 signed deliveries for
  200 PRs over two receivers and three workers, one of each killed mid-run.

The server is a throwaway cluster from Debian's ``postgresql`` package (``testkit/pgcluster.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from testkit.fakes.github import FakeGitHub
from testkit.fakes.openai import FakeOpenAI, slow
from testkit.fleet import Fleet
from testkit.loadgen import opened_deliveries, percentile, send_all, tiny_pulls
from testkit.pgcluster import INSTALL_HINT, Cluster, binaries
from testkit.reviewer import reviewer
from testkit.serve_process import APP_ID
from testkit.signing import SECRET, WEBHOOKS

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = WEBHOOKS / "payloads" / "pull_request.opened.2.json"
REPO = "Codertocat/Hello-World"
MODEL_SECONDS = 2.0
Loadgen = Callable[[str, float, float, str, str], Awaitable[list[float]]]
Rows = list[tuple[str, str, str]]


async def _ack_rows(cluster: Cluster, tmp: Path, private: str, public: str, loadgen: Loadgen,
                    quick: bool) -> Rows:  # fmt: skip
    async with FakeGitHub.running(app_id=APP_ID, public_key=public) as gh:
        pulls = tiny_pulls(gh, REPO, 20)
        base_sha = gh.repos[REPO].branches["main"]
        heads = ",".join(f"{p.number}:{p.final_sha}" for p in pulls)
        fleet = Fleet(tmp / "pg-ack", cluster.database(), gh.base_url, private)
        receiver = await asyncio.to_thread(fleet.add_receiver)
        try:
            await loadgen(receiver.url, 20, 1.0, heads, base_sha)  # warm-up
            latencies = await loadgen(receiver.url, 200, 1.5 if quick else 3.0, heads, base_sha)
        finally:
            fleet.stop()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return [
        (
            f"PostgreSQL: webhook ack p50 / p99 at 200/s, receiver only ({len(latencies)})",
            f"{p50 * 1000:.1f} / {p99 * 1000:.1f} ms",
            "p99 < 20 ms",
        )
    ]


async def _throughput(cluster: Cluster, tmp: Path, private: str, public: str, processes: int,
                      count: int) -> float:  # fmt: skip
    """Reviews per minute of ``processes`` single-task workers on one PostgreSQL."""
    async with (
        FakeGitHub.running(app_id=APP_ID, public_key=public) as gh,
        FakeOpenAI([slow(MODEL_SECONDS, reviewer())] * (count * 4 + 10)) as model,
    ):
        pulls = tiny_pulls(gh, REPO, count)
        base_sha = gh.repos[REPO].branches["main"]
        fleet = Fleet(
            tmp / f"pg-workers-{processes}",
            cluster.database(),
            gh.base_url,
            private,
            env={
                "OPENAI_BASE_URL": model.base_url,
                "OPENAI_API_KEY": "sk-bench-0123456789",
                "PRWARDEN_REVIEW_MODEL": "gpt-4o",
                "PRWARDEN_TRIAGE_MODEL": "gpt-4o-mini",
                "PRWARDEN_PER_INSTALLATION": str(processes),
                "PRWARDEN_LEASE_SECONDS": "60",
            },
        )
        try:
            receiver = await asyncio.to_thread(fleet.add_receiver)
            await asyncio.gather(
                *(asyncio.to_thread(fleet.add_worker, 1) for _ in range(processes))
            )
            template = json.loads(TEMPLATE.read_text())
            batch = opened_deliveries(template, pulls, base_sha, SECRET)
            started = time.perf_counter()
            acks = await send_all(receiver.url + "/webhook", batch)
            if any(a.status != 202 for a in acks):
                raise SystemExit(f"deliveries refused: {[a.status for a in acks]}")
            deadline = started + 60 + count * MODEL_SECONDS * 4 / processes
            finals = {p.final_sha for p in pulls}
            while True:
                done = {
                    r["head_sha"]
                    for r in gh.check_runs.values()
                    if r["status"] == "completed" and r["head_sha"] in finals
                }
                if len(done) == count:
                    break
                if time.perf_counter() > deadline:
                    raise SystemExit(f"only {len(done)} of {count} reviews finished")
                await asyncio.sleep(0.05)
            wall = time.perf_counter() - started
        finally:
            fleet.stop()
        reviews = sum(len(gh.reviews_on(REPO, p.number)) for p in pulls)
        if reviews != count or model.problems or model.rejected:
            raise SystemExit(f"{reviews} reviews for {count} PRs; model: {model.problems[:2]}")
    return count / wall * 60


def _scale_out(prs: int) -> tuple[bool, float]:
    """Run the scale-out test at ``prs`` PRs (five deliveries each); passed, and its seconds."""
    env = {**os.environ, "PRWARDEN_SCALE_PRS": str(prs)}
    test = (
        "tests/test_scale_out.py"
        "::test_receivers_and_workers_on_postgres_lose_nothing_and_do_nothing_twice"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=1800,
    )
    return done.returncode == 0, time.perf_counter() - started


async def postgres_rows(
    tmp: Path, private: str, public: str, quick: bool, loadgen: Loadgen
) -> Rows:
    bin_dir = binaries()
    if bin_dir is None:
        return [("PostgreSQL rows", f"not run: PostgreSQL is not installed ({INSTALL_HINT})", "")]
    cluster = Cluster(bin_dir)
    cluster.start()
    try:
        rows = await _ack_rows(cluster, tmp, private, public, loadgen, quick)
        per_process = 2 if quick else 6
        for processes in (1, 2, 4):
            rate = await _throughput(
                cluster, tmp, private, public, processes, per_process * processes
            )
            rows.append(
                (
                    f"PostgreSQL: {processes} worker process(es), model 2 s/call"
                    f" ({per_process * processes} PRs)",
                    f"{rate:.1f} reviews/min",
                    "",
                )
            )
    finally:
        cluster.stop()
    prs = 40 if quick else 200
    passed, seconds = await asyncio.to_thread(_scale_out, prs)
    rows.append(
        (
            f"PostgreSQL scale-out: {prs * 5} deliveries, {prs} PRs, 2 receivers + 3 workers,"
            " 1 of each killed",
            f"{'passed' if passed else 'FAILED'} in {seconds:.0f} s",
            "one review per head, every check run completed",
        )
    )
    return rows
