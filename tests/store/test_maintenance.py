"""Data care on real SQLite files: `monitor db backup` while the daemon writes, `db check`,
`db vacuum`, and retention (`db prune` and the daemon's daily job)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from support.fakesystemd import start_daemon, stop_daemon
from support.waiting import wait_until
from support.feedserver import FeedServer, rss
from support.helpers import monitor, write_config
from support.stories import add_story, alert_ids, now

from monitor.store import maintenance as dbcare
from monitor.store.database import Store

DAY = dt.timedelta(days=1)


def count(db: Path, table: str = "clippings") -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(f"select count(*) from {table}").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        conn.close()


@pytest.mark.slow
def test_backup_while_the_daemon_writes(tmp_path: Path, feed_server: FeedServer) -> None:
    """The daemon stores 5,000 stories, one transaction each, while backups are taken: every
    copy is a consistent snapshot (each clipping with its entry, nothing dangling), checks out
    clean, and is one self-contained file."""
    n = 5000
    items = [{"title": f"Story number {i} about the weather", "link": feed_server.url(f"/s/{i}"),
              "summary": f"Forecast {i}: sunny spells and light winds."} for i in range(n)]
    url = feed_server.put("/feed.xml", rss("Busy feed", items), "application/rss+xml")
    config = write_config(tmp_path, [url], fetch_pages=False, interval="1h")
    # All 5,000 in the one poll (max_new_per_poll would leave most to later polls).
    config.write_text(config.read_text().replace(
        "fetch_pages = false", f"fetch_pages = false\nmax_new_per_poll = {n}"))
    db = tmp_path / "monitor.db"
    process = start_daemon(config, tmp_path / "daemon.log", {})
    snapshots: list[tuple[int, Path]] = []
    try:
        assert wait_until(lambda: count(db) > 0, 60), (tmp_path / "daemon.log").read_text()
        # One backup through the command line, as an operator would, while stories arrive...
        live_before = count(db)
        result = monitor(config, "db", "backup", str(tmp_path / "cli.db"))
        assert result.returncode == 0, result.stderr
        assert "cli.db" in result.stdout and "check: ok" in result.stdout
        snapshots.append((live_before, tmp_path / "cli.db"))
        # ...and more straight away, to catch the writer at many points.
        i = 0
        while count(db) < n and i < 50:
            target = tmp_path / f"snap{i}.db"
            before = count(db)
            dbcare.backup(db, target)
            snapshots.append((before, target))
            i += 1
            time.sleep(0.05)
        assert wait_until(lambda: count(db) == n, 120)
    finally:
        assert stop_daemon(process) == 0, (tmp_path / "daemon.log").read_text()

    mid_ingestion = 0
    for live_before, path in snapshots:
        assert not Path(f"{path}-wal").exists()
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("pragma journal_mode").fetchone()[0] == "delete"
            assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
            assert conn.execute("pragma foreign_key_check").fetchall() == []
            copied = conn.execute("select count(*) from clippings").fetchone()[0]
            # Written in one transaction with its clipping: never one without the other.
            orphans = conn.execute("select count(*) from clippings c where not exists "
                                   "(select 1 from entries e where e.clipping_id = c.id)").fetchone()[0]
            assert orphans == 0
        finally:
            conn.close()
        assert live_before <= copied <= n
        mid_ingestion += 0 < copied < n
    assert mid_ingestion >= 2, [(b, p.name) for b, p in snapshots]
    assert count(db) == n


def test_backup_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    add_story(Store(tmp_path / "monitor.db"), "one", seen=now())
    target = tmp_path / "backups" / "monitor.db"
    assert monitor(config, "db", "backup", str(target)).returncode == 0
    again = monitor(config, "db", "backup", str(target))
    assert again.returncode == 1 and "exists" in again.stderr
    assert monitor(config, "db", "backup", "--force", str(target)).returncode == 0
    same = monitor(config, "db", "backup", "--force", str(tmp_path / "monitor.db"))
    assert same.returncode == 1 and "cannot replace the database itself" in same.stderr
    assert count(target) == 1


def test_check_finds_a_damaged_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    store = Store(tmp_path / "monitor.db")
    for i in range(200):
        add_story(store, f"s{i}", seen=now())
    store.close()
    ok = monitor(config, "db", "check")
    assert ok.returncode == 0 and ok.stdout.strip().endswith(": ok"), ok.stdout + ok.stderr

    db = tmp_path / "monitor.db"
    conn = sqlite3.connect(db)
    conn.execute("pragma wal_checkpoint(truncate)")
    page = conn.execute("pragma page_size").fetchone()[0]
    conn.close()
    with db.open("r+b") as f:  # scribble over the headers of a few b-tree pages
        for number in (3, 4, 5, 6):
            f.seek((number - 1) * page)
            f.write(b"\xa5" * 12)
    bad = monitor(config, "db", "check")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "problems" in bad.stdout or "malformed" in bad.stderr


def test_vacuum_gives_back_the_space_of_deleted_clippings(tmp_path: Path) -> None:
    config = write_config(tmp_path, [], extra="\n[data]\nretention_days = 30\n")
    store = Store(tmp_path / "monitor.db")
    for i in range(300):
        add_story(store, f"old{i}-" + "x" * 40, seen=now() - 40 * DAY)
    store.db.execute("update clippings set body = ?", ["lorem ipsum " * 1000])
    store.db.conn.commit()
    store.close()
    assert monitor(config, "db", "prune").returncode == 0
    result = monitor(config, "db", "vacuum")
    assert result.returncode == 0, result.stderr
    before, after = (float(x.split()[0]) for x in result.stdout.split(": ", 1)[1].split(" -> "))
    assert after < before / 2, result.stdout


def retention_database(db: Path) -> dict[str, str]:
    store = Store(db)
    t = now()
    ids = {
        "old_plain": add_story(store, "old_plain", seen=t - 40 * DAY),
        "old_flagged_sent": add_story(store, "old_flagged_sent", seen=t - 40 * DAY, flagged=True),
        "old_flagged_pending": add_story(store, "old_flagged_pending", seen=t - 40 * DAY,
                                         flagged=True),
        "recent_plain": add_story(store, "recent_plain", seen=t - 5 * DAY),
        "old_marked": add_story(store, "old_marked", seen=t - 40 * DAY),
        "old_grouped": add_story(store, "old_grouped", seen=t - 40 * DAY),
    }
    store.mark_sent(alert_ids(store, ids["old_flagged_sent"])[0], now=t - 40 * DAY)
    # What other issues add: an analyst's mark, and a table that refers to clippings.
    store.db.execute("alter table clippings add column marked text")
    store.db.execute("update clippings set marked = 'relevant' where id = ?", [ids["old_marked"]])
    store.db.execute("create table story_groups (id integer primary key, clipping_id text "
                     "references clippings(id))")
    store.db.execute("insert into story_groups (clipping_id) values (?)", [ids["old_grouped"]])
    store.db.conn.commit()
    store.close()
    return ids


def remaining(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("select title from clippings")}
    finally:
        conn.close()


def test_retention_keeps_flagged_marked_referenced_and_pending(tmp_path: Path) -> None:
    config = write_config(tmp_path, [], extra="\n[data]\nretention_days = 30\n")
    db = tmp_path / "monitor.db"
    retention_database(db)
    everything = remaining(db)

    dry = monitor(config, "db", "prune", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.startswith("1 clippings first seen before")
    assert remaining(db) == everything

    result = monitor(config, "db", "prune")
    assert result.returncode == 0 and result.stdout.startswith("1 clippings"), result.stdout
    assert remaining(db) == everything - {"Story old_plain"}
    # The story's URL stays known: it is never stored (or alerted) again.
    store = Store(db)
    assert store.is_seen("http://127.0.0.1:9/old_plain", None)
    store.close()

    config.write_text(config.read_text().replace("retention_days = 30",
                                                 "retention_days = 30\nkeep_flagged = false"))
    result = monitor(config, "db", "prune")
    assert result.stdout.startswith("1 clippings") and "(1 matches, 1 alerts)" in result.stdout
    assert remaining(db) == everything - {"Story old_plain", "Story old_flagged_sent"}
    assert count(db, "alerts") == 1  # the pending one, with its clipping
    assert monitor(config, "db", "check").returncode == 0

    off = write_config(tmp_path, [])
    assert "nothing to delete" in monitor(off, "db", "prune").stdout


def test_the_daemon_applies_retention(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.put("/feed.xml", rss("Quiet feed", []), "application/rss+xml")
    config = write_config(tmp_path, [url], fetch_pages=False, interval="1h",
                          extra="\n[data]\nretention_days = 30\n")
    db = tmp_path / "monitor.db"
    retention_database(db)
    log = tmp_path / "daemon.log"
    process = start_daemon(config, log, {})
    try:
        assert wait_until(lambda: "Story old_plain" not in remaining(db), 30), log.read_text()
        assert wait_until(lambda: "retention: 1 clippings" in log.read_text(), 10), log.read_text()
    finally:
        assert stop_daemon(process) == 0, log.read_text()
    assert "Story old_flagged_sent" in remaining(db)


def test_retention_deletes_grouped_clippings_with_their_pages_and_signatures(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """Clippings stored by the pipeline carry a grouping signature and a kept page:
    those are the clipping's own rows, deleted with it, not references that keep it."""
    feed_server.put("/weather", "<html><body><article><h1>Sunny weekend ahead</h1><p>"
                    + "Forecasters expect a sunny and mild weekend across the region. " * 12
                    + "</p></article></body></html>")
    url = feed_server.put("/feed.xml", rss("Weather", [
        {"title": "Sunny weekend ahead", "link": feed_server.url("/weather")}]),
        "application/rss+xml")
    config = write_config(tmp_path, [url], extra="\n[data]\nretention_days = 30\n")
    db = tmp_path / "monitor.db"
    assert monitor(config, "run", "--once").returncode == 0
    assert count(db, "signatures") == 1 and count(db, "snapshots") == 1
    conn = sqlite3.connect(db)
    with conn:  # the story was first seen 40 days ago
        conn.execute("update clippings set created_at = ?",
                     [(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)).isoformat()])
    conn.close()

    result = monitor(config, "db", "prune")
    assert result.returncode == 0 and result.stdout.startswith("1 clippings"), result.stdout
    assert remaining(db) == set()
    assert count(db, "signatures") == 0 and count(db, "snapshots") == 0
    assert monitor(config, "db", "check").returncode == 0
