"""Tar and gzip archives whose every byte follows from their contents.

Entries are sorted by path, carry one fixed mtime (the commit's date), numeric
owners only (no user or group names), explicit modes, and no device numbers or
extended headers; gzip streams carry no file name and mtime 0. Two runs over the
same inputs give the same bytes, whatever the build directory, clock or umask.
"""

import gzip
import io
import tarfile
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One file system entry: a directory, a regular file or a symbolic link."""

    path: str  # relative, without a leading "/" (e.g. "etc/passwd")
    kind: str  # "dir", "file" or "symlink"
    mode: int
    data: bytes = b""  # a file's contents
    target: str = ""  # a symlink's target
    uid: int = 0
    gid: int = 0


def directory(path, mode=0o755, uid=0, gid=0):
    return Entry(path, "dir", mode, uid=uid, gid=gid)


def file(path, data, mode=0o644, uid=0, gid=0):
    return Entry(path, "file", mode, data=data, uid=uid, gid=gid)


def with_parents(entries):
    """The entries plus every parent directory none of them names (0755, root)."""
    named = {e.path for e in entries}
    out = list(entries)
    for e in entries:
        parts = e.path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            if parent not in named:
                named.add(parent)
                out.append(directory(parent))
    return out


def tar_bytes(entries, mtime):
    """An uncompressed ustar archive of the entries, sorted by path."""
    paths = [e.path for e in entries]
    if len(paths) != len(set(paths)):
        raise ValueError("an archive path appears twice")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for e in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(e.path)
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.uname = info.gname = ""
            info.mtime = mtime
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = e.target
                tar.addfile(info)
            elif e.kind == "file":
                info.type = tarfile.REGTYPE
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                raise ValueError(f"{e.path}: unknown kind {e.kind}")
    return buf.getvalue()


def gzip_bytes(data):
    """gzip at level 9, without file name and with mtime 0."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()
