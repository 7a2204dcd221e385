"""Watchlists ([[watch]]): which names a document names, which matches carry them, and the
alert's title that shows them. Pure: compiled rules on Documents, alerts rendered."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from monitor.clipping import make_clipping
from monitor.config import RuleConfig, WatchConfig
from monitor.errors import RuleError
from monitor.match.matcher import Matcher, compile_rules
from monitor.models import Alert, Document, Match
from monitor.notify import chat
from monitor.notify.render import alert_payload, email_subject, email_text

RULES = [RuleConfig("enforcement", "(pirate OR illegal) AND (blocking OR raid*)"),
         RuleConfig("arrests", "arrest*")]
WATCHES = [WatchConfig("Premier League", ("Premier League", "EPL")),
           WatchConfig("Sky", rules=("arrests",)),  # its name alone, with one rule
           WatchConfig("Streamz", ("streamz*",))]


def matcher(watches: list[WatchConfig] = WATCHES) -> Matcher:
    return compile_rules(RULES, {}, {}, watches)


def watched(title: str, body: str = "") -> dict[str, tuple[str, ...]]:
    """rule -> the watch names its match carries."""
    return {m.rule: m.watches for m in matcher().find_matches(Document(title, body))}


def test_a_match_carries_the_watched_names_the_story_names() -> None:
    assert watched("Premier League wins a blocking order against pirate streams") == {
        "enforcement": ("Premier League",)}
    assert watched("Pirate streams blocking", "Matches of the EPL were shown.") == {
        "enforcement": ("Premier League",)}


@pytest.mark.parametrize("text", ["PREMIER LEAGUE", "premier league", "Premier  League",
                                  "the Premier-League's"])
def test_names_match_in_any_case_and_spacing(text: str) -> None:
    assert watched(f"Illegal streams of {text} games face blocking")["enforcement"] == (
        "Premier League",)


def test_only_whole_words_or_a_prefix_the_watch_asks_for() -> None:
    # "Sky" is no "Skyline"; "EPL" is no "EPLX"; "streamz*" finds "Streamzilla"
    assert watched("Pirate raid at Skyline tower", "EPLX files seized") == {"enforcement": ()}
    assert watched("Pirate raid on Streamzilla")["enforcement"] == ("Streamz",)


def test_a_watch_pairs_only_with_its_rules() -> None:
    both = watched("Sky: pirate raid, two arrested", "The EPL and Sky complained.")
    assert both == {"enforcement": ("Premier League",), "arrests": ("Premier League", "Sky")}


def test_a_watched_name_without_a_rule_that_fires_flags_nothing() -> None:
    m = matcher()
    doc = Document("Premier League clubs agree a new TV deal with Sky", "No piracy here.")
    assert m.find_matches(doc) == []
    assert [h.name for h in m.find_watches(doc)] == ["Premier League", "Sky"]
    hit = m.find_watches(doc)[0]
    assert [(t.text, t.field) for t in hit.terms] == [("Premier League", "title")]


def test_no_watch_configured_leaves_matches_as_they_were() -> None:
    m = compile_rules(RULES, {}, {})
    assert [x.watches for x in m.find_matches(Document("Premier League pirate raid", ""))] == [()]


def test_explain_shows_the_watches_of_the_fired_rules() -> None:
    explained = {e.rule: e for e in matcher().explain(Document("Sky pirate raid", ""))}
    assert explained["enforcement"].fired and explained["enforcement"].watches == ()
    assert not explained["arrests"].fired and explained["arrests"].watches == ()
    explained = {e.rule: e for e in matcher().explain(Document("Sky: raid, one arrested", ""))}
    assert explained["arrests"].watches == ("Sky",)


def test_a_watch_term_that_cannot_match_is_refused() -> None:
    with pytest.raises(RuleError) as e:
        matcher([WatchConfig("Dots", ("...",))])
    assert e.value.rule == "watch:Dots" and 'watch "Dots"' in str(e.value)
    with pytest.raises(RuleError):
        matcher([WatchConfig("Short", ("ab*",))])  # too short a prefix, as in any rule


# --- the alert's title -------------------------------------------------------------------------

def alert(watches: tuple[str, ...], *, update: bool = False) -> Alert:
    clipping = make_clipping(title="High Court renews Premier League's blocking order",
                             source="Piracy Daily", url="https://news.example/a", body="Text.")
    matches = (Match("enforcement", 3.0, (), (), watches),
               Match("arrests", 1.0, (), (), ("Sky", *watches)))
    return Alert(id=1, key="k-hook", notifier="hook", clipping_id="k", clipping=clipping,
                 matches=matches, origin="page", update=update,
                 created_at=dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc))


def test_the_watched_names_lead_the_subject_and_the_titles() -> None:
    a = alert(("Premier League",))
    assert email_subject(a) == ("[Watch: Premier League, Sky] [enforcement] High Court renews "
                                "Premier League's blocking order — Piracy Daily")
    assert email_text(a).startswith("[Watch: Premier League, Sky] High Court renews")
    assert chat.headline(dataclasses.replace(a, update=True)).startswith(
        "[Watch: Premier League, Sky] Update: High Court")
    payload = alert_payload(a)
    assert payload["watches"] == ["Premier League", "Sky"]
    assert payload["subject"] == email_subject(a)
    assert [r["watches"] for r in payload["rules"]] == [["Premier League"], ["Sky", "Premier League"]]


def test_a_digest_shows_the_watched_names_too() -> None:
    from monitor.models import Digest
    from monitor.notify.digest import digest_html, digest_text

    digest = Digest(id=1, key="d-1", notifier="hook", reason="schedule", alerts=(
        alert(("Premier League",)), dataclasses.replace(alert(()), clipping_id="k2", matches=(
            Match("enforcement", 3.0, (), ()),))), created_at=dt.datetime(2026, 11, 3,
                                                                           tzinfo=dt.timezone.utc))
    text = digest_text(digest)
    assert "- [Watch: Premier League, Sky] High Court renews" in text
    assert "- High Court renews" in text  # the other story names none
    assert "[Watch: Premier League, Sky] High Court renews" in digest_html(digest)


def test_no_watch_no_prefix() -> None:
    a = dataclasses.replace(alert(()), matches=(Match("enforcement", 3.0, (), ()),))
    assert email_subject(a).startswith("[enforcement] High Court")
    assert alert_payload(a)["watches"] == []
