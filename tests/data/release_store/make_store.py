"""Write the SQLite store a released prwarden leaves behind, for the migrate-from-sqlite tests.

``store-d8a4755.db`` was written by commit d8a4755 (schema version 4), with that commit's code,
not the current one::

    git archive d8a4755 | tar -x -C /tmp/prwarden-d8a4755
    cd /tmp/prwarden-d8a4755 && PYTHONPATH=. python \
        /path/to/this/checkout/tests/data/release_store/make_store.py store-d8a4755.db

It serves the release's app against the fake GitHub and the scripted fake model, reviews the
bundled example PR once (deliveries, jobs, a cached review, per-file entries, the review run,
model calls, the posted comment), then records what the other tables hold in use: an
installation, a paused repository, a tool call, a held finding that was approved, feedback on
the posted comment and a shadow signal.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

import cache.db
from bot.context import CTX
from cache import accounting, deliveries, feedback, shadow
from cache.held import HeldFindings
from testkit.fakes.github import FakeGitHub
from testkit.fakes.openai import FakeOpenAI
from testkit.reviewer import model_settings, script_reviewer
from testkit.signing import generate_key_pair
from tests.reviewing import FINDING, idle, serve
from tests.scenario import pull_scenario, wait_for


async def _client(app: object) -> TestClient:  # type: ignore[type-arg]
    client = TestClient(TestServer(app))  # type: ignore[arg-type]
    await client.start_server()
    return client


async def main(out: Path) -> None:
    print(f"writing with {cache.db.__file__}", file=sys.stderr)
    private, public = generate_key_pair()
    scratch = Path(tempfile.mkdtemp())
    async with FakeGitHub.running(app_id="424242", public_key=public) as gh, FakeOpenAI() as fake:
        script_reviewer(fake, [FINDING])
        client = await serve(_client, gh, private, scratch, review=model_settings(fake))
        s = pull_scenario(gh)
        body, headers = s.delivery()
        assert (await client.post("/webhook", data=body, headers=headers)).status == 202
        await wait_for(lambda: idle(client) and len(s.reviews) == 1, within=60)
        db = client.app[CTX].db
        deliveries.remember_installation(db, 1, "Codertocat", ["Codertocat/Hello-World"])
        deliveries.set_paused(db, "Codertocat/Paused", True, by="octocat")
        accounting.record_tool_call(
            db, tool="search_codebase", args={"pattern": "total_spent"}, duration_ms=4.0,
            bytes=120, error=None, installation_id=1, repo=s.repo, pr_number=s.number,
        )  # fmt: skip
        held = HeldFindings(db)
        held_id = held.hold(
            installation_id=1,
            repo=s.repo,
            pr_number=s.number,
            head_sha=s.head_sha,
            fingerprint="f" * 16,
            finding=dict(FINDING, category="security"),
            evidence={"why": "security category"},
        )
        held.approve(held_id, "security-lead")
        posted = feedback.posted_comments(db, s.repo, s.number)[0]
        feedback.record_feedback(db, comment_id=posted.comment_id, signal="thumbs_up", actor="dev")
        run_id = int(db.conn.execute("SELECT MAX(id) FROM review_runs").fetchone()[0])
        finding = shadow.ShadowFinding(
            run_id, s.head_sha, "e" * 16, "shop/db.py", 23, "correctness", "medium", "pass"
        )
        shadow.record_would_help(
            db, repo=s.repo, pr_number=s.number, finding=finding, head_sha="b" * 40
        )
        await client.close()
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.conn.execute("VACUUM INTO ?", (str(out),))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]).resolve()))
