"""The database deleted or replaced under a running daemon: the daemon notices within a few
seconds, logs why and stops with a non-zero exit (systemd's Restart= then starts it on the file
now there), instead of writing on to a file nobody can read, lost at exit."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from support.fakesystemd import start_daemon, stop_daemon
from support.feedserver import FeedServer, rss
from support.helpers import write_config
from support.waiting import wait_until


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_the_daemon_stops_when_its_database_goes(tmp_path: Path, feed_server: FeedServer,
                                                 how: str) -> None:
    url = feed_server.put("/feed.xml", rss("Quiet feed", []), "application/rss+xml")
    config = write_config(tmp_path, [url], fetch_pages=False)
    db = tmp_path / "monitor.db"
    log = tmp_path / "daemon.log"
    process = start_daemon(config, log, {})
    try:
        assert wait_until(lambda: "monitor running" in log.read_text(), 60), log.read_text()
        if how == "deleted":
            for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                path.unlink(missing_ok=True)
        else:  # a backup restored over it while it runs
            other = tmp_path / "restored.db"
            sqlite3.connect(other).close()
            os.replace(other, db)
        assert wait_until(lambda: process.poll() is not None, 60), log.read_text()
    finally:
        stop_daemon(process)
    text = log.read_text()
    assert process.returncode == 1, text
    assert f"the database {db} was {how}" in text
    assert "ERROR" in text and "monitor: error:" in text
