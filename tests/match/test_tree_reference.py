"""The rule trees' hot parts are written for speed: the straightforward versions are kept here as
the reference, and both must give the same pairs, in the same order, since NEAR keeps the first
of two equally close occurrences and that choice shows in the terms a match names."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.match.tree import CTerms, Hits, Occ, _by_field, _closest, _near
from monitor.match.query import Term


def reference_closest(xs: list[Occ], ys: list[Occ], n: int) -> list[tuple[Occ, Occ]]:
    pairs = []
    for f, group, starts, longest in _by_field(ys):
        for x in xs:
            field, start, end, _ = x
            if field != f:
                continue
            best, gap = None, n + 1
            for y in group[bisect_left(starts, start - n + 1 - longest):
                           bisect_right(starts, end + n - 1)]:
                y_start, y_end = y[1], y[2]
                g = (y_start - end + 1 if y_start >= end else
                     start - y_end + 1 if start >= y_end else 0)
                if g < gap:
                    best, gap = y, g
                    if not g:
                        break
            if best is not None:
                pairs.append((x, best))
    return pairs


def reference_near(xs: list[Occ], ys: list[Occ], n: int) -> set[int]:
    return {id(x) for x, _ in reference_closest(xs, ys, n)}


def reference_terms(ids: frozenset[int], fields: tuple[str, ...], hits: Hits) -> list[Occ] | None:
    out: list[Occ] = []
    for f in fields:
        found = hits.get(f)
        if found:
            for tid in found.keys() & ids:
                out += [(f, s, e, ((tid, f, s, e),)) for s, e in found[tid]]
    return out or None


def occs(draw: st.DrawFn, tag: int) -> list[Occ]:
    out = []
    for _ in range(draw(st.integers(0, 25))):
        start = draw(st.integers(0, 60))
        end = start + draw(st.integers(1, 6))
        field = draw(st.sampled_from(("text", "text", "title")))
        out.append((field, start, end, ((tag, field, start, end),)))
    return out


@st.composite
def two_sides(draw: st.DrawFn) -> tuple[list[Occ], list[Occ], int]:
    return occs(draw, 1), occs(draw, 2), draw(st.integers(0, 30))


@settings(max_examples=200, deadline=None)
@given(two_sides())
def test_closest_and_near_are_the_reference(sides: tuple[list[Occ], list[Occ], int]) -> None:
    xs, ys, n = sides
    assert _closest(xs, ys, n) == reference_closest(xs, ys, n)
    assert _near(xs, ys, n) == reference_near(xs, ys, n)


@settings(max_examples=150, deadline=None)
@given(st.frozensets(st.integers(0, 3000), min_size=1, max_size=400),
       st.dictionaries(st.integers(0, 3000), st.just([(0, 1), (4, 6)]), max_size=60),
       st.data())
def test_term_sets_give_the_reference_order(ids: frozenset[int],
                                            found: dict[int, list[tuple[int, int]]],
                                            data: st.DataObject) -> None:
    found.update({tid: [(2, 3)] for tid in data.draw(st.lists(st.sampled_from(sorted(ids))))})
    hits: Hits = {"text": found}
    node = CTerms(Term("x"), ids, ("text",))
    assert node.ev(hits) == reference_terms(ids, ("text",), hits)
