"""``installation`` and ``installation_repositories``: remember and forget where the App is."""

from __future__ import annotations

from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from bot.context import AppContext, Dispatch
from cache import deliveries

router = Router()


def _repos(items: Any) -> list[str]:
    return [str(r["full_name"]) for r in items or () if isinstance(r, dict) and "full_name" in r]


@router.register("installation", action="created")
@router.register("installation", action="unsuspend")
@router.register("installation", action="new_permissions_accepted")
async def on_installed(event: sansio.Event, ctx: AppContext, dispatch: Dispatch) -> None:
    inst = event.data["installation"]
    account = (inst.get("account") or {}).get("login", "")
    deliveries.remember_installation(
        ctx.db, int(inst["id"]), account, _repos(event.data.get("repositories"))
    )
    dispatch.notes.append(f"installation {inst['id']} remembered")


@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
async def on_removed(event: sansio.Event, ctx: AppContext, dispatch: Dispatch) -> None:
    inst_id = int(event.data["installation"]["id"])
    deliveries.forget_installation(ctx.db, inst_id)
    dispatch.notes.append(f"installation {inst_id} forgotten")


@router.register("installation_repositories", action="added")
async def on_repos_added(event: sansio.Event, ctx: AppContext, dispatch: Dispatch) -> None:
    inst_id = int(event.data["installation"]["id"])
    deliveries.add_repos(ctx.db, inst_id, _repos(event.data.get("repositories_added")))


@router.register("installation_repositories", action="removed")
async def on_repos_removed(event: sansio.Event, ctx: AppContext, dispatch: Dispatch) -> None:
    inst_id = int(event.data["installation"]["id"])
    deliveries.remove_repos(ctx.db, inst_id, _repos(event.data.get("repositories_removed")))
