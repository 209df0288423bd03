"""``check_run`` and ``check_suite`` ``rerequested``: the Re-run button asks for a new review.

The delivery names the head commit; its pull requests come with it when GitHub knows them, and
are looked up by the worker otherwise (a ``rerequest`` job). Each open PR whose head is that
commit gets a forced review, with a check run of its own.
"""

from __future__ import annotations

import re
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from bot.context import AppContext, Dispatch

router = Router()

RERUN_ACTION = "rerequested"
_SHA = re.compile(r"[0-9a-f]{40}")
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")


def _pull_numbers(block: dict[str, Any], head_sha: str) -> list[int]:
    numbers = []
    for pr in block.get("pull_requests") or ():
        if isinstance(pr, dict) and (pr.get("head") or {}).get("sha") == head_sha:
            number = pr.get("number")
            if isinstance(number, int) and not isinstance(number, bool) and number > 0:
                numbers.append(number)
    return sorted(set(numbers))


async def _rerun(
    block: dict[str, Any], event: sansio.Event, ctx: AppContext, dispatch: Dispatch
) -> None:
    data = event.data
    installation = (data.get("installation") or {}).get("id")
    head_sha = str(block.get("head_sha") or "")
    repo = str((data.get("repository") or {}).get("full_name") or "")
    if (
        not isinstance(installation, int)
        or not _SHA.fullmatch(head_sha)
        or not _REPO.fullmatch(repo)
    ):
        dispatch.notes.append("re-run without a valid installation, head commit or repository")
        return
    numbers = _pull_numbers(block, head_sha)
    if not numbers:
        # No PR in the payload (a fork, or GitHub did not attach it): the worker asks GitHub.
        enqueued = ctx.queue.enqueue(
            "rerequest",
            installation_id=int(installation),
            repo=repo,
            pr_number=0,
            head_sha=head_sha,
            payload={"action": RERUN_ACTION},
            delivery_id=event.delivery_id,
            dedupe_key=f"rerequest:{repo}@{head_sha}",
        )
        dispatch.job_ids.append(enqueued.job_id)
        return
    for number in numbers:
        enqueued = ctx.queue.enqueue(
            "review",
            installation_id=int(installation),
            repo=repo,
            pr_number=number,
            head_sha=head_sha,
            payload={"action": RERUN_ACTION},
            delivery_id=event.delivery_id,
        )
        dispatch.job_ids.append(enqueued.job_id)


@router.register("check_run", action=RERUN_ACTION)
async def on_check_run_rerun(event: sansio.Event, ctx: AppContext, dispatch: Dispatch) -> None:
    await _rerun(event.data.get("check_run") or {}, event, ctx, dispatch)


@router.register("check_suite", action=RERUN_ACTION)
async def on_check_suite_rerun(event: sansio.Event, ctx: AppContext, dispatch: Dispatch) -> None:
    await _rerun(event.data.get("check_suite") or {}, event, ctx, dispatch)
