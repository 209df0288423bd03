"""The fake GitHub's App rules: API version, token scopes, and registering an App from a manifest.

Written from GitHub's documentation, independently of prwarden's client:

- every REST and GraphQL request must say which API version it was written for
  (``X-GitHub-Api-Version``); the fake speaks exactly the one its OpenAPI cut describes;
- an installation token may be narrowed to some repositories and permissions in the body of
  ``POST /app/installations/{id}/access_tokens``; a narrowed token gets 404 for any other
  repository and 403 ``Resource not accessible by integration`` for an operation whose
  permission it lacks; asking for more than the App was granted is a 422;
- the manifest flow: a browser POSTs a form field ``manifest`` (JSON) to
  ``/settings/apps/new`` (or ``/organizations/{org}/settings/apps/new``) with an optional
  ``state`` query; once the user confirms, GitHub redirects to the manifest's ``redirect_url``
  with ``code`` and ``state``; ``POST /app-manifests/{code}/conversions`` (no authentication)
  exchanges the code, once, within an hour, for the App's id, key, webhook secret and OAuth
  client.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from yarl import URL

from tests.helpers import generate_key_pair

API_VERSION = "2022-11-28"
VERSION_HEADER = "X-GitHub-Api-Version"
CODE_LIFETIME = 3600.0
NOT_ACCESSIBLE = "Resource not accessible by integration"
_NEW_APP_PATH = re.compile(r"^(?:/organizations/([A-Za-z0-9-]{1,39}))?/settings/apps/new$")
# What each App permission a token needs for an operation (GitHub's "Permissions required for
# GitHub Apps" pages); GET needs read, anything else write. Operations not listed need only
# metadata, which every token has.
_PERMISSION_BY_PREFIX = (
    ("pulls/", "pull_requests"),
    ("reactions/", "pull_requests"),
    ("issues/", "pull_requests"),
    ("checks/", "checks"),
    ("repos/get-content", "contents"),
    ("repos/download-tarball-archive", "contents"),
    ("repos/compare-commits", "contents"),
    ("repos/list-pull-requests-associated-with-commit", "pull_requests"),
    ("code-scanning/", "security_events"),
)
_LEVELS = {"read": 1, "write": 2, "admin": 3}
DEFAULT_GRANTED = {
    "pull_requests": "write",
    "checks": "write",
    "contents": "read",
    "issues": "read",
    "metadata": "read",
}


def version_error(headers: Mapping[str, str]) -> str | None:
    """Why GitHub would not know which API version a request wants, or None."""
    version = headers.get(VERSION_HEADER)
    if version is None:
        return f"this server speaks only API version {API_VERSION}; send {VERSION_HEADER}"
    if version != API_VERSION:
        return f"API version '{version[:40]}' is not supported."
    return None


def permission_needed(operation_id: str, method: str) -> tuple[str, str]:
    """The permission and level an installation token needs for an operation."""
    level = "read" if method in ("GET", "HEAD") else "write"
    for prefix, permission in _PERMISSION_BY_PREFIX:
        if operation_id.startswith(prefix):
            return permission, level
    return "metadata", "read"


@dataclass(frozen=True, slots=True)
class TokenScope:
    """What one issued token may touch: repository names (None: all) and permissions."""

    repositories: frozenset[str] | None
    permissions: Mapping[str, str]

    def refuses(self, repo: str | None, operation_id: str, method: str) -> web.Response | None:
        if repo is None:
            return None
        if self.repositories is not None and repo.split("/")[1] not in self.repositories:
            return _error(404, "Not Found")
        permission, level = permission_needed(operation_id, method)
        have = self.permissions.get(permission, "read" if permission == "metadata" else "")
        if _LEVELS.get(have, 0) < _LEVELS[level]:
            return _error(403, NOT_ACCESSIBLE)
        return None


def token_scope(
    body: Any, repos: set[str], granted: Mapping[str, str]
) -> TokenScope | web.Response:
    """The scope a token request asks for, or GitHub's refusal."""
    body = body if isinstance(body, dict) else {}
    names = body.get("repositories")
    repositories: frozenset[str] | None = None
    if names is not None:
        known = {full.split("/")[1] for full in repos}
        unknown = [n for n in names if n not in known]
        if unknown:
            return _error(422, f"There is at least one repository that does not exist: {unknown}")
        repositories = frozenset(names)
    asked = body.get("permissions")
    if asked is None:
        return TokenScope(repositories, dict(granted))
    for name, level in asked.items():
        if _LEVELS.get(granted.get(name, ""), 0) < _LEVELS.get(level, 99):
            return _error(422, "The permissions requested are not granted to this installation.")
    return TokenScope(repositories, {"metadata": "read", **asked})


@dataclass(slots=True)
class RegisteredApp:
    """An App created through the manifest flow, and the credentials GitHub shows once."""

    id: int
    slug: str
    manifest: dict[str, Any]
    pem: str
    public_key: str
    webhook_secret: str
    client_id: str
    client_secret: str
    owner: str


@dataclass(slots=True)
class ManifestFlow:
    """The web side of registering an App: the new-App form and its one-time codes."""

    clock: Callable[[], float] = time.time
    # what GitHub's description says of a permissions object (errors, empty when it is valid)
    check_permissions: Callable[[Any], list[str]] = lambda _: []
    apps: list[RegisteredApp] = field(default_factory=list)
    pending: dict[str, tuple[RegisteredApp, float]] = field(default_factory=dict)
    forms: list[dict[str, str]] = field(default_factory=list)

    @staticmethod
    def handles(path: str) -> bool:
        return _NEW_APP_PATH.match(path) is not None

    async def new_app(self, request: web.Request) -> web.Response:
        """POST the manifest form: the user confirms at once and is sent to ``redirect_url``."""
        match = _NEW_APP_PATH.match(request.path)
        assert match is not None
        if request.method != "POST":
            return web.Response(status=200, text="<form>Register new GitHub App</form>")
        form = await request.post()
        self.forms.append({k: str(v) for k, v in form.items()})
        try:
            manifest = json.loads(str(form.get("manifest", "")))
        except ValueError:
            return web.Response(status=422, text="Invalid GitHub App configuration: not JSON")
        problems = manifest_problems(manifest)
        if not problems and manifest.get("default_permissions") is not None:
            problems = "; ".join(self.check_permissions(manifest["default_permissions"]))
        if problems:
            return web.Response(status=422, text="Invalid GitHub App configuration: " + problems)
        app = self._register(manifest, owner=match.group(1) or "octocat")
        code = secrets.token_hex(10)
        self.pending[code] = (app, self.clock() + CODE_LIFETIME)
        query = {"code": code}
        if request.query.get("state"):
            query["state"] = request.query["state"]
        target = URL(manifest["redirect_url"]).update_query(query)
        raise web.HTTPFound(str(target))

    def convert(self, code: str) -> RegisteredApp | None:
        """The App for a code, once; None when the code is unknown, used or expired."""
        found = self.pending.pop(code, None)
        if found is None or found[1] <= self.clock():
            return None
        return found[0]

    def _register(self, manifest: dict[str, Any], *, owner: str) -> RegisteredApp:
        pem, public = generate_key_pair()
        app = RegisteredApp(
            id=100_000 + len(self.apps) + 1,
            slug=re.sub(r"[^a-z0-9-]+", "-", str(manifest["name"]).lower()).strip("-"),
            manifest=manifest,
            pem=pem,
            public_key=public,
            webhook_secret=secrets.token_hex(20),
            client_id="Iv1." + secrets.token_hex(8),
            client_secret=secrets.token_hex(20),
            owner=owner,
        )
        self.apps.append(app)
        return app


def manifest_problems(manifest: Any) -> str:
    """What GitHub would refuse in a manifest ('' when it takes it)."""
    if not isinstance(manifest, dict):
        return "the manifest must be a JSON object"
    problems = []
    if not manifest.get("url"):
        problems.append("url can't be blank")
    if not isinstance(manifest.get("name", ""), str):
        problems.append("name must be a string")
    for key in ("redirect_url", "url"):
        value = manifest.get(key)
        if value is not None and urlsplit(str(value)).scheme not in ("http", "https"):
            problems.append(f"{key} is not a valid URL")
    if not manifest.get("redirect_url"):
        problems.append("redirect_url can't be blank")
    hook = manifest.get("hook_attributes") or {}
    if hook and urlsplit(str(hook.get("url", ""))).scheme not in ("http", "https"):
        problems.append("hook_attributes.url is not a valid URL")
    return "; ".join(problems)


def conversion_json(app: RegisteredApp, example: dict[str, Any]) -> dict[str, Any]:
    """The 201 answer of ``apps/create-from-manifest``, on GitHub's own example."""
    manifest = app.manifest
    example.update(
        id=app.id,
        slug=app.slug,
        name=str(manifest.get("name") or app.slug),
        description=str(manifest.get("description") or ""),
        external_url=str(manifest.get("url")),
        html_url=f"https://github.com/apps/{app.slug}",
        permissions=dict(manifest.get("default_permissions") or {}),
        events=list(manifest.get("default_events") or []),
        client_id=app.client_id,
        client_secret=app.client_secret,
        webhook_secret=app.webhook_secret,
        pem=app.pem,
    )
    example["owner"]["login"] = app.owner
    return example


def _error(status: int, message: str) -> web.Response:
    body = {
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": str(status),
    }
    return web.json_response(body, status=status)
