"""The daemon under a service manager: the test plays systemd over a Unix datagram socket.

READY=1 once the scheduler runs, WATCHDOG=1 at half of $WATCHDOG_USEC from the event loop (and
none while the loop is stalled), RELOADING=1 + MONOTONIC_USEC then READY=1 around a SIGHUP reload
(a valid config is taken, an invalid one refused and the old one kept), STOPPING=1 on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import threading
import time
from pathlib import Path

import pytest
from support.fakesystemd import NotifySocket, gaps, start_daemon, stop_daemon
from support.waiting import wait_until
from support.feedserver import FeedServer, rss
from support.helpers import write_config

from monitor.config import load_config
from monitor.service.daemon import run_forever
from monitor.service.systemd import SystemdNotifier, journald_stream, socket_address, watchdog_seconds

STORY = {"title": "Court orders blocking of pirate sports streaming sites",
         "summary": "A court ordered internet providers to block pirate streaming sites."}


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def feed_config(tmp_path: Path, server: FeedServer, extra: str = "") -> Path:
    url = server.put("/feed.xml", rss("Test feed", [{**STORY, "link": server.url("/a")}]),
                     "application/rss+xml")
    return write_config(tmp_path, [url], fetch_pages=False, interval="1s", extra=extra)


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_daemon_notifies_ready_watchdog_reloading_stopping(
        tmp_path: Path, feed_server: FeedServer, abstract: bool) -> None:
    config = feed_config(tmp_path, feed_server)
    log = tmp_path / "daemon.log"
    notify = NotifySocket(tmp_path, abstract=abstract)
    process = start_daemon(config, log, {"NOTIFY_SOCKET": notify.address,
                                         "WATCHDOG_USEC": "1000000"})
    try:
        ready = notify.wait_for("READY", "1")
        assert notify.messages()[ready].fields.get("STATUS") == "polling 1 feeds"
        # Ready means the scheduler runs: the feed gets polled without further ado.
        assert wait_until(lambda: "feed http" in log.read_text(), 30), log.read_text()

        # Watchdog pings every WATCHDOG_USEC / 2 = 0.5 s, well inside the 1 s timeout.
        assert wait_until(lambda: sum(d.fields.get("WATCHDOG") == "1"
                                      for d in notify.messages()[ready:]) >= 5, 10)
        pings = [d for d in notify.messages()[ready:] if d.fields.get("WATCHDOG") == "1"]
        # Faster than the 1 s timeout, which is what keeps systemd from killing a healthy daemon.
        assert 0.3 < statistics.median(gaps(pings)) < 1.0, gaps(pings)

        # SIGHUP with a valid new config ([log] format changed): RELOADING=1 stamped with the
        # monotonic clock, then READY=1, and the new logging applies.
        config.write_text(config.read_text().replace("[monitor]", '[log]\nformat = "json"\n\n[monitor]'))
        before = monotonic_usec()
        count = len(notify.messages())
        process.send_signal(signal.SIGHUP)
        reloading = notify.wait_for("RELOADING", "1", after=count)
        after = monotonic_usec()
        stamp = int(notify.messages()[reloading].fields["MONOTONIC_USEC"])
        assert before <= stamp <= after
        notify.wait_for("READY", "1", after=reloading + 1)
        assert wait_until(lambda: '"message": "configuration reloaded' in log.read_text(), 10), \
            log.read_text()

        # SIGHUP with an invalid config: refused, the old one kept, still READY and pinging.
        config.write_text(config.read_text().replace('interval = "1s"', 'interval = "soon"'))
        count = len(notify.messages())
        process.send_signal(signal.SIGHUP)
        reloading = notify.wait_for("RELOADING", "1", after=count)
        notify.wait_for("READY", "1", after=reloading + 1)
        assert wait_until(lambda: "reload refused" in log.read_text(), 10), log.read_text()
        assert "monitor.interval" in log.read_text()
        notify.wait_for("WATCHDOG", "1", after=len(notify.messages()))
        assert process.poll() is None

        count = len(notify.messages())
        assert stop_daemon(process) == 0, log.read_text()
        notify.wait_for("STOPPING", "1", after=count, timeout=5)
    finally:
        stop_daemon(process)
        notify.close()


def test_watchdog_pings_stop_while_the_event_loop_is_stalled(
        tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the process: block the loop for 2 s; no ping may arrive meanwhile, and they resume."""
    config = load_config(feed_config(tmp_path, feed_server))
    notify = NotifySocket(tmp_path)
    monkeypatch.setenv("NOTIFY_SOCKET", notify.address)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))

    marks: dict[str, float] = {}

    def stall() -> None:  # a blocking call on the loop, as a hung library would make
        marks["stalled"] = time.monotonic()
        time.sleep(2.0)
        marks["resumed"] = time.monotonic()

    def drive(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        try:
            notify.wait_for("READY", "1")
            time.sleep(1.0)
            loop.call_soon_threadsafe(stall)
            time.sleep(3.5)
        finally:
            loop.call_soon_threadsafe(stop.set)

    async def main() -> None:
        # run_forever is awaited by the main task itself: at shutdown it cancels every other
        # task, so the test drives it from a thread through loop callbacks.
        stop = asyncio.Event()
        driver = threading.Thread(target=drive, args=(asyncio.get_running_loop(), stop))
        driver.start()
        await run_forever(config, stop)
        driver.join()

    try:
        asyncio.run(main())
    finally:
        notify.close()
    stalled, resumed = marks["stalled"], marks["resumed"]
    pings = [d.at for d in notify.messages() if d.fields.get("WATCHDOG") == "1"]
    assert [t for t in pings if t < stalled], "pings before the stall"
    # One ping may have been in the socket's queue as the stall began; none is sent during it.
    during = [t for t in pings if stalled + 0.1 < t < resumed - 0.05]
    assert during == [], (stalled, resumed, pings)
    assert len([t for t in pings if t > resumed]) >= 2
    assert any(d.fields.get("STOPPING") == "1" for d in notify.messages())


def test_notifier_is_silent_outside_systemd_and_keeps_children_out() -> None:
    env = {"WATCHDOG_USEC": "5000000"}
    notifier = SystemdNotifier(env)
    assert not notifier.enabled and notifier.ready() is False
    env = {"NOTIFY_SOCKET": "@name", "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = SystemdNotifier(env)
    assert notifier.address == "\0name" and notifier.watchdog == 5.0
    assert env == {}  # taken out, so worker processes never speak in the daemon's name


@pytest.mark.parametrize("value, expected", [
    ("/run/systemd/notify", "/run/systemd/notify"), ("@abstract", "\0abstract"),
    ("vsock:2:1234", None), ("@", None), ("relative/path", None)])
def test_socket_address(value: str, expected: str | None) -> None:
    assert socket_address(value) == expected


@pytest.mark.parametrize("env, expected", [
    ({"WATCHDOG_USEC": "30000000"}, 30.0), ({"WATCHDOG_USEC": "0"}, None), ({}, None),
    ({"WATCHDOG_USEC": "x"}, None), ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "42"}, 2.0),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "43"}, None)])
def test_watchdog_seconds(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_seconds(env, pid=42) == expected


def test_journald_stream_is_recognised_by_device_and_inode(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w") as f:
        st = os.fstat(f.fileno())
        assert journald_stream({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, fd=f.fileno())
        assert not journald_stream({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, fd=f.fileno())
        assert not journald_stream({}, fd=f.fileno())
