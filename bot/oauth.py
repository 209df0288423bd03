"""GitHub's OAuth web flow for the App's own client: the authorize URL and the code exchange.

Both live on the web host (``PRWARDEN_GITHUB_URL``), not the REST API. GitHub answers a bad
exchange with status 200 and an ``error`` field (``bad_verification_code``,
``incorrect_client_credentials``, ``redirect_uri_mismatch``); that becomes ``GitHubError``
with the error code in the message, never the secret or the code.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from yarl import URL

from bot.config import Settings
from prwarden.errors import GitHubError

EXCHANGE_TIMEOUT = 15.0


def authorize_url(settings: Settings, *, redirect_uri: str, state: str) -> str:
    """Where to send the browser to ask GitHub who is signing in."""
    url = URL(settings.github_url) / "login" / "oauth" / "authorize"
    query = {"client_id": settings.console.client_id, "redirect_uri": redirect_uri, "state": state}
    return str(url.with_query(query))


async def exchange_code(
    session: aiohttp.ClientSession, settings: Settings, *, code: str, redirect_uri: str
) -> str:
    """Trade the one-time ``code`` for a user access token."""
    console = settings.console
    url = str(URL(settings.github_url) / "login" / "oauth" / "access_token")
    form = {
        "client_id": console.client_id,
        "client_secret": console.client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
    }
    try:
        async with (
            asyncio.timeout(EXCHANGE_TIMEOUT),
            session.post(url, data=form, headers={"Accept": "application/json"}) as resp,
        ):
            status = resp.status
            data: Any = await resp.json(content_type=None) if status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise GitHubError(
            f"OAuth code exchange failed: {type(exc).__name__}", status_code=0
        ) from None
    if status != 200 or not isinstance(data, dict):
        raise GitHubError("OAuth code exchange failed", status_code=status)
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        error = str(data.get("error") or "no access_token")[:80]
        raise GitHubError(f"OAuth code exchange refused: {error}", status_code=status)
    return token
