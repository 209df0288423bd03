"""Webhook deliveries already seen, installations and their repositories, paused repositories."""

from __future__ import annotations

import time
from collections.abc import Sequence

from cache.db import Clock, require_text, write_transaction
from cache.store import Store
from prwarden.errors import StoreError


def record_delivery(
    db: Store,
    delivery_id: str,
    *,
    event: str,
    action: str | None,
    clock: Clock = time.time,
) -> bool:
    """Remember a delivery id; ``True`` when it is new, ``False`` when it was seen before."""
    require_text(delivery_id, "delivery_id")
    require_text(event, "event")
    written = db.write(
        "INSERT INTO deliveries (id, event, action, received_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO NOTHING",
        (delivery_id, event, action, clock()),
    )
    return written.rowcount == 1


def attach_job(db: Store, delivery_id: str, job_id: int) -> None:
    """Record which job a delivery produced."""
    written = db.write("UPDATE deliveries SET job_id = ? WHERE id = ?", (job_id, delivery_id))
    if written.rowcount != 1:
        raise StoreError(f"delivery {delivery_id!r} was never recorded")


def forget_delivery(db: Store, delivery_id: str) -> bool:
    """Forget one delivery (its handling failed, so a redelivery must be processed)."""
    return db.write("DELETE FROM deliveries WHERE id = ?", (delivery_id,)).rowcount == 1


def forget_deliveries(db: Store, *, before: float) -> int:
    """Drop deliveries received before ``before`` (epoch seconds); return how many."""
    with write_transaction(db) as conn:
        return conn.execute("DELETE FROM deliveries WHERE received_at < ?", (before,)).rowcount


def _repo_names(repos: Sequence[str]) -> tuple[str, ...]:
    if isinstance(repos, str):
        raise StoreError(f"repos must be a sequence of 'owner/name' strings, got {repos!r}")
    for repo in repos:
        require_text(repo, "repo")
        owner, slash, name = repo.partition("/")
        if not slash or not owner or not name or "/" in name:
            raise StoreError(f"repo must look like 'owner/name', got {repo!r}")
    return tuple(dict.fromkeys(repos))


def remember_installation(
    db: Store,
    installation_id: int,
    account: str,
    repos: Sequence[str],
    *,
    clock: Clock = time.time,
) -> None:
    """Record an installation (again) with exactly these repositories."""
    require_text(account, "account")
    names = _repo_names(repos)
    with write_transaction(db) as conn:
        now = clock()
        conn.execute(
            "INSERT INTO installations (id, account, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET account = excluded.account, removed_at = NULL",
            (installation_id, account, now),
        )
        conn.execute("DELETE FROM installation_repos WHERE installation_id = ?", (installation_id,))
        conn.executemany(
            "INSERT INTO installation_repos (installation_id, repo, added_at) VALUES (?, ?, ?)",
            [(installation_id, name, now) for name in names],
        )


def forget_installation(db: Store, installation_id: int, *, clock: Clock = time.time) -> None:
    """Mark an installation removed and drop its repositories."""
    with write_transaction(db) as conn:
        conn.execute(
            "UPDATE installations SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
            (clock(), installation_id),
        )
        conn.execute("DELETE FROM installation_repos WHERE installation_id = ?", (installation_id,))


def add_repos(
    db: Store,
    installation_id: int,
    repos: Sequence[str],
    *,
    clock: Clock = time.time,
) -> None:
    """Add repositories to an installation, recording the installation if it was missed."""
    names = _repo_names(repos)
    with write_transaction(db) as conn:
        now = clock()
        conn.execute(
            "INSERT INTO installations (id, account, created_at) VALUES (?, '', ?)"
            " ON CONFLICT (id) DO UPDATE SET removed_at = NULL",
            (installation_id, now),
        )
        conn.executemany(
            "INSERT INTO installation_repos (installation_id, repo, added_at) VALUES (?, ?, ?)"
            " ON CONFLICT (installation_id, repo) DO NOTHING",
            [(installation_id, name, now) for name in names],
        )


def remove_repos(db: Store, installation_id: int, repos: Sequence[str]) -> None:
    """Remove repositories from an installation (unknown ones are ignored)."""
    names = _repo_names(repos)
    with write_transaction(db) as conn:
        conn.executemany(
            "DELETE FROM installation_repos WHERE installation_id = ? AND repo = ?",
            [(installation_id, name) for name in names],
        )


def installation_repos(db: Store, installation_id: int) -> tuple[str, ...]:
    """The repositories of an installation, sorted."""
    rows = db.read(
        "SELECT repo FROM installation_repos WHERE installation_id = ? ORDER BY repo",
        (installation_id,),
    )
    return tuple(str(row[0]) for row in rows)


def is_installed(db: Store, installation_id: int) -> bool:
    """Whether the installation is known and not removed."""
    rows = db.read(
        "SELECT 1 FROM installations WHERE id = ? AND removed_at IS NULL", (installation_id,)
    )
    return bool(rows)


def set_paused(db: Store, repo: str, paused: bool, by: str, *, clock: Clock = time.time) -> None:
    """Pause or resume reviews of ``repo``; ``by`` is who asked."""
    _repo_names([repo])
    _set_state(db, repo, paused, by, clock)


def _set_state(db: Store, scope: str, paused: bool, by: str, clock: Clock) -> None:
    require_text(by, "by")
    with write_transaction(db) as conn:
        conn.execute(
            "INSERT INTO repo_state (repo, paused, updated_at, updated_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (repo) DO UPDATE SET paused = excluded.paused,"
            " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            (scope, int(bool(paused)), clock(), by),
        )


def is_paused(db: Store, repo: str) -> bool:
    """Whether reviews of ``repo`` are paused."""
    rows = db.read("SELECT paused FROM repo_state WHERE repo = ?", (repo,))
    return bool(rows) and bool(rows[0][0])


def pull_scope(repo: str, pr_number: int) -> str:
    """The pause scope of one pull request (``repo_state`` also holds whole repositories)."""
    _repo_names([repo])
    if isinstance(pr_number, bool) or not isinstance(pr_number, int) or pr_number < 1:
        raise StoreError(f"pr_number must be a positive integer, got {pr_number!r}")
    return f"{repo}#{pr_number}"


def set_pull_paused(
    db: Store,
    repo: str,
    pr_number: int,
    paused: bool,
    by: str,
    *,
    clock: Clock = time.time,
) -> None:
    """Pause or resume reviews of one pull request; ``by`` is who asked."""
    _set_state(db, pull_scope(repo, pr_number), paused, by, clock)


def is_pull_paused(db: Store, repo: str, pr_number: int) -> bool:
    """Whether reviews of this pull request (or of its whole repository) are paused."""
    scope = pull_scope(repo, pr_number)
    rows = db.read("SELECT paused FROM repo_state WHERE repo IN (?, ?)", (repo, scope))
    return any(bool(row[0]) for row in rows)
