"""The GitHub client against the fake GitHub: auth, diffs, tarballs, pagination, errors."""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.github import GitHubApp, GitHubClient, RetryPolicy, StaticToken, synthesize_diff
from prwarden.errors import ConfigError, GitHubError, RateLimited
from review.diff import parse_diff
from testkit.fakes.github import FakeGitHub
from tests.conftest import APP_ID

REPO = "Codertocat/Hello-World"
FAST = RetryPolicy(attempts=3, initial_wait=0.0, max_wait=0.01, jitter=0.0, request_timeout=5.0)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(
    session: aiohttp.ClientSession, fake_github: FakeGitHub, app_private_key: str, clock: Clock
) -> GitHubApp:
    return GitHubApp(
        session,
        app_id=APP_ID,
        private_key=app_private_key,
        base_url=fake_github.base_url,
        clock=clock,
        retry=FAST,
    )


@pytest.fixture
def bug_diff(corpora: Path) -> str:
    return (corpora / "bug_diffs" / "cases" / "black-1" / "pr.diff").read_text()


@pytest.fixture
def pr_payload(corpora: Path) -> dict[str, object]:
    data = json.loads((corpora / "github_webhooks/payloads/pull_request.opened.1.json").read_text())
    pull: dict[str, object] = data["pull_request"]
    return pull


@pytest.fixture
async def client(
    app: GitHubApp, fake_github: FakeGitHub, bug_diff: str, pr_payload: dict[str, object]
) -> GitHubClient:
    head, base = pr_payload["head"], pr_payload["base"]
    assert isinstance(head, dict) and isinstance(base, dict)
    fake_github.add_pull(
        REPO,
        int(str(pr_payload["number"])),
        diff=bug_diff,
        head_sha=str(head["sha"]),
        base_sha=str(base["sha"]),
        base_ref=str(base["ref"]),
        title=str(pr_payload["title"]),
        body=str(pr_payload["body"]),
        user=str(dict(pr_payload["user"])["login"]),  # type: ignore[call-overload]
    )
    return await app.installation(1)


@pytest.fixture(autouse=True)
def _all_requests_validate(fake_github: FakeGitHub) -> Iterator[None]:
    yield
    assert fake_github.invalid_requests == []


async def test_one_token_for_many_calls_and_a_new_one_after_expiry(
    client: GitHubClient, fake_github: FakeGitHub, clock: Clock, pr_payload: dict[str, object]
) -> None:
    number = int(str(pr_payload["number"]))
    for _ in range(3):
        pull = await client.get_pull(REPO, number)
        assert pull["title"] == pr_payload["title"]
    assert len(fake_github.requests_for("apps/create-installation-access-token")) == 1
    clock.now += 3600 - 30
    await client.get_pull(REPO, number)
    assert len(fake_github.requests_for("apps/create-installation-access-token")) == 2
    auth = fake_github.requests_for("pulls/get")[-1].headers["authorization"]
    assert auth.startswith("token ghs_")
    jwt_auth = fake_github.requests_for("apps/create-installation-access-token")[0]
    assert jwt_auth.headers["authorization"].lower().startswith("bearer ")


async def test_a_revoked_token_is_replaced_once(
    client: GitHubClient, fake_github: FakeGitHub, pr_payload: dict[str, object]
) -> None:
    fake_github.issued_tokens.clear()
    pull = await client.get_pull(REPO, int(str(pr_payload["number"])))
    assert pull["number"] == pr_payload["number"]
    assert len(fake_github.requests_for("apps/create-installation-access-token")) == 2


async def test_diff_is_returned_as_bytes(
    client: GitHubClient, bug_diff: str, pr_payload: dict[str, object]
) -> None:
    diff = await client.get_diff(REPO, int(str(pr_payload["number"])))
    assert diff == bug_diff.encode()


async def test_too_large_diff_falls_back_to_the_files_list(
    app: GitHubApp, fake_github: FakeGitHub, corpora: Path
) -> None:
    original = (corpora / "large_diffs" / "scrapy_2.16.0_2.17.0.diff").read_text()
    fake_github.add_pull(
        REPO, 9, diff=original, head_sha="c" * 40, base_sha="d" * 40, diff_too_large=True
    )
    client = await app.installation(1)
    rebuilt = parse_diff(await client.get_diff(REPO, 9))
    expected = parse_diff(original)
    assert len(fake_github.requests_for("pulls/list-files")) > 2  # really paginated
    assert rebuilt.paths == expected.paths
    for new, old in zip(rebuilt, expected, strict=True):
        assert (new.status, new.old_path, new.is_binary) == (
            old.status,
            old.old_path,
            old.is_binary,
        )
        assert dict(new.added) == dict(old.added)
        assert new.right_lines == old.right_lines and new.left_lines == old.left_lines


def test_synthesized_diff_marks_binary_and_pure_renames() -> None:
    files = [
        {"filename": "logo.png", "status": "added", "changes": 0},
        {"filename": "new.py", "previous_filename": "old.py", "status": "renamed", "changes": 0},
        {"filename": "gone.py", "status": "removed", "changes": 1, "patch": "@@ -1 +0,0 @@\n-x"},
    ]
    diff = parse_diff(synthesize_diff(files))
    logo, renamed, gone = diff.files
    assert logo.is_binary and logo.status == "added"
    assert (renamed.status, renamed.old_path, renamed.hunks) == ("renamed", "old.py", ())
    assert gone.status == "deleted" and gone.left_lines == frozenset({1})
    assert synthesize_diff([]) == b""


async def test_compare_diff(client: GitHubClient, fake_github: FakeGitHub, bug_diff: str) -> None:
    fake_github.set_compare(REPO, "a" * 40, "b" * 40, bug_diff)
    assert await client.compare_diff(REPO, "a" * 40, "b" * 40) == bug_diff.encode()
    with pytest.raises(GitHubError) as info:
        await client.compare_diff(REPO, "a" * 40, "c" * 40)
    assert info.value.status_code == 404 and not info.value.retryable


async def test_tarball_download_follows_the_redirect(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = fake_github.add_commit(REPO, {"README.md": "hi\n", "src/a.py": "x = 1\n"})
    path = await client.download_tarball(REPO, sha, tmp_path / "t.tar.gz", max_bytes=1 << 20)
    with tarfile.open(path) as tar:
        assert "Hello-World" in tar.getnames()[0]
        assert tar.getnames()[-1].endswith("/src/a.py")
    assert fake_github.downloads and _names(tmp_path) == ["t.tar.gz"]


async def test_tarball_past_max_bytes_is_refused(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = fake_github.add_commit(REPO, {"big.bin": bytes(range(256)) * 4000})
    with pytest.raises(GitHubError, match="larger than the 1000-byte limit") as info:
        await client.download_tarball(REPO, sha, tmp_path / "t.tar.gz", max_bytes=1000)
    assert info.value.status_code == 413 and not info.value.retryable
    assert _names(tmp_path) == []
    assert "token" not in str(info.value)


async def test_get_file_decodes_and_returns_none_when_absent(
    client: GitHubClient, fake_github: FakeGitHub
) -> None:
    fake_github.add_commit(REPO, {".github/prwarden.yml": "max_comments: 3\n"}, branch="main")
    assert await client.get_file(REPO, ".github/prwarden.yml", "main") == b"max_comments: 3\n"
    assert await client.get_file(REPO, "missing.yml", "main") is None
    with pytest.raises(ValueError, match="not a repository path"):
        await client.get_file(REPO, "../etc/passwd", "main")


async def test_reviews_and_paginated_comments(
    client: GitHubClient, fake_github: FakeGitHub, bug_diff: str, pr_payload: dict[str, object]
) -> None:
    number = int(str(pr_payload["number"]))
    head = str(dict(pr_payload["head"])["sha"])  # type: ignore[call-overload]
    changed = parse_diff(bug_diff).files[0]
    line = changed.changed_lines[0]
    comments = [
        {"path": changed.path, "line": line, "side": "RIGHT", "body": f"note {i}"}
        for i in range(120)
    ]
    review = await client.create_review(
        REPO, number, commit_id=head, event="COMMENT", body="summary", comments=comments
    )
    assert review["user"]["login"] == "prwarden[bot]"
    listed = await client.list_review_comments(REPO, number)
    assert [c["body"] for c in listed] == [f"note {i}" for i in range(120)]
    assert len(fake_github.requests_for("pulls/list-review-comments")) == 2
    assert [r["id"] for r in await client.list_reviews(REPO, number)] == [review["id"]]
    single = await client.create_review_comment(
        REPO, number, commit_id=head, path=changed.path, line=line, side="RIGHT", body="one"
    )
    assert single["line"] == line


async def test_off_diff_comment_is_a_422_github_error(
    client: GitHubClient, fake_github: FakeGitHub, bug_diff: str, pr_payload: dict[str, object]
) -> None:
    number = int(str(pr_payload["number"]))
    path = parse_diff(bug_diff).files[0].path
    with pytest.raises(GitHubError, match="Line could not be resolved") as info:
        await client.create_review(
            REPO,
            number,
            commit_id="a" * 40,
            event="COMMENT",
            body="s",
            comments=[{"path": path, "line": 99999, "side": "RIGHT", "body": "x"}],
        )
    assert info.value.status_code == 422 and not info.value.retryable
    assert fake_github.reviews_on(REPO, number) == []


async def test_check_runs_permission_reactions_and_issue_comments(
    client: GitHubClient, fake_github: FakeGitHub, pr_payload: dict[str, object]
) -> None:
    number = int(str(pr_payload["number"]))
    sha = "e" * 40
    run_id = await client.create_check_run(
        REPO, head_sha=sha, name="prwarden", status="in_progress", external_id="job-1"
    )
    await client.create_check_run(REPO, head_sha=sha, name="other", status="queued")
    await client.update_check_run(
        REPO, run_id, conclusion="success", output={"title": "ok", "summary": "no findings"}
    )
    runs = await client.list_check_runs(REPO, sha, name="prwarden")
    assert [(r["id"], r["status"], r["conclusion"]) for r in runs] == [
        (run_id, "completed", "success")
    ]
    assert runs[0]["output"]["summary"] == "no findings"
    fake_github.set_permission(REPO, "maintainer", "write")
    assert await client.get_permission(REPO, "maintainer") == "write"
    assert await client.get_permission(REPO, "stranger") == "none"
    assert await client.get_permission(REPO, "not a login") == "none"
    comment = await client.create_issue_comment(REPO, number, "hello")
    assert comment["body"] == "hello"
    earlier = fake_github.add_review_comment(
        REPO, number, path="README.md", line=1, body="an earlier finding"
    )
    fake_github.add_reaction(earlier["id"], "-1", user="maintainer")
    reactions = await client.list_comment_reactions(REPO, earlier["id"])
    assert [(r["content"], r["user"]["login"]) for r in reactions] == [("-1", "maintainer")]
    with pytest.raises(GitHubError) as info:
        await client.list_comment_reactions(REPO, 424242)
    assert info.value.status_code == 404


async def test_502_is_retried_then_succeeds(
    client: GitHubClient, fake_github: FakeGitHub, pr_payload: dict[str, object]
) -> None:
    fake_github.fail_next("GET", r"/pulls/\d+$", 502, times=2)
    pull = await client.get_pull(REPO, int(str(pr_payload["number"])))
    assert pull["number"] == pr_payload["number"]
    assert len(fake_github.requests_for("pulls/get")) == 3


async def test_persistent_5xx_becomes_retryable_error(
    client: GitHubClient, fake_github: FakeGitHub, pr_payload: dict[str, object]
) -> None:
    fake_github.fail_next("GET", r"/pulls/\d+$", 503, times=10)
    with pytest.raises(GitHubError) as info:
        await client.get_pull(REPO, int(str(pr_payload["number"])))
    assert info.value.retryable and info.value.status_code == 503
    assert len(fake_github.requests_for("pulls/get")) == FAST.attempts


async def test_secondary_rate_limit_raises_rate_limited_at_once(
    client: GitHubClient, fake_github: FakeGitHub, pr_payload: dict[str, object]
) -> None:
    fake_github.fail_next("GET", r"/pulls/\d+$", 403, headers={"Retry-After": "42"})
    with pytest.raises(RateLimited) as info:
        await client.get_pull(REPO, int(str(pr_payload["number"])))
    assert info.value.retry_after == 42 and info.value.status_code == 403
    assert len(fake_github.requests_for("pulls/get")) == 1


async def test_primary_rate_limit_uses_the_reset_header(
    client: GitHubClient, fake_github: FakeGitHub, clock: Clock, pr_payload: dict[str, object]
) -> None:
    reset = int(clock.now) + 120
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    fake_github.fail_next("GET", r"/pulls/\d+$", 429, headers=headers)
    with pytest.raises(RateLimited) as info:
        await client.get_pull(REPO, int(str(pr_payload["number"])))
    assert 110 <= info.value.retry_after <= 120


async def test_connection_refused_is_retryable_and_leaks_no_secret(
    session: aiohttp.ClientSession, app_private_key: str
) -> None:
    client = GitHubClient(
        session, tokens=StaticToken("ghs_secretsecret"), base_url="http://127.0.0.1:9", retry=FAST
    )
    with pytest.raises(GitHubError) as info:
        await client.get_pull(REPO, 1)
    assert info.value.status_code == 0 and info.value.retryable
    assert "ghs_secretsecret" not in str(info.value) and "secret" not in repr(client)
    app = GitHubApp(session, app_id=APP_ID, private_key=app_private_key, base_url="http://x")
    assert "PRIVATE" not in repr(app)


async def test_bad_app_credentials_are_config_errors(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ConfigError, match="not a PEM private key") as info:
        GitHubApp(session, app_id=APP_ID, private_key="-----BEGIN nonsense", base_url="http://x")
    assert "nonsense" not in str(info.value)
    with pytest.raises(ConfigError, match="App id"):
        GitHubApp(session, app_id="abc", private_key="x", base_url="http://x")


async def test_wrong_app_key_is_a_401_error(
    session: aiohttp.ClientSession, fake_github: FakeGitHub
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    app = GitHubApp(
        session,
        app_id=APP_ID,
        private_key=other.decode(),
        base_url=fake_github.base_url,
        retry=FAST,
    )
    with pytest.raises(GitHubError) as info:
        await app.installation(1)
    assert info.value.status_code == 401 and not info.value.retryable
    assert "PRIVATE" not in str(info.value)


async def test_malformed_repo_is_refused(client: GitHubClient) -> None:
    for bad in ("noslash", "a/b/c", "../x", "owner/..", ""):
        with pytest.raises(ValueError, match="owner/name"):
            await client.get_pull(bad, 1)


def test_retry_policy_checks_itself() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(initial_wait=-1)


async def test_slow_answers_time_out_as_retryable_errors(
    session: aiohttp.ClientSession, fake_github: FakeGitHub, app_private_key: str
) -> None:
    policy = RetryPolicy(
        attempts=2, initial_wait=0.0, max_wait=0.0, jitter=0.0, request_timeout=0.2
    )
    app = GitHubApp(
        session,
        app_id=APP_ID,
        private_key=app_private_key,
        base_url=fake_github.base_url,
        retry=policy,
    )
    client = await app.installation(1)
    fake_github.add_repo(REPO)
    fake_github.delay = 0.5
    with pytest.raises(GitHubError, match="no answer") as info:
        await client.get_pull(REPO, 1)
    assert info.value.retryable and info.value.status_code == 0
    fake_github.delay = 0.0
