"""``prwarden setup``: register the GitHub App from its manifest in one visit to a local page.

GitHub's manifest flow (https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest):

1. a page on a loopback port holds a form that POSTs the manifest (``bot/data/app.yml`` with
   the webhook URL and a ``redirect_url`` back to this page) to GitHub's new-App page, with a
   random ``state``;
2. the operator confirms on GitHub, which redirects to ``/callback?code=...&state=...``;
3. the code is exchanged, once, by ``POST /app-manifests/{code}/conversions`` for the App's
   id, private key, webhook secret and OAuth client;
4. those go to an env file created with mode 0600, never to the terminal or a log.
"""

from __future__ import annotations

import hmac
import html
import json
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from prwarden.errors import ConfigError, GitHubError

if TYPE_CHECKING:
    # What the setup needs to run is imported when it runs, not when the CLI builds its parser.
    import asyncio

    import aiohttp
    from aiohttp import web

    from bot.config import Settings

CALLBACK = "/callback"
# What the env file holds, in order; every value is also what ``Settings.from_env`` reads.
_ENV_KEYS = (
    ("PRWARDEN_APP_ID", "id"),
    ("PRWARDEN_WEBHOOK_SECRET", "webhook_secret"),
    ("PRWARDEN_CLIENT_ID", "client_id"),
    ("PRWARDEN_CLIENT_SECRET", "client_secret"),
    ("PRWARDEN_PRIVATE_KEY", "pem"),
)
_UNSAFE_IN_QUOTES = ('"', "\\", "$", "`")


@dataclass(frozen=True, slots=True)
class SetupOptions:
    webhook_url: str
    env_file: Path
    name: str = "prwarden"
    org: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    manifest: Path | None = None
    timeout: float = 1800.0
    force: bool = False
    open_browser: bool = False


@dataclass(frozen=True, slots=True)
class Registered:
    """What the operator may see of the new App (nothing secret)."""

    app_id: int
    slug: str
    html_url: str
    env_file: Path


def load_manifest(path: Path | None = None) -> dict[str, Any]:
    """The App manifest: ``path``, or the one that ships with prwarden."""
    if path is None:
        text = resources.files("bot").joinpath("data/app.yml").read_text()
        where = "the bundled app.yml"
    else:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read --manifest {path}: {exc.strerror}") from None
        where = str(path)
    import yaml

    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(f"{where} is not a YAML mapping", key="--manifest")
    return data


def build_manifest(
    base: Mapping[str, Any], *, webhook_url: str, redirect_url: str, name: str
) -> dict[str, Any]:
    """The manifest GitHub receives: ``base`` with this server's URLs and the chosen name."""
    manifest: dict[str, Any] = json.loads(json.dumps(dict(base)))
    manifest["name"] = name
    manifest["redirect_url"] = redirect_url
    parts = urlsplit(webhook_url)
    manifest["url"] = f"{parts.scheme}://{parts.netloc}"
    hook = dict(manifest.get("hook_attributes") or {})
    hook["url"] = webhook_url
    hook.setdefault("active", True)
    manifest["hook_attributes"] = hook
    return manifest


def check_webhook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(
            f"--webhook-url must be an http(s) URL, got {url[:200]!r}",
            key="--webhook-url",
            expected="https://your-server.example/webhook",
        )
    return url


def new_app_url(github_url: str, org: str | None, state: str) -> str:
    """GitHub's page that takes a manifest (for a user, or for an organization)."""
    owner = f"/organizations/{quote(org, safe='')}" if org else ""
    return f"{github_url.rstrip('/')}{owner}/settings/apps/new?state={quote(state, safe='')}"


def setup_page(action: str, manifest: Mapping[str, Any]) -> str:
    """The one page: what will be registered, and the button that sends it to GitHub."""
    permissions = manifest.get("default_permissions") or {}
    rows = "".join(
        f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in permissions.items()
    )
    hook = html.escape(str((manifest.get("hook_attributes") or {}).get("url", "")))
    return (
        "<!doctype html><meta charset=utf-8><title>prwarden setup</title>"
        f"<h1>Register {html.escape(str(manifest.get('name')))} as a GitHub App</h1>"
        f"<p>Webhooks go to <code>{hook}</code>. Permissions:</p><ul>{rows}</ul>"
        f'<form method="post" action="{html.escape(action, quote=True)}">'
        f'<input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">'
        '<button type="submit">Create the App on GitHub</button></form>'
    )


def _unwritten(registered: Registered, exc: OSError) -> str:
    return (
        f"GitHub registered the App {registered.slug} (id {registered.app_id}), but its "
        f"credentials could not be written ({exc.strerror or exc}). In the App's settings "
        f"({registered.html_url}), generate a new private key and a new webhook secret."
    )


def _done_page(registered: Registered) -> str:
    env_file = registered.env_file
    install = html.escape(f"{registered.html_url}/installations/new", quote=True)
    return (
        "<!doctype html><meta charset=utf-8><title>prwarden setup</title>"
        f"<h1>{html.escape(registered.slug)} is registered</h1>"
        f"<p>Its credentials are in <code>{html.escape(str(env_file))}</code>.</p>"
        f'<p>Next, <a href="{install}">install it on your repositories</a>, then run '
        f"<code>prwarden serve --env-file {html.escape(str(env_file))}</code>. "
        "You can close this page.</p>"
    )


def env_file_text(app: Mapping[str, Any], settings: Settings) -> str:
    """The env file's content for a converted App (``Settings.from_env`` reads it back)."""
    from bot.config import DEFAULT_API_URL, DEFAULT_WEB_URL

    lines = [f"# prwarden GitHub App {app.get('slug')!s} (id {app.get('id')!s})"]
    for key, field in _ENV_KEYS:
        value = app.get(field)
        if value in (None, ""):
            raise GitHubError(f"GitHub's answer has no {field}", status_code=201)
        text = str(value).strip()
        if any(c in text for c in _UNSAFE_IN_QUOTES):
            raise GitHubError(f"GitHub's {field} cannot be written to an env file", status_code=201)
        lines.append(f'{key}="{text}"')
    if settings.github_url != DEFAULT_WEB_URL:
        lines.append(f'PRWARDEN_GITHUB_URL="{settings.github_url}"')
    if settings.github_api_url != DEFAULT_API_URL:
        lines.append(f'PRWARDEN_GITHUB_API_URL="{settings.github_api_url}"')
    return "\n".join(lines) + "\n"


def write_secret_file(path: Path, text: str, *, force: bool) -> None:
    """Create ``path`` with mode 0600 (never readable by others, not even for a moment)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"{path} already exists; move it away or pass --force", key="--env-file"
        ) from None
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


class SetupFlow:
    """The loopback server of one registration."""

    def __init__(self, settings: Settings, options: SetupOptions, session: aiohttp.ClientSession):
        self.settings = settings
        self.options = options
        self.session = session
        self.state = secrets.token_urlsafe(24)
        self.base = load_manifest(options.manifest)
        self.manifest: dict[str, Any] = {}
        import asyncio

        self.done: asyncio.Future[Registered] = asyncio.get_running_loop().create_future()

    def prepare(self, redirect_url: str) -> None:
        """Build the manifest once the page's own address (the redirect target) is known."""
        self.manifest = build_manifest(
            self.base,
            webhook_url=self.options.webhook_url,
            redirect_url=redirect_url,
            name=self.options.name,
        )

    def app(self) -> web.Application:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/", self.page)
        app.router.add_get(CALLBACK, self.callback)
        return app

    async def page(self, request: web.Request) -> web.Response:
        from aiohttp import web

        action = new_app_url(self.settings.github_url, self.options.org, self.state)
        return web.Response(text=setup_page(action, self.manifest), content_type="text/html")

    async def callback(self, request: web.Request) -> web.Response:
        from aiohttp import web

        from bot.github import create_app_from_manifest

        state = request.query.get("state", "")
        if not hmac.compare_digest(state.encode(), self.state.encode()):
            return web.Response(status=403, text="This link is not from this setup run.")
        if self.done.done():
            return web.Response(status=409, text="The App is already registered.")
        code = request.query.get("code", "")
        try:
            data = await create_app_from_manifest(
                self.session, base_url=self.settings.github_api_url, code=code
            )
            text = env_file_text(data, self.settings)
        except GitHubError as exc:
            return web.Response(status=502, text=f"Registration failed: {exc}")
        registered = Registered(
            app_id=int(data["id"]),
            slug=str(data.get("slug") or ""),
            html_url=str(data.get("html_url") or ""),
            env_file=self.options.env_file,
        )
        # GitHub shows these credentials once: if the file appeared meanwhile, keep both
        spare = self.options.env_file.with_name(f"{self.options.env_file.name}.app-{data['id']}")
        for path in (self.options.env_file, spare):
            try:
                write_secret_file(path, text, force=self.options.force)
            except ConfigError:
                continue
            except OSError as exc:
                return web.Response(status=500, text=_unwritten(registered, exc))
            registered = replace(registered, env_file=path)
            self.done.set_result(registered)
            return web.Response(text=_done_page(registered), content_type="text/html")
        return web.Response(status=500, text=_unwritten(registered, FileExistsError(spare)))


async def run_setup(settings: Settings, options: SetupOptions) -> Registered:
    """Serve the page until GitHub sends the operator back; return the registered App."""
    import asyncio

    import aiohttp
    from aiohttp import web

    check_webhook_url(options.webhook_url)
    if options.env_file.exists() and not options.force:
        raise ConfigError(
            f"{options.env_file} already exists; move it away or pass --force", key="--env-file"
        )
    async with aiohttp.ClientSession() as session:
        flow = SetupFlow(settings, options, session)
        runner = web.AppRunner(flow.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, options.host, options.port)
        await site.start()
        local = f"http://{options.host}:{_bound_port(site)}"
        flow.prepare(local + CALLBACK)
        try:
            print(
                f"Open {local}/ in a browser to register the App on {settings.github_url}.",
                file=sys.stderr,
                flush=True,
            )
            if options.open_browser:
                import webbrowser

                webbrowser.open(local + "/")
            async with asyncio.timeout(options.timeout):
                return await flow.done
        finally:
            await runner.cleanup()


def _bound_port(site: web.TCPSite) -> int:
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    port: int = sockets[0].getsockname()[1]
    return port


def add_parser(sub: Any) -> None:
    """``prwarden setup``'s command line."""
    p = sub.add_parser(
        "setup",
        help="register the GitHub App from its manifest and write its credentials",
        description=(
            "Serve a one-page flow on a loopback port that sends prwarden's App manifest to\n"
            "GitHub, receives the App's credentials and writes them to an env file created\n"
            "with mode 0600. The credentials are never printed."
        ),
    )
    p.add_argument(
        "--webhook-url", required=True, help="where GitHub will send webhooks (your server)"
    )
    p.add_argument(
        "--env-file",
        dest="write_env_file",
        type=Path,
        default=Path(".env"),
        help="where to write the credentials",
    )
    p.add_argument("--name", default="prwarden", help="the App's name on GitHub")
    p.add_argument("--org", help="register the App for this organization, not your user")
    p.add_argument("--port", type=int, default=0, help="loopback port (0: a free one)")
    p.add_argument("--manifest", type=Path, help="manifest file instead of the bundled app.yml")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for GitHub")
    p.add_argument("--force", action="store_true", help="overwrite an existing env file")
    p.add_argument("--open", action="store_true", help="open the page in a browser")


def cmd_setup(args: Any, settings: Settings) -> int:
    import asyncio

    options = SetupOptions(
        webhook_url=args.webhook_url,
        env_file=args.write_env_file,
        name=args.name,
        org=args.org,
        port=args.port,
        manifest=args.manifest,
        timeout=args.timeout,
        force=args.force,
        open_browser=args.open,
    )
    try:
        registered = asyncio.run(run_setup(settings, options))
    except TimeoutError:
        print(f"prwarden setup: no answer from GitHub within {args.timeout:g} s", file=sys.stderr)
        return 1
    print(
        f"Registered the GitHub App {registered.slug} (id {registered.app_id}); its "
        f"credentials are in {registered.env_file} (mode 0600).\n"
        f"Next: install it on your repositories at {registered.html_url}/installations/new\n"
        f"then check the setup and start the server:\n"
        f"  prwarden doctor --env-file {registered.env_file}\n"
        f"  prwarden serve --env-file {registered.env_file} --host 0.0.0.0 --port 8080",
        file=sys.stderr,
    )
    return 0
