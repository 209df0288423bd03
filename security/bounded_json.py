"""JSON from untrusted writers (the model's tool calls) with its nesting bounded.

``json.loads`` stops at the interpreter's recursion limit with a ``RecursionError``, which no
caller expects, and a document nested hundreds deep still passes to code that walks it
recursively (schema validation). ``loads`` raises ``json.JSONDecodeError`` for both, so every
caller's "not valid JSON" path handles them.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, strict: bool = True) -> Any:
    """``json.loads``, refusing documents nested deeper than ``max_depth``."""
    doc = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    try:
        value = json.loads(doc, strict=strict)
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than {max_depth} levels", doc, 0) from None
    if _deeper_than(value, max_depth):
        raise json.JSONDecodeError(f"nested deeper than {max_depth} levels", doc, 0)
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        if children and depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
