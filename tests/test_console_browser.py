"""The security console in a real browser: headless Chromium against a real ``prwarden serve``.

Debian's ``chromium`` and ``chromium-driver`` (installed by ``.ci/run``; see README) are driven
by Selenium with the driver and browser paths given, so nothing is downloaded. The server is a
real process on loopback, pointed at the fake GitHub (REST API and OAuth web host). Held
findings are seeded on the example PR before it starts. Selenium blocks, so each browser step
runs in a thread while the event loop keeps the fake GitHub answering.

Screenshots of the queue and a detail page are written to ``PRWARDEN_SHOTS`` when it is set.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from cryptography.fernet import Fernet

from cache.db import open_db
from tests.console_scenario import (
    BASKET,
    CLIENT_ID,
    CLIENT_SECRET,
    EDITED_BODY,
    PWN,
    SQL,
    SWALLOW,
    TEAM_ORG,
    TEAM_SLUG,
    Seeded,
    seed,
)
from tests.fakes.github import FakeGitHub
from tests.scenario import PullScenario, pull_scenario, wait_for
from tests.serve_process import ServeProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1400",
)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "headless Chromium needs Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

T = TypeVar("T")

# Everything that could run or load: none of it may exist in a page of the console.
LIVE_ELEMENTS = (
    "script, img, svg, iframe, object, embed, style, meta[http-equiv], base, link[href^='http'],"
    " form[action^='javascript'], a[href^='javascript'], a[href^='data'], a[href^='vbscript']"
)
ON_ATTRIBUTES = (
    "return [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]"
    ".filter(a => a.name.startsWith('on') || /^\\s*(javascript|data|vbscript):/i.test(a.value))"
    ".map(a => e.tagName + ' ' + a.name))"
)


async def _in_thread(step: Callable[[], T]) -> T:
    return await asyncio.to_thread(step)


@pytest.fixture
def driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    options.add_argument(f"--user-data-dir={profile}")
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(60)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
async def console(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> AsyncIterator[tuple[ServeProcess, PullScenario, Seeded]]:
    s = pull_scenario(fake_github)
    seeded = seed(open_db(tmp_path / "prwarden.db"), s)
    server = ServeProcess(
        tmp_path,
        api_url=fake_github.base_url,
        private_key=app_private_key,
        PRWARDEN_CLIENT_ID=CLIENT_ID,
        PRWARDEN_CLIENT_SECRET=CLIENT_SECRET,
        PRWARDEN_GITHUB_URL=fake_github.base_url,
        PRWARDEN_SECURITY_TEAM=f"{TEAM_ORG}/{TEAM_SLUG}",
        PRWARDEN_SESSION_KEY=Fernet.generate_key().decode(),
        PRWARDEN_ADMIN_TOKEN="browser-admin-token-0042",
    )
    fake_github.web.register(CLIENT_ID, CLIENT_SECRET, server.url + "/login/github/callback")
    fake_github.add_team_member(TEAM_ORG, TEAM_SLUG, "alice")
    await _in_thread(server.start)
    try:
        yield server, s, seeded
    finally:
        server.stop()


def attacker_app(console: str, finding_id: int, token: str) -> web.Application:
    """A page with forms aimed at the console, to serve from another site (``localhost``)."""
    forms = "".join(
        f'<form method="post" action="{console}/findings/{finding_id}/{action}">'
        f'<input type="hidden" name="csrf_token" value="{token}">'
        '<input type="hidden" name="reason" value="attacker">'
        f'<button id="{action}" type="submit">{action}</button></form>'
        for action in ("approve", "reject")
    )

    async def page(request: web.Request) -> web.Response:
        text = f"<!doctype html><title>win a prize</title>{forms}"
        return web.Response(text=text, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    return app


def _inert(browser: WebDriver) -> None:
    """No script ran and nothing that could run or load is in the page."""
    assert browser.execute_script(f"return typeof {PWN}") == "undefined"
    assert "pwned" not in browser.title
    try:
        alert = browser.switch_to.alert
    except NoAlertPresentException:
        alert = None
    assert alert is None
    assert browser.find_elements(By.CSS_SELECTOR, LIVE_ELEMENTS) == []
    assert browser.execute_script(ON_ATTRIBUTES) == []


def _shot(browser: WebDriver, name: str) -> None:
    folder = os.environ.get("PRWARDEN_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1280, max(900, min(int(height) + 40, 4000)))
        browser.save_screenshot(str(Path(folder) / name))
        browser.set_window_size(1280, 1400)


def _at(browser: WebDriver, url: str) -> None:
    """Wait until the browser has arrived at ``url`` (a click's navigation may still run)."""
    WebDriverWait(browser, 30).until(expected_conditions.url_to_be(url))


def _open(browser: WebDriver, url: str, finding_id: int) -> None:
    browser.get(url + "/findings?state=all")
    browser.find_element(By.CSS_SELECTOR, f"tr[data-id='{finding_id}'] a.detail").click()
    _at(browser, f"{url}/findings/{finding_id}")


def _notice(browser: WebDriver) -> str:
    """The notice of the page a decision leads to, once the browser has loaded it."""
    found = WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((By.ID, "notice"))
    )
    return str(found.text)


async def test_security_team_triages_in_the_browser(
    console: tuple[ServeProcess, PullScenario, Seeded],
    fake_github: FakeGitHub,
    driver: WebDriver,
    aiohttp_server: Any,
) -> None:
    server, s, seeded = console
    url = server.url

    # A person outside the security team is refused at sign-in.
    fake_github.web.signed_in = "mallory"

    def outsider() -> None:
        driver.get(url + "/findings")
        assert driver.current_url == url + "/login"
        driver.find_element(By.ID, "github-sign-in").click()
        message = (
            WebDriverWait(driver, 30)
            .until(expected_conditions.presence_of_element_located((By.ID, "message")))
            .text
        )
        assert f"mallory is not a member of {TEAM_ORG}/{TEAM_SLUG}" in message
        _shot(driver, "console-refused.png")
        driver.get(url + "/findings")
        assert driver.current_url == url + "/login"

    await _in_thread(outsider)

    # A member signs in with GitHub and filters the queue.
    fake_github.web.signed_in = "alice"

    def member() -> None:
        driver.find_element(By.ID, "github-sign-in").click()
        _at(driver, url + "/findings")
        assert driver.find_element(By.ID, "who").text == "alice"
        rows = driver.find_elements(By.CSS_SELECTOR, "#queue tr.finding")
        assert len(rows) == 4
        _inert(driver)
        _shot(driver, "console-queue.png")
        Select(driver.find_element(By.ID, "f-severity")).select_by_value("critical")
        driver.find_element(By.ID, "apply").click()
        WebDriverWait(driver, 30).until(expected_conditions.url_contains("severity=critical"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#queue tr.finding")
        assert [r.get_attribute("data-id") for r in rows] == [str(seeded["sql"])]
        assert "severity=critical" in driver.current_url
        assert driver.find_element(By.ID, "shown").text == "1"

    await _in_thread(member)

    # The hostile finding is inert on its detail page too.
    def hostile() -> None:
        _open(driver, url, seeded["hostile"])
        assert "<script>" in driver.find_element(By.ID, "title").text
        assert "onerror" in driver.find_element(By.ID, "path").text
        _inert(driver)
        _shot(driver, "console-detail-hostile.png")

    await _in_thread(hostile)

    # Approve one, approve one with an edit, reject one.
    def decide() -> None:
        _open(driver, url, seeded["sql"])
        assert driver.find_elements(By.CSS_SELECTOR, "#diff tr.anchor")
        assert "search_codebase" in driver.find_element(By.ID, "tool-calls").text
        assert "capable-model" in driver.find_element(By.ID, "models").text
        assert "ignore previous instructions" in driver.find_element(By.ID, "injections").text
        _inert(driver)
        _shot(driver, "console-detail.png")
        driver.find_element(By.CSS_SELECTOR, "#approve button").click()
        assert "Approved" in _notice(driver)
        assert "approve</strong>" in driver.page_source and "by alice" in driver.page_source

        _open(driver, url, seeded["basket"])
        body = driver.find_element(By.ID, "edit-body")
        body.clear()
        body.send_keys(EDITED_BODY)
        driver.find_element(By.CSS_SELECTOR, "#approve-edited button").click()
        assert "Approved with your text" in _notice(driver)

        _open(driver, url, seeded["swallow"])
        driver.find_element(By.ID, "reason").send_keys("accepted risk: internal tool")
        driver.find_element(By.CSS_SELECTOR, "#reject button").click()
        assert "Rejected" in _notice(driver)
        assert "rejected by alice" in driver.find_element(By.ID, "state").text

    await _in_thread(decide)

    # A form on another site, even one holding this session's CSRF token, decides nothing.
    token = await _in_thread(
        lambda: driver.find_element(By.NAME, "csrf_token").get_attribute("value")
    )
    other_site = await aiohttp_server(attacker_app(url, seeded["hostile"], str(token)))
    attacker = f"http://localhost:{other_site.port}/"

    def cross_site() -> None:
        for form in ("approve", "reject"):
            driver.get(attacker)
            driver.find_element(By.ID, form).click()
            # No session cookie goes with it (SameSite): sent to sign in, and on from there.
            WebDriverWait(driver, 30).until(lambda d: d.current_url.startswith(url))
            assert driver.current_url in (url + "/login", url + "/findings")
        driver.get(url + "/findings?state=all")
        assert driver.find_element(By.ID, "who").text == "alice"
        _shot(driver, "console-queue-decided.png")

    await _in_thread(cross_site)

    db = open_db(server.env["PRWARDEN_DB"])
    await wait_for(
        lambda: db["jobs"].count_where("kind = 'post_held' AND state = 'done'") == 2, within=60
    )
    comments = fake_github.requests_for("pulls/create-review-comment")
    assert len(comments) == 2 and len(s.comments) == 2
    assert all(r.valid for r in fake_github.requests), fake_github.invalid_requests
    bodies = [str(c.json["body"]) for c in comments]
    assert sum(SQL["title"] in b for b in bodies) == 1
    (edited,) = [b for b in bodies if BASKET["title"] in b]
    assert EDITED_BODY in edited and BASKET["body"] not in edited
    assert not any(SWALLOW["title"] in b for b in bodies)
    states = {r["id"]: (r["state"], r["decided_by"]) for r in db["findings"].rows}
    assert states[seeded["sql"]] == ("posted", "alice")
    assert states[seeded["basket"]] == ("posted", "alice")
    assert states[seeded["swallow"]] == ("rejected", "alice")
    assert states[seeded["hostile"]] == ("pending", None)
