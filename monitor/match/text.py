"""Folding and tokenisation: one definition of "a word" for documents and queries alike.

Every character is folded on its own (NFKD, accents dropped, case folded, a few letters
such as œ/ß/ة spelt out, "+" read "plus"), so a whole field folds with one ``str.translate`` and splits into
words with one ``str.split``: no Python loop per word. The words are joined into a
``compact`` string (" w1 w2 ... wn ") that the Aho-Corasick automaton scans; original
character offsets are recovered lazily, only for the words that end up in a match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from itertools import islice

# Letters that act as apostrophes (l\u02bcIPTV): split words like ' and \u2019 do.
_EXTRA_SEPARATORS = "\u02bc\u02bb"
# Invisible inside words: soft hyphen, zero-width (non-)joiners, word joiner, BOM, Arabic tatweel.
_EXTRA_DROPPED = "\u00ad\u200c\u200d\u2060\ufeff\u0640"
# Letters NFKD leaves alone that readers treat as spellings of plain Latin letters, and the
# light Arabic/Persian normalisation usual in Arabic search (alef wasla, alef maqsura, ta marbuta).
_SPELLED = {
    "œ": "oe", "æ": "ae", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "ı": "i", "ħ": "h", "þ": "th",
    "ß": "ss", "\u0671": "\u0627", "\u0649": "\u064a", "\u0629": "\u0647", "\u06cc": "\u064a",
    "\u06a9": "\u0643",
}


def _marks() -> str:
    """Every combining mark (and the invisible characters above), as a regex class body."""
    cps = [cp for cp in range(0x20000) if unicodedata.category(chr(cp))[0] == "M"]
    cps += range(0xE0100, 0xE01F0)  # variation selectors supplement
    cps += (ord(c) for c in _EXTRA_DROPPED)
    cps = sorted(set(cps))
    out, i = [], 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        out.append(f"\\U{cps[i]:08x}-\\U{cps[j]:08x}" if j > i else f"\\U{cps[i]:08x}")
        i = j + 1
    return "".join(out)


_MARK_CLASS = _marks()
_DROPPED = re.compile(f"[{_MARK_CLASS}]")
# Scripts written without spaces between words (Chinese, Japanese kana, half-width kana):
# each character is a word of its own, so phrases of characters match in sequence.
_CJK_CLASS = ("\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
              "\U00020000-\U0003ffff")
_CJK = re.compile(f"[{_CJK_CLASS}]")
# "+" reads "plus", a word of its own: "CANAL+" = "Canal +" = "Canal Plus", and not "canal".
_PLUS = "+\uff0b\ufe62"
# A word in the original text: a run of word characters, or one CJK character, or a plus.
# It counts as a word unless it folds to nothing (a run of combining marks alone).
_RUN = re.compile(f"(?=[^\\W_])[{_CJK_CLASS}]|[{_PLUS}]"
                  f"|(?:(?![{_CJK_CLASS}])[^\\W_{_EXTRA_SEPARATORS}]|[{_MARK_CLASS}])+")


def _fold_char(cp: int) -> str:
    c = chr(cp)
    if c in _PLUS:
        return " plus "
    if _CJK.match(c) and c.isalnum():
        folded = _fold_letter(c)
        return f" {folded} " if folded else " "  # a word of its own, or a separator
    if _DROPPED.match(c):
        return ""
    if c in _EXTRA_SEPARATORS or not c.isalnum():
        return " "
    return _fold_letter(c)


def _fold_letter(c: str) -> str:
    digit = unicodedata.decimal(c, None)
    if digit is not None:
        return str(digit)  # Arabic-Indic and other digits read as 0-9
    out = []
    for d in unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", c).casefold()):
        if d.isalnum() and not _DROPPED.match(d):
            out.append(_SPELLED.get(d, d))
    return "".join(out)


class _FoldTable(dict[int, str]):
    """``str.translate`` table filled on first sight of each code point."""

    def __missing__(self, cp: int) -> str:
        value = _fold_char(cp)
        self[cp] = value
        _KNOWN[cp] = value
        return value


# FOLD's code points so far in a plain dict, which str.translate reads faster than a subclass
_KNOWN: dict[int, str] = {}
FOLD = _FoldTable()
for _cp in range(128):
    FOLD[_cp]  # noqa: B018 - warm the ASCII part so translate takes its fast path


def fold(text: str) -> str:
    """Fold ``text``: accents, case and width removed; every non-word character is a space."""
    folded = text.translate(_KNOWN)
    # _KNOWN leaves a code point it lacks as it is, and every ASCII one is known: an ASCII
    # result had none missing (most Latin-script text); otherwise fold with the full table
    return folded if folded.isascii() else text.translate(FOLD)


def words(text: str) -> list[str]:
    """The folded words of ``text``: "L'IPTV démantelée" -> ["l", "iptv", "demantelee"]."""
    return fold(text).split()


# How ``FieldText.span`` finds the words of a text in it, by the kind of its characters
# (``_text_kind``: the least of its characters'), each way faster than the next:
ONE_FOR_ONE = 2  # letters and digits that fold to one letter or digit, separators that fold to
# one space: the folded text keeps the offsets, and its words are where the text's are
# (``_FOLDED_WORD`` in the folded text, mostly ASCII: quicker to read)
PLAIN = 1  # letters and digits that fold to a piece of a word (ß: ss), "+", separators:
# a word is a run of letters and digits, or a plus (``_WORD``)
ODD = 0  # anything else (marks, CJK, apostrophe letters, letters folding to nothing): ``_RUN``
_FOLDED_WORD = re.compile("[^ ]+")
_WORD = re.compile(f"[^\\W_]+|[{_PLUS}]")


def _char_kind(c: str) -> int:
    folded = FOLD[ord(c)]
    if c in _PLUS:
        return PLAIN
    if c.isalnum():
        if c in _EXTRA_SEPARATORS or _CJK.match(c) or not folded or " " in folded:
            return ODD
        return ONE_FOR_ONE if len(folded) == 1 else PLAIN
    return ONE_FOR_ONE if folded == " " else ODD


class _Kinds(dict[str, int]):
    """character -> ``_char_kind``, filled on first sight; ``ONE_FOR_ONE`` keeps those of
    that kind, so that most texts are told by one ``issuperset``."""

    def __init__(self) -> None:
        super().__init__()
        self.one_for_one: set[str] = set()

    def __missing__(self, c: str) -> int:
        kind = self[c] = _char_kind(c)
        if kind == ONE_FOR_ONE:
            self.one_for_one.add(c)
        return kind


_KINDS = _Kinds()


def _text_kind(text: str) -> int:
    if text.isascii():  # letters and digits fold to one, anything else to a space, but "+"
        return PLAIN if "+" in text else ONE_FOR_ONE
    if _KINDS.one_for_one.issuperset(text):
        return ONE_FOR_ONE
    return min(map(_KINDS.__getitem__, set(text)))


ARABIC_RANGES = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF),
                 (0xFE70, 0xFEFF))


def is_arabic(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ARABIC_RANGES)


# Arabic writes conjunctions, prepositions and the article on the word (wa-, fa-, bi-, li-,
# ka-, al-, lil-): terms in Arabic script also match after one of these prefixes.
ARABIC_CLITICS = frozenset(
    words("و ف ب ل ك س ال وال بال فال كال لل ولل فلل وب فب ول فل وك وس")
)
MAX_CLITIC = max(len(c) for c in ARABIC_CLITICS)


class FieldText:
    """One field of a document, folded and tokenised; word offsets computed on demand."""

    __slots__ = ("text", "words", "compact", "n_words", "_folded", "_spans", "_runs", "_plain")

    def __init__(self, text: str) -> None:
        self.text = text
        self._folded = fold(text)
        ws = self._folded.split()
        self.words = ws
        self.n_words = len(ws)
        self.compact = " " + " ".join(ws) + " " if ws else " "
        self._spans: list[tuple[int, int]] = []
        self._runs: Iterator[re.Match[str]] | None = None
        self._plain = False

    def stemmed(self, stem: Callable[[list[str]], list[str]] | None) -> str:
        """``compact`` with every word replaced by its stem: word for word, so the word
        positions (and ``span``) are those of ``compact``."""
        if stem is None or not self.words:
            return self.compact
        return " " + " ".join(stem(self.words)) + " "

    def span(self, index: int) -> tuple[int, int]:
        """Character offsets in ``text`` of word number ``index`` (0-based)."""
        if index >= self.n_words or index < 0:
            raise IndexError(index)
        spans = self._spans
        if index < len(spans):
            return spans[index]
        if self._runs is None:
            kind = _text_kind(self.text)
            self._plain = kind != ODD
            self._runs = (_FOLDED_WORD.finditer(self._folded) if kind == ONE_FOR_ONE else
                          _WORD.finditer(self.text) if kind == PLAIN else _RUN.finditer(self.text))
        if self._plain:  # one run, one word
            spans.extend(map(re.Match.span, islice(self._runs, index + 1 - len(spans))))
        while len(spans) <= index:
            m = next(self._runs, None)
            if m is None:  # cannot happen (same classes as fold); never fail on odd input
                end = len(self.text)
                spans.extend([(end, end)] * (index + 1 - len(spans)))
                break
            run = m.group()
            # one run is one word, except a run with CJK characters (one word each) and
            # a run of marks alone (no word)
            n = 1 if run.isascii() else len(run.translate(FOLD).split())
            spans.extend([m.span()] * n)
        return spans[index]
