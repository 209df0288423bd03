"""oxlint, shellcheck, zizmor and hadolint on real files: the expected rule fires, and a
repository config that turns it off (or names a plugin) is never read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import corpora
from bot.evaluate import build_workspace, load_dataset
from tools.base import Diagnostic, Workspace
from tools.linter import LINTERS, lint_changed, linter_for, run_linter
from tools.linters.hadolint import hadolint_diagnostics
from tools.linters.oxlint import oxlint_diagnostics
from tools.linters.shellcheck import shellcheck_diagnostics
from tools.linters.zizmor import zizmor_diagnostics
from tools.process import find_program, run_program

PYENV = corpora.ROOT / "lint_fixtures" / "pyenv"
SCRIPT = "libexec/pyenv-which"
DOCKERFILE = "test/Dockerfile"
WORKFLOW = ".github/workflows/modified_scripts_build.yml"
JS_CASE = "js-express-11"
JS_FILE = "lib/response.js"


def _rules(diags: tuple[Diagnostic, ...]) -> set[tuple[str, int, str | None]]:
    return {(d.path, d.line, d.code) for d in diags}


@pytest.fixture
def pyenv(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(PYENV, root)
    return Workspace(root=root, changed_files=frozenset({SCRIPT, DOCKERFILE, WORKFLOW}))


@pytest.fixture
async def express(tmp_path: Path) -> Workspace:
    case = next(c for c in load_dataset(corpora.ROOT / "bug_diffs").cases if c.id == JS_CASE)
    root = await build_workspace(case, tmp_path)
    return Workspace(root=root, changed_files=frozenset({JS_FILE}), timeout=30.0)


async def _control(ws: Workspace, program: str, *args: str) -> str:
    """The program run the naive way (no pinned options), to show the attack config works."""
    done = await run_program(
        [find_program(program), *args],
        cwd=ws.root,
        time_limit=30.0,
        max_output=4_000_000,
        tool="control",
    )
    return done.stdout.decode()


# -- oxlint ---------------------------------------------------------------------------------


async def test_oxlint_reports_the_unused_expression_of_a_real_express_bug(
    express: Workspace,
) -> None:
    found = await oxlint_diagnostics(express, [JS_FILE])
    assert (JS_FILE, 109, "eslint/no-unused-expressions") in _rules(found)
    assert all(d.source == "oxlint" and d.path == JS_FILE for d in found)


async def test_oxlint_ignores_repository_config_ignore_files_and_js_plugins(
    express: Workspace,
) -> None:
    baseline = await oxlint_diagnostics(express, [JS_FILE])
    canary = express.root.parent / "PLUGIN_RAN"
    plugin = f"require('fs').writeFileSync({str(canary)!r}, 'x'); module.exports = {{}};\n"
    (express.root / "evil-plugin.js").write_text(plugin)
    config = (
        '{"jsPlugins": ["./evil-plugin.js"], "categories": {"correctness": "off", '
        '"suspicious": "off"}, "rules": {"no-unused-expressions": "off"}}'
    )
    for folder in (express.root, express.root / "lib"):
        (folder / ".oxlintrc.json").write_text(config)
    (express.root / ".eslintignore").write_text("lib/\n")
    control = await _control(express, "oxlint", "--format=json", JS_FILE)
    assert "no-unused-expressions" not in control, "oxlint reads the repository's config"
    assert await oxlint_diagnostics(express, [JS_FILE]) == baseline
    assert not canary.exists()


# -- shellcheck -----------------------------------------------------------------------------


async def test_shellcheck_finds_a_script_by_its_shebang_and_reports_unquoted_splitting(
    pyenv: Workspace,
) -> None:
    found = await shellcheck_diagnostics(pyenv, [SCRIPT, DOCKERFILE, WORKFLOW])
    assert (SCRIPT, 46, "SC2206") in _rules(found)
    assert {d.path for d in found} == {SCRIPT}


async def test_shellcheck_never_reads_a_shellcheckrc(pyenv: Workspace) -> None:
    baseline = await shellcheck_diagnostics(pyenv, [SCRIPT])
    rc = "disable=SC2206,SC2207,SC2006\nexternal-sources=true\n"
    for folder in (pyenv.root, pyenv.root / "libexec"):
        (folder / ".shellcheckrc").write_text(rc)
    control = await _control(pyenv, "shellcheck", "--format=gcc", SCRIPT)
    assert "SC2206" not in control, "shellcheck reads the repository's .shellcheckrc"
    assert await shellcheck_diagnostics(pyenv, [SCRIPT]) == baseline


# -- zizmor ---------------------------------------------------------------------------------


async def test_zizmor_reports_template_injection_in_a_real_workflow(pyenv: Workspace) -> None:
    found = await zizmor_diagnostics(pyenv, [WORKFLOW, SCRIPT])
    assert (WORKFLOW, 76, "template-injection") in _rules(found)
    assert {d.path for d in found} == {WORKFLOW}


async def test_zizmor_ignores_zizmor_yml_and_ignore_comments(pyenv: Workspace) -> None:
    baseline = await zizmor_diagnostics(pyenv, [WORKFLOW])
    config = "rules:\n  template-injection:\n    disable: true\n"
    (pyenv.root / ".github" / "zizmor.yml").write_text(config)
    (pyenv.root / "zizmor.yml").write_text(config)
    control = await _control(pyenv, "zizmor", "--offline", "--format=json", WORKFLOW)
    assert "template-injection" not in control, "zizmor reads the repository's zizmor.yml"
    assert await zizmor_diagnostics(pyenv, [WORKFLOW]) == baseline


# -- hadolint -------------------------------------------------------------------------------


async def test_hadolint_reports_unpinned_apk_packages(pyenv: Workspace) -> None:
    found = await hadolint_diagnostics(pyenv, [DOCKERFILE, SCRIPT])
    assert (DOCKERFILE, 11, "DL3018") in _rules(found)
    assert {d.path for d in found} == {DOCKERFILE}


async def test_hadolint_ignores_hadolint_yaml_and_ignore_pragmas(pyenv: Workspace) -> None:
    baseline = await hadolint_diagnostics(pyenv, [DOCKERFILE])
    (pyenv.root / ".hadolint.yaml").write_text("ignored:\n  - DL3018\n  - DL3059\n")
    control = await _control(pyenv, "hadolint", "--format=json", DOCKERFILE)
    assert "DL3018" not in control, "hadolint reads the repository's .hadolint.yaml"
    assert await hadolint_diagnostics(pyenv, [DOCKERFILE]) == baseline
    dockerfile = pyenv.root / DOCKERFILE
    lines = dockerfile.read_text().splitlines()
    lines.insert(10, "# hadolint ignore=DL3018")
    dockerfile.write_text("\n".join(lines) + "\n")
    moved = await hadolint_diagnostics(pyenv, [DOCKERFILE])
    assert (DOCKERFILE, 12, "DL3018") in _rules(moved)


# -- choosing and running them together ------------------------------------------------------


async def test_each_file_type_gets_its_own_linter(pyenv: Workspace) -> None:
    (pyenv.root / "tool.py").write_text("print(undefined)\n")
    (pyenv.root / "app.ts").write_text("debugger;\n")
    (pyenv.root / "notes.txt").write_text("nothing to lint\n")
    picked = {
        path: (linter.name if (linter := linter_for(pyenv, path)) else None)
        for path in (SCRIPT, DOCKERFILE, WORKFLOW, "tool.py", "app.ts", "notes.txt")
    }
    assert picked == {
        SCRIPT: "shellcheck",
        DOCKERFILE: "hadolint",
        WORKFLOW: "zizmor",
        "tool.py": "ruff",
        "app.ts": "oxlint",
        "notes.txt": None,
    }
    assert [linter.name for linter in LINTERS] == [
        "ruff",
        "oxlint",
        "shellcheck",
        "zizmor",
        "hadolint",
    ]


async def test_lint_changed_runs_every_linter_and_keeps_going_when_one_fails(
    pyenv: Workspace,
) -> None:
    (pyenv.root / "tool.py").write_text("print(undefined)\n")
    (pyenv.root / "app.ts").write_text("debugger;\n")
    paths = [SCRIPT, DOCKERFILE, WORKFLOW, "tool.py", "app.ts"]
    run = await lint_changed(pyenv, paths)
    assert run.failures == ()
    assert {d.source for d in run.diagnostics} == {
        "ruff",
        "oxlint",
        "shellcheck",
        "zizmor",
        "hadolint",
    }
    (pyenv.root / WORKFLOW).write_text("on: [\n  - x: {\n")
    broken = await lint_changed(pyenv, paths)
    assert [tool for tool, _ in broken.failures] == ["zizmor"]
    assert "failed to parse input" in broken.failures[0][1]
    assert {d.source for d in broken.diagnostics} == {"ruff", "oxlint", "shellcheck", "hadolint"}


async def test_run_linter_uses_the_files_linter(pyenv: Workspace) -> None:
    result = await run_linter(pyenv, SCRIPT)
    assert result.ok and result.content.startswith("shellcheck: ")
    assert f"{SCRIPT}:46:" in result.content and "SC2206" in result.content
