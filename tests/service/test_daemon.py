"""`monitor run` as a real child process: it picks up new items and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from support.feedserver import FeedServer, rss
from support.helpers import REPO, write_config
from support.waiting import wait_until


def titles(db: Path) -> set[str]:
    if not db.exists():
        return set()
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("select title from clippings")}
    except sqlite3.OperationalError:  # the daemon has not created the schema yet
        return set()
    finally:
        conn.close()




def test_daemon_picks_up_new_items_and_stops_on_sigterm(tmp_path: Path, feed_server: FeedServer) -> None:
    first = {"title": "First story of the day", "link": feed_server.url("/a"),
             "summary": "A summary of the first story."}
    second = {"title": "A story published after the daemon started", "link": feed_server.url("/b"),
              "summary": "A summary of the second story."}
    url = feed_server.put("/feed.xml", rss("Test feed", [first]), "application/rss+xml")
    config = write_config(tmp_path, [url], fetch_pages=False, interval="1s")
    db = tmp_path / "monitor.db"
    log = (tmp_path / "daemon.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                               stdout=log, stderr=subprocess.STDOUT,
                               env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert wait_until(lambda: first["title"] in titles(db), 30), (tmp_path / "daemon.log").read_text()
        feed_server.put("/feed.xml", rss("Test feed", [second, first]), "application/rss+xml")
        assert wait_until(lambda: second["title"] in titles(db), 30), (tmp_path / "daemon.log").read_text()
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = process.wait(timeout=10)
        assert code == 0, (tmp_path / "daemon.log").read_text()
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    assert titles(db) == {first["title"], second["title"]}
    conn = sqlite3.connect(db)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_a_second_daemon_on_the_same_database_refuses_to_start(
        tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.put("/feed.xml", rss("Test feed", [
        {"title": "A story", "link": feed_server.url("/a"), "summary": "A summary."}]),
        "application/rss+xml")
    config = write_config(tmp_path, [url], fetch_pages=False, interval="1h")
    db = tmp_path / "monitor.db"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    log = (tmp_path / "daemon.log").open("w")
    first = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                             stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        assert wait_until(lambda: "A story" in titles(db), 30), (tmp_path / "daemon.log").read_text()
        lock = tmp_path / "monitor.db.lock"
        assert f"pid={first.pid}\nrole=monitor run\n" in lock.read_text()
        second = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                                capture_output=True, text=True, env=env, timeout=30)
        assert second.returncode == 1
        assert f"is in use by `monitor run` (pid {first.pid}" in second.stderr
        assert "one daemon per database" in second.stderr
        # It stopped before opening anything: no database, no listener, no extraction workers.
        # the refusal is all it says, beside the configuration's warnings
        said = [line for line in second.stderr.splitlines() if " WARNING " not in line]
        assert len(said) == 1 and "monitor running" not in second.stderr
        # A cycle by hand beside the daemon is refused at once, with what to do instead.
        once = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "run",
                               "--once"], capture_output=True, text=True, env=env, timeout=30)
        assert once.returncode == 1 and f"(pid {first.pid}" in once.stderr
        assert "systemctl reload monitor" in once.stderr
        assert first.poll() is None  # and the first one runs on
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        log.close()
    # Stopped: the lock is free, and a cycle by hand now runs.
    done = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "run",
                           "--once"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
