"""``issue_comment``: slash commands on a PR (``/prwarden review``, ``pause``, ``resume``,
``help``).

Commands take no arguments: anything after the verb makes the comment not a command. Whether
the commenter has write access is checked by the worker against GitHub, not trusted from the
payload.
"""

from __future__ import annotations

import re

from gidgethub import sansio
from gidgethub.routing import Router

from bot.commands import COMMAND_HELP
from bot.context import AppContext, Dispatch

router = Router()

COMMANDS = tuple(COMMAND_HELP)
_COMMAND = re.compile(rf"^\s*/prwarden\s+({'|'.join(COMMANDS)})\s*$", re.IGNORECASE)


def parse_command(body: str) -> str | None:
    """The command on the comment's first non-empty line, or None."""
    for line in body.splitlines():
        if line.strip():
            match = _COMMAND.match(line)
            return match.group(1).lower() if match else None
    return None


@router.register("issue_comment", action="created")
async def on_comment(event: sansio.Event, ctx: AppContext, dispatch: Dispatch) -> None:
    data = event.data
    issue = data.get("issue") or {}
    if "pull_request" not in issue:
        return
    comment = data.get("comment") or {}
    if (comment.get("user") or {}).get("type") == "Bot":
        return
    command = parse_command(str(comment.get("body") or ""))
    installation = (data.get("installation") or {}).get("id")
    if command is None or installation is None:
        return
    enqueued = ctx.queue.enqueue(
        "command",
        installation_id=int(installation),
        repo=data["repository"]["full_name"],
        pr_number=int(issue["number"]),
        head_sha=f"command:{comment.get('id')}",
        payload={
            "command": command,
            "user": (comment.get("user") or {}).get("login", ""),
            "comment_id": comment.get("id"),
        },
        delivery_id=event.delivery_id,
        dedupe_key=f"command:{comment.get('id')}",
    )
    dispatch.job_ids.append(enqueued.job_id)
