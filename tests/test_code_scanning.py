"""Held findings to code scanning: ``prwarden findings export`` and ``upload`` against the fake.

The uploaded SARIF is decoded from what the fake GitHub received and checked against the SARIF
2.1.0 schema in the corpora and the upload rules GitHub documents (corpora/sarif/GITHUB_NOTES.md):
one run per tool and category, rule metadata and limits, results with relative locations and
``partialFingerprints.primaryLocationLineHash``, ``versionControlProvenance`` of the commit.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import corpora
from bot import cli
from cache.db import open_db
from cache.held import HeldFindings
from security.sarif import CATEGORIES
from tests.fakes.github import FakeGitHub
from tests.serve_process import APP_ID

SCHEMA = json.loads((corpora.ROOT / "sarif" / "sarif-schema-2.1.0.json").read_text())
REPO, OTHER = "octo/shop", "octo/other"
SHA_1, SHA_2, SHA_3 = "1" * 40, "2" * 40, "3" * 40

SQL = {
    "path": "shop/db.py",
    "line": 15,
    "start_line": 14,
    "severity": "critical",
    "category": "security",
    "title": "SQL built with an f-string from the customer name",
    "body": "`orders_for` formats `customer` into the SQL text.",
    "source": "model",
}
UNUSED = {
    "path": "shop/orders.py",
    "line": 3,
    "severity": "medium",
    "category": "correctness",
    "title": "os imported but unused",
    "body": "`os` is imported and never used.",
    "source": "ruff",
    "rule": "F401",
}
TOKEN = {**SQL, "line": 40, "start_line": None, "title": "Token compared with ==", "body": "x"}


def _hold(db: Any, repo: str, sha: str, pr: int, fingerprint: str, finding: dict[str, Any]) -> int:
    return HeldFindings(db).hold(
        installation_id=1,
        repo=repo,
        pr_number=pr,
        head_sha=sha,
        fingerprint=fingerprint,
        finding=finding,
        evidence={},
    )


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    path = tmp_path / "prwarden.db"
    monkeypatch.setenv("PRWARDEN_DB", str(path))
    db = open_db(path)
    ids = {
        "sql": _hold(db, REPO, SHA_1, 7, "fp-sql:1", SQL),
        "unused": _hold(db, REPO, SHA_1, 7, "fp-unused:1", UNUSED),
        "later": _hold(db, REPO, SHA_2, 7, "fp-token:1", TOKEN),
        "other": _hold(db, OTHER, SHA_3, 1, "fp-other:1", SQL),
        "rejected": _hold(db, REPO, SHA_2, 7, "fp-rejected:1", {**SQL, "line": 50}),
    }
    HeldFindings(db).reject(ids["rejected"], "alice", "false positive")
    return ids


@pytest.fixture
def as_app(fake_github: FakeGitHub, app_private_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI acts as the test App on the fake GitHub, which knows the repository."""
    fake_github.add_repo(REPO)
    fake_github.granted["security_events"] = "write"
    monkeypatch.setenv("PRWARDEN_APP_ID", APP_ID)
    monkeypatch.setenv("PRWARDEN_PRIVATE_KEY", app_private_key)
    monkeypatch.setenv("PRWARDEN_GITHUB_API_URL", fake_github.base_url)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def github_checks(log: dict[str, Any]) -> list[str]:
    """What GITHUB_NOTES.md says code scanning needs beyond the schema; empty when all hold."""
    problems: list[str] = []
    if log.get("version") != "2.1.0" or not log.get("$schema") or not log.get("runs"):
        problems.append("version 2.1.0, $schema and runs are required")
    runs = log.get("runs") or []
    if len(runs) > 20:
        problems.append("more than 20 runs")
    keys = [
        (
            r["tool"]["driver"]["name"],
            r.get("automationDetails", {}).get("id", "").rpartition("/")[0],
        )
        for r in runs
    ]
    if len(set(keys)) != len(keys):
        problems.append(f"more than one run per tool and category: {keys}")
    for run in runs:
        driver = run["tool"]["driver"]
        if not driver.get("name") or not (driver.get("semanticVersion") or driver.get("version")):
            problems.append("driver name and version are required")
        provenance = run.get("versionControlProvenance") or [{}]
        if not all(provenance[0].get(k) for k in ("repositoryUri", "revisionId", "branch")):
            problems.append("versionControlProvenance needs repositoryUri, revisionId, branch")
        rules = {r["id"]: r for r in driver.get("rules") or []}
        for rule in rules.values():
            for key in ("shortDescription", "fullDescription"):
                text = rule.get(key, {}).get("text", "")
                if not text or len(text) > 1024:
                    problems.append(f"rule {rule['id']}: {key} missing or over 1024")
            if not rule.get("help", {}).get("text") or len(rule.get("name", "")) > 255:
                problems.append(f"rule {rule['id']}: help text or name")
            props = rule.get("properties", {})
            if len(props.get("tags", [])) > 20:
                problems.append(f"rule {rule['id']}: over 20 tags")
            if "security-severity" in props:
                if not 0.1 <= float(props["security-severity"]) <= 10.0:
                    problems.append(f"rule {rule['id']}: security-severity out of range")
                if "security" not in props.get("tags", []):
                    problems.append(f"rule {rule['id']}: security-severity without security tag")
        results = run.get("results") or []
        if len(results) > 25_000:
            problems.append("over 25,000 results")
        for result in results:
            if result.get("ruleId") not in rules:
                problems.append(f"result rule {result.get('ruleId')} is not among the rules")
            if not result.get("message", {}).get("text"):
                problems.append("result without message.text")
            locations = result.get("locations") or []
            if not locations or len(locations) > 1000:
                problems.append("result needs 1 to 1000 locations")
                continue
            physical = locations[0].get("physicalLocation", {})
            uri = physical.get("artifactLocation", {}).get("uri", "")
            if not uri or uri.startswith("/") or "://" in uri:
                problems.append(f"location uri {uri!r} is not relative to the repository")
            if not physical.get("region", {}).get("startLine"):
                problems.append("location without region.startLine")
            if not result.get("partialFingerprints", {}).get("primaryLocationLineHash"):
                problems.append("result without partialFingerprints.primaryLocationLineHash")
    return problems


def test_export_writes_one_run_per_repository_and_commit(
    store: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["findings", "export", "--repo", REPO], capsys)
    assert code == 0, err
    log = json.loads(out)
    assert list(jsonschema.Draft4Validator(SCHEMA).iter_errors(log)) == []
    provenance = [r["versionControlProvenance"] for r in log["runs"]]
    assert provenance == [
        [
            {
                "repositoryUri": f"https://github.com/{REPO}",
                "revisionId": sha,
                "branch": "refs/pull/7/head",
            }
        ]
        for sha in (SHA_1, SHA_2)
    ]
    first, second = log["runs"]
    assert [r["partialFingerprints"]["primaryLocationLineHash"] for r in first["results"]] == [
        "fp-sql:1",
        "fp-unused:1",
    ]
    assert len(second["results"]) == 2
    assert first["automationDetails"]["id"] == f"prwarden/held/{SHA_1}/"
    assert github_checks(log) == []
    rules = {r["id"]: r for r in first["tool"]["driver"]["rules"]}
    # Rule text is the rule's own: ruff's documentation, prwarden's category description.
    assert "unused-import" in rules["F401"]["shortDescription"]["text"]
    assert "Pyflakes" in rules["F401"]["shortDescription"]["text"]
    assert "What it does" in rules["F401"]["help"]["markdown"]
    assert UNUSED["title"] not in json.dumps(rules["F401"])
    assert rules["prwarden/security"]["shortDescription"]["text"] == CATEGORIES["security"][0]
    assert SQL["title"] not in json.dumps(rules["prwarden/security"])
    assert rules["prwarden/security"]["properties"]["security-severity"]
    all_repos = json.loads(_run(["findings", "export"], capsys)[1])
    assert len(all_repos["runs"]) == 3 and github_checks(all_repos) == []


async def test_upload_sends_one_valid_run_per_commit(
    store: dict[str, int],
    fake_github: FakeGitHub,
    as_app: None,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    code = await asyncio.to_thread(cli.main, ["findings", "upload", "--repo", REPO])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.count("uploaded 2 result(s)") == 1 and out.out.count("uploaded 1 result(s)") == 1
    requests = fake_github.requests_for("code-scanning/upload-sarif")
    assert len(requests) == 2 and all(r.valid for r in fake_github.requests), [
        r.errors for r in fake_github.invalid_requests
    ]
    validator = jsonschema.Draft4Validator(SCHEMA)
    uploads = fake_github.sarif_uploads
    assert [(u["commit_sha"], u["ref"]) for u in uploads] == [
        (SHA_1, "refs/pull/7/head"),
        (SHA_2, "refs/pull/7/head"),
    ]
    for upload in uploads:
        log = upload["sarif"]
        assert list(validator.iter_errors(log)) == []
        assert github_checks(log) == []
        (run,) = log["runs"]
        assert run["versionControlProvenance"][0]["revisionId"] == upload["commit_sha"]
        assert run["versionControlProvenance"][0]["branch"] == upload["ref"]
    fingerprints = [
        r["partialFingerprints"] for u in uploads for r in u["sarif"]["runs"][0]["results"]
    ]
    assert {"primaryLocationLineHash": "fp-rejected:1"} not in fingerprints
    assert len(fingerprints) == 3


@pytest.mark.parametrize("how", ["not granted", "refused on upload"])
async def test_upload_refused_names_the_permission(
    store: dict[str, int],
    fake_github: FakeGitHub,
    as_app: None,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
    how: str,
) -> None:
    if how == "not granted":
        del fake_github.granted["security_events"]
    else:
        fake_github.fail_next(
            "POST",
            r"/code-scanning/sarifs$",
            403,
            body={"message": "Resource not accessible by integration"},
        )
    code = await asyncio.to_thread(cli.main, ["findings", "upload", "--repo", REPO])
    out = capsys.readouterr()
    assert code == 1
    assert "security_events: write" in out.err
    assert fake_github.sarif_uploads == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["findings", "export", "--repo", "not a repo"], "--repo must be OWNER/NAME"),
        (["findings", "export", "--state", "bogus"], "--state must be one of"),
        (["findings", "upload", "--repo", "../x"], "--repo must be OWNER/NAME"),
    ],
)
def test_bad_arguments_are_refused(
    store: dict[str, int], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(argv, capsys)
    assert code == 2 and message in err


def test_upload_without_app_credentials_is_refused(
    store: dict[str, int], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("PRWARDEN_APP_ID", "PRWARDEN_PRIVATE_KEY", "PRWARDEN_PRIVATE_KEY_PATH"):
        monkeypatch.delenv(key, raising=False)
    code, _, err = _run(["findings", "upload", "--repo", REPO], capsys)
    assert code == 2 and "App's credentials" in err
