"""What the webhook handlers and the workers share inside one running app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from aiohttp import web

from bot.config import Settings
from bot.metrics import Metrics
from cache.queue import JobQueue
from cache.store import Store


@dataclass
class Dispatch:
    """What the webhook handlers did with one delivery."""

    job_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class AppContext:
    settings: Settings
    db: Store
    queue: JobQueue
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], float] = time.time
    shutting_down: bool = False
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_job: Callable[[int], None] = lambda job_id: None
    cpu: Executor | None = None

    def wake_workers(self) -> None:
        self.wakeup.set()


CTX = web.AppKey("ctx", AppContext)
