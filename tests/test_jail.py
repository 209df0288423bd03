"""The path jail and the tarball extractor refuse every way out of the workspace."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from prwarden.errors import JailError, ToolError
from security.jail import Extracted, resolve_in_workspace, safe_extract_tar

TOP = "octo-repo-0123abc"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    return root


def test_resolves_a_file_inside(ws: Path) -> None:
    assert resolve_in_workspace(ws, "pkg/mod.py") == (ws / "pkg" / "mod.py").resolve()
    assert resolve_in_workspace(ws, "./pkg/mod.py") == (ws / "pkg" / "mod.py").resolve()


@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.txt",
        "pkg/../../outside/secret.txt",
        "pkg/..",
        "/etc/passwd",
        "\\etc\\passwd",
        "C:/Windows/win.ini",
        "pkg/mod.py\x00.txt",
        "",
        "a/" * 600,
        "x" * 300,
    ],
)
def test_refuses_paths_out_or_malformed(ws: Path, path: str) -> None:
    with pytest.raises(JailError) as info:
        resolve_in_workspace(ws, path)
    assert info.value.path is not None


def test_refuses_symlink_leaving_the_workspace(ws: Path) -> None:
    (ws / "link.txt").symlink_to(ws.parent / "outside" / "secret.txt")
    (ws / "linkdir").symlink_to(ws.parent / "outside")
    (ws / "chain").symlink_to(ws / "linkdir")
    for path in ("link.txt", "linkdir/secret.txt", "chain/secret.txt", "linkdir"):
        with pytest.raises(JailError, match="leaves the workspace"):
            resolve_in_workspace(ws, path)


def test_follows_symlink_that_stays_inside(ws: Path) -> None:
    (ws / "alias.py").symlink_to(ws / "pkg" / "mod.py")
    assert resolve_in_workspace(ws, "alias.py") == (ws / "pkg" / "mod.py").resolve()


def test_refuses_fifo(ws: Path) -> None:
    os.mkfifo(ws / "pipe")
    with pytest.raises(JailError, match="not a regular file"):
        resolve_in_workspace(ws, "pipe")


def test_missing_file(ws: Path) -> None:
    with pytest.raises(JailError, match="no such file"):
        resolve_in_workspace(ws, "nope.py")
    assert resolve_in_workspace(ws, "nope.py", must_exist=False) == ws.resolve() / "nope.py"


def _tarball(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.pax_headers = {"comment": "0123abc"}
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info, None


def _dir(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def test_extracts_github_tarball_and_skips_links(tmp_path: Path) -> None:
    archive = _tarball(
        tmp_path / "a.tar.gz",
        [
            _dir(f"{TOP}/"),
            _dir(f"{TOP}/src"),
            _file(f"{TOP}/src/app.py", b"print('hi')\n"),
            _file(f"{TOP}/README.md", b"# hi\n"),
            _special(f"{TOP}/passwd", tarfile.SYMTYPE, "/etc/passwd"),
            _special(f"{TOP}/hard", tarfile.LNKTYPE, f"{TOP}/README.md"),
            _special(f"{TOP}/etc", tarfile.SYMTYPE, "/etc"),
            _file(f"{TOP}/etc/canary", b"through the link\n"),
            _special(f"{TOP}/dev", tarfile.CHRTYPE),
            _special(f"{TOP}/fifo", tarfile.FIFOTYPE),
        ],
    )
    dest = tmp_path / "dest"
    result = safe_extract_tar(archive, dest, max_bytes=10_000)
    assert isinstance(result, Extracted)
    assert set(result.files) == {"src/app.py", "README.md", "etc/canary"}
    assert dict(result.skipped) == {
        "passwd": "symlink",
        "hard": "hardlink",
        "etc": "symlink",
        "dev": "device",
        "fifo": "fifo",
    }
    assert (dest / "src" / "app.py").read_bytes() == b"print('hi')\n"
    assert not (dest / "passwd").exists() and not (dest / "hard").exists()
    assert not (dest / "etc").is_symlink()
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    assert not Path("/etc/canary").exists()


@pytest.mark.parametrize(
    "evil",
    [f"{TOP}/../../canary.txt", "/tmp/prwarden-jail-canary.txt", f"{TOP}/a/../../../canary.txt"],
)
def test_member_outside_dest_refuses_whole_archive(tmp_path: Path, evil: str) -> None:
    archive = _tarball(
        tmp_path / "evil.tar.gz",
        [_file(f"{TOP}/ok.txt", b"ok\n"), _file(evil, b"pwned\n")],
    )
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(JailError):
        safe_extract_tar(archive, dest, max_bytes=10_000)
    assert not (tmp_path / "canary.txt").exists()
    assert not (tmp_path / "deep" / "canary.txt").exists()
    assert not Path("/tmp/prwarden-jail-canary.txt").exists()
    assert list(dest.iterdir()) == []


def test_size_cap_refuses_before_writing(tmp_path: Path) -> None:
    archive = _tarball(
        tmp_path / "big.tar.gz",
        [_file(f"{TOP}/a.bin", b"\0" * 6000), _file(f"{TOP}/b.bin", b"\0" * 6000)],
    )
    dest = tmp_path / "dest"
    with pytest.raises(JailError, match="expands past 10000 bytes"):
        safe_extract_tar(archive, dest, max_bytes=10_000)
    assert list(dest.iterdir()) == []
    assert safe_extract_tar(archive, dest, max_bytes=12_000).files == ("a.bin", "b.bin")


def test_member_count_cap(tmp_path: Path) -> None:
    archive = _tarball(
        tmp_path / "many.tar.gz", [_file(f"{TOP}/f{i}.txt", b"x") for i in range(20)]
    )
    with pytest.raises(JailError, match="more than 10 members"):
        safe_extract_tar(archive, tmp_path / "dest", max_bytes=10_000, max_members=10)


def test_second_top_directory_refused(tmp_path: Path) -> None:
    archive = _tarball(
        tmp_path / "two.tar.gz", [_file(f"{TOP}/a.txt", b"a"), _file("other-top/b.txt", b"b")]
    )
    with pytest.raises(JailError, match="outside the top directory"):
        safe_extract_tar(archive, tmp_path / "dest", max_bytes=10_000)


def test_without_stripping(tmp_path: Path) -> None:
    archive = _tarball(tmp_path / "plain.tar.gz", [_file("a/b.txt", b"b")])
    result = safe_extract_tar(archive, tmp_path / "dest", max_bytes=100, strip_top_dir=False)
    assert result.files == ("a/b.txt",)
    assert (tmp_path / "dest" / "a" / "b.txt").read_text() == "b"


def test_not_an_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not a tarball")
    with pytest.raises(ToolError, match="not a readable tar archive"):
        safe_extract_tar(junk, tmp_path / "dest", max_bytes=100)
