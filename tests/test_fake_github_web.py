"""The fake GitHub's OAuth web flow answers as GitHub documents it.

"Authorizing OAuth apps" (docs.github.com): the authorize redirect carries ``code`` and the
unchanged ``state``; a ``redirect_uri`` outside the registered callback is refused; the token
exchange answers 200 with an ``error`` field on failure, JSON only when asked for; a code
works once. The user token it issues then authenticates ``GET /user`` and team membership
lookups, which an installation token cannot make.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import aiohttp
from yarl import URL

from tests.fakes.github import FakeGitHub

CLIENT, SECRET = "Iv1.fake0client", "fake-client-secret"
API = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


async def _authorize(
    http: aiohttp.ClientSession, gh: FakeGitHub, callback: str, **query: str
) -> URL:
    params = {"client_id": CLIENT, "redirect_uri": callback, "state": "s-1", **query}
    async with http.get(
        f"{gh.base_url}/login/oauth/authorize", params=params, allow_redirects=False
    ) as response:
        assert response.status == 302, await response.text()
        return URL(response.headers["Location"])


async def _exchange(
    http: aiohttp.ClientSession, gh: FakeGitHub, *, json: bool = True, **fields: str
) -> dict[str, str]:
    headers = {"Accept": "application/json"} if json else {}
    async with http.post(
        f"{gh.base_url}/login/oauth/access_token", data=fields, headers=headers
    ) as response:
        assert response.status == 200
        if json:
            data: dict[str, str] = await response.json()
            return data
        return {k: v[0] for k, v in parse_qs(await response.text()).items()}


async def test_the_web_flow_issues_a_user_token_once(fake_github: FakeGitHub) -> None:
    callback = "http://127.0.0.1:9/login/github/callback"
    fake_github.web.register(CLIENT, SECRET, callback)
    fake_github.web.signed_in = "alice"
    fake_github.add_team_member("Org", "sec", "alice")
    async with aiohttp.ClientSession() as http:
        back = await _authorize(http, fake_github, callback)
        assert str(back.with_query(None)) == callback and back.query["state"] == "s-1"
        code = back.query["code"]
        wrong = await _exchange(http, fake_github, client_id=CLIENT, client_secret="x", code=code)
        assert wrong["error"] == "incorrect_client_credentials" and "access_token" not in wrong
        mismatch = await _exchange(
            http,
            fake_github,
            client_id=CLIENT,
            client_secret=SECRET,
            code=code,
            redirect_uri="http://127.0.0.1:9/elsewhere",
        )
        assert mismatch["error"] == "redirect_uri_mismatch"
        back = await _authorize(http, fake_github, callback)
        form = await _exchange(
            http,
            fake_github,
            json=False,
            client_id=CLIENT,
            client_secret=SECRET,
            code=back.query["code"],
        )
        assert form["token_type"] == "bearer" and form["access_token"].startswith("ghu_")
        again = await _exchange(
            http, fake_github, client_id=CLIENT, client_secret=SECRET, code=back.query["code"]
        )
        assert again["error"] == "bad_verification_code"
        user = {**API, "Authorization": f"Bearer {form['access_token']}"}
        async with http.get(f"{fake_github.base_url}/user", headers=user) as response:
            assert response.status == 200 and (await response.json())["login"] == "alice"
        member = f"{fake_github.base_url}/orgs/org/teams/sec/memberships/alice"
        async with http.get(member, headers=user) as response:
            assert (await response.json())["state"] == "active"
        async with http.get(member.replace("alice", "bob"), headers=user) as response:
            assert response.status == 404
    assert fake_github.invalid_requests == []


async def test_the_authorize_page_refuses_what_github_refuses(fake_github: FakeGitHub) -> None:
    callback = "http://127.0.0.1:9/login/github/callback"
    fake_github.web.register(CLIENT, SECRET, callback)
    fake_github.web.signed_in = "alice"
    async with aiohttp.ClientSession() as http:
        unknown = f"{fake_github.base_url}/login/oauth/authorize?client_id=nobody"
        async with http.get(unknown, allow_redirects=False) as response:
            assert response.status == 404
        for elsewhere in ("http://127.0.0.1:10/login/github/callback", "http://evil.example/x"):
            back = await _authorize(http, fake_github, elsewhere)
            assert str(back.with_query(None)) == callback
            assert back.query["error"] == "redirect_uri_mismatch" and "code" not in back.query
        below = await _authorize(http, fake_github, callback + "/deeper")
        assert "code" in below.query
        fake_github.web.declines = True
        denied = await _authorize(http, fake_github, callback)
        assert denied.query["error"] == "access_denied" and denied.query["state"] == "s-1"
        async with http.get(
            f"{fake_github.base_url}/user", headers={**API, "Authorization": "Bearer nope"}
        ) as response:
            assert response.status == 401
