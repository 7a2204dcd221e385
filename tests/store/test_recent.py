"""The grouping index's recent rows in memory (monitor.store.recent, through store.archive),
against the tables they mirror, on a real SQLite file: the same rows in the same order, the
same candidates on the grouping test set, after a restart, a rolled-back story, another
connection's clippings and a prune."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from support.review_helpers import ARTICLES

from monitor.clipping import make_clipping
from monitor.decide.grouping import Signature, signature
from monitor.models import NewStory
from monitor.store import archive
from monitor.store.database import Store
from monitor.store.recent import Postings, RecentIndex
from monitor.store.signatures import seconds, write_index_rows

BASE = dt.datetime(2026, 11, 2, 8, tzinfo=dt.timezone.utc)
WINDOW = dt.timedelta(hours=72)
VOCABULARY = sorted({w.strip('.,;:"()').lower() for a in ARTICLES.values()
                     for w in a["body"].split() if w.strip('.,;:"()').isalpha()})


def story(key: str, title: str, body: str, at: dt.datetime, source: str = "s") -> NewStory:
    c = make_clipping(title=title, source=source, body=body, url=f"https://example.org/{key}")
    return NewStory(clipping_id=key, clipping=c, text="x", origin="feed", fingerprint="",
                    feed_url="f", guid=None, canonical=c.url, published=at)


def record(store: Store, key: str, title: str, body: str, at: dt.datetime,
           source: str = "s") -> None:
    settings_ = archive.StorySettings(window=WINDOW, update_window=None)
    assert archive.record_story(store, settings_, story(key, title, body, at, source),
                                now=at, at=at)


def made_up(i: int) -> tuple[str, str]:
    rng = random.Random(i)
    names = ["".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3))
             .title() for _ in range(3)] + ["ACE", "IPTV"]
    words = [rng.choice(VOCABULARY) for _ in range(100)]
    for n in names:
        words.insert(rng.randrange(1, len(words)), n)
    return " ".join([names[0], *rng.sample(VOCABULARY, 5), names[-1]]), " ".join(words)


def same_candidates(store: Store, sig: Signature, now: dt.datetime, exclude: str = "") -> list[str]:
    """The candidates from memory, checked against those read from the tables."""
    index = archive.recent_index(store, now)
    assert index.covers(seconds(sig.at - archive.CANDIDATE_AGE))  # memory answers, not the tables
    found = archive.candidates(store, sig, WINDOW, exclude, now=now)
    assert found == archive.candidates(store, sig, WINDOW, exclude, now=now, memory=False)
    return found


# --- Postings against the table they mirror: same rows, same order, ties included ----------

postings_st = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6),
                                 st.sampled_from(["a", "b", "c", "d", "e"])), max_size=60)


@settings(max_examples=60, deadline=None)
@given(postings_st, st.integers(0, 6), st.integers(0, 6), st.integers(1, 4),
       st.lists(st.integers(0, 6), max_size=5))
def test_newest_postings_are_the_tables_rows_in_their_order(
        tmp_path_factory: object, rows: list[tuple[int, int, str]], lo: int, hi: int,
        limit: int, values: list[int]) -> None:
    path = tmp_path_factory.mktemp("p") / "m.db"  # type: ignore[attr-defined]
    with Store(path) as store:
        with store.batch():
            write_index_rows(store.db.conn, rows, [])
        memory: Postings[int] = Postings()
        for key, at, cid in rows:
            memory.add(key, (at, cid))
        assert len(memory) == len(set(rows))
        assert memory.newest(values, lo, hi, limit) == archive._postings(
            store, "signature_keys", "key", values, lo, hi, limit)


def test_removing_and_pruning_postings() -> None:
    memory: Postings[str] = Postings()
    for at in (5, 1, 3):
        assert memory.add("x", (at, "c"))
    assert not memory.add("x", (3, "c"))
    memory.remove("x", (3, "c"))
    assert memory.newest(["x"], 0, 9, 9) == [("x", "c"), ("x", "c")]
    memory.prune(4)
    assert memory.newest(["x"], 0, 9, 9) == [("x", "c")] and len(memory) == 1
    memory.remove("x", (5, "c"))
    assert len(memory) == 0 and memory.newest(["x"], 0, 9, 9) == []


# --- Candidates from memory and from the tables, on the grouping test set ------------------

def test_candidates_from_memory_are_those_of_the_tables_and_survive_a_restart(
        tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = Store(path)
    n = 0
    sigs = []
    for a in sorted(ARTICLES.values(), key=lambda a: a["hours"]):
        at = BASE + dt.timedelta(hours=a["hours"])
        for _ in range(3):  # made-up stories around it, some at the very same time
            n += 1
            title, body = made_up(n)
            record(store, f"{n:016x}", title, body, at - dt.timedelta(minutes=n % 3 * 30))
        s = signature(a["title"], a["body"], at)
        same_candidates(store, s, at)
        key = hashlib.sha256(a["id"].encode()).hexdigest()[:16]
        record(store, key, a["title"], a["body"], at, source=a["source"])
        sigs.append((s, key, at))
    def rows(index: RecentIndex) -> tuple[int, int]:  # the tables' rows it must hold
        return tuple(store.db.execute(f"select count(*) from {t} where at >= ?",  # type: ignore
                                      [index.horizon]).fetchone()[0]
                     for t in ("signature_keys", "signature_terms"))

    live = archive.recent_index(store, sigs[-1][2])
    assert (len(live.keys), len(live.terms)) == rows(live)
    store.close()
    with Store(path) as store:  # a restart: built again from the tables
        now = sigs[0][2] + archive.CANDIDATE_AGE  # what it holds reaches back to the first
        rebuilt = archive.recent_index(store, now)
        assert (len(rebuilt.keys), len(rebuilt.terms)) == rows(rebuilt)
        for s, key, _ in sigs:  # each finds itself among its candidates
            assert key in same_candidates(store, s, now)


def test_a_rolled_back_story_leaves_nothing_in_memory(tmp_path: Path) -> None:
    with Store(tmp_path / "m.db") as store:
        title, body = made_up(1)
        record(store, "1" * 16, title, body, BASE)
        before = archive.recent_index(store, BASE)
        counts = len(before.keys), len(before.terms)
        try:
            with store.batch():
                record(store, "2" * 16, title, body + " a copy", BASE)
                raise RuntimeError("the story's transaction fails after its grouping")
        except RuntimeError:
            pass
        index = archive.recent_index(store, BASE)
        assert (len(index.keys), len(index.terms)) == counts
        s = signature(title, body, BASE + dt.timedelta(minutes=1))
        assert same_candidates(store, s, BASE) == ["1" * 16]
        # a savepoint rolled back inside a transaction that commits
        with store.batch():
            try:
                with store.batch():
                    record(store, "3" * 16, title, body, BASE)
                    raise RuntimeError("this story only")
            except RuntimeError:
                pass
            record(store, "4" * 16, title, body, BASE)
        assert set(same_candidates(store, s, BASE)) == {"4" * 16, "1" * 16}


def test_another_connections_clippings_are_read_into_memory(tmp_path: Path) -> None:
    """Only the writer lock's holder stores clippings, but a second Store on the file (a test,
    a process bypassing the lock) is caught up with through SQLite's data_version."""
    path = tmp_path / "m.db"
    with Store(path) as ours, Store(path) as theirs:
        title, body = made_up(1)
        record(ours, "1" * 16, title, body, BASE)
        s = signature(title, body, BASE + dt.timedelta(minutes=5))
        assert same_candidates(ours, s, BASE) == ["1" * 16]
        record(theirs, "2" * 16, title, body, BASE + dt.timedelta(minutes=1))
        assert set(same_candidates(ours, s, BASE)) == {"2" * 16, "1" * 16}
        record(ours, "3" * 16, title, body, BASE + dt.timedelta(minutes=2))
        record(theirs, "4" * 16, title, body, BASE + dt.timedelta(minutes=3))
        assert set(same_candidates(ours, s, BASE)) == {"4" * 16, "3" * 16, "2" * 16, "1" * 16}


def test_memory_is_pruned_and_older_reads_go_to_the_tables(tmp_path: Path) -> None:
    with Store(tmp_path / "m.db") as store:
        title, body = made_up(1)
        record(store, "1" * 16, title, body, BASE)
        later = BASE + archive.MEMORY_SPAN + dt.timedelta(days=2)
        index = archive.recent_index(store, later)
        assert len(index.keys) == len(index.terms) == 0
        s = signature(title, body, BASE + dt.timedelta(minutes=5))
        assert not index.covers(seconds(s.at - archive.CANDIDATE_AGE))
        assert archive.candidates(store, s, WINDOW, now=later) == ["1" * 16]
