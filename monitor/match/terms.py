"""Terms: the words and phrases of rules, [terms] lists and [entities], each with an id.

Every term is folded like the documents (``text.words``) and becomes one key of an
Aho-Corasick automaton built by ``monitor.match``: a term ending in '*' a key of the automaton
that reads the folded words, any other term, stemmed per language, a key of the automaton that
reads the stems (``stem``).
"""

from __future__ import annotations

from monitor.errors import RuleError
from monitor.match.stem import StemFn
from monitor.match.text import is_arabic, words

MIN_STEM = 3  # letters before a '*': "pi*" would match half the dictionary


class TermTable:
    """Every distinct term of the rules, lists and entities: an id and an automaton key.

    A key is the term's folded words joined by single spaces, with a space on each side for a
    whole-word match (" pirate iptv "), none after a '*' stem (" pirat"), and none before a
    term in Arabic script, whose attached prefixes the scanner checks itself.
    """

    def __init__(self) -> None:
        self.ids: dict[tuple[tuple[str, ...], bool], int] = {}
        self.keys: dict[str, list[int]] = {}
        self.meta: dict[str, tuple[int, bool]] = {}
        self.whole: list[tuple[int, tuple[str, ...]]] = []  # terms without '*': id, words

    def term(self, text: str, prefix: bool, rule: str, where: str, pos: int | None = None) -> int:
        ws = tuple(words(text))
        at = f", position {pos}" if pos is not None and pos >= 0 else ""
        if not ws:
            raise RuleError(f"{where}{at}: term {text!r} has no letters or digits: it can never "
                            "match", rule=rule, position=pos)
        if prefix and len(ws[-1]) < MIN_STEM:
            raise RuleError(f"{where}{at}: '{ws[-1]}*' is too short: a '*' needs at least "
                            f"{MIN_STEM} letters before it", rule=rule, position=pos)
        ident = (ws, prefix)
        if ident not in self.ids:
            tid = self.ids[ident] = len(self.ids)
            arabic = is_arabic(ws[0][0])
            key = ("" if arabic else " ") + " ".join(ws) + ("" if prefix else " ")
            self.keys.setdefault(key, []).append(tid)
            self.meta[key] = (len(ws), arabic)
            if not prefix:
                self.whole.append((tid, ws))
        return self.ids[ident]

    def entry(self, text: str, rule: str, where: str) -> int:
        """One entry of a [terms] list or an [entities] alias: a word or phrase, '*' at the end."""
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        prefix = text.endswith("*")
        if prefix:
            text = text[:-1]
        if "*" in text:
            raise RuleError(f"{where}: '*' may only end a term ({text!r})", rule=rule)
        return self.term(text, prefix, rule, where)

    def automaton_keys(self) -> dict[str, tuple[int, int, bool, tuple[int, ...]]]:
        """The payloads of the automaton over folded words, for the '*' terms:
        {key: (key length, words, Arabic?, term ids)}."""
        return {k: (len(k), *self.meta[k], tuple(v)) for k, v in self.keys.items()
                if not k.endswith(" ")}

    def stem_keys(self, stem: StemFn | None) -> dict[str, tuple[int, int, bool, tuple[int, ...]]]:
        """The payloads of the automaton over stems, for whole-word terms, each word stemmed
        by ``stem`` (one language's stemmer; None: the words as they are)."""
        out: dict[str, list[int]] = {}
        meta: dict[str, tuple[int, bool]] = {}
        for tid, ws in self.whole:
            stems = stem(list(ws)) if stem is not None else list(ws)
            arabic = is_arabic(ws[0][0])
            key = ("" if arabic else " ") + " ".join(stems) + " "
            out.setdefault(key, []).append(tid)
            meta[key] = (len(ws), arabic)
        return {k: (len(k), *meta[k], tuple(v)) for k, v in out.items()}
