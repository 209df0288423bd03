"""Run ``prwarden serve`` as a real process for tests that kill it or stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from testkit.signing import SECRET

APP_ID = "424242"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServeProcess:
    """``prwarden serve`` on a free loopback port, pointed at a fake GitHub."""

    def __init__(
        self,
        tmp: Path,
        *,
        api_url: str,
        private_key: str,
        command: Sequence[str] = (sys.executable, "-m", "bot.cli", "serve"),
        **env: str,
    ):
        self.command = list(command)
        self.port = free_port()
        self.log = tmp / f"serve-{self.port}.log"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PRWARDEN_", "OPENAI_"))
        }
        self.env.update(
            PRWARDEN_APP_ID=APP_ID,
            PRWARDEN_PRIVATE_KEY=private_key,
            PRWARDEN_WEBHOOK_SECRET=SECRET,
            PRWARDEN_GITHUB_API_URL=api_url,
            PRWARDEN_DB=str(tmp / "prwarden.db"),
            PRWARDEN_WORKSPACES=str(tmp / "workspaces"),
            PRWARDEN_LEASE_SECONDS="1.5",
            PRWARDEN_SHUTDOWN_GRACE="10",
            **env,
        )
        self.proc: subprocess.Popen[bytes] | None = None
        # Run in the child before exec (say, to lower its file-descriptor limit).
        self.preexec: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(
                [*self.command, "--port", str(self.port)],
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                preexec_fn=self.preexec,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("prwarden serve did not start listening")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
