"""The ``prwarden`` command: serve, worker, db, review, findings, stats, cache, eval.

Each command imports what it needs when it runs: ``prwarden --help`` and a static review
never load the model SDK, the HTTP stack or the GitHub client.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import doctor, setup_flow
from bot.cli_help import teach
from bot.envfile import add_env_file_option, environment
from prwarden import CONFIG_PATH, __version__
from prwarden.errors import ConfigError, DatasetError, DiffError, PrwardenError, StoreError

if TYPE_CHECKING:
    from bot.config import Settings
    from review.request import ReviewRequest, ReviewResult


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="prwarden",
        description="prwarden, an AI code reviewer for GitHub pull requests: run the App's\n"
        "server, review local changes, and look after what it has found.",
        epilog="Each command's --help shows its defaults, the environment it reads and an example.",
    )
    p.add_argument("--version", action="version", version=f"prwarden {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the webhook server and workers")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on")
    add_env_file_option(serve)
    serve.add_argument(
        "--workers",
        type=_count,
        help="worker tasks in this process (default PRWARDEN_WORKERS; 0: receive webhooks only)",
    )

    worker = sub.add_parser("worker", help="run workers only, on the shared store and queue")
    worker.add_argument(
        "--concurrency", type=_count, help="jobs run at once (default PRWARDEN_WORKERS)"
    )
    worker.add_argument("--host", default="127.0.0.1", help="address of /healthz and /metrics")
    worker.add_argument("--port", type=int, help="serve /healthz and /metrics on this port")
    add_env_file_option(worker)

    database = sub.add_parser("db", help="the store: schema upgrades and moving to PostgreSQL")
    dsub = database.add_subparsers(dest="action", required=True)
    upgrade = dsub.add_parser("upgrade", help="apply schema migrations (also done at every start)")
    add_env_file_option(upgrade)
    move = dsub.add_parser(
        "migrate-from-sqlite", help="copy an SQLite store into PRWARDEN_DATABASE_URL"
    )
    move.add_argument("file", type=Path, help="the SQLite file (PRWARDEN_DB of the old setup)")
    add_env_file_option(move)

    setup_flow.add_parser(sub)
    doctor.add_parser(sub)

    review = sub.add_parser("review", help="review local changes with the same pipeline")
    review.add_argument(
        "--repo", type=Path, default=Path("."), help="the repository; its working tree is read"
    )
    review.add_argument(
        "--base",
        help="review the working tree against the merge base of this ref and HEAD (default: "
        "the branch's upstream, else the remote's default branch)",
    )
    review.add_argument(
        "--diff", metavar="FILE", help="review this diff instead of git's, or - for standard input"
    )
    review.add_argument(
        "--format", choices=("text", "json", "sarif"), default="text", help="output format"
    )
    review.add_argument("--config", type=Path, help=f"repo config (default: REPO/{CONFIG_PATH})")
    review.add_argument(
        "--local",
        action="store_true",
        help="review with the bundled small model on a local llama.cpp server (prwarden[local])",
    )

    findings = sub.add_parser("findings", help="the security team's queue of held findings")
    fsub = findings.add_subparsers(dest="action", required=True)
    flist = fsub.add_parser("list", help="list held findings")
    flist.add_argument("--state", default="pending", help="pending|approved|rejected|posted|all")
    fshow = fsub.add_parser("show", help="show one held finding with its evidence")
    fshow.add_argument("id", type=int, help="the finding's id (from findings list)")
    fapprove = fsub.add_parser("approve", help="approve: the finding is posted on its PR")
    fapprove.add_argument("id", type=int, help="the finding's id (from findings list)")
    fapprove.add_argument("--by", required=True, help="who decides")
    freject = fsub.add_parser("reject", help="reject: the finding is never posted")
    freject.add_argument("id", type=int, help="the finding's id (from findings list)")
    freject.add_argument("--by", required=True, help="who decides")
    freject.add_argument("--reason", required=True, help="why, for the audit trail")
    fexport = fsub.add_parser(
        "export", help="write held findings as SARIF 2.1.0: one run per repository and commit"
    )
    fexport.add_argument("--repo", help="only this repository (OWNER/NAME)")
    fexport.add_argument("--state", default="all", help="pending|approved|rejected|posted|all")
    fupload = fsub.add_parser(
        "upload",
        help="send held findings to GitHub code scanning (needs security_events: write)",
    )
    fupload.add_argument("--repo", required=True, help="the repository (OWNER/NAME)")
    fupload.add_argument(
        "--state", default="open", help="pending|approved|posted|open (all but rejected)|all"
    )

    stats = sub.add_parser("stats", help="reviews, cache hits, tokens and cost per repository")
    stats.add_argument("--days", type=float, default=30.0, help="how far back")
    stats.add_argument("--repo", metavar="OWNER/NAME", help="one repository only")
    stats.add_argument("--format", choices=("text", "json"), default="text", help="output format")

    cache = sub.add_parser("cache", help="the review cache")
    csub = cache.add_subparsers(dest="action", required=True)
    csub.add_parser("stats", help="entries, size, hits")
    purge = csub.add_parser("purge", help="remove entries")
    purge.add_argument(
        "--older-than", type=float, metavar="DAYS", help="only entries older than this"
    )

    evaluate = sub.add_parser("eval", help="offline evaluation on a labelled dataset")
    evaluate.add_argument("dataset", type=Path, help="a folder of labelled cases")
    evaluate.add_argument("--baseline", type=Path, help="an earlier JSON result to compare with")
    evaluate.add_argument("--output", type=Path, help="write the JSON result here")
    evaluate.add_argument(
        "--margin", type=float, default=0.02, help="how much worse than the baseline fails"
    )
    evaluate.add_argument("--concurrency", type=int, default=4, help="cases reviewed at once")
    evaluate.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format"
    )
    return teach(p)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from bot.config import Settings
    from bot.logs import setup_logging

    try:
        settings = Settings.from_env(environment(getattr(args, "env_file", None)))
        setup_logging(settings.secret_values)
        handler = {
            "setup": setup_flow.cmd_setup,
            "doctor": doctor.cmd_doctor,
            "serve": cmd_serve,
            "worker": cmd_worker,
            "db": cmd_db,
            "review": cmd_review,
            "findings": cmd_findings,
            "stats": cmd_stats,
            "cache": cmd_cache,
            "eval": cmd_eval,
        }[args.command]
        return handler(args, settings)
    except ConfigError as exc:
        print(f"prwarden: configuration error: {exc}", file=sys.stderr)
        return 2
    except (DiffError, StoreError, DatasetError) as exc:
        print(f"prwarden: {exc}", file=sys.stderr)
        return 2
    except PrwardenError as exc:
        print(f"prwarden: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _with_workers(settings: Settings, workers: int | None) -> Settings:
    if workers is None:
        return settings
    return replace(settings, limits=replace(settings.limits, workers=workers))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.app import make_app
    from bot.serving import serve

    async def run() -> None:
        await serve(make_app(_with_workers(settings, args.workers)), args.host, args.port, settings)

    asyncio.run(run())
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.app import make_app
    from bot.serving import serve

    settings = _with_workers(settings, args.concurrency)
    if settings.limits.workers < 1:
        raise ConfigError(
            "a worker needs at least one worker task", key="--concurrency", expected=">= 1"
        )

    async def run() -> None:
        app = make_app(settings, receive=False)
        if args.port is not None:
            await serve(app, args.host, args.port, settings)
        else:
            await _run_until_signalled(app)

    asyncio.run(run())
    return 0


async def _run_until_signalled(app: Any) -> None:
    """Run the app's lifecycle (its workers) with no listening socket, until SIGTERM/SIGINT."""
    import asyncio
    import signal

    from aiohttp import web

    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("prwarden worker running; SIGTERM stops it", file=sys.stderr)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from cache.store import open_store

    if args.action == "upgrade":
        store = open_store(settings.database_url, settings.db_path)
        print(f"{store.dialect} store at schema version {store.schema_version()}")
        store.close()
        return 0
    from cache.postgres import PostgresStore, copy_from_sqlite

    if not settings.database_url:
        raise ConfigError(
            "migrate-from-sqlite copies into PostgreSQL: set PRWARDEN_DATABASE_URL",
            key="PRWARDEN_DATABASE_URL",
            expected="postgresql://user:password@host:5432/database",
        )
    target = PostgresStore.connect(settings.database_url)
    try:
        copied = copy_from_sqlite(args.file, target)
    finally:
        target.close()
    for table, (source_rows, target_rows) in copied.items():
        print(f"{table:<20} {source_rows:>8} rows in the file, {target_rows:>8} in PostgreSQL")
    return 0


def read_local_diff(args: argparse.Namespace) -> tuple[bytes, str]:
    """The diff to review, and what it compares (for the review's header)."""
    from bot.local_git import GitError, local_diff

    if args.diff == "-":
        return sys.stdin.buffer.read(), "the diff on standard input"
    if args.diff:
        try:
            return Path(args.diff).read_bytes(), f"the diff in {args.diff}"
        except OSError as exc:
            raise DiffError(f"cannot read diff {args.diff}: {exc.strerror}") from None
    try:
        local = local_diff(args.repo, args.base)
    except GitError as exc:
        raise DiffError(f"git diff in {args.repo} failed: {exc}") from None
    return local.diff, local.description


def cmd_review(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from review.config import load_repo_config
    from review.pipeline import run_review
    from review.request import PRInfo, ReviewRequest

    if not args.repo.is_dir():
        raise DiffError(f"--repo {args.repo} is not a directory")
    diff, compared = read_local_diff(args)
    config_file = args.config or args.repo / CONFIG_PATH
    text = config_file.read_bytes() if config_file.is_file() else None
    if args.config and text is None:
        raise ConfigError(f"--config {args.config} does not exist", key="--config")
    config, problems = load_repo_config(text, str(config_file))
    from bot import progress_view, stores

    progress = progress_view.for_stream(sys.stderr)
    request = ReviewRequest(
        diff=diff,
        workspace=args.repo.resolve(),
        settings=settings.review,
        config=config,
        config_problems=problems,
        pr=PRInfo(repo=args.repo.resolve().name),
        progress=progress,
        secrets=settings.secret_values,
    )
    db = stores.for_local_review(settings)
    try:
        if args.local:
            result = asyncio.run(_review_with_local_model(request, db))
        else:
            result = asyncio.run(run_review(request, db=db))
    finally:
        if progress is not None:
            progress.close()
    if args.format == "json":
        print(json.dumps({"compared": compared, **result_json(result)}, indent=2))
    elif args.format == "sarif":
        print(json.dumps(result_sarif(result), indent=2))
    else:
        print(result_text(result, compared))
    return 0


async def _review_with_local_model(request: ReviewRequest, db: Any) -> ReviewResult:
    """Start (or connect to) the local llama.cpp server and put both model tiers on it."""
    from bot.local_model import LocalModelServer, local_review_settings
    from review.pipeline import run_review

    if sys.stderr.isatty():
        print("starting the local model server (llama.cpp, bundled SmolLM2)...", file=sys.stderr)
    async with LocalModelServer.start() as server:
        local = local_review_settings(server, request.settings)
        return await run_review(replace(request, settings=local), db=db)


def result_json(result: ReviewResult) -> dict[str, Any]:
    return {
        "mode": result.mode,
        "model": result.models[-1] if result.models else None,
        "notes": list(result.notes),
        "diff_hash": result.diff_hash,
        "usage": {
            "calls": result.usage.calls,
            "tokens_in": result.usage.tokens_in,
            "tokens_out": result.usage.tokens_out,
            "cost_usd": round(result.usage.cost, 6),
        },
        "prompt_versions": list(result.prompt_versions),
        "findings": [
            {
                **af.finding.to_dict(),
                **af.disposition.to_dict(),
                "fingerprint": af.fingerprint,
            }
            for af in result.findings
        ],
        "injections": [
            {"where": r.where, "score": r.score, "reasons": list(r.reasons)}
            for r in result.injections
        ],
        "config_problems": [str(p) for p in result.config_problems],
        "files_skipped": [list(s) for s in result.files_skipped],
        "model_rejections": list(result.model_rejections),
    }


def result_sarif(result: ReviewResult) -> dict[str, Any]:
    from bot.code_scanning import sarif_finding
    from security.sarif import to_sarif

    rows = [
        sarif_finding(af.finding.to_dict(), af.fingerprint, status=af.status, code=af.code)
        for af in result.findings
        if af.status in ("post", "hold")
    ]
    return to_sarif(rows, tool_version=__version__)


def result_text(result: ReviewResult, compared: str = "") -> str:
    lines: list[str] = []
    model = result.models[-1] if result.mode in ("model", "cached") and result.models else None
    if model:
        lines.append(f"prwarden review by model {model} ({result.mode})")
    elif result.usage.calls:
        lines.append("prwarden review: the model was unavailable; static tools only")
    else:
        lines.append("prwarden review: static tools only, no model was used")
    if compared:
        lines.append(f"  reviewed: {compared}")
    lines += [f"  {note}" for note in result.notes]
    lines += [f"  rejected model output: {reason}" for reason in result.model_rejections]
    for problem in result.config_problems:
        lines.append(f"  config: {problem}")
    for title, items in (("Comments", result.posted), ("Held for security review", result.held)):
        lines.append("")
        lines.append(f"{title} ({len(items)}):")
        for af in items:
            f = af.finding
            where = f"{f.path}:{f.start_line}-{f.line}" if f.start_line else f"{f.path}:{f.line}"
            lines.append(f"  {where}  [{f.severity.value}/{f.category.value}] {f.title}")
            if f.body and f.body != f.title:
                lines.append(f"      {f.body.splitlines()[0][:200]}")
    if result.files_skipped:
        lines.append("")
        lines.append(f"Skipped files ({len(result.files_skipped)}):")
        lines += [f"  {path}  ({why})" for path, why in result.files_skipped]
    lines.append("")
    if not result.diff.files:
        lines.append(f"Nothing to review: the diff is empty ({compared or 'no changes'}).")
    elif not result.files_reviewed:
        lines.append("Nothing to review: every changed file was skipped (see above).")
    lines.append(
        f"{len(result.posted)} comment(s), {len(result.held)} held, "
        f"{len(result.dropped)} dropped; {len(result.files_reviewed)} file(s) reviewed; "
        f"{result.usage.calls} model call(s), {result.usage.tokens_in + result.usage.tokens_out} "
        f"tokens, ${result.usage.cost:.4f}"
    )
    return "\n".join(lines)


def cmd_findings(args: argparse.Namespace, settings: Settings) -> int:
    from bot import stores
    from cache.held import HeldFindings

    db = stores.for_reading(settings)
    held = HeldFindings(db)
    if args.action == "list":
        items = held.list(None if args.state == "all" else args.state)
        if not items:
            print(f"no {args.state} findings")
        for item in items:
            f = item.finding
            print(
                f"{item.id:>5}  {item.state:<9} {item.repo}#{item.pr_number}  "
                f"{f.get('path')}:{f.get('line')}  [{f.get('severity')}/{f.get('category')}] "
                f"{f.get('title')}"
            )
        return 0
    if args.action == "show":
        found = held.get(args.id)
        if found is None:
            raise StoreError(f"no held finding with id {args.id}")
        print(json.dumps(_held_json(found), indent=2))
        return 0
    if args.action == "approve":
        item = held.approve(args.id, args.by)
        from bot.commands import enqueue_post
        from bot.context import AppContext
        from cache.queue import JobQueue

        job_id = enqueue_post(AppContext(settings=settings, db=db, queue=JobQueue(db)), item)
        print(f"approved finding {args.id}; it will be posted by the running server (job {job_id})")
        return 0
    if args.action == "reject":
        held.reject(args.id, args.by, args.reason)
        print(f"rejected finding {args.id}")
        return 0
    return _code_scanning(args, settings, held)


def _code_scanning(args: argparse.Namespace, settings: Settings, held: Any) -> int:
    import asyncio

    from bot import code_scanning
    from cache.held import HELD_STATES, HeldFilter
    from security.sarif import sarif_log

    repo = args.repo
    if repo is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+", repo):
        raise StoreError(f"--repo must be OWNER/NAME, got {repo!r}")
    if args.state not in (*HELD_STATES, "all", "open"):
        raise StoreError(f"--state must be one of {', '.join((*HELD_STATES, 'open', 'all'))}")
    state = None if args.state in ("all", "open") else args.state
    items = [
        item
        for item in held.query(HeldFilter(state=state, repo=repo))
        if args.state != "open" or item.state != "rejected"
    ]
    rules = asyncio.run(code_scanning.rule_catalogue(items))
    runs = code_scanning.held_runs(items, settings.github_url)
    if args.action == "export":
        log = sarif_log(runs, tool_version=__version__, rules=rules)
        print(json.dumps(log, indent=2))
        return 0
    planned = code_scanning.uploads(repo, runs, rules)
    if not planned:
        print(f"no held findings of {repo} to upload")
        return 0
    ids = asyncio.run(code_scanning.upload_all(settings, planned))
    for upload, upload_id in zip(planned, ids, strict=True):
        print(
            f"uploaded {upload.results} result(s) for {upload.commit_sha[:12]} ({upload.ref})"
            f" to code scanning: {upload_id}"
        )
    return 0


def _held_json(item: Any) -> dict[str, Any]:
    return {
        "id": item.id,
        "state": item.state,
        "repo": item.repo,
        "pr_number": item.pr_number,
        "head_sha": item.head_sha,
        "finding": item.finding,
        "evidence": item.evidence,
        "decided_by": item.decided_by,
        "reason": item.reason,
    }


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from bot import stores
    from bot.stats import render_stats

    db = stores.for_reading(settings)
    print(render_stats(db, since=time.time() - args.days * 86400, repo=args.repo, fmt=args.format))
    return 0


def cmd_cache(args: argparse.Namespace, settings: Settings) -> int:
    from bot import stores
    from cache.reviews import ReviewCache

    cache = ReviewCache(stores.for_reading(settings))
    if args.action == "stats":
        print(json.dumps(asdict(cache.stats()), indent=2))
        return 0
    older = args.older_than * 86400 if args.older_than is not None else None
    print(f"purged {cache.purge(older_than=older)} entries")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.evaluate import run_eval_command

    code: int = run_eval_command(args, settings)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
