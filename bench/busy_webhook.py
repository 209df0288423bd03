"""Webhook latency while the server reviews a 5 MB diff, next to the same load when idle.

A real ``prwarden serve`` with one worker; the fake GitHub serves a PR whose diff is about
5 MB of new Python files (generated here, never stored). Open-loop deliveries from
``bench/loadgen.py`` measure the acknowledgement latency first with nothing running, then
while that PR's static review runs (from its first check run to its completed one). The
review's CPU work (diff parse, injection scan, filters) must not stall the loop that answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bench.loadgen import Delivery, delivery, percentile, pull_event, tiny_pulls
from tests.fakes.github import FakeGitHub
from tests.helpers import SECRET, WEBHOOKS
from tests.serve_process import APP_ID, ServeProcess

TEMPLATE = WEBHOOKS / "payloads" / "pull_request.opened.2.json"
REPO = "Codertocat/Hello-World"
BIG_PR = 9000
TARGET_BYTES = 5 * 1024 * 1024
RATE = 50.0

_HEADER = '''"""Generated module {n}: a handful of small functions, as a real change would add."""

from __future__ import annotations

import json
from pathlib import Path
'''
_PART = '''

def load_{n}(path: Path) -> dict[str, object]:
    """Read the settings file of part {n}; an empty mapping when it is missing."""
    if not path.exists():
        return {{}}
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    return dict(data)


class Part{n}:
    """A part of the pipeline with a name, a weight and a list of children."""

    def __init__(self, name: str, weight: float = 1.0) -> None:
        self.name = name
        self.weight = weight
        self.children: list[Part{n}] = []

    def add(self, child: Part{n}) -> None:
        # Children are kept in insertion order; weights are summed lazily.
        self.children.append(child)

    def total(self) -> float:
        return self.weight + sum(c.total() for c in self.children)

    def describe(self) -> str:
        names = ", ".join(c.name for c in self.children) or "no children"
        return f"{{self.name}} ({{self.weight}}): {{names}}"
'''


def big_change(target: int = TARGET_BYTES) -> tuple[str, dict[str, str]]:
    """A diff of new Python files of about ``target`` bytes, and the files themselves."""
    files: dict[str, str] = {}
    parts: list[str] = []
    size = 0
    n = 0
    while size < target:
        path = f"generated/part_{n:05d}.py"
        text = _HEADER.format(n=n) + "".join(_PART.format(n=f"{n}_{k}") for k in range(4))
        lines = text.splitlines()
        body = "".join(f"+{line}\n" for line in lines)
        patch = (
            f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
            f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n{body}"
        )
        files[path] = text
        parts.append(patch)
        size += len(patch)
        n += 1
    return "".join(parts), files


Rows = list[tuple[str, str, str]]


async def busy_rows(tmp: Path, private: str, public: str, quick: bool) -> Rows:
    from bench.run import loadgen

    seconds = 2.0 if quick else 4.0
    async with FakeGitHub.running(app_id=APP_ID, public_key=public) as gh:
        pulls = tiny_pulls(gh, REPO, 20)
        base_sha = gh.repos[REPO].branches["main"]
        heads = ",".join(f"{p.number}:{p.final_sha}" for p in pulls)
        diff, files = big_change()
        big_head = gh.add_commit(REPO, files)
        gh.add_pull(REPO, BIG_PR, diff=diff, head_sha=big_head, base_sha=base_sha)
        folder = tmp / "busy"
        folder.mkdir()
        server = ServeProcess(folder, api_url=gh.base_url, private_key=private)
        server.env.update(PRWARDEN_WORKERS="1", PRWARDEN_LEASE_SECONDS="120")
        await asyncio.to_thread(server.start)
        try:
            await loadgen(server.url, 20, 1.0, heads, base_sha)  # warm-up
            idle = await loadgen(server.url, RATE, seconds, heads, base_sha)
            await _drain(gh, {p.final_sha for p in pulls})
            template = json.loads(TEMPLATE.read_text())
            event = pull_event(template, BIG_PR, big_head, base_sha, "opened")
            await _post(server.url, delivery(event, "pull_request", SECRET))
            await _wait(lambda: _check_status(gh, big_head) is not None, 120)
            started = time.perf_counter()
            busy: list[float] = []
            while _check_status(gh, big_head) != "completed":
                if time.perf_counter() - started > 600:
                    raise SystemExit("bench: the 5 MB review did not finish in 10 minutes")
                busy += await loadgen(server.url, RATE, 1.0, heads, base_sha)
            review_seconds = time.perf_counter() - started
        finally:
            server.stop()
    idle_p99, busy_p99 = percentile(idle, 99) * 1000, percentile(busy, 99) * 1000
    return [
        (
            f"webhook p50 / p99 idle at {RATE:.0f}/s ({len(idle)} deliveries)",
            f"{percentile(idle, 50) * 1000:.1f} / {idle_p99:.1f} ms",
            "",
        ),
        (
            f"webhook p50 / p99 while a {len(diff) / 2**20:.1f} MB diff is being reviewed"
            f" ({len(busy)} deliveries)",
            f"{percentile(busy, 50) * 1000:.1f} / {busy_p99:.1f} ms",
            f"p99 within 2x of idle (x{busy_p99 / idle_p99:.2f})",
        ),
        (
            "  static review of that diff, under that load, to its completed check run",
            f"{review_seconds:.1f} s",
            "",
        ),
    ]


def _check_status(gh: FakeGitHub, sha: str) -> str | None:
    for run in gh.check_runs.values():
        if run["head_sha"] == sha:
            return str(run["status"])
    return None


async def _drain(gh: FakeGitHub, heads: set[str]) -> None:
    """Wait until the tiny PRs' reviews queued by the idle load have finished."""
    await _wait(lambda: all(_check_status(gh, h) in (None, "completed") for h in heads), 120)


async def _wait(condition: Callable[[], bool], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("bench: the server did not reach the expected state in time")
        await asyncio.sleep(0.02)


async def _post(url: str, d: Delivery) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/webhook", data=d.body, headers=d.headers) as response,
    ):
        if response.status != 202:
            raise SystemExit(f"the big PR's delivery was refused: {response.status}")
