"""Webhook handlers, one module and one ``gidgethub.routing.Router`` per concern."""

from gidgethub.routing import Router

from bot.handlers import check_run, installation, issue_comment, ping, pull_request

router = Router(
    pull_request.router,
    installation.router,
    issue_comment.router,
    check_run.router,
    ping.router,
)

__all__ = ["router"]
