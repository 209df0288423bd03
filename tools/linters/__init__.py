"""One module per external linter: its pinned command line, its output parser, its file types.

Every linter runs isolated from the repository's configuration: the options that would read a
config file from the workspace, load plugins or honour the PR's own ignore lists are pinned on
the command line, and the environment is the clean one of ``tools.process``.
"""
