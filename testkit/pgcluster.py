"""A throwaway PostgreSQL server from Debian's ``postgresql`` package, in a temporary folder.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user the
package creates (``runuser``). The server listens on a Unix socket in its own folder only;
each test gets a fresh database copied from a migrated template.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

INSTALL_HINT = "apt-get install -y postgresql"


def binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``, or ``None`` when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """One PostgreSQL server: ``start()``, ``database()`` for a fresh one, ``stop()``."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="prwpg-"))
        self.data = self.root / "data"
        self._user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._user = ["runuser", "-u", "postgres", "--"]
        self._template: str | None = None

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._user, *args], check=True, capture_output=True, timeout=120, cwd=self.root
        )

    def start(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "prwarden", "-A", "trust",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-k {self.root} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
            "-l", str(self.root / "server.log"), "start",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://prwarden@/{database}?host={self.root}"

    def database(self) -> str:
        """A fresh database with the current schema; its URL."""
        if self._template is None:
            from cache.postgres import PostgresStore

            self._create("prwarden_template")
            PostgresStore.connect(self.url("prwarden_template")).close()
            self._template = "prwarden_template"
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._create(name, template=self._template)
        return self.url(name)

    def empty_database(self) -> str:
        """A fresh database with no schema at all; its URL."""
        name = f"e_{uuid.uuid4().hex[:12]}"
        self._create(name)
        return self.url(name)

    def _create(self, name: str, *, template: str = "template0") -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
