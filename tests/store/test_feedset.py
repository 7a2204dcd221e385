"""monitor.store.feedset on a real SQLite file: the feeds a cycle polls (active_feeds) are
feed_set()'s active ones, read the short way; a poll's starting point (Store.poll_start) is
the feed's state and whether it ever succeeded, buffered outcomes included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from support.helpers import record_poll, write_config

from monitor.config import load_config
from monitor.models import FeedUpdate, ScheduleDecision
from monitor.store.database import Store
from monitor.store.feedset import active_feeds, feed_set

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
BASE = "http://127.0.0.1:9"


def test_active_feeds_are_the_feed_sets_active_ones(tmp_path: Path) -> None:
    urls = [f"{BASE}/{name}.xml" for name in ("ok", "gone", "off", "both")]
    extra = f'\n[[feeds]]\nurl = "{BASE}/off.xml"\nenabled = false\n'
    path = write_config(tmp_path, [urls[0], urls[1], urls[3]], extra=extra)
    config = load_config(path)
    with Store(tmp_path / "monitor.db") as store:
        # added by command: one active, one disabled by command, one the monitor disabled,
        # one that config.toml lists too (the config's), one disabled by the monitor
        for name in ("cmd", "cmd-off", "cmd-gone", "both"):
            store.add_feed(f"{BASE}/{name}.xml", name=name, now=NOW)
        store.set_feed_enabled(f"{BASE}/cmd-off.xml", False)
        for gone in (urls[1], f"{BASE}/cmd-gone.xml"):
            record_poll(store, gone, NOW, outcome="error", error="HTTP 410 Gone", status=410)
        expected = [info.feed for info in feed_set(config, store) if info.active]
        assert [feed.url for feed in expected] == [urls[0], urls[3], f"{BASE}/cmd.xml"]
        assert active_feeds(config, store) == expected


def test_poll_start_reads_state_and_first_success_in_one(tmp_path: Path) -> None:
    url = f"{BASE}/feed.xml"
    with Store(tmp_path / "monitor.db") as store:
        assert store.poll_start(url) == (None, False)
        record_poll(store, url, NOW, outcome="error", error="HTTP 500", status=500)
        state, succeeded = store.poll_start(url)
        assert state is not None and state.error_count == 1 and not succeeded
        decision = ScheduleDecision(next_check=NOW, interval=900.0, error_count=0, status="ok")
        store.record_poll(FeedUpdate(url, name="", checked_at=NOW, outcome="not_modified",
                                     decision=decision, http_status=304, etag='"v1"'))
        # still buffered, not yet written: the poll that follows sees it all the same
        state, succeeded = store.poll_start(url)
        assert state is not None and state.etag == '"v1"' and state.error_count == 0
        assert succeeded
