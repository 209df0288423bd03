"""``prwarden setup`` against the fake GitHub, end to end over HTTP: the page posts the
manifest, GitHub sends the operator back with a code, the code becomes an env file with mode
0600 that no terminal saw, and ``prwarden serve`` starts from that file."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
import yaml
from dotenv import dotenv_values

from bot.config import Settings
from bot.setup_flow import (
    SetupOptions,
    build_manifest,
    new_app_url,
    run_setup,
    setup_page,
    write_secret_file,
)
from prwarden.errors import ConfigError
from tests.fakes.github import FakeGitHub
from tests.helpers import delivery_headers, payload
from tests.serve_process import free_port

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK = "https://review.example.com/webhook"


class Form(HTMLParser):
    """The first form on a page: where it posts and its fields, as a browser would send them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.action:
            self.action = values.get("action", "")
        elif tag == "input" and "name" in values:
            self.fields[values["name"]] = values.get("value", "")


def _env(gh: FakeGitHub, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRWARDEN_", "OPENAI_"))}
    env.update(
        PRWARDEN_GITHUB_URL=gh.base_url,
        PRWARDEN_GITHUB_API_URL=gh.base_url,
        PRWARDEN_DB=str(tmp_path / "prwarden.db"),
        PRWARDEN_WORKSPACES=str(tmp_path / "workspaces"),
    )
    return env


async def _browse(page_url: str) -> tuple[int, str]:
    """Open the setup page and press its button; follow GitHub back to the callback."""
    async with aiohttp.ClientSession() as browser:
        async with browser.get(page_url) as resp:
            form = Form(await resp.text())
        async with browser.post(form.action, data=form.fields) as resp:
            return resp.status, await resp.text()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _healthy(url: str, http: aiohttp.ClientSession, proc: asyncio.subprocess.Process) -> int:
    """Poll ``/healthz`` until the server answers (or the process dies)."""
    async with asyncio.timeout(30):
        while proc.returncode is None:
            try:
                async with http.get(url + "/healthz") as resp:
                    return resp.status
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise AssertionError("prwarden serve exited")


async def _prwarden(args: list[str], env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot.cli", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )


async def test_setup_end_to_end_then_serve_from_the_env_file(
    fake_github: FakeGitHub, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    env_file = tmp_path / "prwarden.env"
    env = _env(fake_github, tmp_path)
    setup = await _prwarden(
        ["setup", "--webhook-url", WEBHOOK, "--env-file", str(env_file)], env, tmp_path
    )
    try:
        assert setup.stderr is not None
        first = (await asyncio.wait_for(setup.stderr.readline(), 60)).decode()
        found = re.search(r"Open (http://127\.0\.0\.1:\d+/) ", first)
        assert found, first
        page_url = found.group(1)
        status, done_page = await _browse(page_url)
        out, err = await asyncio.wait_for(setup.communicate(), 60)
    finally:
        if setup.returncode is None:
            setup.kill()
            await setup.wait()
    printed = first + out.decode() + err.decode()
    assert status == 200, done_page
    assert setup.returncode == 0, printed

    # GitHub got the manifest of app.yml, with this server's webhook and redirect URLs
    manifest = json.loads(fake_github.manifests.forms[0]["manifest"])
    shipped = yaml.safe_load((ROOT / "app.yml").read_text())
    assert manifest["hook_attributes"]["url"] == WEBHOOK
    assert manifest["redirect_url"] == page_url + "callback"
    assert manifest["url"] == "https://review.example.com"
    assert manifest["default_permissions"] == shipped["default_permissions"]
    assert manifest["default_events"] == shipped["default_events"]
    conversions = fake_github.requests_for("apps/create-from-manifest")
    assert len(conversions) == 1 and fake_github.invalid_requests == []

    # the env file: every credential, mode 0600, and none of it on the terminal or the page
    app = fake_github.manifests.apps[0]
    assert env_file.stat().st_mode & 0o777 == 0o600
    values = dotenv_values(env_file)
    assert values["PRWARDEN_APP_ID"] == str(app.id)
    assert values["PRWARDEN_PRIVATE_KEY"] == app.pem.strip()
    assert values["PRWARDEN_WEBHOOK_SECRET"] == app.webhook_secret
    assert values["PRWARDEN_CLIENT_ID"] == app.client_id
    assert values["PRWARDEN_CLIENT_SECRET"] == app.client_secret
    key_body = app.pem.splitlines()[1]
    for secret in (key_body, app.webhook_secret, app.client_secret):
        assert secret not in printed and secret not in done_page
    assert f"prwarden serve --env-file {env_file}" in printed

    # doctor, from that file alone, finds GitHub taking the new App's key
    serve_env = {k: v for k, v in env.items() if not k.startswith("PRWARDEN_GITHUB")}
    doctor = await _prwarden(["doctor", "--env-file", str(env_file)], serve_env, tmp_path)
    report, _ = await asyncio.wait_for(doctor.communicate(), 120)
    lines = {line.split()[1]: line for line in report.decode().splitlines()}
    assert doctor.returncode == 0, report.decode()
    assert lines["env-file"].startswith("ok") and "mode 600" in lines["env-file"]
    assert lines["github-app"].startswith("ok") and app.slug in lines["github-app"]
    assert lines["webhook"].startswith("ok") and WEBHOOK in lines["webhook"]

    # prwarden serve starts from that file alone
    port = free_port()
    serve_env.update(PRWARDEN_DB=str(tmp_path / "serve.db"))
    serve = await _prwarden(
        ["serve", "--env-file", str(env_file), "--port", str(port)], serve_env, tmp_path
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert await _healthy(url, http, serve) == 200
        # GitHub's first delivery, signed with the new App's secret, verifies
        body = json.dumps(payload("ping.1")).encode()
        headers = delivery_headers("ping", body, secret=app.webhook_secret)
        async with http.post(url + "/webhook", data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        forged = delivery_headers("ping", body, secret="not-the-secret")
        async with http.post(url + "/webhook", data=body, headers=forged) as resp:
            assert resp.status == 401
    finally:
        serve.terminate()
        _, serve_err = await asyncio.wait_for(serve.communicate(), 30)
    assert key_body not in serve_err.decode()


def _options(tmp_path: Path, **overrides: object) -> SetupOptions:
    values: dict[str, object] = {
        "webhook_url": WEBHOOK,
        "env_file": tmp_path / ".env",
        "port": free_port(),
        "timeout": 60.0,
    }
    values.update(overrides)
    return SetupOptions(**values)  # type: ignore[arg-type]


async def _page_when_up(http: aiohttp.ClientSession, page: str) -> str:
    """The setup page, once the flow started in the background listens."""
    async with asyncio.timeout(30):
        while True:
            try:
                async with http.get(page) as resp:
                    return await resp.text()
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)


def _settings(gh: FakeGitHub, tmp_path: Path) -> Settings:
    return Settings.from_env(_env(gh, tmp_path))


async def test_a_callback_from_another_run_is_refused_and_writes_nothing(
    fake_github: FakeGitHub, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    options = _options(tmp_path)
    task = asyncio.create_task(run_setup(_settings(fake_github, tmp_path), options))
    page = f"http://127.0.0.1:{options.port}/"
    form = Form(await _page_when_up(http, page))
    forged = f"{page}callback?code=abc123&state=not-the-state"
    async with http.get(forged) as resp:
        assert resp.status == 403
    assert not options.env_file.exists()
    # the real round trip still works, once
    status, _ = await _browse(page)
    assert status == 200
    assert (await task).app_id == fake_github.manifests.apps[0].id
    assert "state=" in form.action
    code_again = fake_github.requests_for("apps/create-from-manifest")[0].path.split("/")[2]
    async with http.post(f"{fake_github.base_url}/app-manifests/{code_again}/conversions") as resp:
        assert resp.status in (400, 404)


async def test_an_existing_env_file_is_never_overwritten(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    options = _options(tmp_path)
    options.env_file.write_text("PRWARDEN_APP_ID=1\n")
    with pytest.raises(ConfigError, match="already exists"):
        await run_setup(_settings(fake_github, tmp_path), options)
    assert options.env_file.read_text() == "PRWARDEN_APP_ID=1\n"


async def test_a_webhook_url_that_is_not_a_url_is_refused(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="--webhook-url"):
        await run_setup(_settings(fake_github, tmp_path), _options(tmp_path, webhook_url="x"))


def test_the_new_app_page_is_the_users_or_the_organizations() -> None:
    assert new_app_url("https://github.com", None, "s1") == (
        "https://github.com/settings/apps/new?state=s1"
    )
    assert new_app_url("https://ghes.example/", "octo-org", "s 2") == (
        "https://ghes.example/organizations/octo-org/settings/apps/new?state=s%202"
    )


def test_the_page_escapes_what_it_embeds() -> None:
    manifest = build_manifest(
        {"name": "x", "default_permissions": {"checks": "write"}},
        webhook_url='https://h.example/hook?a="><script>',
        redirect_url="http://127.0.0.1:1/callback",
        name='pr"warden',
    )
    form = Form(setup_page("https://github.com/settings/apps/new?state=s", manifest))
    assert json.loads(form.fields["manifest"]) == manifest
    assert "<script>" not in setup_page("https://github.com/x", manifest)


def test_an_env_file_is_created_private_and_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "creds.env"
    write_secret_file(path, "A=1\n", force=False)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError, match="already exists"):
        write_secret_file(path, "A=2\n", force=False)
    assert path.read_text() == "A=1\n"
    path.chmod(0o644)
    write_secret_file(path, "A=3\n", force=True)
    assert path.read_text() == "A=3\n" and path.stat().st_mode & 0o777 == 0o600


async def test_credentials_are_kept_when_the_env_file_appeared_meanwhile(
    fake_github: FakeGitHub, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    options = _options(tmp_path)
    task = asyncio.create_task(run_setup(_settings(fake_github, tmp_path), options))
    page = f"http://127.0.0.1:{options.port}/"
    await _page_when_up(http, page)
    options.env_file.write_text("KEEP=1\n")
    status, done_page = await _browse(page)
    registered = await task
    assert status == 200, done_page
    assert options.env_file.read_text() == "KEEP=1\n"
    spare = registered.env_file
    assert spare == tmp_path / f".env.app-{registered.app_id}"
    assert spare.stat().st_mode & 0o777 == 0o600
    assert dotenv_values(spare)["PRWARDEN_APP_ID"] == str(registered.app_id)


async def test_github_refuses_a_manifest_with_a_permission_it_does_not_know(
    fake_github: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    manifest = {
        "name": "x",
        "url": "https://h.example",
        "redirect_url": "http://127.0.0.1:1/callback",
        "hook_attributes": {"url": "https://h.example/webhook"},
        "default_permissions": {"pull_requests": "write", "everything": "write"},
    }
    url = f"{fake_github.base_url}/settings/apps/new"
    async with http.post(url, data={"manifest": json.dumps(manifest)}) as resp:
        assert resp.status == 422
        assert "everything" in await resp.text()
    manifest["default_permissions"] = {"pull_requests": "admin"}
    async with http.post(url, data={"manifest": json.dumps(manifest)}) as resp:
        assert resp.status == 422
    assert fake_github.manifests.apps == []
