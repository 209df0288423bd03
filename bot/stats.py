"""``prwarden stats``: what reviews cost and what users made of the comments."""

from __future__ import annotations

import json
from dataclasses import asdict

from cache.accounting import stats
from cache.feedback import acceptance
from cache.shadow import shadow_stats
from cache.store import Store


def render_stats(db: Store, *, since: float, repo: str | None = None, fmt: str = "text") -> str:
    rows = stats(db, since=since, repo=repo)
    accepted = acceptance(db, repo=repo, since=since)
    shadows = shadow_stats(db, repo=repo, since=since)
    if fmt == "json":
        data = {
            "repositories": [asdict(r) for r in rows],
            "acceptance": [asdict(a) for a in accepted],
            "shadow": [asdict(r) for r in shadows],
        }
        return json.dumps(data, indent=2)
    out: list[str] = []
    header = (
        f"{'installation':>12}  {'repository':<32} {'reviews':>7} {'cache hit':>9} "
        f"{'calls':>6} {'tokens in':>10} {'cached':>8} {'tokens out':>10} {'cost $':>9} "
        f"{'posted':>6} {'dropped':>7} {'held':>5}"
    )
    out.append(header)
    out.append("-" * len(header))
    for r in rows:
        out.append(
            f"{r.installation_id if r.installation_id is not None else '-':>12}  "
            f"{r.repo[:32]:<32} {r.reviews:>7} {r.cache_hit_rate:>8.0%} {r.model_calls:>6} "
            f"{r.tokens_in:>10} {r.cached_tokens:>8} {r.tokens_out:>10} {r.cost:>9.4f} "
            f"{r.findings_posted:>6} "
            f"{r.findings_dropped:>7} {r.findings_held:>5}"
        )
        for m in r.models:
            out.append(
                f"{'':>12}    model {m.model[:24]:<24} {m.calls:>6} calls "
                f"{m.tokens_in:>10} in ({m.cached_tokens} cached) {m.tokens_out:>10} out "
                f"${m.cost:.4f}"
            )
    if not rows:
        out.append("(no reviews in this period)")
    out.append("")
    out.append("Acceptance of posted comments (by category, severity, prompt version):")
    head = (
        f"  {'category':<16} {'severity':<9} {'prompt':<22} {'posted':>6} {'👍':>3} {'👎':>3} "
        f"{'resolved':>8} {'fixed':>5} {'replies':>7} {'useful*':>7} {'accepted':>8}"
    )
    out.append(head)
    for a in accepted:
        out.append(
            f"  {a.category:<16} {a.severity:<9} {a.prompt_version[:22]:<22} {a.posted:>6} "
            f"{a.thumbs_up:>3} {a.thumbs_down:>3} {a.resolved:>8} {a.fixed:>5} {a.reply:>7} "
            f"{a.would_help:>7} {a.acceptance_rate:>8.0%}"
        )
    if not accepted:
        out.append("  (no feedback collected yet)")
    out.append("  * useful: shadow-mode findings whose lines a later push changed")
    out.append("")
    out.append("Shadow mode (computed, not posted; would have helped = a later push or the merge")
    out.append("changed the lines the finding was on):")
    out.append(
        f"  {'repository':<32} {'reviews':>7} {'PRs':>4} {'findings':>8} "
        f"{'would help':>10} {'rate':>6}"
    )
    for sh in shadows:
        rate = "n/a" if sh.would_help_rate is None else f"{sh.would_help_rate:.0%}"
        out.append(
            f"  {sh.repo[:32]:<32} {sh.shadow_reviews:>7} {sh.pull_requests:>4} "
            f"{sh.findings_stored:>8} {sh.would_help:>10} {rate:>6}"
        )
    if not shadows:
        out.append("  (no shadow-mode reviews in this period)")
    return "\n".join(out)
