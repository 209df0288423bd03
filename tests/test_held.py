"""The security team's queue of held findings and its state transitions."""

from __future__ import annotations

from typing import Any

import pytest

from cache.db import open_db
from cache.held import HeldFindings
from prwarden.errors import StoreError


@pytest.fixture
def held() -> HeldFindings:
    return HeldFindings(open_db(":memory:"), clock=lambda: 500.0)


def _hold(held: HeldFindings, fingerprint: str = "fp-1", **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "installation_id": 1,
        "repo": "octo/a",
        "pr_number": 3,
        "head_sha": "abc",
        "fingerprint": fingerprint,
        "finding": {"title": "Hard-coded AWS key", "category": "security", "line": 12},
        "evidence": {"reason": "security category", "injection_hits": []},
    }
    fields.update(overrides)
    return held.hold(**fields)


def test_hold_once_per_fingerprint_and_pr(held: HeldFindings) -> None:
    first = _hold(held)
    assert _hold(held, head_sha="def") == first
    assert _hold(held, pr_number=4) != first
    assert _hold(held, fingerprint="fp-2") != first
    assert held.pending_count("octo/a", 3) == 2
    item = held.get(first)
    assert item is not None
    assert (item.state, item.head_sha, item.created_at) == ("pending", "abc", 500.0)
    assert item.finding["title"] == "Hard-coded AWS key"
    assert item.evidence == {"reason": "security category", "injection_hits": []}


def test_approve_then_post(held: HeldFindings) -> None:
    item_id = _hold(held)
    approved = held.approve(item_id, "alice")
    assert (approved.state, approved.decided_by, approved.decided_at) == (
        "approved",
        "alice",
        500.0,
    )
    assert held.pending_count("octo/a", 3) == 0
    posted = held.mark_posted(item_id, 987)
    assert (posted.state, posted.comment_id) == ("posted", 987)
    with pytest.raises(StoreError, match=f"cannot reject held finding {item_id}: it is posted"):
        held.reject(item_id, "bob", "too late")


def test_reject_is_final(held: HeldFindings) -> None:
    item_id = _hold(held)
    rejected = held.reject(item_id, "bob", "false positive: test fixture")
    assert (rejected.state, rejected.reason) == ("rejected", "false positive: test fixture")
    with pytest.raises(StoreError, match=f"cannot approve held finding {item_id}: it is rejected"):
        held.approve(item_id, "alice")
    with pytest.raises(StoreError, match=r"cannot reject held finding \d+: it is rejected"):
        held.reject(item_id, "bob", "again")
    with pytest.raises(StoreError, match=r"cannot mark as posted held finding \d+: it is rejected"):
        held.mark_posted(item_id, 1)
    assert _hold(held) == item_id, "a rejected finding is not held again"


def test_an_approved_finding_can_still_be_rejected_before_posting(held: HeldFindings) -> None:
    item_id = _hold(held)
    held.approve(item_id, "alice")
    with pytest.raises(StoreError, match="it is approved; that needs a finding that is pending"):
        held.approve(item_id, "alice")
    assert held.reject(item_id, "carol", "leaks internals").state == "rejected"


def test_pending_findings_cannot_be_posted(held: HeldFindings) -> None:
    item_id = _hold(held)
    with pytest.raises(StoreError, match="it is pending; that needs a finding that is approved"):
        held.mark_posted(item_id, 1)
    assert held.list()[0].state == "pending"


def test_list_by_state(held: HeldFindings) -> None:
    a = _hold(held, "fp-a")
    b = _hold(held, "fp-b")
    c = _hold(held, "fp-c")
    held.approve(b, "alice")
    held.reject(c, "bob", "")
    assert [f.id for f in held.list()] == [a]
    assert [f.id for f in held.list("approved")] == [b]
    assert [f.id for f in held.list(None)] == [a, b, c]
    with pytest.raises(StoreError, match="unknown held-finding state 'done'"):
        held.list("done")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: h.approve(404, "alice"), "cannot approve held finding 404: no such finding"),
        (lambda h: h.reject(404, "bob", "x"), "cannot reject held finding 404: no such finding"),
        (lambda h: h.mark_posted(404, 1), "no such finding"),
        (lambda h: h.approve(1, ""), "by must be a non-empty string"),
        (lambda h: _hold(h, fingerprint=""), "fingerprint must be a non-empty string"),
        (lambda h: _hold(h, evidence={"raw": b"bytes"}), "evidence cannot be stored as JSON"),
    ],
)
def test_bad_calls_are_refused_clearly(held: HeldFindings, call: Any, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        call(held)
    assert held.get(404) is None
