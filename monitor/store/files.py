"""Files the monitor writes for people (the database, backups, exports, case files): readable
by their owner alone (0600 whatever the umask: they hold what analysts collect and what the
notifiers were told) and never written through a symbolic link someone planted in the folder."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO, Any

from monitor.errors import StoreError

PRIVATE = 0o600
_FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
          "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}


def open_private(path: Path, mode: str = "w", **text: Any) -> IO[Any]:
    """``open(path, mode)`` for "r", "w", "a" or "x", with "b" for bytes; ``text`` is open()'s
    encoding and newline. A file it creates is 0600; a symbolic link at ``path`` is refused
    (O_NOFOLLOW), as is anything but a regular file."""
    # O_NONBLOCK: a FIFO planted in place of the file fails here instead of hanging the
    # command (a regular file ignores the flag).
    flags = _FLAGS[mode.replace("b", "")] | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, PRIVATE)
    except OSError as e:
        if e.errno == errno.ELOOP or path.is_symlink():
            raise StoreError(f"{path} is a symbolic link: refusing to follow it (remove it, or "
                             "write somewhere else)") from e
        raise StoreError(f"cannot open {path}: {e.strerror or e}") from e
    try:
        if not _regular(fd):
            raise StoreError(f"{path} is not a regular file: refusing to write there")
        return os.fdopen(fd, mode, **text)
    except BaseException:
        os.close(fd)
        raise


def _regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def create_private(path: Path) -> None:
    """An empty 0600 file at ``path`` unless one is there (SQLite then fills it, and gives its
    -wal and -shm files the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         PRIVATE))
    except FileExistsError:
        return
    except OSError as e:
        raise StoreError(f"cannot create {path}: {e.strerror or e}") from e


def write_private(path: Path, data: bytes) -> None:
    """``data`` as the whole of ``path``, created 0600, never through a symbolic link."""
    with open_private(path, "wb") as f:
        f.write(data)
