"""The repository's own config, ``.github/prwarden.yml`` on the base branch.

Maintainers tune the review here. Unknown keys and bad values are reported as
``ConfigProblem`` rows (file, key, what was expected); the review then runs with the defaults
for the broken keys only. Settings the operator owns (model endpoint, keys, budgets) cannot be
set from a repository: naming them is itself a problem.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

import pathspec
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from review.findings import Category, Severity

CONFIG_PATH = ".github/prwarden.yml"
MAX_CONFIG_BYTES = 64 * 1024

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


def load_repo_config(
    text: str | bytes | None, source: str = CONFIG_PATH
) -> tuple[RepoConfig, tuple[ConfigProblem, ...]]:
    """Parse the config file; return the effective config and every problem found.

    ``None`` (no file) gives the defaults and no problems. A file that is not YAML, or not a
    mapping, gives the defaults and one problem.
    """
    if text is None:
        return RepoConfig(), ()
    if isinstance(text, bytes):
        if len(text) > MAX_CONFIG_BYTES:
            return RepoConfig(), (
                ConfigProblem("", f"file is {len(text)} bytes; at most {MAX_CONFIG_BYTES}", source),
            )
        text = text.decode("utf-8", errors="replace")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return RepoConfig(), (ConfigProblem("", f"not valid YAML: {exc}", source),)
    if data is None:
        return RepoConfig(), ()
    if not isinstance(data, dict):
        return RepoConfig(), (
            ConfigProblem("", f"expected a mapping of settings, got {type(data).__name__}", source),
        )
    problems: list[ConfigProblem] = []
    data = dict(data)
    for key in list(data):
        if str(key).lower() in OPERATOR_LOCKED:
            problems.append(
                ConfigProblem(
                    str(key),
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
                problems.append(ConfigProblem(key, _describe(error), source))
                _remove(data, loc)
    return RepoConfig(), tuple(problems)


def _describe(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    expected = error.get("msg", "invalid value")
    return f"{expected} (got {error.get('input')!r})"


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
