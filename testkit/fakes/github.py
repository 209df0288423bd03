"""A fake GitHub REST API on loopback that answers like GitHub and refuses what GitHub refuses.

Every request is matched against GitHub's OpenAPI description (unknown method or path → 404),
authenticated (``/app`` endpoints need an RS256 App JWT, the rest an installation token this
server issued), and its query and JSON body validated (→ 422 with GitHub's
``Invalid request.`` message). Each request is recorded in ``requests``; the ones that did not
validate are also in ``invalid_requests``.

State is scripted by tests: ``add_commit`` (files per commit, tarball and contents API),
``add_pull`` (metadata and a unified diff; inline review comments must anchor on it),
``set_permission``, ``add_reaction``, ``set_compare``, ``add_team_member``; faults with
``fail_next`` and ``delay``. The web host's OAuth endpoints are served too (``web``, see
``testkit.fakes.github_web``); the user tokens they issue authenticate ``GET /user`` and team
membership lookups. SARIF uploads to code scanning are decoded and kept in ``sarif_uploads``.
Tarballs are served as GitHub does: a 302 to a codeload-like URL on this server
that returns a gzip tar whose top directory is ``<owner>-<repo>-<sha7>/``.

The fake is split by concern and combined here: ``github_server`` (dispatch, OpenAPI
validation, authentication, faults, rate headers), ``github_http`` (handler context, GitHub's
error bodies, pagination), ``github_state`` (what it holds, and the scripting methods),
``github_rules`` (GitHub's messages and limits, where a comment may anchor, the GraphQL
query), and one module of handlers per API area: ``github_installations``, ``github_repos``,
``github_pulls``, ``github_checks``, ``github_issues``.
"""

from __future__ import annotations

from testkit.fakes.github_checks import CheckHandlers
from testkit.fakes.github_http import DIFF_MEDIA_TYPE, DOCS, Handler, error_response
from testkit.fakes.github_installations import InstallationHandlers
from testkit.fakes.github_issues import IssueHandlers
from testkit.fakes.github_pulls import PullHandlers
from testkit.fakes.github_repos import RepoHandlers
from testkit.fakes.github_rules import (
    CONTENTS_INLINE_LIMIT,
    SECONDARY_RATE_LIMIT_MESSAGE,
    TOO_LARGE_MESSAGE,
    anchor_error,
    file_patch,
)
from testkit.fakes.github_server import SPEC_PATH, GitHubServer, load_spec
from testkit.fakes.github_state import FakePull, FakeRepo, Fault, RecordedRequest, build_tarball

__all__ = [
    "CONTENTS_INLINE_LIMIT",
    "DIFF_MEDIA_TYPE",
    "DOCS",
    "SECONDARY_RATE_LIMIT_MESSAGE",
    "SPEC_PATH",
    "TOO_LARGE_MESSAGE",
    "FakeGitHub",
    "FakePull",
    "FakeRepo",
    "Fault",
    "RecordedRequest",
    "anchor_error",
    "build_tarball",
    "error_response",
    "file_patch",
    "load_spec",
]


class FakeGitHub(
    InstallationHandlers,
    RepoHandlers,
    PullHandlers,
    CheckHandlers,
    IssueHandlers,
    GitHubServer,
):
    """GitHub's REST API for one App, on loopback, scripted per test."""

    def _handler_table(self) -> dict[str, Handler]:
        table: dict[str, Handler] = {}
        for routes in (
            self._installation_routes(),
            self._repo_routes(),
            self._pull_routes(),
            self._check_routes(),
            self._issue_routes(),
        ):
            twice = sorted(table.keys() & routes.keys())
            if twice:
                raise ValueError(f"two API areas answer {twice}")
            table.update(routes)
        return table
