"""The review pipeline: ``ReviewRequest`` in, ``ReviewResult`` out. No GitHub, no HTTP.

parse diff → file filter (once, per file) → static tools on changed lines → injection scan of
the PR's text → cache lookup (whole diff, then per file) → triage (rules, then the cheap model)
→ agent loop (capable model with parallel tools), over groups of files in priority order while
the token budget lasts → filters (anchor, safety, specificity, severity, dedup, already posted,
hold, max_comments) → review body. Files the model did not get to are listed with the reason.

When the model is not configured the review is static-only and says so; when the model fails,
the static findings are still posted and the result says the model was unavailable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from cache.accounting import usage_since
from cache.reviews import CacheScope, ReviewCache
from cache.store import Store
from prwarden import tokens
from prwarden.errors import LLMError
from review import groups, render
from review.diff import Diff, FileDiff, parse_diff_stepwise
from review.filters import apply_filters
from review.findings import Finding
from review.progress import Progress, Stage
from review.prompts import load_prompt
from review.request import (
    InjectionRecord,
    ReviewMode,
    ReviewRequest,
    ReviewResult,
    Usage,
    Walkthrough,
)
from review.settings import Budget
from review.static import findings_from_diagnostics, secret_findings_from
from review.triage import (
    OVERRULED,
    Partition,
    TriageVerdict,
    overrule,
    partition,
    rule_triage,
    skip_summary,
)
from security.injection import scan_many
from security.output import validate_text
from security.secrets import secret_lines_many
from security.spotlight import Spotlight
from tools.base import Workspace
from tools.linter import lint_changed

if TYPE_CHECKING:
    # The model path (the SDK, the tools' parsers, the agent) is imported when a review uses
    # a model, so a static review starts fast.
    from review.agent import AgentOutcome
    from review.llm import LLMClient

log = logging.getLogger("prwarden.review")

A = TypeVar("A")
R = TypeVar("R")

PROMPTS = ("triage", "review", "repair")
OVER_BUDGET = "not reviewed by the model: the review's token budget ran out first"
# What one review conversation costs beyond its first prompt: a tool turn, then the submission.
TURNS_PER_GROUP = 2.5


@dataclass(frozen=True, slots=True)
class TextChecks:
    """What output validation checks model text against, for one review."""

    allowed_hosts: frozenset[str]
    repo_url: str
    flagged: tuple[str, ...]
    secrets: tuple[str, ...]
    confidential: tuple[str, ...]

    def walkthrough(self, given: Walkthrough | None) -> Walkthrough | None:
        """The walkthrough with every text that fails validation taken out."""
        if given is None or not self.passes(given.summary):
            return None
        return Walkthrough(given.summary, tuple(f for f in given.files if self.passes(f[1])))

    def passes(self, text: str) -> bool:
        return not validate_text(
            text,
            allowed_hosts=self.allowed_hosts,
            repo_url=self.repo_url,
            flagged=self.flagged,
            secrets=self.secrets,
            confidential=self.confidential,
        )


@dataclass
class _ModelPart:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    triage: str | None = None
    usage: Usage = Usage()
    mode: ReviewMode = "model"
    injections: list[InjectionRecord] = field(default_factory=list)
    reviewed: tuple[str, ...] = ()
    unreviewed: tuple[tuple[str, str], ...] = ()
    rejections: tuple[str, ...] = ()
    walkthrough: Walkthrough | None = None


def prompt_versions() -> tuple[str, ...]:
    return tuple(load_prompt(name).version for name in PROMPTS)


def cache_scope(request: ReviewRequest) -> CacheScope:
    """Whose tree this review reads: the installation and repository of the call context, or,
    for a local review, the workspace directory."""
    ctx = request.context
    if ctx.repo:
        return CacheScope(ctx.installation_id or 0, ctx.repo)
    return CacheScope(0, f"local:{request.workspace.resolve()}")


def cache_key(request: ReviewRequest, diff_hash: str) -> str:
    s = request.settings
    scope = cache_scope(request)
    material = json.dumps(
        [
            scope.installation_id,
            scope.repo,
            diff_hash,
            s.triage_model,
            s.review_model,
            prompt_versions(),
            request.config.fingerprint(),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def file_cache_key(request: ReviewRequest, f: FileDiff) -> str:
    return cache_key(request, "file:" + f.patch_hash)


def _untrusted_sources(request: ReviewRequest, files: Sequence[FileDiff]) -> list[tuple[str, str]]:
    sources: list[tuple[str, str]] = [
        ("PR title", request.pr.title),
        ("PR body", request.pr.body),
    ]
    sources += [(f"commit message {i + 1}", m) for i, m in enumerate(request.pr.commit_messages)]
    sources += [(f.path, "\n".join(f.added[n] for n in sorted(f.added))) for f in files]
    sources += [("file names", "\n".join(f.path for f in files))]
    return sources


async def _off_loop(cpu: Executor | None, fn: Callable[[A], R], arg: A) -> R:
    """``fn(arg)`` in the server's process pool, or in a thread when there is none."""
    if cpu is None:
        return await asyncio.to_thread(fn, arg)
    # Submitting may start a worker process: that too stays off the loop.
    future = await asyncio.to_thread(cpu.submit, fn, arg)
    return await asyncio.wrap_future(future)


async def _secret_findings(files: Sequence[FileDiff], cpu: Executor | None) -> list[Finding]:
    items = await asyncio.to_thread(lambda: [(f.path, dict(f.added)) for f in files])
    found = await _off_loop(cpu, secret_lines_many, items)
    return secret_findings_from(
        (path, line, kind)
        for (path, _), lines in zip(items, found, strict=True)
        for line, kind in lines
    )


async def _scan_untrusted(
    request: ReviewRequest, files: Sequence[FileDiff], cpu: Executor | None
) -> list[InjectionRecord]:
    sources = await asyncio.to_thread(_untrusted_sources, request, files)
    found = await _off_loop(cpu, scan_many, [text for _, text in sources])
    return [
        InjectionRecord(where, hit.score, hit.reasons, hit.excerpt)
        for (where, _), hits in zip(sources, found, strict=True)
        for hit in hits
    ]


async def run_review(
    request: ReviewRequest,
    *,
    db: Store | None = None,
    cpu: Executor | None = None,
) -> ReviewResult:
    """Review one change. CPU-heavy steps stay off the event loop that answers webhooks: the
    diff is parsed in yielding steps, the injection scan runs in ``cpu`` (the server's process
    pool; a thread when ``None``) and the file filter and the filters in a thread."""
    diff = await parse_diff_stepwise(request.diff)
    diff_hash = await asyncio.to_thread(diff.normalized_hash)
    split = await asyncio.to_thread(partition, diff, request.config)
    files, skipped = list(split.kept), list(split.skipped)
    paths = [f.path for f in files]
    _report(request, Stage.DIFF, f"{len(files)} file(s) to review, {len(skipped)} skipped")
    _report(request, Stage.TOOLS, "linters and the secret scan")
    workspace = Workspace(
        root=request.workspace,
        changed_files=frozenset(paths),
        output_cap=request.settings.tool_output_cap,
        timeout=request.settings.tool_timeout,
    )
    # Every file with added text is scanned, the ones set aside from review too; before
    # triage, so a PR whose text was flagged is not skipped or demoted by a model.
    scanned = [f for f in diff if f.added]
    injections = await _scan_untrusted(request, scanned, cpu)
    # The linters run while the model works: they are off the critical path.
    linted, part, secrets = await asyncio.gather(
        lint_changed(workspace, paths),
        _model_part(
            request, diff, files, skipped, workspace, diff_hash, db, flagged=bool(injections)
        ),
        _secret_findings(scanned, cpu),
    )
    for tool, problem in linted.failures:
        # The tool's own words (which may quote the PR's files) stay in the log.
        log.warning("linter failed", extra={"error": f"{tool}: {problem}"})
        part.notes.append(f"{tool} could not run; its findings are missing.")
    static = [*findings_from_diagnostics(linted.diagnostics, diff), *secrets]
    injections += part.injections
    _report(request, Stage.FILTERS, f"{len(static) + len(part.findings)} finding(s) to check")
    checks = TextChecks(
        allowed_hosts=request.settings.allowed_link_hosts,
        repo_url=request.repo_url,
        flagged=tuple(r.excerpt for r in injections),
        secrets=request.known_secrets,
        confidential=tuple(load_prompt(name).text for name in PROMPTS),
    )
    annotated = await asyncio.to_thread(
        partial(apply_filters, [*static, *part.findings]),
        diff=diff,
        config=request.config,
        settings=request.settings,
        existing_fingerprints=request.existing_fingerprints,
        flagged=checks.flagged,
        secrets=checks.secrets,
        repo_url=checks.repo_url,
        confidential=checks.confidential,
    )
    shown_titles = await asyncio.to_thread(
        lambda: frozenset(
            af.fingerprint
            for af in annotated
            if af.status == "drop" and checks.passes(af.finding.title)
        )
    )
    notes = tuple(part.notes)
    model = request.settings.review_model if part.mode in ("model", "cached") else None
    body = render.review_body(
        mode=_render_mode(part),
        files_reviewed=part.reviewed or tuple(paths),
        files_skipped=skipped,
        files_unreviewed=part.unreviewed,
        annotated=annotated,
        notes=notes,
        config_problems=[str(p) for p in request.config_problems],
        model=model,
        head_sha=request.pr.head_sha or diff_hash[:40],
        run=request.run_tag,
    )
    return ReviewResult(
        mode=part.mode,
        diff_hash=diff_hash,
        diff=diff,
        findings=annotated,
        body=body,
        notes=notes,
        triage=part.triage,
        usage=part.usage,
        models=tuple(m for m in dict.fromkeys((request.settings.triage_model, model)) if m),
        prompt_versions=prompt_versions() if part.mode in ("model", "cached") else (),
        injections=tuple(injections),
        config_problems=request.config_problems,
        files_reviewed=part.reviewed or tuple(paths),
        files_skipped=tuple(skipped),
        files_unreviewed=part.unreviewed,
        model_rejections=part.rejections,
        shown_titles=shown_titles,
        walkthrough=await asyncio.to_thread(checks.walkthrough, part.walkthrough),
    )


def _report(request: ReviewRequest, stage: Stage, detail: str) -> None:
    if request.progress is not None:
        request.progress(Progress(stage, detail))


def _render_mode(part: _ModelPart) -> str:
    if part.mode == "cached":
        return "cache"
    if part.mode == "static" and part.usage.calls:
        return "unavailable"
    if part.mode == "static" and any("unavailable" in note for note in part.notes):
        return "unavailable"
    return part.mode


async def _model_part(
    request: ReviewRequest,
    diff: Diff,
    files: list[FileDiff],
    skipped: list[tuple[str, str]],
    workspace: Workspace,
    diff_hash: str,
    db: Store | None,
    *,
    flagged: bool,
) -> _ModelPart:
    settings = request.settings
    if not settings.model_configured:
        return _ModelPart(mode="static")
    if not files:
        return _ModelPart(
            mode="skipped", triage="skip", notes=[f"Skipped: {skip_summary(skipped)}"]
        )
    cache = ReviewCache(db, clock=request.context.clock) if db is not None else None
    key = cache_key(request, diff_hash)
    if cache is not None:
        hit = cache.get(cache_scope(request), key)
        if hit is not None:
            return _ModelPart(
                findings=[Finding.from_dict(d) for d in hit.result.get("findings", [])],
                triage=hit.result.get("triage"),
                walkthrough=Walkthrough.from_dict(hit.result.get("walkthrough")),
                mode="cached",
                notes=["Reused the review of an identical change (no model calls)."],
            )
    if not request.allow_model:
        return _ModelPart(mode="budget", notes=["The spend ceiling is reached: no model call."])
    from review.llm import LLMClient

    spotlight = Spotlight.new()
    llm = LLMClient(
        settings,
        db=db,
        context=request.context,
        secrets=request.secrets,
        progress=request.progress,
    )
    try:
        return await _with_model(
            request, diff, files, workspace, key, cache, llm, spotlight, db, flagged=flagged
        )
    except LLMError as exc:
        # The endpoint's own message stays in the log: it may quote the PR back.
        log.warning("model unavailable", extra={"error": str(exc)})
        why = f"HTTP {exc.status}" if exc.status else "no usable answer"
        return _ModelPart(
            mode="static",
            usage=llm.usage,
            notes=[f"Model unavailable ({why}): static-only review. Re-run with /prwarden review."],
        )
    finally:
        await llm.aclose()


async def _with_model(
    request: ReviewRequest,
    diff: Diff,
    files: list[FileDiff],
    workspace: Workspace,
    key: str,
    cache: ReviewCache | None,
    llm: LLMClient,
    spotlight: Spotlight,
    db: Store | None,
    *,
    flagged: bool,
) -> _ModelPart:
    settings = request.settings
    reused: list[Finding] = []
    todo: list[FileDiff] = []
    for f in files:
        stored = (
            cache.get_file(cache_scope(request), file_cache_key(request, f))
            if cache is not None
            else None
        )
        if stored is None:
            todo.append(f)
        else:
            reused += [Finding.from_dict(d) for d in stored]
    notes: list[str] = []
    if reused or len(todo) < len(files):
        notes.append(f"Reused earlier results for {len(files) - len(todo)} unchanged file(s).")
    sub = diff.subset({f.path for f in todo})
    if request.since_diff is not None:
        sub = sub.since(await parse_diff_stepwise(request.since_diff))
        notes.append(
            f"Incremental review: the model looked at the {len(sub)} file(s) changed since the "
            "last reviewed commit."
        )
        todo = [f for f in todo if sub.file(f.path) is not None]
    if not todo:
        return _ModelPart(findings=reused, mode="model", notes=notes)
    verdict = await _triage(request, sub, llm, spotlight)
    if flagged and verdict.by == "model" and verdict.level != "deep":
        log.info("triage overruled", extra={"level": verdict.level, "reason": verdict.reason})
        notes.append(OVERRULED.format(level=verdict.level))
        verdict = overrule(verdict, sub)
    if verdict.level == "skip":
        # The model's reason stays in the log: it read the PR and is not posted.
        log.info("skipped by triage", extra={"reason": verdict.reason})
        return _ModelPart(
            findings=reused,
            mode="skipped",
            triage="skip",
            usage=llm.usage,
            notes=[*notes, "Skipped by triage: the triage model found nothing to review."],
        )
    budget = settings.light if verdict.level == "light" else settings.deep
    budget = _cap_to_pr_ceiling(budget, request, db)
    run = await _review_groups(request, sub, todo, verdict, budget, workspace, llm, spotlight, db)
    notes += run.notes
    findings = [*reused, *(f for o in run.outcomes for f in o.findings)]
    done = {f.path for f, o in run.reviewed if o.stop_reason == "submitted"}
    complete = not run.unreviewed and all(o.stop_reason == "submitted" for o in run.outcomes)
    if cache is not None and request.since_diff is None:
        for f in todo:
            if f.path in done:
                cache.put_file(
                    cache_scope(request),
                    file_cache_key(request, f),
                    path=f.path,
                    findings=[
                        x.to_dict() for o in run.outcomes for x in o.findings if x.path == f.path
                    ],
                )
        if complete:
            cache.put(
                cache_scope(request),
                key,
                diff_hash=diff.normalized_hash(),
                result={
                    "findings": [x.to_dict() for x in findings],
                    "triage": verdict.level,
                    "walkthrough": verdict.walkthrough.to_dict() if verdict.walkthrough else None,
                },
                models=[m for m in (settings.triage_model, settings.review_model) if m],
                prompt_versions=list(prompt_versions()),
            )
    injections = [
        InjectionRecord(f"tool:{hit.where}", hit.score, hit.reasons, hit.excerpt)
        for o in run.outcomes
        for hit in o.injections
    ]
    return _ModelPart(
        findings=findings,
        notes=notes,
        triage=verdict.level,
        usage=llm.usage,
        mode="model",
        injections=injections,
        reviewed=tuple(dict.fromkeys(f.path for f, _ in run.reviewed)),
        unreviewed=run.unreviewed,
        rejections=tuple(reason for o in run.outcomes for _, reason in o.rejected),
        walkthrough=verdict.walkthrough,
    )


@dataclass
class _GroupRun:
    outcomes: list[AgentOutcome] = field(default_factory=list)
    reviewed: list[tuple[FileDiff, AgentOutcome]] = field(default_factory=list)
    unreviewed: tuple[tuple[str, str], ...] = ()
    notes: list[str] = field(default_factory=list)


def _static_tokens(instructions: Sequence[str]) -> int:
    """What every review conversation sends before the PR: tool schemas and system prompt."""
    from review.agent import system_message
    from review.submit import SUBMIT_REVIEW_TOOL
    from tools.registry import default_registry, model_schemas

    schemas = json.dumps([*model_schemas(default_registry()), SUBMIT_REVIEW_TOOL])
    return tokens.estimate(schemas + system_message(load_prompt("review"), instructions))


async def _review_groups(
    request: ReviewRequest,
    sub: Diff,
    todo: list[FileDiff],
    verdict: TriageVerdict,
    budget: Budget,
    workspace: Workspace,
    llm: LLMClient,
    spotlight: Spotlight,
    db: Store | None,
) -> _GroupRun:
    """Review the files in priority order, a group at a time, while the budget lasts."""
    from review.agent import run_agent
    from tools.registry import default_registry

    settings = request.settings
    ranked = groups.rank(sub.files, verdict.focus_files)
    planned = groups.pack(ranked, budget.diff_tokens)
    instructions = tuple(i for f in todo for i in request.config.instructions_for(f.path))
    static = _static_tokens(instructions)
    started = time.monotonic()
    before = llm.usage
    run = _GroupRun()
    for number, group in enumerate(planned, start=1):
        spent = (llm.usage - before).tokens_in + (llm.usage - before).tokens_out
        left_tokens = budget.max_tokens - spent
        left_seconds = budget.max_seconds - (time.monotonic() - started)
        first = static + min(sum(groups.file_tokens(f) for f in group), budget.diff_tokens) + 300
        if run.outcomes and (left_tokens < TURNS_PER_GROUP * first or left_seconds <= 0):
            rest = [f for g in planned[number - 1 :] for f in g]
            run.unreviewed = tuple((f.path, OVER_BUDGET) for f in rest)
            run.notes.append(
                f"The model reviewed the {len(run.reviewed)} most important of "
                f"{len(todo)} files; {len(rest)} were left for the token budget."
            )
            break
        part_diff = sub.subset({f.path for f in group})
        context = ""
        if len(planned) > 1:
            context = (
                f"This is part {number} of {len(planned)} of a larger change, most important "
                "files first; the other parts are reviewed separately. Comment on this part."
            )
        outcome = await run_agent(
            llm=llm,
            model=settings.review_model or "",
            registry=default_registry(),
            workspace=workspace,
            diff=part_diff,
            pr=request.pr,
            budget=dataclasses.replace(
                budget, max_tokens=left_tokens, max_seconds=max(left_seconds, 0.001)
            ),
            spotlight=spotlight,
            prompt=load_prompt("review"),
            repair_prompt=load_prompt("repair"),
            focus_files=[p for p in verdict.focus_files if part_diff.file(p) is not None],
            risk_areas=verdict.risk_areas,
            instructions=instructions,
            db=db,
            context=request.context,
            temperature=settings.temperature,
            notes=context,
            walkthrough=verdict.walkthrough.summary if verdict.walkthrough else "",
        )
        run.outcomes.append(outcome)
        run.reviewed += [(f, outcome) for f in group]
        if outcome.stop_reason != "submitted":
            where = f" (part {number})" if len(planned) > 1 else ""
            run.notes.append(f"Agent stopped{where}: {outcome.stop_reason.replace('_', ' ')}.")
        if outcome.rejected:
            run.notes.append(f"{len(outcome.rejected)} malformed model finding(s) were discarded.")
    return run


async def _triage(
    request: ReviewRequest, diff: Diff, llm: LLMClient, spotlight: Spotlight
) -> TriageVerdict:
    from review.triage import model_triage

    verdict = rule_triage(Partition(tuple(diff.files), ()), request.settings.small_change_tokens)
    if verdict is not None:
        return verdict
    return await model_triage(
        diff, llm=llm, settings=request.settings, spotlight=spotlight, pr=request.pr
    )


def _cap_to_pr_ceiling(budget: Budget, request: ReviewRequest, db: Store | None) -> Budget:
    ceiling = request.settings.pr_token_ceiling
    if db is None or not ceiling or request.context.pr_number is None:
        return budget
    spent = usage_since(
        db, 0.0, repo=request.context.repo, pr_number=request.context.pr_number
    ).tokens
    left = max(ceiling - spent, 0)
    return dataclasses.replace(budget, max_tokens=min(budget.max_tokens, left))
