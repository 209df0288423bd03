"""Operator settings, read once from the environment at start-up and passed down frozen."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from cryptography.fernet import Fernet

from bot.cpu import default_workers as default_cpu_workers
from cache.store import is_postgres_url
from prwarden.errors import ConfigError
from review.findings import Severity
from review.settings import Budget, ReviewSettings

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_WEB_URL = "https://github.com"
DEFAULT_SESSION_TTL = 8 * 3600.0
_TEAM = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long the client retries 5xx answers and connection errors."""

    attempts: int = 4
    initial_wait: float = 0.5
    max_wait: float = 4.0
    jitter: float = 0.5
    request_timeout: float = 30.0
    download_timeout: float = 300.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if min(self.initial_wait, self.max_wait, self.jitter) < 0:
            raise ValueError("RetryPolicy waits must not be negative")


@dataclass(frozen=True, slots=True)
class Limits:
    """Spend ceilings per UTC day (0 = no ceiling) and concurrency limits."""

    daily_tokens_per_installation: int = 0
    daily_cost_per_installation: float = 0.0
    daily_tokens_per_repo: int = 0
    daily_cost_per_repo: float = 0.0
    workers: int = 4
    per_installation: int = 2
    cpu_workers: int = field(default_factory=default_cpu_workers)


@dataclass(frozen=True, slots=True)
class Console:
    """The security team's console: GitHub sign-in (OAuth web flow) and the session cookie."""

    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    security_team: str = ""
    session_key: str = field(default="", repr=False)
    session_ttl: float = DEFAULT_SESSION_TTL

    @property
    def oauth(self) -> bool:
        """Sign-in with GitHub is offered only with client credentials and a team to check."""
        return bool(self.client_id and self.client_secret and self.security_team)

    @property
    def team(self) -> tuple[str, str]:
        """``(org, team_slug)`` of ``PRWARDEN_SECURITY_TEAM``."""
        org, _, slug = self.security_team.partition("/")
        return org, slug


@dataclass(frozen=True, slots=True)
class Settings:
    app_id: str = ""
    private_key: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    github_api_url: str = DEFAULT_API_URL
    github_url: str = DEFAULT_WEB_URL
    db_path: str = "prwarden.db"
    database_url: str = field(default="", repr=False)
    # the store of local reviews (prwarden review): PRWARDEN_DB, else the user's state folder
    local_db_path: str = "prwarden.db"
    workspace_root: Path = Path("workspaces")
    # the unpacked-workspace cache: at most this many bytes, nothing unused for longer
    workspace_cache_bytes: int = 5 * 1024 * 1024 * 1024
    workspace_max_age: float = 3 * 86400.0
    admin_token: str = field(default="", repr=False)
    metrics_token: str = field(default="", repr=False)
    bot_login: str = "prwarden[bot]"
    check_name: str = "prwarden"
    review: ReviewSettings = ReviewSettings()
    limits: Limits = Limits()
    lease_seconds: float = 120.0
    max_attempts: int = 5
    retry_delay: float = 5.0
    github_retry: RetryPolicy = RetryPolicy()
    shutdown_grace: float = 20.0
    tarball_max_bytes: int = 200 * 1024 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_connections: int = 1000
    console: Console = Console()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        private_key = env.get("PRWARDEN_PRIVATE_KEY", "")
        key_path = env.get("PRWARDEN_PRIVATE_KEY_PATH", "")
        if not private_key and key_path:
            try:
                private_key = Path(key_path).read_text()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read PRWARDEN_PRIVATE_KEY_PATH: {exc.strerror}",
                    key="PRWARDEN_PRIVATE_KEY_PATH",
                    expected="a readable PEM file",
                ) from None
        review_model = env.get("PRWARDEN_REVIEW_MODEL") or None
        review = ReviewSettings(
            triage_model=env.get("PRWARDEN_TRIAGE_MODEL") or review_model,
            review_model=review_model,
            base_url=env.get("OPENAI_BASE_URL") or None,
            api_key=env.get("OPENAI_API_KEY") or None,
            llm_timeout=_float(env, "PRWARDEN_LLM_TIMEOUT", 60.0),
            deep=Budget(
                max_turns=_int(env, "PRWARDEN_MAX_TURNS", 8),
                max_tokens=_int(env, "PRWARDEN_MAX_TOKENS", 60_000),
                max_seconds=_float(env, "PRWARDEN_MAX_SECONDS", 180.0),
            ),
            pr_token_ceiling=_int(env, "PRWARDEN_PR_TOKEN_CEILING", 200_000),
            hold_severity=_severity(env, "PRWARDEN_HOLD_SEVERITY", Severity.CRITICAL),
        )
        return cls(
            console=_console(env),
            app_id=env.get("PRWARDEN_APP_ID", ""),
            private_key=private_key,
            webhook_secret=env.get("PRWARDEN_WEBHOOK_SECRET", ""),
            github_api_url=_api_url(env),
            github_url=(env.get("PRWARDEN_GITHUB_URL") or DEFAULT_WEB_URL).rstrip("/"),
            db_path=env.get("PRWARDEN_DB") or "prwarden.db",
            database_url=_database_url(env),
            local_db_path=env.get("PRWARDEN_DB") or str(_state_dir(env) / "prwarden.db"),
            workspace_root=Path(env.get("PRWARDEN_WORKSPACES", "workspaces")),
            workspace_cache_bytes=_int(env, "PRWARDEN_WORKSPACES_MAX_MB", 5 * 1024) * 1024 * 1024,
            workspace_max_age=_float(env, "PRWARDEN_WORKSPACES_MAX_AGE_HOURS", 72.0) * 3600,
            admin_token=env.get("PRWARDEN_ADMIN_TOKEN", ""),
            metrics_token=env.get("PRWARDEN_METRICS_TOKEN", ""),
            review=review,
            lease_seconds=_float(env, "PRWARDEN_LEASE_SECONDS", 120.0) or 120.0,
            shutdown_grace=_float(env, "PRWARDEN_SHUTDOWN_GRACE", 20.0),
            header_timeout=_float(env, "PRWARDEN_HEADER_TIMEOUT", 10.0) or 10.0,
            body_timeout=_float(env, "PRWARDEN_BODY_TIMEOUT", 10.0) or 10.0,
            max_connections=_int(env, "PRWARDEN_MAX_CONNECTIONS", 1000) or 1000,
            limits=Limits(
                daily_tokens_per_installation=_int(env, "PRWARDEN_DAILY_TOKENS_INSTALLATION", 0),
                daily_cost_per_installation=_float(env, "PRWARDEN_DAILY_COST_INSTALLATION", 0.0),
                daily_tokens_per_repo=_int(env, "PRWARDEN_DAILY_TOKENS_REPO", 0),
                daily_cost_per_repo=_float(env, "PRWARDEN_DAILY_COST_REPO", 0.0),
                workers=_int(env, "PRWARDEN_WORKERS", 4),
                per_installation=_int(env, "PRWARDEN_PER_INSTALLATION", 2),
                cpu_workers=_int(env, "PRWARDEN_CPU_WORKERS", default_cpu_workers()),
            ),
        )

    def check_server(self, *, receive: bool = True) -> None:
        """Refuse to serve without what verifying and answering webhooks needs (fail closed).

        A process that only runs workers (``receive=False``) needs no webhook secret.
        """
        needed = (
            ("PRWARDEN_WEBHOOK_SECRET", self.webhook_secret if receive else "-"),
            ("PRWARDEN_APP_ID", self.app_id),
            ("PRWARDEN_PRIVATE_KEY or PRWARDEN_PRIVATE_KEY_PATH", self.private_key),
        )
        missing = [name for name, value in needed if not value]
        if missing:
            raise ConfigError(
                "refusing to start: " + ", ".join(missing) + " not set",
                key=missing[0],
                expected="a non-empty value",
            )
        if "PRIVATE KEY" not in self.private_key:
            raise ConfigError(
                "refusing to start: the App private key is not a PEM key",
                key="PRWARDEN_PRIVATE_KEY",
                expected="-----BEGIN RSA PRIVATE KEY----- ...",
            )

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret, for redaction and output validation.

        A secret is a field declared with ``repr=False``, here or in the review or console
        settings: a new secret setting is on the list by being declared so.
        """
        values = [getattr(self, f.name) for f in fields(self) if not f.repr]
        for part in (self.review, self.console):
            values += [getattr(part, f.name) for f in fields(part) if not f.repr]
        return tuple(dict.fromkeys(v for v in values if isinstance(v, str) and v))


def _console(env: Mapping[str, str]) -> Console:
    team = env.get("PRWARDEN_SECURITY_TEAM", "").strip()
    if team and not _TEAM.fullmatch(team):
        raise ConfigError(
            "PRWARDEN_SECURITY_TEAM must name a team as org/team-slug",
            key="PRWARDEN_SECURITY_TEAM",
            expected="org/team-slug",
        )
    session_key = env.get("PRWARDEN_SESSION_KEY", "").strip()
    if session_key:
        try:
            Fernet(session_key)
        except ValueError:
            raise ConfigError(
                "PRWARDEN_SESSION_KEY must be a Fernet key (32 url-safe base64-encoded bytes)",
                key="PRWARDEN_SESSION_KEY",
                expected="the output of cryptography.fernet.Fernet.generate_key()",
            ) from None
    return Console(
        client_id=env.get("PRWARDEN_CLIENT_ID", "").strip(),
        client_secret=env.get("PRWARDEN_CLIENT_SECRET", "").strip(),
        security_team=team,
        session_key=session_key,
        session_ttl=_float(env, "PRWARDEN_SESSION_TTL", DEFAULT_SESSION_TTL) or DEFAULT_SESSION_TTL,
    )


def _state_dir(env: Mapping[str, str]) -> Path:
    """prwarden's folder under the user's state folder (XDG Base Directory: XDG_STATE_HOME,
    default ~/.local/state)."""
    base = env.get("XDG_STATE_HOME")
    if base and Path(base).is_absolute():
        return Path(base) / "prwarden"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".local" / "state" / "prwarden"


def _database_url(env: Mapping[str, str]) -> str:
    url = env.get("PRWARDEN_DATABASE_URL", "").strip()
    if url and not is_postgres_url(url):
        raise ConfigError(
            "PRWARDEN_DATABASE_URL must be a PostgreSQL URL",
            key="PRWARDEN_DATABASE_URL",
            expected="postgresql://user:password@host:5432/database",
        )
    return url


def _api_url(env: Mapping[str, str]) -> str:
    """The REST API's URL: as set, else GitHub Enterprise Server's ``/api/v3`` under
    ``PRWARDEN_GITHUB_URL``, else api.github.com."""
    explicit = env.get("PRWARDEN_GITHUB_API_URL")
    if explicit:
        return explicit.rstrip("/")
    web = (env.get("PRWARDEN_GITHUB_URL") or DEFAULT_WEB_URL).rstrip("/")
    return DEFAULT_API_URL if web == DEFAULT_WEB_URL else web + "/api/v3"


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    return int(_number(env, key, default, int, "an integer"))


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    return float(_number(env, key, default, float, "a number"))


def _number(
    env: Mapping[str, str], key: str, default: float, kind: type[int] | type[float], what: str
) -> float:
    raw = env.get(key, "")
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{key} must be {what}", key=key, expected=what) from None
    if value < 0:
        raise ConfigError(f"{key} must not be negative", key=key, expected=">= 0")
    return value


def _severity(env: Mapping[str, str], key: str, default: Severity) -> Severity | None:
    raw = env.get(key, "")
    if not raw:
        return default
    if raw == "none":
        return None
    try:
        return Severity(raw)
    except ValueError:
        raise ConfigError(
            f"{key} must be one of {[s.value for s in Severity]} or none",
            key=key,
            expected="severity",
        ) from None
