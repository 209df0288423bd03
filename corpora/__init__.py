"""Where prwarden's test and bench data lives: real material, each folder with its SOURCE.md.

Everything a test, a bench script or ``prwarden eval`` opens is under this folder, so a clone
has all it needs. ``ROOT / "injections" / "injections.jsonl"`` is how callers reach a file.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def path(*parts: str) -> Path:
    """The path of one corpus file or folder; raises FileNotFoundError if it is not there."""
    target = ROOT.joinpath(*parts)
    if not target.exists():
        raise FileNotFoundError(f"corpus file missing: {target.relative_to(ROOT)}")
    return target
