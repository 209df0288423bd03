"""``pull_request``: queue a review when a PR is opened or its head moves.

Drafts are skipped until ``ready_for_review``. A newer head SHA supersedes queued and running
reviews of the same PR; the running one is cancelled. ``closed`` queues a feedback sweep.
"""

from __future__ import annotations

from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from bot.context import AppContext, Dispatch
from cache import deliveries

router = Router()

REVIEW_ACTIONS = ("opened", "reopened", "synchronize", "ready_for_review")


def job_payload(data: dict[str, Any]) -> dict[str, Any]:
    pr = data["pull_request"]
    return {
        "action": data.get("action"),
        "before": data.get("before"),
        "after": data.get("after"),
        "base_ref": (pr.get("base") or {}).get("ref"),
        "base_sha": (pr.get("base") or {}).get("sha"),
    }


async def _enqueue_review(event: sansio.Event, ctx: AppContext, dispatch: Dispatch) -> None:
    data = event.data
    pr = data["pull_request"]
    installation = (data.get("installation") or {}).get("id")
    repo = data["repository"]["full_name"]
    if installation is None:
        dispatch.notes.append("no installation in payload: not an App delivery")
        return
    if pr.get("draft"):
        dispatch.notes.append("draft PR: review waits for ready_for_review")
        return
    if pr.get("state") == "closed":
        dispatch.notes.append("PR is closed")
        return
    if deliveries.is_pull_paused(ctx.db, repo, int(pr["number"])):
        dispatch.notes.append("reviews are paused for this pull request")
        return
    enqueued = ctx.queue.enqueue(
        "review",
        installation_id=int(installation),
        repo=repo,
        pr_number=int(pr["number"]),
        head_sha=str(pr["head"]["sha"]),
        payload=job_payload(data),
        delivery_id=event.delivery_id,
    )
    dispatch.job_ids.append(enqueued.job_id)
    for job_id in enqueued.superseded_running:
        ctx.cancel_job(job_id)


for _action in REVIEW_ACTIONS:
    router.add(_enqueue_review, "pull_request", action=_action)


@router.register("pull_request", action="closed")
async def on_closed(event: sansio.Event, ctx: AppContext, dispatch: Dispatch) -> None:
    data = event.data
    installation = (data.get("installation") or {}).get("id")
    if installation is None:
        return
    pr = data["pull_request"]
    enqueued = ctx.queue.enqueue(
        "feedback",
        installation_id=int(installation),
        repo=data["repository"]["full_name"],
        pr_number=int(pr["number"]),
        head_sha=str(pr["head"]["sha"]),
        payload={"merged": bool(pr.get("merged"))},
        delivery_id=event.delivery_id,
    )
    dispatch.job_ids.append(enqueued.job_id)
