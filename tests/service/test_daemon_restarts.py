"""`monitor run` as a real child process: each feed's backoff and next poll survive a restart;
SIGHUP reloads config.toml (feeds added and removed, an invalid file refused, the old one kept)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.feedserver import rss
from support.helpers import REPO, write_config
from support.hostile import HostileServer
from support.waiting import wait_until


@pytest.fixture
def server(hostile_server: HostileServer) -> HostileServer:
    return hostile_server


class Daemon:
    def __init__(self, config: Path, log: Path) -> None:
        self.log_path = log
        self.log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=str(REPO)))

    def text(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                assert self.process.wait(timeout=10) == 0, self.text()
            finally:
                if self.process.poll() is None:
                    self.process.kill()
                    self.process.wait()
        self.log.close()




def feed_row(db: Path, url: str) -> dict | None:
    if not db.exists():
        return None
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("select * from feeds where url = ?", [url]).fetchone()
        return dict(row) if row else None
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_backoff_and_next_poll_survive_a_restart(tmp_path: Path, server: HostileServer) -> None:
    failing = server.url("/status/500")
    config = write_config(tmp_path, [failing], fetch_pages=False, interval="8s")
    db = tmp_path / "monitor.db"
    log = tmp_path / "daemon.log"

    daemon = Daemon(config, log)
    try:
        assert wait_until(lambda: (feed_row(db, failing) or {}).get("error_count") == 1, 30), daemon.text()
    finally:
        daemon.stop()
    first = feed_row(db, failing)
    assert first is not None
    next_check = when(first["next_check"])
    assert 8 <= (next_check - when(first["last_checked"])).total_seconds() <= 8 * 1.25 + 1
    hits = server.hits["/status/500"]

    daemon = Daemon(config, log)  # a restart, before the next check is due
    try:
        assert wait_until(lambda: "monitor running" in daemon.text().split("stopped")[-1], 30)
        started = dt.datetime.now(dt.timezone.utc)
        assert started < next_check - dt.timedelta(seconds=0.5), "the restart took too long to test"
        # not polled at start: the stored next check holds
        time.sleep(max(0.0, (next_check - started).total_seconds() - 0.5))
        assert server.hits["/status/500"] == hits
        assert wait_until(lambda: (feed_row(db, failing) or {}).get("error_count") == 2, 30), daemon.text()
        second = feed_row(db, failing)
        assert second is not None
        polled = server.hit_times["/status/500"][hits]
        assert polled >= time.monotonic() - (dt.datetime.now(dt.timezone.utc) - next_check).total_seconds() - 0.5
        gap = (when(second["next_check"]) - when(second["last_checked"])).total_seconds()
        assert 16 <= gap <= 16 * 1.25 + 1  # the backoff carried on from the stored count: doubled
        assert when(second["failing_since"]) == when(first["failing_since"])
    finally:
        daemon.stop()


def test_sighup_reloads_feeds_and_refuses_an_invalid_config(tmp_path: Path,
                                                            server: HostileServer) -> None:
    a = server.put("/a.xml", rss("Feed A", [{"title": "Story from A", "link": server.url("/a/1")}]))
    b = server.put("/b.xml", rss("Feed B", [{"title": "Story from B", "link": server.url("/b/1")}]))
    config = write_config(tmp_path, [a], fetch_pages=False, interval="1s")
    db = tmp_path / "monitor.db"
    daemon = Daemon(config, tmp_path / "daemon.log")

    def titles() -> set[str]:
        if not db.exists():
            return set()
        conn = sqlite3.connect(db)
        try:
            return {r[0] for r in conn.execute("select title from clippings")}
        except sqlite3.OperationalError:
            return set()
        finally:
            conn.close()

    try:
        assert wait_until(lambda: "Story from A" in titles(), 30), daemon.text()
        # B added, A removed: without a restart
        write_config(tmp_path, [b], fetch_pages=False, interval="1s")
        daemon.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "Story from B" in titles(), 30), daemon.text()
        assert wait_until(lambda: "configuration reloaded" in daemon.text(), 5)
        time.sleep(1.5)
        hits_a = server.hits["/a.xml"]
        time.sleep(2.5)
        assert server.hits["/a.xml"] == hits_a  # A is no longer polled
        assert server.hits["/b.xml"] >= 2  # B is, every second or so

        # An invalid file is refused; the daemon goes on with the configuration it had.
        good_text = config.read_text()
        config.write_text(good_text.replace('interval = "1s"', 'interval = "soon"'))
        daemon.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "reload refused" in daemon.text(), 10), daemon.text()
        assert "monitor.interval" in daemon.text()
        server.put("/b.xml", rss("Feed B", [
            {"title": "Second story from B", "link": server.url("/b/2")},
            {"title": "Story from B", "link": server.url("/b/1")}]))
        assert wait_until(lambda: "Second story from B" in titles(), 30), daemon.text()
        assert daemon.process.poll() is None
    finally:
        daemon.stop()
