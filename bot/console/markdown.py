"""A finding's markdown rendered the way GitHub renders it, and made inert.

cmark-gfm (GitHub's own parser, in its safe mode: raw HTML omitted, ``javascript:`` and other
dangerous link targets dropped) produces the HTML; ammonia (``nh3``) then keeps only the
elements and attributes a comment needs, links to http(s) and mailto only, no images. The
result is the one piece of HTML a template prints unescaped.
"""

from __future__ import annotations

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
from markupsafe import Markup

TAGS = frozenset(
    {
        "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr",
        "ul", "input",
    }
)  # fmt: skip
# Every attribute allowed, per tag; "*" (any tag) gets none, not ammonia's default lang/title.
ATTRIBUTES = {"*": set(), "a": {"href", "title"}, "input": {"type", "checked", "disabled"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
MAX_SOURCE = 200_000


def render(text: str) -> Markup:
    """``text`` as GitHub would show it, with nothing that can run or load."""
    html = cmarkgfm.github_flavored_markdown_to_html(
        text[:MAX_SOURCE], options=Options.CMARK_OPT_VALIDATE_UTF8
    )
    clean = nh3.clean(
        html,
        tags=set(TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
    return Markup(clean)
