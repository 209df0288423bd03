"""Several prwarden processes on one PostgreSQL, started from the installed console script:
receivers (``prwarden serve --workers 0``) and workers (``prwarden worker``)."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from testkit.serve_process import ServeProcess


def console_script() -> str:
    """The ``prwarden`` command installed next to this interpreter (or on ``PATH``)."""
    beside = Path(sys.executable).parent / "prwarden"
    found = str(beside) if beside.exists() else shutil.which("prwarden")
    if not found:
        raise RuntimeError("the prwarden console script is not installed (pip install -e .)")
    return found


@dataclass
class Fleet:
    """Receivers and workers sharing ``database_url``, pointed at one fake GitHub."""

    tmp: Path
    database_url: str
    api_url: str
    private_key: str
    env: dict[str, str] = field(default_factory=dict)
    receivers: list[ServeProcess] = field(default_factory=list)
    workers: list[ServeProcess] = field(default_factory=list)

    def _process(self, name: str, command: list[str]) -> ServeProcess:
        folder = self.tmp / name
        folder.mkdir(parents=True, exist_ok=True)
        process = ServeProcess(
            folder,
            api_url=self.api_url,
            private_key=self.private_key,
            command=command,
            PRWARDEN_DATABASE_URL=self.database_url,
        )
        process.env.update(self.env)
        process.start()
        return process

    def add_receiver(self) -> ServeProcess:
        name = f"receiver-{len(self.receivers)}"
        process = self._process(name, [console_script(), "serve", "--workers", "0"])
        self.receivers.append(process)
        return process

    def add_worker(self, concurrency: int = 2) -> ServeProcess:
        name = f"worker-{len(self.workers)}"
        command = [console_script(), "worker", "--concurrency", str(concurrency)]
        process = self._process(name, command)
        self.workers.append(process)
        return process

    def live_jobs(self) -> int:
        """Jobs queued or running in the shared store."""
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()
        return int(row[0]) if row else 0

    def query(self, sql: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return list(conn.execute(sql).fetchall())

    def stop(self) -> None:
        for process in [*self.receivers, *self.workers]:
            process.stop()
