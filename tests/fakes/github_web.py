"""GitHub's web host for the OAuth web flow, as GitHub documents it, for the fake GitHub.

``GET /login/oauth/authorize`` (client_id, redirect_uri, state): for an unknown client a 404
page; for a ``redirect_uri`` that is not under the client's registered callback URL (same
scheme, host and port, path inside the callback's path) a redirect to the callback with
``error=redirect_uri_mismatch``; when the person on the browser declines, ``error=access_denied``;
otherwise (the App is already authorized by that person) a 302 to ``redirect_uri`` with a
``code`` and the ``state`` unchanged. With nobody signed in to the fake's web host, a sign-in
page.

``POST /login/oauth/access_token`` (client_id, client_secret, code, redirect_uri; form,
query or JSON): status 200 either way; errors are fields (``incorrect_client_credentials``,
``bad_verification_code``, ``redirect_uri_mismatch``). A code works once and for ten minutes.
The answer is JSON with ``Accept: application/json``, else form-encoded, as on GitHub.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web
from yarl import URL

AUTHORIZE_PATH = "/login/oauth/authorize"
TOKEN_PATH = "/login/oauth/access_token"
WEB_PATHS = frozenset({AUTHORIZE_PATH, TOKEN_PATH})
CODE_TTL = 600.0
DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"


@dataclass(slots=True)
class OAuthClient:
    client_id: str
    client_secret: str
    callback_url: str


@dataclass(slots=True)
class _Code:
    client_id: str
    login: str
    redirect_uri: str
    expires: float


@dataclass
class GitHubWeb:
    """The fake's web host: registered OAuth clients, codes handed out, user tokens issued."""

    clock: Callable[[], float] = time.time
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    signed_in: str | None = None
    declines: bool = False
    user_tokens: dict[str, str] = field(default_factory=dict)
    exchanges: list[Mapping[str, str]] = field(default_factory=list)
    _codes: dict[str, _Code] = field(default_factory=dict)

    def register(self, client_id: str, client_secret: str, callback_url: str) -> None:
        self.clients[client_id] = OAuthClient(client_id, client_secret, callback_url)

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == AUTHORIZE_PATH and request.method == "GET":
            return self._authorize(request)
        if request.path == TOKEN_PATH and request.method == "POST":
            return await self._access_token(request)
        return web.Response(status=404, text="Not Found")

    def _authorize(self, request: web.Request) -> web.Response:
        client = self.clients.get(request.query.get("client_id", ""))
        if client is None:
            return web.Response(status=404, text="Not Found", content_type="text/html")
        state = request.query.get("state")
        redirect = request.query.get("redirect_uri") or client.callback_url
        if not _under(redirect, client.callback_url):
            return self._back(
                client.callback_url,
                state,
                error="redirect_uri_mismatch",
                error_description="The redirect_uri MUST match the registered callback URL "
                "for this application.",
            )
        if self.signed_in is None:
            return web.Response(
                text="<!doctype html><title>Sign in to GitHub</title><h1>Sign in to GitHub</h1>",
                content_type="text/html",
            )
        if self.declines:
            return self._back(
                redirect,
                state,
                error="access_denied",
                error_description="The user has denied your application access.",
            )
        code = secrets.token_hex(10)
        self._codes[code] = _Code(
            client.client_id, self.signed_in, redirect, self.clock() + CODE_TTL
        )
        return self._back(redirect, state, code=code)

    @staticmethod
    def _back(redirect: str, state: str | None, **params: str) -> web.Response:
        if state is not None:
            params["state"] = state
        url = URL(redirect).update_query(params)
        return web.Response(status=302, headers={"Location": str(url)})

    async def _access_token(self, request: web.Request) -> web.Response:
        params: dict[str, str] = dict(request.query)
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = {}
            params.update({k: str(v) for k, v in body.items()} if isinstance(body, dict) else {})
        else:
            params.update({k: str(v) for k, v in (await request.post()).items()})
        self.exchanges.append(params)
        client = self.clients.get(params.get("client_id", ""))
        if client is None or not secrets.compare_digest(
            params.get("client_secret", ""), client.client_secret
        ):
            return _answer(
                request,
                error="incorrect_client_credentials",
                error_description="The client_id and/or client_secret passed are incorrect.",
            )
        code = self._codes.pop(params.get("code", ""), None)
        if code is None or code.client_id != client.client_id or code.expires <= self.clock():
            return _answer(
                request,
                error="bad_verification_code",
                error_description="The code passed is incorrect or expired.",
            )
        if params.get("redirect_uri") and params["redirect_uri"] != code.redirect_uri:
            return _answer(
                request,
                error="redirect_uri_mismatch",
                error_description="The redirect_uri MUST match the registered callback URL "
                "for this application.",
            )
        token = "ghu_" + secrets.token_urlsafe(27)
        self.user_tokens[token] = code.login
        return _answer(request, access_token=token, token_type="bearer", scope="")


def _under(redirect: str, callback: str) -> bool:
    """GitHub's rule: same scheme, host and port; the path is the callback's or below it."""
    try:
        got, registered = URL(redirect), URL(callback)
    except ValueError:
        return False
    if (got.scheme, got.host, got.port) != (registered.scheme, registered.host, registered.port):
        return False
    base = registered.path.rstrip("/")
    return got.path == registered.path or got.path.startswith(base + "/")


def _answer(request: web.Request, **fields: str) -> web.Response:
    if "error" in fields:
        fields["error_uri"] = DOCS
    if "application/json" in request.headers.get("Accept", ""):
        return web.Response(text=json.dumps(fields), content_type="application/json")
    return web.Response(text=urlencode(fields), content_type="application/x-www-form-urlencoded")
