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

# What cmark-gfm itself produces from prwarden's own markdown; any other element came from
# raw HTML in the text, which GitHub would render.
MARKDOWN_ELEMENTS = frozenset(
    {"p", "strong", "em", "code", "pre", "ul", "ol", "li", "br", "hr", "blockquote", "del"}
)
_OWN_COMMENT = re.compile(
    r"^ prwarden:(?:fp=[0-9a-f]+|review sha=[0-9a-f]+(?: run=[a-z0-9-]+)?|summary) $"
)
# Tables are markdown too (GFM): they hold text, nothing that links, loads or mentions.
TABLE_ELEMENTS = frozenset({"table", "thead", "tbody", "tr", "th", "td"})
# prwarden's own structure, told apart by its own words: the collapsed blocks it writes, the
# headings of its summary, and links to the PR's own threads (URLs GitHub gave it).
_OWN_SUMMARY = re.compile(r"^(?:Evidence|Not posted: \d+ finding\(s\))$")
_OWN_HEADING = re.compile(
    r"^(?:prwarden review|Walkthrough|Findings|Skipped files|Notes|Per file)$"
)
_OWN_LINK = re.compile(
    r"^https://github\.com/[\w.-]+/[\w.-]+/pull/\d+#(?:discussion_r|issuecomment-)\d+$"
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
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._code = 0
        self._own: list[tuple[str, list[str]]] = []  # open summary/heading: tag, its text
        self._details = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if not _OWN_LINK.match(href):
                self.problems.append(f"link {href!r}")
        elif tag == "img":
            self.problems.append(f"image {dict(attrs).get('src')!r}")
        elif tag == "details" and not attrs:
            self._details += 1
        elif tag in ("summary", "h2", "h3") and not attrs:
            self._own.append((tag, []))
        elif tag not in MARKDOWN_ELEMENTS | TABLE_ELEMENTS:
            self.problems.append(f"HTML element <{tag}>")
        if tag in ("code", "pre"):
            self._code += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre"):
            self._code = max(self._code - 1, 0)
        if tag in ("summary", "h2", "h3") and self._own and self._own[-1][0] == tag:
            _, parts = self._own.pop()
            text = " ".join("".join(parts).split())
            own = _OWN_SUMMARY if tag == "summary" else _OWN_HEADING
            if not own.match(text) or (tag == "summary" and not self._details):
                self.problems.append(f"HTML element <{tag}> {text[:40]!r}")

    def handle_comment(self, data: str) -> None:
        if not _OWN_COMMENT.match(data):
            self.problems.append(f"HTML comment {data[:40]!r}")

    def handle_data(self, data: str) -> None:
        if self._own:
            self._own[-1][1].append(data)
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


def live(markdown: str) -> list[str]:
    """What would be live on GitHub in ``markdown``: links, images, HTML, mentions, approvals
    and instructions outside code."""
    parser = _Live()
    parser.feed(render(markdown))
    parser.close()
    return parser.problems
