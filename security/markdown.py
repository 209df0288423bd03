"""Markdown as GitHub shows it: which text is live, which is code, where every link points.

``read_markdown`` parses with a CommonMark parser (markdown-it-py) with GitHub's extensions on
(tables, strikethrough, autolinks of bare URLs and e-mail addresses) and raw HTML allowed, as
GitHub allows it. What it returns is what output validation checks:

- ``prose``: every text node outside real code (code spans, fenced and indented blocks), with
  entities and backslash escapes decoded, as GitHub shows it; raw HTML blocks are included
  whole, since GitHub renders the text inside them too;
- ``links``: the target of every link, autolink, linkified URL and e-mail address, and of
  every link reference definition, used or not (any scheme: nothing is dropped as "invalid"
  before it is checked);
- ``images`` and ``html``: image sources and raw HTML fragments;
- ``code``: the text inside real code.

A span opened by one backtick and closed by two is not code, and neither is a "fence" whose
info string holds a backtick: the parser follows the spec, so neither hides prose.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

# GitHub's extended autolinks (GFM spec, "Autolinks (extension)") that the parser's linkify
# does not make as GitHub does: it knows fewer top-level domains, and with its fuzzy links off
# (GitHub does not link a bare ``db.py``) it leaves ``www.`` alone. Each pattern starts only
# where its run of characters starts, so it runs in linear time.
GFM_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._+-])[A-Za-z0-9._+-]+@[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+(?<![-_])"
)
GFM_WWW = re.compile(r"(?<![A-Za-z0-9._-])www\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*[^\s<]*")

_CODE_BLOCKS = frozenset({"fence", "code_block"})


@dataclass(frozen=True, slots=True)
class Rendered:
    prose: str
    links: tuple[str, ...]
    images: tuple[str, ...]
    html: tuple[str, ...]
    code: str


class _GitHubMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        """Keep every target: output validation judges them, none is dropped unseen."""
        return True


@cache
def _parser() -> MarkdownIt:
    md = _GitHubMarkdown("gfm-like", {"html": True, "linkify": True})
    if md.linkify is None:
        raise ImportError("linkify-it-py is needed to read markdown as GitHub does")
    md.linkify.set({"fuzzy_link": False})
    return md


def read_markdown(text: str) -> Rendered:
    """What GitHub would show of ``text`` (see the module docstring)."""
    prose: list[str] = []
    code: list[str] = []
    links: list[str] = []
    images: list[str] = []
    html: list[str] = []
    env: dict[str, Any] = {}
    for token in _parser().parse(text, env):
        if token.type in _CODE_BLOCKS:
            code.append(token.content)
        elif token.type == "html_block":
            html.append(token.content)
            prose.append(token.content)
        elif token.type == "inline":
            prose.append(_inline(token.children or (), code, links, images, html))
    # Link reference definitions render nothing themselves, but GitHub shows a footnote
    # definition (``[^1]: ...``) as text: every target is checked and every title read.
    for ref in env.get("references", {}).values():
        links.append(str(ref.get("href", "")))
        prose.append(str(ref.get("title", "")))
    for p in prose:
        links += (f"mailto:{m.group(0)}" for m in GFM_EMAIL.finditer(p))
        links += (f"http://{m.group(0)}" for m in GFM_WWW.finditer(p))
    return Rendered(
        prose="\n".join(prose),
        links=tuple(dict.fromkeys(links)),
        images=tuple(images),
        html=tuple(html),
        code="\n".join(code),
    )


def _inline(
    children: Iterable[Token],
    code: list[str],
    links: list[str],
    images: list[str],
    html: list[str],
) -> str:
    out: list[str] = []
    for child in children:
        if child.type == "text":
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif child.type == "code_inline":
            code.append(child.content)
            out.append(" ")
        elif child.type == "html_inline":
            html.append(child.content)
            out.append(" ")
        elif child.type == "link_open":
            links.append(str(child.attrs.get("href", "")))
        elif child.type == "image":
            images.append(str(child.attrs.get("src", "")))
            out.append(_inline(child.children or (), code, links, images, html))
    return "".join(out)
