"""Backtests of the rules: evaluate(), report_to_json(), format_report()."""

from __future__ import annotations

import json

import pytest

from monitor.match.evaluate import evaluate, format_report, report_to_json, to_document
from monitor.match.matcher import compile_rules
from monitor.config import RuleConfig


@pytest.fixture
def matcher():
    return compile_rules([RuleConfig("piracy", "pirate AND (seized OR arrested)"),
                          RuleConfig("blocking", "title:blocked"),
                          RuleConfig("off", "sport", enabled=False)], {}, {})


ITEMS = [
    {"id": "tp-en", "lang": "en", "label": 1, "text": "Pirate site seized\nPolice acted."},
    {"id": "tp-fr", "lang": "fr", "label": 1, "title": "Site pirate blocked", "text": "Bloqué."},
    {"id": "fn-en", "lang": "en", "label": 1, "text": "Court closes streaming portal\nNo words."},
    {"id": "fp-en", "lang": "en", "label": 0, "text": "Pirate arrested at sea\nShip boarded."},
    {"id": "tn-en", "lang": "en", "label": 0, "text": "Sport news\nThe team won."},
    {"id": "tn-de", "lang": "de", "label": 0, "text": "Wetter\nSonne."},
    {"id": "bl-1", "lang": "en", "label": 1, "borderline": True, "text": "Aggregate figures\n..."},
    {"id": "bl-0", "lang": "en", "label": 0, "borderline": True, "text": "Pirate seized\nx"},
    {"lang": "es", "label": "1", "text": "pirata"},  # no id: its line number; label as text
]


def test_counts_overall_and_per_language_leave_borderline_items_apart(matcher):
    report = evaluate(matcher, ITEMS)
    o = report.overall
    assert (o.tp, o.fp, o.fn, o.tn, o.n) == (2, 1, 2, 2, 7)
    assert o.precision == pytest.approx(2 / 3)
    assert o.recall == pytest.approx(2 / 4)
    assert o.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert list(report.by_lang) == ["de", "en", "es", "fr"]
    assert report.by_lang["fr"].precision == 1.0
    assert report.by_lang["de"].precision is None  # nothing flagged: no precision to speak of
    assert report.by_lang["de"].recall is None and report.by_lang["de"].f1 is None
    assert (report.borderline.tp, report.borderline.fp) == (0, 1)
    assert [i.id for i in report.false_positives] == ["fp-en"]
    assert [i.id for i in report.false_negatives] == ["fn-en", "9"]


def test_json_has_exactly_the_documented_keys(matcher):
    data = report_to_json(evaluate(matcher, ITEMS))
    assert set(data) == {"n", "precision", "recall", "f1", "by_lang", "false_positives",
                         "false_negatives", "borderline", "event_type"}
    assert data["event_type"] == {"n": 0, "accuracy": None, "among": None, "by_type": {},
                                  "mistyped": []}  # no item carries an event_type
    assert data["n"] == 7
    assert set(data["by_lang"]["en"]) == {"n", "precision", "recall", "f1"}
    assert data["false_positives"] == ["fp-en"]
    assert data["false_negatives"] == ["fn-en", "9"]
    assert data["borderline"]["n"] == 2 and data["borderline"]["false_positives"] == ["bl-0"]
    json.dumps(data)  # serialisable as is


def test_human_report_lists_figures_and_misses_with_first_words(matcher):
    text = format_report(evaluate(matcher, ITEMS))
    assert "overall" in text and "precision" in text
    assert "fp-en" in text and "Pirate arrested at sea" in text
    assert "fn-en" in text and "n/a" in text
    assert "borderline" in text


def test_without_a_title_the_first_line_is_the_title():
    doc = to_document({"text": "  Pirate site seized\nThe police said.\nMore.", "lang": "en",
                       "url": "https://example.org/a"})
    assert doc.title == "Pirate site seized"
    assert doc.body == "The police said.\nMore."
    assert (doc.lang, doc.url) == ("en", "https://example.org/a")
    assert to_document({"title": "T", "text": "Body"}).title == "T"
    long_line = "word " * 200  # a paragraph, not a headline: all body
    assert to_document({"text": long_line}).title == ""


def test_empty_input_gives_an_empty_report(matcher):
    report = evaluate(matcher, [])
    assert report.overall.n == 0 and report.overall.precision is None
    assert report_to_json(report)["by_lang"] == {}
    assert "overall" in format_report(report)


def test_event_types_right_among_the_tags_per_type_and_the_mistyped_ones():
    # raid listed before arrest: a lead that tells both gets raid first
    terms = {"event-raid": ["raided"], "event-arrest": ["arrested"],
             "event-site-blocking": ["blocked"]}
    m = compile_rules([RuleConfig("r", "pirate AND ($event-arrest OR $event-raid OR "
                                       "$event-site-blocking)")], terms, {})
    items = [
        {"id": "right", "label": 1, "event_type": "arrest", "text": "Pirate arrested\nx"},
        # a "site-blocking" tag is the corpus's blocking-order
        {"id": "alias", "label": 1, "event_type": "blocking-order", "text": "Pirate site blocked"},
        # raid first, the labelled arrest second: wrong, but among the tags found
        {"id": "second", "label": 1, "event_type": "arrest",
         "text": "Pirate den raided\nTwo were arrested."},
        {"id": "absent", "label": 1, "event_type": "lawsuit", "text": "Pirate raided\nx"},
        {"id": "missed", "label": 1, "event_type": "raid", "text": "Nothing here"},  # not flagged
        {"id": "border", "label": 1, "event_type": "raid", "borderline": True,
         "text": "Pirate arrested"},
    ]
    report = evaluate(m, items)
    assert [i.id for i in report.event_typed] == ["right", "alias", "second", "absent"]
    assert report.event_accuracy == 2 / 4
    assert report.event_among == 3 / 4
    assert report.event_by_type == {"arrest": (2, 1), "blocking-order": (1, 1), "lawsuit": (1, 0)}
    assert [(i.id, i.event_tags) for i in report.mistyped] == [("second", ("raid", "arrest")),
                                                               ("absent", ("raid",))]
    data = report_to_json(report)["event_type"]
    assert data["mistyped"] == ["second", "absent"] and data["among"] == 0.75
    assert data["by_type"]["arrest"] == {"n": 2, "right": 1}
    text = format_report(report)
    assert "event type right on 0.500 of the 4" in text and "among the tags found on 0.750" in text
    assert "arrest 1/2" in text
    assert "Mistyped events (2):" in text and "arrest -> raid,arrest" in text
