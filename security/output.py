"""Validation of a finding's text before it is posted on a pull request.

``validate_text`` returns the reasons a text must not be posted, each a short stable code with
a detail after a colon (``"link:evil.example"``, ``"html:img"``, ``"secret:AWS Access Key"``).
An empty tuple means the text may be posted. Secret values never appear in a reason.

The markdown is read as GitHub renders it (``security.markdown``): approvals, mentions, HTML
and injections are looked for in every text node outside real code; link targets, autolinks
and bare e-mail addresses are checked against the allowlist. Secrets, echoes and URLs are
looked for everywhere, code included: a suggestion is committed as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from urllib.parse import urlsplit

from security.injection import scan
from security.markdown import read_markdown
from security.secrets import Redactor, find_secrets

ECHO_WORDS = 8
ECHO_CHARS = 40

_APPROVAL = re.compile(
    r"\b(?:lgtm|looks good to me|ship\s*it|:shipit:"
    r"|(?:safe|ready|ok|okay|good|fine|clear(?:ed)?)\s+to\s+(?:merge|approve|ship)"
    r"|(?:approve|merge|accept)\s+(?:this|the)\s+"
    r"(?:pr|pull request|change(?:set|s)?|patch|diff|commit)"
    r"|(?:please|go ahead and|you can|you may|you should|feel free to|just)\s+(?:approve|merge)"
    r"|(?:i|we)\s+approve)\b",
    re.IGNORECASE,
)
# A blank run is matched from its first blank only, so a long run costs its length, not its square.
_DEFANGED_DOT = re.compile(
    r"(?<!\s)\s*(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})\s*", re.IGNORECASE
)
_URL = re.compile(
    r"(?:\b(?:https?|hxxps?|h\*\*ps?|ftp|fxp|wss?|file|javascript|data|mailto)(?::|\[:\])(?://)?"
    r"|(?<![\w.@/])//(?=[A-Za-z0-9-]+\.)"
    r"|\bwww\.)"
    r"[^\s<>()\[\]\"'`]+",
    re.IGNORECASE,
)
_REFANG_SCHEME = re.compile(r"^(?:hxxp|h\*\*p|fxp)")
_DEFANGED_HOST = re.compile(r"\b[A-Za-z0-9-]+(?:\[\.\]|\(\.\)|\{\.\}|\[dot\])[A-Za-z0-9.\[\]()-]+")
_MD_IMAGE = re.compile(r"!\[[^\]\n]*\]\s*[(\[]")
_HTML_COMMENT = re.compile(r"<!--|-->")
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)(?=[\s/>])[^<>]*>")
_MENTION = re.compile(r"(?<![\w@./+-])@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))(/[A-Za-z0-9_.-]+)?")
# GitHub links ``owner/repo#12`` and ``owner/repo@sha`` in text and leaves a cross-reference on
# that issue or commit: from prwarden, only its own repository may be referenced so.
_CROSS_REF = re.compile(
    r"(?<![\w./@-])([A-Za-z0-9][A-Za-z0-9-]{0,38})/([A-Za-z0-9._-]{1,100})(?:#\d+|@[0-9a-f]{7,40})\b"
)
_PROBE = "prwarden-end-of-text"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_REDACTED = re.compile(r"\[redacted\]", re.IGNORECASE)


def validate_text(
    text: str,
    *,
    code: str = "",
    allowed_hosts: frozenset[str] = frozenset(),
    repo_url: str = "",
    flagged: Sequence[str] = (),
    secrets: Sequence[str] = (),
    confidential: Sequence[str] = (),
) -> tuple[str, ...]:
    """Reasons ``text`` (markdown) must not be posted; empty when it is fine.

    ``code`` is text posted inside a code block prwarden builds (a suggestion): it is not
    markdown, so only what stays dangerous in code is looked for in it. ``allowed_hosts`` are
    hosts (and their subdomains) links may point to; links under ``repo_url`` (the
    repository's own GitHub URL) are always allowed. ``flagged`` are injection
    spans found in the pull request: the text must not echo them. ``secrets`` are known secret
    values that must not appear. ``confidential`` are the model's own instructions (its system
    prompts): the text must not echo them either.
    """
    reasons: dict[str, None] = {}
    for reason in _all_reasons(text, code, allowed_hosts, repo_url, flagged, secrets):
        reasons.setdefault(reason)
    if confidential and _echoes(f"{text}\n{code}", confidential):
        reasons.setdefault("echo:system prompt")
    return tuple(reasons)


def _all_reasons(
    markdown: str,
    code: str,
    allowed_hosts: frozenset[str],
    repo_url: str,
    flagged: Sequence[str],
    secrets: Sequence[str],
) -> Iterator[str]:
    shown = read_markdown(markdown)
    prose = shown.prose
    # Posted text is followed by prwarden's own (a fix, a hidden marker): it must leave no code
    # block or raw HTML open that would swallow them.
    probed = read_markdown(f"{markdown}\n\n{_PROBE}")
    if _PROBE not in probed.prose or any(_PROBE in html for html in probed.html):
        yield "markdown:unclosed"
    text = f"{markdown}\n{code}"
    # Approvals and instructions are read as a person reads them: a code span inside a word
    # (app`r`ove) does not break it.
    for m in _APPROVAL.finditer(f"{shown.read}\n{code}"):
        yield "approval:" + " ".join(m.group(0).lower().split())
    for target in shown.links:
        if not _allowed(target, allowed_hosts, repo_url):
            yield f"link:{_host(target)}"
    yield from _link_reasons(text, allowed_hosts, repo_url)
    if shown.images or _MD_IMAGE.search(markdown):
        yield "image:markdown"
    html = "\n".join(shown.html)
    if _HTML_COMMENT.search(html):
        yield "html:comment"
    for m in _TAG.finditer(html):
        name = m.group(1).lower()
        if name in _html_elements():
            yield f"html:{name}"
    own = urlsplit(repo_url).path.strip("/").lower()
    for m in _CROSS_REF.finditer(prose):
        if f"{m.group(1)}/{m.group(2)}".lower() != own:
            yield f"reference:{m.group(1).lower()}/{m.group(2).lower()}"
    for m in _MENTION.finditer(prose):
        yield f"mention:@{m.group(1).lower()}{(m.group(2) or '').lower()}"
    for kind in find_secrets(text):
        yield f"secret:{kind}"
    if _REDACTED.search(text):
        yield "secret:redacted"
    if secrets and Redactor(secrets).contains(text):
        yield "secret:known"
    for hit in scan(f"{shown.read}\n{code}"):
        yield f"injection:{hit.reasons[0]}"
    if flagged and _echoes(text, flagged):
        yield "echo:flagged"


@cache
def _html_elements() -> frozenset[str]:
    table = resources.files("security").joinpath("data/html_elements.txt").read_text("utf-8")
    return frozenset(w for w in table.split() if not w.startswith("#") and w.isalnum())


def _link_reasons(text: str, allowed_hosts: frozenset[str], repo_url: str) -> Iterator[str]:
    refanged = _DEFANGED_DOT.sub(".", text)
    for m in _DEFANGED_HOST.finditer(text):
        host = _DEFANGED_DOT.sub(".", m.group(0)).lower().strip(".")
        yield f"link:{host}"
    for m in _URL.finditer(refanged):
        url = m.group(0).rstrip(".,;:!?*_~")
        if not _allowed(url, allowed_hosts, repo_url):
            yield f"link:{_host(url)}"


def _host(url: str) -> str:
    if url.lower().startswith("mailto:"):
        return "mailto:" + url.rsplit("@", 1)[-1].lower()
    lowered = _REFANG_SCHEME.sub(lambda m: "ftp" if m.group(0) == "fxp" else "http", url.lower())
    lowered = lowered.replace("[:]", ":", 1)
    if lowered.startswith("www."):
        lowered = "http://" + lowered
    elif lowered.startswith("//"):
        lowered = "http:" + lowered
    try:
        host = urlsplit(lowered).hostname or ""
    except ValueError:
        host = ""
    return host or lowered.split(":", 1)[0]


def _allowed(url: str, allowed_hosts: frozenset[str], repo_url: str) -> bool:
    if repo_url:
        base = repo_url.rstrip("/").lower()
        lowered = url.lower()
        if lowered == base or (lowered.startswith(base) and lowered[len(base)] in "/#?"):
            return _host(url) == _host(repo_url)
    if not url.lower().startswith(("http://", "https://")):
        return False
    host = _host(url)
    return any(host == h.lower() or host.endswith("." + h.lower()) for h in allowed_hosts)


def _echoes(text: str, flagged: Sequence[str]) -> bool:
    text_norm = " ".join(text.lower().split())
    text_words = _WORD.findall(text_norm)
    grams = {tuple(text_words[i : i + ECHO_WORDS]) for i in range(len(text_words) - ECHO_WORDS + 1)}
    for span in flagged:
        span_norm = " ".join(span.lower().split())
        words = _WORD.findall(span_norm)
        if any(
            tuple(words[i : i + ECHO_WORDS]) in grams for i in range(len(words) - ECHO_WORDS + 1)
        ):
            return True
        for i in range(len(span_norm) - ECHO_CHARS + 1):
            if span_norm[i : i + ECHO_CHARS] in text_norm:
                return True
    return False
