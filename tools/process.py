"""Run one external program: killable, timed, output-capped, with a clean environment.

This is the only module in ``tools/`` that starts processes. Callers build the argument list
and parse the output themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sysconfig
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prwarden.errors import ToolError

STDERR_CAP = 64_000
_READ_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class Completed:
    """What a finished (or cut-off) process printed."""

    returncode: int
    stdout: bytes
    stderr: bytes
    truncated: bool


def find_program(name: str) -> str:
    """The program installed next to this interpreter (by its package), else on PATH."""
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidate = Path(scripts) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} is not installed", tool=name)
    return found


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: no inherited tool configuration variables reach the child."""
    env = {"PATH": os.defpath, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    env.update(extra or {})
    return env


async def run_program(
    argv: Sequence[str],
    *,
    cwd: Path,
    time_limit: float,
    max_output: int,
    tool: str,
    env: Mapping[str, str] | None = None,
) -> Completed:
    """Run ``argv``; stop reading (and kill it) past ``max_output`` bytes or ``time_limit`` s."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env) if env is not None else clean_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(time_limit):
            (out, cut), (err, _) = await asyncio.gather(
                _read_capped(proc.stdout, max_output, on_cap=lambda: _kill(proc)),
                _read_capped(proc.stderr, STDERR_CAP, on_cap=lambda: _kill(proc)),
            )
            returncode = await proc.wait()
    except TimeoutError as exc:
        raise ToolError(f"{tool} timed out after {time_limit:g} s", tool=tool) from exc
    finally:
        if proc.returncode is None:
            _kill(proc)
            await proc.wait()
    return Completed(returncode=returncode, stdout=out, stderr=err, truncated=cut)


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def _read_capped(
    stream: asyncio.StreamReader, cap: int, *, on_cap: Callable[[], None]
) -> tuple[bytes, bool]:
    buf = bytearray()
    while chunk := await stream.read(_READ_CHUNK):
        buf += chunk
        if len(buf) > cap:
            on_cap()
            return bytes(buf[:cap]), True
    return bytes(buf), False
