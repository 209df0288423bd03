"""What the fake GitHub holds and how tests script it: repositories and their commits, pull
requests with their diff, reviews and comments, check runs, tokens, recorded requests and
scripted faults; ``add_*``, ``set_*`` and ``fail_next`` set it up, ``requests_for``,
``reviews_on`` and ``comments_on`` read it back."""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import itertools
import re
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from testkit.fakes import hunks
from testkit.fakes.github_apps import DEFAULT_GRANTED, ManifestFlow, TokenScope
from testkit.fakes.github_http import Ctx, iso, not_found
from testkit.fakes.github_web import GitHubWeb
from testkit.fakes.openapi import OpenAPISpec


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


class GitHubState:
    """The fake's state and its scripting methods; the API areas answer from it."""

    def __init__(
        self,
        *,
        app_id: str,
        public_key: str,
        clock: Callable[[], float] = time.time,
        token_ttl: float = 3600.0,
        bot_login: str = "prwarden[bot]",
        spec: OpenAPISpec,
    ):
        self.app_id = app_id
        self._public_key = public_key
        self.clock = clock
        self.token_ttl = token_ttl
        self.bot_login = bot_login
        self.spec = spec
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

    def add_issue_comment(
        self, repo: str, number: int, body: str, *, user: str = "octocat"
    ) -> dict[str, Any]:
        """A conversation comment on the PR written by ``user``."""
        pull = self._pull(repo, number)
        comment = self._example("issue-comment")
        comment_id = next(self._ids)
        now = iso(self.clock())
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

    def delete_issue_comment(self, repo: str, number: int, comment_id: int) -> None:
        """Delete a PR conversation comment, as a person would in the web UI."""
        pull = self._pull(repo, number)
        pull.issue_comments[:] = [c for c in pull.issue_comments if c["id"] != comment_id]

    def add_hook_delivery(
        self, status_code: int, *, event: str = "pull_request", action: str = "opened"
    ) -> None:
        """Record that GitHub delivered a webhook and the App's server answered ``status_code``."""
        delivery = self._example("hook-delivery-items")
        delivery.update(
            id=next(self._ids),
            delivered_at=iso(self.clock()),
            status="OK" if status_code < 300 else f"Invalid HTTP Response: {status_code}",
            status_code=status_code,
            event=event,
            action=action,
            installation_id=min(self.installations),
            redelivery=False,
            throttled_at=None,
        )
        self.hook_deliveries.insert(0, delivery)

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
            created_at=iso(self.clock()),
        )
        return reaction

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
        now = iso(self.clock())
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

    def _repo(self, ctx: Ctx) -> FakeRepo:
        repo = self.repos.get(ctx.repo_name)
        if repo is None:
            raise not_found(ctx.match.operation.documentation_url)
        return repo

    def _pull(self, repo: str, number: int) -> FakePull:
        pull = self.pulls.get((repo, number))
        if pull is None:
            raise not_found()
        return pull

    def _ctx_pull(self, ctx: Ctx) -> FakePull:
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
