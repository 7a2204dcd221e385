"""Bad servers: each one bounded in time and memory, its feed marked, the other feeds unaffected.
Every server is real and on 127.0.0.1 (tests/hostile.py)."""

from __future__ import annotations

import datetime as dt
import time
import tracemalloc
from pathlib import Path

import pytest
from support.engine import Clock, cycle, engine_config, feed_rows, titles
from support.feedserver import rss
from support.hostile import BOMB_SIZE, HostileServer

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>Laughs</title>
<item><title>Laughing &lol9;</title><link>http://127.0.0.1/laughs/1</link><description>&lol9;</description></item>
</channel></rss>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<rss version="2.0"><channel><title>External</title>
<item><title>Entity &secret; here</title><link>http://127.0.0.1/xxe/1</link><description>&secret;</description></item>
</channel></rss>"""

HTML = ("<!DOCTYPE html><html><head><title>A news site</title></head><body><h1>News</h1>"
        "<p>Welcome to our site.</p></body></html>")


@pytest.fixture
def hostile(hostile_server: HostileServer) -> HostileServer:
    return hostile_server


def good_feed(server: HostileServer, path: str = "/good.xml") -> str:
    return server.put(path, rss("Good news", [
        {"title": "First good story", "link": server.url(f"{path}/1")},
        {"title": "Second good story", "link": server.url(f"{path}/2")},
    ]))


def test_every_hostile_server_is_bounded_and_marked_and_the_good_feed_goes_through(
        tmp_path: Path, hostile: HostileServer) -> None:
    good = good_feed(hostile)
    bad = {
        "trickle": hostile.url("/trickle"),
        "endless": hostile.url("/endless"),
        "gzip bomb": hostile.url("/bomb.gz"),
        "brotli bomb": hostile.url("/bomb.br"),
        "redirect loop": hostile.url("/loop/0"),
        "html": hostile.put("/page.html", HTML, "text/html; charset=utf-8"),
        "laughs": hostile.put("/laughs.xml", LAUGHS),
        "xxe": hostile.put("/xxe.xml", XXE),
        "500": hostile.url("/status/500"),
        "429": hostile.url("/status/429"),
        "challenge": hostile.url("/challenge"),
    }
    # The read timeout leaves room for a loaded machine (tracemalloc slows every allocation);
    # the trickle, a byte every half second, is still cut by the total deadline.
    config = engine_config(tmp_path, [good, *bad.values()], timeout=5, total_timeout=6,
                           max_bytes=1_000_000, per_host=20)
    clock = Clock()
    tracemalloc.start()
    started = time.monotonic()
    report = cycle(config, clock)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert elapsed < 20, f"the cycle took {elapsed:.1f}s"
    assert peak < 60_000_000, f"peak traced memory {peak / 1e6:.0f} MB"  # bombs inflate to 200 MB
    assert not [e for e in report.errors if "unexpected" in e], report.errors
    rows = feed_rows(config)
    assert rows[good]["last_status"] == "updated"
    assert {"First good story", "Second good story"} <= set(titles(config))

    def error(name: str) -> str:
        row = rows[bad[name]]
        assert row["last_status"] in ("error", "blocked"), (name, row)
        assert row["error_count"] == 1 and row["next_check"], (name, row)
        return row["last_error"]

    assert "total_timeout" in error("trickle")
    assert "max_bytes" in error("endless")
    assert "decompressed body over max_bytes" in error("gzip bomb")
    assert "decompressed body over max_bytes" in error("brotli bomb")
    assert "redirects" in error("redirect loop")
    assert "not a feed" in error("html") and "HTML page" in error("html")
    assert "HTTP 500" in error("500")
    assert "HTTP 429" in error("429")
    assert rows[bad["challenge"]]["last_status"] == "blocked"
    assert rows[bad["challenge"]]["status"] == "blocked"
    assert "anti-bot" in error("challenge")
    retry = dt.datetime.fromisoformat(rows[bad["429"]]["retry_after_until"])
    assert retry == clock.now + dt.timedelta(seconds=120)
    # Entities are never expanded: no billion laughs, no file read from the disk.
    texts = " ".join(titles(config))
    assert "lollol" not in texts
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    for name in ("laughs", "xxe"):
        assert rows[bad[name]]["last_status"] in ("updated", "error")
    if hostname:
        assert hostname not in texts
    assert BOMB_SIZE > 100 * config.fetch.max_bytes  # the bombs really were bombs


def test_500_and_429_storms_leave_the_other_feeds_alone_and_retry_after_holds(
        tmp_path: Path, hostile: HostileServer) -> None:
    goods = [good_feed(hostile, f"/good{i}.xml") for i in range(3)]
    # Distinct URLs on the storm paths: the query string makes each one a feed of its own.
    fives = [hostile.url(f"/status/500?feed={i}") for i in range(40)]
    nines = [hostile.url(f"/status/429?feed={i}") for i in range(40)]
    config = engine_config(tmp_path, [*fives, *goods, *nines], timeout=2, total_timeout=3,
                           per_host=10, concurrency=10)
    clock = Clock()
    started = time.monotonic()
    report = cycle(config, clock)
    assert time.monotonic() - started < 30
    assert report.feeds_polled == 83
    rows = feed_rows(config)
    assert all(rows[g]["last_status"] == "updated" for g in goods)
    assert len(titles(config)) == 6
    assert all(rows[u]["status"] == "error" and rows[u]["error_count"] == 1 for u in fives + nines)
    assert all(rows[u]["retry_after_until"] for u in nines)
    assert hostile.hits["/status/429"] == 40 and hostile.hits["/status/500"] == 40

    clock.advance(seconds=60)  # within the 429s' Retry-After: 120
    report = cycle(config, clock)
    assert report.feeds_polled == 43  # `run --once` polls every feed, but Retry-After holds
    assert hostile.hits["/status/429"] == 40 and hostile.hits["/status/500"] == 80
    rows = feed_rows(config)
    assert all(rows[u]["error_count"] == 2 for u in fives)
    # exponential backoff: the second failure waits about twice as long as the first
    for u in fives:
        wait = (dt.datetime.fromisoformat(rows[u]["next_check"]) - clock.now).total_seconds()
        assert 2 * 900 <= wait <= 2 * 900 * 1.25

    clock.advance(seconds=61)  # Retry-After has passed
    cycle(config, clock)
    assert hostile.hits["/status/429"] == 80


def test_a_slow_host_holds_only_its_own_slots(tmp_path: Path, hostile: HostileServer) -> None:
    other = HostileServer().start()
    try:
        slow = [hostile.put(f"/slow{i}.xml", rss("Slow", [{"title": f"Slow {i}",
                            "link": hostile.url(f"/s/{i}")}]), headers={"X-Test-Delay": "0.5"})
                for i in range(8)]
        fast = other.put("/fast.xml", rss("Fast", [{"title": "Fast story",
                         "link": other.url("/f/1")}]))
        # the fast feed comes last in the config, behind eight slow ones
        config = engine_config(tmp_path, [*slow, fast], per_host=2, concurrency=4)
        started = time.monotonic()
        cycle(config)
        total = time.monotonic() - started
        rows = feed_rows(config)
        for url in slow + [fast]:
            assert rows[url]["last_status"] == "updated"
        host = hostile.base.removeprefix("http://")
        assert hostile.peak[host] == 2  # never more than per_host at once on one host
        assert total >= 4 * 0.5  # 8 slow feeds, 2 at a time
        assert other.hits["/fast.xml"] == 1
        first_slow = min(t for p, ts in hostile.hit_times.items() for t in ts if p.startswith("/slow"))
        # not queued behind the slow host: fetched while its first two feeds were still served
        assert other.hit_times["/fast.xml"][0] - first_slow < 0.4
    finally:
        other.stop()
