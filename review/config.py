"""The repository's own config, ``.github/prwarden.yml`` on the base branch.

Maintainers tune the review here. Unknown keys and bad values are reported as
``ConfigProblem`` rows (file, key, what was expected); the review then runs with the defaults
for the broken keys only. Settings the operator owns (model endpoint, keys, budgets) cannot be
set from a repository: naming them is itself a problem.
"""

from __future__ import annotations

import hashlib
import json
import reprlib
from dataclasses import dataclass
from typing import Any, Literal

import pathspec
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prwarden import CONFIG_PATH
from review.findings import Category, Severity

MAX_CONFIG_BYTES = 64 * 1024
# Bounds on the YAML, checked on its event stream before anything is built: nesting depth,
# and nodes and scalar characters counted with every alias expanded (an alias bomb of a few
# hundred bytes expands to billions of nodes).
MAX_CONFIG_DEPTH = 32
MAX_CONFIG_NODES = 10_000
MAX_CONFIG_CHARS = 256 * 1024
MAX_PROBLEMS = 50
MAX_PROBLEM_CHARS = 300

OPERATOR_LOCKED = frozenset(
    {
        "model",
        "models",
        "review_model",
        "triage_model",
        "base_url",
        "openai_base_url",
        "api_key",
        "openai_api_key",
        "endpoint",
        "budget",
        "budgets",
        "prices",
        "webhook_secret",
        "private_key",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class PathInstruction(_Strict):
    path: str = Field(min_length=1, max_length=500)
    instructions: str = Field(min_length=1, max_length=2000)


class PathsConfig(_Strict):
    ignore: tuple[str, ...] = ()
    instructions: tuple[PathInstruction, ...] = ()


class CategoriesConfig(_Strict):
    disabled: tuple[Category, ...] = ()


class CheckConfig(_Strict):
    # A posted or held finding at or above this severity makes the check run fail.
    fail_on: Severity | None = None


class RepoConfig(_Strict):
    enabled: bool = True
    mode: Literal["shadow", "comment", "request_changes"] = "comment"
    request_changes_at: Severity = Severity.HIGH
    severity_threshold: Severity = Severity.LOW
    specificity_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    max_comments: int = Field(default=10, ge=0, le=50)
    paths: PathsConfig = PathsConfig()
    categories: CategoriesConfig = CategoriesConfig()
    check: CheckConfig = CheckConfig()

    def ignored(self, path: str) -> bool:
        return bool(self.paths.ignore) and _spec(self.paths.ignore).match_file(path)

    def instructions_for(self, path: str) -> tuple[str, ...]:
        return tuple(
            rule.instructions
            for rule in self.paths.instructions
            if _spec((rule.path,)).match_file(path)
        )

    def fingerprint(self) -> str:
        """A hash of the effective config, part of the review cache key."""
        data = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]


def _spec(patterns: tuple[str, ...]) -> pathspec.PathSpec[Any]:
    return pathspec.PathSpec.from_lines("gitignore", patterns)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the config file: where, and what was expected."""

    key: str
    message: str
    source: str = CONFIG_PATH

    def __str__(self) -> str:
        where = f"{self.source}: {self.key}" if self.key else self.source
        return f"{where}: {self.message}"


def oversized(size: int, source: str = CONFIG_PATH) -> ConfigProblem:
    """The problem of a config file too large to read: the review runs with the defaults."""
    return ConfigProblem(
        "",
        f"file is {size} bytes; at most {MAX_CONFIG_BYTES} are read, so defaults are used",
        source,
    )


def load_repo_config(
    text: str | bytes | None, source: str = CONFIG_PATH
) -> tuple[RepoConfig, tuple[ConfigProblem, ...]]:
    """Parse the config file; return the effective config and every problem found.

    ``None`` (no file) gives the defaults and no problems. A file that is not YAML, not a
    mapping, too large, too deep or that expands past the node bounds gives the defaults and
    one problem. Every problem's text is capped, and so is their number.
    """
    if text is None:
        return RepoConfig(), ()
    raw = text if isinstance(text, bytes) else text.encode("utf-8", errors="replace")
    if len(raw) > MAX_CONFIG_BYTES:
        return RepoConfig(), (oversized(len(raw), source),)
    text = raw.decode("utf-8", errors="replace")
    try:
        refusal = _yaml_refusal(text)
        data = None if refusal else yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        # ValueError: a value YAML reads but Python refuses, e.g. an integer of 5,000 digits.
        return RepoConfig(), (ConfigProblem("", _cap(f"not valid YAML: {exc}"), source),)
    if refusal:
        return RepoConfig(), (ConfigProblem("", refusal, source),)
    if data is None:
        return RepoConfig(), ()
    if not isinstance(data, dict):
        return RepoConfig(), (
            ConfigProblem("", f"expected a mapping of settings, got {type(data).__name__}", source),
        )
    config, found = _validate(data, source)
    if len(found) > MAX_PROBLEMS:
        more = len(found) - MAX_PROBLEMS
        found = (*found[:MAX_PROBLEMS], ConfigProblem("", f"and {more} more problems", source))
    return config, found


def _yaml_refusal(text: str) -> str:
    """Why the YAML is refused before it is built (empty when it is within the bounds).

    Walks the parser's events (no recursion, nothing constructed): depth of collections, and
    nodes and scalar characters with every alias counted at its expanded size. An alias to an
    anchor that is still open (a recursive structure) is refused too.
    """
    # PyYAML's scanner is quadratic in the depth of flow collections ("[[[[..."), so their
    # depth is bounded on the raw text first (brackets inside quotes count too: an upper bound).
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    if deepest > MAX_CONFIG_DEPTH:
        return f"nested deeper than {MAX_CONFIG_DEPTH} levels"
    sizes: dict[str, tuple[int, int]] = {}
    open_frames: list[tuple[str | None, int, int]] = []
    nodes = chars = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in sizes:
                name = _cap(str(event.anchor), 40)
                return f"alias *{name} refers to an unfinished or unknown anchor"
            n, c = sizes[event.anchor]
        elif isinstance(event, yaml.ScalarEvent):
            n, c = 1, len(event.value)
            if event.anchor is not None:
                sizes[event.anchor] = (n, c)
        elif isinstance(event, yaml.CollectionStartEvent):
            open_frames.append((event.anchor, nodes, chars))
            nodes += 1
            if len(open_frames) > MAX_CONFIG_DEPTH:
                return f"nested deeper than {MAX_CONFIG_DEPTH} levels"
            continue
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, nodes_before, chars_before = open_frames.pop()
            if anchor is not None:
                sizes[anchor] = (nodes - nodes_before, chars - chars_before)
            continue
        else:
            continue
        nodes += n
        chars += c
        if nodes > MAX_CONFIG_NODES or chars > MAX_CONFIG_CHARS:
            return (
                f"expands to more than {MAX_CONFIG_NODES} values or {MAX_CONFIG_CHARS} "
                "characters (aliases counted in full)"
            )
    return ""


def _validate(data: dict[Any, Any], source: str) -> tuple[RepoConfig, tuple[ConfigProblem, ...]]:
    problems: list[ConfigProblem] = []
    data = dict(data)
    for key in list(data):
        if str(key).lower() in OPERATOR_LOCKED:
            problems.append(
                ConfigProblem(
                    _cap(str(key), 80),
                    "is set by the operator and cannot be changed from a repository",
                    source,
                )
            )
            del data[key]
    # Validate, then drop each offending key and validate again, so that only the broken keys
    # fall back to their defaults.
    for _ in range(50):
        try:
            return RepoConfig.model_validate(data), tuple(problems)
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                key = ".".join(str(part) for part in loc)
                problems.append(ConfigProblem(_cap(key, 80), _describe(error), source))
                _remove(data, loc)
    return RepoConfig(), tuple(problems)


def _cap(text: str, limit: int = MAX_PROBLEM_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4
_SHORT.maxlevel = 2


def _describe(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    expected = _cap(str(error.get("msg", "invalid value")), 150)
    return _cap(f"{expected} (got {_SHORT.repr(error.get('input'))})")


def _remove(data: Any, loc: tuple[Any, ...]) -> None:
    """Remove the value at ``loc`` (or its nearest existing parent key) from nested data."""
    if not loc:
        return
    node = data
    for part in loc[:-1]:
        try:
            child = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if not isinstance(child, dict | list):
            break
        node = child
    else:
        try:
            del node[loc[-1]]
            return
        except (KeyError, IndexError, TypeError):
            pass
    # Fall back to removing the top-level key.
    if isinstance(data, dict):
        data.pop(loc[0], None)
