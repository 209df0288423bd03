"""The path jail: every path a tool touches, and every archive member, stays in the workspace.

``resolve_in_workspace`` turns an untrusted relative path into a fully resolved path inside
the workspace root, or raises ``JailError``. ``safe_extract_tar`` unpacks a GitHub tarball with
tarfile's ``data`` filter, refusing any member that would land outside the destination and
skipping links and special files.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import re
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from prwarden.errors import JailError, ToolError

MAX_PATH_CHARS = 1024
MAX_COMPONENT_CHARS = 255
MAX_PATH_DEPTH = 128
# Extended headers (pax ``x``/``g``, GNU ``L``/``K`` long names) are read whole into memory by
# tarfile, and CPython before 3.11.10 / 3.12.6 parses pax headers with a regex that is
# quadratic in runs of digits (CVE-2024-6232). The pre-scan refuses archives whose extended
# headers are larger than this, malformed, or hold a long run of digits, before tarfile sees them.
MAX_EXTENDED_HEADER = 64 * 1024
MAX_EXTENDED_TOTAL = 16 * 1024 * 1024
MAX_PAX_DIGIT_RUN = 64
_BLOCK = 512
_EXTENDED = frozenset(b"xgLK")
_DIGIT_RUN = re.compile(rb"[0-9]{%d,}" % (MAX_PAX_DIGIT_RUN + 1))
_NAME_ERRORS = frozenset({errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST})


def resolve_in_workspace(
    root: Path, path: str, *, must_exist: bool = True, root_resolved: bool = False
) -> Path:
    """Resolve ``path`` (relative, untrusted) inside ``root``, following symlinks fully.

    ``root_resolved`` says the caller already resolved ``root`` (one ``resolve`` for many paths).
    """
    _check_path_text(path)
    base = root if root_resolved else root.resolve(strict=True)
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
        check_tar_headers(archive)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise ToolError(f"not a readable tar archive: {exc}", tool="workspace") from exc
    try:
        with tarfile.open(archive, "r:*") as tar:
            plan, skipped = _plan(
                tar, max_bytes=max_bytes, max_members=max_members, strip_top_dir=strip_top_dir
            )
            written: list[tarfile.TarInfo] = []
            for member in plan:
                try:
                    tar.extract(member, dest, filter="data")
                except tarfile.FilterError as exc:
                    raise JailError(f"archive member refused: {exc}", path=member.name) from exc
                except OSError as exc:
                    if exc.errno not in _NAME_ERRORS:
                        raise
                    skipped.append(
                        (member.name[:MAX_PATH_CHARS], f"cannot be written: {exc.strerror}")
                    )
                    continue
                written.append(member)
    except (tarfile.ReadError, tarfile.CompressionError, EOFError) as exc:
        raise ToolError(f"not a readable tar archive: {exc}", tool="workspace") from exc
    files = tuple(m.name for m in written if m.isfile())
    return Extracted(files=files, skipped=tuple(skipped))


def check_tar_headers(archive: Path) -> None:
    """Walk the archive's 512-byte headers (decompressed as a stream, memory bounded) and
    refuse, with ``JailError``, extended headers that are oversized or malformed.

    Data blocks are skipped without being kept. A header this walk cannot read is left for
    tarfile to report.
    """
    total = 0
    with _decompressed(archive) as stream:
        while True:
            block = stream.read(_BLOCK)
            if len(block) < _BLOCK or not block.strip(b"\0"):
                return
            size = _header_size(block)
            if size is None:
                return
            kind = block[156]
            padded = -(-size // _BLOCK) * _BLOCK
            if kind not in _EXTENDED:
                _skip(stream, padded)
                continue
            if size > MAX_EXTENDED_HEADER:
                raise JailError(
                    f"archive has a {size}-byte extended header; at most {MAX_EXTENDED_HEADER}",
                    path="",
                )
            total += size
            if total > MAX_EXTENDED_TOTAL:
                raise JailError(
                    f"archive's extended headers pass {MAX_EXTENDED_TOTAL} bytes", path=""
                )
            data = stream.read(padded)[:size]
            if kind in b"xg":
                _check_pax_records(data)


def _decompressed(archive: Path) -> io.BufferedIOBase:
    with archive.open("rb") as probe:
        magic = probe.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(archive, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(archive, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(archive, "rb")
    return archive.open("rb")


def _header_size(block: bytes) -> int | None:
    field = block[124:136]
    if field[0] & 0x80:
        if field[0] != 0x80:
            return None  # negative base-256: malformed, tarfile refuses it
        return int.from_bytes(field[1:], "big")
    digits = field.replace(b"\0", b" ").strip()
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        return None


def _skip(stream: io.BufferedIOBase, count: int) -> None:
    while count > 0:
        chunk = stream.read(min(count, 1 << 20))
        if not chunk:
            return
        count -= len(chunk)


def _check_pax_records(data: bytes) -> None:
    """Each record is ``"%d %s=%s\\n"`` with an exact length; nothing else is let through."""
    if _DIGIT_RUN.search(data):
        raise JailError(
            f"archive pax header holds a run of more than {MAX_PAX_DIGIT_RUN} digits", path=""
        )
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 12)
        length_text = data[pos:space] if space > pos else b""
        if not length_text.isdigit():
            raise JailError("archive has a malformed pax header record", path="")
        length = int(length_text)
        end = pos + length
        if end > len(data) or end <= space + 1 or data[end - 1] != 0x0A:
            raise JailError("archive has a malformed pax header record", path="")
        if b"=" not in data[space + 1 : end]:
            raise JailError("archive has a malformed pax header record", path="")
        pos = end


def _plan(
    tar: tarfile.TarFile, *, max_bytes: int, max_members: int, strip_top_dir: bool
) -> tuple[list[tarfile.TarInfo], list[tuple[str, str]]]:
    """Check every member before anything is written; return the renamed members to extract."""
    plan: list[tarfile.TarInfo] = []
    skipped: list[tuple[str, str]] = []
    total = 0
    top: str | None = None
    files: set[str] = set()
    dirs: set[str] = set()
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
        reason = _skip_reason(member) or _name_problem(name) or _clash(name, member, files, dirs)
        if reason:
            skipped.append((name[:MAX_PATH_CHARS], reason))
            continue
        parts = name.split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        (dirs if member.isdir() else files).add(name)
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


def _name_problem(name: str) -> str | None:
    """Names git allows and a file system refuses: too long, too deep."""
    parts = name.split("/")
    if len(name) > MAX_PATH_CHARS:
        return f"path longer than {MAX_PATH_CHARS} characters"
    if len(parts) > MAX_PATH_DEPTH:
        return f"path deeper than {MAX_PATH_DEPTH} directories"
    if any(len(p.encode("utf-8", errors="surrogateescape")) > MAX_COMPONENT_CHARS for p in parts):
        return f"a path component longer than {MAX_COMPONENT_CHARS} bytes"
    return None


def _clash(name: str, member: tarfile.TarInfo, files: set[str], dirs: set[str]) -> str | None:
    """A file where a directory already is (or the reverse): the later member is skipped."""
    parts = name.split("/")
    if any("/".join(parts[:i]) in files for i in range(1, len(parts))):
        return "a parent directory is a file in this archive"
    if member.isfile() and name in dirs:
        return "a directory of the same name is in this archive"
    if member.isdir() and name in files:
        return "a file of the same name is in this archive"
    return None


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
