"""The queue of held findings, one finding's detail page, and the decisions taken on them.

Each handler answers a browser with a signed-in session (HTML; POSTs need the session's CSRF
token in ``csrf_token`` and a same-origin request) or an API client with
``Authorization: Bearer <admin token>`` (JSON). Anything else is sent to ``/login`` (a
browser) or refused with 401 (an API client). A bad filter or form value is a 400 that says
what was expected; nothing is decided or posted on any refusal.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp_session import get_session
from yarl import URL

from bot.commands import enqueue_post
from bot.console import evidence
from bot.console.auth import (
    ADMIN,
    CSRF_FIELD,
    EXPIRED,
    Person,
    bearer_ok,
    cross_site,
    csrf_ok,
    current,
    page,
    see_other,
)
from bot.console.markdown import render
from bot.context import CTX, AppContext
from cache.held import HELD_STATES, HeldFilter, HeldFinding, HeldFindings
from prwarden.errors import ModelOutputError, StoreError
from review.diff import Diff
from review.findings import AnnotatedFinding, Category, Finding, Severity
from review.pipeline import PROMPTS
from review.prompts import load_prompt
from review.render import comment_body
from security.output import validate_text

AGE_LABELS = {"": "any age", "1d": "last day", "7d": "last 7 days", "30d": "last 30 days"}
_AGE = re.compile(r"([1-9][0-9]{0,4})([dh]?)")
_AGE_UNITS = {"d": 86400.0, "": 86400.0, "h": 3600.0}
_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
MAX_REASON = 2000
MAX_ROWS = 500


class BadRequest(Exception):
    """A filter or form value that is not one of those expected."""


@dataclass(frozen=True)
class Filters:
    held: HeldFilter
    form: dict[str, str]


def parse_filters(query: Mapping[str, str]) -> Filters:
    state = query.get("state", "pending")
    repo = query.get("repo", "")
    severity = query.get("severity", "")
    category = query.get("category", "")
    age = query.get("age", "")
    if state != "all" and state not in HELD_STATES:
        raise BadRequest(f"state must be one of {', '.join((*HELD_STATES, 'all'))}")
    if repo and not _REPO.fullmatch(repo):
        raise BadRequest("repo must be owner/name")
    if severity and severity not in {s.value for s in Severity}:
        raise BadRequest(f"severity must be one of {', '.join(s.value for s in Severity)}")
    if category and category not in {c.value for c in Category}:
        raise BadRequest(f"category must be one of {', '.join(c.value for c in Category)}")
    age_match = _AGE.fullmatch(age)
    if age and age_match is None:
        raise BadRequest("age must be a number of days or hours held at most (7d, 12h; or empty)")
    held = HeldFilter(
        state=None if state == "all" else state,
        repo=repo or None,
        severity=severity or None,
        category=category or None,
        max_age=int(age_match.group(1)) * _AGE_UNITS[age_match.group(2)] if age_match else 0.0,
    )
    form = {"state": state, "repo": repo, "severity": severity, "category": category, "age": age}
    return Filters(held, form)


def _row(item: HeldFinding) -> dict[str, Any]:
    f = item.finding if isinstance(item.finding, dict) else {}
    return {
        "id": item.id,
        "repo": item.repo,
        "pr": item.pr_number,
        "path": f.get("path", ""),
        "line": f.get("line", ""),
        "severity": f.get("severity", ""),
        "category": f.get("category", ""),
        "title": f.get("title", ""),
        "state": item.state,
        "decided_by": item.decided_by,
        "reason": item.reason,
    }


def _pr_url(ctx: AppContext, item: HeldFinding) -> str:
    owner, _, name = item.repo.partition("/")
    return str(URL(ctx.settings.github_url) / owner / name / "pull" / str(item.pr_number))


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return "just now"


def _as_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


async def _who(request: web.Request) -> Person | web.Response:
    """The signed-in person, or the answer for someone who is not signed in."""
    person = await current(request)
    if person is not None:
        return person
    expired = "?expired=1" if request.get(EXPIRED) else ""
    if "application/json" in request.headers.get("Accept", "") or request.content_type == (
        "application/json"
    ):
        return web.json_response({"error": "sign in, or send the admin token"}, status=401)
    return see_other("/login" + expired)


async def _reader(request: web.Request) -> Person | web.Response | None:
    """The signed-in person; ``None`` for an API client with the admin token; else the refusal."""
    bearer = bearer_ok(request)
    if bearer is False:
        return web.json_response({"error": "wrong admin token"}, status=401)
    return None if bearer else await _who(request)


def _bad(request: web.Request, person: Person | None, message: str, status: int) -> web.Response:
    if person is None:
        return web.json_response({"error": message}, status=status)
    return page(request, "message.html", status, who=person.who, csrf=person.csrf, message=message)


async def list_findings(request: web.Request) -> web.Response:
    ctx: AppContext = request.app[CTX]
    person = await _reader(request)
    if isinstance(person, web.Response):
        return person
    try:
        filters = parse_filters(request.query)
    except BadRequest as exc:
        return _bad(request, person, str(exc), 400)
    held = HeldFindings(ctx.db, clock=ctx.clock)
    items = held.query(filters.held)
    if person is None and "application/json" in request.headers.get("Accept", ""):
        return web.json_response([_row(item) for item in items])
    now = ctx.clock()
    rows = [
        {**_row(item), "pr_url": _pr_url(ctx, item), "age": _age(now - item.created_at)}
        for item in items[:MAX_ROWS]
    ]
    counts = held.counts(filters.held)
    return page(
        request,
        "queue.html",
        who=person.who if person else ADMIN,
        csrf=person.csrf if person else "",
        rows=rows,
        matching=len(items),
        counts=counts,
        total=sum(counts.values()),
        filters=filters.form,
        repos=held.repos(),
        states=(*HELD_STATES, "all"),
        severities=[s.value for s in Severity],
        categories=[c.value for c in Category],
        ages=AGE_LABELS,
    )


def _held_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise BadRequest("the finding id must be a number") from None


def _comment(item: HeldFinding, diff: Diff) -> str:
    try:
        finding = Finding.from_dict(item.finding)
    except ModelOutputError:
        return str(item.finding.get("body", ""))
    return comment_body(AnnotatedFinding(finding, fingerprint=item.fingerprint), diff)


async def show_finding(request: web.Request) -> web.Response:
    ctx: AppContext = request.app[CTX]
    person = await _reader(request)
    if isinstance(person, web.Response):
        return person
    held = HeldFindings(ctx.db, clock=ctx.clock)
    try:
        item = held.get(_held_id(request))
    except BadRequest as exc:
        return _bad(request, person, str(exc), 400)
    if item is None:
        return _bad(request, person, "no such held finding", 404)
    if person is None:
        return web.json_response({**_row(item), "finding": item.finding})
    shown = evidence.gather(ctx.db, item)
    markdown = _comment(item, shown.diff)
    return page(
        request,
        "detail.html",
        who=person.who,
        csrf=person.csrf,
        csrf_field=CSRF_FIELD,
        item=item,
        row=_row(item),
        pr_url=_pr_url(ctx, item),
        comment_url=f"{_pr_url(ctx, item)}#discussion_r{item.comment_id}"
        if item.comment_id
        else "",
        markdown=markdown,
        rendered=render(markdown),
        evidence=shown,
        history=held.history(item.id),
        when=_when,
        as_json=_as_json,
        held_at=_when(item.created_at),
        notice=request.query.get("done", ""),
    )


def edited_finding(
    ctx: AppContext, item: HeldFinding, title: str, body: str
) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """The held finding with a person's text, validated like any finding before posting."""
    data = {**item.finding, "title": title.strip(), "body": body.strip()}
    try:
        finding = Finding.from_dict(data)
    except ModelOutputError as exc:
        return None, tuple(str(e) for e in exc.errors) or (str(exc),)
    evidence_data = item.evidence if isinstance(item.evidence, dict) else {}
    flagged = [str(x) for x in evidence_data.get("injections") or () if isinstance(x, str)]
    owner, _, name = item.repo.partition("/")
    problems = validate_text(
        "\n".join((finding.title, finding.body, finding.suggestion or "")),
        allowed_hosts=ctx.settings.review.allowed_link_hosts,
        repo_url=str(URL(ctx.settings.github_url) / owner / name),
        flagged=flagged,
        secrets=ctx.settings.secret_values,
        confidential=tuple(load_prompt(p).text for p in PROMPTS),
    )
    if problems:
        return None, problems
    return finding.to_dict(), ()


async def decide(request: web.Request) -> web.Response:
    bearer = bearer_ok(request)
    if bearer is False:
        return web.json_response({"error": "wrong admin token"}, status=401)
    if bearer is True:
        return await _decide_api(request)
    who = await _who(request)
    if isinstance(who, web.Response):
        return who
    why = cross_site(request)
    if why is not None:
        return _bad(request, who, f"Refused: {why}. Nothing was decided.", 403)
    form = await request.post()
    if not csrf_ok(await get_session(request), form.get(CSRF_FIELD)):
        return _bad(
            request, who, "Refused: the form's token is missing or stale; reload the page.", 403
        )
    ctx: AppContext = request.app[CTX]
    held = HeldFindings(ctx.db, clock=ctx.clock)
    decision = request.match_info["decision"]
    try:
        held_id = _held_id(request)
        item = held.get(held_id)
        if item is None:
            return _bad(request, who, "no such held finding", 404)
        if decision == "approve":
            edited = None
            if "title" in form or "body" in form:
                title, body = str(form.get("title", "")), str(form.get("body", ""))
                edited, problems = edited_finding(ctx, item, title, body)
                if problems:
                    return _bad(
                        request,
                        who,
                        "The edited text cannot be posted: " + "; ".join(problems),
                        422,
                    )
                if edited == Finding.from_dict(item.finding).to_dict():
                    edited = None
            approved = held.approve(held_id, who.who, edited=edited)
            enqueue_post(ctx, approved)
            done = "approved-edited" if edited else "approved"
        elif decision == "reject":
            reason = str(form.get("reason", "")).strip()
            if not reason or len(reason) > MAX_REASON:
                raise BadRequest(f"a reason is needed to reject (1 to {MAX_REASON} characters)")
            held.reject(held_id, who.who, reason)
            done = "rejected"
        else:
            return _bad(request, who, "the decision is approve or reject", 404)
    except BadRequest as exc:
        return _bad(request, who, str(exc), 400)
    except (StoreError, ModelOutputError) as exc:
        return _bad(request, who, str(exc), 409)
    return see_other(f"/findings/{held_id}?done={done}")


async def _decide_api(request: web.Request) -> web.Response:
    ctx: AppContext = request.app[CTX]
    decision = request.match_info["decision"]
    try:
        held_id = _held_id(request)
        data = await request.json() if request.can_read_body else {}
    except (BadRequest, ValueError):
        return web.json_response({"error": "id must be an integer, body JSON"}, status=400)
    if not isinstance(data, dict):
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    # The token is who decides; a name the caller gives is kept beside it, not instead of it.
    named = str(data.get("by") or "").strip()[:100]
    by = f"{ADMIN} ({named})" if named else ADMIN
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
