"""An oracle of its own for posted markdown: render it with cmark-gfm, GitHub's renderer, and
say what in the HTML would be live on GitHub.

It shares no code with ``security/``: production reads markdown with markdown-it-py; this
renders with GitHub's own C library and looks at the resulting HTML with the standard
library's parser. A posted text is clean when ``live(text)`` is empty.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import cmarkgfm
from cmarkgfm.cmark import Options

# What cmark-gfm itself produces from markdown (paragraphs, emphasis, code, lists, tables,
# headings below the top level) and the collapsible block prwarden's own layout may use; any
# other element (a top-level heading, an image, a script, a frame...) came from raw HTML in
# the text, which GitHub would render. Whether a model's text carried HTML at all is asserted
# on its finding (dropped as unsafe), not here.
MARKDOWN_ELEMENTS = frozenset(
    {"p", "strong", "em", "code", "pre", "ul", "ol", "li", "br", "hr", "blockquote", "del"}
    | {"table", "thead", "tbody", "tr", "th", "td", "h2", "h3", "h4", "h5", "h6", "input"}
    | {"details", "summary"}
)
_OWN_COMMENT = re.compile(
    r"^ prwarden:(?:fp=[0-9a-f]+|review sha=[0-9a-f]+(?: run=[a-z0-9-]+)?|summary) $"
)
# GitHub turns @name and @org/team in text (not in code or links) into mentions.
_MENTION = re.compile(r"(?:^|[^\w`])@[A-Za-z0-9][A-Za-z0-9-]*")
# ... and owner/repo#12 or owner/repo@sha into a cross-reference on that issue or commit.
_CROSS_REF = re.compile(r"\b[\w-]+/[\w.-]+(?:#\d+|@[0-9a-f]{7,40})\b")
_APPROVAL = re.compile(
    r"\b(?:lgtm|approve[ds]?|merge (?:this|the|it)|safe to merge|ship ?it)\b", re.IGNORECASE
)
_INSTRUCTION = re.compile(
    r"\b(?:ignore (?:all |any )?(?:previous|prior|above)|disregard|system prompt"
    r"|you are now|new instructions)\b",
    re.IGNORECASE,
)


class _Live(HTMLParser):
    def __init__(self, own_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._code = 0
        self._own = own_url.rstrip("/") + "/" if own_url else None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") or ""
        if tag == "a" and not (self._own and href.startswith(self._own)):
            self.problems.append(f"link {href!r}")
        elif tag == "img":
            self.problems.append(f"image {dict(attrs).get('src')!r}")
        elif tag not in MARKDOWN_ELEMENTS and tag != "a":
            self.problems.append(f"HTML element <{tag}>")
        if tag in ("code", "pre"):
            self._code += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre"):
            self._code = max(self._code - 1, 0)

    def handle_comment(self, data: str) -> None:
        if not _OWN_COMMENT.match(data):
            self.problems.append(f"HTML comment {data[:40]!r}")

    def handle_data(self, data: str) -> None:
        if self._code:
            return
        for pattern, what in (
            (_MENTION, "mention"),
            (_CROSS_REF, "cross-reference"),
            (_APPROVAL, "approval"),
        ):
            for m in pattern.finditer(data):
                self.problems.append(f"{what} {m.group(0).strip()!r}")
        for m in _INSTRUCTION.finditer(data):
            self.problems.append(f"instruction {m.group(0)!r}")


def render(markdown: str) -> str:
    """The HTML GitHub's renderer makes of ``markdown`` (raw HTML kept, as GitHub keeps it)."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def live(markdown: str, *, own_url: str = "") -> list[str]:
    """What would be live on GitHub in ``markdown``: links (but to ``own_url``, the PR's own
    repository), images, HTML, mentions, approvals and instructions outside code."""
    parser = _Live(own_url)
    parser.feed(render(markdown))
    parser.close()
    return parser.problems
