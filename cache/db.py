"""The SQLite store: open a database and bring its schema up to date through migrations.

Each migration is a function applied once, in order; the number of applied migrations is
kept in SQLite's ``user_version``. Add a migration at the end of ``MIGRATIONS``; never edit
one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]


def _m001_core(db: sqlite_utils.Database) -> None:
    db.table("deliveries").create(
        {"id": str, "event": str, "action": str, "received_at": float, "job_id": int},
        pk="id",
    )
    db.table("installations").create(
        {"id": int, "account": str, "created_at": float, "removed_at": float},
        pk="id",
    )
    db.table("installation_repos").create(
        {"installation_id": int, "repo": str, "added_at": float},
        pk=("installation_id", "repo"),
    )
    db.table("jobs").create(
        {
            "id": int,
            "kind": str,  # "review" | "post_held" | ...
            "installation_id": int,
            "repo": str,  # "owner/name"
            "pr_number": int,
            "head_sha": str,
            "payload": str,  # JSON
            "state": str,  # queued | running | done | failed | superseded
            "attempts": int,
            "not_before": float,  # epoch seconds: rescheduled jobs wait until then
            "lease_owner": str,
            "lease_until": float,
            "created_at": float,
            "started_at": float,
            "finished_at": float,
            "error": str,
            "delivery_id": str,
        },
        pk="id",
        not_null={"kind", "state", "created_at"},
        defaults={"state": "queued", "attempts": 0, "not_before": 0.0},
    )
    db.table("jobs").create_index(["state", "not_before"])
    db.table("jobs").create_index(["repo", "pr_number", "state"])
    db.table("reviews").create(
        {
            "key": str,  # sha256 of normalized diff + models + prompt versions + config
            "diff_hash": str,
            "result": str,  # JSON: findings and triage, enough to re-filter and publish
            "models": str,
            "prompt_versions": str,
            "created_at": float,
            "last_hit_at": float,
            "hits": int,
            "size": int,
        },
        pk="key",
        defaults={"hits": 0},
    )
    db.table("file_reviews").create(
        {
            "key": str,  # sha256 of one file's normalized patch + models + prompts + config
            "path": str,
            "findings": str,  # JSON list
            "created_at": float,
            "last_hit_at": float,
        },
        pk="key",
    )
    db.table("review_runs").create(
        {
            "id": int,
            "job_id": int,
            "installation_id": int,
            "repo": str,
            "pr_number": int,
            "head_sha": str,
            "diff_hash": str,
            "mode": str,  # model | static | cached | skipped | budget
            "outcome": str,
            "summary": str,
            "findings": str,  # JSON: every finding with its disposition and reasons
            "injection_hits": str,  # JSON
            "config_errors": str,  # JSON
            "posted": int,
            "held": int,
            "dropped": int,
            "tokens_in": int,
            "tokens_out": int,
            "cost": float,
            "review_id": int,
            "shadow": int,
            "created_at": float,
        },
        pk="id",
    )
    db.table("review_runs").create_index(["repo", "pr_number"])
    db.table("llm_calls").create(
        {
            "id": int,
            "at": float,
            "purpose": str,  # triage | review | repair
            "model": str,
            "prompt_version": str,
            "tokens_in": int,
            "tokens_out": int,
            "latency_ms": float,
            "cost": float,
            "installation_id": int,
            "repo": str,
            "pr_number": int,
            "outcome": str,  # ok | error:<kind>
        },
        pk="id",
    )
    db.table("llm_calls").create_index(["repo", "at"])
    db.table("llm_calls").create_index(["installation_id", "at"])
    db.table("tool_calls").create(
        {
            "id": int,
            "at": float,
            "tool": str,
            "args": str,  # JSON
            "duration_ms": float,
            "bytes": int,
            "error": str,
            "installation_id": int,
            "repo": str,
            "pr_number": int,
        },
        pk="id",
    )
    db.table("findings").create(
        {
            "id": int,
            "installation_id": int,
            "repo": str,
            "pr_number": int,
            "head_sha": str,
            "fingerprint": str,
            "finding": str,  # JSON of the finding
            "evidence": str,  # JSON: why it was held, injection hits, tool output
            "state": str,  # pending | approved | rejected | posted
            "decided_by": str,
            "decided_at": float,
            "reason": str,
            "comment_id": int,
            "created_at": float,
        },
        pk="id",
        defaults={"state": "pending"},
    )
    db.table("findings").create_index(["state"])
    db.table("posted_comments").create(
        {
            "comment_id": int,
            "installation_id": int,
            "repo": str,
            "pr_number": int,
            "head_sha": str,
            "path": str,
            "line": int,
            "fingerprint": str,
            "category": str,
            "severity": str,
            "prompt_version": str,
            "source": str,
            "anchored_code": str,
            "created_at": float,
        },
        pk="comment_id",
    )
    db.table("feedback").create(
        {
            "id": int,
            "comment_id": int,
            "repo": str,
            "pr_number": int,
            "signal": str,  # thumbs_up | thumbs_down | resolved | fixed | reply | would_help
            "actor": str,
            "at": float,
            "detail": str,
        },
        pk="id",
    )
    db.table("feedback").create_index(["comment_id", "signal", "actor"], unique=True)
    db.table("repo_state").create(
        {"repo": str, "paused": int, "updated_at": float, "updated_by": str},
        pk="repo",
    )


MIGRATIONS: tuple[Migration, ...] = (_m001_core,)


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the migrations not yet applied; return the schema version reached."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        with db.conn:
            migration(db)
            db.execute(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)


def open_db(path: str | Path | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) the store at ``path``; ``None`` or ``":memory:"`` for memory."""
    if path is None or str(path) == ":memory:":
        db = sqlite_utils.Database(memory=True)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(str(path))
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA busy_timeout = 5000")
    db.execute("PRAGMA foreign_keys = ON")
    migrate(db)
    return db
