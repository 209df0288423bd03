"""Bearer-token checks for prwarden's own HTTP pages (the triage page, ``/metrics``)."""

from __future__ import annotations

import hmac

from aiohttp import web


def bearer_matches(request: web.Request, expected: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <expected>``; never with no token."""
    if not expected:
        return False
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else ""
    return hmac.compare_digest(given.encode(), expected.encode())
