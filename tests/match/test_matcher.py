"""The matcher: folding, operators, scoring, entities, events, explanations,
the default rules of config.toml on our own example sentences, and bad input."""

from __future__ import annotations

import dataclasses
import time
import tomllib
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import ConfigError, RuleError
from monitor.match.matcher import LEAD_WORDS, Matcher, compile_rules, matcher_for, rank_events
from monitor.config import RuleConfig, parse_config
from monitor.models import Document
from monitor.match import text as text_module
from monitor.match.text import _RUN, FOLD, FieldText, _fold_char, fold, words


def matcher(query: str, terms=None, entities=None, **rule) -> Matcher:
    return compile_rules([RuleConfig("r", query, **rule)], terms or {}, entities or {})


def fires(query: str, body: str = "", title: str = "", terms=None, **doc) -> bool:
    return bool(matcher(query, terms).find_matches(Document(title, body, **doc)))


# --- folding and tokenisation -----------------------------------------------------------------
@pytest.mark.parametrize("text", ["démantelé", "demantele", "DÉMANTELÉ", "Demantelé",
                                  unicodedata.normalize("NFD", "démantelé"), "ＤＥＭＡＮＴＥＬＥ"])
def test_case_accent_and_width_do_not_matter(text):
    assert words(text) == ["demantele"]
    assert fires("démantelé", f"Le réseau a été {text} hier.")
    assert fires("DEMANTELE", f"Le réseau a été {text} hier.")


@pytest.mark.parametrize("text", ["l'IPTV pirate", "l’IPTV pirate", "lʼIPTV pirate", "L'IPTV PIRATE"])
def test_french_elisions_and_apostrophes(text):
    assert words(text) == ["l", "iptv", "pirate"]
    assert fires('"IPTV pirate"', f"Le démantèlement de {text} continue.")
    assert fires("IPTV", text)


def test_elision_before_an_entity():
    m = matcher("x", entities={"ACE": ["Alliance for Creativity and Entertainment"]})
    assert m.find_entities(Document("", "Selon les enquêteurs d'ACE, le site est fermé.")) == ("ACE",)
    assert m.find_entities(Document("", "Selon d’ACE.")) == ("ACE",)


def test_hyphens_split_words():
    assert words("anti-piracy site-blocking") == ["anti", "piracy", "site", "blocking"]
    for query in ('"site blocking"', "site-blocking", '"site-blocking"'):
        assert fires(query, "A new site-blocking order was granted.")
        assert fires(query, "A new site blocking order was granted.")
    assert not fires("site-blocking", "The blocking of the site was lifted.")  # order counts


def test_whole_words_only():
    assert fires("ace", "ACE took the case.")
    assert not fires("ace", "She served 20 aces and won the race.")
    assert not fires("iptv", "iptvs")
    assert fires("iptv*", "iptvs")


def test_arabic_tokenisation_clitics_and_letter_variants():
    assert words("القرصنة الإلكترونية") == ["القرصنه", "الالكترونيه"]
    for text in ("قرصنة", "القرصنة", "بالقرصنة", "والقرصنة", "للقرصنة"):  # al-, bi-al-, wa-al-, li-l-
        assert fires("قرصنة", f"تم ضبط شبكة {text} اليوم"), text
    assert not fires("قرصنة", "تم ضبط شبكة مقرصنةالقنوات")  # glued to another word: no
    assert fires("إغلاق", "تم اغلاق الموقع")  # hamza on the alef is folded
    assert fires("قرصن*", "شبكات القرصنة")


def test_scripts_without_spaces_match_character_sequences():
    assert words("盗版网站") == ["盗", "版", "网", "站"]
    assert fires('"盗版"', "警方关闭了一个盗版网站")


@given(st.lists(st.sampled_from(["piratage", "démantèlement", "IPTV", "réseau", "l'ACE", "été",
                                 "saisi", "Straße", "coûte", "œuvre"]), min_size=1, max_size=8),
       st.data())
@settings(max_examples=200, deadline=None)
def test_matching_does_not_depend_on_case_accents_or_width(ws, data):
    """Property: upper-casing, stripping accents, decomposing or widening the text never
    changes which terms match."""
    def strip(t: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFD", t) if not unicodedata.combining(c))

    def wide(t: str) -> str:
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and c != "'" else c for c in t)

    variants = [str.upper, str.lower, strip, lambda t: unicodedata.normalize("NFD", t), wide]
    text = " ".join(ws)
    changed = data.draw(st.sampled_from(variants))(text)
    m = matcher(" OR ".join(f'"{w}"' for w in set(ws)))
    found = [t.text for t in m.find_matches(Document("", text))[0].terms]
    found_changed = [t.text for t in m.find_matches(Document("", changed))[0].terms]
    assert len(found) == len(found_changed)


@given(st.text(max_size=40), st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_matched_terms_carry_their_offsets_in_the_original_text(before, after):
    body = f"{before} Pirate IPTV {after}"
    m = matcher('"pirate iptv"')
    for match in m.find_matches(Document("", body)):
        for term in match.terms:
            assert term.field == "body"
            assert words(body[term.start:term.end]) == ["pirate", "iptv"]


@given(st.text(max_size=80))
@settings(max_examples=1000, deadline=None)
def test_every_word_maps_back_to_its_place_in_the_original_text(text):
    """Property: the word offsets computed lazily agree with the folded words, whatever the
    script, marks, invisible characters or unassigned code points."""
    field = FieldText(text)
    folded = field.compact.split()
    assert len(folded) == field.n_words
    last = 0
    for i, word in enumerate(folded):
        start, end = field.span(i)
        assert last <= start < end <= len(text)
        assert word in words(text[start:end])
        last = start


def test_offsets_after_odd_characters():
    body = "ﬁ ½ ™ x\u0301\u0301 \u0301 中国 Straße l’IPTV démantelé"
    term = matcher("démantelé").find_matches(Document("", body))[0].terms[0]
    assert body[term.start:term.end] == "démantelé"
    field = FieldText(body)
    assert [body[slice(*field.span(i))] for i in range(field.n_words)][-2:] == ["IPTV", "démantelé"]


def runs_of(text: str) -> list[tuple[int, int]]:
    """Word offsets the long way: every run of the full word pattern, as many words as it folds
    to."""
    out = []
    for run in _RUN.finditer(text):
        out += [run.span()] * len(run.group().translate(FOLD).split())
    return out


ONE_FOR_ONE = "ab Zé9_-.,’\u0627\u0644\u0629\n"  # each folds to one letter, digit or space
PLAIN = ONE_FOR_ONE + "+ßﬁ½"  # and some that fold to more
ODD = PLAIN + "ʼ\u0301\u00ad\u0640中"  # marks, CJK, apostrophe letters, invisible ones


@given(st.one_of(*(st.text(alphabet=a, max_size=60) for a in (ONE_FOR_ONE, PLAIN, ODD))))
@settings(max_examples=1000, deadline=None)
def test_offsets_of_plain_and_odd_text_are_those_of_the_full_word_pattern(text):
    """Property: text of letters, digits, pluses and separators only takes a shorter way to its
    word offsets (``text._text_kind``); it must give the offsets of the full pattern."""
    field = FieldText(text)
    assert [field.span(i) for i in range(field.n_words)] == runs_of(text)


def test_ascii_text_is_told_apart_by_its_pluses_alone():
    for c in map(chr, range(128)):
        assert text_module._char_kind(c) == text_module._text_kind(c) == (
            text_module.PLAIN if c == "+" else text_module.ONE_FOR_ONE)


@given(st.one_of(st.text(max_size=40), st.text(alphabet=ODD + "ÀÉÎÕÜçñ", max_size=40)))
@settings(max_examples=500, deadline=None)
def test_folding_reads_every_character_as_the_table_does(text):
    """Property: ``fold`` takes a quicker table when the result shows that it had every
    character; twice, since the first fold of a new character fills both tables."""
    expected = "".join(_fold_char(ord(c)) for c in text)
    assert fold(text) == expected
    assert fold(text) == expected == text.translate(FOLD)


# --- operators ----------------------------------------------------------------------------------
@pytest.mark.parametrize("query, body, expected", [
    ("pirate AND raid", "a pirate raid", True),
    ("pirate AND raid", "a pirate", False),
    ("pirate OR raid", "a raid", True),
    ("pirate OR raid", "nothing", False),
    ("pirate AND NOT baseball", "a pirate site", True),
    ("pirate AND NOT baseball", "a pirate baseball team", False),
    ("pirate NOT baseball", "a pirate baseball team", False),
    ("NOT baseball AND pirate", "a pirate", True),
    ("(pirate OR piracy) AND (raid OR arrest)", "piracy arrest", True),
    ("(pirate OR piracy) AND (raid OR arrest)", "piracy news", False),
    ('"pirate site"', "the pirate site closed", True),
    ('"pirate site"', "the site was a pirate", False),  # a phrase is in order
    ('"pirate site"', "the pirate, site closed", True),  # punctuation is not a word
    ("pirat*", "piratage", True),
    ("pirat*", "Pirates", True),
    ("pirat*", "spirate", False),  # a stem matches the start of a word
    ('"pirate stream*"', "pirate streaming", True),
    ('"pirate stream*"', "pirate music streaming", False),
])
def test_operator_semantics(query, body, expected):
    assert fires(query, body) is expected


def test_near_counts_words_in_either_order():
    # "pirate" is word 0; "seized" is word n: n - 0 words apart
    for n in range(1, 8):
        body = "pirate " + "x " * (n - 1) + "seized"
        assert fires("pirate NEAR/5 seized", body) is (n <= 5), n
        assert fires("seized NEAR/5 pirate", body) is (n <= 5), n
    assert fires("pirate NEAR/1 site", "pirate site")
    assert fires("pirate NEAR/1 site", "site, pirate")
    assert not fires("pirate NEAR/1 site", "pirate big site")


def test_near_on_word_positions_not_characters():
    long_word = "x" * 500
    assert fires("pirate NEAR/2 site", f"pirate {long_word} site")
    assert fires("pirate NEAR/2 site", "pirate — — — !!! ... site")  # punctuation is no word


def test_near_joins_groups_phrases_and_lists():
    terms = {"action": ["shut down", "seized"]}
    assert fires('(pirate OR illegal) NEAR/3 $action', "the illegal site was shut down", terms=terms)
    assert fires('"pirate site" NEAR/2 $action', "pirate site seized", terms=terms)
    assert not fires('"pirate site" NEAR/2 $action', "pirate site was later on seized", terms=terms)
    assert fires("(pirate NEAR/1 site) NEAR/3 seized", "pirate site was seized")
    assert not fires("(pirate NEAR/1 site) NEAR/3 seized", "pirate big site ... seized")


def test_near_reads_the_title_as_the_start_of_the_text():
    # "Pirate site" + "Police seized it": pirate=0 site=1, (gap word), police=3 seized=4
    assert fires("pirate NEAR/4 seized", title="Pirate site", body="Police seized it")
    assert not fires("pirate NEAR/3 seized", title="Pirate site", body="Police seized it")
    # scoped to different fields, never near
    assert not fires("title:pirate NEAR/5 body:seized", title="Pirate site", body="seized")
    assert fires("title:pirate NEAR/1 title:site", title="Pirate site", body="seized")


def test_not_near_drops_occurrences_not_stories():
    q = "pirates NOT NEAR/2 (pittsburgh OR baseball)"
    assert not fires(q, "The Pittsburgh Pirates won.")
    assert fires(q, "The Pittsburgh Pirates won. Elsewhere, pirates ran a site.")
    assert fires("(pirates NOT NEAR/2 pittsburgh) NEAR/3 site",
                 "Pittsburgh Pirates fans. Streaming pirates site")


def test_field_scope():
    doc = dict(title="Pirate site shut down", body="The court ordered it.", source="TorrentFreak",
               lang="en", url="https://example.org/news/pirate")
    assert fires("title:pirate", **doc)
    assert not fires("body:pirate", **doc)
    assert fires("body:court AND title:(pirate OR piracy)", **doc)
    assert fires("source:torrentfreak", **doc)
    assert not fires("torrentfreak", **doc)  # unscoped terms look at title and body only
    assert fires("lang:en AND court", **doc)
    assert not fires("lang:fr AND court", **doc)
    assert fires("url:example", **doc)


def test_named_lists_expand_and_are_shared():
    terms = {"piracy": ["pirate*", "IPTV", "illegal streaming"], "action": ["seized", "shut down"]}
    rules = [RuleConfig("a", "$piracy AND $action"), RuleConfig("b", "title:$piracy")]
    m = compile_rules(rules, terms, {})
    assert [x.rule for x in m.find_matches(Document("IPTV", "Illegal streaming site shut down"))] \
        == ["a", "b"]
    assert [x.rule for x in m.find_matches(Document("News", "illegal streaming is popular"))] == []


# --- compile-time errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("query, message", [
    ("$nope AND pirate", "unknown list $nope"),
    ("NOT baseball", "matches every document (a lone NOT?)"),
    ("pirate OR NOT baseball", "matches every document"),
    ("pirate AND NOT pirate", "can never match"),
    ('"---"', "has no letters or digits"),
    ("pi*", "too short"),
    ("title:(body:pirate)", "can never match"),
    ("(pirate AND site) NEAR/3 raid", "NEAR/n joins"),
    ("(NOT pirate) NEAR/3 raid", "NEAR/n joins"),
    ("pirate AND", "expected a word"),
])
def test_bad_rules_are_refused_at_load_naming_the_rule(query, message):
    with pytest.raises(RuleError) as e:
        compile_rules([RuleConfig("ok", "pirate"), RuleConfig("bad-rule", query)],
                      {"known": ["x"]}, {})
    assert e.value.rule == "bad-rule"
    assert message in str(e.value)
    assert 'rule "bad-rule"' in str(e.value)


def test_error_positions_point_into_the_query():
    with pytest.raises(RuleError) as e:
        compile_rules([RuleConfig("r", "pirate AND $missing")], {}, {})
    assert e.value.position == 11


def test_bad_lists_entities_names_and_scores_are_refused():
    with pytest.raises(RuleError, match="second rule has this name"):
        compile_rules([RuleConfig("r", "a"), RuleConfig("r", "b")], {}, {})
    with pytest.raises(RuleError, match='term list "empty"'):
        compile_rules([], {"empty": []}, {})
    with pytest.raises(RuleError, match="may only end a term"):
        compile_rules([], {"bad": ["pi*rate"]}, {})
    with pytest.raises(RuleError, match='entity "X"'):
        compile_rules([], {}, {"X": ["..."]})
    with pytest.raises(RuleError, match="can never be reached"):
        compile_rules([RuleConfig("r", "a AND b", min_score=7)], {}, {})


# --- scoring ----------------------------------------------------------------------------------------
def test_a_title_hit_counts_more_than_a_lead_hit_and_a_lead_hit_more_than_a_deep_one():
    m = matcher("piracy")
    deep = " ".join(["filler"] * 600)
    title = m.find_matches(Document("Piracy news", "nothing"))[0].score
    lead = m.find_matches(Document("News", "Piracy is back."))[0].score
    middle = m.find_matches(Document("News", " ".join(["filler"] * 200) + " piracy"))[0].score
    late = m.find_matches(Document("News", deep + " piracy"))[0].score
    assert title > lead > middle > late > 0


def test_score_sums_distinct_terms_and_min_score_filters_weak_hits():
    doc = Document("Pirate site seized", "Police seized the pirate site.")
    assert matcher("pirate AND seized").find_matches(doc)[0].score == 6.0  # each best in title
    weak = Document("News", " ".join(["filler"] * 600) + " pirate site seized")
    assert matcher("pirate AND seized", min_score=2).find_matches(weak) == []
    assert matcher("pirate AND seized", min_score=2).find_matches(doc)


def test_disabled_rules_do_not_match_but_are_explained():
    m = compile_rules([RuleConfig("off", "pirate", enabled=False)], {}, {})
    doc = Document("pirate", "")
    assert m.find_matches(doc) == []
    [e] = m.explain(doc)
    assert (e.rule, e.enabled, e.fired, e.clause.matched) == ("off", False, False, True)


# --- tags: events and entities ----------------------------------------------------------------------
def test_event_tags_come_from_event_lists_then_the_rule_tags():
    terms = {"event-arrest": ["arrested"], "event-takedown": ["shut down"], "x": ["pirate*"]}
    m = compile_rules([RuleConfig("r", "$x", tags=("priority",))], terms, {})
    [match] = m.find_matches(Document("Pirate site shut down", "Two men were arrested."))
    # both in the lead: the first list wins, then the events by weight, then the rule's tags
    assert match.tags == ("arrest", "takedown", "priority")
    assert m.event_tags == ("arrest", "takedown")
    # beyond the lead, the weight decides: the title's takedown outweighs a late arrest
    late = Document("Pirate site shut down",
                    "The site streamed films. " * LEAD_WORDS + "Two were arrested.")
    assert m.find_matches(late)[0].tags == ("takedown", "arrest", "priority")


def test_a_word_counts_once_for_its_event_however_many_terms_it_matches():
    # "arrestato" is both "arrestat*" and the stem of "arresto": still one word against two
    terms = {"event-arrest": ["arrestat*", "arresto"], "event-raid": ["perquisizion*",
                                                                      "sequestrat*"]}
    m = compile_rules([RuleConfig("r", "$event-arrest OR $event-raid")], terms, {})
    lead = "La notizia arriva da Roma. " * LEAD_WORDS  # past the lead, where weights decide
    doc = Document("", lead + "Un uomo arrestato dopo perquisizioni: sequestrati i server.",
                   lang="it")
    assert m.find_events(doc) == ("raid", "arrest")


@pytest.mark.parametrize("places, first, ranked", [
    ({0: {5: 1.0}, 1: {0: 3.0}}, {0: 5, 1: 0}, [1, 0]),  # a title word outweighs a lead word
    ({0: {20: 1.0, 30: 1.0}, 1: {0: 1.0}}, {0: 20, 1: 0}, [0, 1]),  # two words outweigh one
    ({0: {20: 1.0}, 1: {10: 1.0}}, {0: 20, 1: 10}, [1, 0]),  # a tie: the one named first
    ({}, {}, []),
])
def test_rank_events_by_the_weight_of_their_words(places, first, ranked):
    assert rank_events(places, first) == ranked


@pytest.mark.parametrize("places, first, lead_end, ranked", [
    # both told in the lead: the first in list order, whatever the weights
    ({0: {20: 1.0}, 1: {0: 3.0, 5: 1.0}}, {0: 20, 1: 0}, 45, [0, 1]),
    # only one told in the lead: that one, though the other weighs more
    ({0: {60: 1.0, 70: 1.0, 80: 1.0}, 1: {10: 1.0}, 2: {90: 0.5}}, {0: 60, 1: 10, 2: 90}, 45,
     [1, 0, 2]),
    # none in the lead: by weight
    ({0: {60: 1.0}, 1: {50: 1.0, 55: 1.0}}, {0: 60, 1: 50}, 45, [1, 0]),
])
def test_the_event_the_lead_tells_comes_first(places, first, lead_end, ranked):
    assert rank_events(places, first, lead_end) == ranked


def test_an_event_query_gives_its_tag_and_its_words_weigh_for_it():
    terms = {"event-raid": ["seized"], "x": ["pirate*"]}
    events = {"domain-seizure": "seized NEAR/3 (sites OR domains)"}
    m = compile_rules([RuleConfig("r", "$x")], terms, {}, (), events)
    # a tag with a query and no list: first in precedence, its query telling it apart
    assert m.event_tags == ("domain-seizure", "raid")
    # "seized" is the raid's word and the query's: "sites" tips it to the domain seizure
    doc = Document("Agents seized 70 pirate sites", "")
    assert m.find_events(doc) == ("domain-seizure", "raid")
    assert m.find_matches(doc)[0].tags == ("domain-seizure", "raid")
    assert m.find_events(Document("Agents seized 300 pirate decoders", "")) == ("raid",)
    # scoped: a body word sits after the title's words
    scoped = compile_rules([RuleConfig("r", "$x")], terms, {}, (),
                           {"domain-seizure": "body:(seized NEAR/3 sites)"})
    doc = Document("Pirate news", "Police seized the sites today.")
    assert scoped.find_events(doc) == ("domain-seizure", "raid")


@pytest.mark.parametrize("query, message", [
    ("seized AND $nowhere", "unknown list $nowhere"),
    ("NOT seized", "matches every document"),
    ("seized AND", "expected a word"),
])
def test_bad_event_queries_are_refused_naming_the_tag(query, message):
    with pytest.raises(RuleError) as e:
        compile_rules([RuleConfig("r", "pirate")], {}, {}, (), {"raid": query})
    assert e.value.rule == "events.raid" and message in str(e.value)


def test_a_bad_event_query_in_the_config_names_its_key():
    config = parse_config('[events]\nraid = "raided AND $nowhere"\n', Path("/etc/monitor.toml"))
    with pytest.raises(ConfigError) as e:
        matcher_for(config)
    assert e.value.key == "events.raid"


def test_entities_in_order_of_first_appearance_with_aliases_in_each_language():
    entities = {
        "ACE": ["Alliance for Creativity and Entertainment",
                "l'Alliance pour la créativité et le divertissement"],
        "CANAL+": ["Canal Plus"], "Europol": [], "Premier League": ["EPL"],
    }
    m = matcher("x", entities=entities)
    doc = Document("CANAL+ et l’ALLIANCE POUR LA CRÉATIVITÉ ET LE DIVERTISSEMENT",
                   "Europol a aidé. L'EPL aussi. Canal Plus encore.")
    assert m.find_entities(doc) == ("CANAL+", "ACE", "Europol", "Premier League")
    assert m.find_entities(Document("", "Tennis: 20 aces in the final.")) == ()


def test_explain_says_which_clauses_fired():
    terms = {"action": ["seized", "arrested"]}
    m = compile_rules([RuleConfig("r", "(pirate* OR IPTV) AND $action AND NOT baseball")],
                      terms, {})
    body = "Police seized a pirate IPTV server."
    [e] = m.explain(Document("", body))
    assert e.fired and e.score == 3.0 and e.query.startswith("(pirate*")
    assert [c.query for c in e.clause.clauses] == ["pirate* OR IPTV", "$action", "NOT baseball"]
    assert [c.matched for c in e.clause.clauses] == [True, True, True]
    assert {body[t.start:t.end] for t in e.clause.clauses[0].terms} == {"pirate", "IPTV"}
    assert dataclasses.asdict(e)["clause"]["clauses"][1]["terms"][0]["text"] == "seized"


# --- the default rules of config.toml -----------------------------------------------------------------
@pytest.fixture(scope="module")
def default() -> Matcher:
    data = tomllib.loads((Path(__file__).resolve().parents[2] / "config.toml").read_text("utf-8"))
    rules = [RuleConfig(r["name"], r["query"], float(r.get("min_score", 0)),
                        tuple(r.get("tags", ())), tuple(r.get("notifiers", ())),
                        r.get("enabled", True)) for r in data["rules"]]
    return compile_rules(rules, data.get("terms", {}), data.get("entities", {}), (),
                         data.get("events", {}))


def test_default_rules_have_the_piracy_enforcement_rule_and_every_event_tag(default):
    assert "piracy-enforcement" in [r.name for r in default.rules]
    # the event types of the labelled corpus (bench/corpus): convictions are tagged arrest,
    # settlements lawsuit
    assert set(default.event_tags) == {"takedown", "domain-seizure", "raid", "arrest",
                                       "lawsuit", "blocking-order", "user-sanction"}


ENFORCEMENT = [  # (lang, title, body, an event tag expected)
    ("en", "Spanish police arrest four over pirate IPTV service",
     "Officers arrested four men suspected of running a pirate IPTV service with 50,000 "
     "subscribers across Europe.", "arrest"),
    ("en", "Court hands studios $20m win against streaming sites",
     "A federal court granted a permanent injunction against the operators of three illegal "
     "streaming sites and awarded the studios $20 million in damages.", "lawsuit"),
    ("en", "", "The Premier League has obtained a fresh blocking order that requires UK "
     "broadband providers to block pirate streams of its matches during the season.",
     "blocking-order"),
    ("en", "Feds seize torrent site domains", "Federal agents seized the domain names of a "
     "popular torrent site on Thursday, replacing the homepage with a banner.", None),
    # a sentence is a court step (lawsuit), whatever the headline's verb
    ("en", "Pirate movie site operator jailed", "The man behind a pirate movie website was "
     "sentenced to four years in prison for criminal copyright infringement.", "lawsuit"),
    ("en", "", "ACE said it had shut down a network of illegal sports streaming websites run "
     "from Vietnam that drew 40 million visits a month.", "takedown"),
    ("en", "Piracy app developers settle with studios", "The developers of the piracy app agreed "
     "to a settlement with the Hollywood studios and will pay $5 million.", "lawsuit"),
    ("en", "Police raid home of suspected uploader", "Danish police raided the home of a man "
     "suspected of uploading pirated films to a private torrent tracker.", "raid"),
    # a dismantled network names no event; its arrests do
    ("fr", "Un réseau d'IPTV illégale démantelé dans le Nord", "Les gendarmes ont démantelé un "
     "réseau de revendeurs d'abonnements IPTV illégaux et interpellé trois suspects.", "arrest"),
    ("fr", "", "Le tribunal judiciaire de Paris a ordonné le blocage de douze sites de streaming "
     "sportif illicites à la demande de beIN Sports.", "blocking-order"),
    ("fr", "Prison avec sursis pour un pirate du foot", "Un homme a été condamné à six mois de "
     "prison avec sursis pour avoir diffusé illégalement des matchs de Ligue 1 sur son site.",
     "lawsuit"),
    ("fr", "", "Trois administrateurs d'un site de téléchargement illégal ont été placés en garde "
     "à vue.", "arrest"),
    ("es", "Detenidos por vender listas IPTV piratas", "La Guardia Civil ha detenido a tres "
     "personas por vender listas IPTV piratas que daban acceso a partidos de LaLiga.", "arrest"),
    ("es", "", "Un juzgado de Barcelona ordena el bloqueo de veinte webs de streaming ilegal de "
     "fútbol a petición de los clubes.", "blocking-order"),
    ("pt", "Polícia prende suspeitos de site pirata", "A polícia prendeu dois suspeitos de operar "
     "um site pirata de filmes e séries em São Paulo.", "arrest"),
    ("pt", "", "Uma operação contra a pirataria digital derrubou 300 sites e aplicativos de "
     "streaming ilegal em vários estados.", "takedown"),
    # "oscurare" is the blocking of sites by the access providers
    ("it", "Oscurati 15 siti pirata", "La Guardia di Finanza ha oscurato 15 siti pirata che "
     "trasmettevano illegalmente le partite di Serie A e ha denunciato i gestori.",
     "blocking-order"),
    ("it", "", "Il tribunale ha condannato il gestore di un servizio IPTV pirata a due anni di "
     "reclusione e al risarcimento dei danni.", "lawsuit"),
    ("de", "Razzia gegen illegale IPTV-Anbieter", "Die Polizei hat bei einer Razzia gegen "
     "illegale IPTV-Anbieter in Bayern mehrere Server beschlagnahmt und zwei Verdächtige "
     "festgenommen.", "arrest"),
    ("de", "", "Das Landgericht München hat den Betreiber einer Piratenseite für Filme und Serien "
     "zu zwei Jahren Haft verurteilt.", "lawsuit"),
    ("ar", "القبض على مدير موقع لقرصنة المباريات",
     "ألقت الشرطة القبض على شخص يدير موقعا لقرصنة المباريات وبثها بدون ترخيص.", "arrest"),
    ("ar", "", "تمكنت مباحث المصنفات من ضبط شبكة لإعادة بث القنوات المشفرة بدون ترخيص للمشتركين.",
     "raid"),
]


@pytest.mark.parametrize("lang, title, body, event", ENFORCEMENT,
                         ids=[f"{e[0]}-{i}" for i, e in enumerate(ENFORCEMENT)])
def test_default_rules_flag_enforcement_stories_in_every_language(default, lang, title, body,
                                                                 event):
    matches = default.find_matches(Document(title, body, lang=lang))
    # piracy-enforcement sees all of them; actor-action, which wants an actor, some as well
    assert [m.rule for m in matches][:1] == ["piracy-enforcement"]
    assert matches[0].terms and matches[0].score >= 2
    if event:
        assert event in matches[0].tags


FIRST_EVENT = [  # (lang, title, body, the first event tag): what the story is mostly about
    # French "fin" (the end) is not the English "fines"
    ("fr", "Fin de partie pour un site de streaming pirate", "La police a fermé le site de "
     "streaming illégal qui diffusait les matchs de Ligue 1.", "takedown"),
    # "la Suède" is not "sued"
    ("fr", "La Suède condamne les fondateurs d'un site pirate", "Un tribunal suédois a condamné "
     "à un an de prison les administrateurs d'un site de téléchargement illégal.", "lawsuit"),
    # dismantled names no event: the arrests do
    ("es", "", "La Policía Nacional ha desarticulado una red de IPTV pirata y detenido a sus "
     "cinco responsables.", "arrest"),
    ("fr", "", "Les gendarmes ont démantelé un réseau de revendeurs d'abonnements IPTV illégaux "
     "et interpellé trois suspects.", "arrest"),
    # an injunction to block is a blocking order, not a lawsuit
    ("en", "Court orders ISPs to block pirate sports streams", "The High Court granted the "
     "Premier League a new injunction that requires broadband providers to block pirate "
     "streams.", "blocking-order"),
    # sentences and criminal fines are court steps (lawsuit); fines on users are user sanctions
    ("de", "Geldstrafe für Betreiber illegaler IPTV-Streams", "Das Amtsgericht verurteilte den "
     "Betreiber eines illegalen IPTV-Dienstes zu einer Geldstrafe.", "lawsuit"),
    ("ar", "غرامة وسجن لمشغل موقع قرصنة المباريات", "قضت المحكمة بحبس مشغل موقع لقرصنة المباريات "
     "وتغريمه بعد بث القنوات المشفرة بدون ترخيص.", "lawsuit"),
    ("it", "Pirateria, multati 200 utenti del pezzotto", "La Guardia di Finanza ha multato 200 "
     "utenti che guardavano le partite con abbonamenti pirata IPTV.", "user-sanction"),
    # a seizure of sites is a domain seizure, not a raid ([events])
    ("en", "DHS seizes over 70 piracy sites", "Homeland Security Investigations seized the "
     "domains of more than 70 websites that streamed pirated sports.", "domain-seizure"),
    # but in Italy the seizure of sites is done by the access providers, who block them
    ("it", "Pirateria online: sequestrati 152 siti", "La Guardia di Finanza ha sequestrato 152 "
     "siti che trasmettevano illegalmente film e partite.", "blocking-order"),
    # a fine is a user sanction when a venue or a user pays it, part of a sentence otherwise
    ("es", "Condenado el dueño de un bar por emitir fútbol pirata", "Un juzgado de Badajoz ha "
     "condenado al titular de un bar a pagar una multa por emitir partidos de LaLiga con una "
     "señal pirata.", "user-sanction"),
    ("fr", "Le créateur d'un site pirate condamné", "Le tribunal correctionnel de Paris a condamné "
     "le créateur du site de téléchargement illégal à un an de prison ferme et 20 000 euros "
     "d'amende.", "lawsuit"),
    # an order to the access providers is a blocking order, whatever its verb
    ("en", "Premier League wins court order against pirate streams", "The High Court told "
     "internet service providers to prevent access to pirate streams of Premier League "
     "matches.", "blocking-order"),
    # a preliminary injunction (liminar) won in court: a lawsuit
    ("pt", "Globo consegue liminar contra sites piratas", "A Justiça concedeu liminar à Globo "
     "contra sites de IPTV pirata que transmitiam seus canais sem autorização.", "lawsuit"),
]


@pytest.mark.parametrize("lang, title, body, event", FIRST_EVENT,
                         ids=[f"{e[0]}-{i}" for i, e in enumerate(FIRST_EVENT)])
def test_default_rules_put_the_story_s_own_event_first(default, lang, title, body, event):
    doc = Document(title, body, lang=lang)
    assert default.find_matches(doc)
    assert default.find_events(doc)[0] == event


TRAPS = {  # trap -> our own (title, body) examples; none of them may fire
    "maritime piracy": [
        ("Somali pirates seize cargo ship", "Pirates hijacked a cargo ship in the Gulf of Aden; a "
         "navy patrol later arrested five suspects, who were charged with piracy."),
        ("", "Pirates seized an oil tanker off the coast of Nigeria and took the crew hostage "
         "before the navy raided the vessel."),
        ("Capturados piratas en el Índico", "La fragata detuvo a seis piratas somalíes que habían "
         "atacado un pesquero; serán juzgados por piratería."),
    ],
    "Pittsburgh Pirates and other teams": [
        ("Pirates drop series finale", "The Pittsburgh Pirates were charged with three errors and "
         "lost 5-2 to the Cubs; the game was streamed online for out-of-market fans."),
        ("", "How to stream Pirates vs Cubs tonight: the game is blocked in some regions because "
         "of blackout rules, and the team was fined by the league last week."),
        ("Orlando Pirates fined", "Orlando Pirates were fined after crowd trouble at the match, "
         "which was broadcast live on television."),
    ],
    "Pirates of the Caribbean": [
        ("", "Disney confirmed a new Pirates of the Caribbean film will stream on Disney+ next "
         "year, months after a lawsuit over the franchise was settled."),
    ],
    "Pirate Parties": [
        ("Pirate Party enters parliament", "The Pirate Party won two seats after campaigning "
         "against website blocking and for a reform of copyright."),
        ("Piratenpartei scheitert", "Die Piratenpartei verpasste den Einzug in den Landtag; die "
         "Piraten hatten gegen Netzsperren und für ein neues Urheberrecht gekämpft."),
    ],
    "ransomware, hacking and fraud arrests": [
        ("Ransomware gang leader arrested", "Europol and Ukrainian police arrested members of a "
         "ransomware gang that attacked hospitals, and seized servers and cryptocurrency."),
        ("Un pirate informatique arrêté", "Un pirate informatique a été arrêté après avoir piraté "
         "le site web de la préfecture et publié des fichiers."),
        ("", "Police charged a man with fraud after he sold fake concert tickets online."),
        ("Pirated games spread malware", "Researchers found that pirated games shared on forums "
         "carried malware; Microsoft took down the malicious servers."),
    ],
    "piraté meaning hacked": [
        ("La mairie victime d'un piratage", "Le site de la mairie a été piraté et les données de "
         "10 000 habitants dérobées ; une plainte a été déposée."),
        ("", "Mon compte Netflix a été piraté : que faire ? Le service a bloqué l'accès après "
         "plusieurs connexions suspectes."),
        ("Piratage du site de la mairie : un suspect interpellé", "Le piratage du site de la "
         "mairie de Lyon a conduit à l'interpellation d'un jeune homme, placé en garde à vue."),
        ("L'opérateur victime d'un piratage", "Le piratage du réseau de l'opérateur a exposé des "
         "millions d'abonnés ; le régulateur a infligé une amende de 300 000 euros."),
    ],
    "piracy studies, surveys and opinion": [
        ("Piracy visits rise 12%, study finds", "A new study found that visits to piracy websites "
         "rose 12% last year, despite a wave of site blocking and several takedowns."),
        ("", "According to a survey of 2,000 adults, one in four people watched illegal streams "
         "of football last season; most said subscriptions were too expensive."),
        ("Opinion: downloading a film is not theft", "People who download pirated films should "
         "not be treated as criminals; if you are charged, you could be fined thousands."),
        ("Is IPTV legal? What you risk", "Using an illegal IPTV subscription can be punished: "
         "users could be fined up to 3,000 euros if caught by police."),
    ],
    "IPTV box and VPN reviews": [
        ("Review: the X1 IPTV box", "The X1 box streams 4K channels smoothly and its app loads "
         "quickly; some illegal IPTV services were shut down last year, but this box works with "
         "legal apps."),
        ("Best VPN for streaming in 2024", "We tested ten VPNs that unblock streaming sites; our "
         "favourite got past every geo-block we tried."),
    ],
    "ACE membership and business news": [
        ("Globo joins ACE", "Brazilian broadcaster Globo has joined the Alliance for Creativity "
         "and Entertainment, the coalition that has shut down hundreds of illegal streaming "
         "services."),
        ("", "ACE named a new chairman on Monday and said it would open an office in Singapore "
         "to expand its work with broadcasters."),
    ],
    "general media business": [
        ("Netflix password crackdown pays off", "Netflix added six million subscribers after its "
         "crackdown on password sharing; the company blocked shared accounts outside the "
         "household."),
        ("Operator expands IPTV service", "The operator said its IPTV service now reaches two "
         "million homes; the regulator blocked a rival's merger last month."),
    ],
}


@pytest.mark.parametrize("trap", list(TRAPS))
def test_default_rules_stay_silent_on_traps(default, trap):
    for title, body in TRAPS[trap]:
        assert default.find_matches(Document(title, body)) == [], (title, body)


# --- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("doc", [
    Document("", ""),
    Document("\x00", "\x00" * 1000),
    Document("pirate\x00site", "IPTV\x00seized\x00pirate site seized"),
    Document("🏴‍☠️ 🎬", "🏴‍☠️" * 500),
    Document("\u202eetarip\u202c", "\u200f\u200e" * 1000),  # bidi controls
    Document("Z\u0335\u0321a\u0336l\u0337g\u0338o", "p" + "\u0301" * 50_000 + "irate"),
    Document("\ud800 lone surrogate", "\udfff"),
    Document("ⅫⅩ ½ ℃ ™", "ｈａｌｆ ｗｉｄｔｈ ﾃﾞｨｽｸ ﾞ"),
    Document("ᠮᠣᠩᠭᠣᠯ ᚠᚢᚦ", "𓀀𓀁 ꦗꦮ 𝔭𝔦𝔯𝔞𝔱𝔢 𝐬𝐢𝐭𝐞 seized"),
])
def test_odd_input_never_crashes(default, doc):
    for m in (default, matcher("pirate AND site")):
        matches = m.find_matches(doc)
        m.find_entities(doc)
        m.explain(doc)
        for match in matches:
            for term in match.terms:
                text = getattr(doc, term.field)
                assert 0 <= term.start <= term.end <= len(text)


def test_ten_megabytes_of_text_in_linear_time(default):
    chunk = ("Police seized a pirate IPTV server and arrested two men in Madrid. "
             "Le réseau a été démantelé. Die Polizei hat Server beschlagnahmt. " * 10)
    big = (chunk * (10_000_000 // len(chunk) + 1))[:10_000_000]
    start = time.perf_counter()
    matches = default.find_matches(Document("", big))
    elapsed = time.perf_counter() - start
    assert matches and len(matches[0].terms) <= 100
    small = big[:1_000_000]
    start = time.perf_counter()
    default.find_matches(Document("", small))
    small_elapsed = time.perf_counter() - start
    assert elapsed < 30 * max(small_elapsed, 0.01)  # 10x the text: no quadratic blow-up


def test_pathological_proximity_is_bounded():
    m = matcher("(a NEAR/1000 b) NEAR/1000 (c OR a)")
    start = time.perf_counter()
    assert m.find_matches(Document("", "a b c " * 300_000))
    assert time.perf_counter() - start < 10


def test_thousands_of_ors_compile_and_match_fast():
    query = " OR ".join(f"word{i}" for i in range(5_000))
    m = matcher(query)
    start = time.perf_counter()
    assert m.find_matches(Document("", "nothing here but word4999"))
    assert not m.find_matches(Document("", "nothing here"))
    assert time.perf_counter() - start < 1


def test_deep_queries_are_refused_at_load():
    with pytest.raises(RuleError, match="nesting deeper"):
        compile_rules([RuleConfig("deep", "(" * 500 + "a" + ")" * 500)], {}, {})
