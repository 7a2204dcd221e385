"""monitor.store: a real SQLite file in tmp_path. Schema and migrations, WAL, stories with their
matches and alerts in one transaction, the alert outbox, feed state."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from support.helpers import record_poll

from monitor.clipping import make_clipping, render
from monitor.parse.identity import story_key as clipping_key
from monitor.errors import StoreError
from monitor.models import (Alert, Clipping, FeedUpdate, Match, MatchedTerm, NewStory,
                            ScheduleDecision)
from monitor.store.database import Store
from monitor.store.schema import SCHEMA_VERSION, migrations

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
FEED = "https://torrentfreak.com/feed/"
URL = "https://torrentfreak.com/police-raid-iptv-sellers/"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "monitor.db"  # the folder does not exist yet


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


def clipping(title: str = "Police raid IPTV sellers", url: str = URL, **kw: object) -> Clipping:
    return make_clipping(title=title, standfirst="Three arrested.", source="TorrentFreak", url=url,
                         date=dt.date(2024, 3, 1), author="Ernesto", body="Police raided...\n\n> quote",
                         tags=("Europol", "TorrentFreak"), **kw)  # type: ignore[arg-type]


MATCHES = (
    Match(rule="enforcement", score=2.5,
          terms=(MatchedTerm("IPTV", "title", 17, 21), MatchedTerm("raid", "title", 7, 11)),
          tags=("raid",)),
    Match(rule="europol", score=1.0, terms=(MatchedTerm("Europol", "body", 0, 7),)),
)


def add(store: Store, c: Clipping | None = None, *, guid: str | None = "guid-1", feed_url: str = FEED,
        matches: tuple[Match, ...] = MATCHES,
        alerts: dict[str, tuple[str, ...]] | None = None, now: dt.datetime = NOW,
        published: dt.datetime | None = NOW) -> bool:
    c = c or clipping()
    return store.add_story(NewStory(
        clipping_id=clipping_key(c.url), clipping=c, text=render(c), origin="page",
        fingerprint="0123456789abcdef", feed_url=feed_url, guid=guid, canonical=c.url,
        published=published, matches=matches,
        alerts={"webhook": ("enforcement", "europol"), "email": ("enforcement",)} if alerts is None else alerts),
        now=now)


# --- schema, WAL, migrations --------------------------------------------------------------------------

def test_new_database_has_the_current_schema_version_and_wal(store: Store, db_path: Path) -> None:
    assert db_path.exists()
    assert SCHEMA_VERSION == len(migrations.pending(sqlite_utils.Database(memory=True)))
    assert store.schema_version == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"feeds", "entries", "clippings", "matches", "alerts"} <= set(store.db.table_names())
    # WAL is a property of the file: another connection sees it too.
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_reopening_keeps_the_data_and_does_not_rerun_migrations(db_path: Path) -> None:
    first = Store(db_path)
    assert add(first)
    record_poll(first, FEED, NOW, name="TorrentFreak", etag='"e1"')
    applied = list(first.db.query("select * from _sqlite_migrations"))
    first.close()

    second = Store(db_path)
    try:
        assert second.schema_version == SCHEMA_VERSION
        assert list(second.db.query("select * from _sqlite_migrations")) == applied
        assert len(applied) == SCHEMA_VERSION
        assert second.count("clippings") == 1 and second.count("alerts") == 2
        feed = second.feed_state(FEED)
        assert feed is not None and feed.etag == '"e1"'
        stored = second.clipping(clipping_key(URL))
        assert stored is not None and stored.clipping == clipping()
    finally:
        second.close()


def test_a_file_that_is_not_a_database_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an SQLite database, just some bytes" * 100)
    with pytest.raises(StoreError) as info:
        Store(path)
    assert str(path) in str(info.value)


def test_a_folder_in_place_of_the_file_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Store(tmp_path)


# --- stories -------------------------------------------------------------------------------------------

def test_add_story_writes_clipping_matches_and_alerts(store: Store) -> None:
    c = clipping()
    assert add(store, c) is True
    cid = clipping_key(URL)
    assert (store.count("entries"), store.count("clippings"), store.count("matches"),
            store.count("alerts")) == (1, 1, 2, 2)
    stored = store.clipping(cid)
    assert stored is not None
    assert stored.id == cid
    assert stored.clipping == c
    assert stored.text == render(c)
    assert stored.origin == "page"
    assert stored.flagged is True
    assert stored.rules == ("enforcement", "europol")  # by score, highest first
    alerts = {a.notifier: a for a in store.alerts()}
    assert set(alerts) == {"webhook", "email"}
    for notifier, row in alerts.items():
        assert row.key == f"{cid}-{notifier}"
        assert row.status == "pending" and row.attempts == 0 and row.clipping_id == cid


def test_same_story_again_adds_no_second_clipping_or_alert(store: Store) -> None:
    assert add(store) is True
    # The same story reached through another feed, with its own guid.
    assert add(store, guid="other-feed-guid", feed_url="https://other.example/rss",
               now=NOW + dt.timedelta(minutes=5)) is False
    assert (store.count("clippings"), store.count("matches"), store.count("alerts")) == (1, 2, 2)
    # ...but its guid is remembered, so that feed does not bring it up again.
    assert store.is_seen(None, "other-feed-guid")


def test_story_without_matches_is_stored_unflagged_without_alerts(store: Store) -> None:
    assert add(store, matches=(), alerts={}) is True
    stored = store.clipping(clipping_key(URL))
    assert stored is not None and stored.flagged is False and stored.rules == ()
    assert store.count("alerts") == 0 and store.pending_alerts() == []


def test_add_story_is_one_transaction(store: Store) -> None:
    # Two matches for one rule break the unique (clipping_id, rule) index half-way through:
    # nothing of the story may stay behind.
    broken = (MATCHES[0], Match(rule="enforcement", score=1.0, terms=()))
    with pytest.raises((sqlite3.IntegrityError, StoreError)):
        add(store, matches=broken)
    assert (store.count("entries"), store.count("clippings"), store.count("matches"),
            store.count("alerts")) == (0, 0, 0, 0)
    assert not store.is_seen(URL, "guid-1")
    assert add(store) is True  # and the database is still usable


def test_is_seen_by_url_or_guid(store: Store) -> None:
    assert not store.is_seen(URL, "guid-1")
    add(store)
    assert store.is_seen(URL, None)
    assert store.is_seen(None, "guid-1")
    assert store.is_seen(URL, "another-guid")
    assert store.is_seen("https://elsewhere.example/x", "guid-1")
    assert not store.is_seen("https://elsewhere.example/x", "another-guid")
    assert not store.is_seen(None, None)
    assert not store.is_seen("", "")


def test_story_without_guid_is_seen_by_url(store: Store) -> None:
    add(store, guid=None)
    assert store.is_seen(URL, None)
    assert not store.is_seen(None, "guid-1")


def test_clippings_newest_first_flagged_and_limit(store: Store) -> None:
    for day in (1, 3, 2):
        c = clipping(title=f"Story {day}", url=f"https://news.example/{day}")
        add(store, c, guid=f"g{day}", published=dt.datetime(2024, 3, day, tzinfo=UTC),
            matches=MATCHES if day != 2 else (), alerts={})
    assert [s.clipping.title for s in store.clippings()] == ["Story 3", "Story 2", "Story 1"]
    assert [s.clipping.title for s in store.clippings(flagged=True)] == ["Story 3", "Story 1"]
    assert [s.clipping.title for s in store.clippings(limit=1)] == ["Story 3"]
    assert store.clipping("0000000000000000") is None


# --- the alert outbox ----------------------------------------------------------------------------------

def test_pending_alerts_carry_the_clipping_and_the_routed_matches(store: Store) -> None:
    add(store)
    alerts = store.pending_alerts()
    assert [a.notifier for a in alerts] == ["webhook", "email"]  # oldest first
    webhook, email = alerts
    assert isinstance(webhook, Alert)
    assert webhook.clipping == clipping()
    assert webhook.clipping_id == clipping_key(URL)
    assert webhook.origin == "page"
    assert webhook.attempts == 0
    assert webhook.created_at == NOW
    assert webhook.matches == MATCHES
    assert email.matches == (MATCHES[0],)  # only the rules routed to this notifier
    assert webhook.key != email.key


def test_mark_sent_takes_the_alert_out_of_the_outbox(store: Store) -> None:
    add(store)
    webhook, email = store.pending_alerts()
    store.mark_sent(webhook.id, now=NOW + dt.timedelta(seconds=3))
    assert [a.id for a in store.pending_alerts()] == [email.id]
    row = next(r for r in store.alerts() if r.id == webhook.id)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at
    # Marking it again changes nothing: an alert is sent once.
    store.mark_sent(webhook.id, now=NOW + dt.timedelta(seconds=9))
    again = next(r for r in store.alerts() if r.id == webhook.id)
    assert again == row


def test_permanent_failure_fails_the_alert(store: Store) -> None:
    add(store)
    webhook, _ = store.pending_alerts()
    store.mark_failed_attempt(webhook.id, error="HTTP 410 Gone", permanent=True,
                              next_attempt=NOW + dt.timedelta(minutes=1))
    row = next(r for r in store.alerts() if r.id == webhook.id)
    assert row.status == "failed" and row.attempts == 1 and row.last_error == "HTTP 410 Gone"
    assert webhook.id not in [a.id for a in store.pending_alerts()]
    assert webhook.id not in [a.id for a in store.pending_alerts(now=NOW + dt.timedelta(days=1))]


def test_transient_failure_stays_pending_until_next_attempt(store: Store) -> None:
    add(store)
    webhook, email = store.pending_alerts()
    retry_at = NOW + dt.timedelta(minutes=10)
    store.mark_failed_attempt(webhook.id, error="connection refused", permanent=False, next_attempt=retry_at)
    row = next(r for r in store.alerts() if r.id == webhook.id)
    assert row.status == "pending" and row.attempts == 1 and row.last_error == "connection refused"
    assert row.next_attempt == retry_at

    assert [a.id for a in store.pending_alerts(now=NOW)] == [email.id]
    assert [a.id for a in store.pending_alerts(now=retry_at - dt.timedelta(seconds=1))] == [email.id]
    assert [a.id for a in store.pending_alerts(now=retry_at)] == [webhook.id, email.id]
    assert [a.id for a in store.pending_alerts()] == [webhook.id, email.id]  # no clock: everything
    assert store.pending_alerts(now=retry_at)[0].attempts == 1

    store.mark_failed_attempt(webhook.id, error="timeout", permanent=False,
                              next_attempt=retry_at + dt.timedelta(minutes=20))
    store.mark_sent(webhook.id, now=retry_at + dt.timedelta(minutes=20))
    row = next(r for r in store.alerts() if r.id == webhook.id)
    assert row.status == "sent" and row.attempts == 3 and row.last_error is None


def test_pending_alerts_compare_times_in_utc(store: Store) -> None:
    add(store)
    webhook, email = store.pending_alerts()
    paris = dt.timezone(dt.timedelta(hours=1))
    store.mark_failed_attempt(webhook.id, error="503", permanent=False,
                              next_attempt=dt.datetime(2024, 3, 1, 13, 30, tzinfo=paris))  # 12:30 UTC
    assert [a.id for a in store.pending_alerts(now=dt.datetime(2024, 3, 1, 12, 20, tzinfo=UTC))] == [email.id]
    assert webhook.id in [a.id for a in store.pending_alerts(now=dt.datetime(2024, 3, 1, 12, 31, tzinfo=UTC))]


def test_outbox_survives_a_reopen(db_path: Path) -> None:
    first = Store(db_path)
    add(first)
    webhook, _ = first.pending_alerts()
    first.mark_failed_attempt(webhook.id, error="down", permanent=False, next_attempt=NOW)
    first.close()
    second = Store(db_path)
    try:
        alerts = second.pending_alerts(now=NOW)
        assert [a.notifier for a in alerts] == ["webhook", "email"]
        assert alerts[0].attempts == 1
    finally:
        second.close()


# --- feed state ----------------------------------------------------------------------------------------

def test_feed_errors_are_counted_and_success_resets_them(store: Store) -> None:
    assert store.feed_state(FEED) is None
    record_poll(store, FEED, NOW, name="TorrentFreak", outcome="error", error="HTTP 500", status=500)
    later = NOW + dt.timedelta(minutes=15)
    record_poll(store, FEED, later, name="TorrentFreak", outcome="error", error="HTTP 429",
                status=429, retry_after=1800)
    feed = store.feed(FEED)
    assert feed is not None
    assert (feed.name, feed.state.error_count, feed.last_status, feed.last_error) == (
        "TorrentFreak", 2, "error", "HTTP 429")
    state = store.feed_state(FEED)
    assert state is not None and state.retry_after_until == later + dt.timedelta(minutes=30)
    assert state.failing_since == NOW  # the first error of the run
    assert feed.last_checked == later

    record_poll(store, FEED, NOW + dt.timedelta(hours=1), name="TorrentFreak", title="TorrentFreak",
                etag='"abc"', last_modified="Fri, 01 Mar 2024 12:00:00 GMT")
    state = store.feed_state(FEED)
    feed = store.feed(FEED)
    assert state is not None and feed is not None
    assert (state.error_count, feed.last_status, feed.last_error, state.retry_after_until,
            state.failing_since) == (0, "updated", None, None, None)
    assert (state.etag, state.last_modified) == ('"abc"', "Fri, 01 Mar 2024 12:00:00 GMT")
    assert len(store.feeds()) == 1


def test_not_modified_keeps_the_validators(store: Store) -> None:
    record_poll(store, FEED, NOW, etag='"abc"', last_modified="Fri, 01 Mar 2024 12:00:00 GMT")
    record_poll(store, FEED, NOW + dt.timedelta(minutes=10), outcome="not_modified", status=304)
    state = store.feed_state(FEED)
    feed = store.feed(FEED)
    assert state is not None and feed is not None
    assert (state.etag, state.last_modified, feed.last_status) == (
        '"abc"', "Fri, 01 Mar 2024 12:00:00 GMT", "not_modified")


def test_ill_formed_feed_success_records_its_problem(store: Store) -> None:
    record_poll(store, FEED, NOW, error="SAXParseException: not well-formed")
    feed = store.feed(FEED)
    assert feed is not None
    assert feed.state.error_count == 0 and feed.last_error == "SAXParseException: not well-formed"


def test_feed_errors_keep_the_validators(store: Store) -> None:
    record_poll(store, FEED, NOW, etag='"abc"')
    record_poll(store, FEED, NOW + dt.timedelta(minutes=10), outcome="error", error="timed out",
                status=None)
    state = store.feed_state(FEED)
    assert state is not None and state.etag == '"abc"' and state.error_count == 1


# --- the store as a boundary: records in and out, batches, closing ------------------------------------

def test_with_block_closes_the_store_and_writes_buffered_polls(db_path: Path) -> None:
    with Store(db_path) as store:
        store.record_poll(FeedUpdate(FEED, name="TorrentFreak", checked_at=NOW, outcome="updated",
                                     decision=ScheduleDecision(next_check=None, interval=900.0,
                                                               error_count=0, status="ok")))
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        store.db.execute("select 1")
    with Store(db_path) as again:
        [feed] = again.feeds()
        assert (feed.url, feed.name, feed.last_status, feed.last_checked, feed.origin) == (
            FEED, "TorrentFreak", "updated", NOW, "config")
        assert again.feed_rows() == {FEED: feed} and again.feed(FEED) == feed


def test_a_batch_is_stored_whole_or_not_at_all(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.batch():
            assert add(store)
            raise RuntimeError("the second story failed")
    assert store.count("clippings") == 0 and store.count("alerts") == 0
    with store.batch():
        assert add(store)
        assert add(store, clipping(title="Other", url=URL + "other"), guid="guid-2")
    assert store.count("clippings") == 2


def test_alert_rows_are_records_newest_first_with_their_story(store: Store) -> None:
    add(store)
    email, webhook = store.alert_rows()
    assert (webhook.notifier, email.notifier) == ("webhook", "email")
    assert webhook.rules == ("enforcement", "europol") and email.rules == ("enforcement",)
    assert (email.title, email.source, email.link) == (clipping().title, "TorrentFreak", URL)
    assert email.created_at == NOW and email.sent_at is None and email.status == "pending"
    assert store.find_alert(str(email.id)) == email == store.find_alert(email.key)
    assert store.alert_rows(status="sent") == [] and store.alerts() == [webhook, email]


def test_a_transaction_takes_the_write_lock_when_it_begins(store: Store, db_path: Path) -> None:
    """Another process's commit between our read and our write would leave us a stale snapshot
    (an immediate "database is locked"): begun IMMEDIATE, the other process waits instead."""
    other = sqlite3.connect(db_path, timeout=0.2)
    try:
        with store.batch():
            store.db.execute("select count(*) from feeds").fetchone()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("insert into feeds (url) values ('https://example.org/b')")
            store.db.execute("insert into feeds (url) values ('https://example.org/a')")
        other.execute("insert into feeds (url) values ('https://example.org/b')")
        other.commit()
    finally:
        other.close()
    assert [r[0] for r in store.db.execute("select url from feeds order by url")] == [
        "https://example.org/a", "https://example.org/b"]


def test_one_flush_writes_polls_that_changed_different_columns(store: Store) -> None:
    """Buffered polls are written grouped by the columns they change: each feed keeps its own."""
    decision = ScheduleDecision(next_check=NOW, interval=900.0, error_count=0, status="ok")
    failed = ScheduleDecision(next_check=NOW, interval=900.0, error_count=1, status="failing",
                              failing_since=NOW)
    urls = [f"http://127.0.0.1:9/{n}.xml" for n in range(4)]
    store.record_poll(FeedUpdate(urls[0], name="a", checked_at=NOW, outcome="updated",
                                 decision=decision, http_status=200, etag='"a"', title="A"))
    store.record_poll(FeedUpdate(urls[1], name="b", checked_at=NOW, outcome="not_modified",
                                 decision=decision, http_status=304, etag='"b"'))
    store.record_poll(FeedUpdate(urls[2], name="c", checked_at=NOW, outcome="error",
                                 decision=failed, http_status=500, error="HTTP 500"))
    store.record_poll(FeedUpdate(urls[3], name="d", checked_at=NOW, outcome="not_modified",
                                 decision=decision, http_status=304, etag='"d"'))
    store.flush()
    rows = {row.url: row for row in store.feeds()}
    assert [(rows[u].name, rows[u].state.etag, rows[u].title, rows[u].last_status,
             rows[u].state.error_count, rows[u].last_error) for u in urls] == [
        ("a", '"a"', "A", "updated", 0, None), ("b", '"b"', "", "not_modified", 0, None),
        ("c", None, "", "error", 1, "HTTP 500"), ("d", '"d"', "", "not_modified", 0, None)]
    assert rows[urls[0]].last_success == NOW and rows[urls[2]].last_success is None
