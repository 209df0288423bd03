"""What the detail page shows beside a held finding: the diff around it and why it was found.

``hunk_excerpt`` runs when a finding is held and keeps the lines around its anchor as a small
unified diff in the finding's evidence. ``gather`` reads, for one held finding, the tool and
model calls of the review that held it (from the audit log: the calls on that PR since the
review before it) and the injection hits that review recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cache.accounting import LoggedModelCall, LoggedToolCall, calls_on_pr
from cache.held import HeldFinding
from cache.runs import runs_for
from cache.store import Store
from prwarden.errors import DiffError
from review.diff import Diff, DiffLine, parse_diff
from review.findings import Finding
from security.secrets import redact_found_secrets

HUNK_CONTEXT = 3
LINE_CLASSES = {"+": "add", "-": "del", " ": "ctx"}


def hunk_excerpt(diff: Diff, finding: Finding, *, context: int = HUNK_CONTEXT) -> str:
    """The diff lines within ``context`` lines of the finding's anchor, as a unified diff.

    Secrets on those lines are redacted: a held secret finding must not store its secret.
    """
    changed = diff.file(finding.path)
    if changed is None:
        return ""
    cut = changed.restricted(set(range(finding.first_line, finding.line + 1)), context=context)
    if cut is None:
        return ""
    old = "/dev/null" if changed.status == "added" else f"a/{changed.old_path or changed.path}"
    out = [f"diff --git a/{changed.old_path or changed.path} b/{changed.path}"]
    out += [f"--- {old}", f"+++ b/{changed.path}"]
    for hunk in cut.hunks:
        old_n = sum(1 for line in hunk.lines if line.kind != "+")
        new_n = sum(1 for line in hunk.lines if line.kind != "-")
        old_start = next((line.old for line in hunk.lines if line.old is not None), 0)
        new_start = next((line.new for line in hunk.lines if line.new is not None), 0)
        out.append(f"@@ -{old_start},{old_n} +{new_start},{new_n} @@")
        out += [f"{line.kind}{redact_found_secrets(line.text)}" for line in hunk.lines]
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class ShownLine:
    """One diff line as the page shows it; ``css`` comes from a closed set."""

    old: int | None
    new: int | None
    sign: str
    text: str
    css: str
    anchored: bool


@dataclass(frozen=True)
class Evidence:
    diff: Diff
    lines: tuple[ShownLine, ...]
    tool_calls: tuple[LoggedToolCall, ...]
    model_calls: tuple[LoggedModelCall, ...]
    injection_hits: tuple[dict[str, Any], ...]
    reasons: tuple[str, ...]

    @property
    def models(self) -> tuple[tuple[str, str], ...]:
        """The distinct (model, prompt version) pairs of the review."""
        return tuple(dict.fromkeys((c.model, c.prompt_version) for c in self.model_calls))


def _lines(diff: Diff, finding: dict[str, Any]) -> tuple[ShownLine, ...]:
    changed = diff.file(str(finding.get("path", "")))
    if changed is None:
        return ()
    last = int(finding.get("line") or 0)
    first = int(finding.get("start_line") or last)

    def shown(line: DiffLine) -> ShownLine:
        anchored = line.new is not None and first <= line.new <= last and line.kind != "-"
        css = LINE_CLASSES[line.kind]
        return ShownLine(line.old, line.new, line.kind, line.text, css, anchored)

    return tuple(shown(line) for hunk in changed.hunks for line in hunk.lines)


def gather(db: Store, item: HeldFinding) -> Evidence:
    """The evidence of one held finding, read from its record and the audit log."""
    evidence = item.evidence if isinstance(item.evidence, dict) else {}
    try:
        diff = parse_diff(str(evidence.get("hunk") or ""))
    except DiffError:
        diff = Diff(())
    runs = runs_for(db, item.repo, item.pr_number)
    before = [r.created_at for r in runs if r.created_at < item.created_at]
    after = [r for r in runs if r.created_at >= item.created_at]
    tools, models = calls_on_pr(
        db,
        item.repo,
        item.pr_number,
        since=max(before) if before else 0.0,
        until=item.created_at,
    )
    if after:
        hits: tuple[dict[str, Any], ...] = tuple(after[0].injection_hits)
    else:
        hits = tuple(
            h if isinstance(h, dict) else {"excerpt": str(h)}
            for h in evidence.get("injection_hits") or evidence.get("injections") or ()
        )
    reasons = tuple(str(r) for r in evidence.get("reasons") or ())
    return Evidence(diff, _lines(diff, item.finding), tools, models, hits, reasons)
