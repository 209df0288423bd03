"""The ``prwarden`` command: clear errors for bad input, and every command documented."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from bot.cli import _parser, main
from review.findings import Reason

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(("PRWARDEN_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PRWARDEN_DB", str(tmp_path / "cli.db"))


def test_serve_refuses_to_start_without_secret_and_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "PRWARDEN_WEBHOOK_SECRET" in err and "PRWARDEN_APP_ID" in err


def test_a_bad_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRWARDEN_MAX_TURNS", "many")
    assert main(["review", "--repo", str(EXAMPLE / "shop"), "--diff", "-"]) == 2
    assert "PRWARDEN_MAX_TURNS must be an integer" in capsys.readouterr().err


def test_review_of_the_example_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "review",
            "--repo",
            str(EXAMPLE / "shop"),
            "--diff",
            str(EXAMPLE / "shop.diff"),
            "--format",
            "json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mode"] == "static" and result["model"] is None
    posted = {(f["path"], f["line"]) for f in result["findings"] if f["status"] == "post"}
    assert ("shop/orders.py", 32) in posted
    codes = {r.value for r in Reason}
    for f in result["findings"]:
        # Each finding says what became of it with a code from the closed set; the detail
        # for people is separate text.
        assert (f["code"] is None) == (f["status"] == "post"), f
        assert f["code"] is None or f["code"] in codes
        assert f["status"] == "post" or f["reasons"]


def test_review_as_sarif_carries_disposition_codes_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["review", "--repo", str(EXAMPLE / "shop"), "--diff", str(EXAMPLE / "shop.diff")]
    assert main([*args, "--format", "sarif"]) == 0
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert results
    for result in results:
        props = result["properties"]
        assert props["status"] in ("post", "hold")
        assert props.get("disposition") in (None, *(r.value for r in Reason))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["review", "--repo", "/nonexistent-dir", "--diff", "x"], "is not a directory"),
        (
            ["review", "--repo", str(EXAMPLE / "shop"), "--diff", "/nonexistent.diff"],
            "cannot read diff",
        ),
        (
            ["review", "--repo", str(EXAMPLE / "shop"), "--diff", str(EXAMPLE / "README.md")],
            "not a unified diff",
        ),
        (
            [
                "review",
                "--repo",
                str(EXAMPLE / "shop"),
                "--diff",
                str(EXAMPLE / "shop.diff"),
                "--config",
                "/nonexistent.yml",
            ],
            "does not exist",
        ),
        (["findings", "show", "999"], "no held finding"),
        (["findings", "approve", "999", "--by", "alice"], "999"),
        (["cache", "purge", "--older-than", "-1"], "negative"),
    ],
)
def test_bad_input_gets_a_clear_error_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_review_outside_a_git_repository_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "--repo", str(tmp_path)]) == 2
    assert "git diff" in capsys.readouterr().err


def _commands(parser: argparse.ArgumentParser, prefix: str = "prwarden") -> list[str]:
    found: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix} {name}")
                found += _commands(sub, f"{prefix} {name}")
    return found


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    leaves = [
        c
        for c in _commands(_parser())
        if not any(other.startswith(c + " ") for other in _commands(_parser()))
    ]
    missing = [c for c in leaves if not re.search(re.escape(c) + r"\b", readme)]
    assert not missing, f"commands missing from README.md: {missing}"
