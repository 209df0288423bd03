"""``prwarden doctor``: is this setup going to work? One line per check, a verdict, what to do.

Checks, in order: the App's credentials; ``GET /app`` signed with that key; the installations
GitHub shows the App; the webhook secret; the model endpoint for each model tier; the store;
the programs the tools run. A check that cannot run because an earlier one failed says so.
The exit code is 1 when a needed check fails; warnings and skipped checks do not count.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.envfile import add_env_file_option
from prwarden.errors import ConfigError, GitHubError, LLMError, StoreError

if TYPE_CHECKING:
    # The HTTP stack and the model client are imported when the checks run, not when the CLI
    # builds its parser.
    import aiohttp

    from bot.config import Settings
    from bot.github import GitHubApp
    from review.llm import LLMClient

MIN_SECRET_LENGTH = 16


class Verdict(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, the verdict, what was found, what to do."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.verdict.value:<4}  {self.name:<15} {self.detail}"
        return f"{text} -- to fix: {self.fix}" if self.fix else text


def failed(checks: Sequence[Check]) -> bool:
    return any(c.verdict is Verdict.FAIL for c in checks)


def credentials(
    settings: Settings, session: aiohttp.ClientSession
) -> tuple[Check, GitHubApp | None]:
    if not settings.app_id or not settings.private_key:
        missing = [
            name
            for name, value in (
                ("PRWARDEN_APP_ID", settings.app_id),
                ("PRWARDEN_PRIVATE_KEY or PRWARDEN_PRIVATE_KEY_PATH", settings.private_key),
            )
            if not value
        ]
        fix = "run prwarden setup, or export them (or pass --env-file FILE)"
        return Check("credentials", Verdict.FAIL, " and ".join(missing) + " not set", fix), None
    from bot.config import RetryPolicy
    from bot.github import GitHubApp

    try:
        app = GitHubApp(
            session,
            app_id=settings.app_id,
            private_key=settings.private_key,
            base_url=settings.github_api_url,
            retry=RetryPolicy(attempts=1, request_timeout=15.0),
        )
    except ConfigError as exc:
        fix = f"{exc.key} must be {exc.expected}" if exc.key else "see prwarden setup"
        return Check("credentials", Verdict.FAIL, str(exc), fix), None
    return Check("credentials", Verdict.OK, f"App id {settings.app_id}, an RSA private key"), app


async def github_app(settings: Settings, app: GitHubApp | None) -> Check:
    if app is None:
        return Check("github-app", Verdict.SKIP, "needs valid credentials")
    try:
        data = await app.get_app()
    except GitHubError as exc:
        return _github_refusal(settings, exc)
    slug = data.get("slug") or data.get("name") or "?"
    if str(data.get("id")) != settings.app_id:
        return Check(
            "github-app",
            Verdict.FAIL,
            f"GitHub says this key belongs to App {data.get('id')} ({slug})",
            f"set PRWARDEN_APP_ID={data.get('id')}",
        )
    return Check("github-app", Verdict.OK, f"{settings.github_api_url} knows App {slug}")


def _github_refusal(settings: Settings, exc: GitHubError) -> Check:
    text = str(exc)
    if exc.status_code == 0:
        return Check(
            "github-app",
            Verdict.FAIL,
            f"no answer from {settings.github_api_url}",
            "check PRWARDEN_GITHUB_API_URL and the network",
        )
    if "Integration not found" in text:
        return Check(
            "github-app",
            Verdict.FAIL,
            f"GitHub knows no App {settings.app_id} for this key (HTTP {exc.status_code})",
            "PRWARDEN_APP_ID must be the App ID on the App's settings page",
        )
    if exc.status_code == 401:
        return Check(
            "github-app",
            Verdict.FAIL,
            f"GitHub refused the App JWT signed with this key (HTTP 401: {_message(text)})",
            f"PRWARDEN_PRIVATE_KEY must be a private key of App {settings.app_id} "
            "(App settings, Private keys), and this machine's clock must be right",
        )
    return Check("github-app", Verdict.FAIL, text, "see GitHub's message")


def _message(text: str) -> str:
    return text.split(": GitHub answered ", 1)[-1].split(": ", 1)[-1][:200]


async def installations(app: GitHubApp | None, prior: Check) -> Check:
    if app is None or prior.verdict is not Verdict.OK:
        return Check("installations", Verdict.SKIP, "needs GitHub to accept the App")
    try:
        found = await app.list_installations()
    except GitHubError as exc:
        return Check("installations", Verdict.FAIL, str(exc), "see GitHub's message")
    if not found:
        return Check(
            "installations",
            Verdict.WARN,
            "the App is not installed anywhere yet: no pull request will reach it",
            "install it from the App's public page (Install App)",
        )
    accounts = sorted({str((i.get("account") or {}).get("login", "?")) for i in found})
    return Check("installations", Verdict.OK, f"{len(found)}: {', '.join(accounts)[:200]}")


async def webhook(app: GitHubApp | None, prior: Check) -> Check:
    """Where GitHub sends webhooks, and how the newest delivery was answered: a 401 is this
    server refusing GitHub's signature, so the two webhook secrets differ."""
    if app is None or prior.verdict is not Verdict.OK:
        return Check("webhook", Verdict.SKIP, "needs GitHub to accept the App")
    try:
        config = await app.webhook_config()
        deliveries = await app.recent_deliveries()
    except GitHubError as exc:
        return Check("webhook", Verdict.FAIL, str(exc), "see GitHub's message")
    url = str(config.get("url") or "")
    if not url:
        return Check(
            "webhook",
            Verdict.FAIL,
            "the App has no webhook URL: GitHub sends prwarden nothing",
            "set the webhook URL in the App's settings to this server's /webhook",
        )
    if not deliveries:
        return Check("webhook", Verdict.OK, f"to {url}; no deliveries yet")
    newest = deliveries[0]
    status = int(newest.get("status_code") or 0)
    when = f"{newest.get('event')} at {newest.get('delivered_at')}"
    if status == 401:
        return Check(
            "webhook",
            Verdict.FAIL,
            f"the newest delivery ({when}) to {url} was refused with 401: the signature did not "
            "verify, so the webhook secrets differ",
            "PRWARDEN_WEBHOOK_SECRET must equal the App's webhook secret (App settings, Webhook)",
        )
    if not 200 <= status < 300:
        return Check(
            "webhook",
            Verdict.WARN,
            f"the newest delivery ({when}) to {url} got {status or 'no answer'}",
            "check that prwarden serve is reachable there, and its log",
        )
    return Check("webhook", Verdict.OK, f"to {url}; the newest delivery ({when}) got {status}")


def webhook_secret(settings: Settings) -> Check:
    if not settings.webhook_secret:
        return Check(
            "webhook-secret",
            Verdict.FAIL,
            "PRWARDEN_WEBHOOK_SECRET is not set: serve refuses to start",
            "set it to the App's webhook secret (prwarden setup writes it)",
        )
    if len(settings.webhook_secret) < MIN_SECRET_LENGTH:
        return Check(
            "webhook-secret",
            Verdict.WARN,
            f"PRWARDEN_WEBHOOK_SECRET is shorter than {MIN_SECRET_LENGTH} characters",
            "use a long random secret, the same in the App's settings",
        )
    return Check("webhook-secret", Verdict.OK, "set")


async def models(settings: Settings) -> list[Check]:
    review = settings.review
    if not review.model_configured:
        return [
            Check(
                "model",
                Verdict.SKIP,
                "no model configured: reviews run the static tools only",
                "set OPENAI_BASE_URL, OPENAI_API_KEY and PRWARDEN_REVIEW_MODEL for model reviews",
            )
        ]
    from review.llm import LLMClient

    quick = replace(review, llm_retries=0, llm_timeout=min(review.llm_timeout, 20.0))
    client = LLMClient(quick)
    where = review.base_url or "the OpenAI API"
    try:
        try:
            listed: tuple[str, ...] | None = await client.list_models()
        except LLMError as exc:
            if exc.status is None:
                return [
                    Check(
                        "model",
                        Verdict.FAIL,
                        f"{where} does not answer: {exc}",
                        "check OPENAI_BASE_URL and that the server is running",
                    )
                ]
            listed = None
        tiers = (("model-triage", review.triage_model), ("model-review", review.review_model))
        return [await _tier(client, name, str(model), listed, where) for name, model in tiers]
    finally:
        await client.aclose()


async def _tier(
    client: LLMClient, name: str, model: str, listed: tuple[str, ...] | None, where: str
) -> Check:
    if listed is not None and model in listed:
        return Check(name, Verdict.OK, f"{model} is listed by {where}")
    try:
        await client.chat(
            purpose="doctor",
            model=model,
            prompt_version="doctor@1",
            messages=[{"role": "user", "content": "Say OK."}],
            max_tokens=1,
        )
    except LLMError as exc:
        return Check(
            name,
            Verdict.FAIL,
            f"{model} does not answer at {where}: {exc}",
            "check the model name (PRWARDEN_TRIAGE_MODEL, PRWARDEN_REVIEW_MODEL) and the key",
        )
    return Check(name, Verdict.OK, f"{model} answered a one-token completion")


def store(settings: Settings) -> Check:
    from cache.db import MIGRATIONS, stored_version

    latest = len(MIGRATIONS)
    try:
        version = stored_version(settings.db_path)
    except StoreError as exc:
        return Check("store", Verdict.FAIL, str(exc), "check PRWARDEN_DB and its permissions")
    if version is None:
        return Check(
            "store",
            Verdict.WARN,
            f"{settings.db_path} does not exist yet",
            "prwarden serve creates it; set PRWARDEN_DB to keep it elsewhere",
        )
    if version > latest:
        return Check(
            "store",
            Verdict.FAIL,
            f"{settings.db_path} is at schema {version}, newer than this prwarden ({latest})",
            "upgrade prwarden, or point PRWARDEN_DB at another store",
        )
    if version < latest:
        return Check(
            "store",
            Verdict.WARN,
            f"{settings.db_path} is at schema {version} of {latest}",
            "prwarden serve migrates it on start",
        )
    return Check("store", Verdict.OK, f"{settings.db_path}, schema {version} (current)")


def programs() -> list[Check]:
    from tools.programs import PROGRAMS, check_program, dotted

    out = []
    for program in PROGRAMS:
        status = check_program(program)
        if status.ok and status.version is not None:
            detail = f"{dotted(status.version)} at {status.path} ({program.used_for})"
            out.append(Check(program.name, Verdict.OK, detail))
            continue
        verdict = Verdict.FAIL if program.required else Verdict.WARN
        needed = f"{program.package}>={dotted(program.minimum)}"
        fix = f"pip install '{needed}' (prwarden uses it for {program.used_for})"
        out.append(Check(program.name, verdict, status.problem, fix))
    return out


def env_file(path: Path) -> Check:
    """Credentials on disk must be the owner's alone."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return Check(
            "env-file",
            Verdict.WARN,
            f"{path} holds the App's credentials and is readable by others (mode {mode:o})",
            f"chmod 600 {path}",
        )
    return Check("env-file", Verdict.OK, f"{path}, mode {mode:o}")


async def run_checks(settings: Settings, *, env_path: Path | None = None) -> list[Check]:
    """Every check, in report order."""
    import asyncio

    import aiohttp

    async with aiohttp.ClientSession() as session:
        creds, app = credentials(settings, session)
        gh = await github_app(settings, app)
        installed = await installations(app, gh)
        hook = await webhook(app, gh)
    checks = [creds, gh, installed, webhook_secret(settings), hook]
    if env_path is not None:
        checks.insert(0, env_file(env_path))
    checks += await models(settings)
    checks.append(store(settings))
    checks += await asyncio.to_thread(programs)
    return checks


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "doctor",
        help="check the setup: credentials, GitHub, model, store, tools",
        description=(
            "Check that this setup works before the first pull request does: one line per\n"
            "check with its verdict (ok, warn, FAIL, skip) and what to do. Exits 1 when a\n"
            "needed check fails."
        ),
    )
    add_env_file_option(p)


def cmd_doctor(args: Any, settings: Settings) -> int:
    import asyncio

    checks = asyncio.run(run_checks(settings, env_path=args.env_file))
    for check in checks:
        print(check.line())
    if failed(checks):
        bad = [c.name for c in checks if c.verdict is Verdict.FAIL]
        print(f"\n{len(bad)} check(s) failed: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0
