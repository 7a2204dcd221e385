"""Grouping of clippings into stories (issue 6): pure tests on our own test articles, and the
same through the store (real SQLite). Syndicated copies are one story whatever their age;
reworded reports of an event within story_window are one story; different events worded alike
(two ACE takedowns on the same day) stay apart; a follow-up days later is a new story."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from review_helpers import ARTICLES

from monitor import archive
from monitor.clipping import make_clipping
from monitor.grouping import (Signature, compare, containment, pairwise_scores, resemblance,
                              signature, sketch)
from monitor.store import Store

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
        assert archive.record_story(store, settings, at=at, clipping_id=key, clipping=c,
                                    text="x", origin="feed", fingerprint="", feed_url="f",
                                    guid=None, canonical=c.url, published=at, matches=[],
                                    alerts={}, now=at)
        found[a["id"]] = str(store.db.execute("select story_id from clippings where id = ?",
                                              [key]).fetchone()[0])
    truth = {a["id"]: a["event"] for a in ARTICLES.values()}
    precision, recall = pairwise_scores(truth, found)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
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
    from monitor.language import guess_language

    assert guess_language(text) == lang


def test_the_cheap_prefilter_loses_nothing() -> None:
    """may_match is False only where compare says "not the same", on every pair of the set,
    near in time and 20 days apart."""
    from monitor.grouping import may_match

    ids = sorted(ARTICLES)
    for shift in (0, 24 * 20):
        for x in ids:
            a = sig(x)
            for y in ids:
                if x != y:
                    b = sig(y, hours=ARTICLES[y]["hours"] + shift)
                    if compare(a, b, WINDOW).same:
                        assert may_match(a, frozenset(a.sketch), b, WINDOW), (x, y)
