"""Run the app on a TCP port, protected from clients that connect and then say nothing.

aiohttp closes a connection whose request has not arrived within its keep-alive timeout, so
that timeout is the header timeout here (``Settings.header_timeout``); the webhook handler
bounds the body read itself. What aiohttp has no setting for is the number of open
connections: past the process's file-descriptor limit the server cannot accept at all and
real deliveries time out. ``ConnectionGuard`` wraps aiohttp's protocol factory, keeps at most
``max_connections`` open and, at the cap, drops the oldest connection to make room: a GitHub
delivery is answered in milliseconds, so the oldest connections are the ones that stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
import sys
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web

from bot.config import Settings

log = logging.getLogger("prwarden.serve")

# Descriptors kept free for the store, workspaces, subprocess pipes and outgoing requests.
FD_RESERVE = 128


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return the soft limit now set."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 65536)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def connection_cap(configured: int, fd_limit: int) -> int:
    """The number of connections the server keeps open: what is configured, within the fds."""
    return max(1, min(configured, fd_limit - FD_RESERVE))


class _Guarded(asyncio.Protocol):
    """One connection: aiohttp's protocol, registered with the guard while it is open."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard):
        self.inner = inner
        self.guard = guard
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.guard.admit(self)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionGuard:
    """A protocol factory around aiohttp's that caps open connections, dropping the oldest."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], max_connections: int):
        self.factory = factory
        self.max_connections = max_connections
        self.dropped = 0
        self._open: OrderedDict[_Guarded, None] = OrderedDict()

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self.factory(), self)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def admit(self, conn: _Guarded) -> None:
        while len(self._open) >= self.max_connections:
            oldest, _ = self._open.popitem(last=False)
            self.dropped += 1
            if oldest.transport is not None:
                oldest.transport.abort()
        self._open[conn] = None

    def release(self, conn: _Guarded) -> None:
        self._open.pop(conn, None)


async def serve(app: web.Application, host: str, port: int, settings: Settings) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut down as ``web.run_app`` would."""
    fd_limit = raise_fd_limit()
    cap = connection_cap(settings.max_connections, fd_limit)
    runner = web.AppRunner(
        app, keepalive_timeout=settings.header_timeout, shutdown_timeout=settings.shutdown_grace
    )
    await runner.setup()
    # Everything alive after start-up (modules, compiled rules, the app) stays alive: keep it
    # out of the cyclic collector, whose full passes otherwise scan it all on the event loop.
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server: asyncio.Server | None = None
    try:
        assert runner.server is not None
        guard = ConnectionGuard(runner.server, cap)
        server = await loop.create_server(guard, host, port, backlog=1024, reuse_address=True)
        print(
            f"======== Running on http://{host}:{port} ========"
            f" (at most {cap} connections; Ctrl+C to quit)",
            file=sys.stderr,
        )
        await stop.wait()
    finally:
        if server is not None:
            server.close()
        await runner.cleanup()
