"""What the review pipeline takes and what it gives back. No GitHub, no HTTP.

``ReviewRequest`` carries the diff, the workspace path, the operator settings, the repo config
and the PR's metadata (untrusted text). ``ReviewResult`` carries every finding with its
disposition, the review body, and the accounting of what the review cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from review.config import ConfigProblem, RepoConfig
from review.diff import Diff
from review.findings import AnnotatedFinding
from review.progress import ProgressSink
from review.settings import ReviewSettings

ReviewMode = Literal["model", "static", "cached", "skipped", "budget"]


@dataclass(frozen=True, slots=True)
class PRInfo:
    """The PR as its author wrote it: every text field here is untrusted."""

    repo: str = ""
    number: int = 0
    title: str = ""
    body: str = ""
    author: str = ""
    head_sha: str = ""
    base_sha: str = ""
    commit_messages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who a review is for, and the clock, stamped on every model and tool call it logs."""

    installation_id: int | None = None
    repo: str = ""
    pr_number: int | None = None
    clock: Callable[[], float] = time.time


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    diff: str | bytes
    workspace: Path
    settings: ReviewSettings = ReviewSettings()
    config: RepoConfig = RepoConfig()
    config_problems: tuple[ConfigProblem, ...] = ()
    pr: PRInfo = PRInfo()
    context: CallContext = CallContext()
    existing_fingerprints: frozenset[str] = frozenset()
    # The diff from the last reviewed head to this one: the model then looks only at the
    # hunks it touched (an incremental review); the static tools still see everything.
    since_diff: str | bytes | None = None
    repo_url: str = ""
    # Set when a person asked for a fresh review of a head already reviewed (/prwarden review):
    # it tags the review's marker so that run is idempotent on its own.
    run_tag: str = ""
    # False when the operator's spend ceiling is reached: a cached review is still served.
    allow_model: bool = True
    # Told how far the review has got (the local CLI on a terminal); None: nobody watches.
    progress: ProgressSink | None = field(default=None, compare=False, repr=False)
    # The operator's secret values besides the model key (webhook secret, App key, tokens):
    # redacted from model output and never posted.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def known_secrets(self) -> tuple[str, ...]:
        """Every secret this review must keep out of what it stores and posts."""
        return tuple(dict.fromkeys(v for v in (self.settings.api_key, *self.secrets) if v))


@dataclass(frozen=True, slots=True)
class Usage:
    """Model calls and what they cost; ``cached_tokens`` are the part of ``tokens_in`` the
    provider served from its prompt cache."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    cached_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.calls + other.calls,
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.cost + other.cost,
            self.cached_tokens + other.cached_tokens,
        )

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            self.calls - other.calls,
            self.tokens_in - other.tokens_in,
            self.tokens_out - other.tokens_out,
            self.cost - other.cost,
            self.cached_tokens - other.cached_tokens,
        )


@dataclass(frozen=True, slots=True)
class InjectionRecord:
    """An injection-detector hit in the PR's untrusted text."""

    where: str
    score: float
    reasons: tuple[str, ...]
    excerpt: str


@dataclass(frozen=True, slots=True)
class Walkthrough:
    """What the PR changes, in the triage model's words: validated before it is shown."""

    summary: str
    files: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "files": [list(f) for f in self.files]}

    @classmethod
    def from_dict(cls, data: Any) -> Walkthrough | None:
        if not isinstance(data, dict) or not isinstance(data.get("summary"), str):
            return None
        files = tuple(
            (str(f[0]), str(f[1]))
            for f in data.get("files") or ()
            if isinstance(f, list | tuple) and len(f) == 2
        )
        return cls(data["summary"], files)


@dataclass(frozen=True, slots=True)
class ReviewResult:
    mode: ReviewMode
    diff_hash: str
    # The parsed diff the findings anchor on, so publishing does not parse it again.
    diff: Diff = field(default_factory=lambda: Diff(()), repr=False)
    findings: tuple[AnnotatedFinding, ...] = ()
    body: str = ""
    notes: tuple[str, ...] = ()
    triage: str | None = None
    usage: Usage = Usage()
    models: tuple[str, ...] = ()
    prompt_versions: tuple[str, ...] = ()
    injections: tuple[InjectionRecord, ...] = ()
    config_problems: tuple[ConfigProblem, ...] = ()
    files_reviewed: tuple[str, ...] = ()
    files_skipped: tuple[tuple[str, str], ...] = field(default=())
    # Reviewable files the model did not get to (a large change, in priority order), and why.
    files_unreviewed: tuple[tuple[str, str], ...] = ()
    # Why model output was refused (schema, anchors, ...): recorded, never patched up.
    model_rejections: tuple[str, ...] = ()
    # Fingerprints of findings not posted whose titles passed output validation, so the
    # summary may list them.
    shown_titles: frozenset[str] = frozenset()
    walkthrough: Walkthrough | None = None

    @property
    def posted(self) -> tuple[AnnotatedFinding, ...]:
        return tuple(f for f in self.findings if f.status == "post")

    @property
    def held(self) -> tuple[AnnotatedFinding, ...]:
        return tuple(f for f in self.findings if f.status == "hold")

    @property
    def dropped(self) -> tuple[AnnotatedFinding, ...]:
        return tuple(f for f in self.findings if f.status == "drop")
