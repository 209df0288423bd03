"""``prwarden eval``: the review pipeline over a labelled dataset, scored, and a regression gate.

A dataset is a folder of cases, ``cases/<id>/pr.diff`` and ``cases/<id>/base/...`` (the files at
the PR's base), with an optional ``labels.jsonl`` naming each case's buggy ``file`` and ``lines``.
Each case's workspace is its base copied to a temporary folder with ``pr.diff`` applied, so the
pipeline sees the PR's head, exactly as the bot would.

Scoring. A reported finding is one the pipeline would put on the PR (status ``post``, or
``hold``: held findings reach the PR once a person approves them). A finding *hits* when it is
on the labelled file and its line range comes within ``WINDOW`` lines of a labelled buggy line.
A case is *found* when any of its reported findings hits. Recall is found cases over labelled
cases (the labelled lines covered are reported too); precision is hits over reported findings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.config import Settings
from cache.db import open_db
from cache.store import Store
from prwarden.errors import DatasetError, PrwardenError
from review.findings import AnnotatedFinding, Finding
from review.pipeline import prompt_versions, run_review
from review.request import PRInfo, ReviewRequest
from review.settings import ReviewSettings
from review.static import SECRETS_SOURCE
from tools.languages import language_of
from tools.linter import LINTERS

WINDOW = 3
SCHEMA = "prwarden-eval/1"
REPORTED = ("post", "hold")
GIT_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Label:
    """Where a case's bug is: a file and its buggy line numbers (new file)."""

    file: str
    lines: frozenset[int]


@dataclass(frozen=True, slots=True)
class EvalCase:
    id: str
    folder: Path
    label: Label | None


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    path: Path
    cases: tuple[EvalCase, ...]
    labelled: bool


@dataclass(frozen=True, slots=True)
class FindingScore:
    path: str
    line: int
    start_line: int | None
    severity: str
    category: str
    source: str
    title: str
    hit: bool


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case: what was reported, what hit, what it cost."""

    id: str
    labelled: bool
    language: str
    mode: str
    found: bool | None
    reported: int
    hits: int
    false_positives: int
    labelled_lines: int
    lines_covered: int
    tokens_in: int
    tokens_out: int
    cost: float
    seconds: float
    findings: tuple[FindingScore, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Reported findings, hits and precision of one category or severity."""

    reported: int
    hits: int
    false_positives: int
    precision: float | None


@dataclass(frozen=True, slots=True)
class Slice:
    """Recall and precision of one language (its labelled cases) or one tool (its findings)."""

    cases: int
    found: int
    recall: float | None
    reported: int
    hits: int
    precision: float | None


@dataclass(frozen=True, slots=True)
class Summary:
    cases: int
    labelled_cases: int
    errors: int
    found: int | None
    recall: float | None
    labelled_lines: int | None
    lines_covered: int | None
    line_recall: float | None
    reported: int
    hits: int | None
    precision: float | None
    false_positives_per_pr: float | None
    findings_per_pr: float
    tokens_per_pr: float
    cost_per_pr: float
    seconds_per_pr: float
    wall_seconds: float


@dataclass(frozen=True, slots=True)
class EvalReport:
    dataset: str
    dataset_path: str
    labelled: bool
    created_at: str
    mode: str
    models: tuple[str, ...]
    prompt_versions: tuple[str, ...]
    window: int
    summary: Summary
    by_category: dict[str, Breakdown]
    by_severity: dict[str, Breakdown]
    by_language: dict[str, Slice]
    by_tool: dict[str, Slice]
    cases: tuple[CaseResult, ...]
    schema: str = SCHEMA
    definitions: dict[str, str] = field(
        default_factory=lambda: {
            "reported": "findings with status post or hold (what reaches the PR)",
            "hit": f"a reported finding on the labelled file within {WINDOW} lines of a "
            "labelled buggy line",
            "found": "a labelled case with at least one hit",
            "recall": "found cases / labelled cases (errored cases excluded)",
            "line_recall": "labelled lines within the window of a hit / labelled lines",
            "precision": "hits / reported findings on labelled cases",
            "false_positives_per_pr": "reported findings that miss / labelled cases",
            "by_language": "labelled cases by the language of the labelled file; recall over "
            "them, precision over the findings reported on them",
            "by_tool": "findings by their source (a static tool or the model); recall is the "
            "labelled cases that tool's findings found, over all labelled cases",
        }
    )


# -- the dataset ------------------------------------------------------------------------------


def load_dataset(path: Path) -> Dataset:
    """Read a dataset folder; ``DatasetError`` when it is missing or its labels are malformed."""
    cases_dir = path / "cases"
    if not cases_dir.is_dir():
        raise DatasetError(f"{path} is not an eval dataset: no cases/ folder", path=str(path))
    labels_file = path / "labels.jsonl"
    labels = _read_labels(labels_file) if labels_file.is_file() else None
    folders = sorted(p for p in cases_dir.iterdir() if (p / "pr.diff").is_file())
    if labels is not None:
        unknown = sorted(set(labels) - {p.name for p in folders})
        if unknown:
            raise DatasetError(
                f"{labels_file}: labels for cases with no cases/<id>/pr.diff: {unknown[:5]}",
                path=str(labels_file),
            )
        folders = [p for p in folders if p.name in labels]
    if not folders:
        raise DatasetError(f"{path} holds no case with a pr.diff", path=str(path))
    cases = tuple(
        EvalCase(p.name, p, labels.get(p.name) if labels is not None else None) for p in folders
    )
    return Dataset(path.resolve().name, path, cases, labels is not None)


def _read_labels(path: Path) -> dict[str, Label]:
    labels: dict[str, Label] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(raw)
        except ValueError as exc:
            raise DatasetError(f"{where}: not JSON ({exc})", path=str(path)) from None
        labels[_text(row, "id", where)] = label_from_row(row, where)
    return labels


def label_from_row(row: Any, where: str) -> Label:
    """The label of one ``labels.jsonl`` row: ``file`` and the union of ``line``, ``lines``
    and the hunks' ``added_lines``."""
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: a label must be a JSON object", path=where)
    lines: set[int] = set()
    if row.get("line") is not None:
        lines.add(_line(row["line"], where))
    lines.update(_line(n, where) for n in _list(row.get("lines", []), "lines", where))
    for hunk in _list(row.get("hunks", []), "hunks", where):
        added = hunk.get("added_lines", []) if isinstance(hunk, dict) else None
        lines.update(_line(n, where) for n in _list(added, "hunks[].added_lines", where))
    if not lines:
        raise DatasetError(f"{where}: the label names no buggy line", path=where)
    return Label(_text(row, "file", where), frozenset(lines))


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: {key!r} must be a non-empty string", path=where)
    return value


def _list(value: Any, key: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise DatasetError(f"{where}: {key!r} must be a list", path=where)
    return value


def _line(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DatasetError(f"{where}: line numbers must be positive integers", path=where)
    return value


async def build_workspace(case: EvalCase, root: Path) -> Path:
    """Copy the case's base into ``root`` and apply its ``pr.diff`` there (the PR's head)."""
    workspace = root / case.id
    base = case.folder / "base"
    if base.is_dir():
        await asyncio.to_thread(shutil.copytree, base, workspace, symlinks=False)
    else:
        workspace.mkdir(parents=True)
    proc = await asyncio.create_subprocess_exec(
        "git",
        "apply",
        "--whitespace=nowarn",
        str((case.folder / "pr.diff").resolve()),
        cwd=workspace,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(workspace.parent)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), GIT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise DatasetError(f"{case.id}: git apply timed out", path=str(case.folder)) from None
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip().splitlines()
        raise DatasetError(
            f"{case.id}: pr.diff does not apply to base/: {detail[-1] if detail else ''}",
            path=str(case.folder),
        )
    return workspace


# -- scoring ----------------------------------------------------------------------------------


def is_hit(finding: Finding, label: Label, window: int = WINDOW) -> bool:
    """Whether the finding's line range comes within ``window`` lines of a labelled line."""
    if finding.path != label.file:
        return False
    low = (finding.start_line or finding.line) - window
    high = finding.line + window
    return any(low <= n <= high for n in label.lines)


def covered_lines(findings: Iterable[Finding], label: Label, window: int = WINDOW) -> set[int]:
    """Labelled lines within the window of some finding."""
    out: set[int] = set()
    for f in findings:
        if f.path == label.file:
            low, high = (f.start_line or f.line) - window, f.line + window
            out |= {n for n in label.lines if low <= n <= high}
    return out


def score_case(
    case: EvalCase,
    findings: Sequence[AnnotatedFinding],
    *,
    mode: str,
    tokens_in: int,
    tokens_out: int,
    cost: float,
    seconds: float,
) -> CaseResult:
    """Score one case's annotated findings against its label."""
    reported = [af.finding for af in findings if af.status in REPORTED]
    label = case.label
    scores = tuple(
        FindingScore(
            path=f.path,
            line=f.line,
            start_line=f.start_line,
            severity=f.severity.value,
            category=f.category.value,
            source=f.source,
            title=f.title,
            hit=label is not None and is_hit(f, label),
        )
        for f in reported
    )
    hits = sum(s.hit for s in scores)
    return CaseResult(
        id=case.id,
        labelled=label is not None,
        language=case_language(case),
        mode=mode,
        found=hits > 0 if label is not None else None,
        reported=len(reported),
        hits=hits,
        false_positives=len(reported) - hits if label is not None else 0,
        labelled_lines=len(label.lines) if label is not None else 0,
        lines_covered=len(covered_lines(reported, label)) if label is not None else 0,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost,
        seconds=seconds,
        findings=scores,
    )


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _breakdown(results: Sequence[CaseResult], key: str) -> dict[str, Breakdown]:
    counts: dict[str, list[int]] = {}
    for r in results:
        if not r.labelled or r.error:
            continue
        for s in r.findings:
            entry = counts.setdefault(getattr(s, key), [0, 0])
            entry[0] += 1
            entry[1] += s.hit
    return {
        name: Breakdown(reported, hits, reported - hits, _ratio(hits, reported))
        for name, (reported, hits) in sorted(counts.items())
    }


def case_language(case: EvalCase) -> str:
    """The language of the labelled file (of the diff's first file when unlabelled)."""
    if case.label is not None:
        return language_of(case.label.file)
    for line in (case.folder / "pr.diff").read_text(errors="replace").splitlines():
        if line.startswith("+++ b/"):
            return language_of(line[6:])
    return language_of("")


def _slice(cases: int, found: int, reported: int, hits: int) -> Slice:
    return Slice(cases, found, _ratio(found, cases), reported, hits, _ratio(hits, reported))


def by_language(results: Sequence[CaseResult]) -> dict[str, Slice]:
    """Recall and precision over the labelled cases of each language."""
    scored = [r for r in results if r.labelled and not r.error]
    out: dict[str, Slice] = {}
    for language in sorted({r.language for r in scored}):
        mine = [r for r in scored if r.language == language]
        out[language] = _slice(
            len(mine),
            sum(bool(r.found) for r in mine),
            sum(r.reported for r in mine),
            sum(r.hits for r in mine),
        )
    return out


def by_tool(results: Sequence[CaseResult]) -> dict[str, Slice]:
    """Recall and precision of each source's findings over all labelled cases; every static
    tool has a row, findings or not."""
    scored = [r for r in results if r.labelled and not r.error]
    static = [linter.name for linter in LINTERS] + [SECRETS_SOURCE]
    others = sorted({s.source for r in scored for s in r.findings} - set(static))
    out: dict[str, Slice] = {}
    for source in static + others:
        mine = [[s for s in r.findings if s.source == source] for r in scored]
        out[source] = _slice(
            len(scored),
            sum(any(s.hit for s in found) for found in mine),
            sum(len(found) for found in mine),
            sum(s.hit for found in mine for s in found),
        )
    return out


def summarize(results: Sequence[CaseResult], wall_seconds: float) -> Summary:
    """Totals over the cases; scores are ``None`` when no case is labelled."""
    ran = [r for r in results if not r.error]
    scored = [r for r in ran if r.labelled]
    n = max(len(ran), 1)
    labelled = bool(scored)
    found = sum(bool(r.found) for r in scored)
    lines = sum(r.labelled_lines for r in scored)
    covered = sum(r.lines_covered for r in scored)
    reported_scored = sum(r.reported for r in scored)
    hits = sum(r.hits for r in scored)
    return Summary(
        cases=len(results),
        labelled_cases=len(scored),
        errors=len(results) - len(ran),
        found=found if labelled else None,
        recall=_ratio(found, len(scored)),
        labelled_lines=lines if labelled else None,
        lines_covered=covered if labelled else None,
        line_recall=_ratio(covered, lines),
        reported=sum(r.reported for r in ran),
        hits=hits if labelled else None,
        precision=_ratio(hits, reported_scored),
        false_positives_per_pr=(_ratio(reported_scored - hits, len(scored)) if labelled else None),
        findings_per_pr=sum(r.reported for r in ran) / n,
        tokens_per_pr=sum(r.tokens_in + r.tokens_out for r in ran) / n,
        cost_per_pr=sum(r.cost for r in ran) / n,
        seconds_per_pr=sum(r.seconds for r in ran) / n,
        wall_seconds=wall_seconds,
    )


# -- running ----------------------------------------------------------------------------------


async def eval_case(
    case: EvalCase, settings: ReviewSettings, db: Store, scratch: Path
) -> CaseResult:
    """Build the case's workspace, run the review pipeline on it, score the result."""
    started = time.monotonic()
    try:
        workspace = await build_workspace(case, scratch)
        request = ReviewRequest(
            diff=(case.folder / "pr.diff").read_bytes(),
            workspace=workspace,
            settings=settings,
            pr=PRInfo(repo=case.id),
        )
        result = await run_review(request, db=db)
    except PrwardenError as exc:
        return CaseResult(
            id=case.id,
            labelled=case.label is not None,
            language=case_language(case),
            mode="error",
            found=None,
            reported=0,
            hits=0,
            false_positives=0,
            labelled_lines=0,
            lines_covered=0,
            tokens_in=0,
            tokens_out=0,
            cost=0.0,
            seconds=time.monotonic() - started,
            error=f"{type(exc).__name__}: {exc}",
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch / case.id, True)
    return score_case(
        case,
        result.findings,
        mode=result.mode,
        tokens_in=result.usage.tokens_in,
        tokens_out=result.usage.tokens_out,
        cost=result.usage.cost,
        seconds=time.monotonic() - started,
    )


async def run_eval(
    dataset: Dataset,
    settings: ReviewSettings,
    *,
    concurrency: int = 4,
    progress: bool | None = None,
) -> EvalReport:
    """Evaluate every case, at most ``concurrency`` at a time; progress on stderr if a TTY."""
    if concurrency < 1:
        raise DatasetError(f"concurrency must be at least 1, got {concurrency}")
    db = open_db(":memory:")
    gate = asyncio.Semaphore(concurrency)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(
        total=len(dataset.cases), desc="eval", unit="case", file=sys.stderr, disable=not show
    )
    started = time.monotonic()

    async def one(case: EvalCase, scratch: Path) -> CaseResult:
        async with gate:
            result = await eval_case(case, settings, db, scratch)
        bar.update(1)
        return result

    try:
        with tempfile.TemporaryDirectory(prefix="prwarden-eval-") as tmp:
            results = await asyncio.gather(*(one(c, Path(tmp)) for c in dataset.cases))
    finally:
        bar.close()
    wall = time.monotonic() - started
    model = settings.model_configured
    return EvalReport(
        dataset=dataset.name,
        dataset_path=str(dataset.path),
        labelled=dataset.labelled,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        mode="model" if model else "static",
        models=tuple(m for m in (settings.triage_model, settings.review_model) if m),
        prompt_versions=prompt_versions() if model else (),
        window=WINDOW,
        summary=summarize(results, wall),
        by_category=_breakdown(results, "category"),
        by_severity=_breakdown(results, "severity"),
        by_language=by_language(results),
        by_tool=by_tool(results),
        cases=tuple(results),
    )


# -- the JSON form and the gate -------------------------------------------------------------


def report_json(report: EvalReport) -> dict[str, Any]:
    return asdict(report)


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the gate needs from a stored result."""

    recall: float | None
    precision: float | None
    found: frozenset[str]
    cases: frozenset[str]
    models: tuple[str, ...]
    prompt_versions: tuple[str, ...]


def load_baseline(path: Path) -> Baseline:
    """Read a stored eval result; ``DatasetError`` when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"cannot read baseline {path}: {exc.strerror}", path=str(path)) from None
    except ValueError as exc:
        raise DatasetError(f"baseline {path} is not JSON: {exc}", path=str(path)) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise DatasetError(
            f"baseline {path} is not a prwarden eval result (schema {SCHEMA!r})", path=str(path)
        )
    try:
        summary = data["summary"]
        cases = data["cases"]
        return Baseline(
            recall=summary["recall"],
            precision=summary["precision"],
            found=frozenset(c["id"] for c in cases if c.get("found")),
            cases=frozenset(c["id"] for c in cases if not c.get("error")),
            models=tuple(data["models"]),
            prompt_versions=tuple(data["prompt_versions"]),
        )
    except (KeyError, TypeError) as exc:
        raise DatasetError(f"baseline {path} lacks {exc}", path=str(path)) from None


@dataclass(frozen=True, slots=True)
class GateVerdict:
    passed: bool
    messages: tuple[str, ...]
    regressed_cases: tuple[str, ...]


def compare(report: EvalReport, baseline: Baseline, margin: float) -> GateVerdict:
    """Fail when recall or precision fell by more than ``margin``; name the regressed cases."""
    if not 0.0 <= margin < 1.0:
        raise DatasetError(f"--margin must be a fraction in [0, 1), got {margin}")
    messages: list[str] = []
    if report.models != baseline.models:
        messages.append(
            f"models differ from the baseline: {list(baseline.models)} -> {list(report.models)}"
        )
    if report.prompt_versions != baseline.prompt_versions:
        messages.append(
            "prompt versions differ from the baseline: "
            f"{list(baseline.prompt_versions)} -> {list(report.prompt_versions)}"
        )
    if not report.labelled:
        messages.append("the dataset has no labels: nothing to compare")
        return GateVerdict(True, tuple(messages), ())
    passed = True
    s = report.summary
    for name, now, before in (
        ("recall", s.recall, baseline.recall),
        ("precision", s.precision, baseline.precision),
    ):
        if before is None:
            continue
        current = now if now is not None else 0.0
        if current < before - margin:
            passed = False
            messages.append(f"{name} fell from {before:.3f} to {current:.3f} (margin {margin:.3f})")
        else:
            messages.append(f"{name} {before:.3f} -> {current:.3f}: within margin")
    found_now = {r.id for r in report.cases if r.found}
    ran_now = {r.id for r in report.cases if not r.error}
    regressed = tuple(sorted((baseline.found & ran_now) - found_now))
    if regressed:
        messages.append(f"cases found in the baseline and missed now: {', '.join(regressed)}")
    missing = sorted(baseline.cases - ran_now)
    if missing:
        messages.append(f"baseline cases not evaluated now: {', '.join(missing[:20])}")
    return GateVerdict(passed, tuple(messages), regressed)


# -- the table for people ---------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def report_text(report: EvalReport) -> str:
    """The per-case and total table."""
    s = report.summary
    models = ", ".join(report.models) or "none (static tools only)"
    out = [
        f"prwarden eval {report.dataset}: {s.cases} case(s), mode {report.mode}, model(s) {models}",
        f"prompt versions: {', '.join(report.prompt_versions) or 'n/a (no model)'}",
        "",
        f"{'case':<24} {'mode':<7} {'found':>5} {'reported':>8} {'hits':>4} {'fp':>3} "
        f"{'lines':>7} {'tokens':>8} {'cost $':>8} {'secs':>6}",
    ]
    for r in report.cases:
        if r.error:
            out.append(f"{r.id[:24]:<24} error   {r.error[:80]}")
            continue
        found = "-" if r.found is None else ("yes" if r.found else "no")
        lines = f"{r.lines_covered}/{r.labelled_lines}" if r.labelled else "-"
        out.append(
            f"{r.id[:24]:<24} {r.mode:<7} {found:>5} {r.reported:>8} {r.hits:>4} "
            f"{r.false_positives:>3} {lines:>7} {r.tokens_in + r.tokens_out:>8} "
            f"{r.cost:>8.4f} {r.seconds:>6.2f}"
        )
    out.append("")
    if not report.labelled:
        out.append("The dataset has no labels (labels.jsonl): no recall or precision reported.")
    else:
        out.append(
            f"recall (cases found): {s.found}/{s.labelled_cases} = {_pct(s.recall)}; "
            f"labelled lines covered: {s.lines_covered}/{s.labelled_lines} = "
            f"{_pct(s.line_recall)}"
        )
        out.append(
            f"precision: {s.hits}/{s.reported} = {_pct(s.precision)}; "
            f"false positives per PR: {s.false_positives_per_pr or 0.0:.2f}"
        )
        for title, table in (("category", report.by_category), ("severity", report.by_severity)):
            for name, b in table.items():
                out.append(
                    f"  {title} {name:<14} reported {b.reported:>4}  hits {b.hits:>4}  "
                    f"fp {b.false_positives:>4}  precision {_pct(b.precision)}"
                )
        out += slices_text(report)
    if s.errors:
        out.append(f"{s.errors} case(s) could not be evaluated (see above); they are not scored.")
    out.append(
        f"per PR: {s.findings_per_pr:.2f} findings, {s.tokens_per_pr:.0f} tokens, "
        f"${s.cost_per_pr:.4f}, {s.seconds_per_pr:.2f} s; wall time {s.wall_seconds:.1f} s"
    )
    return "\n".join(out)


def slices_text(report: EvalReport) -> list[str]:
    """The per-language and per-tool table."""
    out = [
        "",
        f"{'by':<9} {'name':<16} {'cases':>5} {'found':>5} {'recall':>7} "
        f"{'reported':>8} {'hits':>4} {'precision':>9}",
    ]
    for title, table in (("language", report.by_language), ("tool", report.by_tool)):
        for name, sl in table.items():
            out.append(
                f"{title:<9} {name[:16]:<16} {sl.cases:>5} {sl.found:>5} {_pct(sl.recall):>7} "
                f"{sl.reported:>8} {sl.hits:>4} {_pct(sl.precision):>9}"
            )
    return out


# -- the command ------------------------------------------------------------------------------


def run_eval_command(args: argparse.Namespace, settings: Settings) -> int:
    """``prwarden eval``: 0 when done (and the gate passes), 1 when the gate fails."""
    dataset = load_dataset(Path(args.dataset))
    baseline = load_baseline(args.baseline) if args.baseline is not None else None
    report = asyncio.run(run_eval(dataset, settings.review, concurrency=args.concurrency))
    data = report_json(report)
    if args.output is not None:
        try:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise DatasetError(
                f"cannot write {args.output}: {exc.strerror}", path=str(args.output)
            ) from None
    print(json.dumps(data, indent=2) if args.format == "json" else report_text(report))
    if baseline is None:
        return 0
    verdict = compare(report, baseline, args.margin)
    stream = sys.stderr if args.format == "json" else sys.stdout
    print("", file=stream)
    print(f"baseline {args.baseline}:", file=stream)
    for message in verdict.messages:
        print(f"  {message}", file=stream)
    print("  gate: " + ("passed" if verdict.passed else "FAILED"), file=stream)
    return 0 if verdict.passed else 1
