"""prwarden's GitHub client: App authentication, the REST calls the bot makes, one error shape.

``GitHubApp`` signs the App JWT (gidgethub.apps) and caches installation tokens until a minute
before they expire; ``GitHubApp.installation(id, scope)`` hands out a ``GitHubClient`` for one
installation, whose token is asked for only the repository and permissions in ``scope``.
Every request pins the REST API version (``X-GitHub-Api-Version``). Every call goes through
gidgethub over the one ``aiohttp.ClientSession`` passed in, except the two byte streams (diffs
and tarballs), which use the same session directly so that bytes stay bytes and large
archives go to disk.

Failures become ``GitHubError`` (``status_code`` 0 when no response arrived) or
``RateLimited``. 5xx answers and connection errors are retried a bounded number of times with
exponential backoff and jitter (``RetryPolicy``); rate limits are never slept on here: the job
runner reschedules on ``RateLimited.retry_after``. Tokens and keys never enter a message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import http
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote

import aiohttp
import gidgethub
import gidgethub.aiohttp
import gidgethub.apps
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from gidgethub import sansio
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from yarl import URL

from bot.config import RetryPolicy
from prwarden.errors import ConfigError, FileTooLarge, GitHubError, RateLimited

log = logging.getLogger("prwarden.github")

DEFAULT_RETRY = RetryPolicy()

T = TypeVar("T")
Clock = Callable[[], float]
Side = Literal["LEFT", "RIGHT"]

REQUESTER = "prwarden"
# The REST API version prwarden is written and tested against, sent on every request so that
# GitHub never answers with whatever its default is that day.
API_VERSION = "2022-11-28"
API_VERSION_HEADER = "X-GitHub-Api-Version"
JSON_ACCEPT = "application/vnd.github+json"
DIFF_ACCEPT = "application/vnd.github.diff"
TOKEN_REFRESH_MARGIN = 60.0
DEFAULT_RATE_LIMIT_WAIT = 60.0
_CHUNK = 256 * 1024
_REPO_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


class _VersionedAPI(gidgethub.aiohttp.GitHubAPI):
    """gidgethub over aiohttp, pinning the REST API version on every request it sends."""

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        return await super()._request(
            method, url, {**headers, API_VERSION_HEADER: API_VERSION}, body
        )


def api_headers(
    accept: str, *, oauth_token: str | None = None, jwt: str | None = None
) -> dict[str, str]:
    """The headers of a raw request to the REST API (the byte streams gidgethub does not read)."""
    headers = sansio.create_headers(REQUESTER, accept=accept, oauth_token=oauth_token, jwt=jwt)
    headers[API_VERSION_HEADER] = API_VERSION
    return headers


@dataclass(frozen=True, slots=True)
class TokenScope:
    """What an installation token may touch: one repository (or all) and some permissions."""

    repo: str | None = None
    permissions: Mapping[str, str] | None = None

    def body(self) -> dict[str, Any]:
        """The body of the access-token request (empty: everything the installation has)."""
        data: dict[str, Any] = {}
        if self.repo is not None:
            data["repositories"] = [split_repo(self.repo)[1]]
        if self.permissions is not None:
            data["permissions"] = dict(self.permissions)
        return data

    @property
    def key(self) -> tuple[str | None, tuple[tuple[str, str], ...] | None]:
        perms = tuple(sorted(self.permissions.items())) if self.permissions is not None else None
        return self.repo, perms


ALL = TokenScope()


class TokenSource(Protocol):
    """Where a client gets its installation token, and how it reports one as refused."""

    async def get(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


@dataclass(frozen=True, slots=True)
class StaticToken:
    """A fixed token (a personal access token for local use)."""

    token: str

    async def get(self) -> str:
        return self.token

    def invalidate(self, token: str) -> None:
        return None

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


def split_repo(repo: str) -> tuple[str, str]:
    """``"owner/name"`` → ``("owner", "name")``; anything else is a ``ValueError``."""
    if not _REPO_RE.fullmatch(repo) or repo.split("/")[1] in (".", ".."):
        raise ValueError(f"repository must be 'owner/name', got {repo[:120]!r}")
    owner, name = repo.split("/")
    return owner, name


def _repo_url(repo: str) -> str:
    owner, name = split_repo(repo)
    return f"/repos/{owner}/{name}"


REVIEW_THREADS_QUERY = """
query($owner: String!, $name: String!, $number: Int!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $cursor) {
        pageInfo { hasNextPage endCursor }
        nodes { isResolved comments(first: 100) { nodes { fullDatabaseId } } }
      }
    }
  }
}
"""


def graphql_endpoint(api_url: str) -> str:
    """GitHub's GraphQL URL for a REST base URL (``/api/v3`` on GHES becomes ``/api/graphql``)."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


def _ref(ref: str) -> str:
    if not ref or ref.startswith("/") or ".." in ref.split("/") or "\x00" in ref:
        raise ValueError(f"not a git ref: {ref[:120]!r}")
    return quote(ref, safe="/")


def _retry_after(status: int, headers: Mapping[str, str], message: str, now: float) -> float | None:
    """Seconds to wait when the answer is a primary or secondary rate limit, else None."""
    if status not in (403, 429):
        return None
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            return DEFAULT_RATE_LIMIT_WAIT
    if headers.get("x-ratelimit-remaining") == "0":
        try:
            return max(float(headers.get("x-ratelimit-reset", "")) - now, 1.0)
        except ValueError:
            return DEFAULT_RATE_LIMIT_WAIT
    if status == 429 or "rate limit" in message.lower():
        return DEFAULT_RATE_LIMIT_WAIT
    return None


def _error(
    what: str, status: int, headers: Mapping[str, str], message: str, now: float
) -> GitHubError:
    text = f"{what}: GitHub answered {status}" + (f": {message[:300]}" if message else "")
    wait = _retry_after(status, headers, message, now)
    if wait is not None:
        return RateLimited(text, status_code=status, retry_after=wait)
    return GitHubError(text, status_code=status, retryable=status >= 500)


def _raise_for_status(status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Raise gidgethub's exception for a non-2xx raw answer (translated by the caller)."""
    if status >= 300:
        try:
            sansio.decipher_response(status, headers, body)
        except (ValueError, UnicodeDecodeError):
            raise gidgethub.HTTPException(_http_status(status), headers=headers) from None
        raise gidgethub.HTTPException(_http_status(status), headers=headers)


def _http_status(status: int) -> http.HTTPStatus:
    try:
        return http.HTTPStatus(status)
    except ValueError:
        return http.HTTPStatus.INTERNAL_SERVER_ERROR


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, GitHubError) and exc.retryable and not isinstance(exc, RateLimited)


class _Caller:
    """Runs one logical GitHub call with translation of errors, timeouts and retries."""

    def __init__(self, policy: RetryPolicy, clock: Clock):
        self.policy = policy
        self.clock = clock

    async def once(self, what: str, call: Callable[[], Awaitable[T]], seconds: float) -> T:
        try:
            async with asyncio.timeout(seconds):
                return await call()
        except gidgethub.HTTPException as exc:
            status = int(exc.status_code)
            message = str(exc) if exc.args else ""
            raise _error(what, status, exc.headers or {}, message, self.clock()) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GitHubError(
                f"{what}: no answer from GitHub ({type(exc).__name__})",
                status_code=0,
                retryable=True,
            ) from None

    def retrying(self, what: str, extra: Callable[[BaseException], bool]) -> AsyncRetrying:
        policy = self.policy

        def log_retry(state: Any) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("retrying %s after %s", what, exc)

        return AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_exponential_jitter(
                multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.jitter
            ),
            retry=retry_if_exception(lambda e: _transient(e) or extra(e)),
            before_sleep=log_retry,
            reraise=True,
        )


async def create_app_from_manifest(
    session: aiohttp.ClientSession, *, base_url: str, code: str, seconds: float = 30.0
) -> dict[str, Any]:
    """``POST /app-manifests/{code}/conversions``: the new App's id, key, secrets and client.

    The code is the App's only credential here (GitHub takes it once, within an hour), so the
    request carries no other authentication.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", code):
        raise GitHubError("the manifest code from GitHub is malformed", status_code=0)
    gh = _VersionedAPI(session, REQUESTER, base_url=base_url)

    async def call() -> dict[str, Any]:
        data: dict[str, Any] = await gh.post(
            f"/app-manifests/{code}/conversions", data=b"", accept=JSON_ACCEPT
        )
        return data

    caller = _Caller(RetryPolicy(attempts=1), time.time)
    data = await caller.once("register the App from its manifest", call, seconds)
    if not isinstance(data, dict):
        raise GitHubError("register the App: malformed answer", status_code=201)
    return data


class GitHubApp:
    """The GitHub App: JWT signing and installation tokens cached until shortly before expiry."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        app_id: str,
        private_key: str,
        base_url: str,
        clock: Clock = time.time,
        retry: RetryPolicy = DEFAULT_RETRY,
    ):
        if not str(app_id).strip().isdigit():
            raise ConfigError(
                "the App id must be a number", key="PRWARDEN_APP_ID", expected="digits"
            )
        try:
            load_pem_private_key(private_key.encode(), password=None)
        except (ValueError, TypeError):
            raise ConfigError(
                "the App private key is not a PEM private key",
                key="PRWARDEN_PRIVATE_KEY",
                expected="PEM-encoded RSA private key",
            ) from None
        self._session = session
        self._app_id = str(app_id).strip()
        self._private_key = private_key
        self._base_url = base_url
        self._clock = clock
        self._retry = retry
        self._caller = _Caller(retry, clock)
        self._gh = _VersionedAPI(session, REQUESTER, base_url=base_url)
        self._tokens: dict[tuple[int, Any], tuple[str, float]] = {}
        self._locks: dict[tuple[int, Any], asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"GitHubApp(app_id={self._app_id!r}, base_url={self._base_url!r})"

    def jwt(self) -> str:
        """A fresh App JWT (RS256, ten minutes, backdated a minute for clock drift)."""
        return gidgethub.apps.get_jwt(app_id=self._app_id, private_key=self._private_key)

    async def installation_token(self, installation_id: int, scope: TokenScope = ALL) -> str:
        """The installation's token for ``scope``, from cache unless it expires within a minute."""
        key = (installation_id, scope.key)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and self._clock() < cached[1] - TOKEN_REFRESH_MARGIN:
                return cached[0]
            token, expires_at = await self._fetch_token(installation_id, scope)
            self._tokens[key] = (token, expires_at)
            return token

    def invalidate(self, installation_id: int, token: str, scope: TokenScope = ALL) -> None:
        key = (installation_id, scope.key)
        cached = self._tokens.get(key)
        if cached is not None and cached[0] == token:
            del self._tokens[key]

    async def _as_app(self, what: str, url: str) -> Any:
        """One GET signed with the App's JWT (no retries: these are checks, not jobs)."""

        async def call() -> Any:
            return await self._gh.getitem(url, accept=JSON_ACCEPT, jwt=self.jwt())

        return await self._caller.once(what, call, self._retry.request_timeout)

    async def get_app(self) -> dict[str, Any]:
        """``GET /app``: the App this key signs for."""
        data: dict[str, Any] = await self._as_app("get the App", "/app")
        return data

    async def webhook_config(self) -> dict[str, Any]:
        """``GET /app/hook/config``: where GitHub sends the App's webhooks (secret masked)."""
        data: dict[str, Any] = await self._as_app("get the webhook config", "/app/hook/config")
        return data

    async def recent_deliveries(self, count: int = 10) -> list[dict[str, Any]]:
        """``GET /app/hook/deliveries``: the newest deliveries and how they were answered."""
        url = f"/app/hook/deliveries?per_page={int(count)}"
        data: list[dict[str, Any]] = await self._as_app("list webhook deliveries", url)
        return data

    async def list_installations(self) -> list[dict[str, Any]]:
        """``GET /app/installations``: where the App is installed."""

        async def call() -> list[dict[str, Any]]:
            pages = self._gh.getiter(
                "/app/installations?per_page=100", accept=JSON_ACCEPT, jwt=self.jwt()
            )
            return [item async for item in pages]

        return await self._caller.once("list installations", call, self._retry.request_timeout)

    async def _fetch_token(self, installation_id: int, scope: TokenScope) -> tuple[str, float]:
        what = f"installation token for {installation_id}"
        url = f"/app/installations/{int(installation_id)}/access_tokens"

        async def call() -> dict[str, Any]:
            data: dict[str, Any] = await self._gh.post(
                url, data=scope.body(), accept=JSON_ACCEPT, jwt=self.jwt()
            )
            return data

        async for attempt in self._caller.retrying(what, lambda e: False):
            with attempt:
                data = await self._caller.once(what, call, self._retry.request_timeout)
                try:
                    expires = datetime.fromisoformat(str(data["expires_at"])).timestamp()
                    return str(data["token"]), expires
                except (KeyError, TypeError, ValueError):
                    raise GitHubError(f"{what}: malformed answer", status_code=201) from None
        raise AssertionError("unreachable")

    async def repo_installation(self, repo: str) -> int:
        """The id of the App's installation on ``repo`` (``GitHubError`` 404 when none)."""
        what = f"installation on {repo}"

        async def call() -> dict[str, Any]:
            data: dict[str, Any] = await self._gh.getitem(
                f"{_repo_url(repo)}/installation", accept=JSON_ACCEPT, jwt=self.jwt()
            )
            return data

        data = await self._caller.once(what, call, self._retry.request_timeout)
        return int(data["id"])

    async def installation(self, installation_id: int, scope: TokenScope = ALL) -> GitHubClient:
        """A client acting as the installation within ``scope``; it renews its token as needed."""
        await self.installation_token(installation_id, scope)
        return GitHubClient(
            self._session,
            tokens=_InstallationTokens(self, installation_id, scope),
            base_url=self._base_url,
            retry=self._retry,
            clock=self._clock,
        )


@dataclass(frozen=True, slots=True)
class _InstallationTokens:
    app: GitHubApp
    installation_id: int
    scope: TokenScope = ALL

    async def get(self) -> str:
        return await self.app.installation_token(self.installation_id, self.scope)

    def invalidate(self, token: str) -> None:
        self.app.invalidate(self.installation_id, token, self.scope)


class GitHubClient:
    """The REST calls prwarden makes for one installation. ``repo`` is always "owner/name"."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        tokens: TokenSource,
        base_url: str,
        retry: RetryPolicy = DEFAULT_RETRY,
        clock: Clock = time.time,
    ):
        self._session = session
        self._tokens = tokens
        self._base_url = base_url
        self._retry = retry
        self._caller = _Caller(retry, clock)
        self._gh = _VersionedAPI(session, REQUESTER, base_url=base_url)

    def __repr__(self) -> str:
        return f"GitHubClient(base_url={self._base_url!r})"

    # ----- the call pipeline -------------------------------------------------------------

    async def _call(
        self, what: str, call: Callable[[str], Awaitable[T]], *, seconds: float | None = None
    ) -> T:
        """Run ``call(token)``; retry transient failures, and a refused token once."""
        refused: list[BaseException] = []
        limit = seconds or self._retry.request_timeout
        async for attempt in self._caller.retrying(what, lambda e: any(e is r for r in refused)):
            with attempt:
                token = await self._tokens.get()
                try:
                    return await self._caller.once(what, functools.partial(call, token), limit)
                except GitHubError as exc:
                    if exc.status_code == 401 and not refused:
                        self._tokens.invalidate(token)
                        refused.append(exc)
                    raise
        raise AssertionError("unreachable")

    async def _get(self, what: str, url: str) -> Any:
        return await self._call(
            what, lambda token: self._gh.getitem(url, None, accept=JSON_ACCEPT, oauth_token=token)
        )

    async def _get_all(self, what: str, url: str, *, key: str = "items") -> list[dict[str, Any]]:
        async def run(token: str) -> list[dict[str, Any]]:
            pages = self._gh.getiter(
                url, None, accept=JSON_ACCEPT, oauth_token=token, iterable_key=key
            )
            return [item async for item in pages]

        return await self._call(what, run)

    async def _send(self, method: str, what: str, url: str, data: Mapping[str, Any]) -> Any:
        send = self._gh.post if method == "POST" else self._gh.patch
        return await self._call(
            what,
            lambda token: send(url, None, data=dict(data), accept=JSON_ACCEPT, oauth_token=token),
        )

    def _headers(self, token: str, accept: str) -> dict[str, str]:
        return api_headers(accept, oauth_token=token)

    async def _get_bytes(self, what: str, url: str, accept: str) -> bytes:
        full = sansio.format_url(url, None, base_url=self._base_url)

        async def run(token: str) -> bytes:
            async with self._session.get(
                full, headers=self._headers(token, accept), allow_redirects=False
            ) as resp:
                body = await resp.read()
                _raise_for_status(resp.status, resp.headers, body)
                return body

        return await self._call(what, run)

    # ----- pull requests and diffs ---------------------------------------------------------

    async def get_pull(self, repo: str, number: int) -> dict[str, Any]:
        data: dict[str, Any] = await self._get(
            f"get {repo}#{number}", f"{_repo_url(repo)}/pulls/{int(number)}"
        )
        return data

    async def commit_messages(self, repo: str, number: int) -> tuple[str, ...]:
        """The messages of the PR's commits, oldest first (GitHub lists at most 250)."""
        url = f"{_repo_url(repo)}/pulls/{int(number)}/commits?per_page=100"
        commits = await self._get_all(f"commits of {repo}#{number}", url)
        return tuple(str((c.get("commit") or {}).get("message") or "") for c in commits)

    async def get_diff(self, repo: str, number: int) -> bytes:
        """The PR's unified diff; rebuilt from the files list when GitHub finds it too large."""
        url = f"{_repo_url(repo)}/pulls/{int(number)}"
        try:
            return await self._get_bytes(f"diff of {repo}#{number}", url, DIFF_ACCEPT)
        except GitHubError as exc:
            if exc.status_code != 406:
                raise
            log.info("diff of %s#%s too large; rebuilding it from the files list", repo, number)
        files = await self._get_all(f"files of {repo}#{number}", f"{url}/files?per_page=100")
        return synthesize_diff(files)

    async def compare_diff(self, repo: str, base: str, head: str) -> bytes:
        url = f"{_repo_url(repo)}/compare/{_ref(base)}...{_ref(head)}"
        return await self._get_bytes(f"compare {repo} {base}...{head}", url, DIFF_ACCEPT)

    # ----- repository contents -----------------------------------------------------------

    async def get_file(self, repo: str, path: str, ref: str) -> bytes | None:
        """A file's bytes at ``ref`` through the contents API; None when there is no such file."""
        pure = PurePosixPath(path)
        if not path or pure.is_absolute() or ".." in pure.parts or "\x00" in path:
            raise ValueError(f"not a repository path: {path[:120]!r}")
        url = f"{_repo_url(repo)}/contents/{quote(path, safe='/')}?ref={quote(ref, safe='')}"
        try:
            data = await self._get(f"get {path} at {ref} in {repo}", url)
        except GitHubError as exc:
            if exc.status_code == 404:
                return None
            raise
        if not isinstance(data, dict) or data.get("type") != "file":
            return None
        if data.get("encoding") == "none":
            size = data.get("size")
            raise FileTooLarge(
                f"{path} at {ref} in {repo} is too large for the contents API",
                size=size if isinstance(size, int) else -1,
            )
        if data.get("encoding") != "base64":
            raise GitHubError(
                f"{path} at {ref} in {repo}: unknown content encoding", status_code=200
            )
        try:
            return base64.b64decode(str(data.get("content", "")))
        except (binascii.Error, ValueError):
            raise GitHubError(
                f"{path} in {repo}: malformed base64 content", status_code=200
            ) from None

    async def download_tarball(self, repo: str, ref: str, dest: Path, *, max_bytes: int) -> Path:
        """Stream the tarball of ``ref`` to the file ``dest``; refuse it past ``max_bytes``."""
        url = sansio.format_url(
            f"{_repo_url(repo)}/tarball/{_ref(ref)}", None, base_url=self._base_url
        )
        what = f"tarball of {repo}@{ref}"
        dest.parent.mkdir(parents=True, exist_ok=True)

        async def run(token: str) -> Path:
            async with self._session.get(
                url, headers=self._headers(token, JSON_ACCEPT), allow_redirects=False
            ) as resp:
                if resp.status == 200:
                    return await _stream_to(resp, dest, max_bytes, what)
                if resp.status not in (301, 302, 303, 307, 308):
                    _raise_for_status(resp.status, resp.headers, await resp.read())
                location = resp.headers.get("Location")
            if not location:
                raise GitHubError(f"{what}: redirect without a location", status_code=302)
            target = URL(url).join(URL(location))
            async with self._session.get(target, headers={"user-agent": REQUESTER}) as resp:
                if resp.status != 200:
                    _raise_for_status(resp.status, resp.headers, await resp.read())
                return await _stream_to(resp, dest, max_bytes, what)

        return await self._call(what, run, seconds=self._retry.download_timeout)

    # ----- check runs ------------------------------------------------------------------

    async def create_check_run(
        self,
        repo: str,
        *,
        head_sha: str,
        name: str,
        status: str,
        output: Mapping[str, Any] | None = None,
        external_id: str | None = None,
    ) -> int:
        data: dict[str, Any] = {"head_sha": head_sha, "name": name, "status": status}
        if output is not None:
            data["output"] = dict(output)
        if external_id is not None:
            data["external_id"] = external_id
        run = await self._send(
            "POST", f"create check run in {repo}", f"{_repo_url(repo)}/check-runs", data
        )
        return int(run["id"])

    async def update_check_run(
        self,
        repo: str,
        check_run_id: int,
        *,
        status: str | None = None,
        conclusion: str | None = None,
        output: Mapping[str, Any] | None = None,
    ) -> None:
        data: dict[str, Any] = {}
        if status is not None:
            data["status"] = status
        if conclusion is not None:
            data["conclusion"] = conclusion
        if output is not None:
            data["output"] = dict(output)
        url = f"{_repo_url(repo)}/check-runs/{int(check_run_id)}"
        await self._send("PATCH", f"update check run {check_run_id} in {repo}", url, data)

    async def list_check_runs(
        self, repo: str, ref: str, *, name: str | None = None
    ) -> list[dict[str, Any]]:
        url = f"{_repo_url(repo)}/commits/{_ref(ref)}/check-runs?per_page=100"
        if name is not None:
            url += f"&check_name={quote(name, safe='')}"
        return await self._get_all(f"check runs of {repo}@{ref}", url, key="check_runs")

    # ----- reviews and comments --------------------------------------------------------

    async def list_reviews(self, repo: str, number: int) -> list[dict[str, Any]]:
        url = f"{_repo_url(repo)}/pulls/{int(number)}/reviews?per_page=100"
        return await self._get_all(f"reviews of {repo}#{number}", url)

    async def list_review_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        url = f"{_repo_url(repo)}/pulls/{int(number)}/comments?per_page=100"
        return await self._get_all(f"review comments of {repo}#{number}", url)

    async def create_review(
        self,
        repo: str,
        number: int,
        *,
        commit_id: str,
        event: str,
        body: str,
        comments: Sequence[Mapping[str, Any]],
    ) -> dict[str, Any]:
        data = {
            "commit_id": commit_id,
            "event": event,
            "body": body,
            "comments": [dict(c) for c in comments],
        }
        url = f"{_repo_url(repo)}/pulls/{int(number)}/reviews"
        review: dict[str, Any] = await self._send("POST", f"review on {repo}#{number}", url, data)
        return review

    async def create_review_comment(
        self,
        repo: str,
        number: int,
        *,
        commit_id: str,
        path: str,
        line: int,
        side: Side,
        body: str,
        start_line: int | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "commit_id": commit_id,
            "path": path,
            "line": line,
            "side": side,
            "body": body,
        }
        if start_line is not None:
            data["start_line"] = start_line
            data["start_side"] = side
        url = f"{_repo_url(repo)}/pulls/{int(number)}/comments"
        comment: dict[str, Any] = await self._send(
            "POST", f"review comment on {repo}#{number}", url, data
        )
        return comment

    async def create_issue_comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        url = f"{_repo_url(repo)}/issues/{int(number)}/comments"
        comment: dict[str, Any] = await self._send(
            "POST", f"comment on {repo}#{number}", url, {"body": body}
        )
        return comment

    async def list_issue_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        url = f"{_repo_url(repo)}/issues/{int(number)}/comments?per_page=100"
        return await self._get_all(f"conversation comments of {repo}#{number}", url)

    async def update_issue_comment(self, repo: str, comment_id: int, body: str) -> dict[str, Any]:
        url = f"{_repo_url(repo)}/issues/comments/{int(comment_id)}"
        comment: dict[str, Any] = await self._send(
            "PATCH", f"edit comment {comment_id} in {repo}", url, {"body": body}
        )
        return comment

    async def react_to_issue_comment(self, repo: str, comment_id: int, content: str) -> None:
        url = f"{_repo_url(repo)}/issues/comments/{int(comment_id)}/reactions"
        await self._send(
            "POST", f"reaction on comment {comment_id} in {repo}", url, {"content": content}
        )

    async def pulls_of_commit(self, repo: str, sha: str) -> list[dict[str, Any]]:
        """The pull requests whose head or history holds commit ``sha``."""
        url = f"{_repo_url(repo)}/commits/{_ref(sha)}/pulls?per_page=100"
        return await self._get_all(f"pull requests of {repo}@{sha[:12]}", url)

    async def list_comment_reactions(self, repo: str, comment_id: int) -> list[dict[str, Any]]:
        url = f"{_repo_url(repo)}/pulls/comments/{int(comment_id)}/reactions?per_page=100"
        return await self._get_all(f"reactions on comment {comment_id} in {repo}", url)

    async def review_thread_states(self, repo: str, number: int) -> dict[int, bool]:
        """Each review comment's id on the PR, mapped to whether its thread is resolved.

        REST has no resolved flag; this reads ``reviewThreads`` through GraphQL.
        """
        owner, name = split_repo(repo)
        states: dict[int, bool] = {}
        cursor: str | None = None
        while True:
            data = await self.graphql(
                f"review threads of {repo}#{number}",
                REVIEW_THREADS_QUERY,
                owner=owner,
                name=name,
                number=int(number),
                cursor=cursor,
            )
            pull = ((data.get("repository") or {}).get("pullRequest")) or {}
            threads = pull.get("reviewThreads") or {}
            for thread in threads.get("nodes") or []:
                for comment in (thread.get("comments") or {}).get("nodes") or []:
                    # fullDatabaseId is a BigInt, which GitHub sends as a string
                    raw = comment.get("fullDatabaseId")
                    if isinstance(raw, (int, str)) and str(raw).isdigit():
                        states[int(raw)] = bool(thread.get("isResolved"))
            page = threads.get("pageInfo") or {}
            if not page.get("hasNextPage") or not page.get("endCursor"):
                return states
            cursor = str(page["endCursor"])

    async def graphql(self, what: str, query: str, **variables: Any) -> dict[str, Any]:
        """The ``data`` of a GraphQL query; errors become ``GitHubError``."""
        endpoint = graphql_endpoint(self._base_url)

        async def run(token: str) -> dict[str, Any]:
            api = _VersionedAPI(
                self._session, REQUESTER, oauth_token=token, base_url=self._base_url
            )
            try:
                data = await api.graphql(query, endpoint=endpoint, **variables)
            except gidgethub.BadGraphQLRequest as exc:
                status = int(exc.status_code)
                raise GitHubError(
                    f"{what}: GitHub answered {status}", status_code=status, retryable=False
                ) from None
            except gidgethub.GraphQLException as exc:
                raise GitHubError(f"{what}: {str(exc)[:300]}", status_code=200) from None
            return data if isinstance(data, dict) else {}

        return await self._call(what, run)

    async def upload_sarif(self, repo: str, *, commit_sha: str, ref: str, sarif: str) -> str:
        """Send a SARIF log (gzip + base64 already) to code scanning; return the upload id."""
        data = {"commit_sha": commit_sha, "ref": ref, "sarif": sarif, "tool_name": "prwarden"}
        answer = await self._send(
            "POST", f"SARIF upload to {repo}", f"{_repo_url(repo)}/code-scanning/sarifs", data
        )
        return str(answer.get("id", "")) if isinstance(answer, dict) else ""

    # ----- as a signed-in person (user access token) ----------------------------------

    async def authenticated_login(self) -> str:
        """The login of the person whose token this client holds."""
        data = await self._get("the signed-in user", "/user")
        login = data.get("login") if isinstance(data, dict) else None
        if not isinstance(login, str) or not login:
            raise GitHubError("the signed-in user: no login in the answer", status_code=200)
        return login

    async def is_active_team_member(self, org: str, team_slug: str, login: str) -> bool:
        """Whether ``login`` is an active member of ``org/team_slug`` (pending is not)."""
        url = (
            f"/orgs/{quote(org, safe='')}/teams/{quote(team_slug, safe='')}"
            f"/memberships/{quote(login, safe='')}"
        )
        try:
            data = await self._get(f"membership of {login} in {org}/{team_slug}", url)
        except GitHubError as exc:
            if exc.status_code == 404:
                return False
            raise
        return isinstance(data, dict) and data.get("state") == "active"

    async def get_permission(self, repo: str, username: str) -> str:
        """The user's permission on the repository ("admin", "write", "read" or "none")."""
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?", username):
            return "none"
        url = f"{_repo_url(repo)}/collaborators/{quote(username, safe='')}/permission"
        try:
            data = await self._get(f"permission of {username} on {repo}", url)
        except GitHubError as exc:
            if exc.status_code == 404:
                return "none"
            raise
        return str(data.get("permission", "none")) if isinstance(data, dict) else "none"


async def _stream_to(resp: aiohttp.ClientResponse, dest: Path, max_bytes: int, what: str) -> Path:
    """Write the body to ``dest`` (through a ``.part`` file), stopping past ``max_bytes``."""
    too_large = GitHubError(
        f"{what}: archive is larger than the {max_bytes}-byte limit", status_code=413
    )
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise too_large
    part = dest.with_name(dest.name + ".part")
    handle = await asyncio.to_thread(part.open, "wb")
    total = 0
    try:
        async for chunk in resp.content.iter_chunked(_CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise too_large
            await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        handle.close()
        part.unlink(missing_ok=True)
        raise
    handle.close()
    part.replace(dest)
    return dest


def synthesize_diff(files: Sequence[Mapping[str, Any]]) -> bytes:
    """A git-style unified diff from GitHub's files list (``patch`` fields and statuses).

    Files without a ``patch`` are marked binary, except pure renames, which keep only their
    rename headers.
    """
    out: list[str] = []
    for f in files:
        new = str(f["filename"])
        old = str(f.get("previous_filename") or new)
        status = str(f.get("status", "modified"))
        patch = f.get("patch")
        out.append(f"diff --git a/{old} b/{new}")
        if status == "added":
            out.append("new file mode 100644")
        elif status == "removed":
            out.append("deleted file mode 100644")
        elif old != new:
            word = "copy" if status == "copied" else "rename"
            out.extend((f"{word} from {old}", f"{word} to {new}"))
        src = "/dev/null" if status == "added" else f"a/{old}"
        dst = "/dev/null" if status == "removed" else f"b/{new}"
        if patch:
            out.extend((f"--- {src}", f"+++ {dst}", str(patch).rstrip("\n")))
        elif not (old != new and int(f.get("changes", 0) or 0) == 0):
            out.append(f"Binary files {src} and {dst} differ")
    return ("\n".join(out) + "\n").encode("utf-8") if out else b""
