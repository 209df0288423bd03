"""Shadow mode, measured: reviews stored, nothing posted, and the would-have-helped signal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import make_app
from bot.cli import main
from bot.context import CTX
from cache import runs
from cache.db import open_db
from cache.shadow import shadow_findings, shadow_stats
from tests.fakes.github import FakeGitHub
from tests.helpers import make_settings
from tests.reviewing import completed, deliver, idle
from tests.scenario import PullScenario, example_diff, example_files, pull_scenario, wait_for

B006_OLD = "def add_line(line: Line, basket: list[Line] = []) -> list[Line]:"
B006_NEW = "def add_line(line: Line, basket: list[Line]) -> list[Line]:"
F821_OLD = "total = apply_discount(total, COUPONS[coupon])"
F821_NEW = "total = apply_discount(total, 10.0)"


def _push(s: PullScenario, replacements: list[tuple[str, str]]) -> str:
    files, diff = example_files(), example_diff()
    for old, new in replacements:
        files["shop/orders.py"] = files["shop/orders.py"].replace(old.encode(), new.encode())
        diff = diff.replace(old, new)
    return s.push(files, diff)


async def test_shadow_repo_stores_reviews_posts_nothing_and_measures_usefulness(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = pull_scenario(fake_github, config="mode: shadow\n")
    db_path = tmp_path / "prwarden.db"
    settings = make_settings(
        app_private_key, api_url=fake_github.base_url, workspaces=tmp_path / "ws"
    )
    client: TestClient[Any, Any] = await aiohttp_client(make_app(settings, db=open_db(db_path)))
    db = client.app[CTX].db
    await deliver(client, s)
    await wait_for(lambda: idle(client) and completed(s, s.head_sha) is not None)
    first = runs.last_run(db, s.repo, s.number)
    assert first is not None and first.shadow and first.review_id is None
    stored = {f.fingerprint: f for f in shadow_findings(db, s.repo, s.number)}
    titles = {f.fingerprint: f.anchored_code for f in stored.values()}
    assert any(B006_OLD in code for code in titles.values())
    assert all(f.anchored_code for f in stored.values())

    second = _push(s, [(B006_OLD, B006_NEW)])
    await deliver(client, s, action="synchronize", head_sha=second)
    await wait_for(lambda: idle(client) and completed(s, second) is not None)
    (row,) = shadow_stats(db, repo=s.repo)
    assert (row.shadow_reviews, row.would_help) == (2, 1)

    third = _push(s, [(B006_OLD, B006_NEW), (F821_OLD, F821_NEW)])
    await deliver(client, s, action="closed", head_sha=third)
    await wait_for(lambda: idle(client))
    (row,) = shadow_stats(db, repo=s.repo)
    assert row.would_help == 2 and row.findings_stored >= len(stored)
    assert row.would_help_rate == pytest.approx(2 / row.findings_stored)

    assert s.reviews == [] and s.comments == []
    assert fake_github.requests_for("pulls/create-review") == []
    for sha in (s.head_sha, second):
        (check,) = s.check_runs(sha)
        assert check["status"] == "completed" and "Shadow mode" in check["output"]["title"]

    monkeypatch.setenv("PRWARDEN_DB", str(db_path))
    assert main(["stats", "--repo", s.repo]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith(s.repo[:32]) and "%" in x)
    assert line.split()[1:] == [
        "2",
        "1",
        str(row.findings_stored),
        "2",
        f"{2 / row.findings_stored:.0%}",
    ]
    assert main(["stats", "--repo", s.repo, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["shadow"][0]["would_help"] == 2
