"""``GET /findings``: the security team's queue as a web page, behind the admin token.

Approving enqueues a job that posts the finding on its PR; rejecting records who and why.
Every untrusted string is HTML-escaped; the token is compared in constant time.
"""

from __future__ import annotations

import html
import json

from aiohttp import web

from bot.auth import bearer_matches
from bot.context import CTX, AppContext
from cache.held import HeldFindings
from prwarden.errors import StoreError


def add_routes(app: web.Application) -> None:
    app.router.add_get("/findings", list_findings)
    app.router.add_post("/findings/{id}/{decision}", decide)


def _authorized(request: web.Request) -> bool:
    ctx: AppContext = request.app[CTX]
    return bearer_matches(request, ctx.settings.admin_token)


def _deny() -> web.Response:
    return web.json_response(
        {"error": "admin token required (Authorization: Bearer ...)"}, status=401
    )


async def list_findings(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _deny()
    ctx: AppContext = request.app[CTX]
    state = request.query.get("state", "pending")
    items = HeldFindings(ctx.db, clock=ctx.clock).list(None if state == "all" else state)
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response([_row(item) for item in items])
    rows = "\n".join(
        "<tr><td>{id}</td><td>{repo}#{pr}</td><td><code>{path}:{line}</code></td>"
        "<td>{severity}</td><td>{title}</td><td>{state}</td></tr>".format(
            **{k: html.escape(str(v)) for k, v in _row(item).items()}
        )
        for item in items
    )
    page = (
        "<!doctype html><meta charset=utf-8><title>prwarden: held findings</title>"
        "<h1>Held findings</h1><p>Decide with <code>POST /findings/ID/approve</code> or "
        '<code>/reject</code> (JSON body <code>{"by": ..., "reason": ...}</code>), or with '
        "<code>prwarden findings approve|reject ID</code>.</p>"
        "<table><tr><th>id</th><th>PR</th><th>where</th><th>severity</th><th>title</th>"
        f"<th>state</th></tr>{rows}</table>"
    )
    return web.Response(text=page, content_type="text/html")


def _row(item: object) -> dict[str, object]:
    finding = getattr(item, "finding", {}) or {}
    return {
        "id": getattr(item, "id", ""),
        "repo": getattr(item, "repo", ""),
        "pr": getattr(item, "pr_number", ""),
        "path": finding.get("path", ""),
        "line": finding.get("line", ""),
        "severity": finding.get("severity", ""),
        "title": finding.get("title", ""),
        "state": getattr(item, "state", ""),
    }


async def decide(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _deny()
    ctx: AppContext = request.app[CTX]
    decision = request.match_info["decision"]
    try:
        held_id = int(request.match_info["id"])
        data = await request.json() if request.can_read_body else {}
    except (ValueError, json.JSONDecodeError):
        return web.json_response({"error": "id must be an integer, body JSON"}, status=400)
    if not isinstance(data, dict):
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    by = str(data.get("by") or "admin")
    held = HeldFindings(ctx.db, clock=ctx.clock)
    try:
        if decision == "approve":
            item = held.approve(held_id, by)
            enqueue_post(ctx, item)
        elif decision == "reject":
            item = held.reject(held_id, by, str(data.get("reason") or ""))
        else:
            return web.json_response({"error": "decision is approve or reject"}, status=404)
    except StoreError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response(_row(item))


def enqueue_post(ctx: AppContext, item: object) -> int:
    """Queue the job that posts an approved held finding on its PR."""
    enqueued = ctx.queue.enqueue(
        "post_held",
        installation_id=int(getattr(item, "installation_id", 0) or 0),
        repo=str(getattr(item, "repo", "")),
        pr_number=int(getattr(item, "pr_number", 0) or 0),
        head_sha=f"held:{getattr(item, 'id', 0)}",
        payload={"held_id": getattr(item, "id", 0)},
        dedupe_key=f"post_held:{getattr(item, 'id', 0)}",
    )
    ctx.wake_workers()
    return enqueued.job_id
