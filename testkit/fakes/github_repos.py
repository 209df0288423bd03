"""The fake GitHub's repository endpoints: the repository, file contents, the tarball (a 302 to
the codeload-like host this server also serves), compare, a collaborator's permission, and
SARIF uploads to code scanning."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import secrets

from aiohttp import web

from testkit.fakes import hunks
from testkit.fakes.github_http import (
    CODELOAD_PREFIX,
    DIFF_MEDIA_TYPE,
    Ctx,
    Handler,
    error_response,
    json_response,
    not_found,
)
from testkit.fakes.github_rules import CONTENTS_INLINE_LIMIT, MAX_SARIF_BYTES, file_entry
from testkit.fakes.github_state import GitHubState, build_tarball


class RepoHandlers(GitHubState):
    """Operations on a repository and its commits."""

    def _repo_routes(self) -> dict[str, Handler]:
        return {
            "repos/get": self._get_repo,
            "repos/get-content": self._get_content,
            "repos/download-tarball-archive": self._tarball,
            "repos/compare-commits": self._compare,
            "repos/get-collaborator-permission-level": self._permission,
            "code-scanning/upload-sarif": self._upload_sarif,
        }

    async def _get_repo(self, ctx: Ctx) -> web.Response:
        repo = self._repo(ctx)
        data = self._example("full-repository-default-response")
        owner, name = repo.full_name.split("/")
        data.update(name=name, full_name=repo.full_name, default_branch=repo.default_branch)
        data["owner"]["login"] = owner
        return json_response(data)

    async def _get_content(self, ctx: Ctx) -> web.Response:
        repo = self._repo(ctx)
        sha = self._resolve_ref(repo, ctx.query.get("ref"))
        path = ctx.param("path").strip("/")
        files = repo.commits.get(sha or "", {})
        doc = ctx.match.operation.documentation_url
        if path not in files:
            raise not_found(doc)
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
        return json_response(data)

    async def _tarball(self, ctx: Ctx) -> web.Response:
        repo = self._repo(ctx)
        sha = self._resolve_ref(repo, ctx.param("ref"))
        if sha is None:
            raise not_found(ctx.match.operation.documentation_url)
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

    async def _compare(self, ctx: Ctx) -> web.Response:
        repo = self._repo(ctx)
        diff = repo.compares.get((ctx.param("base"), ctx.param("head")))
        if diff is None:
            raise not_found(ctx.match.operation.documentation_url)
        if ctx.wants_diff:
            return web.Response(body=diff.encode(), content_type=DIFF_MEDIA_TYPE, charset="utf-8")
        data = self._example("commit-comparison")
        data["files"] = [file_entry(f) for f in hunks.read(diff)]
        return json_response(data)

    async def _permission(self, ctx: Ctx) -> web.Response:
        self._repo(ctx)
        username = ctx.param("username")
        permission = self.permissions.get((ctx.repo_name, username), "none")
        data = self._example(
            "repository-collaborator-permission-response-if-user-has-admin-permissions"
        )
        data.update(permission=permission, role_name=permission, user=self._user(username))
        return json_response(data)

    async def _upload_sarif(self, ctx: Ctx) -> web.Response:
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
        return json_response({"id": upload_id, "url": url}, 202)
