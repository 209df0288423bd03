"""Shared fixtures for GitHub-facing tests: the App's key pair, the corpora, a fake GitHub."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlite_utils

import corpora as corpus_data
from cache.db import open_db
from testkit.fakes.github import FakeGitHub
from testkit.fakes.openai import FakeOpenAI
from testkit.signing import generate_key_pair

APP_ID = "424242"


@pytest.fixture(scope="session")
def app_key_pair() -> tuple[str, str]:
    """A fresh RSA key for the test App: (private PEM, public PEM)."""
    return generate_key_pair()


@pytest.fixture(scope="session")
def app_private_key(app_key_pair: tuple[str, str]) -> str:
    return app_key_pair[0]


@pytest.fixture(scope="session")
def corpora() -> Path:
    return corpus_data.ROOT


@pytest.fixture
async def fake_github(app_key_pair: tuple[str, str]) -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub.running(app_id=APP_ID, public_key=app_key_pair[1]) as gh:
        yield gh


@pytest.fixture
def db() -> sqlite_utils.Database:
    """A fresh in-memory store with the current schema."""
    return open_db(":memory:")


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    """The fake OpenAI-compatible server, empty; tests script its turns."""
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``setup_logging`` (and ``cli.main``) replace prwarden's handlers; put them back."""
    logger = logging.getLogger("prwarden")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]
