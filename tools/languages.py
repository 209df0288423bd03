"""The language of a file by its name: one table for the tools, the context pack and eval."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

BY_SUFFIX: Mapping[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".java": "java",
    ".rs": "rust",
    ".rb": "ruby",
    ".cs": "csharp",
    ".sh": "shell",
    ".bash": "shell",
}
OTHER = "other"


def language_of(path: str) -> str:
    """``python``, ``javascript``, ... ``github-actions``, ``dockerfile``, else ``other``."""
    p = PurePosixPath(path)
    if p.parent.as_posix().endswith(".github/workflows") and p.suffix in (".yml", ".yaml"):
        return "github-actions"
    if p.name.startswith(("Dockerfile", "Containerfile")) or p.name.endswith(".Dockerfile"):
        return "dockerfile"
    return BY_SUFFIX.get(p.suffix, OTHER)
