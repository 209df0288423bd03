"""The fake GitHub's issue endpoints for a PR's conversation: issue comments and their
reactions."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from testkit.fakes.github_http import Ctx, Handler, iso, json_response, not_found, paginate
from testkit.fakes.github_state import FakePull, GitHubState


class IssueHandlers(GitHubState):
    """Operations on a PR's conversation comments and their reactions."""

    def _issue_routes(self) -> dict[str, Handler]:
        return {
            "issues/list-comments": self._list_issue_comments,
            "issues/create-comment": self._create_issue_comment,
            "issues/update-comment": self._update_issue_comment,
            "issues/delete-comment": self._delete_issue_comment,
            "reactions/list-for-issue-comment": self._list_issue_comment_reactions,
            "reactions/create-for-issue-comment": self._create_issue_comment_reaction,
        }

    async def _list_issue_comments(self, ctx: Ctx) -> web.Response:
        self._repo(ctx)
        pull = self._pull(ctx.repo_name, ctx.int_param("issue_number"))
        return paginate(ctx, pull.issue_comments)

    async def _create_issue_comment(self, ctx: Ctx) -> web.Response:
        self._repo(ctx)
        number = ctx.int_param("issue_number")
        self._pull(ctx.repo_name, number)
        comment = self.add_issue_comment(
            ctx.repo_name, number, ctx.body["body"], user=self.bot_login
        )
        return json_response(comment, 201)

    def _issue_comment(self, ctx: Ctx) -> tuple[FakePull, dict[str, Any]]:
        self._repo(ctx)
        wanted = ctx.int_param("comment_id")
        for (repo, _), pull in self.pulls.items():
            if repo != ctx.repo_name:
                continue
            for comment in pull.issue_comments:
                if comment["id"] == wanted:
                    return pull, comment
        raise not_found(ctx.match.operation.documentation_url)

    async def _update_issue_comment(self, ctx: Ctx) -> web.Response:
        _, comment = self._issue_comment(ctx)
        comment.update(body=ctx.body["body"], updated_at=iso(self.clock()))
        return json_response(comment)

    async def _delete_issue_comment(self, ctx: Ctx) -> web.Response:
        pull, comment = self._issue_comment(ctx)
        pull.issue_comments.remove(comment)
        return web.Response(status=204)

    async def _list_issue_comment_reactions(self, ctx: Ctx) -> web.Response:
        _, comment = self._issue_comment(ctx)
        items = self.reactions.get(comment["id"], [])
        if "content" in ctx.query:
            items = [r for r in items if r["content"] == ctx.query["content"]]
        return paginate(ctx, items)

    async def _create_issue_comment_reaction(self, ctx: Ctx) -> web.Response:
        _, comment = self._issue_comment(ctx)
        mine = [
            r
            for r in self.reactions.get(comment["id"], [])
            if r["content"] == ctx.body["content"] and r["user"]["login"] == self.bot_login
        ]
        if mine:  # GitHub answers 200 with the existing reaction
            return json_response(mine[0])
        reaction = self._reaction(ctx.body["content"], self.bot_login)
        self.reactions.setdefault(comment["id"], []).append(reaction)
        return json_response(reaction, 201)
