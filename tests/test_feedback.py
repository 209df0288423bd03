"""Posted comments and the feedback on them: idempotence and acceptance per category."""

from __future__ import annotations

from typing import Any

import pytest
import sqlite_utils

from cache import feedback
from cache.db import open_db
from prwarden.errors import StoreError


def _post(db: sqlite_utils.Database, comment_id: int, **overrides: Any) -> None:
    fields: dict[str, Any] = {
        "comment_id": comment_id,
        "installation_id": 1,
        "repo": "octo/a",
        "pr_number": 3,
        "head_sha": "abc",
        "path": "app/db.py",
        "line": 40,
        "fingerprint": f"fp-{comment_id}",
        "category": "security",
        "severity": "high",
        "prompt_version": "review@7",
        "source": "model",
        "anchored_code": "cur.execute(f'SELECT * FROM t WHERE id={id}')",
        "clock": lambda: 100.0 + comment_id,
    }
    fields.update(overrides)
    feedback.record_posted_comment(db, **fields)


def test_posted_comments_round_trip() -> None:
    db = open_db(":memory:")
    _post(db, 2)
    _post(db, 1, line=None)
    _post(db, 3, pr_number=4)
    listed = feedback.posted_comments(db, "octo/a", 3)
    assert [c.comment_id for c in listed] == [1, 2]
    assert listed[0].line is None and listed[1].fingerprint == "fp-2"
    one = feedback.posted_comment(db, 3)
    assert one is not None and one.pr_number == 4
    assert feedback.posted_comment(db, 99) is None


def test_feedback_is_idempotent_per_comment_signal_and_actor() -> None:
    db = open_db(":memory:")
    _post(db, 1)
    assert feedback.record_feedback(db, comment_id=1, signal="thumbs_up", actor="dev")
    assert not feedback.record_feedback(db, comment_id=1, signal="thumbs_up", actor="dev")
    assert feedback.record_feedback(db, comment_id=1, signal="thumbs_up", actor="lead")
    assert feedback.record_feedback(db, comment_id=1, signal="reply", actor="dev", detail="ok")
    count = db.conn.execute("SELECT COUNT(*), MIN(repo), MIN(pr_number) FROM feedback")
    assert count.fetchone() == (3, "octo/a", 3)


def test_acceptance_math() -> None:
    db = open_db(":memory:")
    for comment_id in range(1, 5):
        _post(db, comment_id)
    _post(db, 5, category="style", severity="low")
    _post(db, 6, prompt_version="review@8")
    _post(db, 7, repo="octo/b")
    signals = [
        (1, "thumbs_up", "dev"),
        (1, "thumbs_up", "lead"),
        (1, "resolved", "dev"),
        (2, "fixed", "prwarden"),
        (3, "thumbs_down", "dev"),
        (3, "reply", "dev"),
        (5, "would_help", "dev"),
        (7, "thumbs_up", "dev"),
    ]
    for comment_id, signal, actor in signals:
        feedback.record_feedback(db, comment_id=comment_id, signal=signal, actor=actor)
    rows = {(r.category, r.severity, r.prompt_version): r for r in feedback.acceptance(db)}
    sec = rows[("security", "high", "review@7")]
    assert (sec.posted, sec.thumbs_up, sec.resolved, sec.fixed) == (5, 2, 1, 1)
    assert (sec.thumbs_down, sec.reply, sec.would_help, sec.accepted) == (1, 1, 0, 3)
    assert sec.acceptance_rate == pytest.approx(3 / 5)
    style = rows[("style", "low", "review@7")]
    assert (style.posted, style.would_help, style.acceptance_rate) == (1, 1, 0.0)
    assert rows[("security", "high", "review@8")].acceptance_rate == 0.0
    only_a = feedback.acceptance(db, repo="octo/a")
    assert sum(r.posted for r in only_a) == 6
    recent = feedback.acceptance(db, since=103.0)
    assert [
        (r.prompt_version, r.posted, r.accepted) for r in recent if r.category == "security"
    ] == [
        ("review@7", 3, 1),
        ("review@8", 1, 0),
    ]
    assert feedback.acceptance(db, repo="nobody/none") == ()


def test_bad_feedback_is_refused() -> None:
    db = open_db(":memory:")
    _post(db, 1)
    with pytest.raises(StoreError, match="unknown feedback signal 'heart'"):
        feedback.record_feedback(db, comment_id=1, signal="heart", actor="dev")
    with pytest.raises(StoreError, match="comment 42 was not posted by prwarden"):
        feedback.record_feedback(db, comment_id=42, signal="thumbs_up", actor="dev")
    with pytest.raises(StoreError, match="actor must be a non-empty string"):
        feedback.record_feedback(db, comment_id=1, signal="thumbs_up", actor="")
    with pytest.raises(StoreError, match="path must be a non-empty string"):
        _post(db, 2, path="")
    assert feedback.acceptance(db)[0].posted == 1
