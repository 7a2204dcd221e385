"""Compiled rule trees: a query AST bound to term ids, evaluated on the hits of one scan.

``hits`` maps a field name ("title", "body", "text" = both, ...) to {term id: [(first word,
end word), ...]} (word positions, end exclusive). Evaluation returns ``None`` (the clause is false) or the occurrences that
make it true, each ``(field, start, end, leaves)`` where ``leaves`` are the
``(term id, field, start, end)`` hits behind it; a true NOT has none.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Set as AbstractSet
from dataclasses import dataclass, replace
from operator import itemgetter, sub
from typing import Generic, TypeVar

from monitor.errors import RuleError
from monitor.match.query import (And, Field, ListRef, Near, Node, Not, NotNear, Or, Term,
                                 format_query)

Leaf = tuple[int, str, int, int]
Occ = tuple[str, int, int, tuple[Leaf, ...]]
Hits = dict[str, dict[int, list[tuple[int, int]]]]
# Unscoped terms are looked for in "text": the title then the body, read as one passage (the
# body's first word is two words after the title's last), so "Operators arrested" in a title is
# near "the pirate site" at the start of the body. title: and body: scope one of them.
TEXT = "text"
_field, _start, _end = itemgetter(0), itemgetter(1), itemgetter(2)  # of an Occ
_document_order = itemgetter(1, 2, 3, 0)  # of a Leaf: field, start, end, term


T = TypeVar("T")


# Not slotted: with slots=True the decorator makes a new class, and calls through the generic
# alias (``Trace(...)``) then fail on Python 3.11.
@dataclass(frozen=True)
class ClauseTree(Generic[T]):
    """One clause of a rule on one document: its text, whether it held, what was found behind
    it (``Leaf`` hits while the tree is evaluated, the matcher's ``MatchedTerm`` once placed in
    the text) and its own clauses."""

    query: str
    matched: bool
    terms: tuple[T, ...]
    clauses: tuple[ClauseTree[T], ...]
    # None: an ordinary clause. For the vetoed part of a NOT or a NOT NEAR: True when the veto
    # held (its words were there, near enough) and blocked what it guards, False when not;
    # ``matched`` alone would read "✓" for a veto that took the match away.
    veto: bool | None = None


Trace = ClauseTree[Leaf]
"""Which clauses of a rule held, with the automaton's hits behind them."""


class CNode:
    # A clause shared by several rules (compile_tree's ``shared``) is evaluated once per scan:
    # ``_memo`` keeps the last scan's hits (by identity) and the result. Results are never
    # mutated by their readers.
    __slots__ = ("ast", "_memo")
    ast: Node
    _memo: tuple[Hits, list[Occ] | None] | None

    def ev(self, hits: Hits) -> list[Occ] | None:
        memo = self._memo
        if memo is not None and memo[0] is hits:
            return memo[1]
        out = self._ev(hits)
        self._memo = (hits, out)
        return out

    def _ev(self, hits: Hits) -> list[Occ] | None:
        raise NotImplementedError

    def parts(self) -> tuple[CNode, ...]:
        return ()

    def trace(self, hits: Hits) -> Trace:
        occs = self.ev(hits)
        return Trace(format_query(self.ast), occs is not None, leaves(occs or ()),
                     tuple(c.trace(hits) for c in self.parts()))


class CTerms(CNode):
    """Any of a set of terms (a word, a phrase, an OR of them, a $list) in some fields."""

    __slots__ = ("ids", "fields", "_rank")

    def __init__(self, ast: Node, ids: frozenset[int], fields: tuple[str, ...]) -> None:
        self.ast, self.ids, self.fields, self._memo = ast, ids, fields, None
        self._rank = {tid: i for i, tid in enumerate(ids)}  # each id's place in ``ids``

    def ev(self, hits: Hits) -> list[Occ] | None:
        out: list[Occ] = []
        for f in self.fields:
            found = hits.get(f)
            if found:
                # The ids hit, in the order of ``found.keys() & ids`` (a set filled in the
                # order of ``ids``): NEAR keeps the first of two equally close hits, so this
                # order shows in the terms a match names. When the list is the longer (it may
                # hold hundreds of terms), they are looked up from the story's few.
                ids = self.ids
                if len(ids) <= len(found):
                    common: AbstractSet[int] = found.keys() & ids
                else:
                    common = ids.intersection(found)
                    if len(common) > 1:
                        common = set(sorted(common, key=self._rank.__getitem__))
                for tid in common:
                    out += [(f, s, e, ((tid, f, s, e),)) for s, e in found[tid]]
        return out or None


class CAnd(CNode):
    __slots__ = ("children",)

    def __init__(self, ast: Node, children: tuple[CNode, ...]) -> None:
        self.ast, self.children, self._memo = ast, children, None

    def parts(self) -> tuple[CNode, ...]:
        return self.children

    def _ev(self, hits: Hits) -> list[Occ] | None:
        out: list[Occ] = []
        for c in self.children:
            occs = c.ev(hits)
            if occs is None:
                return None
            out.extend(occs)
        return out


class COr(CAnd):
    __slots__ = ()

    def _ev(self, hits: Hits) -> list[Occ] | None:
        out: list[Occ] = []
        true = False
        for c in self.children:
            occs = c.ev(hits)
            if occs is not None:
                true = True
                out.extend(occs)
        return out if true else None


class CNot(CNode):
    __slots__ = ("child",)

    def __init__(self, ast: Node, child: CNode) -> None:
        self.ast, self.child, self._memo = ast, child, None

    def parts(self) -> tuple[CNode, ...]:
        return (self.child,)

    def _ev(self, hits: Hits) -> list[Occ] | None:
        return [] if self.child.ev(hits) is None else None

    def trace(self, hits: Hits) -> Trace:
        child = self.child.trace(hits)
        return Trace(format_query(self.ast), not child.matched, (),
                     (replace(child, veto=child.matched),))


def _by_field(ys: list[Occ]) -> list[tuple[str, list[Occ], list[int], int]]:
    """The ys of each field ordered by start, with their starts (for bisect) and the longest
    span's length in words (how far back a start may lie and still reach a word)."""
    if len(set(map(_field, ys))) == 1:  # the usual case: every y in "text"
        group = sorted(ys, key=_start)
        starts = list(map(_start, group))
        return [(ys[0][0], group, starts, max(map(sub, map(_end, group), starts)))]
    by_field: dict[str, list[Occ]] = {}
    for y in ys:
        by_field.setdefault(y[0], []).append(y)
    out = []
    for f, group in by_field.items():
        group.sort(key=_start)
        out.append((f, group, list(map(_start, group)), max(o[2] - o[1] for o in group)))
    return out


def _closest(xs: list[Occ], ys: list[Occ], n: int) -> list[tuple[Occ, Occ]]:
    """For each x, the closest y (same field) within ``n`` words: of the ys as ordered by
    start, the first with the smallest gap, counted in words from one span to the other: 0 if
    they overlap, 1 if adjacent."""
    pairs = []
    for f, group, starts, longest in _by_field(ys):
        back = n - 1 + longest  # a y starting further back ends more than n words before x
        last = len(group)
        for x in xs:
            field, start, end, _ = x
            if field != f:
                continue
            lo = bisect_left(starts, start - back)
            mid = bisect_left(starts, end, lo)
            best, gap = None, n + 1
            # the ys starting before x ends: overlapping it (gap 0, the best) or ending before it
            for y in group[lo:mid]:
                y_end = y[2]
                if y_end > start:
                    best, gap = y, 0
                    break
                if start - y_end + 1 < gap:
                    best, gap = y, start - y_end + 1
            # the ys starting after: the first of them is the closest of them
            if gap and mid < last and starts[mid] - end + 1 < gap:
                best = group[mid]
            if best is not None:
                pairs.append((x, best))
    return pairs


def _near(xs: list[Occ], ys: list[Occ], n: int) -> set[int]:
    """The ids of the xs with some y (same field) within ``n`` words: those ``_closest`` pairs,
    found without looking further than the first such y."""
    out = set()
    for f, group, starts, longest in _by_field(ys):
        back = n - 1 + longest
        last = len(group)
        for x in xs:
            field, start, end, _ = x
            if field != f:
                continue
            mid = bisect_left(starts, end)
            if mid < last and starts[mid] - end + 1 <= n:  # the first y starting after x
                out.add(id(x))
                continue
            reach = start - n + 1  # a y starting before x ends must end here or after
            for y in group[bisect_left(starts, start - back, 0, mid):mid]:
                if y[2] >= reach:
                    out.add(id(x))
                    break
    return out


class CNear(CNode):
    __slots__ = ("left", "right", "n")

    def __init__(self, ast: Node, left: CNode, right: CNode, n: int) -> None:
        self.ast, self.left, self.right, self.n, self._memo = ast, left, right, n, None

    def parts(self) -> tuple[CNode, ...]:
        return (self.left, self.right)

    def _ev(self, hits: Hits) -> list[Occ] | None:
        left = self.left.ev(hits)
        if not left:
            return None
        right = self.right.ev(hits)
        if not right:
            return None
        seen = set()
        out: list[Occ] = []
        for a, b in _closest(left, right, self.n) + _closest(right, left, self.n):
            key = (a[1], a[2], b[1], b[2], a[0])
            if key not in seen and (b[1], b[2], a[1], a[2], a[0]) not in seen:
                seen.add(key)
                out.append((a[0], a[1] if a[1] < b[1] else b[1], a[2] if a[2] > b[2] else b[2],
                            a[3] + b[3]))
        return out or None


class CNotNear(CNear):
    """Occurrences of ``left`` with no occurrence of ``right`` within ``n`` words."""

    __slots__ = ()

    def _ev(self, hits: Hits) -> list[Occ] | None:
        left = self.left.ev(hits)
        if not left:
            return None
        right = self.right.ev(hits)
        if not right:
            return left
        near = _near(left, right, self.n)
        kept = [x for x in left if id(x) not in near]
        return kept or None

    def trace(self, hits: Hits) -> Trace:
        left = self.left.ev(hits)
        right = self.right.ev(hits) or []
        kept = left
        if left and right:
            near = _near(left, right, self.n)
            kept = [x for x in left if id(x) not in near]
        vetoed = bool(left) and kept != left  # some occurrence dropped for a veto word nearby
        right_trace = self.right.trace(hits)
        return Trace(format_query(self.ast), bool(kept), leaves(kept or ()),
                     (self.left.trace(hits), replace(right_trace, veto=vetoed)))


def leaves(occs: list[Occ] | tuple[Occ, ...]) -> tuple[Leaf, ...]:
    """The distinct term hits behind some occurrences, in document order."""
    found = {leaf for occ in occs for leaf in occ[3]}
    return tuple(sorted(found, key=_document_order))


# --- compiling an AST -------------------------------------------------------------------------
def compile_tree(node: Node, rule: str, term: Callable[[Term], int],
                 named: Callable[[ListRef], frozenset[int]], scope: str | None = None,
                 shared: dict[tuple[str, str | None], CNode] | None = None) -> CNode:
    """Bind ``node`` to term ids (``term``, ``named`` raise RuleError for bad terms and lists).

    With ``shared`` (one dict for all the rules of a Matcher), a clause written alike in two
    rules ("$piracy-word NOT NEAR/3 $pirate-traps") compiles to one node, evaluated once per
    story (``CNode.ev``)."""
    if shared is None:
        return _compile(node, rule, term, named, scope, None)
    key = (format_query(node), scope)
    found = shared.get(key)
    if found is None:
        found = shared[key] = _compile(node, rule, term, named, scope, shared)
    return found


def _compile(node: Node, rule: str, term: Callable[[Term], int],
             named: Callable[[ListRef], frozenset[int]], scope: str | None,
             shared: dict[tuple[str, str | None], CNode] | None) -> CNode:
    fields = (scope,) if scope else (TEXT,)

    def fail(msg: str, at: Node) -> RuleError:
        return RuleError(f'rule "{rule}", position {at.pos}: {msg}', rule=rule, position=at.pos)

    def again(child: Node, new_scope: str | None = scope) -> CNode:
        return compile_tree(child, rule, term, named, new_scope, shared)

    if isinstance(node, Term):
        return CTerms(node, frozenset((term(node),)), fields)
    if isinstance(node, ListRef):
        return CTerms(node, named(node), fields)
    if isinstance(node, Field):
        if scope and scope != node.name:
            raise fail(f"'{node.name}:' inside '{scope}:' can never match", node)
        return again(node.child, node.name)
    if isinstance(node, Not):
        return CNot(node, again(node.child))
    if isinstance(node, And):
        for c in node.children:
            if isinstance(c, Not) and c.child in node.children:
                raise fail(f"'{format_query(c.child)} AND NOT {format_query(c.child)}' "
                           "can never match", node)
        return CAnd(node, tuple(again(c) for c in node.children))
    if isinstance(node, Or):
        compiled = [again(c) for c in node.children]
        plain = [c for c in compiled if isinstance(c, CTerms) and c.fields == fields]
        rest = [c for c in compiled if not (isinstance(c, CTerms) and c.fields == fields)]
        if len(plain) > 1:  # one set lookup instead of one per term, however many terms
            merged = CTerms(Or(tuple(c.ast for c in plain), pos=node.pos),
                            frozenset().union(*(c.ids for c in plain)), fields)
            if not rest:
                return CTerms(node, merged.ids, fields)
            rest.insert(0, merged)
        else:
            rest = compiled
        return COr(node, tuple(rest))
    if isinstance(node, (Near, NotNear)):
        parts = []
        for side in (node.left, node.right):
            bad = _not_spanning(side)
            if bad is not None:
                raise fail("NEAR/n joins words, phrases, lists, OR and NEAR groups; "
                           f"not {type(bad).__name__.upper()} (in {format_query(bad)})", node)
            parts.append(again(side))
        return (CNear if isinstance(node, Near) else CNotNear)(node, parts[0], parts[1],
                                                               node.distance)
    raise TypeError(f"not a query node: {node!r}")


def _not_spanning(node: Node) -> Node | None:
    """The first AND or NOT inside a NEAR operand (they have no position), else None."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (And, Not)):
            return n
        if isinstance(n, Field):
            stack.append(n.child)
        elif isinstance(n, Or):
            stack.extend(n.children)
        elif isinstance(n, (Near, NotNear)):
            stack.extend((n.left, n.right))
    return None


def term_nodes(node: CNode) -> Iterator[CTerms]:
    """Every term set of a compiled tree (iterative: rules may nest deep)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, CTerms):
            yield n
        stack.extend(n.parts())


def all_ids(node: CNode) -> set[int]:
    """Every term id a compiled tree looks at."""
    return {i for n in term_nodes(node) for i in n.ids}


def positive_ids(node: CNode, negated: bool = False) -> set[int]:
    """Term ids that can count towards a score (not under a NOT)."""
    if isinstance(node, CTerms):
        return set() if negated else set(node.ids)
    if isinstance(node, CNot):
        return positive_ids(node.child, not negated)
    if isinstance(node, CNotNear):
        return positive_ids(node.left, negated)
    out: set[int] = set()
    for c in node.parts():
        out |= positive_ids(c, negated)
    return out
