"""The grouping signature is computed faster than it was, with the same result: signatures stored
before must still compare with new ones. The straightforward computation is kept here as the
reference and both are run on our story set, on the extracted corpus pages and on awkward text."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from support.review_helpers import ARTICLES

from monitor.decide import grouping
from monitor.decide.grouping import SHINGLE, SKETCH_SIZE, STOPWORDS, _stem, fold, words
from monitor.errors import ExtractError
from monitor.parse.extract import extract_article

CORPUS = Path(__file__).resolve().parents[1] / "data" / "pages" / "corpus"

def page_path(name: str) -> Path:
    path = CORPUS / name  # three of the pages are those of the folder above
    return path if path.is_file() else CORPUS.parent / name


_RAW_TOKEN = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)
_THOUSANDS = re.compile(r"(?<=\d)[,.\u00a0\u202f ](?=\d{3}(?!\d))")
_SENTENCE_END = re.compile(r"[.!?:;\"“”«»]\s*$")
_YEAR = re.compile(r"(19|20)\d\d")


def reference_sketch(text: str, k: int = SKETCH_SIZE) -> tuple[tuple[int, ...], int]:
    ws = words(text)
    if len(ws) < SHINGLE:
        shingles = {" ".join(ws)} if ws else set()
    else:
        shingles = {" ".join(ws[i:i + SHINGLE]) for i in range(len(ws) - SHINGLE + 1)}
    hashes = sorted({int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(),
                                    "big") for s in shingles})
    return tuple(hashes[:k]), len(shingles)


def reference_proper_nouns(text: str) -> set[str]:
    found: set[str] = set()
    for line in _THOUSANDS.sub("", text).split("\n"):
        previous_end = 0
        for m in _RAW_TOKEN.finditer(line):
            token = m.group()
            opens_sentence = (previous_end == 0
                              or bool(_SENTENCE_END.search(line[previous_end:m.start()])))
            previous_end = m.end()
            folded = fold(token)
            if token.isdigit():
                if len(token) >= 2 and not _YEAR.fullmatch(token):
                    found.add(folded)
                continue
            if folded in STOPWORDS or len(token) < 2:
                continue
            upper = sum(c.isupper() for c in token)
            if upper >= 2 or (token[0].isupper() and not opens_sentence):
                found.add(folded)
    return found


def reference(title: str, body: str) -> tuple[object, ...]:
    text = f"{title}\n{body}"
    sketch, count = reference_sketch(text)
    terms = frozenset(_stem(w) for w in words(title)
                      if w not in STOPWORDS and len(w) >= 3 or w.isdigit())
    specifics = frozenset(_stem(w) for w in reference_proper_nouns(text))
    named = frozenset(t for t in terms if t in specifics or any(c.isdigit() for c in t))
    return sketch, count, terms, specifics, named


def computed(title: str, body: str) -> tuple[object, ...]:
    sig = grouping.signature(title, body, grouping.dt.datetime(2026, 1, 1))
    return sig.sketch, sig.shingles, sig.title_terms, sig.specifics, sig.title_specifics


def test_the_story_set_gets_the_reference_signatures() -> None:
    assert len(ARTICLES) >= 50
    for a in ARTICLES.values():
        assert computed(a["title"], a["body"]) == reference(a["title"], a["body"]), a["id"]


def test_the_corpus_pages_get_the_reference_signatures() -> None:
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    checked = 0
    for name in sorted(expected):
        try:
            article = extract_article(page_path(name).read_bytes(), f"https://example.org/{name}")
        except ExtractError:
            continue
        assert computed(article.title, article.body) == reference(article.title, article.body), name
        checked += 1
    assert checked >= 50


@pytest.mark.parametrize(("title", "body"), [
    ("", ""), ("One", ""), ("Two words", "x"), ("", "a b c"),
    ("ACE and BREIN shut IPTV site", "The ACE coalition. NASA said: “Big news” today.\nOn Monday"
     " McDonald's and O'Brien met eBay's iPhone team in São Paulo; 1,250,000 users, 2024, 12."),
    ("Ǆemal ǅemal", "ǅemal ǆemal Ǆemal. ǅx Ǆx ǅX"),  # title-case letters are neither case
    ("Arabic ٢٠٢٤ العربية", "مرحبا بالعالم ١٢٣ Name"), ("Ελληνικά ΑΘΗΝΑ", "η Αθήνα. Η ΑΘΗΝΑ"),
    ("Tabs\tand  spaces", "line one.\n\nLine two!  Next Word ?\tOther"),
    ("Hyphen-Names", "well-known Jean-Luc Picard’s ship, the U.S.S. Enterprise-D"),
])
def test_awkward_text_gets_the_reference_signature(title: str, body: str) -> None:
    assert computed(title, body) == reference(title, body)
