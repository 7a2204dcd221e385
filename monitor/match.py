"""match stage: [[rules]], [terms] and [entities] -> a compiled Matcher -> [Match] (issue 3).

Pure. Everything is compiled once: every term of every rule, list and entity becomes a key
of one Aho-Corasick automaton (pyahocorasick, imported here only); a document is folded,
scanned once per field, and only the rules whose terms were hit are evaluated. The rule
language itself lives in ``monitor.rules`` (README: "Rules").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ahocorasick

from monitor.errors import RuleError
from monitor.models import Document, Match, MatchedTerm, RuleConfig
from monitor.rules.query import FIELDS, ListRef, Node, Term, format_query, parse_query
from monitor.rules.text import ARABIC_CLITICS, MAX_CLITIC, FieldText, is_arabic, words
from monitor.rules.tree import (TEXT_FIELDS, CNode, CTerms, Hits, Leaf, Trace, all_ids,
                                compile_tree, leaves, positive_ids)

__all__ = ["Clause", "Explanation", "Matcher", "compile_rules", "format_query", "parse_query"]

EVENT_PREFIX = "event-"  # [terms] event-takedown = [...] gives the event tag "takedown"
MIN_STEM = 3  # letters before a '*'
MAX_HITS = 1000  # occurrences kept per term and field: bounds work on pathological input
MAX_TERMS_SHOWN = 100  # matched terms stored per match


def weight(field: str, start: int) -> float:
    """What one hit is worth: the title most, then the lead, then the rest of the body."""
    if field == "title":
        return 3.0
    if field != "body":
        return 1.0
    return 1.0 if start < 100 else 0.5 if start < 500 else 0.25


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause of a rule on one document: its text, whether it held, the terms behind it."""

    query: str
    matched: bool
    terms: tuple[MatchedTerm, ...]
    clauses: tuple[Clause, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a rule fired or not on a document (``monitor explain``); ``dataclasses.asdict``-able."""

    rule: str
    query: str
    enabled: bool
    fired: bool  # enabled, query true and score >= min_score
    score: float
    min_score: float
    tags: tuple[str, ...]
    clause: Clause


class _Scan:
    __slots__ = ("fields", "hits")

    def __init__(self, fields: dict[str, FieldText], hits: Hits) -> None:
        self.fields, self.hits = fields, hits

    def term(self, leaf: Leaf) -> MatchedTerm:
        tid, field, s, e = leaf
        ft = self.fields[field]
        start, end = ft.span(s)[0], ft.span(e - 1)[1]
        return MatchedTerm(ft.text[start:end], field, start, end)

    def first(self, ids: frozenset[int]) -> tuple[int, int] | None:
        """(field rank, word) of the first hit of any of ``ids`` in the title, then the body."""
        for rank, f in enumerate(TEXT_FIELDS):
            found = self.hits.get(f, {})
            starts = [found[t][0][0] for t in found.keys() & ids]
            if starts:
                return rank, min(starts)
        return None


class Matcher:
    """Compiled rules; ``find_matches``, ``find_entities`` and ``explain`` on any Document."""

    def __init__(self, rules: tuple[tuple[RuleConfig, CNode], ...],
                 keys: dict[str, tuple[int, int, bool, tuple[int, ...]]],
                 entities: tuple[tuple[str, frozenset[int]], ...],
                 events: tuple[tuple[str, frozenset[int]], ...], fields: tuple[str, ...]) -> None:
        self.rules = tuple(r for r, _ in rules)
        self._rules = rules
        self._entities = entities
        self._events = events
        self._fields = fields
        self._automaton: ahocorasick.Automaton | None = None
        if keys:
            self._automaton = ahocorasick.Automaton()
            for key, value in keys.items():
                self._automaton.add_word(key, value)
            self._automaton.make_automaton()
        index: dict[int, list[int]] = {}
        for i, (rule, tree) in enumerate(rules):
            if rule.enabled:
                for tid in all_ids(tree):
                    index.setdefault(tid, []).append(i)
        self._index = index
        self._last: tuple[Document, _Scan] | None = None

    @property
    def event_tags(self) -> tuple[str, ...]:
        return tuple(tag for tag, _ in self._events)

    # --- scanning -----------------------------------------------------------------------------
    def _scan(self, doc: Document) -> _Scan:
        last = self._last
        if last is not None and (last[0] is doc or last[0] == doc):
            return last[1]
        fields = {f: FieldText(getattr(doc, f) or "") for f in self._fields}
        hits = {f: self._scan_field(ft) for f, ft in fields.items()}
        scan = _Scan(fields, hits)
        self._last = (doc, scan)
        return scan

    def _scan_field(self, ft: FieldText) -> dict[int, list[tuple[int, int]]]:
        out: dict[int, list[tuple[int, int]]] = {}
        if self._automaton is None or not ft.n_words:
            return out
        compact = ft.compact
        count = compact.count
        pos = spaces = 0
        for end, (keylen, n, arabic, tids) in self._automaton.iter(compact):
            spaces += count(" ", pos, end)  # spaces before `end`: the word index, plus one
            pos = end
            if arabic:
                start = end - keylen + 1
                if compact[start - 1] != " ":  # a prefixed Arabic word: al-, wa-, bi-...
                    window = compact[max(0, start - MAX_CLITIC - 1):start]
                    cut = window.rfind(" ")
                    if cut < 0 or window[cut + 1:] not in ARABIC_CLITICS:
                        continue
            span = (spaces - n, spaces)
            for tid in tids:
                found = out.get(tid)
                if found is None:
                    out[tid] = [span]
                elif len(found) < MAX_HITS:
                    found.append(span)
        return out

    # --- the API --------------------------------------------------------------------------------
    def find_matches(self, doc: Document) -> list[Match]:
        """The enabled rules that fire on ``doc`` with ``score >= min_score``, in config order."""
        scan = self._scan(doc)
        candidates = sorted({i for found in scan.hits.values() for tid in found
                             for i in self._index.get(tid, ())})
        out = []
        tags: tuple[str, ...] | None = None
        for i in candidates:
            rule, tree = self._rules[i]
            occs = tree.ev(scan.hits)
            if occs is None:
                continue
            found = leaves(occs)
            score = _score(found)
            if score < rule.min_score:
                continue
            if tags is None:
                tags = self._found(scan, self._events)
            terms = tuple(scan.term(leaf) for leaf in found[:MAX_TERMS_SHOWN])
            out.append(Match(rule.name, score, terms, _merge(tags, rule.tags)))
        return out

    def find_entities(self, doc: Document) -> tuple[str, ...]:
        """Canonical names of the entities named in the title or body, by first appearance."""
        return self._found(self._scan(doc), self._entities)

    def find_events(self, doc: Document) -> tuple[str, ...]:
        """Event tags (takedown, raid, ...) whose terms appear in ``doc``, by first appearance."""
        return self._found(self._scan(doc), self._events)

    def explain(self, doc: Document) -> tuple[Explanation, ...]:
        """For every rule, enabled or not: the clause tree on ``doc`` and why it fired or not."""
        scan = self._scan(doc)
        events = self._found(scan, self._events)
        out = []
        for rule, tree in self._rules:
            trace = tree.trace(scan.hits)
            score = _score(trace.leaves) if trace.matched else 0.0
            fired = rule.enabled and trace.matched and score >= rule.min_score
            out.append(Explanation(rule.name, rule.query, rule.enabled, fired, score,
                                   rule.min_score, _merge(events, rule.tags) if fired else (),
                                   _clause(trace, scan)))
        return tuple(out)

    def _found(self, scan: _Scan, named: tuple[tuple[str, frozenset[int]], ...]
               ) -> tuple[str, ...]:
        firsts = [(first, i) for i, (_, ids) in enumerate(named)
                  if (first := scan.first(ids)) is not None]
        return tuple(named[i][0] for _, i in sorted(firsts))


def _score(found: tuple[Leaf, ...]) -> float:
    best: dict[int, float] = {}
    for tid, field, start, _ in found:
        best[tid] = max(best.get(tid, 0.0), weight(field, start))
    return round(sum(best.values()), 3)


def _merge(first: tuple[str, ...], then: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(first + tuple(then)))


def _clause(trace: Trace, scan: _Scan) -> Clause:
    return Clause(trace.query, trace.matched,
                  tuple(scan.term(leaf) for leaf in trace.leaves[:MAX_TERMS_SHOWN]),
                  tuple(_clause(c, scan) for c in trace.children))


# --- compiling ------------------------------------------------------------------------------------
class _Compiler:
    """Gives every distinct term an id and an automaton key."""

    def __init__(self) -> None:
        self.ids: dict[tuple[tuple[str, ...], bool], int] = {}
        self.keys: dict[str, list[int]] = {}
        self.meta: dict[str, tuple[int, bool]] = {}

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
        return {k: (len(k), *self.meta[k], tuple(v)) for k, v in self.keys.items()}


def compile_rules(rules: Sequence[RuleConfig], terms: Mapping[str, Sequence[str]],
                  entities: Mapping[str, Sequence[str]]) -> Matcher:
    """Compile every rule, term list and entity once. ``RuleError`` names what is wrong."""
    comp = _Compiler()
    lists: dict[str, frozenset[int]] = {}
    for name, entries in terms.items():
        where = f'term list "{name}"'
        if isinstance(entries, str) or not entries:
            raise RuleError(f"{where}: expected a non-empty list of terms", rule=name)
        lists[name] = frozenset(comp.entry(str(e), name, where) for e in entries)
    events = tuple((name[len(EVENT_PREFIX):], ids) for name, ids in lists.items()
                   if name.startswith(EVENT_PREFIX))
    ents = []
    for name, aliases in entities.items():
        where = f'entity "{name}"'
        if isinstance(aliases, str):
            raise RuleError(f"{where}: expected a list of aliases", rule=name)
        ents.append((name, frozenset(comp.entry(str(a), name, where) for a in (name, *aliases))))

    compiled = []
    used_fields = set(TEXT_FIELDS)
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise RuleError(f'rule "{rule.name}": a second rule has this name', rule=rule.name)
        seen.add(rule.name)
        where = f'rule "{rule.name}"'

        def term(node: Term, rule: RuleConfig = rule) -> int:
            return comp.term(node.text, node.prefix, rule.name, f'rule "{rule.name}"', node.pos)

        def named(node: ListRef, rule: RuleConfig = rule) -> frozenset[int]:
            if node.name not in lists:
                known = ", ".join("$" + n for n in lists) or "none"
                raise RuleError(f'rule "{rule.name}", position {node.pos}: unknown list '
                                f"${node.name}: expected one of the [terms] lists ({known})",
                                rule=rule.name, position=node.pos)
            return lists[node.name]

        ast: Node = parse_query(rule.query, rule=rule.name)
        tree = compile_tree(ast, rule.name, term, named)
        if tree.ev({}) is not None:
            raise RuleError(f"{where}: matches every document (a lone NOT?): "
                            "add a term the story must contain", rule=rule.name, position=0)
        best = 3.0 * len(positive_ids(tree))
        if rule.min_score > best:
            raise RuleError(f"{where}: min_score {rule.min_score} can never be reached "
                            f"(at most {best})", rule=rule.name)
        if rule.enabled:
            used_fields |= _fields(tree)
        compiled.append((rule, tree))
    return Matcher(tuple(compiled), comp.automaton_keys(), tuple(ents), events,
                   tuple(f for f in FIELDS if f in used_fields))


def _fields(tree: CNode) -> set[str]:
    out: set[str] = set()
    stack = [tree]
    while stack:
        n = stack.pop()
        if isinstance(n, CTerms):
            out.update(n.fields)
        stack.extend(n.parts())
    return out
