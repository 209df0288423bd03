"""Symbol definitions by tree-sitter: functions, classes and methods in Python, JS, TS, Go,
Java, Rust, Ruby and C#.

Definitions are indexed lazily, file by file, and cached by the sha256 of the file's bytes
(a bounded, process-wide cache), so a second review of the same code parses nothing again.
Symlinks are never followed; files over ``MAX_FILE_BYTES`` and binary files are skipped.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import tree_sitter
import tree_sitter_c_sharp
import tree_sitter_go
import tree_sitter_java
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_ruby
import tree_sitter_rust
import tree_sitter_typescript

from prwarden.errors import ToolError
from security.jail import relative_to_root, resolve_in_workspace
from tools.base import Diagnostic, ToolResult, Workspace, cap_text
from tools.languages import BY_SUFFIX
from tools.read_file import looks_binary, number_lines

TOOL = "get_symbol_definition"
MAX_FILE_BYTES = 1_000_000
MAX_FILES_WALKED = 50_000
MAX_MATCHES = 10
MAX_NAME_CHARS = 200
MAX_LINES_PER_MATCH = 200
CACHE_ENTRIES = 20_000
SKIP_DIRS = frozenset({".git", "node_modules"})
_NAME = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*){0,3}$")

# The grammars shipped as wheels, by the language names of ``tools.languages``.
_GRAMMARS = frozenset(
    {"python", "javascript", "typescript", "go", "java", "rust", "ruby", "csharp"}
)
LANGUAGE_BY_SUFFIX: Mapping[str, str] = {
    **{suffix: language for suffix, language in BY_SUFFIX.items() if language in _GRAMMARS},
    ".tsx": "tsx",  # a grammar of its own: TypeScript with JSX
}

_CLASS_KINDS: Mapping[str, str] = {
    "class_definition": "class",
    "class_declaration": "class",
    "abstract_class_declaration": "class",
    "interface_declaration": "interface",
    "record_declaration": "class",
    "struct_declaration": "class",
    "struct_item": "class",
    "trait_item": "interface",
    "class": "class",
    "module": "class",
}
_FUNCTION_TYPES = frozenset(
    {
        "function_definition",
        "function_declaration",
        "generator_function_declaration",
        "function_signature",
        "function_item",
        "function_signature_item",
    }
)
_METHOD_TYPES = frozenset(
    {
        "method_definition",
        "method_signature",
        "abstract_method_signature",
        "method_declaration",
        "constructor_declaration",
        "method",
        "singleton_method",
    }
)
_TYPE_TYPES = frozenset(
    {"type_alias_declaration", "enum_declaration", "type_spec", "type_alias", "enum_item"}
)
_CLASS_BODIES = frozenset(
    {
        "class_body",
        "interface_body",
        "block",
        "decorated_definition",
        "declaration_list",
        "body_statement",
    }
)
_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function"})


@dataclass(frozen=True, slots=True)
class Definition:
    """One definition in one file: ``qualname`` is dotted (``Class.method``, ``Recv.Method``)."""

    qualname: str
    kind: str
    start_line: int
    end_line: int
    start_byte: int
    end_byte: int
    # Where the body starts (the signature ends); -1 when the grammar names no body.
    body_byte: int = -1

    @property
    def name(self) -> str:
        return self.qualname.rpartition(".")[2]


@dataclass(frozen=True, slots=True)
class Hit:
    path: str
    definition: Definition
    text: str


@functools.cache
def _language(name: str) -> tree_sitter.Language:
    capsule = {
        "python": tree_sitter_python.language,
        "javascript": tree_sitter_javascript.language,
        "typescript": tree_sitter_typescript.language_typescript,
        "tsx": tree_sitter_typescript.language_tsx,
        "go": tree_sitter_go.language,
        "java": tree_sitter_java.language,
        "rust": tree_sitter_rust.language,
        "ruby": tree_sitter_ruby.language,
        "csharp": tree_sitter_c_sharp.language,
    }[name]()
    return tree_sitter.Language(capsule)


def extract_definitions(source: bytes, language: str) -> tuple[Definition, ...]:
    """Every function, class, method and type definition in ``source``."""
    tree = tree_sitter.Parser(_language(language)).parse(source)
    found: list[Definition] = []
    stack: list[tuple[tree_sitter.Node, tuple[str, ...], bool]] = [(tree.root_node, (), False)]
    while stack:
        node, prefix, in_class = stack.pop()
        kind, name, receiver = _classify(node, in_class)
        child_prefix, child_in_class = prefix, False
        if kind is not None and name:
            owner = (receiver,) if receiver else prefix
            qualname = ".".join((*owner, name))
            found.append(_definition(node, qualname, kind))
            child_prefix = (*owner, name)
            child_in_class = kind in ("class", "interface", "impl")
        elif node.type in _CLASS_BODIES:
            child_in_class = in_class
        stack.extend((c, child_prefix, child_in_class) for c in reversed(node.named_children))
    return tuple(sorted(found, key=lambda d: (d.start_byte, d.qualname)))


def _classify(node: tree_sitter.Node, in_class: bool) -> tuple[str | None, str, str]:
    """(kind, name, Go receiver type) of a definition node, or (None, "", "")."""
    t = node.type
    if t == "impl_item":
        return "impl", _field_text(node, "type"), ""
    if t in _CLASS_KINDS:
        return _CLASS_KINDS[t], _field_text(node, "name"), ""
    if t == "method_declaration":
        return "method", _field_text(node, "name"), _go_receiver(node)
    if t in _METHOD_TYPES:
        return "method", _field_text(node, "name"), ""
    if t in _FUNCTION_TYPES:
        return ("method" if in_class else "function"), _field_text(node, "name"), ""
    if t in _TYPE_TYPES:
        return "type", _field_text(node, "name"), ""
    if t == "assignment_expression":
        right, left = node.child_by_field_name("right"), node.child_by_field_name("left")
        if right is not None and right.type in _FUNCTION_VALUES and left is not None:
            if left.type == "identifier":
                return "function", _node_text(left), ""
            prop = left.child_by_field_name("property")
            owner = left.child_by_field_name("object")
            if left.type == "member_expression" and prop is not None and owner is not None:
                receiver = _node_text(owner)
                return "function", _node_text(prop), receiver if _NAME.match(receiver) else ""
        return None, "", ""
    if t == "variable_declarator":
        value = node.child_by_field_name("value")
        name = node.child_by_field_name("name")
        if (
            value is not None
            and value.type in _FUNCTION_VALUES
            and name is not None
            and name.type == "identifier"
        ):
            return "function", _node_text(name), ""
    return None, "", ""


def _go_receiver(node: tree_sitter.Node) -> str:
    receiver = node.child_by_field_name("receiver")
    if receiver is None:
        return ""
    for param in receiver.named_children:
        current = param.child_by_field_name("type")
        while current is not None and current.type in ("pointer_type", "generic_type"):
            current = current.named_children[0] if current.named_children else None
        if current is not None:
            return _node_text(current)
    return ""


def _field_text(node: tree_sitter.Node, field: str) -> str:
    child = node.child_by_field_name(field)
    return _node_text(child) if child is not None else ""


def _node_text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def _definition(node: tree_sitter.Node, qualname: str, kind: str) -> Definition:
    parent = node.parent
    span = node
    if parent is not None and (
        node.type == "variable_declarator" or parent.type == "decorated_definition"
    ):
        span = parent
    body = _body(node)
    return Definition(
        qualname=qualname,
        kind=kind,
        start_line=span.start_point[0] + 1,
        end_line=span.end_point[0] + 1,
        start_byte=span.start_byte,
        end_byte=span.end_byte,
        body_byte=body.start_byte if body is not None else -1,
    )


def _body(node: tree_sitter.Node) -> tree_sitter.Node | None:
    if node.type in ("variable_declarator", "assignment_expression"):
        value = node.child_by_field_name("value") or node.child_by_field_name("right")
        return value.child_by_field_name("body") if value is not None else None
    return node.child_by_field_name("body")


def signature(source: bytes, definition: Definition, max_chars: int = 300) -> str:
    """The definition's text up to its body (decorators and docstrings left out), one line."""
    end = definition.body_byte
    if end < definition.start_byte:
        end = source.find(b"\n", definition.start_byte)
        end = definition.end_byte if end < 0 else end
    head = source[definition.start_byte : end]
    lines = [
        line.strip()
        for line in head.decode("utf-8", errors="replace").splitlines()
        if line.strip() and not line.strip().startswith("@")
    ]
    text = " ".join(lines).rstrip("{ ").strip()
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


_CALL_TYPES = frozenset(
    {"call", "call_expression", "method_invocation", "invocation_expression", "new_expression"}
)
_CALLEE_FIELDS = ("function", "method", "constructor", "name")
_MEMBER_FIELDS = ("attribute", "property", "field", "name")


def called_names(source: bytes, language: str, lines: frozenset[int]) -> tuple[str, ...]:
    """Names of the functions and methods called on ``lines`` (1-based), in source order."""
    tree = tree_sitter.Parser(_language(language)).parse(source)
    found: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.end_point[0] + 1 < min(lines, default=0) or node.start_point[0] + 1 > max(
            lines, default=0
        ):
            continue
        if node.type in _CALL_TYPES and node.start_point[0] + 1 in lines:
            name = _callee_name(node)
            if name and name not in found:
                found.append(name)
        stack.extend(reversed(node.named_children))
    return tuple(found)


def _callee_name(call: tree_sitter.Node) -> str:
    callee = next(
        (c for f in _CALLEE_FIELDS if (c := call.child_by_field_name(f)) is not None), None
    )
    while callee is not None and callee.named_children and "identifier" not in callee.type:
        member = next(
            (c for f in _MEMBER_FIELDS if (c := callee.child_by_field_name(f)) is not None), None
        )
        if member is None:
            return ""
        callee = member
    return _node_text(callee) if callee is not None and _NAME.match(_node_text(callee)) else ""


def language_for(path: str) -> str | None:
    """The tree-sitter grammar for ``path``, or None when it is not indexed."""
    return LANGUAGE_BY_SUFFIX.get(os.path.splitext(path)[1])


def find_named(
    root: Path, names: frozenset[str], cache: DefinitionCache, *, deadline: float, limit: int
) -> list[tuple[str, Definition, bytes]]:
    """Definitions whose last name part is one of ``names``, in one walk of ``root``:
    ``(path, definition, file bytes)``, at most ``limit``; the walk stops past ``deadline``."""
    needles = [n.encode() for n in sorted(names)]
    out: list[tuple[str, Definition, bytes]] = []
    for file in iter_source_files(root):
        if time.monotonic() > deadline or len(out) >= limit:
            break
        language = LANGUAGE_BY_SUFFIX.get(file.suffix)
        if language is None or file.stat().st_size > MAX_FILE_BYTES:
            continue
        source = file.read_bytes()
        if not any(n in source for n in needles) or looks_binary(source):
            continue
        rel = relative_to_root(root, file)
        for definition in cache.definitions(source, language):
            if definition.name in names and len(out) < limit:
                out.append((rel, definition, source))
    return out


class DefinitionCache:
    """A bounded LRU of definitions keyed by (language, sha256 of the file's bytes)."""

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[str, str], tuple[Definition, ...]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        self.parsed = 0

    def definitions(self, source: bytes, language: str) -> tuple[Definition, ...]:
        key = (language, hashlib.sha256(source).hexdigest())
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        found = extract_definitions(source, language)
        with self._lock:
            self.parsed += 1
            self._entries[key] = found
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return found


CACHE = DefinitionCache()


def validate_name(name: str) -> None:
    if len(name) > MAX_NAME_CHARS or not _NAME.match(name):
        raise ToolError(
            f"name must be an identifier or Class.method (got {name[:80]!r})", tool=TOOL
        )


def matches(definition: Definition, name: str) -> bool:
    """``func``/``Class``/``method`` match the last part; ``Class.method`` a dotted suffix."""
    if "." not in name:
        return definition.name == name
    return definition.qualname == name or definition.qualname.endswith("." + name)


def iter_source_files(start: Path) -> Iterator[Path]:
    """Files under ``start`` with a known language, never through a symlink, sorted."""
    if start.is_file():
        yield start
        return
    pending = [start]
    seen = 0
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name, reverse=True)
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS:
                    pending.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                seen += 1
                if seen > MAX_FILES_WALKED:
                    return
                if os.path.splitext(entry.name)[1] in LANGUAGE_BY_SUFFIX:
                    yield Path(entry.path)


def find_definitions(
    root: Path, start: Path, name: str, cache: DefinitionCache, *, deadline: float | None = None
) -> list[Hit]:
    """Definitions matching ``name`` in files under ``start`` (inside ``root``).

    Past ``deadline`` (a ``time.monotonic()`` value) the walk stops with a ``ToolError``.
    """
    needle = name.rpartition(".")[2].encode()
    hits: list[Hit] = []
    for file in iter_source_files(start):
        if deadline is not None and time.monotonic() > deadline:
            raise ToolError("symbol search took too long; pass a path to narrow it", tool=TOOL)
        language = LANGUAGE_BY_SUFFIX.get(file.suffix)
        if language is None or file.stat().st_size > MAX_FILE_BYTES:
            continue
        source = file.read_bytes()
        if needle not in source or looks_binary(source):
            continue
        rel = relative_to_root(root, file)
        for definition in cache.definitions(source, language):
            if matches(definition, name):
                line_start = source.rfind(b"\n", 0, definition.start_byte) + 1
                text = source[line_start : definition.end_byte]
                hits.append(Hit(rel, definition, text.decode("utf-8", errors="replace")))
                if len(hits) > MAX_MATCHES:
                    return hits
    return hits


def render(name: str, hits: list[Hit]) -> str:
    if not hits:
        return f"no definition of {name!r} found"
    shown = hits[:MAX_MATCHES]
    head = f"{len(shown)} definitions of {name!r}"
    if len(hits) > MAX_MATCHES:
        head += f" (capped at {MAX_MATCHES}; pass a path to narrow)"
    out = [head]
    for hit in shown:
        d = hit.definition
        lines = hit.text.splitlines()
        out.append(f"{hit.path}:{d.start_line}-{d.end_line} {d.kind} {d.qualname}")
        out.append(number_lines(lines[:MAX_LINES_PER_MATCH], d.start_line))
        if len(lines) > MAX_LINES_PER_MATCH:
            out.append(f"[{len(lines) - MAX_LINES_PER_MATCH} more lines: use read_file]")
    return "\n".join(out)


async def get_symbol_definition(ws: Workspace, name: str, path: str | None = None) -> ToolResult:
    """Show the source of a function, class or method defined in the pull request's code.

    `name` is `func`, `Class`, `method` or `Class.method` (Go: `Type.Method`). `path` (a file
    or directory, relative to the repository root) narrows the search. Python, JavaScript,
    TypeScript, Go, Java, Rust, Ruby and C# are indexed.
    """
    validate_name(name)
    root = ws.root.resolve()
    start = resolve_in_workspace(root, path) if path is not None else root
    deadline = time.monotonic() + ws.timeout
    hits = await asyncio.to_thread(
        functools.partial(find_definitions, root, start, name, CACHE, deadline=deadline)
    )
    diagnostics = tuple(
        Diagnostic(
            source="symbols",
            path=h.path,
            line=h.definition.start_line,
            end_line=h.definition.end_line,
            message=f"{h.definition.kind} {h.definition.qualname}",
            severity="info",
        )
        for h in hits[:MAX_MATCHES]
    )
    content, truncated = cap_text(render(name, hits), ws.output_cap)
    return ToolResult(
        tool=TOOL,
        ok=True,
        content=content,
        diagnostics=diagnostics,
        truncated=truncated or len(hits) > MAX_MATCHES,
    )
