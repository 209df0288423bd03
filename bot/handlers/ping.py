"""``ping``: GitHub's hello when a hook is created."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from bot.context import AppContext, Dispatch

router = Router()


@router.register("ping")
async def on_ping(event: sansio.Event, ctx: AppContext, dispatch: Dispatch) -> None:
    dispatch.notes.append("pong")
