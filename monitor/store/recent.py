"""Store stage: the recent rows of the grouping index (signature_keys, signature_terms) held in
memory, so that a new clipping's candidates cost no range read per key. Pure data structures:
monitor.store.archive fills them from the tables, keeps them in step with what is written, and
reads the tables for what they do not hold (docs/design.md, *One story per event*).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

V = TypeVar("V", bound=Hashable)
Posting = tuple[int, str]  # (at, clipping_id): the order of the tables' primary keys


class Postings(Generic[V]):
    """Each value's postings, sorted as the table's primary key (value, at, clipping_id) sorts
    them. Most sketch keys have one clipping: a lone posting is kept bare, not in a list."""

    __slots__ = ("_by",)

    def __init__(self) -> None:
        self._by: dict[V, Posting | list[Posting]] = {}

    def __len__(self) -> int:
        return sum(1 if isinstance(p, tuple) else len(p) for p in self._by.values())

    def add(self, value: V, posting: Posting) -> bool:
        """Whether it was not there yet (``insert or ignore``)."""
        found = self._by.get(value)
        if found is None:
            self._by[value] = posting
            return True
        if isinstance(found, tuple):
            if found == posting:
                return False
            found = self._by[value] = [found]
        i = bisect_left(found, posting)
        if i < len(found) and found[i] == posting:
            return False
        found.insert(i, posting)
        return True

    def remove(self, value: V, posting: Posting) -> None:
        found = self._by.get(value)
        if found == posting:
            del self._by[value]
        elif isinstance(found, list):
            i = bisect_left(found, posting)
            if i < len(found) and found[i] == posting:
                del found[i]
                if len(found) == 1:
                    self._by[value] = found[0]
                elif not found:
                    del self._by[value]

    def newest(self, values: Iterable[V], lo: int, hi: int, limit: int) -> list[tuple[V, str]]:
        """(value, clipping_id) of the ``limit`` newest postings of each value with ``at``
        between lo and hi, values in ascending order, each newest first: the rows, in their
        order, of archive's union of ``order by at desc limit ?`` range reads."""
        found: list[tuple[V, str]] = []
        for value in sorted(set(values)):  # type: ignore[type-var]
            postings = self._by.get(value)
            if postings is None:
                continue
            if isinstance(postings, tuple):
                if lo <= postings[0] <= hi:
                    found.append((value, postings[1]))
                continue
            end = bisect_right(postings, (hi + 1,))
            start = max(bisect_left(postings, (lo,)), end - limit)
            found += [(value, postings[i][1]) for i in range(end - 1, start - 1, -1)]
        return found

    def prune(self, before: int) -> None:
        """Drop the postings with ``at`` before ``before``."""
        for value in list(self._by):
            postings = self._by[value]
            if isinstance(postings, tuple):
                if postings[0] < before:
                    del self._by[value]
                continue
            kept = postings[bisect_left(postings, (before,)):]
            if not kept:
                del self._by[value]
            else:
                self._by[value] = kept[0] if len(kept) == 1 else kept


class RecentIndex:
    """The rows of signature_keys and signature_terms with ``at`` at or after ``horizon``, by
    clipping. ``version`` and ``watermark`` say what of the database it has seen: the
    connection's ``data_version`` when last checked, and the ``signatures`` rowid up to which
    every clipping is in it."""

    def __init__(self, horizon: int) -> None:
        self.keys: Postings[int] = Postings()
        self.terms: Postings[str] = Postings()
        self.horizon = horizon
        self.version = 0
        self.watermark = 0

    def covers(self, lo: int) -> bool:
        return lo >= self.horizon

    def add(self, clipping_id: str, at: int, keys: Iterable[int], terms: Iterable[str],
            ) -> Callable[[], None] | None:
        """Index one clipping (nothing if older than the horizon); what undoes it."""
        if at < self.horizon:
            return None
        posting = (at, clipping_id)
        added_keys = [k for k in keys if self.keys.add(k, posting)]
        added_terms = [t for t in terms if self.terms.add(t, posting)]

        def undo() -> None:
            for k in added_keys:
                self.keys.remove(k, posting)
            for t in added_terms:
                self.terms.remove(t, posting)
        return undo

    def prune(self, horizon: int) -> None:
        if horizon > self.horizon:
            self.horizon = horizon
            self.keys.prune(horizon)
            self.terms.prune(horizon)
