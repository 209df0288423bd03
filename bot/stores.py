"""Which store a command opens. Commands that only read never create one.

The server's store is PostgreSQL when ``PRWARDEN_DATABASE_URL`` is set, else ``PRWARDEN_DB``
(default ``prwarden.db`` in the working folder); local reviews keep theirs in the user's state
folder unless ``PRWARDEN_DB`` says otherwise. A reading command opens the server's PostgreSQL,
or the first of the two SQLite files that exists, and with neither it reads an empty store in
memory and says so on standard error.
"""

from __future__ import annotations

import sys

from bot.config import Settings
from cache.db import open_db, open_existing_db
from cache.store import Store, open_store


def for_local_review(settings: Settings) -> Store:
    """The store of local reviews (created when missing: the review writes to it)."""
    return open_db(settings.local_db_path)


def for_reading(settings: Settings) -> Store:
    """An existing store to read, or an empty one in memory; never a new file."""
    if settings.database_url:
        return open_store(settings.database_url, settings.db_path)
    candidates = dict.fromkeys((settings.db_path, settings.local_db_path))
    for path in candidates:
        db = open_existing_db(path)
        if db is not None:
            return db
    print(
        f"prwarden: no store at {' or '.join(candidates)}: nothing recorded yet",
        file=sys.stderr,
    )
    return open_db(":memory:")
