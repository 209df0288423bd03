"""Versioned prompts: markdown files shipped as package data, named by a hash of their text.

``load_prompt("review")`` reads ``review/prompts/review.md``; its version,
``review@<sha256[:10]>``, goes into every logged model call and into the review cache key, so
a changed prompt never reuses a review made with the old one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from prwarden.errors import ConfigError

_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}")


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str
    text: str
    version: str


@cache
def load_prompt(name: str) -> Prompt:
    """The prompt ``name`` from ``review/prompts/<name>.md``; ``ConfigError`` if absent."""
    if not _NAME.fullmatch(name):
        raise ConfigError(f"invalid prompt name {name!r}", key="prompt", expected="[a-z0-9_]+")
    resource = resources.files("review").joinpath("prompts", f"{name}.md")
    if not resource.is_file():
        raise ConfigError(f"no prompt named {name!r}", key="prompt", expected="a shipped prompt")
    text = resource.read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return Prompt(name=name, text=text, version=f"{name}@{digest}")
