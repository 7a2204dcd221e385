"""One story per event: a clipping's grouping signature, and whether two clippings
report the same event. Pure functions, no I/O; the store keeps signatures and stories.

Two tests, measured on our own story set (`python bench/bench_grouping.py`):
- near-duplicate text: the word 3-shingles of title and body, estimated by a bottom-k MinHash
  sketch (one hash per shingle, the k smallest kept). Syndicated copies share most shingles
  whatever their age; a feed summary is *contained* in the full article, so containment counts
  too. trafilatura's content fingerprint (a SimHash of single words) is also stored, but single
  words do not tell a reworded report from a different event with similar wording (the bench
  prints its figures beside ours).
- a reworded report of the same event: published within ``window`` of the other, and sharing
  its headline words or its specifics (names, numbers), unless each headline names something
  the other text never mentions (two takedowns by the same coalition on the same day, each
  naming its own target, stay two stories).
Only evidence that survives generic text counts: generic headline words ("Video", "Live") are
left out and shared headline words count when specific, two names in common are not enough,
and short texts are not near-duplicates. An outlet's boilerplate is left out of the signature
by the store (``line_marks``, ``without_lines``, ``without_terms``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

SKETCH_SIZE = 128
SHINGLE = 3
DUPLICATE_JACCARD = 0.5  # estimated resemblance of two texts' shingles
DUPLICATE_CONTAINMENT = 0.8  # share of the shorter text's shingles found in the longer one
MIN_CONTAINED = 20  # a text shorter than this (in shingles) is too short to be "contained"
TITLE_SIMILAR = 0.5  # Jaccard of headline words
SPECIFICS_SIMILAR = 0.25  # Jaccard of names and numbers
BOTH_SIMILAR = (0.2, 0.15)  # both a little similar
MIN_DUPLICATE = 12  # shingles: two shorter texts are not told apart by their wording
SPECIFIC_HEADLINE = 3  # shared headline words (beside generic ones) that make a headline evidence
SHARED_SPECIFICS = 3  # names and numbers in common below which specifics are not evidence

# Headline words that say what kind of page it is, not what happened ("Video", "Live",
# "Breaking"): a feed may give every item the same one, so they are never evidence.
GENERIC_HEADLINE = frozenset("""
video videos live breaking news story stories update updates latest watch photo photos gallery
exclusive report analysis opinion podcast listen read more today week daily newsletter briefing
alert urgent developing explainer interview feature episode clip highlights
direct video videos actualite actualites info infos flash urgent alerte reportage
ultima hora noticia noticias vivo directo actualizacion urgente
ultimas noticia noticias ao vivo atualizacao urgente
ultim'ora ultima ora notizie diretta aggiornamento
eilmeldung aktuell nachrichten liveticker
""".split())

# Short function words of the monitor's languages: not headline words, not names.
STOPWORDS = frozenset("""
a about after against all also an and are as at be been but by for from has have he her his
in into is it its last more new no not of on one or over says said she than that the their
they this to two up was were which while who will with would
au aux avec ce ces dans de des du elle en est et il ils la le les leur mais ne ni nous ou par
pas plus pour qu que qui sa se ses son sont sur un une
al con del el en es la las los lo para por que se su sus un una y
ao com da das do dos em na nas no nos os para pela pelo por que um uma
alla che con da dei del della di e gli il la le nel per si un una
auf aus bei das dem den der des die ein eine einen im ist mit nach nicht sich und von zu
""".split())

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_RAW_TOKEN = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)
_THOUSANDS = re.compile(r"(?<=\d)[,.\u00a0\u202f ](?=\d{3}(?!\d))")
_SENTENCE_END = re.compile(r"[.!?:;\"“”«»]\s*$")
_YEAR = re.compile(r"(19|20)\d\d")


class _CombiningMarks(dict[int, "str | None"]):
    """A str.translate table that deletes the characters with a combining class, filled in as
    characters are met: after the first pages every lookup is a plain dict hit, where testing
    ``unicodedata.combining`` character by character cost a Python call per character."""

    def __missing__(self, code: int) -> str | None:
        kept = None if unicodedata.combining(chr(code)) else chr(code)
        self[code] = kept
        return kept


_COMBINING_MARKS = _CombiningMarks()


def fold(text: str) -> str:
    """Case, accents and width folded, as the rules compare text."""
    if text.isascii():  # nothing to decompose (most of the text of most languages here)
        return text.casefold()
    return unicodedata.normalize("NFKD", text).translate(_COMBINING_MARKS).casefold()


@functools.lru_cache(maxsize=65536)
def _fold_token(token: str) -> str:
    # Names and common words recur from one clipping to the next.
    return fold(token)


def _numbers_joined(text: str) -> str:
    return _THOUSANDS.sub("", text)


def words(text: str) -> list[str]:
    return _WORD.findall(fold(_numbers_joined(text)))


def _stem(word: str) -> str:
    """A light plural strip, enough for headlines ("takedowns" = "takedown")."""
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


# as the headlines' words are kept: folded, split at punctuation, plurals stripped
GENERIC_HEADLINE = frozenset(_stem(w) for g in GENERIC_HEADLINE for w in words(g))


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def sketch(text: str, k: int = SKETCH_SIZE) -> tuple[tuple[int, ...], int]:
    """The k smallest hashes of the text's word shingles (sorted), and how many there are."""
    ws = words(text)
    if len(ws) < SHINGLE:
        shingles = {" ".join(ws)} if ws else set()
    else:
        # three shifted lists zipped: the shingles without a slice and a join call per word
        shingles = set(map(" ".join, zip(*(ws[i:] for i in range(SHINGLE)))))
    # _hash inlined: a Python call per shingle was a third of the sketch's time
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    hashes = sorted({from_bytes(blake2b(s.encode("utf-8"), digest_size=8).digest(), "big")
                     for s in shingles})
    return tuple(hashes[:k]), len(shingles)


def resemblance(a: tuple[int, ...], b: tuple[int, ...], k: int = SKETCH_SIZE) -> float:
    """Estimated Jaccard similarity of two sketches' shingle sets (exact below k shingles)."""
    if not a or not b:
        return 0.0
    sa = set(a)
    common = sa.intersection(b)
    if not common:
        return 0.0
    union = sa.union(b)
    if len(union) > k:  # the k smallest of the union: the estimate of bottom-k sketches
        cut = sorted(union)[k - 1]
        return sum(1 for h in common if h <= cut) / k
    return len(common) / len(union)


def containment(a: tuple[int, ...], na: int, b: tuple[int, ...], nb: int,
                j: float | None = None) -> float:
    """Estimated share of the smaller text's shingles that the other one has (``j``: their
    resemblance, when already known)."""
    j = resemblance(a, b) if j is None else j
    smaller = min(na, nb)
    if not smaller:
        return 0.0
    return min(1.0, j * (na + nb) / (1 + j) / smaller)


def _proper_nouns(text: str) -> set[str]:
    """Names and numbers: tokens written with a capital (not opening a sentence), acronyms,
    and numbers of two digits or more (years left out: every story has one)."""
    found: set[str] = set()
    text = _numbers_joined(text)
    for line in text.split("\n"):
        tokens = _RAW_TOKEN.findall(line)
        # What lies before each token: a token ends with a letter or a digit, so the line up
        # to a token ends a sentence when the gap before it does (looking at the gap alone
        # keeps this linear in the line's length). Found by the same pattern in C, rather
        # than a Python call per token for its position.
        gaps = _RAW_TOKEN.split(line) if tokens else []
        for i, token in enumerate(tokens):
            if token.islower():  # no capital: neither a name nor a number (most words)
                continue
            folded = _fold_token(token)
            if token.isdigit():
                if len(token) >= 2 and not _YEAR.fullmatch(token):
                    found.add(folded)
                continue
            if folded in STOPWORDS or len(token) < 2:
                continue
            if not token[0].isupper():
                if sum(c.isupper() for c in token[1:]) >= 2:
                    found.add(folded)
                continue
            # A capital first: an acronym, or a name when it does not open a sentence ("Name":
            # the rest lower case, no capital to look for).
            rest = token[1:]
            if ((not rest.islower() and any(c.isupper() for c in rest))
                    or i and not _SENTENCE_END.search(gaps[i])):
                found.add(folded)
    return found


@dataclass(frozen=True, slots=True)
class Signature:
    """What grouping compares: computed once per clipping and stored beside it."""

    sketch: tuple[int, ...]
    shingles: int
    title_terms: frozenset[str]  # headline words, folded, no function words
    specifics: frozenset[str]  # names and numbers of the whole text
    at: dt.datetime  # publication time, else the time the story was first seen
    title_specifics: frozenset[str] = frozenset()  # headline words that are names or numbers


def make_signature(sketch: tuple[int, ...], shingles: int, title_terms: frozenset[str],
                   specifics: frozenset[str], at: dt.datetime) -> Signature:
    """A Signature with its title_specifics: the headline's words that are names in the text,
    or numbers."""
    named = frozenset(t for t in title_terms if t in specifics or any(c.isdigit() for c in t))
    return Signature(sketch, shingles, title_terms, specifics, at, named)


def headline_words(sig: Signature) -> frozenset[str]:
    """The headline's words but the generic ones ("Video", "Live", "Breaking")."""
    return sig.title_terms - GENERIC_HEADLINE


def specific_headline(sig: Signature) -> bool:
    """Whether a headline can be evidence on its own: long enough once its generic words are
    left out, or naming something (a name or a number)."""
    words = headline_words(sig)
    return len(words) >= SPECIFIC_HEADLINE or bool(words & sig.title_specifics)


def signature(title: str, body: str, at: dt.datetime) -> Signature:
    shingles, count = sketch(f"{title}\n{body}")
    terms = frozenset(_stem(w) for w in words(title)
                      if w not in STOPWORDS and len(w) >= 3 or w.isdigit())
    # Line by line: the body's names are among those of the headline and body together.
    specifics = frozenset(_stem(w) for w in _proper_nouns(f"{title}\n{body}"))
    return make_signature(shingles, count, terms, specifics, at)


# Candidates through an index: comparing a new clipping with every stored one would cost what
# the store holds (quadratic over a cold start). The store keeps each clipping under a few keys
# and compares a new one with the clippings that share a key (monitor.archive). Figures:
# bench/bench_grouping.py.
HEADS = 16  # smallest hashes of a sketch under which its clipping is found


def _sql_int(h: int) -> int:
    """A 64-bit hash as SQLite stores integers (signed)."""
    return h - (1 << 64) if h >= 1 << 63 else h


def headline_key(sig: Signature) -> int | None:
    """One key for the headline's words: a copy keeps its headline whatever else it cuts."""
    if not specific_headline(sig):  # "Video" on every item of a feed finds nothing
        return None
    return _sql_int(_hash("headline\x00" + " ".join(sorted(sig.title_terms))))


def sketch_keys(sig: Signature) -> list[int]:
    """The keys a stored clipping is found under for near-duplicates: its HEADS smallest shingle
    hashes and its headline key.

    A new clipping looks up every hash of its sketch (``probe_keys``), so it finds a stored one
    when one of the stored one's smallest hashes is in its sketch. Each of them is, with the
    probability that a shingle of the stored text is in the new one (its containment ``c``), as
    long as the new sketch reaches that far (the new text under 8 times as long): all HEADS are
    missed with probability about (1 - c) ** HEADS, 1.5e-5 for a copy of resemblance 0.5. A
    short new text contained in a long stored one holds few of the long one's smallest hashes:
    its headline key, or its names within story_window (``index_terms``), find it."""
    keys = [_sql_int(h) for h in sig.sketch[:HEADS]]  # the sketch is sorted
    headline = headline_key(sig)
    return keys + ([headline] if headline is not None else [])


def probe_keys(sig: Signature) -> list[int]:
    """The keys a new clipping looks up: every hash of its sketch, and its headline key."""
    headline = headline_key(sig)
    return [_sql_int(h) for h in sig.sketch] + ([headline] if headline is not None else [])


def index_terms(sig: Signature) -> frozenset[str]:
    """The words a clipping is found under by a reworded report within story_window: its
    headline words and its names and numbers. ``may_match`` lets through, within the window,
    only clippings sharing one of them (or a shingle)."""
    return sig.title_terms | sig.specifics


def _jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def _unmentioned(names: frozenset[str], text_terms: frozenset[str],
                 more_terms: frozenset[str] = frozenset()) -> set[str]:
    """The names that the other text (its ``text_terms`` and ``more_terms``) does not mention,
    even as a longer or shorter form of the word ("Vietnam" is mentioned by "Vietnamese")."""
    unmentioned: set[str] = set()
    ordered: list[str] | None = None
    # Plain loops, no closure or generator per name, and the text's two sets looked up apart
    # rather than joined: grouping runs this for each pair compared, on a headline's few names.
    for name in names:
        if name in text_terms or name in more_terms:
            continue
        if len(name) >= 4 and not name.isdigit():
            # a shorter form: one of the name's own prefixes of 4 letters or more is a term
            for k in range(4, len(name)):
                prefix = name[:k]
                if prefix in text_terms or prefix in more_terms:
                    break
            else:
                # a longer form: the terms starting with the name sort right after it
                if ordered is None:
                    ordered = sorted(text_terms | more_terms)
                i = bisect.bisect_left(ordered, name)
                if not (i < len(ordered) and ordered[i].startswith(name)):
                    unmentioned.add(name)
            continue
        unmentioned.add(name)
    return unmentioned


@dataclass(frozen=True, slots=True)
class Verdict:
    same: bool
    reason: str  # "syndicated", "reworded", "different", "too far apart"
    resemblance: float
    title: float
    specifics: float


def may_match(a: Signature, a_hashes: frozenset[int], b: Signature,
              window: dt.timedelta) -> bool:
    """A cheap test that loses nothing: False only when ``compare`` would say "not the same"
    (no shingle in common, and too far apart or no headline word or name in common).
    ``a_hashes`` is ``frozenset(a.sketch)``, made once for all the candidates."""
    if not a_hashes.isdisjoint(b.sketch):
        return True
    if abs(a.at - b.at) > window:
        return False
    return not (a.title_terms.isdisjoint(b.title_terms) and a.specifics.isdisjoint(b.specifics))


def _headline_evidence(a: Signature, b: Signature) -> float:
    """The Jaccard of the two headlines' words, counted only when what they share is specific:
    SPECIFIC_HEADLINE words beside generic ones, or a name or number. Two items headed "Video",
    or "Live: the latest", say nothing about being one event."""
    shared = (a.title_terms & b.title_terms) - GENERIC_HEADLINE
    if len(shared) < SPECIFIC_HEADLINE and not shared & (a.title_specifics | b.title_specifics):
        return 0.0
    return _jaccard(a.title_terms - GENERIC_HEADLINE, b.title_terms - GENERIC_HEADLINE)


def compare(a: Signature, b: Signature, window: dt.timedelta) -> Verdict:
    """Whether two clippings report the same event, and why."""
    j = resemblance(a.sketch, b.sketch)
    contained = containment(a.sketch, a.shingles, b.sketch, b.shingles, j)
    t = _headline_evidence(a, b)
    # Two names in common are the actors (a regulator, a country) that many events share.
    s = (_jaccard(a.specifics, b.specifics)
         if len(a.specifics & b.specifics) >= SHARED_SPECIFICS else 0.0)
    # Each headline names a target, a place or a number that the other text never mentions:
    # two events, however alike the rest of the wording (a syndicated copy names what the
    # original names, whatever its headline).
    if (_unmentioned(a.title_specifics, b.specifics, b.title_terms)
            and _unmentioned(b.title_specifics, a.specifics, a.title_terms)):
        return Verdict(False, "different", j, t, s)
    # Two short texts alike ("Video" over "Watch the video") are not copies of one report.
    if min(a.shingles, b.shingles) >= MIN_DUPLICATE and (
            j >= DUPLICATE_JACCARD or (contained >= DUPLICATE_CONTAINMENT
                                       and min(a.shingles, b.shingles) >= MIN_CONTAINED)):
        return Verdict(True, "syndicated", j, t, s)
    if abs(a.at - b.at) > window:
        return Verdict(False, "too far apart", j, t, s)
    similar = (t >= TITLE_SIMILAR or s >= SPECIFICS_SIMILAR
               or (t >= BOTH_SIMILAR[0] and s >= BOTH_SIMILAR[1]))
    return Verdict(similar, "reworded" if similar else "different", j, t, s)


# --- An outlet's boilerplate ----------------------------------------------------------------
# Lines an outlet repeats on its pages (a footer, an intro, a promotion) and names it puts on
# most of them (its own name, a discount code) say nothing about the event: the store finds them
# among the outlet's recent clippings (monitor.store.archive) and the signature leaves them out.
OUTLET_TERM_SHARE = 0.5  # a name on at least this share of the outlet's recent clippings...
OUTLET_TERM_MIN = 3  # ...and on at least this many of them


def line_marks(body: str) -> dict[str, int]:
    """Each line of a text under its hash (folded, so case and spacing do not matter)."""
    marks: dict[str, int] = {}
    for line in body.split("\n"):
        ws = words(line)
        if ws:
            marks[line] = _sql_int(_hash("line\x00" + " ".join(ws)))
    return marks


def without_lines(body: str, lines: Iterable[str]) -> str:
    """The text without these lines."""
    drop = set(lines)
    return "\n".join(line for line in body.split("\n") if line not in drop)


def without_terms(sig: Signature, terms: frozenset[str]) -> Signature:
    """The signature without these names (an outlet's own), in its specifics and headline."""
    if not terms & (sig.specifics | sig.title_terms):
        return sig
    return make_signature(sig.sketch, sig.shingles, sig.title_terms - terms,
                          sig.specifics - terms, sig.at)


def pairwise_scores(groups_true: dict[str, str], groups_found: dict[str, str]) -> tuple[float, float]:
    """Pairwise precision and recall of a grouping: over every pair of items, put together
    correctly (both say same) against all pairs put together / all pairs that belong together."""
    ids = sorted(groups_true)
    tp = fp = fn = 0
    for i, x in enumerate(ids):
        for y in ids[i + 1:]:
            truth = groups_true[x] == groups_true[y]
            found = groups_found[x] == groups_found[y]
            tp += truth and found
            fp += found and not truth
            fn += truth and not found
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall
