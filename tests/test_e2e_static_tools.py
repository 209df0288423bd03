"""A PR that adds an injectable workflow and a cloud key, reviewed by the real app with no
model: zizmor's template injection and detect-secrets' key are held for a person, and the key
itself is in nothing prwarden posts or stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from review.settings import ReviewSettings
from tests.fakes.github import FakeGitHub
from tests.model_scripts import db_of, fake_aws_key, review_pr, serve
from tests.scenario import pull_scenario
from tests.test_e2e_security import dump_db, posted_texts

WORKFLOW = ".github/workflows/greet.yml"
WORKFLOW_TEXT = """\
name: greet
on: pull_request
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - name: Say the title
        run: echo "Thanks for ${{ github.event.pull_request.title }}"
"""
SETTINGS = "deploy/settings.py"


def _new_file(path: str, text: str) -> str:
    lines = text.splitlines()
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n"
        + "".join(f"+{line}\n" for line in lines)
    )


async def test_static_review_holds_template_injection_and_a_secret_without_its_value(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    key = fake_aws_key()
    settings_text = f'REGION = "eu-west-1"\nAWS_ACCESS_KEY_ID = "{key}"\n'
    files = {WORKFLOW: WORKFLOW_TEXT.encode(), SETTINGS: settings_text.encode()}
    diff = _new_file(WORKFLOW, WORKFLOW_TEXT) + _new_file(SETTINGS, settings_text)
    s = pull_scenario(fake_github, files=files, diff=diff, title="Greet contributors")
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path, ReviewSettings())
    run = await review_pr(client, s)
    assert "no model" in s.reviews[0]["body"].lower()

    rows = list(db_of(client)["findings"].rows)
    assert {row["state"] for row in rows} == {"pending"}
    held = {
        (f["path"], f["line"], f["source"]): f for f in (json.loads(r["finding"]) for r in rows)
    }
    assert {f["category"] for f in held.values()} == {"security"}
    injection = held[(WORKFLOW, 9, "zizmor")]
    assert injection["rule"] == "template-injection" and injection["severity"] == "high"
    secret = held[(SETTINGS, 2, "detect-secrets")]
    assert secret["title"] == "Secret added: AWS Access Key"

    # Held means not on the PR: neither finding is a comment, both are counted for review.
    assert not any(c["path"] == WORKFLOW or c["path"] == SETTINGS for c in s.comments)
    assert f"{len(rows)} finding(s) await security review" in run["output"]["summary"]

    texts = posted_texts(s)
    assert texts and not any(key in text for text in texts)
    stored = dump_db(db_of(client))
    assert "Secret added: AWS Access Key" in stored
    leaked = [row for row in stored.splitlines() if key in row]
    assert not leaked, [row[:300] for row in leaked]
