"""Full-text search on a real SQLite file with FTS5, kept in step with the clippings
by triggers, through `monitor search` as a user runs it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from support.helpers import monitor
from support.review_helpers import ARTICLES, review_config

from monitor.store import archive
from monitor.clipping import make_clipping, render
from monitor.errors import MonitorError
from monitor.models import Match, MatchedTerm, NewStory
from monitor.store.search import search, since_cutoff
from monitor.store.database import Store

NOW = dt.datetime.now(dt.timezone.utc)


def fill(db: Path) -> None:
    """Four test articles: two flagged by a rule (made here), one of them old."""
    store = Store(db)
    settings = archive.StorySettings(window=dt.timedelta(hours=72), update_window=None)
    match = Match("piracy-enforcement", 3.0, (MatchedTerm("pirate", "title", 0, 6),))
    for n, (article_id, days_ago, flagged) in enumerate(
            [("e1-a", 1, True), ("e4-a", 2, False), ("e7-a", 30, True), ("s1", 1, False)]):
        a = ARTICLES[article_id]
        at = NOW - dt.timedelta(days=days_ago)
        c = make_clipping(title=a["title"], source=a["source"], body=a["body"],
                          url=f"https://example.org/{article_id}", date=at.date(),
                          tags=("ACE",) if article_id == "e7-a" else ())
        archive.record_story(store, settings, NewStory(
            clipping_id=f"{n:016x}", clipping=c, text=render(c), origin="feed", fingerprint="",
            feed_url="f", guid=None, canonical=c.url, published=at,
            matches=(match,) if flagged else ()), now=at, at=at)
    store.close()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    fill(tmp_path / "m.db")
    s = Store(tmp_path / "m.db")
    yield s
    s.close()


def ids(hits: list) -> list[str]:
    return [h.id for h in hits]


def test_words_of_the_body_title_source_and_tags(store: Store) -> None:
    [hit] = search(store, "TeleFutbol")  # only in the body
    assert hit.id == f"{0:016x}" and "«TeleFutbol»" in hit.snippet
    assert ids(search(store, "source:\"Business Wire\"")) == [f"{3:016x}"]
    assert ids(search(store, "tags:ACE")) == [f"{2:016x}"]
    assert "«Arcom»" in search(store, "title:arcom")[0].title


def test_accents_case_and_english_stems_are_folded(store: Store) -> None:
    assert ids(search(store, "AUTORITE")) == [f"{1:016x}"]  # "l'autorité"
    assert ids(search(store, "arrest")) == ids(search(store, "arrested"))  # porter
    assert search(store, "arrest")


def test_filters_and_order(store: Store) -> None:
    everything = search(store, "police OR Arcom OR streaming OR prosecutors")
    assert len(everything) == 4
    flagged = search(store, "police OR prosecutors OR Arcom", flagged=True)
    assert sorted(ids(flagged)) == [f"{0:016x}", f"{2:016x}"]
    week = since_cutoff("7d", NOW)
    assert ids(search(store, "police OR prosecutors", flagged=True, since=week)) == [f"{0:016x}"]
    assert ids(search(store, "police OR Arcom OR prices", source="numerama")) == [f"{1:016x}"]
    assert sorted(ids(search(store, "police OR Arcom OR prosecutors",
                             rule="piracy-enforcement"))) == [f"{0:016x}", f"{2:016x}"]
    newest = search(store, "police OR Arcom OR streaming OR prosecutors", sort="newest")
    assert ids(newest)[-1] == f"{2:016x}"  # 30 days old
    ranks = [h.rank for h in everything]
    assert ranks == sorted(ranks)  # bm25: best (lowest) first


def test_the_index_follows_updates_and_deletes(store: Store) -> None:
    store.db.execute("update clippings set title = 'Zanzibar sting' where id = ?", [f"{3:016x}"])
    assert ids(search(store, "zanzibar")) == [f"{3:016x}"]
    assert search(store, "title:europe") == []  # the old title is out of the index
    store.db.execute("delete from signatures where clipping_id = ?", [f"{3:016x}"])
    store.db.execute("delete from clippings where id = ?", [f"{3:016x}"])
    assert search(store, "zanzibar") == []


def test_updates_of_other_columns_leave_the_index_as_it_was(store: Store) -> None:
    # The index is re-written only when its text changes (a story or language given to a
    # clipping after it was stored must not re-index its body), and stays whole either way.
    before = store.db.execute("select count(*) from clippings_fts_data").fetchone()[0]
    store.db.execute("update clippings set lang = 'xx', flagged = 1 where id = ?", [f"{3:016x}"])
    assert store.db.execute("select count(*) from clippings_fts_data").fetchone()[0] == before
    store.db.execute("update clippings set body = body || ' Zanzibar' where id = ?", [f"{3:016x}"])
    assert ids(search(store, "zanzibar")) == [f"{3:016x}"]
    assert ids(search(store, "source:\"Business Wire\"")) == [f"{3:016x}"]
    store.db.execute("insert into clippings_fts (clippings_fts) values ('integrity-check')")


@pytest.mark.parametrize("query, reason", [
    ("pirate AND (", "ends too early"), ('"anti-piracy', "unterminated string"),
    ("anti-piracy", "no such column"), ("   ", "empty search")])
def test_bad_queries_are_plain_errors(store: Store, query: str, reason: str) -> None:
    with pytest.raises(MonitorError, match=reason):
        search(store, query)


def test_since_accepts_durations_and_dates() -> None:
    now = dt.datetime(2026, 11, 10, 12, tzinfo=dt.timezone.utc)
    assert since_cutoff("7d", now) == "2026-11-03T12:00:00+00:00"
    assert since_cutoff("2026-11-01", now) == "2026-11-01T00:00:00+00:00"
    with pytest.raises(MonitorError, match="--since"):
        since_cutoff("last week", now)


def test_the_command(tmp_path: Path) -> None:
    config = review_config(tmp_path, [])
    fill(tmp_path / "monitor.db")
    done = monitor(config, "search", "TeleFutbol", "--json")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    hit = json.loads(line)
    assert hit["title"] == ARTICLES["e1-a"]["title"] and "«TeleFutbol»" in hit["snippet"]
    assert hit["rules"] == ["piracy-enforcement"] and hit["story_id"] == 1
    bad = monitor(config, "search", "pirate AND (")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("monitor: error: cannot search for 'pirate AND ('")
    assert "Traceback" not in bad.stderr
    text = monitor(config, "search", "police", "--flagged", "--since", "7d")
    assert text.returncode == 0 and "«police»" in text.stdout.lower()
    assert ARTICLES["e7-a"]["title"] not in text.stdout  # 30 days old
