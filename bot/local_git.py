"""The diff of a local review, from git, so that the diff and the tools see the same tree.

The tools read the working tree, so the diff is the working tree against the merge base of
the base ref and ``HEAD`` (``git diff $(git merge-base BASE HEAD)``): with a clean tree that
is exactly ``git diff BASE...HEAD``, and with uncommitted edits to tracked files those edits
are reviewed too, and the review says so. Untracked files are not part of the diff.

With no ``--base`` the base is the branch's upstream, else the default branch of the remote
(``origin`` first), and the review says which. Failures carry git's own message.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from prwarden.errors import DiffError

GIT_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Base:
    ref: str
    why: str


@dataclass(frozen=True, slots=True)
class LocalDiff:
    diff: bytes
    base: Base
    merge_base: str
    uncommitted: tuple[str, ...]

    @property
    def description(self) -> str:
        count = len(self.uncommitted)
        edits = f"uncommitted edits to {count} file{'s' if count != 1 else ''}"
        tree = f"the working tree (with {edits})" if count else "HEAD"
        return f"{tree} against {self.base.ref} ({self.base.why})"


class GitError(DiffError):
    """git refused; the message is git's own."""


def git_bytes(repo: Path, *args: str) -> bytes:
    """Run git in ``repo``; its standard output, or ``GitError`` with what git said."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed; pass --diff FILE") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took longer than {GIT_TIMEOUT:g} s") from None
    if done.returncode != 0:
        raise GitError(git_message(done.stderr.decode(errors="replace")) or "git failed")
    return done.stdout


def git(repo: Path, *args: str) -> str:
    return git_bytes(repo, *args).decode(errors="replace")


def git_message(stderr: str) -> str:
    """git's error lines (``fatal:``, ``error:``), without the usage text it may add."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return "\n".join(errors or lines)


def _try(repo: Path, *args: str) -> str | None:
    try:
        return git(repo, *args).strip() or None
    except GitError:
        return None


def default_base(repo: Path) -> Base:
    """The branch's upstream, else the remote's default branch."""
    upstream = _try(repo, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
    if upstream:
        return Base(upstream, "the branch's upstream")
    remotes = sorted((_try(repo, "remote") or "").split(), key=lambda r: r != "origin")
    for remote in remotes:
        head = _try(repo, "symbolic-ref", "--quiet", "--short", f"refs/remotes/{remote}/HEAD")
        if head:
            return Base(head, f"the default branch of {remote}")
    for remote in remotes:
        for branch in ("main", "master"):
            if _try(repo, "rev-parse", "--verify", "--quiet", f"refs/remotes/{remote}/{branch}"):
                why = (
                    f"{remote} records no default branch (git remote set-head {remote} --auto "
                    f"records it); its {branch} is used"
                )
                return Base(f"{remote}/{branch}", why)
    where = f"remote {', '.join(remotes)}" if remotes else "no remote"
    raise GitError(
        f"no --base given, and neither an upstream for this branch nor a default branch of "
        f"a remote ({where}) to use; pass --base REF (for example --base main)"
    )


def local_diff(repo: Path, base: str | None) -> LocalDiff:
    """The diff to review and what it compares."""
    git(repo, "rev-parse", "--git-dir")
    chosen = Base(base, "--base") if base else default_base(repo)
    merge_base = git(repo, "merge-base", chosen.ref, "HEAD").strip()
    status = git(repo, "status", "--porcelain", "--untracked-files=no")
    uncommitted = tuple(line[3:] for line in status.splitlines() if len(line) > 3)
    diff = git_bytes(repo, "diff", "--no-color", "--no-ext-diff", merge_base)
    return LocalDiff(diff, chosen, merge_base, uncommitted)
