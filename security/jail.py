"""The path jail: every path a tool touches, and every archive member, stays in the workspace.

``resolve_in_workspace`` turns an untrusted relative path into a fully resolved path inside
the workspace root, or raises ``JailError``. ``safe_extract_tar`` unpacks a GitHub tarball with
tarfile's ``data`` filter, refusing any member that would land outside the destination and
skipping links and special files.
"""

from __future__ import annotations

import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from prwarden.errors import JailError, ToolError

MAX_PATH_CHARS = 1024
MAX_COMPONENT_CHARS = 255


def resolve_in_workspace(root: Path, path: str, *, must_exist: bool = True) -> Path:
    """Resolve ``path`` (relative, untrusted) inside ``root``, following symlinks fully."""
    _check_path_text(path)
    base = root.resolve(strict=True)
    target = (base / path).resolve(strict=False)
    if not target.is_relative_to(base):
        raise JailError(f"path leaves the workspace: {path!r}", path=path)
    if not target.exists():
        if must_exist:
            raise JailError(f"no such file in the workspace: {path!r}", path=path)
        return target
    mode = target.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise JailError(f"not a regular file or directory: {path!r}", path=path)
    return target


def relative_to_root(root: Path, resolved: Path) -> str:
    """The POSIX path of ``resolved`` relative to the resolved ``root``."""
    return resolved.relative_to(root.resolve()).as_posix()


def _check_path_text(path: str) -> None:
    if not path:
        raise JailError("empty path", path=path)
    if "\x00" in path:
        raise JailError("path contains a NUL byte", path=path.replace("\x00", "\\0"))
    if len(path) > MAX_PATH_CHARS:
        raise JailError(f"path longer than {MAX_PATH_CHARS} characters", path=path[:80])
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith("\\") or (len(path) > 1 and path[1] == ":"):
        raise JailError(f"absolute paths are not allowed: {path!r}", path=path)
    for part in pure.parts:
        if part == "..":
            raise JailError(f"'..' is not allowed in paths: {path!r}", path=path)
        if len(part) > MAX_COMPONENT_CHARS:
            raise JailError(f"path component longer than {MAX_COMPONENT_CHARS}", path=path[:80])


@dataclass(frozen=True, slots=True)
class Extracted:
    """What ``safe_extract_tar`` wrote (relative file paths) and skipped (path, reason)."""

    files: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]


def safe_extract_tar(
    archive: Path,
    dest: Path,
    *,
    max_bytes: int,
    max_members: int = 100_000,
    strip_top_dir: bool = True,
) -> Extracted:
    """Extract ``archive`` into ``dest``; refuse the whole archive if any member escapes.

    Symlinks, hardlinks, devices, fifos and sparse files are skipped and listed. The total
    uncompressed size of regular files is capped at ``max_bytes``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve(strict=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            plan, skipped = _plan(
                tar, max_bytes=max_bytes, max_members=max_members, strip_top_dir=strip_top_dir
            )
            for member in plan:
                try:
                    tar.extract(member, dest, filter="data")
                except tarfile.FilterError as exc:
                    raise JailError(f"archive member refused: {exc}", path=member.name) from exc
    except (tarfile.ReadError, tarfile.CompressionError, EOFError) as exc:
        raise ToolError(f"not a readable tar archive: {exc}", tool="workspace") from exc
    files = tuple(m.name for m in plan if m.isfile())
    return Extracted(files=files, skipped=tuple(skipped))


def _plan(
    tar: tarfile.TarFile, *, max_bytes: int, max_members: int, strip_top_dir: bool
) -> tuple[list[tarfile.TarInfo], list[tuple[str, str]]]:
    """Check every member before anything is written; return the renamed members to extract."""
    plan: list[tarfile.TarInfo] = []
    skipped: list[tuple[str, str]] = []
    total = 0
    top: str | None = None
    for count, member in enumerate(tar, start=1):
        if count > max_members:
            raise JailError(f"archive has more than {max_members} members", path=member.name)
        name = _member_name(member.name)
        if strip_top_dir:
            head, _, rest = name.partition("/")
            top = head if top is None else top
            if head != top:
                raise JailError(
                    f"member outside the top directory: {member.name!r}", path=member.name
                )
            name = rest.strip("/")
            if not name:
                continue
        reason = _skip_reason(member)
        if reason:
            skipped.append((name, reason))
            continue
        if member.isfile():
            total += member.size
            if total > max_bytes:
                raise JailError(f"archive expands past {max_bytes} bytes", path=member.name)
        plan.append(member.replace(name=name, deep=False))
    return plan, skipped


def _member_name(raw: str) -> str:
    if "\x00" in raw or raw.startswith(("/", "\\")) or (len(raw) > 1 and raw[1] == ":"):
        raise JailError(f"absolute archive member: {raw!r}", path=raw)
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if ".." in parts:
        raise JailError(f"archive member leaves the destination: {raw!r}", path=raw)
    if not parts:
        raise JailError(f"empty archive member name: {raw!r}", path=raw)
    return "/".join(parts)


def _skip_reason(member: tarfile.TarInfo) -> str | None:
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "fifo"
    if member.issparse():
        return "sparse file"
    if not (member.isfile() or member.isdir()):
        return "unsupported member type"
    return None
