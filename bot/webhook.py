"""``POST /webhook``: verify, dedupe, route, enqueue, answer. Nothing slow happens here.

Order of checks (fail closed): size (413, enforced by aiohttp's ``client_max_size``), required
headers (400), the ``X-Hub-Signature-256`` HMAC over the raw body (401), JSON body (400), then
the delivery id: a redelivery is acknowledged without enqueuing anything twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from gidgethub import BadRequest, ValidationFailure, sansio

from bot.context import CTX, AppContext, Dispatch
from bot.github import split_repo
from bot.handlers import router
from bot.logs import delivery_fields
from cache import deliveries
from prwarden.errors import WebhookError

log = logging.getLogger("prwarden.webhook")

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REQUIRED = ("x-github-event", "x-github-delivery")


def parse_event(headers: Mapping[str, str], body: bytes, secret: str) -> sansio.Event:
    """Verify and decode a delivery; raise ``WebhookError`` with the status to answer."""
    if not secret:
        raise WebhookError("no webhook secret configured", status=500)
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in _REQUIRED:
        if not lowered.get(name, "").strip():
            raise WebhookError(f"missing header {name}", status=400)
    signature = lowered.get("x-hub-signature-256", "")
    if not signature:
        raise WebhookError("missing header x-hub-signature-256", status=401)
    if not signature.startswith("sha256=") or len(signature) != 71:
        raise WebhookError("malformed x-hub-signature-256", status=401)
    content_type = lowered.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise WebhookError("content-type must be application/json", status=400)
    # Only the SHA-256 signature is offered to gidgethub, so it cannot fall back to SHA-1.
    verified = {
        "x-hub-signature-256": signature,
        "content-type": "application/json",
        "x-github-event": lowered["x-github-event"],
        "x-github-delivery": lowered["x-github-delivery"],
    }
    try:
        sansio.validate_event(body, signature=signature, secret=secret)
    except ValidationFailure:
        raise WebhookError("signature does not match", status=401) from None
    try:
        event = sansio.Event.from_http(verified, body, secret=secret)
        if (b"NaN" in body or b"Infinity" in body) and _has_constant(body):
            raise WebhookError("body is not standard JSON: NaN or Infinity", status=400)
    except ValidationFailure:
        raise WebhookError("signature does not match", status=401) from None
    except RecursionError:
        # json's decoder stops at the interpreter's recursion limit; no GitHub payload nests
        # anywhere near it.
        raise WebhookError("body nests too deeply to be a GitHub payload", status=400) from None
    except (BadRequest, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise WebhookError(f"body is not valid JSON: {type(exc).__name__}", status=400) from None
    if not isinstance(event.data, dict):
        raise WebhookError("body must be a JSON object", status=400)
    _check_names(event.data)
    return event


def _check_names(data: dict[str, Any]) -> None:
    """Names that become URLs and paths later are checked here, so a bad one is a 400 that
    GitHub's delivery log shows, not a job that cannot report back."""
    repository = data.get("repository")
    if isinstance(repository, dict) and "full_name" in repository:
        try:
            split_repo(str(repository["full_name"]))
        except ValueError as exc:
            raise WebhookError(f"repository.full_name: {exc}", status=400) from None
    pull = data.get("pull_request")
    head = pull.get("head") if isinstance(pull, dict) else None
    if isinstance(head, dict) and "sha" in head and not _SHA.fullmatch(str(head["sha"])):
        raise WebhookError("pull_request.head.sha is not a commit SHA", status=400)


def _has_constant(body: bytes) -> bool:
    """Whether the JSON uses the non-standard NaN/Infinity literals Python accepts."""
    found: list[str] = []
    json.loads(body, parse_constant=found.append)
    return bool(found)


async def handle_webhook(request: web.Request) -> web.Response:
    ctx: AppContext = request.app[CTX]
    started = time.perf_counter()
    event_name = request.headers.get("X-GitHub-Event", "unknown")
    if ctx.shutting_down:
        return _answer(ctx, event_name, 503, {"error": "shutting down; GitHub will redeliver"})
    try:
        async with asyncio.timeout(ctx.settings.body_timeout):
            body = await request.read()
        event = parse_event(request.headers, body, ctx.settings.webhook_secret)
    except WebhookError as exc:
        delivery = request.headers.get("X-GitHub-Delivery")
        refused = {"status": exc.status, "reason": str(exc), "github_event": event_name}
        log.info("webhook refused", extra={**refused, "delivery_id": delivery})
        return _answer(ctx, event_name, exc.status, {"error": str(exc)})
    except web.HTTPRequestEntityTooLarge:
        return _answer(ctx, event_name, 413, {"error": f"body larger than {MAX_BODY} bytes"})
    except web.RequestPayloadError as exc:
        return _answer(ctx, event_name, 400, {"error": f"unreadable body: {exc}"})
    except TimeoutError:
        error = f"body not received within {ctx.settings.body_timeout:g} s"
        response = _answer(ctx, event_name, 408, {"error": error})
        response.force_close()
        return response
    action = str(event.data.get("action") or "")
    fields = delivery_fields(event.delivery_id, event.event, event.data)
    if not deliveries.record_delivery(
        ctx.db, event.delivery_id, event=event.event, action=action, clock=ctx.clock
    ):
        log.info("webhook duplicate", extra={**fields, "status": 200})
        return _answer(ctx, event.event, 200, {"status": "duplicate delivery"})
    dispatch = Dispatch()
    try:
        await router.dispatch(event, ctx, dispatch)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        deliveries.forget_delivery(ctx.db, event.delivery_id)
        reason = f"payload lacks a field or has one of the wrong type: {type(exc).__name__}"
        log.info("webhook refused", extra={"status": 400, "reason": reason})
        return _answer(ctx, event.event, 400, {"error": reason})
    except BaseException:
        deliveries.forget_delivery(ctx.db, event.delivery_id)
        raise
    for job_id in dispatch.job_ids:
        deliveries.attach_job(ctx.db, event.delivery_id, job_id)
    if dispatch.job_ids:
        ctx.wake_workers()
    ctx.metrics.observe_ack(time.perf_counter() - started)
    status = 202 if dispatch.job_ids else 200
    answer: dict[str, Any] = {"status": "queued" if dispatch.job_ids else "ok"}
    if dispatch.job_ids:
        answer["jobs"] = dispatch.job_ids
    if dispatch.notes:
        answer["notes"] = dispatch.notes
    log.info("webhook accepted", extra={**fields, "status": status, "jobs": dispatch.job_ids})
    return _answer(ctx, event.event, status, answer)


def _answer(ctx: AppContext, event: str, status: int, body: dict[str, Any]) -> web.Response:
    ctx.metrics.webhook(event, status)
    return web.json_response(body, status=status)
