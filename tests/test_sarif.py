"""SARIF export: valid against the 2.1.0 schema and shaped per GitHub code scanning's notes."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

import corpora
from security.sarif import SECURITY_SEVERITY, SarifFinding, to_sarif

SARIF_DIR = corpora.ROOT / "sarif"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads((SARIF_DIR / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def finding(**changes: Any) -> SarifFinding:
    values: dict[str, Any] = {
        "rule_id": "prwarden/security/sql-injection",
        "title": "SQL query built from request input",
        "message": "`name` reaches `cursor.execute` unescaped. Use a parameterised query.",
        "path": "src/app/db.py",
        "start_line": 12,
        "end_line": 14,
        "level": "error",
        "severity": "high",
        "category": "security",
        "fingerprint": "3f2a9c0d1e4b5a67:1",
    }
    values.update(changes)
    return SarifFinding(**values)


FINDINGS = [
    finding(),
    finding(path="src/app/views.py", start_line=3, end_line=3, fingerprint="aa:1"),
    finding(
        rule_id="prwarden/correctness/off-by-one",
        title="Loop skips the last element",
        message="range(len(xs) - 1) leaves out xs[-1].",
        path="lib/with space/ü.py",
        level="warning",
        severity="medium",
        category="correctness",
        fingerprint="bb:1",
    ),
    finding(
        rule_id="prwarden/style/naming",
        title="t" * 2000,
        level="note",
        severity="info",
        category="style",
        fingerprint="cc:1",
    ),
]


def test_validates_against_schema(validator: jsonschema.Draft4Validator) -> None:
    for findings in (FINDINGS, FINDINGS[:1], []):
        log = to_sarif(findings, tool_version="0.1.0", repo_uri="https://github.com/o/r")
        errors = sorted(validator.iter_errors(log), key=str)
        assert errors == []
        json.dumps(log)


def test_schema_rejects_a_broken_log(validator: jsonschema.Draft4Validator) -> None:
    log = to_sarif(FINDINGS, tool_version="0.1.0")
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert list(validator.iter_errors(log))


def test_github_top_level_and_driver() -> None:
    log = to_sarif(FINDINGS, tool_version="1.2.3")
    assert log["version"] == "2.1.0" and log["$schema"] and len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "prwarden"
    assert driver["semanticVersion"] == "1.2.3"
    assert "/" in log["runs"][0]["automationDetails"]["id"]


def test_github_rules() -> None:
    run = to_sarif(FINDINGS, tool_version="1.2.3")["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [
        "prwarden/security/sql-injection",
        "prwarden/correctness/off-by-one",
        "prwarden/style/naming",
    ]
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert len(rule["shortDescription"]["text"]) <= 1024
        assert len(rule["fullDescription"]["text"]) <= 1024
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert len(rule["name"]) <= 255
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
        props = rule["properties"]
        assert props["precision"] in {"very-high", "high", "medium", "low"}
        assert props["problem.severity"] in {"error", "warning", "recommendation"}
        assert len(props["tags"]) <= 20
    security, correctness, style = rules
    assert security["properties"]["security-severity"] == SECURITY_SEVERITY["high"]
    assert "security" in security["properties"]["tags"]
    assert 0.1 <= float(security["properties"]["security-severity"]) <= 10.0
    assert "security-severity" not in correctness["properties"]
    assert style["properties"]["problem.severity"] == "recommendation"


def test_github_results() -> None:
    run = to_sarif(FINDINGS, tool_version="1.2.3")["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == 4
    for result, source in zip(run["results"], FINDINGS, strict=True):
        assert result["ruleId"] == source.rule_id
        assert rules[result["ruleIndex"]]["id"] == source.rule_id
        assert result["message"]["text"] == source.message
        location = result["locations"][0]["physicalLocation"]
        uri = location["artifactLocation"]["uri"]
        assert not uri.startswith("/") and "://" not in uri
        assert location["region"]["startLine"] == source.start_line
        assert location["region"]["endLine"] == source.end_line
        assert result["partialFingerprints"] == {"primaryLocationLineHash": source.fingerprint}
    assert run["results"][2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "lib/with%20space/%C3%BC.py"
    )


def test_repo_uri_is_recorded() -> None:
    run = to_sarif(FINDINGS, tool_version="1", repo_uri="https://github.com/o/r")["runs"][0]
    assert run["versionControlProvenance"] == [{"repositoryUri": "https://github.com/o/r"}]
    assert "versionControlProvenance" not in to_sarif([], tool_version="1")["runs"][0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"path": "/etc/passwd"}, "not relative"),
        ({"path": "file:///x.py"}, "not relative"),
        ({"path": "a/../../x.py"}, "not normalised"),
        ({"path": "a\\b.py"}, "not relative"),
        ({"start_line": 0}, "below 1"),
        ({"end_line": 1}, "before start_line"),
        ({"level": "fatal"}, "level"),
        ({"severity": "urgent"}, "severity"),
        ({"rule_id": " "}, "rule_id is empty"),
        ({"fingerprint": ""}, "fingerprint is empty"),
        ({"status": "maybe"}, "status"),
        ({"status": "hold", "code": "duplicate of internal/x.py:3"}, "not a disposition code"),
    ],
)
def test_bad_findings_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        finding(**changes)


def test_empty_tool_version_is_refused() -> None:
    with pytest.raises(ValueError, match="tool_version"):
        to_sarif([], tool_version="")


def test_a_held_result_carries_its_disposition_code(validator: jsonschema.Draft4Validator) -> None:
    log = to_sarif([finding(status="hold", code="held"), finding()], tool_version="1")
    validator.validate(log)
    held, posted = log["runs"][0]["results"]
    assert held["properties"]["status"] == "hold" and held["properties"]["disposition"] == "held"
    assert posted["properties"]["status"] == "post" and "disposition" not in posted["properties"]
