"""Store stage: one writer per database. ``hold_writer_lock(database, role)`` takes an exclusive
``fcntl.flock`` on ``<database>.lock`` for as long as the block runs, with the holder's pid and
role written in the file; ``holder(database)`` reads who has it. The kernel drops the lock when
its process ends, even by kill -9, so a dead holder never blocks the next one.

The lock file is never deleted: a process could then lock a fresh file while another still
holds the old one, and both would believe they are alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import DatabaseInUse, StoreError

DAEMON = "monitor run"  # the role of the daemon: waiting for it would last its whole life


@dataclass(frozen=True, slots=True)
class Holder:
    """What the lock file says about the process holding it."""

    pid: int
    role: str
    since: str

    def describe(self) -> str:
        return f"`{self.role}` (pid {self.pid}, since {self.since})"


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def holder(database: Path) -> Holder | None:
    """Who the lock file names, or None (no file, or not written yet). The file is read
    whether or not the lock is held: call this after failing to take it."""
    try:
        text = lock_path(database).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    try:
        return Holder(int(fields["pid"]), fields.get("role", "?"), fields.get("since", "?"))
    except (KeyError, ValueError):
        return None


def _refused(database: Path, who: Holder | None, hint: str) -> DatabaseInUse:
    named = who.describe() if who else "another process (its pid is not written yet)"
    return DatabaseInUse(f"{database} is in use by {named}: {hint}",
                         pid=who.pid if who else None)


@contextlib.contextmanager
def hold_writer_lock(database: Path, role: str, *, wait: float = 0.0,
                     hint: Callable[[Holder | None], str] = lambda who: "wait for it to end",
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> Iterator[Holder]:
    """Hold the database's writer lock while the block runs. Taken at once, or within ``wait``
    seconds, except that a daemon is never waited for (it holds the lock for its life): else
    DatabaseInUse naming the holder's pid, and ``hint(holder)`` saying what to do."""
    path = lock_path(database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not truncated on open: the holder's pid stays readable until we hold the lock.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except PermissionError:
        # Made by another user (root running a command): flock works on a descriptor opened
        # for reading too; only our pid cannot be written.
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise StoreError(f"cannot open the lock file {path}: {e}") from e
    except OSError as e:
        raise StoreError(f"cannot open the lock file {path}: {e}") from e
    held = False
    try:
        deadline = clock() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                who = holder(database)
                if (who is not None and who.role == DAEMON) or clock() >= deadline:
                    raise _refused(database, who, hint(who)) from None
                sleep(0.1)
        me = Holder(os.getpid(), role, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        with contextlib.suppress(OSError):  # read-only: the lock holds, unnamed
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid={me.pid}\nrole={me.role}\nsince={me.since}\n".encode(), 0)
        yield me
    finally:
        if held:  # emptied while still held, so that nobody reads our pid once we are gone
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        # Closing the descriptor releases the lock; the file stays (see the module's note).
        os.close(fd)
