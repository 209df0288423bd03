"""The aiohttp app factory: routes, and the lifecycle of the session, store and workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from bot.auth import bearer_matches
from bot.config import Settings
from bot.console.routes import setup_console
from bot.context import CTX, AppContext
from bot.cpu import CpuPool
from bot.github import GitHubApp
from bot.jobs import JobRunner
from bot.metrics import CONTENT_TYPE, Metrics
from bot.webhook import MAX_BODY, handle_webhook
from bot.worker import WorkerPool
from bot.workspace import Workspaces
from cache.queue import JobQueue
from cache.store import Store, open_store

POOL = web.AppKey("pool", WorkerPool)


def make_app(
    settings: Settings,
    *,
    db: Store | None = None,
    clock: Callable[[], float] = time.time,
    workers: bool = True,
    receive: bool = True,
) -> web.Application:
    """Build the app. Refuses (``ConfigError``) without a webhook secret and App credentials.

    ``receive=False`` leaves out ``POST /webhook`` and the security console (a worker process);
    ``workers=False`` or ``settings.limits.workers == 0`` runs no workers (a receiver).
    """
    settings.check_server(receive=receive)
    database = db if db is not None else open_store(settings.database_url, settings.db_path)
    ctx = AppContext(
        settings=settings,
        db=database,
        queue=JobQueue(database, clock=clock),
        metrics=Metrics(database),
        clock=clock,
    )
    app = web.Application(client_max_size=MAX_BODY)
    app[CTX] = ctx
    pool = WorkerPool(ctx, workers=settings.limits.workers)
    app[POOL] = pool
    if receive:
        app.router.add_post("/webhook", handle_webhook)
        setup_console(app, settings)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            github = GitHubApp(
                session,
                app_id=settings.app_id,
                private_key=settings.private_key,
                base_url=settings.github_api_url,
                clock=clock,
                retry=settings.github_retry,
            )
            workspaces = Workspaces(
                settings.workspace_root,
                max_bytes=settings.tarball_max_bytes,
                cache_bytes=settings.workspace_cache_bytes,
                max_age=settings.workspace_max_age,
                clock=clock,
            )
            await asyncio.to_thread(workspaces.trim)
            runner = JobRunner(ctx, github, workspaces)
            cpu = CpuPool(settings.limits.cpu_workers) if settings.limits.cpu_workers else None
            ctx.cpu = cpu
            listener = None
            if workers and settings.limits.workers > 0:
                pool.start(runner)
                # Jobs queued by other processes wake this one's idle workers at once.
                listener = asyncio.create_task(database.listen_jobs(ctx.wake_workers))
            try:
                yield
            finally:
                ctx.shutting_down = True
                if listener is not None:
                    listener.cancel()
                    await asyncio.gather(listener, return_exceptions=True)
                await pool.stop(settings.shutdown_grace)
                if cpu is not None:
                    cpu.shutdown(wait=False, cancel_futures=True)

    app.cleanup_ctx.append(lifecycle)
    return app


async def healthz(request: web.Request) -> web.Response:
    ctx: AppContext = request.app[CTX]
    depth = ctx.queue.depth()
    status = 503 if ctx.shutting_down else 200
    return web.json_response(
        {"status": "shutting down" if ctx.shutting_down else "ok", "queue": depth}, status=status
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; with ``PRWARDEN_METRICS_TOKEN`` set, only for that bearer token."""
    ctx: AppContext = request.app[CTX]
    token = ctx.settings.metrics_token
    if token and not bearer_matches(request, token):
        return web.json_response(
            {"error": "metrics token required (Authorization: Bearer ...)"},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return web.Response(body=ctx.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
