"""The matcher compares words by their stems in the story's language, shows the story's own
words in explanations, and shows a veto (NOT, NOT NEAR) as held or not held."""

from __future__ import annotations

import pytest

from monitor.cli.rules import format_clauses
from monitor.match.matcher import Matcher, compile_rules
from monitor.config import RuleConfig
from monitor.models import Document


def matcher(query: str, terms=None) -> Matcher:
    return compile_rules([RuleConfig("r", query)], terms or {}, {})


def hit(query: str, body: str, lang: str, terms=None) -> list[str]:
    """The surface words behind a match, or [] when the rule does not fire."""
    found = matcher(query, terms).find_matches(Document("", body, lang=lang))
    return [t.text for m in found for t in m.terms]


@pytest.mark.parametrize("lang, term, body, surface", [
    ("fr", "démantelé", "Les réseaux ont été démantelés par la police.", "démantelés"),
    ("fr", "démantelé", "Une plateforme démantelée à Lyon.", "démantelée"),
    ("fr", "fermer", "La justice ferme trois sites.", "ferme"),
    ("es", "desmantelar", "La Policía ha desmantelado una red.", "desmantelado"),
    ("es", "detenido", "Cuatro detenidos en Málaga.", "detenidos"),
    ("it", "sequestrato", "Sono stati sequestrati 20 domini.", "sequestrati"),
    ("it", "oscurare", "La Guardia di Finanza ha oscurato i siti.", "oscurato"),
    ("pt", "derrubar", "A polícia derrubou o serviço.", "derrubou"),
    ("de", "durchsuchung", "Bei Durchsuchungen in Berlin wurden Server beschlagnahmt.",
     "Durchsuchungen"),
    ("en", "seized", "The agency seizes dozens of domains.", "seizes"),
    ("en", "arrest", "Police arrested two men.", "arrested"),
    ("ar", "قرصنة", "حملة على القرصنة الرقمية", "القرصنة"),
    ("ar", "قرصنة", "إجراءات جديدة للقرصنة", "للقرصنة"),
])
def test_an_inflection_matches_the_base_term_and_shows_its_own_word(lang, term, body, surface):
    assert hit(term, body, lang) == [surface]


def test_phrases_near_and_lists_are_stemmed_word_by_word():
    assert hit('"site bloqué"', "Des sites bloqués par Arcom.", "fr") == ["sites bloqués"]
    assert hit("$goods NEAR/3 seized", "Pirate streams were seized.", "en",
               {"goods": ["pirate stream"]}) == ["Pirate streams", "seized"]
    assert not hit("piracy NEAR/1 seized", "Piracy, the agency said, was seized.", "en")


def test_a_prefix_term_reads_the_words_as_written():
    # "piraterie" stems to "pirat": a '*' term must not lose letters to the stemmer
    assert hit("pirater*", "La piraterie recule.", "fr") == ["piraterie"]
    assert not hit("pirater*", "Les pirates.", "fr")


def test_a_story_without_a_known_language_is_compared_word_for_word():
    assert hit("seized", "Domains seized.", "und") == ["seized"]
    assert not hit("seized", "The agency seizes domains.", "und")


def test_a_stem_does_not_cross_languages_wrongly():
    # the rule's own word always matches itself, whatever the story's language
    for lang in ("en", "fr", "es", "it", "pt", "de", "ar", "und"):
        assert hit("desmantelada", "Red desmantelada.", lang) == ["desmantelada"]


def explain_lines(query: str, body: str, lang: str = "en") -> list[str]:
    (e,) = matcher(query).explain(Document("", body, lang=lang))
    return format_clauses(e.clause)


def test_a_veto_that_held_says_it_blocked():
    lines = explain_lines("charged NOT NEAR/3 if", "If you are charged, pay.")
    assert any("veto held, blocked: if" in line and "[If]" in line for line in lines)
    assert not any("✓ if" in line for line in lines)
    lines = explain_lines("charged AND NOT study", "A study of those charged.")
    assert any("veto held, blocked: study" in line for line in lines)
    assert lines[0].lstrip().startswith("✗")


def test_a_veto_that_did_not_hold_says_so():
    lines = explain_lines("charged NOT NEAR/3 if", "Two men were charged on Monday in Leeds. If only.")
    assert lines[0].lstrip().startswith("✓")
    assert any("veto did not hold: if" in line for line in lines)
    lines = explain_lines("charged AND NOT study", "Two men were charged.")
    assert any("veto did not hold: study" in line for line in lines)
