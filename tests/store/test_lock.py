"""The writer lock (store/lock.py) on real files: taken and released, refused with the holder's
pid, waited for within a bound (a fake clock), never waited for when a daemon holds it, and
dropped by the kernel when its process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.helpers import REPO
from support.waiting import wait_until

from monitor.errors import DatabaseInUse, MonitorError
from monitor.store.lock import DAEMON, Holder, hold_writer_lock, holder, lock_path


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def test_held_then_released(tmp_path: Path) -> None:
    db = tmp_path / "data" / "monitor.db"  # the folder does not exist yet
    with hold_writer_lock(db, "monitor run --once") as me:
        assert me.pid == os.getpid() and me.role == "monitor run --once"
        assert lock_path(db) == tmp_path / "data" / "monitor.db.lock"
        assert holder(db) == me
    # Released, and emptied: nobody reads a pid that is gone.
    assert lock_path(db).exists() and holder(db) is None
    with hold_writer_lock(db, "monitor import"):
        pass


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    with hold_writer_lock(db, DAEMON):
        with pytest.raises(DatabaseInUse) as refused:
            with hold_writer_lock(db, DAEMON, hint=lambda who: "one daemon per database"):
                pass
    message = str(refused.value)
    assert refused.value.pid == os.getpid()
    assert f"in use by `monitor run` (pid {os.getpid()}" in message
    assert message.endswith("one daemon per database")
    assert isinstance(refused.value, MonitorError)  # the CLI prints it and exits 1


def test_another_command_is_waited_for_within_the_bound(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    clock = FakeClock()
    with hold_writer_lock(db, "monitor run --once"):
        with pytest.raises(DatabaseInUse, match=r"monitor run --once.*still busy"):
            with hold_writer_lock(db, "monitor import", wait=5.0, clock=clock,
                                  sleep=clock.sleep, hint=lambda who: "still busy"):
                pass
    assert 5.0 <= clock.now < 5.3 and 50 <= clock.sleeps <= 52  # polled every 0.1 s, then gave up


def test_a_daemon_is_never_waited_for(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    clock = FakeClock()
    with hold_writer_lock(db, DAEMON):
        with pytest.raises(DatabaseInUse, match="systemctl"):
            with hold_writer_lock(db, "monitor run --once", wait=60.0, clock=clock,
                                  sleep=clock.sleep, hint=lambda who: "systemctl stop monitor"):
                pass
    assert clock.sleeps == 0


@pytest.mark.parametrize("text", ["", "garbage", "pid=abc\nrole=x\n", "role=monitor run\n"])
def test_an_unreadable_lock_file_names_no_holder(tmp_path: Path, text: str) -> None:
    db = tmp_path / "monitor.db"
    lock_path(db).write_text(text)
    assert holder(db) is None


def test_holder_read_from_the_file(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    lock_path(db).write_text("pid=4242\nrole=monitor run\nsince=2026-12-04T10:00:00+0000\n")
    assert holder(db) == Holder(4242, "monitor run", "2026-12-04T10:00:00+0000")


HOLD = """
import sys, time
from pathlib import Path
from monitor.store.lock import hold_writer_lock
with hold_writer_lock(Path(sys.argv[1]), "monitor run"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_kill_9_of_the_holder_frees_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE,
                             env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert child.stdout is not None and child.stdout.readline() == b"held\n"
        with pytest.raises(DatabaseInUse) as refused:
            with hold_writer_lock(db, "monitor run"):
                pass
        assert refused.value.pid == child.pid
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # The kernel dropped the lock with the process: no stale lock to clean up by hand.
    assert wait_until(lambda: _free(db), 5)
    with hold_writer_lock(db, "monitor run") as me:
        assert holder(db) == me


def _free(db: Path) -> bool:
    try:
        with hold_writer_lock(db, "probe"):
            return True
    except DatabaseInUse:
        return False
