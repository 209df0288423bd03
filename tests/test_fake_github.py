"""The fake GitHub refuses what GitHub refuses: unknown routes, bad bodies, auth, anchors."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

import corpora
from review.diff import parse_diff
from tests.conftest import APP_ID
from tests.fakes import hunks
from tests.fakes.github import SPEC_PATH, FakeGitHub, anchor_error
from tests.fakes.github_apps import API_VERSION, VERSION_HEADER
from tests.fakes.openapi import OpenAPISpec

REPO = "octo/hello"
DIFF = """\
diff --git a/app.py b/app.py
index 1111111..2222222 100644
--- a/app.py
+++ b/app.py
@@ -1,4 +1,5 @@
 import os
-x = 1
+x = 2
+y = 3
 def f():
     return x
@@ -20,3 +21,3 @@ def g():
 a = 1
-b = 2
+b = 3
 c = 4
"""


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={VERSION_HEADER: API_VERSION}) as session:
        yield session


async def _token(gh: FakeGitHub, http: aiohttp.ClientSession, private_key: str) -> str:
    now = int(time.time())
    app_jwt = jwt.encode({"iat": now - 60, "exp": now + 540, "iss": APP_ID}, private_key, "RS256")
    async with http.post(
        f"{gh.base_url}/app/installations/1/access_tokens",
        headers={"Authorization": f"Bearer {app_jwt}"},
    ) as resp:
        assert resp.status == 201
        data = await resp.json()
    assert data["expires_at"].endswith("Z")
    return str(data["token"])


@pytest.fixture
async def authed(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, app_private_key: str
) -> dict[str, str]:
    fake_github.add_pull(REPO, 7, diff=DIFF, head_sha="a" * 40, base_sha="b" * 40)
    token = await _token(fake_github, http, app_private_key)
    return {"Authorization": f"token {token}"}


async def _call(
    gh: FakeGitHub,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any = None,
) -> tuple[int, Any]:
    async with http.request(method, gh.base_url + path, headers=headers, json=body) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.read()


async def test_unknown_path_and_wrong_method_are_404(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    status, _ = await _call(fake_github, http, "GET", f"/repos/{REPO}/nonsense", authed)
    assert status == 404
    status, _ = await _call(fake_github, http, "PUT", f"/repos/{REPO}/pulls/7", authed)
    assert status == 404
    status, _ = await _call(fake_github, http, "GET", f"/repos/{REPO}/pulls/seven", authed)
    assert status == 404
    assert len(fake_github.invalid_requests) == 3


async def test_missing_required_field_is_422_with_githubs_message(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    fake_github.add_repo(REPO)
    status, body = await _call(
        fake_github, http, "POST", f"/repos/{REPO}/check-runs", authed, {"name": "prwarden"}
    )
    assert status == 422
    assert body["message"] == 'Invalid request.\n\n"head_sha" wasn\'t supplied.'
    assert body["documentation_url"].startswith("https://docs.github.com/rest/")
    assert fake_github.invalid_requests[-1].errors == ('"head_sha" wasn\'t supplied.',)
    assert fake_github.check_runs == {}


async def test_wrong_type_and_bad_enum_are_422(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    review = {
        "event": "SHIP_IT",
        "body": "x",
        "comments": [{"path": "app.py", "line": "2", "body": "b"}],
    }
    status, body = await _call(
        fake_github, http, "POST", f"/repos/{REPO}/pulls/7/reviews", authed, review
    )
    assert status == 422
    assert "For 'properties/comments/0/line', \"2\" is not an integer." in body["message"]
    assert '"SHIP_IT" is not a member of' in body["message"]
    assert fake_github.reviews_on(REPO, 7) == []


async def test_bad_query_parameter_is_422(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    status, body = await _call(
        fake_github, http, "GET", f"/repos/{REPO}/pulls/7/comments?per_page=lots", authed
    )
    assert status == 422
    assert "is not an integer" in body["message"]


async def test_malformed_json_is_400(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    async with http.post(
        f"{fake_github.base_url}/repos/{REPO}/issues/7/comments",
        data=b"{not json",
        headers={**authed, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["message"] == "Problems parsing JSON"


async def test_bad_auth_is_401(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, app_private_key: str
) -> None:
    fake_github.add_pull(REPO, 7, diff=DIFF, head_sha="a" * 40, base_sha="b" * 40)
    path = f"/repos/{REPO}/pulls/7"
    for headers in ({}, {"Authorization": "token ghs_made_up"}, {"Authorization": "Basic x"}):
        status, _ = await _call(fake_github, http, "GET", path, headers)
        assert status == 401, headers
    now = int(time.time())
    cases = {
        "wrong issuer": {"iat": now, "exp": now + 500, "iss": "999"},
        "too far in the future": {"iat": now, "exp": now + 3600, "iss": APP_ID},
        "expired": {"iat": now - 2000, "exp": now - 1000, "iss": APP_ID},
    }
    for label, claims in cases.items():
        token = jwt.encode(claims, app_private_key, "RS256")
        status, _ = await _call(
            fake_github,
            http,
            "POST",
            "/app/installations/1/access_tokens",
            {"Authorization": f"Bearer {token}"},
        )
        assert status == 401, label
    other_key = jwt.encode(
        {"iat": now, "exp": now + 500, "iss": APP_ID}, "not-the-app-key-" * 4, "HS256"
    )
    status, _ = await _call(
        fake_github,
        http,
        "POST",
        "/app/installations/1/access_tokens",
        {"Authorization": f"Bearer {other_key}"},
    )
    assert status == 401
    assert fake_github.issued_tokens == {}


async def test_installation_token_for_unknown_installation_is_404(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, app_private_key: str
) -> None:
    now = int(time.time())
    token = jwt.encode({"iat": now, "exp": now + 500, "iss": APP_ID}, app_private_key, "RS256")
    status, _ = await _call(
        fake_github,
        http,
        "POST",
        "/app/installations/77/access_tokens",
        {"Authorization": f"Bearer {token}"},
    )
    assert status == 404


async def test_expired_installation_token_is_refused(
    app_key_pair: tuple[str, str], http: aiohttp.ClientSession
) -> None:
    now = [1000.0]
    async with FakeGitHub.running(
        app_id=APP_ID, public_key=app_key_pair[1], clock=lambda: now[0] + time.time()
    ) as gh:
        gh.add_pull(REPO, 7, diff=DIFF, head_sha="a" * 40, base_sha="b" * 40)
        token = await _token(gh, http, app_key_pair[0])
        headers = {"Authorization": f"token {token}"}
        assert (await _call(gh, http, "GET", f"/repos/{REPO}/pulls/7", headers))[0] == 200
        now[0] += 3601
        assert (await _call(gh, http, "GET", f"/repos/{REPO}/pulls/7", headers))[0] == 401


async def test_review_with_one_comment_off_the_diff_stores_nothing(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    review = {
        "commit_id": "a" * 40,
        "event": "COMMENT",
        "body": "summary",
        "comments": [
            {"path": "app.py", "line": 2, "side": "RIGHT", "body": "on the diff"},
            {"path": "app.py", "line": 12, "side": "RIGHT", "body": "outside every hunk"},
        ],
    }
    status, body = await _call(
        fake_github, http, "POST", f"/repos/{REPO}/pulls/7/reviews", authed, review
    )
    assert status == 422
    assert body["message"] == "Unprocessable Entity"
    assert body["errors"] == ["Line could not be resolved"]
    assert fake_github.reviews_on(REPO, 7) == []
    assert fake_github.comments_on(REPO, 7) == []
    assert fake_github.invalid_requests == []


async def test_valid_review_is_stored_with_its_comments(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    review = {
        "commit_id": "a" * 40,
        "event": "COMMENT",
        "body": "summary",
        "comments": [
            {
                "path": "app.py",
                "line": 3,
                "side": "RIGHT",
                "body": "y?",
                "start_line": 2,
                "start_side": "RIGHT",
            },
            {"path": "app.py", "line": 2, "side": "LEFT", "body": "old x"},
        ],
    }
    status, body = await _call(
        fake_github, http, "POST", f"/repos/{REPO}/pulls/7/reviews", authed, review
    )
    assert status == 200
    assert body["user"]["login"] == "prwarden[bot]"
    assert body["state"] == "COMMENTED"
    status, comments = await _call(
        fake_github, http, "GET", f"/repos/{REPO}/pulls/7/comments", authed
    )
    assert status == 200
    assert [(c["path"], c["line"], c["side"], c["start_line"]) for c in comments] == [
        ("app.py", 3, "RIGHT", 2),
        ("app.py", 2, "LEFT", None),
    ]
    assert all(c["pull_request_review_id"] == body["id"] for c in comments)


def test_anchor_rules_follow_the_diff() -> None:
    diff = hunks.read(DIFF)

    def check(**comment: Any) -> str | None:
        return anchor_error(diff, {"path": "app.py", "body": "b", **comment})

    assert check(line=3) is None
    assert check(line=21, side="RIGHT") is None
    assert check(line=4, side="LEFT") is None  # context line, old numbering
    assert check(line=30) == "Line could not be resolved"
    assert check(line=2, side="LEFT") is None
    assert check(line=10, side="LEFT") == "Line could not be resolved"
    assert check(line=5, start_line=1) is None
    assert check(line=22, start_line=3) is not None  # two hunks
    assert check(line=3, start_line=3) is not None
    assert anchor_error(diff, {"path": "other.py", "line": 1, "body": "b"}) is not None
    assert check(position=1) is None
    assert check(position=99) == "Line could not be resolved"


CASES = corpora.ROOT / "bug_diffs" / "cases"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_the_fakes_oracle_and_prwardens_diff_agree_on_real_diffs(case: str) -> None:
    # Two readings written apart, GitHub's rules in the fake and prwarden's own parser, must
    # agree on every line of every real diff: a slip in either shows here.
    text = (CASES / case / "pr.diff").read_text()
    oracle, ours = hunks.read(text), parse_diff(text)
    assert sorted(f.path for f in oracle) == sorted(f.path for f in ours)
    for f in oracle:
        mine = ours.file(f.path)
        assert mine is not None
        last = max((max(ln.old or 0, ln.new or 0) for h in f.hunks for ln in h.lines), default=0)
        for side in ("RIGHT", "LEFT"):
            for line in range(1, last + 2):
                expected = f.commentable(line, side)
                assert mine.commentable(line, side) == expected, (f.path, line, side)


async def test_tarball_redirects_to_a_real_gzip_tar(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    sha = fake_github.add_commit(REPO, {"app.py": "x = 2\n", "pkg/mod.py": b"y = 1\n"})
    async with http.get(
        f"{fake_github.base_url}/repos/{REPO}/tarball/{sha}",
        headers=authed,
        allow_redirects=False,
    ) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    async with http.get(location) as resp:
        data = await resp.read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
    assert names == [
        f"octo-hello-{sha[:7]}",
        f"octo-hello-{sha[:7]}/app.py",
        f"octo-hello-{sha[:7]}/pkg/mod.py",
    ]
    async with http.get(location.split("?")[0]) as resp:
        assert resp.status == 404


async def test_contents_api_base64_and_404(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    fake_github.add_commit(REPO, {".github/prwarden.yml": "max_comments: 3\n"}, branch="main")
    status, body = await _call(
        fake_github, http, "GET", f"/repos/{REPO}/contents/.github/prwarden.yml?ref=main", authed
    )
    assert status == 200 and body["encoding"] == "base64"
    status, _ = await _call(
        fake_github, http, "GET", f"/repos/{REPO}/contents/missing.yml?ref=main", authed
    )
    assert status == 404


async def test_too_large_diff_answers_406_like_github(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    fake_github.pulls[(REPO, 7)].diff_too_large = True
    status, body = await _call(
        fake_github,
        http,
        "GET",
        f"/repos/{REPO}/pulls/7",
        {**authed, "Accept": "application/vnd.github.diff"},
    )
    assert status == 406
    assert body["errors"] == [{"resource": "PullRequest", "field": "diff", "code": "too_large"}]
    assert body["message"].startswith("Sorry, the diff exceeded the maximum number of files")


async def test_fail_next_scripts_faults_then_recovers(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    fake_github.fail_next("GET", r"/pulls/7$", 502, times=2)
    fake_github.fail_next("GET", r"/pulls/7/files", 403, headers={"Retry-After": "30"})
    path = f"/repos/{REPO}/pulls/7"
    assert (await _call(fake_github, http, "GET", path, authed))[0] == 502
    assert (await _call(fake_github, http, "GET", path, authed))[0] == 502
    assert (await _call(fake_github, http, "GET", path, authed))[0] == 200
    async with http.get(f"{fake_github.base_url}{path}/files", headers=authed) as resp:
        assert resp.status == 403
        assert resp.headers["Retry-After"] == "30"
        assert "secondary rate limit" in (await resp.json())["message"]


async def test_pagination_uses_link_headers(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    comment = fake_github.add_review_comment(REPO, 7, path="app.py", line=2, body="earlier")
    for i in range(5):
        fake_github.add_reaction(comment["id"], "+1", user=f"user{i}")
    async with http.get(
        f"{fake_github.base_url}/repos/{REPO}/pulls/comments/{comment['id']}/reactions?per_page=2",
        headers=authed,
    ) as resp:
        assert len(await resp.json()) == 2
        assert 'rel="next"' in resp.headers["Link"] and "page=2" in resp.headers["Link"]


def test_spec_resolves_every_operation() -> None:
    spec = OpenAPISpec.load(SPEC_PATH)
    assert len(spec.operations) >= 30
    assert Path(SPEC_PATH).is_file()
    op = spec.match("PATCH", "/repos/o/r/check-runs/5")
    assert op is not None
    assert spec.validate_body(op.operation, {"status": "completed"})
    assert spec.validate_body(op.operation, {"conclusion": "success"}) == []


def _annotation(n: int) -> dict[str, Any]:
    return {
        "path": "f.py",
        "start_line": n,
        "end_line": n,
        "annotation_level": "warning",
        "message": f"finding {n}",
    }


async def test_check_run_annotations_append_fifty_at_most_per_request_and_read_back(
    fake_github: FakeGitHub, http: aiohttp.ClientSession, authed: dict[str, str]
) -> None:
    fake_github.add_repo(REPO)
    base = f"/repos/{REPO}/check-runs"
    status, run = await _call(
        fake_github, http, "POST", base, authed, {"name": "prwarden", "head_sha": "a" * 40}
    )
    assert status == 201
    output = {"title": "t", "summary": "s"}
    too_many = {"output": {**output, "annotations": [_annotation(n) for n in range(51)]}}
    status, _ = await _call(fake_github, http, "PATCH", f"{base}/{run['id']}", authed, too_many)
    assert status == 422
    for chunk in (range(1, 51), range(51, 61)):
        body = {"output": {**output, "annotations": [_annotation(n) for n in chunk]}}
        status, data = await _call(fake_github, http, "PATCH", f"{base}/{run['id']}", authed, body)
        assert status == 200
    assert data["output"]["annotations_count"] == 60
    path = f"{base}/{run['id']}/annotations?per_page=100"
    status, listed = await _call(fake_github, http, "GET", path, authed)
    assert status == 200
    assert [a["start_line"] for a in listed] == list(range(1, 61))
    assert all(a["blob_href"].endswith("/f.py") and a["title"] is None for a in listed)
