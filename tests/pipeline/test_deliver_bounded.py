"""Notifiers never wait on each other: `monitor run --once` with a webhook whose receiver
trickles its answer forever beside a healthy one. The healthy one gets its alert; the slow one
fails at its deadline and stays pending, retried later with backoff; nothing is lost."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from support.feedserver import RAID, FeedServer, published_now, rss
from support.helpers import REPO, default_rules_section
from support.servers import WebhookReceiver
from support.slow_receivers import SlowReceiver

GUARD = 120  # seconds: a run that never ends fails the test instead of hanging it


def write_config(folder: Path, feed: str, hooks: dict[str, str]) -> Path:
    """The shipped rules (routed to every notifier), the feed read alone (no page fetch), and
    one webhook per name, each with a 2 s timeout."""
    lines = ["[monitor]", 'database = "monitor.db"', "", "[fetch]", "timeout = 5",
             "allow_private_networks = true", "fetch_pages = false", "",
             "[[feeds]]", f'url = "{feed}"', ""]
    for name, url in hooks.items():
        lines += ["[[notifiers]]", f'name = "{name}"', 'type = "webhook"', f'url = "{url}"',
                  'timeout = "2s"', ""]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n" + default_rules_section(), encoding="utf-8")
    return path


def run_once(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "run",
                           "--once"], capture_output=True, text=True, timeout=GUARD,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_a_trickling_receiver_does_not_hold_the_other_notifiers(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver) -> None:
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", [{
        **RAID, "link": feed_server.url("/news/1"), "date": published_now(0.5)}]),
        "application/rss+xml")
    slow = SlowReceiver("trickle", byte_every=0.5).start()
    try:
        # "slow" comes first: before, its send held the pass and "fine" waited behind it.
        config = write_config(tmp_path, feed, {"slow": slow.url, "fine": webhook_receiver.url})
        done = run_once(config)
        assert done.returncode == 0, done.stderr
        assert "1 flagged, 1 alerts sent, 1 alerts not delivered" in done.stdout, done.stdout
    finally:
        slow.stop()
    assert slow.requests == 1
    [request] = webhook_receiver.requests
    assert request.json()["clipping"]["title"].startswith("Police shut down pirate IPTV")
    conn = sqlite3.connect(tmp_path / "monitor.db")
    conn.row_factory = sqlite3.Row
    try:
        rows = {r["notifier"]: dict(r) for r in conn.execute("select * from alerts")}
    finally:
        conn.close()
    assert set(rows) == {"slow", "fine"}  # nothing lost
    assert rows["fine"]["status"] == "sent"
    failed = rows["slow"]
    assert (failed["status"], failed["attempts"]) == ("pending", 1)
    assert "took longer than 2s in all" in failed["last_error"]
    # Retried later, after the outbox's backoff (30 s, give or take its jitter).
    assert dt.datetime.fromisoformat(failed["next_attempt"]) > dt.datetime.now(dt.timezone.utc)
