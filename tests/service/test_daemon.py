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
