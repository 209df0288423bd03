"""How the fake GitHub speaks HTTP: the paths it serves beside the REST API, the context a
handler gets, GitHub-shaped JSON and error bodies, and Link-header pagination."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from yarl import URL

from testkit.fakes.openapi import Match

DIFF_MEDIA_TYPE = "application/vnd.github.diff"
CODELOAD_PREFIX = "/_codeload/"
GRAPHQL_PATH = "/graphql"
DOCS = "https://docs.github.com/rest"


@dataclass(slots=True)
class Ctx:
    request: web.Request
    match: Match
    query: Mapping[str, str]
    body: Any
    base_url: str

    def param(self, name: str) -> str:
        return self.match.path_params[name]

    def int_param(self, name: str) -> int:
        return int(self.match.path_params[name])

    @property
    def repo_name(self) -> str:
        return f"{self.param('owner')}/{self.param('repo')}"

    @property
    def wants_diff(self) -> bool:
        return DIFF_MEDIA_TYPE in self.request.headers.get("Accept", "")


class Answer(Exception):
    """Raised inside a handler to answer with an error response at once."""

    def __init__(self, response: web.Response):
        super().__init__(response.status)
        self.response = response


Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        content_type="application/json",
        charset="utf-8",
        headers=dict(headers or {}),
    )


def error_response(
    status: int,
    message: str,
    *,
    errors: Sequence[Any] | None = None,
    documentation_url: str = DOCS,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An error body shaped like GitHub's (message, errors, documentation_url, status)."""
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = list(errors)
    body["documentation_url"] = documentation_url
    body["status"] = str(status)
    return json_response(body, status, headers)


def not_found(doc: str = DOCS) -> Answer:
    return Answer(error_response(404, "Not Found", documentation_url=doc))


def unprocessable(ctx: Ctx, errors: list[str]) -> Answer:
    doc = ctx.match.operation.documentation_url
    return Answer(error_response(422, "Unprocessable Entity", errors=errors, documentation_url=doc))


def paginate(ctx: Ctx, items: Sequence[Any], *, key: str | None = None) -> web.Response:
    per_page = min(int(ctx.query.get("per_page", "30")), 100)
    page = max(int(ctx.query.get("page", "1")), 1)
    per_page = max(per_page, 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = list(items[(page - 1) * per_page : page * per_page])
    url = URL(ctx.base_url).with_path(ctx.request.path)
    links = []
    for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
        if 1 <= number <= last and number != page:
            target = url.with_query({**ctx.query, "page": str(number)})
            links.append(f'<{target}>; rel="{rel}"')
    headers = {"Link": ", ".join(links)} if links else {}
    data: Any = {"total_count": len(items), key: chunk} if key else chunk
    return json_response(data, headers=headers)


def parse_body(raw: bytes) -> tuple[Any, str | None]:
    if not raw.strip():
        return None, None
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError):
        return None, "Problems parsing JSON"
