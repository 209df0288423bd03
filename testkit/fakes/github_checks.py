"""The fake GitHub's check run endpoints: create, update and list check runs, and their
annotations, which GitHub appends request by request (at most 50 each)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from testkit.fakes.github_http import Ctx, Handler, iso, json_response, not_found, paginate
from testkit.fakes.github_state import GitHubState


class CheckHandlers(GitHubState):
    """Operations on check runs and their annotations."""

    def _check_routes(self) -> dict[str, Handler]:
        return {
            "checks/create": self._create_check_run,
            "checks/update": self._update_check_run,
            "checks/list-for-ref": self._list_check_runs,
            "checks/list-annotations": self._list_annotations,
        }

    def _check_run_json(self, run: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in run.items() if not k.startswith("_")}

    async def _create_check_run(self, ctx: Ctx) -> web.Response:
        self._repo(ctx)
        body: Mapping[str, Any] = ctx.body
        run = self._example("check-run")
        run_id = next(self._ids)
        now = iso(self.clock())
        status = "completed" if body.get("conclusion") else body.get("status", "queued")
        run.update(
            id=run_id,
            node_id=f"CR_{run_id}",
            head_sha=body["head_sha"],
            name=body["name"],
            external_id=body.get("external_id", ""),
            status=status,
            conclusion=body.get("conclusion"),
            started_at=body.get("started_at", now),
            completed_at=now if status == "completed" else None,
            url=f"https://api.github.com/repos/{ctx.repo_name}/check-runs/{run_id}",
            html_url=f"https://github.com/{ctx.repo_name}/runs/{run_id}",
            output={**run.get("output", {}), **body.get("output", {})},
            _repo=ctx.repo_name,
            _annotations=[],
        )
        self._append_annotations(run, body.get("output"))
        run["app"]["id"] = int(self.app_id)
        self.check_runs[run_id] = run
        return json_response(self._check_run_json(run), 201)

    async def _update_check_run(self, ctx: Ctx) -> web.Response:
        self._repo(ctx)
        run = self.check_runs.get(ctx.int_param("check_run_id"))
        if run is None or run["_repo"] != ctx.repo_name:
            raise not_found(ctx.match.operation.documentation_url)
        body: Mapping[str, Any] = ctx.body
        for key in ("name", "status", "conclusion", "external_id", "details_url"):
            if key in body:
                run[key] = body[key]
        if "output" in body:
            run["output"] = {**run.get("output", {}), **body["output"]}
            self._append_annotations(run, body["output"])
        if body.get("conclusion"):
            run["status"] = "completed"
            run["completed_at"] = iso(self.clock())
        return json_response(self._check_run_json(run))

    @staticmethod
    def _append_annotations(run: dict[str, Any], output: Mapping[str, Any] | None) -> None:
        """GitHub appends each request's annotations (at most 50) to the run's list."""
        added = list((output or {}).get("annotations") or [])
        run["_annotations"].extend(added)
        output_state = run.setdefault("output", {})
        output_state.pop("annotations", None)
        output_state["annotations_count"] = len(run["_annotations"])

    def annotations(self, check_run_id: int) -> list[dict[str, Any]]:
        """Every annotation a check run received, in order, as it was sent."""
        return list(self.check_runs[check_run_id]["_annotations"])

    async def _list_annotations(self, ctx: Ctx) -> web.Response:
        self._repo(ctx)
        run = self.check_runs.get(ctx.int_param("check_run_id"))
        if run is None or run["_repo"] != ctx.repo_name:
            raise not_found(ctx.match.operation.documentation_url)
        keys = ("start_column", "end_column", "annotation_level", "title", "message")
        items = [
            {
                "path": a["path"],
                "blob_href": f"https://github.com/{ctx.repo_name}/blob/{run['head_sha']}/{a['path']}",
                "start_line": a["start_line"],
                "end_line": a["end_line"],
                **{k: a.get(k) for k in keys},
                "raw_details": a.get("raw_details"),
            }
            for a in run["_annotations"]
        ]
        return paginate(ctx, items)

    async def _list_check_runs(self, ctx: Ctx) -> web.Response:
        repo = self._repo(ctx)
        sha = self._resolve_ref(repo, ctx.param("ref")) or ctx.param("ref")
        runs = [
            self._check_run_json(r)
            for r in self.check_runs.values()
            if r["_repo"] == ctx.repo_name
            and r["head_sha"] == sha
            and r["name"] == ctx.query.get("check_name", r["name"])
            and r["status"] == ctx.query.get("status", r["status"])
        ]
        return paginate(ctx, runs, key="check_runs")
