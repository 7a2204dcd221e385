"""The daemon under a heavy poll, with the test playing systemd: a feed of 30,000 entries and an
entry of 3 MB of HTML (its text extracted from the feed) cost their own time, never the event
loop's, so the watchdog's pings keep coming while they are processed."""

from __future__ import annotations

import html
from pathlib import Path

from support.fakesystemd import NotifySocket, gaps, start_daemon, stop_daemon
from support.feedserver import FeedServer, published_now, rss
from support.helpers import write_config
from support.waiting import wait_until

WATCHDOG = 3.0  # seconds: systemd's WatchdogSec for the test; pings come every half of it


def big_feed(server: FeedServer, count: int) -> str:
    items = "".join(f"<item><title>Item {n}</title><link>{server.base}/s/{n}</link></item>\n"
                    for n in range(count))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big'
            f"</title><link>{server.base}/</link>\n{items}</channel></rss>")


def test_watchdog_keeps_being_fed_through_a_huge_feed_and_huge_feed_text(
        tmp_path: Path, feed_server: FeedServer) -> None:
    big = feed_server.put("/big.xml", big_feed(feed_server, 30_000), "application/rss+xml")
    assert len(feed_server.documents["/big.xml"].body) < 5_000_000  # under max_bytes
    paragraphs = "".join(f"<p>Paragraph {n} of a very long story about piracy and streaming "
                         f"sites, told at length.</p>" for n in range(30_000))
    fat = feed_server.put("/fat.xml", rss("Fat", [{
        "title": "A story of three megabytes", "link": feed_server.url("/fat/1"),
        "date": published_now(), "summary": html.escape(paragraphs)}]), "application/rss+xml")
    config = write_config(tmp_path, [big, fat], fetch_pages=False, interval="1h")
    log = tmp_path / "daemon.log"
    notify = NotifySocket(tmp_path)
    process = start_daemon(config, log, {"NOTIFY_SOCKET": notify.address,
                                         "WATCHDOG_USEC": str(int(WATCHDOG * 1_000_000))})
    try:
        ready = notify.wait_for("READY", "1")
        assert wait_until(lambda: f"feed {big}: updated, 30000 entries" in log.read_text()
                          and f"feed {fat}: updated, 1 entries, 1 new" in log.read_text(), 300), \
            log.read_text()[-3000:]
        pings = [d for d in notify.messages()[ready:] if d.fields.get("WATCHDOG") == "1"]
        assert len(pings) >= 2, pings
        # Every gap within the watchdog's timeout: systemd would not have killed the daemon.
        assert max(gaps(pings)) < WATCHDOG, gaps(pings)
        # At most max_new_per_poll (100) of the 30,000 new entries taken, the others left.
        assert (f"feed {big}: updated, 30000 entries, 100 new, 0 flagged, 29900 more new left "
                "for the next poll") in log.read_text()
        assert process.poll() is None
    finally:
        stop_daemon(process)
        notify.close()
