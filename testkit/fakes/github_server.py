"""The fake GitHub's server core: every request matched against GitHub's OpenAPI description
and validated, recorded, then authenticated (App JWT, installation or user token, a token's
scope), scripted faults served in its place, and the answer given GitHub's rate headers.
The API areas' handlers answer what passes; ``FakeGitHub`` combines them."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import jwt
from aiohttp import web

import corpora
from testkit.fakes.github_apps import ManifestFlow, version_error
from testkit.fakes.github_http import (
    CODELOAD_PREFIX,
    DOCS,
    GRAPHQL_PATH,
    Answer,
    Ctx,
    Handler,
    error_response,
    json_response,
    parse_body,
)
from testkit.fakes.github_rules import (
    EXPIRED_JWT_MESSAGE,
    INTEGRATION_REFUSED,
    JWT_OPERATIONS,
    MAX_JWT_LIFETIME,
    SECONDARY_RATE_LIMIT_MESSAGE,
    USER_OPERATIONS,
)
from testkit.fakes.github_state import Fault, GitHubState, RecordedRequest
from testkit.fakes.github_web import WEB_PATHS
from testkit.fakes.openapi import Match, OpenAPISpec

SPEC_PATH = corpora.ROOT / "github_openapi" / "review-bot-subset.openapi.json"


@functools.lru_cache(maxsize=4)
def load_spec(path: Path = SPEC_PATH) -> OpenAPISpec:
    return OpenAPISpec.load(path)


class GitHubServer(GitHubState):
    """Dispatch, validation, authentication and faults; the handlers come from the API areas."""

    def __init__(self, *, spec_path: Path = SPEC_PATH, **kwargs: Any):
        """``kwargs`` are ``GitHubState``'s: ``app_id``, ``public_key``, ``clock``, ..."""
        super().__init__(spec=load_spec(spec_path), **kwargs)
        self._handlers = self._handler_table()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)

    @classmethod
    @asynccontextmanager
    async def running(cls, **kwargs: Any) -> AsyncIterator[Self]:
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
        body, parse_error = parse_body(raw)
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
            response = await handler(Ctx(request, match, query, body, self.base_url))
        except Answer as answer:
            response = answer.response
        for key, value in self._rate_headers().items():
            response.headers.setdefault(key, value)
        return response

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
            return json_response(fault.body, fault.status, fault.headers)
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

    def _handler_table(self) -> dict[str, Handler]:
        """The handler of each operation id the fake implements."""
        raise NotImplementedError

    def _codeload(self, request: web.Request) -> web.Response:
        """The archive behind a tarball redirect."""
        raise NotImplementedError

    async def _graphql(self, request: web.Request) -> web.Response:
        """POST /graphql."""
        raise NotImplementedError
