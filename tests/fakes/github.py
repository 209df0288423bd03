"""A fake GitHub REST API on loopback that answers like GitHub and refuses what GitHub refuses.

Every request is matched against GitHub's OpenAPI description (unknown method or path → 404),
authenticated (``/app`` endpoints need an RS256 App JWT, the rest an installation token this
server issued), and its query and JSON body validated (→ 422 with GitHub's
``Invalid request.`` message). Each request is recorded in ``requests``; the ones that did not
validate are also in ``invalid_requests``.

State is scripted by tests: ``add_commit`` (files per commit, tarball and contents API),
``add_pull`` (metadata and a unified diff; inline review comments must anchor on it),
``set_permission``, ``add_reaction``, ``set_compare``, ``add_team_member``; faults with
``fail_next`` and ``delay``. The web host's OAuth endpoints are served too (``web``, see
``tests.fakes.github_web``); the user tokens they issue authenticate ``GET /user`` and team
membership lookups. SARIF uploads to code scanning are decoded and kept in ``sarif_uploads``.
Tarballs are served as GitHub does: a 302 to a codeload-like URL on this server
that returns a gzip tar whose top directory is ``<owner>-<repo>-<sha7>/``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import gzip
import hashlib
import io
import itertools
import json
import re
import secrets
import tarfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from yarl import URL

import corpora
from tests.fakes import hunks
from tests.fakes.github_apps import (
    DEFAULT_GRANTED,
    ManifestFlow,
    TokenScope,
    conversion_json,
    token_scope,
    version_error,
)
from tests.fakes.github_web import WEB_PATHS, GitHubWeb
from tests.fakes.openapi import Match, OpenAPISpec

SPEC_PATH = corpora.ROOT / "github_openapi" / "review-bot-subset.openapi.json"
DIFF_MEDIA_TYPE = "application/vnd.github.diff"
CODELOAD_PREFIX = "/_codeload/"
GRAPHQL_PATH = "/graphql"
# The one GraphQL query the fake answers: review threads of a PR, with their resolved state.
REVIEW_THREADS_SHAPE = re.sub(
    r"\s+",
    " ",
    """query($owner: String!, $name: String!, $number: Int!, $cursor: String) {
  repository(owner: $owner, name: $name) { pullRequest(number: $number) {
    reviewThreads(first: 100, after: $cursor) { pageInfo { hasNextPage endCursor }
      nodes { isResolved comments(first: 100) { nodes { fullDatabaseId } } } } } } }""",
)
DOCS = "https://docs.github.com/rest"
TOO_LARGE_MESSAGE = (
    "Sorry, the diff exceeded the maximum number of files (300). Consider using "
    "'List pull requests files' API or locally cloning the repository instead."
)
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
MAX_JWT_LIFETIME = 600
# Operations that act as a signed-in person: they take a user token, not an installation's.
USER_OPERATIONS = frozenset({"users/get-authenticated", "teams/get-membership-for-user-in-org"})
# Outside /app, these take the App's JWT too (GitHub: "you must use a JWT to access").
JWT_OPERATIONS = frozenset({"apps/get-repo-installation"})
INTEGRATION_REFUSED = "Resource not accessible by integration"
MAX_SARIF_BYTES = 10 * 1024 * 1024
EXPIRED_JWT_MESSAGE = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time "
    "at which the assertion expires"
)


CONTENTS_INLINE_LIMIT = 1024 * 1024


@functools.lru_cache(maxsize=4)
def load_spec(path: Path = SPEC_PATH) -> OpenAPISpec:
    return OpenAPISpec.load(path)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake received, and whether it validated against the OpenAPI cut."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any
    operation_id: str | None
    valid: bool
    errors: tuple[str, ...]


@dataclass(slots=True)
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    remaining: int
    headers: Mapping[str, str]
    body: Any


@dataclass(slots=True)
class FakeRepo:
    full_name: str
    default_branch: str = "main"
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tarballs: dict[str, bytes] = field(default_factory=dict)
    compares: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass(slots=True)
class FakePull:
    repo: str
    number: int
    head_sha: str
    base_sha: str
    base_ref: str
    head_ref: str
    title: str
    body: str | None
    user: str
    draft: bool
    diff_text: str
    diff: hunks.Files
    diff_too_large: bool = False
    reviews: list[dict[str, Any]] = field(default_factory=list)
    issue_comments: list[dict[str, Any]] = field(default_factory=list)
    # The messages of the PR's commits, oldest first; empty: one commit, GitHub's example.
    commit_messages: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Ctx:
    request: web.Request
    match: Match
    query: Mapping[str, str]
    body: Any

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


class _Answer(Exception):
    """Raised inside a handler to answer with an error response at once."""

    def __init__(self, response: web.Response):
        super().__init__(response.status)
        self.response = response


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
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
    return _json(body, status, headers)


def _not_found(doc: str = DOCS) -> _Answer:
    return _Answer(error_response(404, "Not Found", documentation_url=doc))


def build_tarball(prefix: str, files: Mapping[str, bytes], *, comment: str = "") -> bytes:
    """A gzip tar like GitHub's archives: one top directory, a pax global header."""
    buf = io.BytesIO()
    headers = {"comment": comment} if comment else {}
    with tarfile.open(
        fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT, pax_headers=headers
    ) as tar:
        top = tarfile.TarInfo(f"{prefix}/")
        top.type = tarfile.DIRTYPE
        top.mode = 0o775
        tar.addfile(top)
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{prefix}/{path}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def file_patch(f: hunks.File) -> str | None:
    """The ``patch`` field GitHub gives a file in the files list: its hunks, no headers."""
    if f.is_binary or not f.hunks:
        return None
    return f.patch


def anchor_error(diff: hunks.Files, comment: Mapping[str, Any]) -> str | None:
    """GitHub's reason for refusing an inline comment's anchor, or None when it resolves."""
    f = diff.file(str(comment.get("path", "")))
    if f is None:
        return "Pull request review thread path is invalid"
    if "line" not in comment:
        position = comment.get("position")
        if isinstance(position, int) and 1 <= position <= f.positions:
            return None
        return "Line could not be resolved"
    side = str(comment.get("side", "RIGHT"))
    line = comment["line"]
    if side not in ("RIGHT", "LEFT") or not isinstance(line, int) or not f.commentable(line, side):
        return "Line could not be resolved"
    start = comment.get("start_line")
    if start is None:
        return None
    start_side = str(comment.get("start_side", side))
    if start_side not in ("RIGHT", "LEFT") or not isinstance(start, int):
        return "Start line could not be resolved"
    if not f.commentable(start, start_side):
        return "Start line could not be resolved"
    if (start_side, start) == (side, line) or (start_side == side and start > line):
        return "Pull request review thread start_line must precede the end line."
    if f.hunk_of(start, start_side) != f.hunk_of(line, side):
        return "Pull request review thread start line must be part of the same hunk as the line."
    return None


Handler = Callable[[_Ctx], Awaitable[web.StreamResponse]]


class FakeGitHub:
    """GitHub's REST API for one App, on loopback, scripted per test."""

    def __init__(
        self,
        *,
        app_id: str,
        public_key: str,
        clock: Callable[[], float] = time.time,
        token_ttl: float = 3600.0,
        bot_login: str = "prwarden[bot]",
        spec_path: Path = SPEC_PATH,
    ):
        self.app_id = app_id
        self._public_key = public_key
        self.clock = clock
        self.token_ttl = token_ttl
        self.bot_login = bot_login
        self.spec = load_spec(spec_path)
        self._examples = self.spec.resolve({"$ref": "#/components/examples"})
        self.base_url = ""
        self.delay = 0.0
        self.requests: list[RecordedRequest] = []
        self.downloads: list[str] = []
        self.installations: set[int] = {1}
        self.repos: dict[str, FakeRepo] = {}
        self.pulls: dict[tuple[str, int], FakePull] = {}
        self.review_comments: dict[int, dict[str, Any]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.permissions: dict[tuple[str, str], str] = {}
        self.reactions: dict[int, list[dict[str, Any]]] = {}
        self.resolved_threads: set[int] = set()
        self.issued_tokens: dict[str, tuple[int, float]] = {}
        # the scope each token was issued with; a token without an entry may do everything
        self.token_scopes: dict[str, TokenScope] = {}
        self.granted: dict[str, str] = dict(DEFAULT_GRANTED)
        self.manifests = ManifestFlow(
            clock=clock,
            check_permissions=functools.partial(
                self.spec.validate_schema, "app-permissions", prefix="default_permissions"
            ),
        )
        self.hook_url = "https://example.com/webhook"
        # the App's webhook deliveries, newest first, as GET /app/hook/deliveries lists them
        self.hook_deliveries: list[dict[str, Any]] = []
        self._download_tokens: dict[str, str] = {}
        self._faults: list[Fault] = []
        self.web = GitHubWeb(clock=clock)
        self.teams: dict[tuple[str, str], dict[str, str]] = {}
        self.sarif_uploads: list[dict[str, Any]] = []
        self._ids = itertools.count(1001)
        self._handlers = self._handler_table()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)

    @classmethod
    @asynccontextmanager
    async def running(cls, **kwargs: Any) -> AsyncIterator[FakeGitHub]:
        """Serve a new fake on 127.0.0.1 (a free port) for the duration of the block."""
        gh = cls(**kwargs)
        runner = web.AppRunner(gh.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        gh.base_url = f"http://127.0.0.1:{port}"
        try:
            yield gh
        finally:
            await runner.cleanup()

    # ----- scripting -------------------------------------------------------------------

    @property
    def invalid_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if not r.valid]

    def requests_for(self, operation_id: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.operation_id == operation_id]

    def add_repo(self, full_name: str, *, default_branch: str = "main") -> FakeRepo:
        return self.repos.setdefault(full_name, FakeRepo(full_name, default_branch))

    def add_commit(
        self,
        repo: str,
        files: Mapping[str, bytes | str],
        *,
        sha: str | None = None,
        branch: str | None = None,
    ) -> str:
        """Store a commit's files; returns its SHA (derived from the files when not given)."""
        data = {p: v.encode() if isinstance(v, str) else v for p, v in files.items()}
        if sha is None:
            digest = hashlib.sha1(repr(sorted(data.items())).encode() + repo.encode())
            sha = digest.hexdigest()
        r = self.add_repo(repo)
        r.commits[sha] = data
        if branch is not None:
            r.branches[branch] = sha
        return sha

    def set_tarball(self, repo: str, sha: str, archive: bytes) -> None:
        """Serve ``archive`` verbatim as the tarball of ``sha`` (for hostile archives)."""
        self.add_repo(repo).tarballs[sha] = archive

    def add_pull(
        self,
        repo: str,
        number: int,
        *,
        diff: str,
        head_sha: str,
        base_sha: str,
        base_ref: str = "main",
        head_ref: str = "feature",
        title: str = "A change",
        body: str | None = None,
        user: str = "octocat",
        draft: bool = False,
        diff_too_large: bool = False,
    ) -> FakePull:
        self.add_repo(repo)
        earlier = self.pulls.get((repo, number))
        pull = FakePull(
            repo=repo,
            number=number,
            head_sha=head_sha,
            base_sha=base_sha,
            base_ref=base_ref,
            head_ref=head_ref,
            title=title,
            body=body,
            user=user,
            draft=draft,
            diff_text=diff,
            diff=hunks.read(diff),
            diff_too_large=diff_too_large,
        )
        if earlier is not None:  # a push: the PR keeps its conversation and reviews
            pull.reviews, pull.issue_comments = earlier.reviews, earlier.issue_comments
        self.pulls[(repo, number)] = pull
        return pull

    def set_permission(self, repo: str, username: str, permission: str) -> None:
        self.permissions[(repo, username)] = permission

    def add_team_member(self, org: str, team_slug: str, login: str, state: str = "active") -> None:
        self.teams.setdefault((org.lower(), team_slug.lower()), {})[login.lower()] = state

    def set_compare(self, repo: str, base: str, head: str, diff: str) -> None:
        self.add_repo(repo).compares[(base, head)] = diff

    def add_reaction(self, comment_id: int, content: str, *, user: str = "octocat") -> None:
        self.reactions.setdefault(comment_id, []).append(self._reaction(content, user))

    def add_reply(self, comment_id: int, body: str, *, user: str = "octocat") -> dict[str, Any]:
        """A reply in the thread of review comment ``comment_id``."""
        root = self.review_comments[comment_id]
        pull = self._pull(root["_repo"], root["_number"])
        reply = {k: root[k] for k in ("path", "line", "side")} | {"body": body}
        stored = self._store_comment(
            pull, reply, commit_id=root["commit_id"], review_id=next(self._ids)
        )
        stored["in_reply_to_id"] = comment_id
        stored["user"] = self._user(user)
        return self._public(stored)

    def resolve_thread(self, comment_id: int) -> None:
        """Mark the review thread that starts with comment ``comment_id`` resolved."""
        self.resolved_threads.add(comment_id)

    def add_review_comment(
        self,
        repo: str,
        number: int,
        *,
        path: str,
        line: int,
        body: str,
        side: str = "RIGHT",
        user: str | None = None,
    ) -> dict[str, Any]:
        """Put a comment on the PR as if it had been posted earlier (by ``user`` or the bot)."""
        pull = self._pull(repo, number)
        comment = {"path": path, "line": line, "side": side, "body": body}
        stored = self._store_comment(
            pull, comment, commit_id=pull.head_sha, review_id=next(self._ids)
        )
        if user is not None:
            stored["user"] = self._user(user)
        return self._public(stored)

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of serving them."""
        self._faults.append(
            Fault(method.upper(), re.compile(path_regex), status, times, dict(headers or {}), body)
        )

    def reviews_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        return self._pull(repo, number).reviews

    def comments_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        return [
            c
            for c in self.review_comments.values()
            if c["_repo"] == repo and c["_number"] == number
        ]

    # ----- the request pipeline ----------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.path.startswith(CODELOAD_PREFIX):
            return self._codeload(request)
        if ManifestFlow.handles(request.path):
            return await self.manifests.new_app(request)
        if request.path == GRAPHQL_PATH:
            return await self._graphql(request)
        if request.path in WEB_PATHS:
            return await self.web.handle(request)
        raw = await request.read()
        body, parse_error = _parse_body(raw)
        match = self.spec.match(request.method, request.path)
        query = {k: v for k, v in request.query.items()}
        errors: list[str] = []
        if match is None:
            errors.append(f"no operation {request.method} {request.path}")
        elif parse_error is None:
            op = match.operation
            errors.extend(self.spec.validate_query(op, query))
            if op.body_schema is not None and (body is not None or op.body_required):
                errors.extend(self.spec.validate_body(op, {} if body is None else body))
        else:
            errors.append(parse_error)
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=query,
                headers={k.lower(): v for k, v in request.headers.items()},
                json=body,
                operation_id=match.operation.operation_id if match else None,
                valid=not errors,
                errors=tuple(errors),
            )
        )
        fault = self._take_fault(request.method, request.path)
        if fault is not None:
            return self._fault_response(fault)
        if match is None:
            return error_response(404, "Not Found")
        doc = match.operation.documentation_url or DOCS
        unversioned = version_error(request.headers)
        if unversioned is not None:
            return error_response(400, unversioned, documentation_url=doc)
        auth = self._auth_error(match, request.headers.get("Authorization", ""))
        if auth is not None:
            status = 403 if auth == INTEGRATION_REFUSED else 401
            return error_response(status, auth, documentation_url=DOCS)
        refused = self._scope_refusal(match, request)
        if refused is not None:
            return refused
        if parse_error is not None:
            return error_response(400, parse_error, documentation_url=doc)
        if errors:
            message = "Invalid request.\n\n" + "\n".join(errors)
            return error_response(422, message, documentation_url=doc)
        handler = self._handlers.get(match.operation.operation_id)
        if handler is None:
            message = f"the fake GitHub does not implement {match.operation.operation_id}"
            return error_response(501, message)
        try:
            response = await handler(_Ctx(request, match, query, body))
        except _Answer as answer:
            response = answer.response
        for key, value in self._rate_headers().items():
            response.headers.setdefault(key, value)
        return response

    async def _graphql(self, request: web.Request) -> web.Response:
        """POST /graphql: only the review-threads query, with exactly its variables."""
        body, parse_error = _parse_body(await request.read())
        errors: list[str] = []
        if request.method != "POST":
            errors.append(f"{request.method} {GRAPHQL_PATH} is not allowed")
        elif parse_error is not None or not isinstance(body, dict):
            errors.append(parse_error or "the body must be a JSON object")
        elif re.sub(r"\s+", " ", str(body.get("query", ""))).strip() != REVIEW_THREADS_SHAPE:
            errors.append("the fake GitHub answers only the review-threads query")
        else:
            errors.extend(_thread_variable_errors(body.get("variables")))
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                json=body,
                operation_id="graphql",
                valid=not errors,
                errors=tuple(errors),
            )
        )
        unversioned = version_error(request.headers)
        if unversioned is not None:
            return error_response(400, unversioned)
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        issued = self.issued_tokens.get(credential.strip())
        if scheme.lower() not in ("token", "bearer") or issued is None or issued[1] <= self.clock():
            return _json({"message": "Bad credentials", "documentation_url": DOCS}, 401)
        if errors:
            return _json({"errors": [{"message": e} for e in errors]})
        variables = body["variables"]
        scope = self.token_scopes.get(credential.strip())
        if scope is not None:
            repo = f"{variables['owner']}/{variables['name']}"
            if scope.refuses(repo, "pulls/list-review-threads", "GET") is not None:
                message = f"Could not resolve to a Repository with the name '{repo}'."
                return _json({"data": {"repository": None}, "errors": [{"message": message}]})
        pull = self.pulls.get((f"{variables['owner']}/{variables['name']}", variables["number"]))
        if pull is None:
            message = "Could not resolve to a PullRequest with that number."
            return _json({"data": {"repository": None}, "errors": [{"message": message}]})
        comments = self.comments_on(pull.repo, pull.number)
        threads: dict[int, list[int]] = {}
        for c in comments:
            root = c.get("in_reply_to_id") or c["id"]
            threads.setdefault(root, []).append(c["id"])
        start = int(variables.get("cursor") or 0)
        roots = sorted(threads)[start : start + 100]
        more = start + 100 < len(threads)
        nodes = [
            {
                "isResolved": root in self.resolved_threads,
                "comments": {"nodes": [{"fullDatabaseId": str(i)} for i in threads[root]]},
            }
            for root in roots
        ]
        page = {"hasNextPage": more, "endCursor": str(start + 100) if more else None}
        data = {"pullRequest": {"reviewThreads": {"pageInfo": page, "nodes": nodes}}}
        return _json({"data": {"repository": data}})

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": str(int(self.clock()) + 3600),
            "x-ratelimit-resource": "core",
        }

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method == method and fault.pattern.search(path):
                fault.remaining -= 1
                return fault
        return None

    def _fault_response(self, fault: Fault) -> web.Response:
        if isinstance(fault.body, bytes):
            return web.Response(status=fault.status, body=fault.body, headers=dict(fault.headers))
        if fault.body is not None:
            return _json(fault.body, fault.status, fault.headers)
        if fault.status in (403, 429):
            message = SECONDARY_RATE_LIMIT_MESSAGE
        elif fault.status >= 500:
            message = "Server Error"
        else:
            message = "Fault"
        return error_response(fault.status, message, headers=fault.headers)

    def _auth_error(self, match: Match, header: str) -> str | None:
        scheme, _, credential = header.partition(" ")
        template = match.operation.template
        if template.startswith("/app-manifests/"):
            return None
        if (
            template == "/app"
            or template.startswith("/app/")
            or (match.operation.operation_id in JWT_OPERATIONS)
        ):
            if scheme.lower() != "bearer" or not credential:
                return "A JSON web token could not be decoded"
            return self._jwt_error(credential.strip())
        if scheme.lower() not in ("token", "bearer"):
            return "Requires authentication" if not header else "Bad credentials"
        if match.operation.operation_id in USER_OPERATIONS:
            if credential.strip() in self.web.user_tokens:
                return None
            if credential.strip() in self.issued_tokens:
                return INTEGRATION_REFUSED
            return "Bad credentials"
        issued = self.issued_tokens.get(credential.strip())
        if issued is None or issued[1] <= self.clock():
            return "Bad credentials"
        return None

    def _scope_refusal(self, match: Match, request: web.Request) -> web.Response | None:
        """403/404 when a narrowed installation token reaches past its scope."""
        credential = request.headers.get("Authorization", "").partition(" ")[2].strip()
        scope = self.token_scopes.get(credential)
        if scope is None:
            return None
        params = match.path_params
        repo = f"{params['owner']}/{params['repo']}" if "owner" in params else None
        return scope.refuses(repo, match.operation.operation_id, request.method)

    def _jwt_error(self, token: str) -> str | None:
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=60,
            )
        except jwt.ExpiredSignatureError:
            return EXPIRED_JWT_MESSAGE
        except jwt.PyJWTError:
            return "A JSON web token could not be decoded"
        if str(claims["iss"]) != self.app_id:
            return "Integration not found"
        if float(claims["exp"]) > self.clock() + MAX_JWT_LIFETIME + 60:
            return "'Expiration time' claim ('exp') is too far in the future"
        return None

    # ----- helpers -------------------------------------------------------------------------

    def _example(self, name: str) -> dict[str, Any]:
        value = self._examples[name]["value"]
        return copy.deepcopy(value[0] if isinstance(value, list) else value)

    def _user(self, login: str) -> dict[str, Any]:
        user = self._example("pull-request-review-comment")["user"]
        bot = login.endswith("[bot]")
        user.update(
            login=login,
            id=int(hashlib.sha1(login.encode()).hexdigest()[:6], 16),
            type="Bot" if bot else "User",
            url=f"https://api.github.com/users/{login}",
            html_url=f"https://github.com/{login}",
        )
        return user

    def _reaction(self, content: str, user: str) -> dict[str, Any]:
        reaction = self._example("reaction")
        reaction.update(
            id=next(self._ids),
            content=content,
            user=self._user(user),
            created_at=_iso(self.clock()),
        )
        return reaction

    def _repo(self, ctx: _Ctx) -> FakeRepo:
        repo = self.repos.get(ctx.repo_name)
        if repo is None:
            raise _not_found(ctx.match.operation.documentation_url)
        return repo

    def _pull(self, repo: str, number: int) -> FakePull:
        pull = self.pulls.get((repo, number))
        if pull is None:
            raise _not_found()
        return pull

    def _ctx_pull(self, ctx: _Ctx) -> FakePull:
        self._repo(ctx)
        return self._pull(ctx.repo_name, ctx.int_param("pull_number"))

    def _resolve_ref(self, repo: FakeRepo, ref: str | None) -> str | None:
        ref = ref or repo.default_branch
        for prefix in ("refs/heads/", "heads/", "refs/tags/", "tags/"):
            ref = ref.removeprefix(prefix)
        if ref in repo.commits:
            return ref
        if ref in repo.branches:
            return repo.branches[ref]
        matches = [sha for sha in repo.commits if len(ref) >= 7 and sha.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def _paginate(self, ctx: _Ctx, items: Sequence[Any], *, key: str | None = None) -> web.Response:
        per_page = min(int(ctx.query.get("per_page", "30")), 100)
        page = max(int(ctx.query.get("page", "1")), 1)
        per_page = max(per_page, 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = list(items[(page - 1) * per_page : page * per_page])
        url = URL(self.base_url).with_path(ctx.request.path)
        links = []
        for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if 1 <= number <= last and number != page:
                target = url.with_query({**ctx.query, "page": str(number)})
                links.append(f'<{target}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        data: Any = {"total_count": len(items), key: chunk} if key else chunk
        return _json(data, headers=headers)

    # ----- handlers ------------------------------------------------------------------------

    def _handler_table(self) -> dict[str, Handler]:
        return {
            "apps/get-authenticated": self._get_app,
            "apps/create-installation-access-token": self._create_token,
            "apps/get-repo-installation": self._get_repo_installation,
            "apps/create-from-manifest": self._create_from_manifest,
            "apps/list-installations": self._list_installations,
            "apps/get-webhook-config-for-app": self._hook_config,
            "apps/list-webhook-deliveries": self._hook_deliveries,
            "rate-limit/get": self._rate_limit,
            "repos/get": self._get_repo,
            "repos/get-content": self._get_content,
            "repos/download-tarball-archive": self._tarball,
            "repos/compare-commits": self._compare,
            "repos/get-collaborator-permission-level": self._permission,
            "pulls/get": self._get_pull,
            "pulls/list-files": self._list_files,
            "pulls/list-commits": self._list_commits,
            "pulls/list-reviews": self._list_reviews,
            "pulls/create-review": self._create_review,
            "pulls/get-review": self._get_review,
            "pulls/list-review-comments": self._list_review_comments,
            "pulls/create-review-comment": self._create_review_comment,
            "pulls/update-review-comment": self._update_review_comment,
            "pulls/delete-review-comment": self._delete_review_comment,
            "reactions/list-for-pull-request-review-comment": self._list_reactions,
            "reactions/create-for-pull-request-review-comment": self._create_reaction,
            "checks/create": self._create_check_run,
            "checks/update": self._update_check_run,
            "checks/list-for-ref": self._list_check_runs,
            "issues/list-comments": self._list_issue_comments,
            "issues/create-comment": self._create_issue_comment,
            "issues/update-comment": self._update_issue_comment,
            "issues/delete-comment": self._delete_issue_comment,
            "reactions/list-for-issue-comment": self._list_issue_comment_reactions,
            "reactions/create-for-issue-comment": self._create_issue_comment_reaction,
            "repos/list-pull-requests-associated-with-commit": self._pulls_of_commit,
            "checks/list-annotations": self._list_annotations,
            "users/get-authenticated": self._get_authenticated_user,
            "teams/get-membership-for-user-in-org": self._team_membership,
            "code-scanning/upload-sarif": self._upload_sarif,
        }

    async def _get_app(self, ctx: _Ctx) -> web.Response:
        app = self._example("integration")
        app.update(id=int(self.app_id), slug=self.bot_login.removesuffix("[bot]"))
        return _json(app)

    async def _create_token(self, ctx: _Ctx) -> web.Response:
        installation_id = ctx.int_param("installation_id")
        if installation_id not in self.installations:
            raise _not_found(ctx.match.operation.documentation_url)
        scope = token_scope(ctx.body, set(self.repos), self.granted)
        if isinstance(scope, web.Response):
            raise _Answer(scope)
        token = "ghs_" + secrets.token_urlsafe(27)
        expires = self.clock() + self.token_ttl
        self.issued_tokens[token] = (installation_id, expires)
        self.token_scopes[token] = scope
        data = self._example("installation-token")
        data.update(token=token, expires_at=_iso(expires))
        data.pop("repositories", None)
        return _json(data, 201)

    async def _create_from_manifest(self, ctx: _Ctx) -> web.Response:
        app = self.manifests.convert(ctx.param("code"))
        if app is None:
            raise _not_found(ctx.match.operation.documentation_url)
        # from now on this fake is that App: its JWTs are the ones accepted
        self.app_id = str(app.id)
        self._public_key = app.public_key
        self.bot_login = f"{app.slug}[bot]"
        self.hook_url = str((app.manifest.get("hook_attributes") or {}).get("url", ""))
        self.granted = {"metadata": "read", **(app.manifest.get("default_permissions") or {})}
        return _json(conversion_json(app, self._example("integration-from-manifest")), 201)

    def add_hook_delivery(
        self, status_code: int, *, event: str = "pull_request", action: str = "opened"
    ) -> None:
        """Record that GitHub delivered a webhook and the App's server answered ``status_code``."""
        delivery = self._example("hook-delivery-items")
        delivery.update(
            id=next(self._ids),
            delivered_at=_iso(self.clock()),
            status="OK" if status_code < 300 else f"Invalid HTTP Response: {status_code}",
            status_code=status_code,
            event=event,
            action=action,
            installation_id=min(self.installations),
            redelivery=False,
            throttled_at=None,
        )
        self.hook_deliveries.insert(0, delivery)

    async def _hook_config(self, ctx: _Ctx) -> web.Response:
        config = self._example("webhook-config")
        config.update(url=self.hook_url)
        return _json(config)

    async def _hook_deliveries(self, ctx: _Ctx) -> web.Response:
        per_page = min(int(ctx.query.get("per_page", "30")), 100)
        return _json(self.hook_deliveries[:per_page])

    async def _list_installations(self, ctx: _Ctx) -> web.Response:
        items = []
        for installation_id in sorted(self.installations):
            data = self._example("base-installation-items")
            data.update(id=installation_id, app_id=int(self.app_id))
            items.append(data)
        return self._paginate(ctx, items)

    async def _get_repo_installation(self, ctx: _Ctx) -> web.Response:
        self._repo(ctx)
        data = self._example("installation")
        data.update(id=min(self.installations), app_id=int(self.app_id))
        return _json(data)

    async def _rate_limit(self, ctx: _Ctx) -> web.Response:
        return _json(self._example("rate-limit-overview"))

    async def _get_repo(self, ctx: _Ctx) -> web.Response:
        repo = self._repo(ctx)
        data = self._example("full-repository-default-response")
        owner, name = repo.full_name.split("/")
        data.update(name=name, full_name=repo.full_name, default_branch=repo.default_branch)
        data["owner"]["login"] = owner
        return _json(data)

    async def _get_content(self, ctx: _Ctx) -> web.Response:
        repo = self._repo(ctx)
        sha = self._resolve_ref(repo, ctx.query.get("ref"))
        path = ctx.param("path").strip("/")
        files = repo.commits.get(sha or "", {})
        doc = ctx.match.operation.documentation_url
        if path not in files:
            raise _not_found(doc)
        content = files[path]
        # GitHub inlines files up to 1 MB; a larger one comes with an empty content and
        # encoding "none" (its bytes need the raw media type).
        inline = len(content) <= CONTENTS_INLINE_LIMIT
        data = self._example("content-file-response-if-content-is-a-file")
        data.update(
            name=path.rsplit("/", 1)[-1],
            path=path,
            sha=hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest(),
            size=len(content),
            content=base64.encodebytes(content).decode() if inline else "",
            encoding="base64" if inline else "none",
        )
        return _json(data)

    async def _tarball(self, ctx: _Ctx) -> web.Response:
        repo = self._repo(ctx)
        sha = self._resolve_ref(repo, ctx.param("ref"))
        if sha is None:
            raise _not_found(ctx.match.operation.documentation_url)
        token = secrets.token_urlsafe(16)
        self._download_tokens[token] = f"{repo.full_name}@{sha}"
        location = f"{self.base_url}{CODELOAD_PREFIX}{repo.full_name}/legacy.tar.gz/{sha}"
        return web.Response(status=302, headers={"Location": f"{location}?token={token}"})

    def _codeload(self, request: web.Request) -> web.Response:
        self.downloads.append(request.path)
        rest = request.path.removeprefix(CODELOAD_PREFIX)
        m = re.fullmatch(r"([^/]+)/([^/]+)/legacy\.tar\.gz/([0-9a-f]+)", rest)
        token = request.query.get("token", "")
        if m is None or token not in self._download_tokens:
            return web.Response(status=404, text="404: Not Found")
        full_name, sha = f"{m.group(1)}/{m.group(2)}", m.group(3)
        if self._download_tokens[token] != f"{full_name}@{sha}":
            return web.Response(status=404, text="404: Not Found")
        repo = self.repos[full_name]
        archive = repo.tarballs.get(sha)
        if archive is None:
            prefix = f"{m.group(1)}-{m.group(2)}-{sha[:7]}"
            archive = build_tarball(prefix, repo.commits.get(sha, {}), comment=sha)
        return web.Response(
            body=archive,
            content_type="application/x-gzip",
            headers={"Content-Disposition": f"attachment; filename={m.group(2)}-{sha[:7]}.tar.gz"},
        )

    async def _compare(self, ctx: _Ctx) -> web.Response:
        repo = self._repo(ctx)
        diff = repo.compares.get((ctx.param("base"), ctx.param("head")))
        if diff is None:
            raise _not_found(ctx.match.operation.documentation_url)
        if ctx.wants_diff:
            return web.Response(body=diff.encode(), content_type=DIFF_MEDIA_TYPE, charset="utf-8")
        data = self._example("commit-comparison")
        data["files"] = [self._file_entry(f) for f in hunks.read(diff)]
        return _json(data)

    async def _permission(self, ctx: _Ctx) -> web.Response:
        self._repo(ctx)
        username = ctx.param("username")
        permission = self.permissions.get((ctx.repo_name, username), "none")
        data = self._example(
            "repository-collaborator-permission-response-if-user-has-admin-permissions"
        )
        data.update(permission=permission, role_name=permission, user=self._user(username))
        return _json(data)

    def _pull_json(self, pull: FakePull) -> dict[str, Any]:
        data = self._example("pull-request")
        api = f"https://api.github.com/repos/{pull.repo}"
        data.update(
            id=10_000 + pull.number,
            number=pull.number,
            url=f"{api}/pulls/{pull.number}",
            html_url=f"https://github.com/{pull.repo}/pull/{pull.number}",
            state="open",
            title=pull.title,
            body=pull.body,
            user=self._user(pull.user),
            draft=pull.draft,
            changed_files=len(pull.diff),
            additions=pull.diff.additions,
            deletions=pull.diff.deletions,
        )
        data["head"].update(sha=pull.head_sha, ref=pull.head_ref, label=f"x:{pull.head_ref}")
        data["base"].update(sha=pull.base_sha, ref=pull.base_ref, label=f"x:{pull.base_ref}")
        for side in ("head", "base"):
            data[side]["repo"].update(full_name=pull.repo, name=pull.repo.split("/")[1])
        return data

    async def _get_pull(self, ctx: _Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        if ctx.wants_diff:
            if pull.diff_too_large:
                return error_response(
                    406,
                    TOO_LARGE_MESSAGE,
                    errors=[{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
                    documentation_url="https://docs.github.com/rest/pulls/pulls#list-pull-requests-files",
                )
            return web.Response(
                body=pull.diff_text.encode("utf-8", "surrogateescape"),
                content_type=DIFF_MEDIA_TYPE,
                charset="utf-8",
            )
        return _json(self._pull_json(pull))

    def _file_entry(self, f: hunks.File) -> dict[str, Any]:
        additions, deletions, status = f.additions, f.deletions, f.status
        entry: dict[str, Any] = {
            "sha": hashlib.sha1(f.patch.encode("utf-8", "surrogatepass")).hexdigest(),
            "filename": f.path,
            "status": status,
            "additions": additions,
            "deletions": deletions,
            "changes": additions + deletions,
            "blob_url": f"https://github.com/x/y/blob/0/{f.path}",
            "raw_url": f"https://github.com/x/y/raw/0/{f.path}",
            "contents_url": f"https://api.github.com/repos/x/y/contents/{f.path}",
        }
        patch = file_patch(f)
        if patch is not None:
            entry["patch"] = patch
        if f.status == "renamed" and f.old_path:
            entry["previous_filename"] = f.old_path
        return entry

    async def _list_files(self, ctx: _Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        return self._paginate(ctx, [self._file_entry(f) for f in pull.diff])

    async def _list_commits(self, ctx: _Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        commits = []
        for message in pull.commit_messages or [None]:
            commit = self._example("commit-items")
            commit.update(sha=pull.head_sha)
            if message is not None:
                commit["commit"] = {**commit["commit"], "message": message}
            commits.append(commit)
        return self._paginate(ctx, commits)

    async def _list_reviews(self, ctx: _Ctx) -> web.Response:
        return self._paginate(ctx, self._ctx_pull(ctx).reviews)

    async def _get_review(self, ctx: _Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        for review in pull.reviews:
            if review["id"] == ctx.int_param("review_id"):
                return _json(review)
        raise _not_found()

    def _unprocessable(self, ctx: _Ctx, errors: list[str]) -> _Answer:
        doc = ctx.match.operation.documentation_url
        return _Answer(
            error_response(422, "Unprocessable Entity", errors=errors, documentation_url=doc)
        )

    async def _create_review(self, ctx: _Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        body: Mapping[str, Any] = ctx.body or {}
        comments: list[Mapping[str, Any]] = list(body.get("comments", []))
        event = body.get("event")
        if event in ("REQUEST_CHANGES", "COMMENT") and not body.get("body") and not comments:
            raise self._unprocessable(ctx, ["Body can't be blank"])
        if event in ("APPROVE", "REQUEST_CHANGES") and pull.user == self.bot_login:
            raise self._unprocessable(ctx, ["Can not approve your own pull request"])
        problems = [e for e in (anchor_error(pull.diff, c) for c in comments) if e]
        if problems:
            raise self._unprocessable(ctx, sorted(set(problems)))
        state = {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
        }
        review = self._example("pull-request-review")
        review_id = next(self._ids)
        commit_id = body.get("commit_id", pull.head_sha)
        review.update(
            id=review_id,
            node_id=f"PRR_{review_id}",
            user=self._user(self.bot_login),
            body=body.get("body", ""),
            state=state.get(str(event), "PENDING"),
            commit_id=commit_id,
            html_url=f"https://github.com/{pull.repo}/pull/{pull.number}#pullrequestreview-{review_id}",
            pull_request_url=f"https://api.github.com/repos/{pull.repo}/pulls/{pull.number}",
            submitted_at=_iso(self.clock()),
            author_association="NONE",
        )
        pull.reviews.append(review)
        for comment in comments:
            self._store_comment(pull, comment, commit_id=commit_id, review_id=review_id)
        return _json(review)

    def _store_comment(
        self, pull: FakePull, comment: Mapping[str, Any], *, commit_id: str, review_id: int
    ) -> dict[str, Any]:
        stored = self._example("pull-request-review-comment")
        comment_id = next(self._ids)
        f = pull.diff.file(str(comment["path"]))
        hunk_header = ""
        if f is not None and f.hunks:
            index = f.hunk_of(int(comment.get("line", 0)), str(comment.get("side", "RIGHT")))
            hunk_header = f.hunks[index or 0].header
        now = _iso(self.clock())
        stored.update(
            id=comment_id,
            node_id=f"PRRC_{comment_id}",
            pull_request_review_id=review_id,
            url=f"https://api.github.com/repos/{pull.repo}/pulls/comments/{comment_id}",
            html_url=f"https://github.com/{pull.repo}/pull/{pull.number}#discussion_r{comment_id}",
            path=comment["path"],
            body=comment["body"],
            line=comment.get("line"),
            original_line=comment.get("line"),
            side=comment.get("side", "RIGHT"),
            start_line=comment.get("start_line"),
            original_start_line=comment.get("start_line"),
            start_side=comment.get("start_side", comment.get("side", "RIGHT"))
            if comment.get("start_line") is not None
            else None,
            position=comment.get("position", 1),
            commit_id=commit_id,
            original_commit_id=commit_id,
            diff_hunk=hunk_header,
            user=self._user(self.bot_login),
            created_at=now,
            updated_at=now,
            author_association="NONE",
        )
        stored.pop("in_reply_to_id", None)
        stored["_repo"] = pull.repo
        stored["_number"] = pull.number
        self.review_comments[comment_id] = stored
        return stored

    @staticmethod
    def _public(comment: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in comment.items() if not k.startswith("_")}

    async def _list_review_comments(self, ctx: _Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        items = [self._public(c) for c in self.comments_on(pull.repo, pull.number)]
        return self._paginate(ctx, items)

    async def _create_review_comment(self, ctx: _Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        body: Mapping[str, Any] = ctx.body
        if "in_reply_to" not in body:
            missing = [k for k in ("commit_id", "path") if k not in body]
            if missing:
                message = "Invalid request.\n\n" + "\n".join(
                    f'"{k}" wasn\'t supplied.' for k in missing
                )
                return error_response(
                    422, message, documentation_url=ctx.match.operation.documentation_url
                )
            problem = anchor_error(pull.diff, body)
            if problem:
                error = {
                    "resource": "PullRequestReviewComment",
                    "code": "custom",
                    "field": "pull_request_review_thread.line",
                    "message": "pull_request_review_thread.line must be part of the diff"
                    if problem == "Line could not be resolved"
                    else problem,
                }
                return error_response(
                    422,
                    "Validation Failed",
                    errors=[error],
                    documentation_url=ctx.match.operation.documentation_url,
                )
        stored = self._store_comment(
            pull, body, commit_id=body.get("commit_id", pull.head_sha), review_id=next(self._ids)
        )
        return _json(self._public(stored), 201)

    def _comment(self, ctx: _Ctx) -> dict[str, Any]:
        self._repo(ctx)
        comment = self.review_comments.get(ctx.int_param("comment_id"))
        if comment is None or comment["_repo"] != ctx.repo_name:
            raise _not_found(ctx.match.operation.documentation_url)
        return comment

    async def _update_review_comment(self, ctx: _Ctx) -> web.Response:
        comment = self._comment(ctx)
        comment.update(body=ctx.body["body"], updated_at=_iso(self.clock()))
        return _json(self._public(comment))

    async def _delete_review_comment(self, ctx: _Ctx) -> web.Response:
        comment = self._comment(ctx)
        del self.review_comments[comment["id"]]
        return web.Response(status=204)

    async def _list_reactions(self, ctx: _Ctx) -> web.Response:
        comment = self._comment(ctx)
        items = self.reactions.get(comment["id"], [])
        if "content" in ctx.query:
            items = [r for r in items if r["content"] == ctx.query["content"]]
        return self._paginate(ctx, items)

    async def _create_reaction(self, ctx: _Ctx) -> web.Response:
        comment = self._comment(ctx)
        reaction = self._reaction(ctx.body["content"], self.bot_login)
        self.reactions.setdefault(comment["id"], []).append(reaction)
        return _json(reaction, 201)

    def _check_run_json(self, run: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in run.items() if not k.startswith("_")}

    async def _create_check_run(self, ctx: _Ctx) -> web.Response:
        self._repo(ctx)
        body: Mapping[str, Any] = ctx.body
        run = self._example("check-run")
        run_id = next(self._ids)
        now = _iso(self.clock())
        status = "completed" if body.get("conclusion") else body.get("status", "queued")
        run.update(
            id=run_id,
            node_id=f"CR_{run_id}",
            head_sha=body["head_sha"],
            name=body["name"],
            external_id=body.get("external_id", ""),
            status=status,
            conclusion=body.get("conclusion"),
            started_at=body.get("started_at", now),
            completed_at=now if status == "completed" else None,
            url=f"https://api.github.com/repos/{ctx.repo_name}/check-runs/{run_id}",
            html_url=f"https://github.com/{ctx.repo_name}/runs/{run_id}",
            output={**run.get("output", {}), **body.get("output", {})},
            _repo=ctx.repo_name,
            _annotations=[],
        )
        self._append_annotations(run, body.get("output"))
        run["app"]["id"] = int(self.app_id)
        self.check_runs[run_id] = run
        return _json(self._check_run_json(run), 201)

    async def _update_check_run(self, ctx: _Ctx) -> web.Response:
        self._repo(ctx)
        run = self.check_runs.get(ctx.int_param("check_run_id"))
        if run is None or run["_repo"] != ctx.repo_name:
            raise _not_found(ctx.match.operation.documentation_url)
        body: Mapping[str, Any] = ctx.body
        for key in ("name", "status", "conclusion", "external_id", "details_url"):
            if key in body:
                run[key] = body[key]
        if "output" in body:
            run["output"] = {**run.get("output", {}), **body["output"]}
            self._append_annotations(run, body["output"])
        if body.get("conclusion"):
            run["status"] = "completed"
            run["completed_at"] = _iso(self.clock())
        return _json(self._check_run_json(run))

    @staticmethod
    def _append_annotations(run: dict[str, Any], output: Mapping[str, Any] | None) -> None:
        """GitHub appends each request's annotations (at most 50) to the run's list."""
        added = list((output or {}).get("annotations") or [])
        run["_annotations"].extend(added)
        output_state = run.setdefault("output", {})
        output_state.pop("annotations", None)
        output_state["annotations_count"] = len(run["_annotations"])

    def annotations(self, check_run_id: int) -> list[dict[str, Any]]:
        """Every annotation a check run received, in order, as it was sent."""
        return list(self.check_runs[check_run_id]["_annotations"])

    async def _list_annotations(self, ctx: _Ctx) -> web.Response:
        self._repo(ctx)
        run = self.check_runs.get(ctx.int_param("check_run_id"))
        if run is None or run["_repo"] != ctx.repo_name:
            raise _not_found(ctx.match.operation.documentation_url)
        keys = ("start_column", "end_column", "annotation_level", "title", "message")
        items = [
            {
                "path": a["path"],
                "blob_href": f"https://github.com/{ctx.repo_name}/blob/{run['head_sha']}/{a['path']}",
                "start_line": a["start_line"],
                "end_line": a["end_line"],
                **{k: a.get(k) for k in keys},
                "raw_details": a.get("raw_details"),
            }
            for a in run["_annotations"]
        ]
        return self._paginate(ctx, items)

    async def _list_check_runs(self, ctx: _Ctx) -> web.Response:
        repo = self._repo(ctx)
        sha = self._resolve_ref(repo, ctx.param("ref")) or ctx.param("ref")
        runs = [
            self._check_run_json(r)
            for r in self.check_runs.values()
            if r["_repo"] == ctx.repo_name
            and r["head_sha"] == sha
            and r["name"] == ctx.query.get("check_name", r["name"])
            and r["status"] == ctx.query.get("status", r["status"])
        ]
        return self._paginate(ctx, runs, key="check_runs")

    async def _list_issue_comments(self, ctx: _Ctx) -> web.Response:
        self._repo(ctx)
        pull = self._pull(ctx.repo_name, ctx.int_param("issue_number"))
        return self._paginate(ctx, pull.issue_comments)

    async def _create_issue_comment(self, ctx: _Ctx) -> web.Response:
        self._repo(ctx)
        number = ctx.int_param("issue_number")
        self._pull(ctx.repo_name, number)
        comment = self.add_issue_comment(
            ctx.repo_name, number, ctx.body["body"], user=self.bot_login
        )
        return _json(comment, 201)

    def _issue_comment(self, ctx: _Ctx) -> tuple[FakePull, dict[str, Any]]:
        self._repo(ctx)
        wanted = ctx.int_param("comment_id")
        for (repo, _), pull in self.pulls.items():
            if repo != ctx.repo_name:
                continue
            for comment in pull.issue_comments:
                if comment["id"] == wanted:
                    return pull, comment
        raise _not_found(ctx.match.operation.documentation_url)

    async def _update_issue_comment(self, ctx: _Ctx) -> web.Response:
        _, comment = self._issue_comment(ctx)
        comment.update(body=ctx.body["body"], updated_at=_iso(self.clock()))
        return _json(comment)

    async def _delete_issue_comment(self, ctx: _Ctx) -> web.Response:
        pull, comment = self._issue_comment(ctx)
        pull.issue_comments.remove(comment)
        return web.Response(status=204)

    def delete_issue_comment(self, repo: str, number: int, comment_id: int) -> None:
        """Delete a PR conversation comment, as a person would in the web UI."""
        pull = self._pull(repo, number)
        pull.issue_comments[:] = [c for c in pull.issue_comments if c["id"] != comment_id]

    def add_issue_comment(
        self, repo: str, number: int, body: str, *, user: str = "octocat"
    ) -> dict[str, Any]:
        """A conversation comment on the PR written by ``user``."""
        pull = self._pull(repo, number)
        comment = self._example("issue-comment")
        comment_id = next(self._ids)
        now = _iso(self.clock())
        comment.update(
            id=comment_id,
            node_id=f"IC_{comment_id}",
            body=body,
            user=self._user(user),
            created_at=now,
            updated_at=now,
            html_url=f"https://github.com/{pull.repo}/pull/{pull.number}#issuecomment-{comment_id}",
        )
        pull.issue_comments.append(comment)
        return comment

    async def _list_issue_comment_reactions(self, ctx: _Ctx) -> web.Response:
        _, comment = self._issue_comment(ctx)
        items = self.reactions.get(comment["id"], [])
        if "content" in ctx.query:
            items = [r for r in items if r["content"] == ctx.query["content"]]
        return self._paginate(ctx, items)

    async def _create_issue_comment_reaction(self, ctx: _Ctx) -> web.Response:
        _, comment = self._issue_comment(ctx)
        mine = [
            r
            for r in self.reactions.get(comment["id"], [])
            if r["content"] == ctx.body["content"] and r["user"]["login"] == self.bot_login
        ]
        if mine:  # GitHub answers 200 with the existing reaction
            return _json(mine[0])
        reaction = self._reaction(ctx.body["content"], self.bot_login)
        self.reactions.setdefault(comment["id"], []).append(reaction)
        return _json(reaction, 201)

    async def _pulls_of_commit(self, ctx: _Ctx) -> web.Response:
        self._repo(ctx)
        sha = ctx.param("commit_sha")
        found = [
            self._pull_json(pull)
            for (repo, _), pull in sorted(self.pulls.items())
            if repo == ctx.repo_name and pull.head_sha == sha
        ]
        return self._paginate(ctx, found)

    def _token_login(self, ctx: _Ctx) -> str:
        _, _, credential = ctx.request.headers.get("Authorization", "").partition(" ")
        return self.web.user_tokens[credential.strip()]

    async def _get_authenticated_user(self, ctx: _Ctx) -> web.Response:
        return _json(self._user(self._token_login(ctx)))

    async def _team_membership(self, ctx: _Ctx) -> web.Response:
        team = self.teams.get((ctx.param("org").lower(), ctx.param("team_slug").lower()))
        username = ctx.param("username")
        if team is None or username.lower() not in team:
            raise _not_found(ctx.match.operation.documentation_url)
        org, slug = ctx.param("org"), ctx.param("team_slug")
        return _json(
            {
                "url": f"{self.base_url}/orgs/{org}/teams/{slug}/memberships/{username}",
                "role": "member",
                "state": team[username.lower()],
            }
        )

    async def _upload_sarif(self, ctx: _Ctx) -> web.Response:
        self._repo(ctx)
        doc = ctx.match.operation.documentation_url
        try:
            packed = base64.b64decode(ctx.body["sarif"], validate=True)
            if len(packed) > MAX_SARIF_BYTES:
                return error_response(413, "Payload Too Large", documentation_url=doc)
            log = json.loads(gzip.decompress(packed))
        except (ValueError, OSError, EOFError):
            return error_response(
                400, "Invalid sarif: not gzip, base64-encoded JSON", documentation_url=doc
            )
        upload_id = secrets.token_hex(16)
        self.sarif_uploads.append(
            {
                "id": upload_id,
                "repo": ctx.repo_name,
                "commit_sha": ctx.body["commit_sha"],
                "ref": ctx.body["ref"],
                "sarif": log,
            }
        )
        url = f"{self.base_url}/repos/{ctx.repo_name}/code-scanning/sarifs/{upload_id}"
        return _json({"id": upload_id, "url": url}, 202)


def _thread_variable_errors(variables: Any) -> list[str]:
    if not isinstance(variables, dict):
        return ["variables must be an object"]
    expected: dict[str, type | tuple[type, ...]] = {
        "owner": str,
        "name": str,
        "number": int,
        "cursor": (str, type(None)),
    }
    errors = [f"unexpected variable {k!r}" for k in variables if k not in expected]
    for key, kind in expected.items():
        value = variables.get(key)
        if (key != "cursor" and key not in variables) or not isinstance(value, kind):
            errors.append(f"variable {key!r} is missing or has the wrong type")
    return errors


def _parse_body(raw: bytes) -> tuple[Any, str | None]:
    if not raw.strip():
        return None, None
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError):
        return None, "Problems parsing JSON"
