"""What `monitor run` says of its progress: a one-line summary of the polls ([log]
summary_every) and when the next polls are due, at start and after each summary. The lines
themselves are pure functions; the daemon is a real child process."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from support.feedserver import FeedServer, rss
from support.helpers import REPO, write_config
from support.waiting import wait_until

from monitor.pipeline.update import CycleReport
from monitor.service.scheduler import Tally, next_polls_line, summary_line

NOW = dt.datetime(2026, 11, 3, 18, 38, tzinfo=dt.timezone.utc)


def test_summary_line_counts_distinct_feeds_and_what_they_found() -> None:
    tally = Tally()
    tally.add("https://a.example/feed", CycleReport(new_clippings=3, flagged=1))
    tally.add("https://a.example/feed", CycleReport(new_clippings=2))  # polled twice: one feed
    tally.add("https://b.example/feed", CycleReport(errors=["https://b.example/feed: HTTP 500"]))
    assert summary_line(tally, 400) == "polled 2/400 feeds, 5 new, 1 flagged, 1 error"
    assert summary_line(Tally(), 0) == "polled 0/0 feeds, 0 new, 0 flagged, 0 errors"


def test_next_polls_line_names_the_soonest_batch_and_the_hour() -> None:
    soon = NOW + dt.timedelta(minutes=4)
    due = [soon, soon + dt.timedelta(seconds=30), soon + dt.timedelta(seconds=59),
           NOW + dt.timedelta(minutes=30), NOW + dt.timedelta(hours=3)]
    at = soon.astimezone().strftime("%H:%M")
    assert next_polls_line(due, NOW) == (f"next polls: 3 feeds due in 4m, next at {at}; "
                                         "4 within the hour")
    overdue = [NOW - dt.timedelta(seconds=5)]
    at = overdue[0].astimezone().strftime("%H:%M")
    assert next_polls_line(overdue, NOW) == f"next polls: 1 feed due now, next at {at}"
    later = [NOW + dt.timedelta(hours=2, minutes=5)]
    assert next_polls_line(later, NOW).startswith("next polls: 1 feed due in 2h05m, next at ")
    assert next_polls_line([], NOW) == "next polls: none scheduled"


def test_the_daemon_logs_its_summary_and_the_next_polls(tmp_path: Path,
                                                         feed_server: FeedServer) -> None:
    items = [{"title": "Police raid pirate IPTV operation", "link": feed_server.url("/a"),
              "summary": "Police raided a pirate IPTV operation and seized its servers."}]
    urls = [feed_server.put(f"/feed{i}.xml", rss(f"Feed {i}", items if i == 0 else []),
                            "application/rss+xml") for i in range(2)]
    urls.append(feed_server.url("/missing.xml"))  # 404: an error
    config = write_config(tmp_path, urls, fetch_pages=False, interval="1h",
                          extra='[log]\nsummary_every = "1s"\n')
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"], stdout=log,
            stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        summary = re.compile(r"INFO polled 3/3 feeds, 1 new, \d+ flagged, 1 error$", re.M)
        assert wait_until(lambda: summary.search(log_path.read_text()), 60), log_path.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = log_path.read_text().splitlines()
    # At start, before any poll: every feed overdue, due now.
    started = next(i for i, line in enumerate(lines) if "monitor running" in line)
    assert re.search(r"INFO next polls: 3 feeds due (now|in \d+s), next at \d\d:\d\d$",
                     lines[started + 1]), lines
    # After the summary: the next polls are minutes or an hour away (the failing feed backs off).
    done = next(i for i, line in enumerate(lines) if summary.search(line))
    assert re.search(r"INFO next polls: \d feeds? due in (\d+h)?\d+m, next at \d\d:\d\d",
                     lines[done + 1]), lines
