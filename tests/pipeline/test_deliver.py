"""The outbox end to end, on real parts: a feed server, webhook receivers and an SMTP
server on 127.0.0.1, a real SQLite file, `monitor run --once` and `monitor run` as child
processes. Outages end in exactly one delivery; a 400 fails for good with its reason; a kill -9
between match and delivery loses nothing; 60 stories at once make one digest; digests follow
their schedule; old stories of a new feed are backlog; min_score routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.waiting import wait_until
from support.chat_receivers import validator
from support.feedserver import FeedServer, published_now, rss
from support.helpers import REPO, default_rules_section, monitor
from support.servers import HOST, SMTPServer, WebhookReceiver
from support.alerts import alert as make_alert

from monitor.config import FetchConfig, load_config, parse_config
from monitor.match.matcher import matcher_for
from monitor.fetch.client import make_client
from monitor.models import Document, Match, NewStory
from monitor.notify import build_notifiers
from monitor.pipeline.deliver import Outbox
from monitor.pipeline.update import CycleReport
from monitor.store.database import Store

RAID = "Police shut down pirate IPTV service and arrest three suspects"
SUMMARY = ("Spanish police have shut down a pirate IPTV service that sold illegal streams of "
           "football matches, and arrested three suspects.")


def story(i: int, *, hours_ago: float = 0.5, title: str | None = None,
          server: FeedServer) -> dict[str, str]:
    return {"title": title or f"{RAID} (case {i})", "link": server.url(f"/news/{i}"),
            "summary": SUMMARY, "date": published_now(hours_ago)}


def write_config(folder: Path, feeds: list[str], notifiers: str, *, feed_extra: str = "",
                 monitor_extra: str = "") -> Path:
    """A config on the shipped rules (routed to every enabled notifier), feeds read from the
    feed alone (no page fetch), and the given notifier tables."""
    lines = ["[monitor]", 'database = "monitor.db"', 'interval = "15m"', monitor_extra, "",
             "[fetch]", "timeout = 5", "allow_private_networks = true", "fetch_pages = false", ""]
    for i, url in enumerate(feeds):
        lines += ["[[feeds]]", f'name = "Feed {i}"', f'url = "{url}"', feed_extra, ""]
    rules = default_rules_section()
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + notifiers + "\n" + rules, encoding="utf-8")
    return path


def webhook(url: str, name: str = "hook", extra: str = "") -> str:
    return f'\n[[notifiers]]\nname = "{name}"\ntype = "webhook"\nurl = "{url}"\ntimeout = "2s"\n{extra}\n'


def rows(db: Path, sql: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def once(config: Path, **kw: Any) -> str:
    done = monitor(config, "run", "--once", **kw)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def black_hole() -> Iterator[socket.socket]:
    """A port that accepts connections and never answers: every request times out."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, 0))
    s.listen(16)
    try:
        yield s
    finally:
        s.close()


# --- outages ------------------------------------------------------------------------------------

@pytest.mark.parametrize("outage", ["refused", "500", "429", "timeout"])
def test_outage_then_delivered_exactly_once(outage: str, tmp_path: Path, feed_server: FeedServer,
                                           refused_port: int, black_hole: socket.socket) -> None:
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", [story(1, server=feed_server)]),
                           "application/rss+xml")
    receiver = None
    if outage == "refused":
        port = refused_port
    elif outage == "timeout":
        port = black_hole.getsockname()[1]
    else:
        receiver = WebhookReceiver()
        receiver.respond(500 if outage == "500" else 429,
                         {"Retry-After": "5"} if outage == "429" else {}, "busy")
        receiver.start()
        port = receiver.port
    config = write_config(tmp_path, [feed], webhook(f"http://{HOST}:{port}/hook"))
    db = tmp_path / "monitor.db"
    try:
        first = once(config)
        failed_at = time.monotonic()
        assert "1 flagged" in first and "0 alerts sent, 1 alerts not delivered" in first, first
        [row] = rows(db, "select * from alerts")
        assert (row["status"], row["attempts"]) == ("pending", 1) and row["last_error"]
        if outage == "429":
            assert row["retry_after_until"] is not None
            # A forced pass (`run --once`) still honours the receiver's Retry-After.
            assert "0 alerts sent, 0 alerts not delivered" in once(config)
            assert len(receiver.requests) == 1  # type: ignore[union-attr]
            time.sleep(max(0.0, 5.3 - (time.monotonic() - failed_at)))
        # The outage ends.
        if outage == "timeout":
            black_hole.close()
        if receiver is None:
            receiver = WebhookReceiver(port=port)
            receiver.start()
        before = len(receiver.requests)
        receiver.respond(200)
        assert "1 alerts sent" in once(config)
        assert "0 alerts sent, 0 alerts not delivered" in once(config)
        accepted = receiver.requests[before:]
        assert len(accepted) == 1  # delivered exactly once
        assert accepted[0].json()["clipping"]["title"] == f"{RAID} (case 1)"
        assert accepted[0].headers["webhook-id"] == row["key"]
        [row] = rows(db, "select * from alerts")
        assert (row["status"], row["last_error"]) == ("sent", None)
    finally:
        if receiver is not None:
            receiver.stop()


def test_400_fails_with_the_reason_and_is_not_retried_until_asked(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver) -> None:
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", [story(1, server=feed_server)]),
                           "application/rss+xml")
    webhook_receiver.respond(400, body="invalid_payload")
    config = write_config(tmp_path, [feed], webhook(webhook_receiver.url))
    assert "1 alerts not delivered" in once(config)
    assert "0 alerts sent, 0 alerts not delivered" in once(config)
    assert len(webhook_receiver.requests) == 1  # not retried
    listed = monitor(config, "alerts", "--failed", "--json")
    [failed] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert failed["status"] == "failed" and failed["last_error"] == "HTTP 400: invalid_payload"
    assert failed["title"] == f"{RAID} (case 1)" and failed["attempts"] == 1
    assert monitor(config, "alerts", "--pending", "--json").stdout == ""
    text = monitor(config, "alerts").stdout
    assert "failed" in text and "last error: HTTP 400: invalid_payload" in text

    webhook_receiver.respond(200)  # the receiver is fixed; the analyst retries the alert
    retried = monitor(config, "alerts", "retry", str(failed["id"]))
    assert retried.returncode == 0 and "queued again (was failed)" in retried.stdout
    assert "1 alerts sent" in once(config)
    assert len(webhook_receiver.requests) == 2
    again = monitor(config, "alerts", "retry", failed["key"])
    assert again.returncode == 1 and "not sent twice" in again.stderr
    missing = monitor(config, "alerts", "retry", "999")
    assert missing.returncode == 1 and "no alert '999'" in missing.stderr
    [sent] = [json.loads(line) for line in
              monitor(config, "alerts", "--status", "sent", "--json").stdout.splitlines()]
    assert sent["id"] == failed["id"] and sent["sent_at"]


# --- kill -9 between match and delivery ---------------------------------------------------------

def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))




def alert_rows(db: Path) -> list[dict[str, Any]]:
    try:
        return rows(db, "select * from alerts")
    except sqlite3.OperationalError:  # not created yet
        return []


def test_kill_9_between_match_and_delivery(tmp_path: Path, feed_server: FeedServer,
                                           refused_port: int) -> None:
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", [story(1, server=feed_server)]),
                           "application/rss+xml")
    config = write_config(tmp_path, [feed], webhook(f"http://{HOST}:{refused_port}/hook"))
    db, log = tmp_path / "monitor.db", tmp_path / "daemon.log"
    # The receiver is down: the daemon matches the story and writes its alert, but cannot
    # deliver it; the window between match and delivery stays open until we kill it.
    daemon = start_daemon(config, log)
    try:
        assert wait_until(lambda: any(r["attempts"] >= 1 for r in alert_rows(db)), 30), log.read_text()
        daemon.kill()  # SIGKILL: no cleanup at all
        daemon.wait(10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    [row] = alert_rows(db)
    assert row["status"] == "pending"
    receiver = WebhookReceiver(port=refused_port)
    receiver.start()
    daemon = start_daemon(config, log)
    try:
        assert wait_until(lambda: [r["status"] for r in alert_rows(db)] == ["sent"], 30), log.read_text()
        time.sleep(1.0)  # and nothing more comes
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
        receiver.stop()
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["webhook-id"] == row["key"]


def test_kill_9_after_the_send_repeats_it_with_the_same_webhook_id(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """The one documented duplicate: the receiver got the alert, the process died before the
    database write. The alert stays claimed ('sending') until its claim's deadline, so nobody
    sends it meanwhile; then it goes again with the same webhook-id, so the receiver can drop
    the repeat."""
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", [story(1, server=feed_server)]),
                           "application/rss+xml")
    receiver = WebhookReceiver()
    receiver.respond(200, delay=30.0)  # holds the request: the send is in flight
    receiver.start()
    # A 5 s timeout: the claim lasts 2 x 5 s + 10 s (pipeline.deliver.claim_seconds).
    config = write_config(tmp_path, [feed], webhook(receiver.url).replace('"2s"', '"5s"'))
    db, log = tmp_path / "monitor.db", tmp_path / "daemon.log"
    try:
        daemon = start_daemon(config, log)
        try:
            assert wait_until(lambda: len(receiver.requests) == 1, 30), log.read_text()
            daemon.kill()
            daemon.wait(10)
        finally:
            if daemon.poll() is None:
                daemon.kill()
        [row] = alert_rows(db)
        assert row["status"] == "sending" and row["claimed_by"].startswith(f"{daemon.pid}-")
        receiver.respond(200)
        [listed] = [json.loads(line) for line in monitor(config, "alerts", "--json").stdout.splitlines()]
        assert (listed["status"], listed["claimed_by_pid"]) == ("sending", daemon.pid)
        # While the claim holds, even a forced pass leaves the alert alone.
        assert "0 alerts sent, 0 alerts not delivered" in once(config)
        assert len(receiver.requests) == 1
        deadline = dt.datetime.fromisoformat(row["claimed_until"])
        assert 15 <= (deadline - dt.datetime.now(dt.timezone.utc)).total_seconds() <= 21
        time.sleep(max(0.0, (deadline - dt.datetime.now(dt.timezone.utc)).total_seconds() + 1))
        status = json.loads(monitor(config, "status", "--json").stdout)
        assert any("claim lapsed" in reason for reason in status["reasons"]), status
        assert "1 alerts sent" in once(config)
        first, second = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == row["key"]
        assert [(r["status"], r["claimed_until"]) for r in alert_rows(db)] == [("sent", None)]
    finally:
        receiver.stop()


# --- digests and flood control ------------------------------------------------------------------

def test_sixty_stories_in_one_cycle_reach_each_notifier_as_one_digest(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver,
        smtp_server: SMTPServer) -> None:
    items = [story(i, hours_ago=i / 60, server=feed_server) for i in range(60)]
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", items), "application/rss+xml")
    slack_receiver = WebhookReceiver(validator=validator("slack"))
    slack_receiver.start()
    notifiers = (webhook(webhook_receiver.url)
                 + webhook(slack_receiver.url, "slack", 'format = "slack"')
                 + f'\n[[notifiers]]\nname = "mail"\ntype = "email"\nhost = "127.0.0.1"\n'
                   f'port = {smtp_server.port}\nfrom = "monitor@example.org"\n'
                   f'to = ["analyst@example.org"]\nsecurity = "none"\n')
    config = write_config(tmp_path, [feed], notifiers)
    try:
        out = once(config)
        assert "60 flagged" in out and "180 alerts sent (3 digests)" in out, out
        [request] = webhook_receiver.wait_for(1)
        payload = request.json()
        assert payload["type"] == "monitor.digest" and payload["count"] == 60
        assert payload["reason"] == "flood"
        [group] = payload["groups"]
        titles = [a["clipping"]["title"] for a in group["alerts"]]
        assert len(titles) == 60 and len(set(titles)) == 60
        [mail] = smtp_server.wait_for(1)
        # named by the stories' main rule: one of the two default rules that both fire
        assert re.fullmatch(r"\[digest\] 60 alerts: (actor-action|piracy-enforcement) \(60\)",
                            mail.message["Subject"]), mail.message["Subject"]
        [chat] = slack_receiver.wait_for(1)
        assert slack_receiver.rejections == []
        assert "60 alerts" in chat.json()["text"]
        time.sleep(0.5)
        assert len(webhook_receiver.requests) == 1 and len(smtp_server.messages) == 1
        assert len(slack_receiver.requests) == 1
        statuses = rows(tmp_path / "monitor.db",
                        "select status, count(*) n, count(distinct digest_id) d from alerts "
                        "group by status")
        assert statuses == [{"status": "sent", "n": 180, "d": 3}]
    finally:
        slack_receiver.stop()


def test_few_alerts_go_one_by_one(tmp_path: Path, feed_server: FeedServer,
                                  webhook_receiver: WebhookReceiver) -> None:
    items = [story(i, server=feed_server) for i in range(5)]
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", items), "application/rss+xml")
    config = write_config(tmp_path, [feed], webhook(webhook_receiver.url, extra="flood_limit = 5"))
    assert "5 alerts sent," in once(config)
    assert [r.json()["type"] for r in webhook_receiver.wait_for(5)] == ["monitor.alert"] * 5


def test_digest_schedule(tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    """A digest notifier sends nothing on its own; when its schedule comes, one message with
    everything that waited, grouped by rule, newest first. Driven by a clock of our own."""
    config = parse_config(f"""[monitor]
[[notifiers]]
name = "hourly"
type = "webhook"
url = "{webhook_receiver.url}"
digest = "1h"
[[notifiers]]
name = "half-hours"
type = "webhook"
url = "{webhook_receiver.url}"
digest = "*/30 * * * *"
""", tmp_path / "config.toml")
    store = Store(tmp_path / "monitor.db")
    now = [dt.datetime(2026, 11, 28, 9, 5, tzinfo=dt.timezone.utc)]

    def add(i: int, rule: str, minutes: int) -> None:
        a = make_alert(f"Story {i}", n=i, url=f"https://news.example/{i}", rule=rule)
        clipping = a.clipping
        store.add_story(NewStory(
            clipping_id=f"{i:016x}", clipping=clipping, text="x", origin="feed", fingerprint="",
            feed_url="f", guid=None, canonical=clipping.url, published=None,
            matches=(Match(rule, 9.0, a.matches[0].terms),),
            alerts={"hourly": (rule,), "half-hours": (rule,)}),
            now=now[0] + dt.timedelta(minutes=minutes))

    async def tick(minutes: int) -> CycleReport:
        now[0] += dt.timedelta(minutes=minutes)
        report = CycleReport()
        async with make_client(FetchConfig()) as client:
            notifiers = build_notifiers(config.notifiers, client)
            outbox = Outbox(store, notifiers, {n.name: n for n in config.notifiers},
                            lambda: now[0])
            await outbox.deliver(report, force=True)  # forced: backoff, not the schedule
        return report

    try:
        add(1, "piracy-enforcement", 0)
        add(2, "blocking", 1)
        add(3, "piracy-enforcement", 2)
        assert asyncio.run(tick(10)).alerts_sent == 0  # 9:15
        report = asyncio.run(tick(15))  # 9:30: the half-hourly one is due, not the hourly
        assert (report.alerts_sent, report.digests_sent) == (3, 1)
        [half] = [r.json() for r in webhook_receiver.wait_for(1)]
        assert half["notifier"] == "half-hours" and half["reason"] == "schedule"
        assert [(g["rule"], [a["clipping"]["title"] for a in g["alerts"]])
                for g in half["groups"]] == [("piracy-enforcement", ["Story 3", "Story 1"]),
                                             ("blocking", ["Story 2"])]
        assert asyncio.run(tick(29)).alerts_sent == 0  # 9:59: the hour since 9:05 is not up
        add(4, "blocking", 0)  # arrives at 9:59
        report = asyncio.run(tick(7))  # 10:06: the hourly digest, with all four
        assert (report.alerts_sent, report.digests_sent) == (5, 2)  # and half-hours' 10:00
        hourly = [r.json() for r in webhook_receiver.wait_for(3)]
        assert sorted((p["notifier"], p["count"]) for p in hourly[1:]) == [("half-hours", 1),
                                                                           ("hourly", 4)]
        assert asyncio.run(tick(60)).alerts_sent == 0  # nothing waits: nothing is sent
        assert len(webhook_receiver.requests) == 3
    finally:
        store.close()


# --- backlog and routing -------------------------------------------------------------------------

def test_first_poll_backlog_is_stored_and_flagged_not_alerted(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver) -> None:
    old = story(1, hours_ago=72, server=feed_server)
    fresh = story(2, hours_ago=1, server=feed_server)
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", [fresh, old]), "application/rss+xml")
    config = write_config(tmp_path, [feed], webhook(webhook_receiver.url))
    out = once(config)
    assert "2 flagged" in out and "1 alerts sent" in out and "1 flagged stories were backlog" in out
    assert [r.json()["clipping"]["title"] for r in webhook_receiver.wait_for(1)] == [fresh["title"]]
    stored = {r["title"]: r for r in rows(tmp_path / "monitor.db", "select * from clippings")}
    assert (stored[old["title"]]["flagged"], stored[old["title"]]["backlog"]) == (1, 1)
    assert (stored[fresh["title"]]["flagged"], stored[fresh["title"]]["backlog"]) == (1, 0)
    # After the first poll, a story is news whatever its date.
    late = story(3, hours_ago=96, server=feed_server)
    feed_server.put("/rss.xml", rss("Piracy Daily", [late, fresh, old]), "application/rss+xml")
    assert "1 alerts sent" in once(config)
    assert webhook_receiver.wait_for(2)[1].json()["clipping"]["title"] == late["title"]


def test_backlog_max_age_per_feed(tmp_path: Path, feed_server: FeedServer,
                                  webhook_receiver: WebhookReceiver) -> None:
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", [story(1, hours_ago=72,
                                                                  server=feed_server)]),
                           "application/rss+xml")
    config = write_config(tmp_path, [feed], webhook(webhook_receiver.url),
                          feed_extra='backlog_max_age = "7d"', monitor_extra='backlog_max_age = "1h"')
    assert "1 alerts sent" in once(config)


def test_min_score_per_notifier(tmp_path: Path, feed_server: FeedServer,
                                webhook_receiver: WebhookReceiver) -> None:
    strong = story(1, server=feed_server)
    weak = {"title": "Court orders blocking of pirate sites", "link": feed_server.url("/court"),
            "summary": "A court issued a blocking order against torrent sites.",
            "date": published_now(1)}
    # The threshold sits between the two stories' scores on the shipped rules, whatever they are.
    matcher = matcher_for(load_config(REPO / "config.toml"))
    strong_score, weak_score = (
        max(m.score for m in matcher.find_matches(Document(title=s["title"], body=s["summary"])))
        for s in (strong, weak))
    assert weak_score < strong_score
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", [strong, weak]), "application/rss+xml")
    urgent = WebhookReceiver()
    urgent.start()
    try:
        config = write_config(tmp_path, [feed], webhook(webhook_receiver.url, "all")
                              + webhook(urgent.url, "urgent", f"min_score = {(strong_score + weak_score) / 2}"))
        assert "3 alerts sent" in once(config)
        assert sorted(r.json()["clipping"]["title"] for r in webhook_receiver.wait_for(2)) == \
            sorted([strong["title"], weak["title"]])
        assert [r.json()["clipping"]["title"] for r in urgent.wait_for(1)] == [strong["title"]]
        time.sleep(0.3)
        assert len(urgent.requests) == 1
    finally:
        urgent.stop()


def test_alerts_json_lines_only_on_stdout(tmp_path: Path, feed_server: FeedServer,
                                          webhook_receiver: WebhookReceiver) -> None:
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", [story(i, server=feed_server)
                                                            for i in range(3)]),
                           "application/rss+xml")
    config = write_config(tmp_path, [feed], webhook(webhook_receiver.url))
    once(config)
    listed = monitor(config, "alerts", "--json")
    objects = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(objects) == 3 and [o["id"] for o in objects] == [3, 2, 1]  # newest first
    assert {"id", "key", "notifier", "status", "attempts", "last_error", "created_at", "sent_at",
            "title", "source", "url", "rules", "digest_id"} <= set(objects[0])
    assert all(o["status"] == "sent" and "piracy-enforcement" in o["rules"] for o in objects)
    assert len(monitor(config, "alerts", "--limit", "2", "--json").stdout.splitlines()) == 2


# --- a hostile story, from the feed to every channel ---------------------------------------------

def test_hostile_story_from_the_feed_to_every_channel(tmp_path: Path, feed_server: FeedServer,
                                                      smtp_server: SMTPServer) -> None:
    """A title with CR/LF, <script>, @channel and 5,000 characters, as a feed would carry it
    (XML-escaped): no header injection, escaped HTML, no mention, cut within every limit."""
    raw = ("Police shut down pirate IPTV\r\nBcc: evil@example.org\r\n<script>alert(1)</script> "
           "@channel @here @everyone <!channel> <@U024BE7LH> " + "x" * 5000)
    escaped = (raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
               .replace("\r", "&#13;").replace("\n", "&#10;"))
    item = {"title": escaped, "link": feed_server.url("/news/hostile"),
            "summary": "&lt;p&gt;@channel arrested&lt;/p&gt;", "date": published_now(1)}
    feed = feed_server.put("/rss.xml", rss("Piracy Daily", [item]), "application/rss+xml")
    receivers = {fmt: WebhookReceiver(validator=validator(fmt))
                 for fmt in ("slack", "discord", "teams", "mattermost")}
    for receiver in receivers.values():
        receiver.start()
    notifiers = "".join(webhook(r.url, fmt, f'format = "{fmt}"') for fmt, r in receivers.items())
    notifiers += (f'\n[[notifiers]]\nname = "mail"\ntype = "email"\nhost = "127.0.0.1"\n'
                  f'port = {smtp_server.port}\nfrom = "monitor@example.org"\n'
                  f'to = ["analyst@example.org"]\nsecurity = "none"\n')
    config = write_config(tmp_path, [feed], notifiers)
    try:
        assert "5 alerts sent" in once(config)
        for fmt, receiver in receivers.items():
            [request] = receiver.wait_for(1)
            assert receiver.rejections == [], fmt  # within the limits, no mention
        [mail] = smtp_server.wait_for(1)
        head = mail.data.split(b"\r\n\r\n", 1)[0]
        assert not re.search(rb"(?im)^bcc:", head) and mail.rcpt_tos == ["analyst@example.org"]
        subject = mail.message["Subject"]
        assert subject.startswith("[piracy-enforcement] Police shut down pirate IPTV Bcc: evil@")
        assert len(subject) <= 200 and subject.endswith("… — Feed 0")  # the feed's name: no page
        page = mail.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    finally:
        for receiver in receivers.values():
            receiver.stop()


def test_a_lasting_flood_sends_at_most_one_digest_per_window(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    config = parse_config(f"""[monitor]
[[notifiers]]
name = "hook"
type = "webhook"
url = "{webhook_receiver.url}"
flood_limit = 3
flood_window = "10m"
""", tmp_path / "config.toml")
    store = Store(tmp_path / "monitor.db")
    now = [dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc)]
    added = [0]

    def add(count: int) -> None:
        for _ in range(count):
            added[0] += 1
            a = make_alert(f"Story {added[0]}", n=added[0], url=f"https://news.example/{added[0]}")
            store.add_story(NewStory(
                clipping_id=f"{added[0]:016x}", clipping=a.clipping, text="x", origin="feed",
                fingerprint="", feed_url="f", guid=None, canonical=a.clipping.url, published=None,
                matches=tuple(a.matches), alerts={"hook": ("piracy-enforcement",)}), now=now[0])

    async def tick(minutes: int) -> CycleReport:
        now[0] += dt.timedelta(minutes=minutes)
        report = CycleReport()
        async with make_client(FetchConfig()) as client:
            outbox = Outbox(store, build_notifiers(config.notifiers, client),
                            {n.name: n for n in config.notifiers}, lambda: now[0])
            await outbox.deliver(report, force=True)
        return report

    def kinds() -> list[tuple[str, int]]:
        return [(p["type"], p.get("count", 1)) for p in (r.json() for r in webhook_receiver.requests)]

    try:
        add(2)
        asyncio.run(tick(0))
        assert kinds() == [("monitor.alert", 1)] * 2  # under the limit: one by one
        add(5)  # 7 in ten minutes: a flood
        asyncio.run(tick(1))
        assert kinds()[2:] == [("monitor.digest", 5)]
        add(2)
        assert asyncio.run(tick(1)).alerts_sent == 0  # still flooding: they wait
        add(2)
        assert asyncio.run(tick(5)).alerts_sent == 0
        report = asyncio.run(tick(5))  # 9:12: ten minutes since the digest, and 4 > 3 waited
        assert (report.alerts_sent, report.digests_sent) == (4, 1)
        assert kinds()[3:] == [("monitor.digest", 4)]
        assert asyncio.run(tick(11)).alerts_sent == 0  # 9:23: calm again, nothing waits
        add(1)
        asyncio.run(tick(1))
        assert kinds()[4:] == [("monitor.alert", 1)]  # back to one by one
    finally:
        store.close()


# --- two processes on one database ---------------------------------------------------------------

def received_keys(receiver: WebhookReceiver) -> list[str]:
    return sorted(r.headers["webhook-id"] for r in receiver.requests)


def five_stories(feed_server: FeedServer, round_: int = 0) -> str:
    return feed_server.put(f"/rss{round_}.xml", rss("Piracy Daily", [
        story(100 * round_ + i, server=feed_server) for i in range(5)]), "application/rss+xml")


def monitor_process(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_two_run_once_at_the_same_moment_send_each_alert_once(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver) -> None:
    """An analyst's `run --once` while another runs (cron, a colleague): the second waits for
    the writer lock, then finds nothing new. Repeated, since a race may hide in one round."""
    for round_ in range(3):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        config = write_config(folder, [five_stories(feed_server, round_)],
                              webhook(webhook_receiver.url))
        before = len(webhook_receiver.requests)
        runs = [monitor_process(config, "run", "--once") for _ in range(2)]
        outputs = [run.communicate(timeout=120) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        summaries = [out.decode() for out, _ in outputs]
        assert sorted(int(re.search(r"(\d+) alerts sent", text)[1])  # type: ignore[index]
                      for text in summaries) == [0, 5], summaries
        keys = [r.headers["webhook-id"] for r in webhook_receiver.requests[before:]]
        assert len(keys) == 5 and len(set(keys)) == 5, keys  # each alert exactly once
        assert [r["n"] for r in rows(folder / "monitor.db", "select count(*) n from alerts "
                                     "where status = 'sent'")] == [5]


# Delivery alone, without the writer lock that the CLI takes: the outbox's claims must keep
# two senders apart by themselves. Each child waits for the go file, so that they start together.
DELIVER = """
import asyncio, sys, time
from pathlib import Path
from monitor.config import load_config
from monitor.pipeline.cycle import open_runtime
from monitor.pipeline.update import CycleReport

async def main() -> None:
    config = load_config(Path(sys.argv[1]))
    async with open_runtime(config, executor=False) as runtime:
        while not Path(sys.argv[2]).exists():
            time.sleep(0.005)
        report = CycleReport()
        await runtime.pipeline.deliver_pending(report, force=True)
        print(report.alerts_sent)

asyncio.run(main())
"""


def test_claims_keep_concurrent_senders_apart_without_the_lock(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver) -> None:
    config = write_config(tmp_path, [five_stories(feed_server)], webhook(webhook_receiver.url))
    db = tmp_path / "monitor.db"
    webhook_receiver.respond(500)  # the first send fails: five alerts wait in the outbox
    once(config)
    webhook_receiver.respond(200, delay=0.2)  # each send takes a while: the senders overlap
    keys = [r["key"] for r in rows(db, "select key from alerts order by id")]
    assert len(keys) == 5
    for round_ in range(3):
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("update alerts set status = 'pending', sent_at = null, "
                         "claimed_until = null, claimed_by = null")
        conn.close()
        go = tmp_path / f"go{round_}"
        before = len(webhook_receiver.requests)
        senders = [subprocess.Popen([sys.executable, "-c", DELIVER, str(config), str(go)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=dict(os.environ, PYTHONPATH=str(REPO)))
                   for _ in range(3)]
        time.sleep(1.5)  # every child has opened the database and waits
        go.touch()
        outputs = [s.communicate(timeout=60) for s in senders]
        assert [s.returncode for s in senders] == [0, 0, 0], outputs
        assert sum(int(out) for out, _ in outputs) == 5, outputs
        got = sorted(r.headers["webhook-id"] for r in webhook_receiver.requests[before:])
        assert got == sorted(keys), got  # each alert once, whoever sent it
        assert [r["status"] for r in rows(db, "select status from alerts")] == ["sent"] * 5


def test_a_lapsed_claim_is_sent_again_once_and_a_live_one_is_left_alone(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver,
        caplog: pytest.LogCaptureFixture) -> None:
    config = write_config(tmp_path, [five_stories(feed_server)], webhook(webhook_receiver.url))
    db = tmp_path / "monitor.db"
    webhook_receiver.respond(500)
    once(config)
    webhook_receiver.respond(200)
    before = len(webhook_receiver.requests)
    ids = [r["id"] for r in rows(db, "select id from alerts order by id")]
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat(timespec="seconds")
    conn = sqlite3.connect(db)
    with conn:  # a process died mid-send (its claim lapsed); another is sending right now
        conn.execute("update alerts set status = 'sending', claimed_until = ?, "
                     "claimed_by = '999999-dead' where id = ?", [past, ids[0]])
        conn.execute("update alerts set status = 'sending', claimed_until = ?, "
                     "claimed_by = '999998-alive' where id = ?", [future, ids[1]])
    conn.close()
    status = json.loads(monitor(config, "status", "--json").stdout)
    assert status["facts"]["sending_alerts"] == 2 and status["facts"]["lapsed_claims"] == 1
    [live] = [json.loads(line) for line in
              monitor(config, "alerts", "--status", "sending", "--json").stdout.splitlines()
              if json.loads(line)["id"] == ids[1]]
    assert live["claimed_by_pid"] == 999998 and live["claimed_until"]
    refused = monitor(config, "alerts", "retry", str(ids[1]))
    assert refused.returncode == 1 and "being sent by process 999998" in refused.stderr

    with caplog.at_level("WARNING", logger="monitor"):
        assert "4 alerts sent" in once(config)
    assert "claim of process 999999 lapsed" in caplog.text
    sent = [r.headers["webhook-id"] for r in webhook_receiver.requests[before:]]
    statuses = {r["id"]: r["status"] for r in rows(db, "select id, status from alerts")}
    assert len(sent) == 4 and len(set(sent)) == 4
    assert statuses[ids[1]] == "sending" and [statuses[i] for i in ids if i != ids[1]] == ["sent"] * 4
    assert "0 alerts sent" in once(config)  # still claimed: left to its process

    conn = sqlite3.connect(db)
    with conn:  # that process died too
        conn.execute("update alerts set claimed_until = ? where id = ?", [past, ids[1]])
    conn.close()
    assert "1 alerts sent" in once(config)
    assert len(webhook_receiver.requests[before:]) == 5
    assert len({r.headers["webhook-id"] for r in webhook_receiver.requests[before:]}) == 5
