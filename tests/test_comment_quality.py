"""Every comment earns its place; what was not posted is listed, safely; evidence is shown.

The real app against the fake GitHub and the fake model (a scripted reviewer that calls tools,
then submits). The summary is rendered with cmark-gfm, GitHub's own renderer, and read as
HTML.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cmarkgfm
from cmarkgfm.cmark import Options

from bot.context import CTX
from review import render
from review.findings import Reason
from review.summary import NOT_POSTED_HEADINGS, WITHHELD
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import FakeOpenAI
from tests.model_scripts import finding
from tests.reviewing import idle, model_settings, runs, script_reviewer, serve
from tests.scenario import PullScenario, example_files, pull_scenario, wait_for

GFM_OPTIONS = Options.CMARK_OPT_UNSAFE  # keep raw HTML, as GitHub's sanitizer would see it
ALLOWED_TAGS = {"h2", "h3", "p", "strong", "em", "code", "ul", "li", "a", "details", "summary"}


def gfm(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=GFM_OPTIONS)


class _Page(HTMLParser):
    """Tags, link targets, and the text that is not inside ``<code>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.links: list[str] = []
        self.prose: list[str] = []
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        if tag == "code":
            self._code += 1
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._code -= 1

    def handle_data(self, data: str) -> None:
        if not self._code:
            self.prose.append(data)

    def handle_comment(self, data: str) -> None:
        self.tags["<!---->"] += 1


def page(markdown: str) -> _Page:
    parsed = _Page()
    parsed.feed(gfm(markdown))
    return parsed


def _specific(path: str, line: int, name: str, *, severity: str = "medium", **kw: Any) -> Any:
    return finding(
        path,
        line,
        severity=severity,
        title=kw.pop("title", f"`{name}` raises TypeError when the input is empty"),
        body=kw.pop(
            "body",
            f"`{name}` raises TypeError when it gets an empty list: the caller sees a crash "
            "instead of a total of 0.",
        ),
        **kw,
    )


# Thirty model findings on the bundled example, each built to meet one fate.
GENERIC = [
    finding("shop/db.py", line, title=f"Make sure this is well tested ({n}).", body="")
    for n, line in enumerate((19, 20, 21, 22, 23, 15), start=1)
]
BELOW = [
    _specific("shop/orders.py", line, name, severity=sev)
    for line, name, sev in (
        (24, "add_line", "low"),
        (25, "add_line", "info"),
        (29, "checkout", "low"),
        (30, "subtotal", "info"),
        (31, "checkout", "low"),
    )
] + [_specific("shop/orders.py", 33, "checkout", severity="low", title="Use `</details>` here")]
DUPLICATES = [
    _specific("shop/db.py", 21, "total_spent", title="`total_spent` raises TypeError on None")
    for _ in range(3)
] + [
    _specific("shop/orders.py", 26, "add_line", title="`add_line` leaks its default list")
    for _ in range(3)
]
NOT_ANCHORED = [
    _specific("shop/db.py", 2, "connect"),
    _specific("shop/db.py", 5, "connect", title="@octocat please approve this `connect` fix"),
    _specific("shop/db.py", 9, "connect", title="`connect` ignores its path"),
    _specific("shop/db.py", 8, "connect", title="`connect` leaks the connection"),
]
UNSAFE = [
    _specific("shop/orders.py", 32, "checkout", title="@admin approve this PR: `checkout`"),
    _specific("shop/orders.py", 30, "subtotal", title="<img src=x onerror=alert(1)> `subtotal`"),
    _specific("shop/db.py", 15, "orders_for", title="[docs](https://evil.example/x) `orders_for`"),
    _specific("shop/db.py", 19, "total_spent", title="LGTM, safe to merge: `total_spent`"),
]
POSTABLE = [
    _specific(
        "shop/db.py",
        15,
        "orders_for",
        severity="high",
        title="`orders_for` builds SQL from the customer name",
        body="An f-string puts `customer` into the query: a name with a quote breaks it and "
        "lets the caller read every order.",
    ),
    _specific(
        "shop/orders.py",
        32,
        "checkout",
        severity="high",
        title="`COUPONS` is undefined in `checkout`",
        body="`checkout` raises NameError whenever a coupon is given, since nothing defines "
        "`COUPONS` in shop/orders.py.",
    ),
    _specific(
        "shop/orders.py",
        24,
        "add_line",
        title="`add_line` shares one default basket between calls",
        body="The default `[]` is created once: a second call without a basket returns the "
        "lines of the first one too.",
    ),
    _specific(
        "shop/db.py",
        22,
        "total_spent",
        title="`total_spent` hides a failed query",
        body="`except Exception` around `orders_for` turns a locked database into a silent "
        "None result when the query fails.",
    ),
]
THIRTY = GENERIC + BELOW + DUPLICATES + NOT_ANCHORED + UNSAFE + POSTABLE
HOSTILE = ("@octocat", "@admin", "<img", "evil.example", "onerror")


def _summary(s: PullScenario) -> str:
    pull = s.gh.pulls[(s.repo, s.number)]
    (comment,) = [c for c in pull.issue_comments if render.is_summary(c["body"])]
    return str(comment["body"])


def _details(summary: str) -> dict[str, list[str]]:  # keyed by Reason value
    """The not-posted list as ``heading -> entries``, read from the markdown."""
    lines = summary.splitlines()
    start = lines.index("<details>")
    end = lines.index("</details>", start)
    headings = {v: k.value for k, v in NOT_POSTED_HEADINGS.items()}
    groups: dict[str, list[str]] = {}
    current = ""
    for line in lines[start:end]:
        m = re.fullmatch(r"\*\*(.+)\*\* \(\d+\)", line)
        if m:
            current = headings[m.group(1)]
        elif line.startswith("- "):
            groups.setdefault(current, []).append(line)
    return groups


async def _review(client: Any, s: PullScenario) -> dict[str, Any]:
    body, headers = s.delivery()
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and any(r["status"] == "completed" for r in s.check_runs()))
    return runs(client)[-1]


async def test_the_not_posted_details_of_a_thirty_finding_review_list_each_once_safely(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
) -> None:
    assert len(THIRTY) == 30
    script_reviewer(fake, THIRTY)
    config = "max_comments: 3\nseverity_threshold: medium\n"
    s = pull_scenario(fake_github, config=config)
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, review=model_settings(fake)
    )
    run = await _review(client, s)
    rows = json.loads(run["findings"])
    assert sum(1 for r in rows if r["source"] == "model") == 30
    summary = _summary(s)
    groups = _details(summary)

    # Every dropped finding is listed once, under the heading of its reason.
    dropped = Counter(
        (r["code"], f"{r['path']}:{r['line']}") for r in rows if r["status"] == "drop"
    )
    listed = Counter(
        (code, re.match(r"- `([^`]+)`", entry).group(1))  # type: ignore[union-attr]
        for code, entries in groups.items()
        for entry in entries
    )
    assert sum(dropped.values()) >= 20
    assert listed == dropped
    # The intended fates, family by family.
    assert len(groups[Reason.GENERIC]) == len(GENERIC)
    assert len(groups[Reason.BELOW_SEVERITY]) >= len(BELOW)
    assert len(groups[Reason.DUPLICATE]) >= 4
    assert len(groups[Reason.NOT_ANCHORED]) == len(NOT_ANCHORED)
    assert len(groups[Reason.UNSAFE]) == len(UNSAFE)
    assert Reason.OVER_MAX in groups and len(s.comments) == 3

    # Hostile titles are withheld; the rest appear only as code.
    withheld = [e for es in groups.values() for e in es if WITHHELD in e]
    assert len(withheld) == len(UNSAFE) + 1  # the unanchored "@octocat please approve"
    rendered = page(summary)
    prose = " ".join(rendered.prose)
    for word in HOSTILE:
        assert word not in prose and word not in summary, word
    assert not re.search(r"(?<![\w/])@\w", prose)
    assert rendered.tags.pop("<!---->") == 1  # prwarden's own hidden marker, nothing else
    assert set(rendered.tags) <= ALLOWED_TAGS, rendered.tags
    assert rendered.tags["details"] == 1 and rendered.tags["summary"] == 1
    details_html = gfm(summary).split("<details>", 1)[1].split("</details>", 1)[0]
    assert "<a " not in details_html
    assert "<code>Use `&lt;/details&gt;` here</code>" in details_html  # inert in a code span
    pr_url = f"https://github.com/{s.repo}/pull/{s.number}#discussion_r"
    assert rendered.links and all(link.startswith(pr_url) for link in rendered.links)
    assert fake_github.invalid_requests == []


NOOP = finding(
    "shop/orders.py",
    33,
    title="`checkout` rounds the float total with round()",
    body="`round(total, 2)` in `checkout` rounds 2.675 to 2.67 when the total is a binary "
    "float, so the customer is charged one cent less.",
    severity="medium",
    suggestion="    return round(total, 2)\n",
)
NOOP_GENERIC = finding(
    "shop/db.py",
    23,
    title="Make sure this is well tested.",
    body="Make sure this is well tested.",
    severity="high",
    suggestion="        pass\n",
)
REAL_FIX = finding(
    "shop/db.py",
    23,
    start_line=22,
    title="`total_spent` swallows every error and returns None",
    body="`except Exception: pass` in `total_spent` makes it return None when the query "
    "fails; callers that add it up raise TypeError.",
    severity="medium",
    suggestion="    except sqlite3.Error:\n        raise\n",
)


async def test_no_posted_suggestion_equals_the_code_it_replaces(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
) -> None:
    script_reviewer(fake, [NOOP, NOOP_GENERIC, REAL_FIX])
    s = pull_scenario(fake_github)
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, review=model_settings(fake)
    )
    run = await _review(client, s)
    files = example_files()
    suggested = 0
    for comment in s.comments:
        suggestion = render.suggestion_in(comment["body"])
        if suggestion is None:
            continue
        suggested += 1
        before = files[comment["path"]].decode()
        start = comment["start_line"] or comment["line"]
        after = render.apply_suggestion(before, start, comment["line"], suggestion)
        assert after != before, comment["body"]
    assert suggested >= 1
    bodies = [c["body"] for c in s.comments]
    assert not any("well tested" in b for b in bodies)
    rows = json.loads(run["findings"])
    generic = next(r for r in rows if r["title"] == NOOP_GENERIC["title"])
    assert generic["status"] == "drop" and generic["code"] == Reason.GENERIC
    assert "offers a suggestion" not in generic["reasons"][-1]
    rounding = next(b for b in bodies if NOOP["title"] in b)
    assert "```suggestion" not in rounding and "Possible fix" not in rounding
    # The body never repeats the title.
    for body in bodies:
        heading, _, rest = body.partition("\n")
        title = heading.split("**: ", 1)[1]
        assert title not in rest


async def test_every_model_comment_shows_evidence_matching_the_tool_call_log(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
) -> None:
    calls = [
        ("search_codebase", {"query": "orders_for"}),
        ("read_file", {"path": "shop/db.py", "start": 10, "end": 20}),
        ("run_linter", {"path": "shop/orders.py"}),
        ("get_symbol_definition", {"name": "checkout"}),
        ("read_file", {"path": "../../etc/passwd"}),
    ]
    script_reviewer(fake, [REAL_FIX, NOOP], calls)
    s = pull_scenario(fake_github)
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, review=model_settings(fake)
    )
    await _review(client, s)
    db = client.app[CTX].db
    logged = [
        (r["tool"], json.loads(r["args"])) for r in db["tool_calls"].rows_where(order_by="id")
    ]

    # The calls ran side by side; the log keeps the order the model asked for them in.
    def key(call: Any) -> str:
        return json.dumps(list(call), sort_keys=True)

    assert list(map(key, logged)) == list(map(key, calls))
    titles = (REAL_FIX["title"], NOOP["title"])
    model_comments = [c for c in s.comments if any(t in c["body"] for t in titles)]
    assert len(model_comments) == 2
    verbs = {
        "search_codebase": "searched",
        "read_file": "read",
        "run_linter": "linted",
        "get_symbol_definition": "looked up",
    }
    keys = {
        "search_codebase": "query",
        "read_file": "path",
        "run_linter": "path",
        "get_symbol_definition": "name",
    }
    for comment in model_comments:
        block = comment["body"].split("<summary>Evidence</summary>", 1)[1].split("</details>")[0]
        entries = [line for line in block.splitlines() if line.startswith("- ")]
        assert len(entries) == len(logged)
        for entry, (tool, args) in zip(entries, logged, strict=True):
            target = render.code_span(str(args[keys[tool]]))
            if tool == "read_file" and args["path"].startswith(".."):
                wanted = f"- `{tool}` on {target}: failed"
            else:
                wanted = f"- {verbs[tool]} {target}"
            assert entry.startswith(wanted), (entry, wanted)
        assert re.search(r"searched `orders_for`: [1-9]\d* hits? in [1-9]\d* files?", block)
        assert "read `shop/db.py` lines 10-20" in block
    ruff = [c for c in s.comments if c not in model_comments]
    assert ruff and all("Evidence" not in c["body"] for c in ruff)


COUPONS = finding(
    "shop/orders.py",
    32,
    title="`checkout` fails for every coupon",
    body="`COUPONS` is not defined in shop/orders.py, so `checkout` raises NameError whenever "
    "a coupon is given; define the table next to `apply_discount`.",
    severity="high",
)
PERCENT = finding(
    "shop/orders.py",
    32,
    title="`apply_discount` gets a percent nobody checked",
    body="A stored percent above 100 makes `apply_discount` raise ValueError at checkout time "
    "instead of when the coupon table is loaded.",
    severity="medium",
)


async def test_a_linter_and_a_model_finding_on_one_problem_make_one_thread(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
) -> None:
    script_reviewer(fake, [PERCENT, COUPONS])
    s = pull_scenario(fake_github)
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, review=model_settings(fake)
    )
    run = await _review(client, s)
    on_32 = [c for c in s.comments if (c["path"], c["line"]) == ("shop/orders.py", 32)]
    bodies = sorted(c["body"] for c in on_32)
    assert len(on_32) == 2, bodies  # the merged thread, and the model's other point
    merged = next(b for b in bodies if COUPONS["title"] in b)
    assert merged.startswith(f"**HIGH · correctness**: {COUPONS['title']} (`F821`)")
    assert COUPONS["body"] in merged and "ruff" not in merged
    other = next(b for b in bodies if PERCENT["title"] in b)
    assert "F821" not in other
    rows = json.loads(run["findings"])
    ruff = next(r for r in rows if r["source"] == "ruff" and r["rule"] == "F821")
    assert ruff["status"] == "drop" and ruff["code"] == Reason.DUPLICATE
    assert "merged into shop/orders.py:32" in ruff["reasons"][-1]
