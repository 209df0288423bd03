"""The diff model on real diffs from the corpus and on hand-made edge cases."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from prwarden.errors import DiffError
from review.diff import parse_diff
from tests.helpers import CORPORA

LARGE = sorted((CORPORA / "large_diffs").glob("*.diff"))
BUG_CASES = sorted((CORPORA / "bug_diffs" / "cases").iterdir())


def _numstat(path: Path) -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    with path.open(newline="") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) >= 3:
                rows[row[2]] = (row[0], row[1])
    return rows


@pytest.mark.parametrize("diff_path", LARGE, ids=[p.stem for p in LARGE])
def test_large_real_diffs_match_git_numstat(diff_path: Path) -> None:
    diff = parse_diff(diff_path.read_bytes())
    numstat = _numstat(diff_path.with_suffix(".numstat.tsv"))
    assert len(diff) >= len([k for k in numstat if "=>" not in k])
    checked = 0
    for f in diff:
        expected = numstat.get(f.path)
        if expected is None or expected == ("-", "-"):
            continue
        added = sum(1 for h in f.hunks for line in h.lines if line.kind == "+")
        deleted = sum(1 for h in f.hunks for line in h.lines if line.kind == "-")
        assert (str(added), str(deleted)) == expected, f.path
        checked += 1
    assert checked > 0
    binaries = [p for p, v in numstat.items() if v == ("-", "-")]
    for path in binaries:
        parsed = diff.file(path)
        assert parsed is not None and parsed.is_binary, path


@pytest.mark.parametrize("case", BUG_CASES, ids=[p.name for p in BUG_CASES])
def test_bug_diffs_anchor_every_labelled_line(case: Path) -> None:
    rows = (CORPORA / "bug_diffs" / "labels.jsonl").read_text().splitlines()
    labels = {row["id"]: row for row in map(json.loads, rows)}
    label = labels[case.name]
    diff = parse_diff((case / "pr.diff").read_bytes())
    f = diff.file(label["file"])
    assert f is not None
    for hunk in label["hunks"]:
        for line in hunk["added_lines"]:
            assert line in f.added
            assert f.commentable(line)
    base_file = case / "base" / label["file"]
    if base_file.exists():
        for hunk in f.hunks:
            assert hunk.old_start <= len(base_file.read_text(errors="replace").splitlines()) + 1


RENAME = b"""diff --git a/old/name.py b/new/name.py
similarity index 90%
rename from old/name.py
rename to new/name.py
index 1111111..2222222 100644
--- a/old/name.py
+++ b/new/name.py
@@ -1,3 +1,3 @@
 def f():
-    return 1
+    return 2
 # end
"""

PURE_RENAME = b"""diff --git a/a.txt b/b.txt
similarity index 100%
rename from a.txt
rename to b.txt
"""

BINARY = b"""diff --git a/logo.png b/logo.png
index 1111111..2222222 100644
Binary files a/logo.png and b/logo.png differ
"""

DELETION = b"""diff --git a/gone.py b/gone.py
deleted file mode 100644
index 1111111..0000000
--- a/gone.py
+++ /dev/null
@@ -1,2 +0,0 @@
-x = 1
-y = 2
"""

ADDED = b"""diff --git a/new.py b/new.py
new file mode 100644
index 0000000..1111111
--- /dev/null
+++ b/new.py
@@ -0,0 +1,2 @@
+x = 1
+y = 2
\\ No newline at end of file
"""

MODE_ONLY = b"""diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
"""

NO_NEWLINE = b"""diff --git a/a.py b/a.py
index 1111111..2222222 100644
--- a/a.py
+++ b/a.py
@@ -1,2 +1,2 @@
 a = 1
-b = 2
\\ No newline at end of file
+b = 3
\\ No newline at end of file
"""


def test_rename_with_changes() -> None:
    (f,) = parse_diff(RENAME)
    assert (f.status, f.path, f.old_path) == ("renamed", "new/name.py", "old/name.py")
    assert dict(f.added) == {2: "    return 2"}
    assert f.commentable(1) and f.commentable(2) and f.commentable(3)
    assert f.commentable(2, "LEFT") and not f.commentable(4)


def test_pure_rename_and_mode_change_have_no_commentable_lines() -> None:
    (rename,) = parse_diff(PURE_RENAME)
    assert (rename.status, rename.path, rename.old_path) == ("renamed", "b.txt", "a.txt")
    assert not rename.right_lines
    (mode,) = parse_diff(MODE_ONLY)
    assert mode.path == "run.sh" and not mode.hunks and not mode.added


def test_binary_deleted_added() -> None:
    (binary,) = parse_diff(BINARY)
    assert binary.is_binary and not binary.added
    (deleted,) = parse_diff(DELETION)
    assert deleted.status == "deleted" and deleted.path == "gone.py"
    assert not deleted.right_lines and deleted.left_lines == {1, 2}
    (added,) = parse_diff(ADDED)
    assert added.status == "added" and dict(added.added) == {1: "x = 1", 2: "y = 2"}


def test_no_newline_at_end() -> None:
    (f,) = parse_diff(NO_NEWLINE)
    assert dict(f.added) == {2: "b = 3"}
    assert f.right_lines == {1, 2}


def test_crlf_and_non_utf8() -> None:
    crlf = NO_NEWLINE.replace(b"\n", b"\r\n")
    (f,) = parse_diff(crlf)
    assert dict(f.added) == {2: "b = 3"}
    latin1 = RENAME.replace(b"return 2", b"return '\xe9t\xe9'")
    (g,) = parse_diff(latin1)
    assert g.added[2] == "    return '\ufffdt\ufffd'"


def test_several_files_and_hash_ignores_delivery_details() -> None:
    combined = RENAME + BINARY + DELETION + ADDED + MODE_ONLY
    diff = parse_diff(combined)
    assert diff.paths == ("new/name.py", "logo.png", "gone.py", "new.py", "run.sh")
    shuffled = (
        ADDED
        + MODE_ONLY
        + DELETION.replace(b"1111111..0000000", b"abcdef0..0000000")
        + (RENAME + BINARY)
    )
    assert parse_diff(shuffled).normalized_hash() == diff.normalized_hash()
    changed = combined.replace(b"+    return 2", b"+    return 3")
    assert parse_diff(changed).normalized_hash() != diff.normalized_hash()


def test_ranges_must_stay_within_one_hunk() -> None:
    text = (CORPORA / "bug_diffs" / "cases" / "PySnooper-2" / "pr.diff").read_bytes()
    f = parse_diff(text).files[0]
    first, second = f.hunks[1], f.hunks[2]
    assert f.range_commentable(first.new_start, first.new_end)
    assert not f.range_commentable(first.new_start, second.new_start)


@pytest.mark.parametrize(
    "bad",
    [b"this is not a diff\n", b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n+only\n"],
)
def test_not_a_diff_is_a_clear_error(bad: bytes) -> None:
    with pytest.raises(DiffError):
        parse_diff(bad)


def test_empty_diff_is_empty() -> None:
    assert len(parse_diff(b"")) == 0
