"""Opening a session folder's files without following links, so that resuming an untrusted folder
never writes outside it.

Files are opened with O_NOFOLLOW and must be regular files with no other hard link; temporary
files are created anew with O_EXCL (model.files.write_bytes_atomic). `check_no_links` refuses a
folder holding a symbolic link before anything is written.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from model.files import write_bytes_atomic

SUBFOLDERS = ("audio", "snapshots")  # the folders a session writes into
MAX_META_BYTES = 1 << 20  # a larger session.json is not one sam-live wrote


def check_no_links(folder: Path) -> None:
    """ValueError naming the first symbolic link in a session folder or its sub-folders."""
    for path in _entries(folder):
        if path.is_symlink():
            raise ValueError(f"{path}: a symbolic link (to {os.readlink(path)}) in the session folder; sam-live "
                             "never writes through links: remove it, or resume a copy of the session without it")


def _entries(folder: Path) -> list[Path]:
    try:
        top = sorted(folder.iterdir())
        inner = [p for name in SUBFOLDERS if (sub := folder / name).is_dir() and not sub.is_symlink()
                 for p in sorted(sub.iterdir())]
    except OSError as e:
        raise RuntimeError(f"{folder}: cannot list the session folder ({e})") from e
    return top + inner


def real_dir(path: Path) -> Path:
    """`path` as a directory made if missing; ValueError when it is a link or not a directory."""
    try:
        path.mkdir(exist_ok=True)
        mode = path.lstat().st_mode
    except OSError as e:
        raise RuntimeError(f"{path}: cannot make the folder ({e})") from e
    if not stat.S_ISDIR(mode):
        raise ValueError(f"{path}: not a folder (a link or a file); sam-live never writes through links: "
                         "move it away and resume again")
    return path


def open_append(path: Path) -> int:
    """A descriptor appending to `path`, created if missing; ValueError for a link, FIFO or hard-linked file."""
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ValueError(f"{path}: a symbolic link; sam-live never writes through links: "
                             "move it away and resume again") from e
        raise RuntimeError(f"{path}: cannot open for writing ({e})") from e
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        raise ValueError(f"{path}: not a plain file of this session (a device, a pipe or a file with "
                         f"{info.st_nlink} hard links); move it away and resume again")
    return fd


def ends_mid_line(fd: int) -> bool:
    """Whether the file ends with a line cut short (no final newline)."""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace a small JSON file in one step; OSError (a full disk) leaves the old one whole."""
    write_bytes_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def read_json(path: Path) -> Any:
    """The JSON in a small file; ValueError when it is not JSON, RuntimeError when it cannot be read."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_META_BYTES + 1)
    except OSError as e:
        raise RuntimeError(f"{path}: cannot read ({e})") from e
    if len(raw) > MAX_META_BYTES:
        raise ValueError(f"{path}: larger than {MAX_META_BYTES} bytes: not a file sam-live wrote")
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON
        raise ValueError(f"{path}: unreadable ({e})") from e
