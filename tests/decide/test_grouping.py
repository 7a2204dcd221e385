"""Grouping of clippings into stories: pure tests on our own test articles, and the
same through the store (real SQLite). Syndicated copies are one story whatever their age;
reworded reports of an event within story_window are one story; different events worded alike
(two ACE takedowns on the same day) stay apart; a follow-up days later is a new story."""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.review_helpers import ARTICLES

from monitor.store import archive
from monitor.clipping import make_clipping
from monitor.decide.grouping import (Signature, _unmentioned, compare, containment, fold, pairwise_scores,
                              resemblance, signature, sketch)
from monitor.models import NewStory
from monitor.store.database import Store

BASE = dt.datetime(2026, 11, 2, 8, tzinfo=dt.timezone.utc)
WINDOW = dt.timedelta(hours=72)


def sig(article_id: str, *, hours: float | None = None) -> Signature:
    a = ARTICLES[article_id]
    at = BASE + dt.timedelta(hours=a["hours"] if hours is None else hours)
    return signature(a["title"], a["body"], at)


@pytest.mark.parametrize("a, b", [("e1-a", "e1-c"), ("e7-a", "e7-b"), ("e1-a", "e1-d")])
def test_syndicated_copies_are_one_story_whatever_their_age(a: str, b: str) -> None:
    verdict = compare(sig(a), sig(b, hours=24 * 20), WINDOW)  # the copy 20 days later
    assert verdict.same and verdict.reason == "syndicated"


@pytest.mark.parametrize("a, b", [("e1-a", "e1-b"), ("e2-a", "e2-b"), ("e3-a", "e3-b"),
                                  ("e4-a", "e4-b"), ("e5-a", "e5-b"), ("e6-a", "e6-b"),
                                  ("e7-a", "e7-c"), ("e8-a", "e8-b"), ("e10-a", "e10-b")])
def test_reworded_reports_of_one_event_are_one_story(a: str, b: str) -> None:
    verdict = compare(sig(a), sig(b), WINDOW)
    assert verdict.same and verdict.reason == "reworded", verdict
    assert verdict.resemblance < 0.2  # not copies: another text about the same event


@pytest.mark.parametrize("a, b", [("e2-a", "e3-a"), ("e2-b", "e3-b"), ("e2-a", "e3-b"),
                                  ("e8-a", "e9-a"), ("e2-a", "s2"), ("e3-a", "s3")])
def test_different_events_worded_alike_stay_apart(a: str, b: str) -> None:
    assert not compare(sig(a), sig(b), WINDOW).same


def test_a_follow_up_days_later_is_another_story() -> None:
    assert not compare(sig("e1-a"), sig("e11-a"), WINDOW).same
    # within the window it would join: time is what tells them apart
    assert compare(sig("e1-a"), sig("e11-a", hours=5), WINDOW).same


def test_sketch_estimates_are_exact_below_the_sketch_size() -> None:
    a, na = sketch("one two three four five six")
    b, nb = sketch("one two three four five six seven eight")
    assert (na, nb) == (4, 6)
    assert resemblance(a, b) == pytest.approx(4 / 6)
    assert containment(a, na, b, nb) == pytest.approx(1.0)
    assert resemblance((), b) == 0.0


def test_folding_and_numbers() -> None:
    s1 = signature("Arcom fait bloquer 30 sites", "Le régulateur a bloqué 1 200 domaines.", BASE)
    s2 = signature("ARCOM FAIT BLOQUER 30 SITES", "Le regulateur a bloque 1200 domaines.", BASE)
    assert s1.sketch == s2.sketch and s1.title_terms == s2.title_terms
    assert "1200" in s1.specifics and "30" in s1.title_specifics


def test_whole_test_set_through_the_store(tmp_path: Path) -> None:
    """Every article stored in publication order; pairwise precision and recall of the stories
    against the events (bench/bench_grouping.py prints the same figures)."""
    store = Store(tmp_path / "m.db")
    settings = archive.StorySettings(window=WINDOW, update_window=None)
    found: dict[str, str] = {}
    for a in sorted(ARTICLES.values(), key=lambda a: a["hours"]):
        at = BASE + dt.timedelta(hours=a["hours"])
        c = make_clipping(title=a["title"], source=a["source"], body=a["body"],
                          url=f"https://example.org/{a['id']}")
        key = hashlib.sha256(a["id"].encode()).hexdigest()[:16]
        assert archive.record_story(store, settings, NewStory(
            clipping_id=key, clipping=c, text="x", origin="feed", fingerprint="", feed_url="f",
            guid=None, canonical=c.url, published=at), now=at, at=at)
        found[a["id"]] = str(store.db.execute("select story_id from clippings where id = ?",
                                              [key]).fetchone()[0])
    truth = {a["id"]: a["event"] for a in ARTICLES.values()}
    precision, recall = pairwise_scores(truth, found)
    assert precision >= 0.99 and recall >= 0.95, (precision, recall)
    e1 = found["e1-a"]
    sources = store.story_sources(int(e1))
    assert [s.source for s in sources] == ["Piracy Daily", "Stream Watch", "Broadcast Review",
                                           "Sat News Digest"]
    row = store.db.execute("select clippings, sources from stories where id = ?", [e1]).fetchone()
    assert tuple(row) == (4, 4)
    langs = dict(store.db.execute("select title, lang from clippings").fetchall())
    assert langs[ARTICLES["e4-a"]["title"]] == "fr" and langs[ARTICLES["e1-a"]["title"]] == "en"
    store.close()


def test_pairwise_scores() -> None:
    truth = {"a": "1", "b": "1", "c": "2"}
    assert pairwise_scores(truth, {"a": "x", "b": "x", "c": "y"}) == (1.0, 1.0)
    assert pairwise_scores(truth, {"a": "x", "b": "x", "c": "x"}) == (1 / 3, 1.0)
    assert pairwise_scores(truth, {"a": "x", "b": "y", "c": "z"}) == (1.0, 0.0)


@pytest.mark.parametrize("text, lang", [
    ("La policía desmanteló una red de IPTV pirata que ofrecía partidos de fútbol a más de mil "
     "usuarios en España y detuvo a los responsables", "es"),
    ("A polícia desmantelou uma rede pirata de IPTV que oferecia jogos de futebol para os "
     "usuários no Brasil e prendeu os responsáveis", "pt"),
    ("La Guardia di Finanza ha chiuso un servizio pirata che offriva le partite della Serie A "
     "con il pezzotto a migliaia di utenti", "it"),
    ("Die Polizei hat einen illegalen Streaming-Dienst abgeschaltet und den Betreiber "
     "festgenommen, der mit dem Angebot Geld verdient hat", "de"),
    ("L'Arcom a obtenu le blocage de 30 nouveaux sites de streaming illégal de matchs de "
     "football, à la demande de Canal+ et de beIN Sports", "fr"),
    ("أغلقت الشرطة خدمة قرصنة لبث المباريات", "ar"),
    ("IPTV LaLiga Europol", "und"),
])
def test_language_guess(text: str, lang: str) -> None:
    from monitor.parse.language import guess_language

    assert guess_language(text) == lang


def test_the_cheap_prefilter_loses_nothing() -> None:
    """may_match is False only where compare says "not the same", on every pair of the set,
    near in time and 20 days apart."""
    from monitor.decide.grouping import may_match

    ids = sorted(ARTICLES)
    for shift in (0, 24 * 20):
        for x in ids:
            a = sig(x)
            for y in ids:
                if x != y:
                    b = sig(y, hours=ARTICLES[y]["hours"] + shift)
                    if compare(a, b, WINDOW).same:
                        assert may_match(a, frozenset(a.sketch), b, WINDOW), (x, y)


# --- Candidates through the index (the cost of grouping) -----------------------------------------

COMMON = ["ACE", "IPTV", "Europol", "LaLiga", "Arcom", "Kinoplex", "Vietnam", "Madrid"]
VOCABULARY = sorted({w.strip('.,;:"()').lower() for a in ARTICLES.values()
                     for w in a["body"].split() if w.strip('.,;:"()').isalpha()})


def made_up(i: int, *, title: str | None = None, footer: str = "") -> tuple[str, str]:
    """A made-up story: the test set's words, names of its own, two names every story repeats."""
    import random

    rng = random.Random(i)
    names = ["".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)).title()
             for _ in range(4)] + rng.sample(COMMON, 2)
    words = [rng.choice(VOCABULARY) for _ in range(120)]
    for n in names:
        words.insert(rng.randrange(1, len(words)), n)
    headline = title or " ".join([names[0], *rng.sample(VOCABULARY, 6), names[-1]])
    return headline, " ".join(words) + (f"\n\n{footer}" if footer else "")


def store_one(store: Store, key: str, title: str, body: str, at: dt.datetime,
              window: dt.timedelta = WINDOW, source: str = "s") -> int:
    settings = archive.StorySettings(window=window, update_window=None)
    c = make_clipping(title=title, source=source, body=body, url=f"https://example.org/{key}")
    assert archive.record_story(store, settings, NewStory(
        clipping_id=key, clipping=c, text="x", origin="feed", fingerprint="", feed_url="f",
        guid=None, canonical=c.url, published=at), now=at, at=at)
    return int(store.db.execute("select story_id from clippings where id = ?",
                                [key]).fetchone()[0])


def test_the_index_finds_the_story_that_comparing_with_every_clipping_finds(
        tmp_path: Path) -> None:
    """The story set among made-up stories that share its words and names: before each article
    is stored, find_story (candidates through the index) picks the story that scan_story (every
    clipping of 14 days) picks, and the stories are the events."""
    store = Store(tmp_path / "m.db")
    found: dict[str, str] = {}
    n = 0
    for a in sorted(ARTICLES.values(), key=lambda a: a["hours"]):
        at = BASE + dt.timedelta(hours=a["hours"])
        for _ in range(5):  # made-up stories published around it
            n += 1
            title, body = made_up(n)
            store_one(store, f"{n:016x}", title, body, at - dt.timedelta(minutes=n % 90))
        s = signature(a["title"], a["body"], at)
        assert archive.find_story(store, s, WINDOW) == archive.scan_story(store, s, WINDOW), a["id"]
        found[a["id"]] = str(store_one(store, a["id"].rjust(16, "0"), a["title"], a["body"], at,
                                       source=a["source"]))
    truth = {a["id"]: a["event"] for a in ARTICLES.values()}
    precision, recall = pairwise_scores(truth, found)
    # the one pair missed: an Arabic report and an English one (names in two scripts)
    assert precision == 1.0 and recall >= 0.95, (precision, recall)
    store.close()


def test_a_copy_is_found_under_many_newer_clippings_sharing_its_headline(tmp_path: Path) -> None:
    """A syndicated copy in another outlet ten days later, after 300 clippings of the original's
    outlet with the same headline and the same footer (keys and words every one of them shares):
    it joins its original's story, and what it is compared with stays bounded."""
    store = Store(tmp_path / "m.db")
    original, copy = ARTICLES["e7-a"], ARTICLES["e7-b"]
    footer = "The post appeared first on Piracy Daily, all rights reserved worldwide."
    first = store_one(store, "a" * 16, original["title"], f"{original['body']}\n\n{footer}", BASE,
                      source=original["source"])
    for i in range(300):
        _, body = made_up(i, footer=footer)
        store_one(store, f"{i:016x}", original["title"], body,
                  BASE + dt.timedelta(days=9, minutes=i), source=original["source"])
    at = BASE + dt.timedelta(days=10)
    s = signature(copy["title"], f"{copy['body']}\n\n{footer}", at)
    ids = archive.candidates(store, s, WINDOW)
    assert "a" * 16 in ids
    assert len(ids) <= archive.COMPARED_BY_KEYS + archive.COMPARED_BY_TERMS
    assert archive.find_story(store, s, WINDOW) == (first, "syndicated")
    assert store_one(store, "b" * 16, copy["title"], f"{copy['body']}\n\n{footer}", at,
                     source=copy["source"]) == first
    store.close()


def test_the_migration_indexes_the_signatures_stored_before_it(tmp_path: Path) -> None:
    """A database grouped before the index existed: opening it fills the index from its
    signatures, with the rows that storing each clipping writes."""
    import sqlite_utils

    from monitor.store.schema import migrations

    path = tmp_path / "m.db"
    store = Store(path)
    for a in sorted(ARTICLES.values(), key=lambda a: a["hours"]):
        store_one(store, a["id"].rjust(16, "0"), a["title"], a["body"],
                  BASE + dt.timedelta(hours=a["hours"]), source=a["source"])
    written = {t: sorted(store.db.execute(f"select * from {t}").fetchall())
               for t in ("signature_keys", "signature_terms")}
    assert all(written.values())
    # Back to the schema before the index: its tables and its record gone.
    store.db.execute("drop table signature_keys")
    store.db.execute("drop table signature_terms")
    store.db.execute("delete from _sqlite_migrations where name = 'm_issue6_grouping_index'")
    store.db.conn.commit()
    store.close()
    assert [m.name for m in migrations.pending(sqlite_utils.Database(path))] == [
        "m_issue6_grouping_index"]
    store = Store(path)
    assert {t: sorted(store.db.execute(f"select * from {t}").fetchall())
            for t in written} == written
    e7 = ARTICLES["e7-c"]
    s = signature(e7["title"], e7["body"], BASE + dt.timedelta(hours=e7["hours"]))
    assert archive.find_story(store, s, WINDOW, exclude="e7-c".rjust(16, "0"))[1] == "reworded"
    store.close()


# --- _unmentioned: the prefix search against its plain definition ---------------------------

def _unmentioned_by_definition(names: frozenset[str], terms: frozenset[str]) -> set[str]:
    def mentioned(name: str) -> bool:
        return name in terms or (len(name) >= 4 and not name.isdigit() and any(
            len(t) >= 4 and (t.startswith(name) or name.startswith(t)) for t in terms))
    return {n for n in names if not mentioned(n)}


_words = st.text(alphabet="abcdeé1", min_size=1, max_size=7)


@given(st.frozensets(_words, max_size=6), st.frozensets(_words, max_size=30))
def test_unmentioned_agrees_with_its_definition(names: frozenset[str],
                                                terms: frozenset[str]) -> None:
    assert _unmentioned(names, terms) == _unmentioned_by_definition(names, terms)


def test_unmentioned_longer_and_shorter_forms() -> None:
    terms = frozenset({"vietnamese", "stream", "arcom", "2024"})
    assert _unmentioned(frozenset({"vietnam", "streaming", "arc", "202", "laliga"}), terms) == {
        "arc", "202", "laliga"}


def _fold_by_definition(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@given(st.text())
def test_fold_agrees_with_its_definition(text: str) -> None:
    assert fold(text) == _fold_by_definition(text)


def test_fold_examples() -> None:
    assert fold("L’Arcom a bloqué ＩＰＴＶ") == "l’arcom a bloque iptv"
    assert fold("Straße") == "strasse"


# --- Evidence that survives generic text --------------------------------------------------------

@pytest.mark.parametrize("a, b", [("e12-a", "e40-a"), ("e13-a", "e38-a"), ("e13-a", "e44-a"),
                                  ("e14-a", "e42-a"), ("e15-a", "e41-a"), ("e16-a", "e43-a")])
def test_one_generic_headline_on_different_events_is_no_evidence(a: str, b: str) -> None:
    # the same outlet's items, hours apart, headed "Video", "Story", "Breaking", "Live", "Update"
    assert ARTICLES[a]["title"] == ARTICLES[b]["title"] or {a, b} == {"e13-a", "e44-a"}
    assert not compare(sig(a), sig(b, hours=ARTICLES[a]["hours"] + 1), WINDOW).same


@pytest.mark.parametrize("title, specific", [
    ("Video", False), ("Live: the latest", False), ("Breaking news update", False),
    ("En direct", False), ("Última hora", False), ("Police raid IPTV pirates in Madrid", True),
    ("ACE shuts down Kinoplex", True), ("Watch: Kinoplex", True), ("Story 12", True)])
def test_specific_headlines(title: str, specific: bool) -> None:
    from monitor.decide.grouping import specific_headline

    body = "Officers say that Kinoplex was shut down by ACE."
    assert specific_headline(signature(title, body, BASE)) is specific


def test_identical_specific_headlines_are_evidence_generic_ones_are_not() -> None:
    def short(title: str, body: str) -> Signature:
        return signature(title, body, BASE)

    same = "Police raid IPTV pirates in Madrid"
    assert compare(short(same, "Officers acted at dawn."), short(same, "Four homes searched."),
                   WINDOW).same
    assert not compare(short("Video", "Officers acted at dawn."),
                       short("Video", "Four homes searched."), WINDOW).same


@pytest.mark.parametrize("a, b", [("e21-a", "e22-a"), ("e21-b", "e22-b"), ("e23-a", "e24-a"),
                                  ("e23-b", "e24-b"), ("e25-a", "e26-a"), ("e25-b", "e26-b"),
                                  ("e2-a", "e35-a"), ("e10-a", "e36-a"), ("e10-b", "e36-b"),
                                  ("e14-b", "e41-a")])
def test_the_same_actors_in_other_events_stay_apart(a: str, b: str) -> None:
    # the same court, police or coalition weeks apart; BREIN twice in one day
    assert not compare(sig(a), sig(b), WINDOW).same


@pytest.mark.parametrize("a, b, reason", [
    ("e28-a", "e28-b", "syndicated"), ("e28-a", "e28-c", "syndicated"),
    ("e29-a", "e29-b", "syndicated"), ("e29-a", "e29-c", "syndicated"),
    ("e28-a", "e28-d", "reworded"),  # translated: the names and numbers stay
    ("e19-a", "e19-c", "reworded"), ("e21-b", "e21-c", "reworded"),  # generic headline, same event
])
def test_wire_copies_and_translations_join(a: str, b: str, reason: str) -> None:
    verdict = compare(sig(a), sig(b), WINDOW)
    assert verdict.same and verdict.reason == reason, verdict


def test_two_names_in_common_are_not_evidence() -> None:
    body = "Officers of {} and {} said the {} case was closed."
    a = signature("One", body.format("Arcom", "Europol", "Zentrix"), BASE)
    b = signature("Two", body.format("Arcom", "Europol", "Vorland"), BASE)
    c = signature("Three", body.format("Arcom", "Europol", "Zentrix"), BASE)
    assert len(a.specifics & b.specifics) == 2 and not compare(a, b, WINDOW).same
    assert compare(a, c, WINDOW).same


def test_joins_do_not_chain(tmp_path: Path) -> None:
    """B joins A's story (three names in common); C shares three names with B and none with
    A: comparing with B alone would put it in the story, but it matches neither the story's
    first report nor a majority of its reports, so it starts its own."""
    store = Store(tmp_path / "m.db")
    text = "Investigators in {} met {} and {} about the {} file."
    at = BASE
    a = ("Prosecutors widen inquiry", text.format("Harrow", "Quillon", "Marbeck", "Tessaly"))
    b = ("Officials confirm details", text.format("Harrow", "Quillon", "Marbeck", "Oduya")
         + " Later, " + text.format("Fenwick", "Ravelle", "Stoor", "Oduya"))
    c = ("Second hearing scheduled", text.format("Fenwick", "Ravelle", "Stoor", "Panthe"))
    story_a = store_one(store, "a" * 16, *a, at, source="One")
    assert store_one(store, "b" * 16, *b, at + dt.timedelta(hours=1), source="Two") == story_a
    sig_b, sig_c = (signature(*x, at) for x in (b, c))
    assert compare(sig_c, sig_b, WINDOW).same and not compare(sig_c, signature(*a, at),
                                                               WINDOW).same
    assert store_one(store, "c" * 16, *c, at + dt.timedelta(hours=2), source="Three") != story_a
    store.close()


def test_an_outlets_boilerplate_is_left_out(tmp_path: Path) -> None:
    """One outlet's pages share an intro line and a promotion naming its VPN partner and a code:
    compared as they are, two of its short stories of different events look alike; stored
    after the outlet's other pages, what it repeats is left out and they stay apart."""
    assert compare(sig("e17-a"), sig("e37-a"), WINDOW).same  # the boilerplate alone
    store = Store(tmp_path / "m.db")
    stories = {}
    for i in ("e17-a", "e18-a", "e19-a", "e20-a", "e37-a"):
        a = ARTICLES[i]
        stories[i] = store_one(store, i.rjust(16, "0"), a["title"], a["body"],
                               BASE + dt.timedelta(hours=a["hours"]), source=a["source"])
    assert len(set(stories.values())) == 5
    s = archive._signatures(store, ["e37-a".rjust(16, "0")])["e37-a".rjust(16, "0")]
    assert not {"surfnest", "cord"} & s.specifics  # the outlet's names on most of its pages
    store.close()


def test_a_copy_carried_by_one_feed_keeps_its_lines(tmp_path: Path) -> None:
    """A feed of copies (an aggregator, one source) carries the same paragraphs in one story:
    a line counts as boilerplate only when the outlet's pages of two stories carry it."""
    store = Store(tmp_path / "m.db")
    first = None
    for i in ("e1-a", "e1-c", "e1-d"):
        a = ARTICLES[i]
        story = store_one(store, i.rjust(16, "0"), a["title"], a["body"],
                          BASE + dt.timedelta(hours=a["hours"]), source="Aggregator")
        first = first or story
        assert story == first, i
    store.close()


# --- The alerts of a clipping that joins a story --------------------------------------------

def _flagged(store: Store, settings: archive.StorySettings, article_id: str, key: str,
             at: dt.datetime, tags: tuple[str, ...], rule: str = "piracy-enforcement") -> None:
    from monitor.models import Match, MatchedTerm

    a = ARTICLES[article_id]
    c = make_clipping(title=a["title"], source=a["source"], body=a["body"],
                      url=f"https://x.test/{key}")
    match = Match(rule, 3.0, (MatchedTerm("pirate", "title", 0, 6),), tags)
    assert archive.record_story(store, settings, NewStory(
        clipping_id=key, clipping=c, text="t", origin="feed", fingerprint="", feed_url="f",
        guid=None, canonical=c.url, published=at, matches=(match,), alerts={"hook": (rule,)}),
        now=at, at=at)


@pytest.mark.parametrize("tags, rule, sent, update_window, expected", [
    # the story's alert said it: folded into the waiting alert, or an update / nothing when sent
    (("takedown",), "piracy-enforcement", False, None, ("grouped", 0)),
    (("takedown", "arrest"), "piracy-enforcement", True, None, ("grouped", 0)),
    (("takedown",), "piracy-enforcement", True, dt.timedelta(hours=6), ("pending", 1)),
    # a kind of event or a rule the story's alert never named: it alerts now, as an update
    (("site-blocking",), "piracy-enforcement", False, None, ("pending", 1)),
    (("site-blocking",), "piracy-enforcement", True, None, ("pending", 1)),
    (("takedown",), "other-rule", True, None, ("pending", 1)),
])
def test_a_joining_clipping_alerts_unless_the_story_alert_covered_it(
        tmp_path: Path, tags: tuple[str, ...], rule: str, sent: bool,
        update_window: dt.timedelta | None, expected: tuple[str, int]) -> None:
    store = Store(tmp_path / "m.db")
    settings = archive.StorySettings(window=WINDOW, update_window=update_window)
    _flagged(store, settings, "e1-a", "a" * 16, BASE, ("takedown", "arrest"))
    if sent:
        [alert] = store.due_alerts("hook", now=BASE)
        store.mark_sent(alert.id, now=BASE)
    later = BASE + dt.timedelta(hours=1)
    _flagged(store, settings, "e1-c", "c" * 16, later, tags, rule)
    assert store.story_of("a" * 16) == store.story_of("c" * 16)  # one story either way
    row = store.db.execute("select status, is_update, not_before from alerts where "
                           "clipping_id = ?", ["c" * 16]).fetchone()
    assert (row[0], row[1]) == expected
    if expected == ("pending", 1) and update_window is None:
        due = [a.clipping_id for a in store.due_alerts("hook", now=later)]
        assert due == (["c" * 16] if sent else ["a" * 16, "c" * 16])  # not held
    store.close()
