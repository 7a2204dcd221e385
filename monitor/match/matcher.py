"""match stage: [[rules]], [terms] and [entities] -> a compiled Matcher -> [Match].

Pure. Everything is compiled once: every term of every rule, list and entity becomes a key
of an Aho-Corasick automaton (pyahocorasick, imported here only): the '*' terms of one that
reads folded words, the others, stemmed, of one per language that reads the story's stems
(``monitor.match.stem``). A document is folded,
stemmed, scanned once per field and automaton, and only the rules whose terms were hit are
evaluated. The rule
language itself lives in ``monitor.rules`` (README: "Rules").
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import ahocorasick

from monitor.config import Config, RuleConfig, WatchConfig
from monitor.errors import ConfigError, MonitorError, RuleError
from monitor.parse.language import guess_language
from monitor.models import Document, Match, MatchedTerm
from monitor.match.combine import SecondOpinion, second_opinion
from monitor.match.model import MAX_WORDS, Model, Opinion
from monitor.match.query import FIELDS, ListRef, Node, Term, format_query, parse_query
from monitor.match.stem import LANGS, stemmer
from monitor.match.terms import TermTable
from monitor.match.text import ARABIC_CLITICS, MAX_CLITIC, FieldText
from monitor.match.tree import (TEXT, ClauseTree, CNode, Hits, Leaf, Trace, all_ids,
                                compile_tree, leaves, positive_ids, term_nodes)

__all__ = ["Clause", "Explanation", "Matcher", "WatchHit", "compile_rules", "format_query",
           "parse_query"]

EVENT_PREFIX = "event-"  # [terms] event-takedown = [...] gives the event tag "takedown"
MAX_HITS = 100  # occurrences kept per term and field: bounds the work on pathological input
MAX_TERMS_SHOWN = 100  # matched terms stored per match


def document(title: str, body: str, source: str = "", url: str = "",
             lang: str | None = None) -> Document:
    """The matcher's view of a story, its ``lang`` guessed from the text (rules' ``lang:``)
    unless given."""
    return Document(title=title, body=body, source=source, url=url,
                    lang=guess_language(f"{title}\n{body}") if lang is None else lang)


def weight(field: str, start: int) -> float:
    """What one hit is worth: the title most, then the lead, then the rest of the body."""
    if field == "title":
        return 3.0
    if field != "body":
        return 1.0
    return 1.0 if start < 100 else 0.5 if start < 500 else 0.25


LEAD_WORDS = 60  # of the body after the title: about two sentences, where the news is told


def rank_events(places: Mapping[int, Mapping[int, float]], first: Mapping[int, int],
                lead_end: int | None = None) -> list[int]:
    """Events, the story's own first: ``places`` maps each event to the starts of its words
    and their ``weight``, ``first`` to where it is first named; events are numbered in the
    order of their lists, which is their precedence.

    The first event is the one the lead tells (the words before ``lead_end``: the title and
    the body's first LEAD_WORDS); when the lead tells several ("police raided ten homes and
    arrested three"), the first in list order wins, so that one operation always gets one
    tag. Without a lead word, and for the events after the first, prominence decides: the
    sum of an event's word weights, so "Feds seize 10 domains" in a title outweighs the
    "charged" of a last paragraph. A word counts once, however many terms of its list it
    matches ("arrestato" is "arrestat*" and "arresto"). Ties go to the event named first.
    """
    mass = {i: sum(placed.values()) for i, placed in places.items()}
    ranked = sorted(places, key=lambda i: (-mass[i], first[i]))
    # ``first`` is where an event is first named, so it tells whether the lead names it
    told = [i for i in places if lead_end is not None and first[i] < lead_end]
    if told:
        ranked.remove(top := min(told))
        ranked.insert(0, top)
    return ranked


Clause = ClauseTree[MatchedTerm]
"""One clause of a rule on one document, its terms placed in the text (`monitor explain`)."""


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
    watches: tuple[str, ...] = ()  # fired: the paired [[watch]] lists the document names


@dataclass(frozen=True, slots=True)
class WatchHit:
    """A [[watch]] list a document names: its name, the names found, and the rules it pairs
    with (empty: every rule)."""

    name: str
    terms: tuple[MatchedTerm, ...]
    rules: tuple[str, ...] = ()

    def pairs_with(self, rule: str) -> bool:
        return not self.rules or rule in self.rules


class _Scan:
    """One document, folded and scanned: its fields and the hits of every term in them."""

    __slots__ = ("fields", "hits", "shift", "named", "made")

    def __init__(self, fields: dict[str, FieldText], hits: Hits) -> None:
        self.fields, self.hits = fields, hits
        # "text" is the title then the body, the body shifted past the title and one gap word
        self.shift = shift = fields["title"].n_words + 1
        text = {tid: list(spans) for tid, spans in hits["title"].items()}
        for tid, spans in hits["body"].items():
            moved = [(s + shift, e + shift) for s, e in spans]
            found = text.get(tid)
            if found is None:
                text[tid] = moved
            else:
                found += moved
        hits[TEXT] = text
        self.named: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # events, entities
        self.made: dict[tuple[str, str, int, int], MatchedTerm] = {}  # see ``terms``

    def locate(self, field: str, s: int, e: int) -> tuple[str, str, int, int]:
        """Words ``s`` to ``e`` (excluded) of a field in its text: the fields of a
        MatchedTerm."""
        ft = self.fields[field]
        start, end = ft.span(s)[0], ft.span(e - 1)[1]
        return ft.text[start:end], field, start, end

    def terms(self, found: tuple[Leaf, ...]) -> tuple[MatchedTerm, ...]:
        """The matched terms behind ``found``: title first, in order, at most MAX_TERMS_SHOWN."""
        # each hit of "text" placed in the title or the body, as its sort key: the title
        # first, then by field, start, end and term (one key per distinct placed hit)
        shift = self.shift
        placed = sorted({(field != "title", field, s, e, tid) if field != TEXT else
                         (False, "title", s, e, tid) if s < shift else
                         (True, "body", s - shift, e - shift, tid)
                         for tid, field, s, e in found})
        # told apart by their fields, and each made once per scan: rules share terms
        made = self.made
        out = []
        for fields in dict.fromkeys([self.locate(field, s, e)
                                     for _, field, s, e, _ in placed[:MAX_TERMS_SHOWN]]):
            term = made.get(fields)
            if term is None:
                term = made[fields] = MatchedTerm(*fields)
            out.append(term)
        return tuple(out)

    def score(self, found: tuple[Leaf, ...]) -> float:
        """The sum, over distinct terms, of each term's best placement (see ``weight``)."""
        best: dict[int, float] = {}
        shift = self.shift
        for tid, field, start, _ in found:
            if field == TEXT:  # placed and weighed (``weight``) here: this runs for every hit
                w = (3.0 if start < shift else 1.0 if start - shift < 100 else
                     0.5 if start - shift < 500 else 0.25)
            else:
                w = weight(field, start)
            if w > best.get(tid, 0.0):  # every weight is above 0: a term's first hit enters it
                best[tid] = w
        return round(sum(best.values()), 3)


class Matcher:
    """Compiled rules; ``find_matches``, ``find_entities`` and ``explain`` on any Document."""

    def __init__(self, rules: tuple[tuple[RuleConfig, CNode], ...],
                 table: TermTable,
                 entities: tuple[tuple[str, frozenset[int]], ...],
                 events: tuple[tuple[str, frozenset[int]], ...], fields: tuple[str, ...],
                 lists: tuple[tuple[str, frozenset[int]], ...] = (),
                 watches: tuple[tuple[WatchConfig, frozenset[int]], ...] = (),
                 event_queries: tuple[tuple[int, CNode], ...] = ()) -> None:
        self.rules = tuple(r for r, _ in rules)
        self._event_queries = event_queries  # ([events]) event index, compiled query
        self._watches = watches
        self._rules = rules
        self._named = (events, entities)
        # term id -> the events (0) and entities (1) it names: found from the hits alone
        self._named_index: dict[int, list[tuple[int, int]]] = {}
        for kind, group in enumerate(self._named):
            for i, (_, ids) in enumerate(group):
                for tid in ids:
                    self._named_index.setdefault(tid, []).append((kind, i))
        # term id -> the model's signals of the [terms] lists it belongs to: in the lead
        # ("L:name") and in the title ("L:name", "T:name")
        self._lead_signals: dict[int, tuple[str, ...]] = {}
        self._title_signals: dict[int, tuple[str, ...]] = {}
        for name, ids in lists:
            for tid in ids:
                self._lead_signals[tid] = (*self._lead_signals.get(tid, ()), "L:" + name)
                self._title_signals[tid] = (*self._title_signals.get(tid, ()), "L:" + name,
                                            "T:" + name)
        self._fields = fields
        self._table = table
        self._automaton = _automaton(table.automaton_keys())
        # Document.lang -> the automaton of the whole-word terms stemmed for that language, built
        # here once for every language with a stemmer; any other language reads them unstemmed
        self._unstemmed = _automaton(table.stem_keys(None))
        self._stemmed = {lang: _automaton(table.stem_keys(stemmer(lang))) for lang in LANGS}
        index: dict[int, list[int]] = {}
        for i, (rule, tree) in enumerate(rules):
            if rule.enabled:
                for tid in all_ids(tree):
                    index.setdefault(tid, []).append(i)
        self._index = index
        self._local = threading.local()  # the last document scanned, per thread
        # The learned model's say on the rules' verdict ([model]; set by matcher_for).
        self.second_opinion: SecondOpinion | None = None

    @property
    def n_terms(self) -> int:
        """Distinct terms compiled into the automaton (rules, lists and entities)."""
        return len(self._table.keys)

    @property
    def event_tags(self) -> tuple[str, ...]:
        return tuple(tag for tag, _ in self._named[0])

    # --- scanning -----------------------------------------------------------------------------
    def _scan(self, doc: Document) -> _Scan:
        last: tuple[Document, _Scan] | None = getattr(self._local, "last", None)
        if last is not None and (last[0] is doc or last[0] == doc):
            return last[1]  # find_matches then find_entities on one story: one scan
        fields = {f: FieldText(getattr(doc, f) or "") for f in self._fields}
        stem = stemmer(doc.lang)
        stemmed = self._stemmed[doc.lang] if stem is not None else self._unstemmed
        hits = {f: self._scan_field(ft.stemmed(stem), ft.n_words, stemmed,
                                    self._scan_field(ft.compact, ft.n_words, self._automaton, {}))
                for f, ft in fields.items()}
        scan = _Scan(fields, hits)
        self._local.last = (doc, scan)
        return scan

    @staticmethod
    def _scan_field(compact: str, n_words: int, automaton: ahocorasick.Automaton | None,
                    out: dict[int, list[tuple[int, int]]]) -> dict[int, list[tuple[int, int]]]:
        """Add to ``out`` the hits of ``automaton``'s terms in ``compact`` (" w1 ... wn ")."""
        if automaton is None or not n_words:
            return out
        count = compact.count
        pos = spaces = 0
        for end, (keylen, n, arabic, tids) in automaton.iter(compact):
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
        """The enabled rules that fire on ``doc`` with ``score >= min_score``, in config order,
        as the learned model's second opinion leaves them (``rule_matches`` without it)."""
        out = self.rule_matches(doc)
        if self.second_opinion is not None:
            out = self.second_opinion.apply(doc, out, self)
        hits = self._watch_hits(self._scan(doc)) if out else ()
        if hits:
            out = [replace(m, watches=tuple(h.name for h in hits if h.pairs_with(m.rule)))
                   for m in out]
        return out

    def rule_matches(self, doc: Document) -> list[Match]:
        """The rules' own verdict on ``doc``: no model."""
        scan = self._scan(doc)
        index = self._index.get
        candidates: set[int] = set()
        for f, by_term in scan.hits.items():
            if f != "title" and f != "body":  # "text" holds the title's and the body's hits
                candidates.update(*filter(None, map(index, by_term)))
        out = []
        tags: tuple[str, ...] | None = None
        for i in sorted(candidates):
            rule, tree = self._rules[i]
            occs = tree.ev(scan.hits)
            if occs is None:
                continue
            found = leaves(occs)
            score = scan.score(found)
            if score < rule.min_score:
                continue
            if tags is None:
                tags = self._found(scan)[0]
            out.append(Match(rule.name, score, scan.terms(found), _merge(tags, rule.tags)))
        return out

    def find_watches(self, doc: Document) -> tuple[WatchHit, ...]:
        """The [[watch]] lists whose names ``doc`` has in its title or body, in config order.
        Alone they flag nothing: find_matches gives each match the ones paired with its rule."""
        return self._watch_hits(self._scan(doc))

    def _watch_hits(self, scan: _Scan) -> tuple[WatchHit, ...]:
        if not self._watches:
            return ()
        text = scan.hits[TEXT]
        out = []
        for watch, ids in self._watches:
            found = [(tid, TEXT, s, e) for tid in ids for s, e in text.get(tid, ())]
            if found:
                out.append(WatchHit(watch.name, scan.terms(tuple(found)), watch.rules))
        return tuple(out)

    def find_entities(self, doc: Document) -> tuple[str, ...]:
        """Canonical names of the entities named in the title or body, by first appearance."""
        return self._found(self._scan(doc))[1]

    def find_events(self, doc: Document) -> tuple[str, ...]:
        """Event tags (takedown, raid, ...) whose terms appear in ``doc``, by first appearance."""
        return self._found(self._scan(doc))[0]

    def folded_words(self, doc: Document) -> tuple[list[str], list[str]]:
        """The folded words of the title and of the body's first MAX_WORDS (the learned
        model's input), from the scan the rules made."""
        fields = self._scan(doc).fields
        return fields["title"].words[:], fields["body"].words[:MAX_WORDS]

    def signals(self, doc: Document, matches: Sequence[Match] | None = None) -> tuple[str, ...]:
        """What the rules saw in ``doc``, for the learned model: ``R:<rule>`` for each rule that
        fired (``matches``, default: the rules' own verdict), ``L:<list>`` for each [terms]
        list with a term in the title or the body's first MAX_WORDS words, ``T:<list>`` for
        each with a term in the title. Lists count only in the lead, like the model's words, so
        that a long article does not look more like enforcement than its first screen."""
        scan = self._scan(doc)
        if matches is None:
            matches = self.rule_matches(doc)
        out = {"R:" + m.rule for m in matches}
        out.update(*filter(None, map(self._title_signals.get, scan.hits["title"])))
        lead = self._lead_signals
        for tid, spans in scan.hits["body"].items():
            # a term's hits come in document order: its first is its earliest
            if spans[0][0] < MAX_WORDS and tid in lead:
                out.update(lead[tid])
        return tuple(sorted(out))

    def opinion(self, doc: Document, model: Model | None = None) -> Opinion | None:
        """The learned model's opinion of ``doc`` with the reasons (``monitor explain``, the
        evaluation's misses): ``model``, else the second opinion's, else None."""
        if model is None:
            if self.second_opinion is None:
                return None
            model = self.second_opinion.model
        return model.opinion(doc.title, doc.body, self.signals(doc))

    def explain(self, doc: Document) -> tuple[Explanation, ...]:
        """For every rule, enabled or not: the clause tree on ``doc`` and why it fired or not."""
        scan = self._scan(doc)
        events = self._found(scan)[0]
        watched = self._watch_hits(scan)
        out = []
        for rule, tree in self._rules:
            trace = tree.trace(scan.hits)
            score = scan.score(trace.terms) if trace.matched else 0.0
            fired = rule.enabled and trace.matched and score >= rule.min_score
            watches = tuple(h.name for h in watched if h.pairs_with(rule.name)) if fired else ()
            out.append(Explanation(rule.name, rule.query, rule.enabled, fired, score,
                                   rule.min_score, _merge(events, rule.tags) if fired else (),
                                   _clause(trace, scan), watches))
        return tuple(out)

    def _found(self, scan: _Scan) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Event tags, the most prominent first, and entity names by first appearance.

        Events are ranked by ``rank_events``.
        """
        if scan.named is None:
            first: tuple[dict[int, int], dict[int, int]] = ({}, {})
            places: dict[int, dict[int, float]] = {}  # event -> its words' starts -> weight
            shift = scan.shift
            for tid, spans in scan.hits[TEXT].items():
                for kind, i in self._named_index.get(tid, ()):
                    where = spans[0][0]  # a term's hits come in document order
                    if where < first[kind].get(i, where + 1):
                        first[kind][i] = where
                    if kind == 0:  # ``weight`` of each hit, placed in the title or the body
                        placed = places.setdefault(i, {})
                        for s, _ in spans:
                            placed[s] = (3.0 if s < shift else 1.0 if s - shift < 100 else
                                         0.5 if s - shift < 500 else 0.25)
            # an event's query ([events]) adds the words of its occurrences to the event
            for i, tree in self._event_queries:
                for _, field, s, _ in leaves(tree.ev(scan.hits) or ()):
                    if field == "body":
                        s += shift
                    elif field not in (TEXT, "title"):
                        continue  # source:, lang:, url: have no place in the text
                    placed = places.setdefault(i, {})
                    placed[s] = (3.0 if s < shift else 1.0 if s - shift < 100 else
                                 0.5 if s - shift < 500 else 0.25)
                    first[0][i] = min(s, first[0].get(i, s))
            ranked = rank_events(places, first[0], shift + LEAD_WORDS)
            events = tuple(self._named[0][i][0] for i in ranked)
            entities = tuple(self._named[1][i][0] for i in sorted(first[1], key=first[1].__getitem__))
            scan.named = (events, entities)
        return scan.named


def _automaton(keys: dict[str, tuple[int, int, bool, tuple[int, ...]]]
               ) -> ahocorasick.Automaton | None:
    if not keys:
        return None
    automaton = ahocorasick.Automaton()
    for key, value in keys.items():
        automaton.add_word(key, value)
    automaton.make_automaton()
    return automaton


def _merge(first: tuple[str, ...], then: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(first + tuple(then)))


def _clause(trace: Trace, scan: _Scan) -> Clause:
    return Clause(trace.query, trace.matched, scan.terms(trace.terms),
                  tuple(_clause(c, scan) for c in trace.clauses), trace.veto)


# --- compiling ------------------------------------------------------------------------------------
def compile_rules(rules: Sequence[RuleConfig], terms: Mapping[str, Sequence[str]],
                  entities: Mapping[str, Sequence[str]],
                  watches: Sequence[WatchConfig] = (),
                  event_queries: Mapping[str, str] | None = None) -> Matcher:
    """Compile every rule, term list, entity, watchlist and event query ([events]: tag ->
    query) once. ``RuleError`` names what is wrong (a watchlist's as ``rule="watch:NAME"``, an
    event query's as ``rule="events.TAG"``)."""
    comp = TermTable()
    lists: dict[str, frozenset[int]] = {}
    for name, entries in terms.items():
        where = f'term list "{name}"'
        if isinstance(entries, str) or not entries:
            raise RuleError(f"{where}: expected a non-empty list of terms", rule=name)
        lists[name] = frozenset(comp.entry(str(e), name, where) for e in entries)
    listed = [(name[len(EVENT_PREFIX):], ids) for name, ids in lists.items()
              if name.startswith(EVENT_PREFIX)]
    tags = [tag for tag, _ in listed]
    queries = dict(event_queries or {})
    # The order is the events' precedence (rank_events): a tag with a query and no list comes
    # first, its query being written to tell it apart from words the lists share.
    events = tuple([(tag, frozenset()) for tag in queries if tag not in tags] + listed)
    ents = []
    for name, aliases in entities.items():
        where = f'entity "{name}"'
        if isinstance(aliases, str):
            raise RuleError(f"{where}: expected a list of aliases", rule=name)
        ents.append((name, frozenset(comp.entry(str(a), name, where) for a in (name, *aliases))))
    watched = []
    for watch in watches:
        where = f'watch "{watch.name}"'
        ids = frozenset(comp.entry(t, f"watch:{watch.name}", where)
                        for t in (watch.terms or (watch.name,)))
        watched.append((watch, ids))

    compiled = []
    shared: dict[tuple[str, str | None], CNode] = {}  # clauses written alike in two rules
    used_fields = {"title", "body"}
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
        tree = compile_tree(ast, rule.name, term, named, shared=shared)
        if tree.ev({}) is not None:
            raise RuleError(f"{where}: matches every document (a lone NOT?): "
                            "add a term the story must contain", rule=rule.name, position=0)
        best = 3.0 * len(positive_ids(tree))
        if rule.min_score > best:
            raise RuleError(f"{where}: min_score {rule.min_score} can never be reached "
                            f"(at most {best})", rule=rule.name)
        used_fields |= _fields(tree)  # disabled rules too: explain() shows them
        compiled.append((rule, tree))
    queried = []
    for i, (tag, _) in enumerate(events):
        query = queries.get(tag)
        if query is None:
            continue
        name = f"events.{tag}"

        def event_term(node: Term, name: str = name) -> int:
            return comp.term(node.text, node.prefix, name, f'event query "{name}"', node.pos)

        def event_list(node: ListRef, name: str = name) -> frozenset[int]:
            if node.name not in lists:
                raise RuleError(f'event query "{name}", position {node.pos}: unknown list '
                                f"${node.name}", rule=name, position=node.pos)
            return lists[node.name]

        tree = compile_tree(parse_query(query, rule=name), name, event_term, event_list,
                            shared=shared)
        if tree.ev({}) is not None:
            raise RuleError(f'event query "{name}": matches every document (a lone NOT?)',
                            rule=name, position=0)
        used_fields |= _fields(tree)
        queried.append((i, tree))
    return Matcher(tuple(compiled), comp, tuple(ents), events,
                   tuple(f for f in FIELDS if f in used_fields), tuple(lists.items()),
                   tuple(watched), tuple(queried))


def _fields(tree: CNode) -> set[str]:
    return {f for n in term_nodes(tree) for f in n.fields if f != TEXT}


def matcher_for(config: Config) -> Matcher:
    """The configured rules compiled, with the [model] second opinion when it is enabled; a
    RuleError or a bad weights file becomes a ConfigError naming the file and key."""
    matcher = _compile_config(config)
    m = config.model
    weights = config.path.parent / m.weights if m.weights else None
    try:
        matcher.second_opinion = second_opinion(m.enabled, weights, m.rescue_threshold,
                                                m.veto_threshold)
    except MonitorError as e:
        raise ConfigError(str(e), path=str(config.path), key="model.weights") from e
    return matcher


def _compile_config(config: Config) -> Matcher:
    try:
        return compile_rules(config.rules, config.terms, config.entities, config.watch,
                             config.events)
    except RuleError as e:
        names = [r.name for r in config.rules]
        watched = [f"watch:{w.name}" for w in config.watch]
        if e.rule in watched:
            key = f"watch[{watched.index(e.rule)}].terms"
        elif e.rule in names:
            key = f"rules[{names.index(e.rule)}].query"
        elif e.rule in config.terms:
            key = f"terms.{e.rule}"
        elif e.rule in config.entities:
            key = f"entities.{e.rule}"
        elif e.rule.startswith("events."):
            key = e.rule
        else:
            key = "rules"
        raise ConfigError(str(e), path=str(config.path), key=key) from e
