"""`monitor status [--json]`: the verdict and its exit code (0 healthy, 1 degraded, 2 down) on real
databases in known states, the configurable thresholds, and the alert latency figures."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from support.helpers import monitor, record_poll, write_config
from support.stories import add_story, alert_ids, now

from monitor.cli.admin import owner_problem
from monitor.config import StatusConfig
from monitor.service.health import (DEGRADED, DOWN, HEALTHY, Facts, FailingFeed, Latency, Spread, assess,
                            latency, percentile, spread)
from monitor.store.database import Store

FEEDS = ["http://127.0.0.1:9/a.xml", "http://127.0.0.1:9/b.xml"]
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)


def status(config: Path) -> tuple[int, dict]:
    result = monitor(config, "status", "--json")
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout + result.stderr  # one object, nothing else
    return result.returncode, json.loads(lines[0])


def setup(tmp_path: Path, extra: str = "") -> tuple[Path, Store]:
    config = write_config(tmp_path, FEEDS, extra=extra)
    return config, Store(tmp_path / "monitor.db")


def poll(store: Store, url: str, when: dt.datetime, error: str | None = None) -> None:
    if error:
        record_poll(store, url, when, outcome="error", error=error, status=503)
    else:
        record_poll(store, url, when)


def test_down_without_a_database_or_a_valid_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, FEEDS)
    code, report = status(config)
    assert code == 2 and report["status"] == "down"
    assert "no database" in report["reasons"][0]
    config.write_text("[monitor]\ninterval = 'soon'\n")
    code, report = status(config)
    assert code == 2 and report["reasons"][0].startswith("cannot check: ")
    assert "monitor.interval" in report["reasons"][0]


def test_healthy_degraded_down_by_feed_failures(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    t = now()
    poll(store, FEEDS[0], t - M)
    poll(store, FEEDS[1], t - M)
    code, report = status(config)
    assert (code, report["status"], report["reasons"]) == (0, "healthy", [])
    assert report["facts"]["feeds_polled"] == 2 and report["facts"]["schema_version"] >= 2

    # Feed b fails since 2 h ago, still polled: degraded, and the report says since when.
    poll(store, FEEDS[1], t - 2 * H, error="HTTP 500")
    poll(store, FEEDS[1], t - M, error="HTTP 500")
    code, report = status(config)
    assert (code, report["status"]) == (1, "degraded"), report
    [failing] = report["facts"]["failing"]
    assert failing["url"] == FEEDS[1] and failing["error_count"] == 2
    assert dt.datetime.fromisoformat(failing["failing_since"]) == t - 2 * H
    assert "1 of 2 feeds failing" in report["reasons"][0]
    text = monitor(config, "status")
    assert text.returncode == 1 and text.stdout.startswith("monitor: degraded")
    assert f"failing since {(t - 2 * H).isoformat()}: {FEEDS[1]}" in text.stdout

    # Every live feed failing that long: down.
    poll(store, FEEDS[0], t - 3 * H, error="timed out")
    poll(store, FEEDS[0], t - M, error="timed out")
    code, report = status(config)
    assert (code, report["status"]) == (2, "down")

    # A success ends the run of errors: failing_since is cleared.
    poll(store, FEEDS[0], t)
    poll(store, FEEDS[1], t)
    code, report = status(config)
    assert code == 0 and report["facts"]["failing"] == []


def test_a_short_failure_is_reported_but_not_degraded(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    t = now()
    poll(store, FEEDS[0], t - M)
    poll(store, FEEDS[1], t - 20 * M)  # it worked before
    poll(store, FEEDS[1], t - 10 * M, error="HTTP 503")
    code, report = status(config)
    assert code == 0 and len(report["facts"]["failing"]) == 1
    config.write_text(config.read_text() + '\n[status]\nfailing_after = "5m"\n')
    assert status(config)[0] == 1


def test_a_feed_that_never_worked_is_failing_from_its_first_attempt(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    t = now()
    poll(store, FEEDS[0], t - M)
    poll(store, FEEDS[1], t - M, error="unexpected ValueError: bad title")
    code, report = status(config)
    assert (code, report["status"]) == (1, "degraded"), report
    assert "failing since their first poll" in report["reasons"][0]
    # Every feed failing since the daemon started: down at once, not after failing_after.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    config2, store2 = setup(fresh)
    poll(store2, FEEDS[0], t - M, error="HTTP 500")
    poll(store2, FEEDS[1], t - M, error="HTTP 500")
    assert status(config2)[1]["status"] == "down"


def test_a_failing_extraction_pool_degrades_the_status(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    t = now()
    poll(store, FEEDS[0], t - M)
    poll(store, FEEDS[1], t - M)
    store.set_component("extraction", "failing", "an extraction worker died", t)
    code, report = status(config)
    assert (code, report["status"]) == (1, "degraded")
    assert report["reasons"] == [f"extraction failing since {t.isoformat(timespec='seconds')}: "
                                 "an extraction worker died"]
    store.set_component("extraction", "ok", None, t)
    assert status(config)[0] == 0


def test_stale_polls_mean_down(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    t = now()
    poll(store, FEEDS[0], t - H)
    poll(store, FEEDS[1], t - H)
    code, report = status(config)  # default stale_after: 3 x the 15 m interval = 45 m
    assert code == 2 and report["reasons"][0].startswith("no poll for 1.0h")
    assert report["thresholds"]["stale_after"] == 2700
    config.write_text(config.read_text() + '\n[status]\nstale_after = "2h"\n')
    assert status(config)[0] == 0


def test_pending_and_failed_alerts_degrade(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    t = now()
    poll(store, FEEDS[0], t)
    poll(store, FEEDS[1], t)
    waiting = add_story(store, "waiting", seen=t - H, flagged=True)
    code, report = status(config)
    assert code == 1 and "an alert pending for 1.0h" in report["reasons"][0]
    assert report["facts"]["pending_alerts"] == 1
    config.write_text(config.read_text() + '\n[status]\npending_after = "2h"\n')
    assert status(config)[0] == 0

    [alert] = alert_ids(store, waiting)
    store.mark_failed_attempt(alert, error="HTTP 400", permanent=True, next_attempt=t)
    code, report = status(config)
    assert code == 1 and report["reasons"] == ["1 failed alerts in the last day (failed_alerts 0)"]
    config.write_text(config.read_text() + "failed_alerts = 1\n")
    assert status(config)[0] == 0


def test_latency_median_and_95th_percentile_over_the_last_day(tmp_path: Path) -> None:
    config, store = setup(tmp_path, extra='\n[status]\npending_after = "1d"\n')
    t = now()
    poll(store, FEEDS[0], t)
    poll(store, FEEDS[1], t)
    # (publication -> detection, detection -> delivery) in seconds, for alerts delivered today.
    delays = [(60, 2), (120, 4), (300, 6), (600, 8), (3600, 30)]
    for i, (found, sent) in enumerate(delays):
        detected = t - 2 * H + i * M
        sid = add_story(store, f"s{i}", seen=detected, flagged=True,
                        published=detected - dt.timedelta(seconds=found))
        store.mark_sent(alert_ids(store, sid)[0], now=detected + dt.timedelta(seconds=sent))
    # Delivered two days ago: outside the window.
    old = add_story(store, "old", seen=t - 50 * H, flagged=True, published=t - 51 * H)
    store.mark_sent(alert_ids(store, old)[0], now=t - 49 * H)
    # A publication date from a page (no time of day) is stored but not timed; still pending.
    add_story(store, "dateonly", seen=t - H, flagged=True)

    rows = store.db.execute("select published_at, detected_at, delivered_at from alert_latency "
                            "order by id").fetchall()
    assert rows[0][0] == (t - 2 * H - 60 * dt.timedelta(seconds=1)).isoformat()
    assert rows[-1][0] == (t - H).date().isoformat() and rows[-1][2] is None

    code, report = status(config)
    assert code == 0, report
    lat = report["facts"]["latency"]
    assert lat["published_to_detected"] == {"count": 5, "median": 300.0, "p95": 3600.0}
    assert lat["detected_to_delivered"] == {"count": 5, "median": 6.0, "p95": 30.0}
    assert lat["published_to_delivered"] == {"count": 5, "median": 306.0, "p95": 3630.0}
    text = monitor(config, "status").stdout
    assert "published -> detected   5.0m / 1.0h  (5 alerts)" in text
    assert "detected  -> delivered  6.0s / 30s  (5 alerts)" in text


# -- the pure parts ---------------------------------------------------------------------------

def test_percentile_and_spread() -> None:
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile(list(range(1, 21)), 95) == 19
    assert spread([3.0, 1.0, 2.0, 10.0]) == Spread(4, 2.5, 10.0)


def test_latency_skips_clock_skew_and_bare_dates() -> None:
    rows = [("2026-01-01T10:00:00+00:00", "2026-01-01T10:01:00+00:00", "2026-01-01T10:01:05+00:00"),
            ("2026-01-01T11:00:00+00:00", "2026-01-01T10:00:00+00:00", "2026-01-01T10:00:01+00:00"),
            ("2026-01-01", "2026-01-01T10:00:00+00:00", None)]
    result = latency(rows)
    assert result.published_to_detected == Spread(1, 60.0, 60.0)
    assert result.detected_to_delivered.count == 2


def facts(**changes: object) -> Facts:
    empty = Spread(0, None, None)
    base = dict(database="x", database_bytes=0, schema_version=2,
                last_poll="2026-01-01T12:00:00+00:00", feeds_polled=3, failing=(), components=(),
                pending_alerts=0, oldest_pending=None, failed_alerts_last_day=0, clippings=0,
                flagged=0, latency=Latency(empty, empty, empty))
    base.update(changes)
    return Facts(**base)  # type: ignore[arg-type]


def failing(since: str) -> FailingFeed:
    return FailingFeed("http://x", "", since, 3, "HTTP 500")


NOW = dt.datetime(2026, 1, 1, 12, 5, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("changes, verdict", [
    ({}, HEALTHY),
    ({"last_poll": None}, DOWN),
    ({"last_poll": "2026-01-01T10:00:00+00:00"}, DOWN),
    ({"failing": (failing("2026-01-01T11:30:00+00:00"),)}, HEALTHY),
    ({"failing": (failing("2026-01-01T10:00:00+00:00"),)}, DEGRADED),
    ({"failing": (failing("2026-01-01T10:00:00+00:00"),) * 3}, DOWN),
    ({"pending_alerts": 1, "oldest_pending": "2026-01-01T11:00:00+00:00"}, DEGRADED),
    ({"pending_alerts": 1, "oldest_pending": "2026-01-01T12:00:00+00:00"}, HEALTHY),
    ({"failed_alerts_last_day": 1}, DEGRADED),
])
def test_assess(changes: dict, verdict: str) -> None:
    assert assess(facts(**changes), StatusConfig(), stale=3600, now=NOW)[0] == verdict


def test_root_is_sent_to_the_database_owner(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    Store(db).close()
    if os.geteuid() == 0:  # as CI runs: give the file to a service user
        os.chown(db, 4242, 4242)
    assert db.stat().st_uid != 0
    problem = owner_problem(db, euid=0)
    assert problem and "run this command as that user" in problem and "sudo -u" in problem
    assert owner_problem(db, euid=1000) is None  # not root: nothing to protect
    assert owner_problem(tmp_path / "missing.db", euid=0) is None


@pytest.mark.parametrize("text, key", [
    ('[log]\nformat = "xml"', "log.format"), ('[log]\nlevel = "loud"', "log.level"),
    ('[log]\ncolour = true', "log.colour"), ('[status]\nstale_after = "soon"', "status.stale_after"),
    ('[status]\nfailed_alerts = -1', "status.failed_alerts"), ('[http]\nport = 70000', "http.port"),
    ('[data]\nretention_days = -3', "data.retention_days"), ('[data]\nkeep_flagged = "no"', "data.keep_flagged"),
])
def test_service_settings_are_checked(tmp_path: Path, text: str, key: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text + "\n")
    result = monitor(config, "check-config")
    assert result.returncode == 1 and f": {key}: " in result.stderr, result.stderr
