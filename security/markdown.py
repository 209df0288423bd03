"""Markdown as GitHub shows it: which text is live, which is code, where every link points.

``read_markdown`` parses with a CommonMark parser (markdown-it-py) with GitHub's extensions on
(tables, strikethrough, autolinks of bare URLs and e-mail addresses) and raw HTML allowed, as
GitHub allows it. What it returns is what output validation checks:

- ``prose``: every text node outside real code (code spans, fenced and indented blocks), with
  entities and backslash escapes decoded, as GitHub shows it; raw HTML blocks are included
  whole, since GitHub renders the text inside them too;
- ``read``: the words a reader sees, a code span inside a word and link titles included;
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
from dataclasses import dataclass, field
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
    # What a reader sees as one run of words: prose with a code span that sits inside a word
    # read as part of it (``app`r`ove`` reads "approve"), and link and image titles. Checked
    # for approvals and instructions, never for mentions or links.
    read: str
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
    found = _Found()
    env: dict[str, Any] = {}
    for token in _parser().parse(text, env):
        if token.type in _CODE_BLOCKS:
            found.code.append(token.content)
        elif token.type == "html_block":
            found.html.append(token.content)
            found.prose.append(token.content)
            found.read.append(token.content)
        elif token.type == "inline":
            found.inline(token.children or ())
    # Link reference definitions render nothing themselves, but GitHub shows a footnote
    # definition (``[^1]: ...``) as text: every target is checked and every title read.
    for ref in env.get("references", {}).values():
        found.links.append(str(ref.get("href", "")))
        found.titles.append(str(ref.get("title", "")))
    for p in found.prose:
        found.links += (f"mailto:{m.group(0)}" for m in GFM_EMAIL.finditer(p))
        found.links += (f"http://{m.group(0)}" for m in GFM_WWW.finditer(p))
    return Rendered(
        prose="\n".join(found.prose),
        read="\n".join([*found.read, *found.titles]),
        links=tuple(dict.fromkeys(found.links)),
        images=tuple(found.images),
        html=tuple(found.html),
        code="\n".join(found.code),
    )


@dataclass
class _Found:
    prose: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)

    def inline(self, children: Iterable[Token]) -> None:
        prose, read = self._words(children)
        self.prose.append(prose)
        self.read.append(read)

    def _words(self, children: Iterable[Token]) -> tuple[str, str]:
        prose: list[str] = []
        read: list[str] = []
        glued: list[int] = []  # where in ``read`` a code span stands, to read it if in a word
        for child in children:
            if child.type == "text":
                prose.append(child.content)
                read.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                prose.append("\n")
                read.append("\n")
            elif child.type == "code_inline":
                self.code.append(child.content)
                prose.append(" ")
                glued.append(len(read))
                read.append(child.content)
            elif child.type == "html_inline":
                self.html.append(child.content)
                prose.append(" ")
            elif child.type in ("link_open", "image"):
                attr = "href" if child.type == "link_open" else "src"
                (self.links if attr == "href" else self.images).append(
                    str(child.attrs.get(attr, ""))
                )
                self.titles.append(str(child.attrs.get("title", "")))  # shown on hover
                if child.type == "image":
                    alt, alt_read = self._words(child.children or ())
                    prose.append(alt)
                    read.append(alt_read)
        for i in glued:
            before = read[i - 1][-1:] if i > 0 else ""
            after = read[i + 1][:1] if i + 1 < len(read) else ""
            if not (before.isalnum() or after.isalnum()):
                read[i] = " "
        return "".join(prose), "".join(read)
