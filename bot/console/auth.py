"""Who is at the console: the session cookie, the two ways to sign in, and the checks on a POST.

A person signs in with GitHub (the OAuth web flow of the App's own client, allowed only for
active members of ``PRWARDEN_SECURITY_TEAM``, checked at every sign-in) or with the operator's
admin token (``POST /login``, field ``token``). The session (aiohttp-session's encrypted
cookie, keyed by ``PRWARDEN_SESSION_KEY``) holds who signed in, when, and the CSRF token every
form carries; it expires ``PRWARDEN_SESSION_TTL`` seconds after sign-in by the app's clock.
The JSON API keeps taking ``Authorization: Bearer <admin token>`` and no cookie.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass

import aiohttp
import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import Session, get_session, new_session
from yarl import URL

from bot import oauth
from bot.auth import bearer_matches
from bot.context import CTX, AppContext
from bot.github import GitHubClient, StaticToken
from prwarden.errors import GitHubError

log = logging.getLogger("prwarden.console")

HTTP = web.AppKey("console_http", aiohttp.ClientSession)
ADMIN = "admin token"
WHO = "who"
SIGNED_IN_AT = "signed_in_at"
CSRF = "csrf"
STATE = "oauth_state"
CSRF_FIELD = "csrf_token"
CALLBACK = "/login/github/callback"
EXPIRED = web.RequestKey("prwarden_session_expired", bool)


@dataclass(frozen=True)
class Person:
    """Who is deciding: a GitHub login, or ``"admin token"``."""

    who: str
    csrf: str


def bearer_ok(request: web.Request) -> bool | None:
    """``None`` without a Bearer header; else whether it carries the admin token."""
    if "Authorization" not in request.headers:
        return None
    return bearer_matches(request, request.app[CTX].settings.admin_token)


def csrf_token(session: Session) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF] = token
    return token


async def current(request: web.Request) -> Person | None:
    """The signed-in person, or ``None`` (no session, or one that has expired)."""
    ctx: AppContext = request.app[CTX]
    session = await get_session(request)
    who = session.get(WHO)
    at = session.get(SIGNED_IN_AT)
    if not isinstance(who, str) or not isinstance(at, int | float):
        return None
    if ctx.clock() - at > ctx.settings.console.session_ttl:
        session.invalidate()
        request[EXPIRED] = True
        return None
    return Person(who, csrf_token(session))


def cross_site(request: web.Request) -> str | None:
    """Why a state-changing request looks cross-site, or ``None`` when it is same-origin."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return f"Sec-Fetch-Site is {site!r}"
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin == "null":
            return "the form came from an opaque origin"
        try:
            authority = URL(origin).raw_authority
        except ValueError:
            authority = ""
        hosts = {request.headers.get("Host", "").lower()}
        # Behind a proxy that rewrites Host, the browser's host is in X-Forwarded-Host. A
        # cross-site form cannot set either header, so accepting both keeps the check sound.
        hosts.add(request.headers.get("X-Forwarded-Host", "").split(",")[0].strip().lower())
        if not authority or authority.lower() not in hosts - {""}:
            return "the form came from another site"
    return None


def csrf_ok(session: Session, given: object) -> bool:
    expected = session.get(CSRF)
    return (
        isinstance(expected, str)
        and isinstance(given, str)
        and bool(expected)
        and hmac.compare_digest(given.encode(), expected.encode())
    )


async def _sign_in(request: web.Request, who: str) -> web.Response:
    """A fresh session for ``who`` (never the pre-sign-in one), then the queue."""
    ctx: AppContext = request.app[CTX]
    session = await new_session(request)
    session[WHO] = who
    session[SIGNED_IN_AT] = ctx.clock()
    csrf_token(session)
    log.info("console sign-in", extra={"via": "token" if who == ADMIN else "github"})
    return see_other("/findings")


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def page(request: web.Request, name: str, status: int = 200, **context: object) -> web.Response:
    return aiohttp_jinja2.render_template(name, request, context, status=status)


async def login_page(request: web.Request, *, message: str = "", status: int = 200) -> web.Response:
    ctx: AppContext = request.app[CTX]
    if not message and await current(request) is not None:
        return see_other("/findings")
    session = await get_session(request)
    if not message and "expired" in request.query:
        message = "Your session expired; sign in again."
    return page(
        request,
        "login.html",
        status,
        oauth=ctx.settings.console.oauth,
        team=ctx.settings.console.security_team,
        token_login=bool(ctx.settings.admin_token),
        message=message,
        csrf=csrf_token(session),
    )


async def get_login(request: web.Request) -> web.Response:
    return await login_page(request)


async def post_login(request: web.Request) -> web.Response:
    ctx: AppContext = request.app[CTX]
    why = cross_site(request)
    if why is not None:
        return await login_page(request, message=f"Refused: {why}.", status=403)
    form = await request.post()
    given = form.get("token")
    expected = ctx.settings.admin_token
    if not (expected and isinstance(given, str)) or not hmac.compare_digest(
        given.encode(), expected.encode()
    ):
        return await login_page(request, message="That is not the admin token.", status=401)
    return await _sign_in(request, ADMIN)


def _callback_url(request: web.Request) -> str:
    proto = request.headers.get("X-Forwarded-Proto", request.scheme)
    return str(URL.build(scheme=proto, authority=request.host, path=CALLBACK))


async def start_github(request: web.Request) -> web.Response:
    console = request.app[CTX].settings.console
    if not console.oauth:
        return await login_page(
            request, message="Sign-in with GitHub is not configured here.", status=404
        )
    session = await get_session(request)
    state = secrets.token_urlsafe(32)
    session[STATE] = state
    url = oauth.authorize_url(
        request.app[CTX].settings, redirect_uri=_callback_url(request), state=state
    )
    return web.Response(status=302, headers={"Location": url})


async def github_callback(request: web.Request) -> web.Response:
    ctx: AppContext = request.app[CTX]
    console = ctx.settings.console
    if not console.oauth:
        return await login_page(
            request, message="Sign-in with GitHub is not configured here.", status=404
        )
    session = await get_session(request)
    expected = session.pop(STATE, None)
    state = request.query.get("state", "")
    if not isinstance(expected, str) or not hmac.compare_digest(state.encode(), expected.encode()):
        return await login_page(
            request, message="Sign-in refused: the answer from GitHub does not match.", status=403
        )
    code = request.query.get("code", "")
    if not code:
        return await login_page(request, message="Sign-in with GitHub was cancelled.", status=403)
    http = request.app[HTTP]
    try:
        token = await oauth.exchange_code(
            http, ctx.settings, code=code, redirect_uri=_callback_url(request)
        )
        user = GitHubClient(
            http,
            tokens=StaticToken(token),
            base_url=ctx.settings.github_api_url,
            retry=ctx.settings.github_retry,
            clock=ctx.clock,
        )
        login = await user.authenticated_login()
        org, slug = console.team
        member = await user.is_active_team_member(org, slug, login)
    except GitHubError as exc:
        log.warning("console sign-in failed", extra={"error": str(exc)})
        return await login_page(
            request, message="Sign-in failed: GitHub did not confirm who you are.", status=502
        )
    if not member:
        log.info("console sign-in refused: not in the security team")
        return await login_page(
            request,
            message=f"{login} is not a member of {console.security_team}; access refused.",
            status=403,
        )
    return await _sign_in(request, login)


async def logout(request: web.Request) -> web.Response:
    session = await get_session(request)
    form = await request.post()
    if cross_site(request) is not None or not csrf_ok(session, form.get(CSRF_FIELD)):
        return await login_page(
            request, message="Sign-out refused: reload and try again.", status=403
        )
    session.invalidate()
    return see_other("/login")
