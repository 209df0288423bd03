"""``prwarden doctor`` on a correct setup (all green, exit 0) and on each broken piece: the
failing line names the problem and what to do."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

from bot.config import Settings
from bot.doctor import (
    Check,
    Verdict,
    env_file,
    failed,
    run_checks,
    store,
    webhook_secret,
)
from cache.db import MIGRATIONS, open_db
from tests.conftest import APP_ID
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import FakeOpenAI, closed_port
from tests.helpers import SECRET, generate_key_pair
from tools.process import find_program

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("cheap-model", "capable-model")


def _env(gh: FakeGitHub, model_url: str, key: str, tmp_path: Path) -> dict[str, str]:
    db = tmp_path / "prwarden.db"
    if not db.exists():
        open_db(db).conn.close()
    return {
        "PRWARDEN_APP_ID": APP_ID,
        "PRWARDEN_PRIVATE_KEY": key,
        "PRWARDEN_WEBHOOK_SECRET": SECRET,
        "PRWARDEN_GITHUB_API_URL": gh.base_url,
        "OPENAI_BASE_URL": model_url,
        "OPENAI_API_KEY": "sk-test-doctor-0123456789",
        "PRWARDEN_TRIAGE_MODEL": MODELS[0],
        "PRWARDEN_REVIEW_MODEL": MODELS[1],
        "PRWARDEN_DB": str(db),
    }


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def _doctor(env: dict[str, str], *, python: str = sys.executable, path: str | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PRWARDEN_", "OPENAI_"))}
    if path is not None:
        base["PATH"] = path
    proc = await asyncio.create_subprocess_exec(
        python,
        "-m",
        "bot.cli",
        "doctor",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**base, **env},
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_a_correct_setup_is_all_green(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    async with FakeOpenAI(models=MODELS) as model:
        code, out, err = await _doctor(_env(fake_github, model.base_url, app_private_key, tmp_path))
    lines = out.splitlines()
    assert code == 0, out + err
    names = [line.split()[1] for line in lines]
    assert names == [
        "credentials",
        "github-app",
        "installations",
        "webhook-secret",
        "webhook",
        "model-triage",
        "model-review",
        "store",
        "rg",
        "ruff",
        "oxlint",
        "shellcheck",
        "zizmor",
        "hadolint",
    ]
    assert all(line.startswith("ok ") for line in lines), out
    assert app_private_key.splitlines()[1] not in out + err
    assert fake_github.invalid_requests == []


async def test_a_key_of_another_app_is_named(fake_github: FakeGitHub, tmp_path: Path) -> None:
    other_key, _ = generate_key_pair()
    async with FakeOpenAI(models=MODELS) as model:
        env = _env(fake_github, model.base_url, other_key, tmp_path)
        checks = _by_name(await run_checks(Settings.from_env(env)))
    line = checks["github-app"].line()
    assert checks["github-app"].verdict is Verdict.FAIL
    assert "refused the App JWT" in line and "PRWARDEN_PRIVATE_KEY" in line
    assert checks["installations"].verdict is Verdict.SKIP
    assert failed(list(checks.values()))


async def test_a_key_that_is_not_a_key_is_named(fake_github: FakeGitHub, tmp_path: Path) -> None:
    env = _env(fake_github, "http://127.0.0.1:9/v1", "-----BEGIN PRIVATE KEY-----\nno", tmp_path)
    checks = _by_name(await run_checks(Settings.from_env(env)))
    assert checks["credentials"].verdict is Verdict.FAIL
    assert "not a PEM private key" in checks["credentials"].line()
    assert checks["github-app"].verdict is Verdict.SKIP


async def test_a_wrong_app_id_is_named(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    async with FakeOpenAI(models=MODELS) as model:
        env = _env(fake_github, model.base_url, app_private_key, tmp_path)
        env["PRWARDEN_APP_ID"] = "999"
        checks = _by_name(await run_checks(Settings.from_env(env)))
    line = checks["github-app"].line()
    assert checks["github-app"].verdict is Verdict.FAIL
    assert "no App 999" in line and "PRWARDEN_APP_ID" in line


async def test_a_model_endpoint_that_is_down_is_named(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{closed_port()}/v1"
    env = _env(fake_github, down, app_private_key, tmp_path)
    checks = await run_checks(Settings.from_env(env))
    model = _by_name(checks)["model"]
    assert model.verdict is Verdict.FAIL
    assert down in model.line() and "OPENAI_BASE_URL" in model.line()
    assert failed(checks)
    # everything else is still checked
    assert _by_name(checks)["github-app"].verdict is Verdict.OK


async def test_a_model_the_endpoint_does_not_serve_is_named(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    async with FakeOpenAI(models=MODELS[:1]) as model:
        env = _env(fake_github, model.base_url, app_private_key, tmp_path)
        checks = _by_name(await run_checks(Settings.from_env(env)))
    assert checks["model-triage"].verdict is Verdict.OK
    assert checks["model-review"].verdict is Verdict.FAIL
    assert MODELS[1] in checks["model-review"].line()


def _python_without_ruff(tmp_path: Path) -> tuple[str, str]:
    """An interpreter whose scripts folder has no ruff, seeing this project's packages, and a
    PATH with rg only: a machine where ruff is not installed."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), str(ROOT)]
    (Path(site) / "project.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rg").symlink_to(find_program("rg"))
    return str(python), str(bin_dir)


async def test_a_missing_linter_is_named_and_fails_the_run(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    python, path = await asyncio.to_thread(_python_without_ruff, tmp_path)
    async with FakeOpenAI(models=MODELS) as model:
        env = _env(fake_github, model.base_url, app_private_key, tmp_path)
        code, out, err = await _doctor(env, python=python, path=path)
    assert code == 1, out + err
    ruff = next(line for line in out.splitlines() if line.split()[1] == "ruff")
    assert ruff.startswith("FAIL") and "ruff is not installed" in ruff and "pip install" in ruff
    assert "failed: ruff" in err
    rg = next(line for line in out.splitlines() if line.split()[1] == "rg")
    assert rg.startswith("ok")
    # a linter for one language only is a warning: the rest of the review still runs
    shellcheck = next(line for line in out.splitlines() if line.split()[1] == "shellcheck")
    assert shellcheck.startswith("warn") and "shellcheck is not installed" in shellcheck


async def test_a_webhook_secret_that_does_not_match_is_named(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    fake_github.add_hook_delivery(202)
    fake_github.add_hook_delivery(401)
    env = _env(fake_github, "http://127.0.0.1:9/v1", app_private_key, tmp_path)
    hook = _by_name(await run_checks(Settings.from_env(env)))["webhook"]
    assert hook.verdict is Verdict.FAIL
    assert "refused with 401" in hook.line() and "PRWARDEN_WEBHOOK_SECRET" in hook.line()
    fake_github.add_hook_delivery(202)
    hook = _by_name(await run_checks(Settings.from_env(env)))["webhook"]
    assert hook.verdict is Verdict.OK and "got 202" in hook.line()


def test_the_store_check_never_creates_a_store_and_names_what_is_wrong(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    check = store(Settings(db_path=str(missing)))
    assert check.verdict is Verdict.WARN and "does not exist yet" in check.line()
    assert not missing.exists()
    current = tmp_path / "current.db"
    open_db(current).conn.close()
    assert store(Settings(db_path=str(current))).verdict is Verdict.OK
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    check = store(Settings(db_path=str(newer)))
    assert check.verdict is Verdict.FAIL and "newer than this prwarden" in check.line()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    check = store(Settings(db_path=str(garbage)))
    assert check.verdict is Verdict.FAIL and "cannot read the store" in check.line()


def test_an_unset_or_short_webhook_secret_is_named() -> None:
    assert webhook_secret(Settings()).verdict is Verdict.FAIL
    assert webhook_secret(Settings(webhook_secret="short")).verdict is Verdict.WARN
    assert webhook_secret(Settings(webhook_secret="x" * 32)).verdict is Verdict.OK


def test_an_env_file_others_can_read_is_named(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("PRWARDEN_APP_ID=1\n")
    path.chmod(0o644)
    check = env_file(path)
    assert check.verdict is Verdict.WARN and f"chmod 600 {path}" in check.line()
    path.chmod(0o600)
    assert env_file(path).verdict is Verdict.OK
