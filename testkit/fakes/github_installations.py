"""The fake GitHub's App endpoints: the App itself and its manifest conversion, installations
and their access tokens, the webhook's config and deliveries, the rate limit, and the
signed-in person's own endpoints (``GET /user``, team membership)."""

from __future__ import annotations

import secrets

from aiohttp import web

from testkit.fakes.github_apps import conversion_json, token_scope
from testkit.fakes.github_http import Answer, Ctx, Handler, iso, json_response, not_found, paginate
from testkit.fakes.github_state import GitHubState


class InstallationHandlers(GitHubState):
    """Operations on the App, its installations and tokens, and the signed-in user."""

    def _installation_routes(self) -> dict[str, Handler]:
        return {
            "apps/get-authenticated": self._get_app,
            "apps/create-installation-access-token": self._create_token,
            "apps/get-repo-installation": self._get_repo_installation,
            "apps/create-from-manifest": self._create_from_manifest,
            "apps/list-installations": self._list_installations,
            "apps/get-webhook-config-for-app": self._hook_config,
            "apps/list-webhook-deliveries": self._hook_deliveries,
            "rate-limit/get": self._rate_limit,
            "users/get-authenticated": self._get_authenticated_user,
            "teams/get-membership-for-user-in-org": self._team_membership,
        }

    async def _get_app(self, ctx: Ctx) -> web.Response:
        app = self._example("integration")
        app.update(id=int(self.app_id), slug=self.bot_login.removesuffix("[bot]"))
        return json_response(app)

    async def _create_token(self, ctx: Ctx) -> web.Response:
        installation_id = ctx.int_param("installation_id")
        if installation_id not in self.installations:
            raise not_found(ctx.match.operation.documentation_url)
        scope = token_scope(ctx.body, set(self.repos), self.granted)
        if isinstance(scope, web.Response):
            raise Answer(scope)
        token = "ghs_" + secrets.token_urlsafe(27)
        expires = self.clock() + self.token_ttl
        self.issued_tokens[token] = (installation_id, expires)
        self.token_scopes[token] = scope
        data = self._example("installation-token")
        data.update(token=token, expires_at=iso(expires))
        data.pop("repositories", None)
        return json_response(data, 201)

    async def _create_from_manifest(self, ctx: Ctx) -> web.Response:
        app = self.manifests.convert(ctx.param("code"))
        if app is None:
            raise not_found(ctx.match.operation.documentation_url)
        # from now on this fake is that App: its JWTs are the ones accepted
        self.app_id = str(app.id)
        self._public_key = app.public_key
        self.bot_login = f"{app.slug}[bot]"
        self.hook_url = str((app.manifest.get("hook_attributes") or {}).get("url", ""))
        self.granted = {"metadata": "read", **(app.manifest.get("default_permissions") or {})}
        return json_response(conversion_json(app, self._example("integration-from-manifest")), 201)

    async def _hook_config(self, ctx: Ctx) -> web.Response:
        config = self._example("webhook-config")
        config.update(url=self.hook_url)
        return json_response(config)

    async def _hook_deliveries(self, ctx: Ctx) -> web.Response:
        per_page = min(int(ctx.query.get("per_page", "30")), 100)
        return json_response(self.hook_deliveries[:per_page])

    async def _list_installations(self, ctx: Ctx) -> web.Response:
        items = []
        for installation_id in sorted(self.installations):
            data = self._example("base-installation-items")
            data.update(id=installation_id, app_id=int(self.app_id))
            items.append(data)
        return paginate(ctx, items)

    async def _get_repo_installation(self, ctx: Ctx) -> web.Response:
        self._repo(ctx)
        data = self._example("installation")
        data.update(id=min(self.installations), app_id=int(self.app_id))
        return json_response(data)

    async def _rate_limit(self, ctx: Ctx) -> web.Response:
        return json_response(self._example("rate-limit-overview"))

    def _token_login(self, ctx: Ctx) -> str:
        _, _, credential = ctx.request.headers.get("Authorization", "").partition(" ")
        return self.web.user_tokens[credential.strip()]

    async def _get_authenticated_user(self, ctx: Ctx) -> web.Response:
        return json_response(self._user(self._token_login(ctx)))

    async def _team_membership(self, ctx: Ctx) -> web.Response:
        team = self.teams.get((ctx.param("org").lower(), ctx.param("team_slug").lower()))
        username = ctx.param("username")
        if team is None or username.lower() not in team:
            raise not_found(ctx.match.operation.documentation_url)
        org, slug = ctx.param("org"), ctx.param("team_slug")
        return json_response(
            {
                "url": f"{self.base_url}/orgs/{org}/teams/{slug}/memberships/{username}",
                "role": "member",
                "state": team[username.lower()],
            }
        )
