"""`monitor run` and `monitor run --once` as real child processes: SIGTERM in the middle of a
slow cycle stops cleanly (the stories already made stored, no error, no traceback, no leaked
semaphore), ``kill -9`` leaves no worker behind, and a killed extraction worker is replaced
while `monitor status` says degraded."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from support.fakesystemd import start_daemon, stop_daemon
from support.feedserver import FeedServer, article_page, rss
from support.helpers import REPO, monitor, write_config
from support.waiting import wait_until

PARAGRAPHS = [
    "Police in three countries have taken down a pirate streaming network that sold access "
    "to thousands of live football matches, investigators said on Tuesday.",
    "The operation, coordinated by Europol, seized servers and froze bank accounts belonging "
    "to the suspected operators of the service.",
    "Rights holders welcomed the action, saying the network had cost broadcasters millions "
    "of euros in lost subscriptions over the past three seasons.",
]


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the schema is not made yet
        return []
    finally:
        conn.close()


def stored(db: Path) -> dict[str, str]:
    """title -> origin of every clipping stored."""
    return {str(t): str(o) for t, o in rows(db, "select title, origin from clippings")}


def parent_of(pid: int) -> int | None:
    """The parent of a live process (a zombie counts as gone), from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
    return None if state in ("Z", "X") else int(ppid)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_of(int(entry.name)) == pid:
            found.append(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def forkserver(daemon: int) -> int | None:
    for child in children(daemon):
        if "forkserver" in cmdline(child):
            return child
    return None


def story(server: FeedServer, n: int, *, delay: float = 0.0) -> dict[str, str]:
    title = f"Police take down pirate streaming network number {n}"
    link = server.put(f"/story/{n}", article_page(title, PARAGRAPHS), delay=delay)
    return {"title": title, "link": link, "summary": PARAGRAPHS[0]}


def clean(log: str) -> None:
    assert "ERROR" not in log and "Traceback" not in log, log
    assert "leaked" not in log, log  # multiprocessing's resource tracker warning


def slow_cycle(tmp_path: Path, server: FeedServer) -> tuple[Path, list[str], list[str]]:
    """A feed of two quick pages and four slow ones (20 s each, two at a time per host)."""
    quick = [story(server, n) for n in (1, 2)]
    slow = [story(server, n, delay=20.0) for n in (3, 4, 5, 6)]
    url = server.put("/feed.xml", rss("Slow feed", quick + slow), "application/rss+xml")
    config = write_config(tmp_path, [url])
    config.write_text(config.read_text().replace("timeout = 5", "timeout = 60"))
    return config, [s["title"] for s in quick], [s["title"] for s in slow]


def test_sigterm_in_a_slow_cycle_stores_what_was_made_and_stops_cleanly(
        tmp_path: Path, feed_server: FeedServer) -> None:
    config, quick, slow = slow_cycle(tmp_path, feed_server)
    log = tmp_path / "daemon.log"
    process = start_daemon(config, log, {})
    try:
        # The quick pages fetched and, a little later, extracted; the slow ones being fetched.
        assert wait_until(lambda: {"/story/3", "/story/4"} <= set(feed_server.requested), 60), \
            log.read_text()
        time.sleep(4)
        started = time.monotonic()
        code = stop_daemon(process)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert code == 0, text
    assert took < 20, (took, text)  # TimeoutStopSec=30
    clean(text)
    titles = stored(tmp_path / "monitor.db")
    assert set(quick) <= set(titles) and not set(slow) & set(titles), (titles, text)
    assert all(titles[t] == "page" for t in quick)
    # The poll was cut short, so nothing is recorded: the next run polls the feed again and
    # finds the slow stories still new.
    assert rows(tmp_path / "monitor.db", "select body_hash from feeds") in ([], [(None,)])


def test_sigterm_to_the_whole_unit_as_systemd_sends_it(tmp_path: Path,
                                                       feed_server: FeedServer) -> None:
    """systemd's stop signals every process of the unit at once: the workers and the
    forkserver must not die under the daemon while it stores what it made."""
    config, quick, slow = slow_cycle(tmp_path, feed_server)
    with (tmp_path / "daemon.log").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"], stdout=out,
            stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=str(REPO)),
            start_new_session=True)  # its own process group, as a unit's cgroup
    try:
        assert wait_until(lambda: {"/story/3", "/story/4"} <= set(feed_server.requested), 60)
        time.sleep(4)
        family = [*children(process.pid)]
        family += [w for p in family for w in children(p)]
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert wait_until(lambda: all(parent_of(p) is None for p in family), 10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = (tmp_path / "daemon.log").read_text()
    clean(text)
    titles = stored(tmp_path / "monitor.db")
    assert set(quick) <= set(titles) and not set(slow) & set(titles), (titles, text)


def test_sigterm_to_run_once_stores_what_was_made_and_leaks_nothing(
        tmp_path: Path, feed_server: FeedServer) -> None:
    config, quick, slow = slow_cycle(tmp_path, feed_server)
    with (tmp_path / "once.log").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert wait_until(lambda: {"/story/3", "/story/4"} <= set(feed_server.requested), 60)
        time.sleep(4)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = (tmp_path / "once.log").read_text()
    clean(text)
    titles = stored(tmp_path / "monitor.db")
    assert set(quick) <= set(titles) and not set(slow) & set(titles), (titles, text)


def test_kill_9_of_the_daemon_leaves_no_worker_behind(tmp_path: Path,
                                                      feed_server: FeedServer) -> None:
    first = story(feed_server, 1)
    url = feed_server.put("/feed.xml", rss("Feed", [first]), "application/rss+xml")
    config = write_config(tmp_path, [url])
    log = tmp_path / "daemon.log"
    process = start_daemon(config, log, {})
    try:
        assert wait_until(lambda: first["title"] in stored(tmp_path / "monitor.db"), 60), \
            log.read_text()
        server = forkserver(process.pid)
        assert server is not None, [cmdline(c) for c in children(process.pid)]
        workers = children(server)
        family = [*children(process.pid), *workers]
        assert workers and len(family) >= 3  # the forkserver, the resource tracker, workers
        process.kill()
        process.wait()
        assert wait_until(lambda: all(parent_of(p) is None for p in family), 10), \
            [(p, parent_of(p), cmdline(p)) for p in family if parent_of(p) is not None]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_killed_worker_is_replaced_and_status_is_degraded_meanwhile(
        tmp_path: Path, feed_server: FeedServer) -> None:
    first = story(feed_server, 1)
    url = feed_server.put("/feed.xml", rss("Feed", [first]), "application/rss+xml")
    config = write_config(tmp_path, [url], interval="1s")
    db = tmp_path / "monitor.db"
    log = tmp_path / "daemon.log"
    process = start_daemon(config, log, {})
    try:
        assert wait_until(lambda: first["title"] in stored(db), 60), log.read_text()
        # Poll records reach the database within a second (written in batches).
        assert wait_until(lambda: monitor(config, "status").code == 0, 10), \
            monitor(config, "status").stdout
        server = forkserver(process.pid)
        assert server is not None
        worker = children(server)[0]
        os.kill(worker, signal.SIGKILL)  # the OOM killer's way
        assert wait_until(lambda: monitor(config, "status").code == 1, 15), log.read_text()
        result = monitor(config, "status")
        assert "extraction failing" in result.stdout and "worker died" in result.stdout, \
            result.stdout
        second = story(feed_server, 2)
        feed_server.put("/feed.xml", rss("Feed", [second, first]), "application/rss+xml")
        assert wait_until(lambda: stored(db).get(second["title"]) == "page", 60), \
            (stored(db), log.read_text())
        assert wait_until(lambda: monitor(config, "status").code == 0, 10), \
            monitor(config, "status").stdout
        assert stop_daemon(process) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    clean(log.read_text())
