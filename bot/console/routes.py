"""Mount the console on the app: session cookie, templates, style sheet, headers, routes.

Every console answer carries a Content-Security-Policy with no script source at all and no
``unsafe-inline`` (styles come from ``/static/console.css``), refuses framing, sends no
referrer to other sites, and marks the session cookie ``Secure`` when the request came over
HTTPS (directly or through a proxy that says so in ``X-Forwarded-Proto``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.console import auth, pages

log = logging.getLogger("prwarden.console")

HERE = Path(__file__).parent
COOKIE = "prwarden_session"
CONSOLE_PREFIXES = ("/findings", "/login", "/logout", "/static/")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def content_security_policy() -> str:
    return (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def setup_console(app: web.Application, settings: Settings) -> None:
    console = settings.console
    key = console.session_key
    if not key:
        key = Fernet.generate_key().decode()
        log.info("PRWARDEN_SESSION_KEY is not set: console sessions end when the server stops")
    storage = EncryptedCookieStorage(
        Fernet(key),
        cookie_name=COOKIE,
        max_age=int(console.session_ttl),
        httponly=True,
        samesite="Lax",
    )
    if (console.client_id or console.client_secret or console.security_team) and not console.oauth:
        log.warning(
            "console: sign-in with GitHub is off; it needs PRWARDEN_CLIENT_ID,"
            " PRWARDEN_CLIENT_SECRET and PRWARDEN_SECURITY_TEAM together"
        )
    policy = content_security_policy()

    @web.middleware
    async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path.startswith(CONSOLE_PREFIXES):
            response.headers["Content-Security-Policy"] = policy
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "same-origin"
            response.headers.setdefault("Cache-Control", "no-store")
            morsel = response.cookies.get(COOKIE)
            https = request.secure or request.headers.get("X-Forwarded-Proto") == "https"
            if morsel is not None and https:
                morsel["secure"] = True
        return response

    app.middlewares.append(headers)
    setup_session(app, storage)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("bot.console", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )

    async def http(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[auth.HTTP] = session
            yield

    app.cleanup_ctx.append(http)
    app.router.add_get("/login", auth.get_login)
    app.router.add_post("/login", auth.post_login)
    app.router.add_get("/login/github", auth.start_github)
    app.router.add_get(auth.CALLBACK, auth.github_callback)
    app.router.add_post("/logout", auth.logout)
    app.router.add_get("/findings", pages.list_findings)
    app.router.add_get("/findings/{id}", pages.show_finding)
    app.router.add_post("/findings/{id}/{decision}", pages.decide)
    app.router.add_static("/static/", HERE / "static", append_version=False)
