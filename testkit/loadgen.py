"""Signed webhook deliveries sent to a prwarden server, all at once or open-loop at a fixed rate.

As a program (the load generator of ``bench/run.py``, in its own process)::

    python -m testkit.loadgen --url http://127.0.0.1:PORT --rate 200 --seconds 3 \
        --secret SECRET --template event.json --prs 20

prints one JSON object: the status of every answer and each acknowledgement latency in
seconds. Latency runs from the moment a request was due (open loop: a slow answer does not
delay the next request), so queueing in the client counts against the server, as it would
for GitHub.

As a module: ``tiny_pulls`` scripts PRs with a one-file diff on the fake GitHub, and
``send_all`` posts a list of deliveries concurrently (used by ``tests/test_load.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from testkit.signing import delivery_headers

if TYPE_CHECKING:
    from testkit.fakes.github import FakeGitHub


@dataclass(frozen=True, slots=True)
class Delivery:
    """One signed webhook request: the raw body and its headers."""

    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Ack:
    """The server's answer to one delivery: status and seconds from due time to answer."""

    status: int
    latency: float


@dataclass(frozen=True, slots=True)
class TinyPull:
    """A PR scripted on the fake GitHub: its first head and its final (current) head."""

    number: int
    first_sha: str
    final_sha: str


def delivery(
    event: dict[str, Any], name: str, secret: str, *, delivery_id: str | None = None
) -> Delivery:
    """Sign ``event`` as GitHub would deliver it."""
    body = json.dumps(event).encode()
    return Delivery(body, delivery_headers(name, body, delivery=delivery_id, secret=secret))


def pull_event(
    template: dict[str, Any], number: int, head_sha: str, base_sha: str, action: str
) -> dict[str, Any]:
    """The ``pull_request`` payload ``template`` turned into PR ``number`` at ``head_sha``."""
    event = copy.deepcopy(template)
    event["action"] = action
    event["number"] = number
    pr = event["pull_request"]
    pr["number"] = number
    pr["head"]["sha"] = head_sha
    pr["base"]["sha"] = base_sha
    return event


def opened_deliveries(
    template: dict[str, Any], pulls: Sequence[TinyPull], base_sha: str, secret: str
) -> list[Delivery]:
    """One signed ``opened`` delivery per PR, at its final head."""
    return [
        delivery(
            pull_event(template, p.number, p.final_sha, base_sha, "opened"), "pull_request", secret
        )
        for p in pulls
    ]


def tiny_diff(path: str, lines: Sequence[str]) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n{body}"
    )


def tiny_pulls(gh: FakeGitHub, repo: str, count: int, *, first: int = 1) -> list[TinyPull]:
    """``count`` PRs on ``repo``, each a pushed-over first head and a final head.

    The final head adds one file with an undefined name, so its static review has one
    finding; the fake GitHub serves the final head as the PR's current state.
    """
    base_sha = gh.add_commit(repo, {"README.md": b"base\n"}, branch="main")
    pulls = []
    for number in range(first, first + count):
        path = f"pkg/mod_{number}.py"
        old = ["def f(x):", "    return x + 1"]
        new = ["def f(x):", f"    return x + undefined_{number}"]
        first_sha = gh.add_commit(repo, {path: "\n".join(old) + "\n"})
        final_sha = gh.add_commit(repo, {path: "\n".join(new) + "\n"})
        gh.add_pull(repo, number, diff=tiny_diff(path, new), head_sha=final_sha, base_sha=base_sha)
        pulls.append(TinyPull(number, first_sha, final_sha))
    return pulls


async def send_all(
    url: str, deliveries: Sequence[Delivery], *, connections: int = 100
) -> list[Ack]:
    """Post every delivery at once (at most ``connections`` in flight); answers in order."""
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        return list(await asyncio.gather(*(_post(session, url, d, started) for d in deliveries)))


async def send_open_loop(url: str, deliveries: Sequence[Delivery], rate: float) -> list[Ack]:
    """Post delivery ``i`` at ``i / rate`` seconds after the start, whatever came back."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        tasks = []
        for i, d in enumerate(deliveries):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_post(session, url, d, due)))
        return list(await asyncio.gather(*tasks))


async def _post(session: aiohttp.ClientSession, url: str, d: Delivery, due: float) -> Ack:
    try:
        async with session.post(url, data=d.body, headers=d.headers) as response:
            await response.read()
            status = response.status
    except aiohttp.ClientError:
        status = 0
    return Ack(status, time.perf_counter() - due)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="server base URL")
    parser.add_argument("--rate", type=float, required=True, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--template", type=Path, required=True, help="pull_request payload")
    parser.add_argument("--base-sha", required=True)
    parser.add_argument("--heads", required=True, help="comma-separated number:sha pairs")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _args(argv)
    template = json.loads(args.template.read_text())
    heads = [tuple(pair.split(":")) for pair in args.heads.split(",")]
    count = max(1, int(args.rate * args.seconds))
    deliveries = []
    for i in range(count):
        number, sha = heads[i % len(heads)]
        event = pull_event(template, int(number), sha, args.base_sha, "synchronize")
        deliveries.append(delivery(event, "pull_request", args.secret))
    acks = asyncio.run(send_open_loop(args.url.rstrip("/") + "/webhook", deliveries, args.rate))
    json.dump(
        {"statuses": [a.status for a in acks], "latencies": [a.latency for a in acks]},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
