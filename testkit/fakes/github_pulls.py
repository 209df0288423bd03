"""The fake GitHub's pull request endpoints: the PR and its diff, files and commits, the PRs of a
commit, reviews, review comments and their reactions, and the GraphQL review-threads query.
Inline comments must anchor where GitHub would let them (``github_rules.anchor_error``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from testkit.fakes.github_apps import version_error
from testkit.fakes.github_http import (
    DIFF_MEDIA_TYPE,
    DOCS,
    GRAPHQL_PATH,
    Ctx,
    Handler,
    error_response,
    iso,
    json_response,
    not_found,
    paginate,
    parse_body,
    unprocessable,
)
from testkit.fakes.github_rules import (
    REVIEW_THREADS_SHAPE,
    TOO_LARGE_MESSAGE,
    anchor_error,
    file_entry,
    thread_variable_errors,
)
from testkit.fakes.github_state import FakePull, GitHubState, RecordedRequest


class PullHandlers(GitHubState):
    """Operations on pull requests, their reviews and review comments."""

    def _pull_routes(self) -> dict[str, Handler]:
        return {
            "pulls/get": self._get_pull,
            "pulls/list-files": self._list_files,
            "pulls/list-commits": self._list_commits,
            "pulls/list-reviews": self._list_reviews,
            "pulls/create-review": self._create_review,
            "pulls/get-review": self._get_review,
            "pulls/list-review-comments": self._list_review_comments,
            "pulls/create-review-comment": self._create_review_comment,
            "pulls/update-review-comment": self._update_review_comment,
            "pulls/delete-review-comment": self._delete_review_comment,
            "reactions/list-for-pull-request-review-comment": self._list_reactions,
            "reactions/create-for-pull-request-review-comment": self._create_reaction,
            "repos/list-pull-requests-associated-with-commit": self._pulls_of_commit,
        }

    async def _graphql(self, request: web.Request) -> web.Response:
        """POST /graphql: only the review-threads query, with exactly its variables."""
        body, parse_error = parse_body(await request.read())
        errors: list[str] = []
        if request.method != "POST":
            errors.append(f"{request.method} {GRAPHQL_PATH} is not allowed")
        elif parse_error is not None or not isinstance(body, dict):
            errors.append(parse_error or "the body must be a JSON object")
        elif re.sub(r"\s+", " ", str(body.get("query", ""))).strip() != REVIEW_THREADS_SHAPE:
            errors.append("the fake GitHub answers only the review-threads query")
        else:
            errors.extend(thread_variable_errors(body.get("variables")))
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                json=body,
                operation_id="graphql",
                valid=not errors,
                errors=tuple(errors),
            )
        )
        unversioned = version_error(request.headers)
        if unversioned is not None:
            return error_response(400, unversioned)
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        issued = self.issued_tokens.get(credential.strip())
        if scheme.lower() not in ("token", "bearer") or issued is None or issued[1] <= self.clock():
            return json_response({"message": "Bad credentials", "documentation_url": DOCS}, 401)
        if errors:
            return json_response({"errors": [{"message": e} for e in errors]})
        variables = body["variables"]
        scope = self.token_scopes.get(credential.strip())
        if scope is not None:
            repo = f"{variables['owner']}/{variables['name']}"
            if scope.refuses(repo, "pulls/list-review-threads", "GET") is not None:
                message = f"Could not resolve to a Repository with the name '{repo}'."
                return json_response(
                    {"data": {"repository": None}, "errors": [{"message": message}]}
                )
        pull = self.pulls.get((f"{variables['owner']}/{variables['name']}", variables["number"]))
        if pull is None:
            message = "Could not resolve to a PullRequest with that number."
            return json_response({"data": {"repository": None}, "errors": [{"message": message}]})
        comments = self.comments_on(pull.repo, pull.number)
        threads: dict[int, list[int]] = {}
        for c in comments:
            root = c.get("in_reply_to_id") or c["id"]
            threads.setdefault(root, []).append(c["id"])
        start = int(variables.get("cursor") or 0)
        roots = sorted(threads)[start : start + 100]
        more = start + 100 < len(threads)
        nodes = [
            {
                "isResolved": root in self.resolved_threads,
                "comments": {"nodes": [{"fullDatabaseId": str(i)} for i in threads[root]]},
            }
            for root in roots
        ]
        page = {"hasNextPage": more, "endCursor": str(start + 100) if more else None}
        data = {"pullRequest": {"reviewThreads": {"pageInfo": page, "nodes": nodes}}}
        return json_response({"data": {"repository": data}})

    def _pull_json(self, pull: FakePull) -> dict[str, Any]:
        data = self._example("pull-request")
        api = f"https://api.github.com/repos/{pull.repo}"
        data.update(
            id=10_000 + pull.number,
            number=pull.number,
            url=f"{api}/pulls/{pull.number}",
            html_url=f"https://github.com/{pull.repo}/pull/{pull.number}",
            state="open",
            title=pull.title,
            body=pull.body,
            user=self._user(pull.user),
            draft=pull.draft,
            changed_files=len(pull.diff),
            additions=pull.diff.additions,
            deletions=pull.diff.deletions,
        )
        data["head"].update(sha=pull.head_sha, ref=pull.head_ref, label=f"x:{pull.head_ref}")
        data["base"].update(sha=pull.base_sha, ref=pull.base_ref, label=f"x:{pull.base_ref}")
        for side in ("head", "base"):
            data[side]["repo"].update(full_name=pull.repo, name=pull.repo.split("/")[1])
        return data

    async def _get_pull(self, ctx: Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        if ctx.wants_diff:
            if pull.diff_too_large:
                return error_response(
                    406,
                    TOO_LARGE_MESSAGE,
                    errors=[{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
                    documentation_url="https://docs.github.com/rest/pulls/pulls#list-pull-requests-files",
                )
            return web.Response(
                body=pull.diff_text.encode("utf-8", "surrogateescape"),
                content_type=DIFF_MEDIA_TYPE,
                charset="utf-8",
            )
        return json_response(self._pull_json(pull))

    async def _list_files(self, ctx: Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        return paginate(ctx, [file_entry(f) for f in pull.diff])

    async def _list_commits(self, ctx: Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        commits = []
        for message in pull.commit_messages or [None]:
            commit = self._example("commit-items")
            commit.update(sha=pull.head_sha)
            if message is not None:
                commit["commit"] = {**commit["commit"], "message": message}
            commits.append(commit)
        return paginate(ctx, commits)

    async def _list_reviews(self, ctx: Ctx) -> web.Response:
        return paginate(ctx, self._ctx_pull(ctx).reviews)

    async def _get_review(self, ctx: Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        for review in pull.reviews:
            if review["id"] == ctx.int_param("review_id"):
                return json_response(review)
        raise not_found()

    async def _create_review(self, ctx: Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        body: Mapping[str, Any] = ctx.body or {}
        comments: list[Mapping[str, Any]] = list(body.get("comments", []))
        event = body.get("event")
        if event in ("REQUEST_CHANGES", "COMMENT") and not body.get("body") and not comments:
            raise unprocessable(ctx, ["Body can't be blank"])
        if event in ("APPROVE", "REQUEST_CHANGES") and pull.user == self.bot_login:
            raise unprocessable(ctx, ["Can not approve your own pull request"])
        problems = [e for e in (anchor_error(pull.diff, c) for c in comments) if e]
        if problems:
            raise unprocessable(ctx, sorted(set(problems)))
        state = {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
        }
        review = self._example("pull-request-review")
        review_id = next(self._ids)
        commit_id = body.get("commit_id", pull.head_sha)
        review.update(
            id=review_id,
            node_id=f"PRR_{review_id}",
            user=self._user(self.bot_login),
            body=body.get("body", ""),
            state=state.get(str(event), "PENDING"),
            commit_id=commit_id,
            html_url=f"https://github.com/{pull.repo}/pull/{pull.number}#pullrequestreview-{review_id}",
            pull_request_url=f"https://api.github.com/repos/{pull.repo}/pulls/{pull.number}",
            submitted_at=iso(self.clock()),
            author_association="NONE",
        )
        pull.reviews.append(review)
        for comment in comments:
            self._store_comment(pull, comment, commit_id=commit_id, review_id=review_id)
        return json_response(review)

    async def _list_review_comments(self, ctx: Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        items = [self._public(c) for c in self.comments_on(pull.repo, pull.number)]
        return paginate(ctx, items)

    async def _create_review_comment(self, ctx: Ctx) -> web.Response:
        pull = self._ctx_pull(ctx)
        body: Mapping[str, Any] = ctx.body
        if "in_reply_to" not in body:
            missing = [k for k in ("commit_id", "path") if k not in body]
            if missing:
                message = "Invalid request.\n\n" + "\n".join(
                    f'"{k}" wasn\'t supplied.' for k in missing
                )
                return error_response(
                    422, message, documentation_url=ctx.match.operation.documentation_url
                )
            problem = anchor_error(pull.diff, body)
            if problem:
                error = {
                    "resource": "PullRequestReviewComment",
                    "code": "custom",
                    "field": "pull_request_review_thread.line",
                    "message": "pull_request_review_thread.line must be part of the diff"
                    if problem == "Line could not be resolved"
                    else problem,
                }
                return error_response(
                    422,
                    "Validation Failed",
                    errors=[error],
                    documentation_url=ctx.match.operation.documentation_url,
                )
        stored = self._store_comment(
            pull, body, commit_id=body.get("commit_id", pull.head_sha), review_id=next(self._ids)
        )
        return json_response(self._public(stored), 201)

    def _comment(self, ctx: Ctx) -> dict[str, Any]:
        self._repo(ctx)
        comment = self.review_comments.get(ctx.int_param("comment_id"))
        if comment is None or comment["_repo"] != ctx.repo_name:
            raise not_found(ctx.match.operation.documentation_url)
        return comment

    async def _update_review_comment(self, ctx: Ctx) -> web.Response:
        comment = self._comment(ctx)
        comment.update(body=ctx.body["body"], updated_at=iso(self.clock()))
        return json_response(self._public(comment))

    async def _delete_review_comment(self, ctx: Ctx) -> web.Response:
        comment = self._comment(ctx)
        del self.review_comments[comment["id"]]
        return web.Response(status=204)

    async def _list_reactions(self, ctx: Ctx) -> web.Response:
        comment = self._comment(ctx)
        items = self.reactions.get(comment["id"], [])
        if "content" in ctx.query:
            items = [r for r in items if r["content"] == ctx.query["content"]]
        return paginate(ctx, items)

    async def _create_reaction(self, ctx: Ctx) -> web.Response:
        comment = self._comment(ctx)
        reaction = self._reaction(ctx.body["content"], self.bot_login)
        self.reactions.setdefault(comment["id"], []).append(reaction)
        return json_response(reaction, 201)

    async def _pulls_of_commit(self, ctx: Ctx) -> web.Response:
        self._repo(ctx)
        sha = ctx.param("commit_sha")
        found = [
            self._pull_json(pull)
            for (repo, _), pull in sorted(self.pulls.items())
            if repo == ctx.repo_name and pull.head_sha == sha
        ]
        return paginate(ctx, found)
