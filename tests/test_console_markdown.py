"""A finding's markdown on the console: rendered as GitHub renders it, with nothing live in it."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.console.markdown import ATTRIBUTES, TAGS, URL_SCHEMES, render
from tests.console_scenario import HOSTILE_BODY, HOSTILE_TITLE


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


def _inert(html: str) -> None:
    for tag, attrs in _elements(html):
        assert tag in TAGS, tag
        allowed = ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
        allowed |= ATTRIBUTES["*"]
        assert set(attrs) <= allowed, (tag, attrs)
        href = attrs.get("href")
        if href:
            scheme = re.match(r"^\s*([A-Za-z][A-Za-z0-9+.-]*):", href)
            assert scheme is None or scheme.group(1).lower() in URL_SCHEMES, href


def test_github_markdown_comes_through() -> None:
    html = render(
        "**HIGH · security**: `orders_for` builds SQL\n\n"
        "| a | b |\n| - | - |\n| 1 | 2 |\n\n- [x] checked\n\n"
        "```suggestion\nrows = conn.execute(sql, (customer,))\n```\n\n"
        "See https://docs.python.org/3/library/sqlite3.html and ~~old~~."
    )
    assert "<strong>HIGH · security</strong>" in html
    assert "<code>orders_for</code>" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert 'type="checkbox"' in html and "disabled" in html
    assert "rows = conn.execute(sql, (customer,))" in html
    assert 'href="https://docs.python.org/3/library/sqlite3.html"' in html
    assert 'rel="nofollow noopener noreferrer"' in html
    assert "<del>old</del>" in html
    _inert(html)


def test_the_hostile_finding_renders_inert() -> None:
    for text in (HOSTILE_TITLE, HOSTILE_BODY):
        html = render(text)
        _inert(html)
        assert "javascript:" not in "".join(str(a.get("href")) for _, a in _elements(html))
        assert not any(tag in ("img", "script", "svg", "iframe") for tag, _ in _elements(html))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<script>x()</script>",
                "<img src=x onerror=y()>",
                "[a](javascript:z())",
                "<a href='javascript:z()'>a</a>",
                "![i](http://e/p.png)",
                "<svg onload=z()>",
                "<iframe src=//e>",
                "`",
                "``",
                "```",
                "\n",
                "<",
                ">",
                '"',
                "'",
                "*",
                "[",
                "](",
                ")",
                "<!--",
                "-->",
                "&#106;avascript:",
                "<details open ontoggle=z()>",
                "<style>*{}</style>",
                "plain words ",
                "<b onclick=z()>b</b>",
                "[r]: javascript:z()\n",
                "[r]",
            ]
        ),
        max_size=12,
    ).map("".join)
)
def test_any_mix_of_tricks_renders_inert(text: str) -> None:
    _inert(render(text))
