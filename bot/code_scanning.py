"""Held findings to GitHub code scanning: SARIF per repository and commit, and its upload.

``held_runs`` groups held findings into one run per repository, commit and PR, with the
provenance GitHub needs (repository URI, the commit, the PR's ``refs/pull/N/head``).
``rule_catalogue`` describes each rule in its owner's words (ruff's own text for ruff rules,
prwarden's category description otherwise). ``uploads`` plans one upload per run (a log of
one run, gzip + base64, at most 10 MB compressed); ``upload_all`` performs them through
``POST /repos/{owner}/{repo}/code-scanning/sarifs``, which needs the App's optional
``security_events: write`` permission.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from bot.config import Settings
from bot.github import GitHubApp, TokenScope
from cache.held import HeldFinding
from prwarden import __version__
from prwarden.errors import ConfigError, GitHubError
from review.findings import Reason
from security.sarif import (
    Provenance,
    SarifFinding,
    SarifRule,
    SarifRun,
    category_rule,
    linter_rule,
    sarif_log,
)
from tools.rule_docs import ruff_rule_doc

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
_LEVELS = {"critical": "error", "high": "error", "medium": "warning"}


def sarif_finding(
    finding: dict[str, Any],
    fingerprint: str,
    *,
    status: str = "hold",
    code: Reason | None = Reason.HELD,
) -> SarifFinding:
    """One finding (as stored) in SARIF's terms; held by default, as the queue's are."""
    severity = str(finding["severity"])
    return SarifFinding(
        rule_id=str(finding.get("rule") or f"prwarden/{finding['category']}"),
        title=str(finding["title"]),
        message=str(finding.get("body") or finding["title"]),
        path=str(finding["path"]),
        start_line=int(finding.get("start_line") or finding["line"]),
        end_line=int(finding["line"]),
        level=_LEVELS.get(severity, "note"),
        severity=severity,
        category=str(finding["category"]),
        fingerprint=fingerprint,
        status=status,
        code=code.value if code else None,
    )


def held_runs(items: Sequence[HeldFinding], github_url: str) -> tuple[SarifRun, ...]:
    """One run per repository, commit and PR, in the order they were first held."""
    groups: dict[tuple[str, str, int], list[SarifFinding]] = {}
    for item in items:
        key = (item.repo, item.head_sha, item.pr_number)
        groups.setdefault(key, []).append(sarif_finding(item.finding, item.fingerprint))
    return tuple(
        SarifRun(
            Provenance(
                repository_uri=str(URL(github_url) / repo.split("/")[0] / repo.split("/")[1]),
                revision_id=sha,
                branch=pull_ref(number),
            ),
            tuple(findings),
        )
        for (repo, sha, number), findings in groups.items()
    )


def pull_ref(number: int) -> str:
    return f"refs/pull/{int(number)}/head"


async def rule_catalogue(items: Sequence[HeldFinding]) -> dict[str, SarifRule]:
    """Each rule of the findings, described by its owner."""
    rules: dict[str, SarifRule] = {}
    for item in items:
        f = item.finding
        rule_id = str(f.get("rule") or f"prwarden/{f['category']}")
        if rule_id in rules:
            continue
        doc = await ruff_rule_doc(rule_id) if f.get("source") == "ruff" else None
        if doc is None:
            rules[rule_id] = category_rule(str(f["category"]), rule_id)
        else:
            rules[rule_id] = linter_rule(
                rule_id,
                name=doc.name,
                linter=doc.linter,
                summary=doc.summary,
                explanation=doc.explanation,
                category=str(f["category"]),
            )
    return rules


@dataclass(frozen=True)
class Upload:
    """One code-scanning upload: a log of one run for one commit and ref."""

    repo: str
    commit_sha: str
    ref: str
    log: dict[str, Any]
    sarif: str
    results: int


def uploads(repo: str, runs: Sequence[SarifRun], rules: dict[str, SarifRule]) -> tuple[Upload, ...]:
    planned = []
    for run in runs:
        log = sarif_log([run], tool_version=__version__, rules=rules)
        packed = gzip.compress(json.dumps(log, separators=(",", ":")).encode("utf-8"))
        if len(packed) > MAX_UPLOAD_BYTES:
            raise GitHubError(
                f"the SARIF for {run.provenance.revision_id} is {len(packed)} bytes gzipped;"
                f" code scanning takes at most {MAX_UPLOAD_BYTES}",
                status_code=413,
            )
        planned.append(
            Upload(
                repo,
                run.provenance.revision_id,
                run.provenance.branch,
                log,
                base64.b64encode(packed).decode("ascii"),
                len(run.findings),
            )
        )
    return tuple(planned)


async def upload_all(settings: Settings, planned: Sequence[Upload]) -> list[str]:
    """Send each upload as the App's installation on the repository; the upload ids."""
    if not (settings.app_id and settings.private_key):
        raise ConfigError(
            "uploading to code scanning needs the App's credentials",
            key="PRWARDEN_APP_ID",
            expected="PRWARDEN_APP_ID and PRWARDEN_PRIVATE_KEY (or _PATH)",
        )
    ids: list[str] = []
    async with aiohttp.ClientSession() as session:
        app = GitHubApp(
            session,
            app_id=settings.app_id,
            private_key=settings.private_key,
            base_url=settings.github_api_url,
            retry=settings.github_retry,
        )
        for upload in planned:
            installation = await app.repo_installation(upload.repo)
            scope = TokenScope(repo=upload.repo, permissions={"security_events": "write"})
            try:
                gh = await app.installation(installation, scope)
                ids.append(
                    await gh.upload_sarif(
                        upload.repo,
                        commit_sha=upload.commit_sha,
                        ref=upload.ref,
                        sarif=upload.sarif,
                    )
                )
            except GitHubError as exc:
                if exc.status_code in (403, 422):
                    raise GitHubError(
                        f"{exc}; the App needs the security_events: write permission",
                        status_code=403,
                    ) from None
                raise
    return ids
