"""Settings for the bot's tests, pointed at the fakes; signing lives in ``testkit.signing``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import corpora
from bot.config import Limits, Settings
from review.settings import ReviewSettings
from testkit.signing import SECRET

CORPORA = corpora.ROOT


def make_settings(
    private_key: str,
    *,
    api_url: str = "http://127.0.0.1:9",
    db_path: str = ":memory:",
    workspaces: Path | None = None,
    review: ReviewSettings | None = None,
    limits: Limits | None = None,
    **overrides: Any,
) -> Settings:
    return Settings(
        app_id="424242",
        private_key=private_key,
        webhook_secret=SECRET,
        github_api_url=api_url,
        db_path=db_path,
        workspace_root=workspaces or Path("/nonexistent-workspaces"),
        review=review or ReviewSettings(),
        limits=limits or Limits(),
        **overrides,
    )
