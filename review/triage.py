"""Triage: how much review a change needs. Deterministic rules first, then the cheap model.

``partition`` is the one file filter, applied once per review, file by file: docs, lock files,
generated/vendored/minified files, binaries, deletions, whitespace-only edits, files with no
added line and paths the repo config ignores are set aside with the reason, whatever else the
change holds. ``rule_triage`` then decides without a model when it can: ``skip`` when no file
is left, ``deep`` when what is left is small enough that a triage call would cost more than
it saves. Otherwise ``model_triage`` asks the triage model for a forced ``triage_verdict``
call, showing it a capped file list with counts and a capped diff, and validates the answer: a
focus path not in the change is dropped (the verdict keeps its level); output that does not
validate gives a deep review of every file with ``by="fallback"`` and the errors as reason.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from prwarden import tokens
from prwarden.errors import ModelOutputError
from review.config import RepoConfig
from review.diff import Diff, FileDiff
from review.diffview import pr_text, render_diff, render_file
from review.prompts import load_prompt
from review.request import PRInfo, Walkthrough
from review.settings import ReviewSettings
from security import bounded_json
from security.spotlight import Spotlight

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

    from review.llm import Completion, LLMClient

log = logging.getLogger("prwarden.triage")

Level = Literal["skip", "light", "deep"]
By = Literal["rules", "model", "fallback"]

TRIAGE_FUNCTION = "triage_verdict"
MAX_DIFF_TOKENS = 2_000
MAX_LISTED_FILES = 60
MAX_FOCUS = 10
MAX_RISKS = 5
MAX_SUMMARY = 800
MAX_CHANGE = 160
MAX_WALKTHROUGH_FILES = 20
# Room for the verdict and the walkthrough (a paragraph and up to 20 one-line file notes).
TRIAGE_OUTPUT_TOKENS = 1200
# A change whose reviewable diff is at most this many tokens goes straight to a deep review:
# the triage call would cost about as much as the diff itself and could only shorten it.
SMALL_CHANGE_TOKENS = ReviewSettings().small_change_tokens


@dataclass(frozen=True, slots=True)
class TriageVerdict:
    level: Level
    focus_files: tuple[str, ...]
    risk_areas: tuple[str, ...]
    reason: str
    by: By
    walkthrough: Walkthrough | None = None


_DOC_EXT = frozenset({".md", ".rst", ".txt", ".adoc", ".asciidoc", ".markdown", ".mdx", ".rdoc"})
_DOC_NAMES = frozenset(
    {"license", "licence", "copying", "notice", "authors", "contributors", "changelog", "changes"}
)
_LOCK_FILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "poetry.lock",
        "pipfile.lock",
        "pdm.lock",
        "uv.lock",
        "cargo.lock",
        "go.sum",
        "composer.lock",
        "gemfile.lock",
        "podfile.lock",
        "mix.lock",
        "flake.lock",
        "packages.lock.json",
        "pubspec.lock",
    }
)
_VENDORED = re.compile(r"(^|/)(vendor|third_party|node_modules|dist|\.yarn)/")
_GENERATED_NAME = re.compile(
    r"(\.min\.(js|css)|\.map|_pb2\.pyi?|_pb2_grpc\.py|\.pb\.go|\.generated\.\w+|\.g\.dart|"
    r"\.designer\.cs)$"
)
_GENERATED_MARK = re.compile(
    r"@generated|Code generated .* DO NOT EDIT|auto-?generated|DO NOT EDIT", re.IGNORECASE
)
_SPACE = re.compile(r"\s+")


def skip_reason(f: FileDiff, config: RepoConfig) -> str | None:
    """Why a file needs no review, or ``None`` when it holds reviewable change."""
    name = f.path.rsplit("/", 1)[-1].lower()
    _, dot, ext = name.rpartition(".")
    if config.ignored(f.path):
        return "ignored by paths.ignore"
    if f.is_binary:
        return "binary"
    if f.status == "deleted":
        return "deleted"
    if name in _LOCK_FILES:
        return "lock file"
    if _VENDORED.search(f.path):
        return "vendored"
    if _GENERATED_NAME.search(name) or _generated_marker(f):
        return "generated"
    if ("." + ext in _DOC_EXT) if dot else (ext in _DOC_NAMES):
        return "documentation"
    if _whitespace_only(f):
        return "whitespace-only"
    if not f.added:
        return "no added lines"
    return None


@dataclass(frozen=True, slots=True)
class Partition:
    """The files a review looks at, and those it sets aside with the reason."""

    kept: tuple[FileDiff, ...]
    skipped: tuple[tuple[str, str], ...]

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.kept)


def partition(diff: Diff, config: RepoConfig) -> Partition:
    """Split the change into files to review and files set aside (one pass, per file)."""
    kept: list[FileDiff] = []
    skipped: list[tuple[str, str]] = []
    for f in diff:
        reason = skip_reason(f, config)
        if reason is None:
            kept.append(f)
        else:
            skipped.append((f.path, reason))
    return Partition(tuple(kept), tuple(skipped))


def _generated_marker(f: FileDiff) -> bool:
    first = [f.added[n] for n in sorted(f.added)[:5] if n <= 5]
    return any(_GENERATED_MARK.search(line) for line in first)


def _whitespace_only(f: FileDiff) -> bool:
    removed = Counter[str]()
    added = Counter[str]()
    for hunk in f.hunks:
        for line in hunk.lines:
            squeezed = _SPACE.sub("", line.text)
            if line.kind == "-" and squeezed:
                removed[squeezed] += 1
            elif line.kind == "+" and squeezed:
                added[squeezed] += 1
    return bool(f.hunks) and removed == added


def skip_summary(skipped: Sequence[tuple[str, str]]) -> str:
    """Why a change with nothing to review was skipped, from its files' reasons."""
    if not skipped:
        return "empty diff: no files changed"
    kinds = Counter(reason for _, reason in skipped)
    summary = ", ".join(f"{reason} ({count})" for reason, count in kinds.most_common())
    if len(kinds) == 1:
        return f"{next(iter(kinds))}-only change: {summary}"
    return f"no reviewable code: {summary}"


def rule_triage(part: Partition, small: int = SMALL_CHANGE_TOKENS) -> TriageVerdict | None:
    """``skip`` when no file is left, ``deep`` for a change of at most ``small`` tokens of
    diff, else ``None`` (ask the model)."""
    if not part.kept:
        return TriageVerdict("skip", (), (), skip_summary(part.skipped), "rules")
    size = sum(tokens.estimate(render_file(f)) for f in part.kept)
    if size <= small:
        reason = f"small change (about {size} tokens of diff): reviewed in full"
        return TriageVerdict("deep", part.paths, (), reason, "rules")
    return None


TRIAGE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": TRIAGE_FUNCTION,
        "description": "Give the triage verdict for this pull request.",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {
                "level": {"type": "string", "enum": ["skip", "light", "deep"]},
                "focus_files": {"type": "array", "items": {"type": "string"}},
                "risk_areas": {"type": "array", "items": {"type": "string"}},
                "reason": {"type": "string"},
                "summary": {"type": "string"},
                "files": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"path": {"type": "string"}, "change": {"type": "string"}},
                        "required": ["path", "change"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["level", "focus_files", "risk_areas", "reason", "summary", "files"],
            "additionalProperties": False,
        },
    },
}
# The walkthrough is asked for, but a verdict without it is still a verdict.
_WALKTHROUGH_KEYS = ("summary", "files")


@cache
def _verdict_validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        {
            "allOf": [
                {
                    **TRIAGE_TOOL["function"]["parameters"],
                    "properties": {
                        k: v
                        for k, v in TRIAGE_TOOL["function"]["parameters"]["properties"].items()
                        if k not in _WALKTHROUGH_KEYS
                    },
                    "required": [
                        k
                        for k in TRIAGE_TOOL["function"]["parameters"]["required"]
                        if k not in _WALKTHROUGH_KEYS
                    ],
                },
                {
                    "properties": {
                        "focus_files": {"maxItems": MAX_FOCUS},
                        "risk_areas": {"maxItems": MAX_RISKS, "items": {"maxLength": 200}},
                        "reason": {"minLength": 1, "maxLength": 500},
                    }
                },
            ]
        }
    )


def file_listing(diff: Diff, limit: int = MAX_LISTED_FILES) -> str:
    """One line per file (path, status, lines added and removed), largest changes first, at
    most ``limit`` lines and then the count and size of the rest."""
    rows = sorted(diff, key=lambda f: -(len(f.added) + _removed(f)))
    lines = [f"{f.path}\t{f.status}\t+{len(f.added)} -{_removed(f)}" for f in rows[:limit]]
    rest = rows[limit:]
    if rest:
        added = sum(len(f.added) for f in rest)
        removed = sum(_removed(f) for f in rest)
        lines.append(f"... and {len(rest)} more files (+{added} -{removed})")
    return "\n".join(lines)


def triage_messages(diff: Diff, pr: PRInfo, spotlight: Spotlight) -> list[dict[str, Any]]:
    """The triage conversation: the fixed instructions, then the nonce and the PR's untrusted
    text, each wrapped: a capped file list with counts and a capped diff."""
    prompt = load_prompt("triage")
    parts = [
        spotlight.nonce_notice(),
        pr_text(pr, spotlight),
    ]
    parts += [
        f"Changed files ({len(diff)}; path, status, lines added and removed):\n"
        + spotlight.wrap("file_names", file_listing(diff)),
        "Diff (cut to its first files):\n"
        + spotlight.wrap("diff", render_diff(diff, (), MAX_DIFF_TOKENS)),
    ]
    return [
        {"role": "system", "content": prompt.text.strip()},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


async def model_triage(
    diff: Diff,
    *,
    llm: LLMClient,
    settings: ReviewSettings,
    spotlight: Spotlight,
    pr: PRInfo,
) -> TriageVerdict:
    """Ask the triage model; invalid output gives a deep review of every file (``fallback``)."""
    model = settings.triage_model or settings.review_model
    if not model:
        return _fallback(diff, "no triage model configured")
    completion = await llm.chat(
        purpose="triage",
        model=model,
        prompt_version=load_prompt("triage").version,
        messages=triage_messages(diff, pr, spotlight),
        tools=[TRIAGE_TOOL],
        tool_choice={"type": "function", "function": {"name": TRIAGE_FUNCTION}},
        max_tokens=TRIAGE_OUTPUT_TOKENS,
        temperature=0.0,
    )
    try:
        return parse_verdict(completion, diff)
    except ModelOutputError as exc:
        reason = "triage output invalid: " + "; ".join(exc.errors or [str(exc)])
        log.warning("triage fell back to a deep review", extra={"reason": reason})
        return _fallback(diff, reason)


def parse_verdict(completion: Completion, diff: Diff) -> TriageVerdict:
    """Validate the model's ``triage_verdict`` call; raise ``ModelOutputError`` if invalid."""
    calls = [c for c in completion.tool_calls if c.name == TRIAGE_FUNCTION]
    if not calls:
        raise ModelOutputError(
            "no triage verdict", errors=[f"expected a call to {TRIAGE_FUNCTION}, got none"]
        )
    try:
        data = bounded_json.loads(calls[0].arguments, strict=False)
    except ValueError as exc:
        raise ModelOutputError("verdict is not JSON", errors=[f"not valid JSON: {exc}"]) from None
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in _verdict_validator().iter_errors(_core(data))
    ]
    if errors:
        raise ModelOutputError("invalid triage verdict", errors=errors)
    unknown = [p for p in data["focus_files"] if diff.file(p) is None]
    if unknown:
        log.info("triage named focus files not in the change", extra={"dropped": len(unknown)})
    return TriageVerdict(
        level=data["level"],
        focus_files=tuple(p for p in dict.fromkeys(data["focus_files"]) if p not in unknown),
        risk_areas=tuple(data["risk_areas"]),
        reason=data["reason"],
        by="model",
        walkthrough=parse_walkthrough(data, diff),
    )


@cache
def _walkthrough_validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        {
            "type": "object",
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": MAX_SUMMARY},
                "files": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "path": {"type": "string"},
                            "change": {"type": "string", "maxLength": MAX_CHANGE},
                        },
                        "required": ["path", "change"],
                    },
                },
            },
            "required": ["summary"],
        }
    )


def _core(data: Any) -> Any:
    """The verdict without its walkthrough, which is checked on its own."""
    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if k not in _WALKTHROUGH_KEYS}


def parse_walkthrough(data: dict[str, Any], diff: Diff) -> Walkthrough | None:
    """The walkthrough of a verdict, or None when it is missing or out of shape: a verdict
    stands without one. Files not in the diff are left out; at most 20 are kept."""
    if any(_walkthrough_validator().iter_errors(data)):
        return None
    files: dict[str, str] = {}
    for item in data.get("files") or ():
        path, change = str(item["path"]), " ".join(str(item["change"]).split())
        if diff.file(path) is not None and change and len(files) < MAX_WALKTHROUGH_FILES:
            files.setdefault(path, change)
    summary = " ".join(str(data["summary"]).split())
    return Walkthrough(summary, tuple(files.items())) if summary else None


OVERRULED = (
    "Triage suggested a {level} review, but this PR's text was flagged as a possible prompt "
    "injection: it gets a deep review of every file."
)


def overrule(verdict: TriageVerdict, diff: Diff) -> TriageVerdict:
    """The verdict for a PR whose untrusted text was flagged: a deep review of every file.

    A model that read an injection may have been told to skip the PR or look elsewhere, so
    neither its level nor its focus stands; its risk notes still reach the review model, inside
    the spotlight.
    """
    return TriageVerdict("deep", diff.paths, verdict.risk_areas, "flagged text", "rules")


def _removed(f: FileDiff) -> int:
    return sum(1 for hunk in f.hunks for line in hunk.lines if line.kind == "-")


def _fallback(diff: Diff, reason: str) -> TriageVerdict:
    return TriageVerdict("deep", diff.paths, (), reason, "fallback")
