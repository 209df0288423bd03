"""Workers: claim jobs from the durable queue with a lease and run them in the background.

A worker keeps its lease alive with heartbeats while the job runs; a job whose worker died is
claimed again once its lease runs out. A superseded job is cancelled. On shutdown the pool stops
claiming, lets running jobs finish for a grace period, then cancels the rest and puts them back
in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.context import AppContext
from cache.queue import Job

if TYPE_CHECKING:
    from bot.jobs import JobOutcome

log = logging.getLogger("prwarden.worker")

Runner = Callable[[Job], Awaitable["JobOutcome"]]


class WorkerPool:
    def __init__(self, ctx: AppContext, *, workers: int, poll: float = 0.5):
        self.ctx = ctx
        self.runner: Runner | None = None
        self.workers = max(1, workers)
        self.poll = poll
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._loops: list[asyncio.Task[None]] = []
        self._running: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        ctx.cancel_job = self.cancel

    def start(self, runner: Runner) -> None:
        self.runner = runner
        self._loops = [
            asyncio.create_task(self._loop(i), name=f"prwarden-worker-{i}")
            for i in range(self.workers)
        ]

    def cancel(self, job_id: int) -> None:
        task = self._running.get(job_id)
        if task is not None:
            log.info("cancelling superseded job", extra={"job_id": job_id})
            task.cancel()

    @property
    def running(self) -> tuple[int, ...]:
        return tuple(self._running)

    async def _loop(self, index: int) -> None:
        ctx = self.ctx
        limit = ctx.settings.limits.per_installation or None
        while not self._stopping:
            job = ctx.queue.claim(
                self.owner, ctx.settings.lease_seconds, per_installation_limit=limit
            )
            if job is None:
                ctx.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ctx.wakeup.wait(), timeout=self.poll)
                continue
            ctx.metrics.queue_wait.observe(max(0.0, ctx.clock() - job.created_at))
            await self._run(job)
            ctx.wake_workers()

    async def _run(self, job: Job) -> None:
        ctx = self.ctx
        task = asyncio.create_task(self._apply(job), name=f"prwarden-job-{job.id}")
        self._running[job.id] = task
        beat = asyncio.create_task(self._heartbeat(job, task))
        try:
            await task
        except asyncio.CancelledError:
            if self._stopping:
                ctx.queue.release(job.id, self.owner)
            elif ctx.queue.is_superseded(job.id):
                log.info("job superseded", extra={"job_id": job.id})
                ctx.queue.stopped_superseded(job.id)
            else:
                raise
        except Exception as exc:  # the job runner's last edge: never lose the worker
            log.exception("job crashed", extra={"job_id": job.id})
            ctx.queue.fail(job.id, self.owner, f"{type(exc).__name__}: {exc}")
        finally:
            beat.cancel()
            self._running.pop(job.id, None)

    async def _apply(self, job: Job) -> None:
        assert self.runner is not None
        outcome = await self.runner(job)
        queue = self.ctx.queue
        if queue.is_superseded(job.id):
            queue.stopped_superseded(job.id)
            return
        if outcome.state == "done":
            queue.complete(job.id, self.owner)
        elif outcome.state == "retry":
            queue.reschedule(job.id, self.owner, delay=outcome.delay, error=outcome.reason)
        else:
            queue.fail(job.id, self.owner, outcome.reason)

    async def _heartbeat(self, job: Job, task: asyncio.Task[None]) -> None:
        interval = max(self.ctx.settings.lease_seconds / 3, 0.05)
        while not task.done():
            await asyncio.sleep(interval)
            if not self.ctx.queue.heartbeat(job.id, self.owner, self.ctx.settings.lease_seconds):
                task.cancel()
                return

    async def stop(self, grace: float) -> None:
        """Stop claiming; give running jobs ``grace`` seconds; requeue the rest."""
        self._stopping = True
        self.ctx.wake_workers()
        running = list(self._running.values())
        if running:
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, *running, return_exceptions=True)
