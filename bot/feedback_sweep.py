"""The feedback sweep: what people did with prwarden's comments, read back from GitHub.

GitHub sends no webhook for reactions, so the sweep polls: on every later review of the PR
(a push) and when the PR closes. For each comment prwarden posted it records thumbs-up and
thumbs-down reactions, replies, whether its thread was resolved (GraphQL ``reviewThreads``;
REST has no such flag), and whether a later push changed the code it was anchored on (a fix
applied). For shadow-mode findings, which were never posted, the same change of the anchored
code records ``would_help``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.context import AppContext
from bot.github import GitHubClient
from cache import feedback, shadow

REACTIONS = {"+1": "thumbs_up", "-1": "thumbs_down"}
SYSTEM_ACTOR = "prwarden"


@dataclass(frozen=True, slots=True)
class SweepResult:
    """How many new signals one sweep stored, by kind."""

    reactions: int = 0
    replies: int = 0
    resolved: int = 0
    fixed: int = 0
    would_help: int = 0

    @property
    def total(self) -> int:
        return self.reactions + self.replies + self.resolved + self.fixed + self.would_help


def _code_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def anchored_code_changed(anchored_code: str, content: bytes | None) -> bool:
    """Whether the anchored lines no longer appear, in order, in the file's new content.

    A file that is gone counts as changed; an empty anchor proves nothing and never does.
    """
    wanted = _code_lines(anchored_code)
    if not wanted:
        return False
    if content is None:
        return True
    have = _code_lines(content.decode("utf-8", errors="replace"))
    size = len(wanted)
    return not any(have[i : i + size] == wanted for i in range(len(have) - size + 1))


class _Files:
    """File contents at one commit, each fetched once."""

    def __init__(self, gh: GitHubClient, repo: str, ref: str):
        self.gh, self.repo, self.ref = gh, repo, ref
        self._cache: dict[str, bytes | None] = {}

    async def get(self, path: str) -> bytes | None:
        if path not in self._cache:
            self._cache[path] = await self.gh.get_file(self.repo, path, self.ref)
        return self._cache[path]


async def sweep_feedback(
    ctx: AppContext, gh: GitHubClient, repo: str, number: int, *, head_sha: str
) -> SweepResult:
    """Collect every feedback signal on the PR's comments and shadow findings at ``head_sha``."""
    posted = feedback.posted_comments(ctx.db, repo, number)
    stored = shadow.shadow_findings(ctx.db, repo, number)
    if not posted and not stored:
        return SweepResult()
    files = _Files(gh, repo, head_sha)
    counts = {"reactions": 0, "replies": 0, "resolved": 0, "fixed": 0, "would_help": 0}
    if posted:
        known = {c.comment_id for c in posted}
        for comment in await gh.list_review_comments(repo, number):
            reply_to = comment.get("in_reply_to_id")
            if isinstance(reply_to, int) and reply_to in known:
                counts["replies"] += feedback.record_feedback(
                    ctx.db, comment_id=reply_to, signal="reply", actor=_login(comment)
                )
        for comment_id in sorted(known):
            for reaction in await gh.list_comment_reactions(repo, comment_id):
                signal = REACTIONS.get(str(reaction.get("content", "")))
                if signal:
                    counts["reactions"] += feedback.record_feedback(
                        ctx.db, comment_id=comment_id, signal=signal, actor=_login(reaction)
                    )
        states = await gh.review_thread_states(repo, number)
        for comment_id in sorted(known):
            if states.get(comment_id):
                counts["resolved"] += feedback.record_feedback(
                    ctx.db, comment_id=comment_id, signal="resolved", actor=SYSTEM_ACTOR
                )
        for c in posted:
            if c.head_sha != head_sha and anchored_code_changed(
                c.anchored_code, await files.get(c.path)
            ):
                counts["fixed"] += feedback.record_feedback(
                    ctx.db,
                    comment_id=c.comment_id,
                    signal="fixed",
                    actor=SYSTEM_ACTOR,
                    detail=head_sha,
                )
    for f in stored:
        if f.head_sha != head_sha and anchored_code_changed(
            f.anchored_code, await files.get(f.path)
        ):
            counts["would_help"] += shadow.record_would_help(
                ctx.db, repo=repo, pr_number=number, finding=f, head_sha=head_sha
            )
    return SweepResult(**counts)


def _login(item: dict[str, object]) -> str:
    user = item.get("user")
    login = user.get("login") if isinstance(user, dict) else None
    return str(login) if login else "ghost"
