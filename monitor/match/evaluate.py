"""Backtests of the rules (``monitor rules eval``): labelled items -> EvalReport.

Pure: items are dicts with ``text`` and ``label`` (1 = enforcement story) and optionally
``title``, ``lang``, ``url``, ``id``, ``borderline``, ``event``, ``event_type``. An item is
flagged when any enabled rule fires. Borderline items are reported apart and left out of the
headline figures. ``split_of`` puts an item in the tuning or the validation part by its event.
A ratio with nothing to count (precision with no flagged item, recall with no positive
item) is ``None``, printed "n/a".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from monitor.errors import MonitorError
from monitor.match.matcher import Matcher
from monitor.match.model import Model
from monitor.models import Document

MAX_TITLE = 300  # a "first line" longer than this is a paragraph, not a headline
SPLITS = ("tuning", "validation")
# The corpus names one event type differently from the matcher's event-<tag> lists.
EVENT_ALIASES = {"site-blocking": "blocking-order"}


def split_of(item: dict[str, Any]) -> str:
    """``validation`` for about 30% of the events, ``tuning`` for the rest, by the SHA-256 of
    the item's ``event``: all articles on one event fall on one side, whatever the order or the
    language, so a model never sees at tuning time the event it is validated on."""
    event = item.get("event")
    if not isinstance(event, str) or not event:
        raise MonitorError(f"item {item.get('id', '?')!r} has no `event`: cannot split it")
    return "validation" if int(hashlib.sha256(event.encode()).hexdigest(), 16) % 10 < 3 \
        else "tuning"


def select_split(items: Iterable[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    """The items of one part (``tuning`` or ``validation``); an item without event is an error."""
    if split not in SPLITS:
        raise MonitorError(f"unknown split {split!r}: expected tuning or validation")
    return [i for i in items if split_of(i) == split]


@dataclass(frozen=True, slots=True)
class Item:
    """One evaluated item: how it was labelled and what the rules did."""

    id: str
    lang: str
    label: int
    flagged: bool
    borderline: bool
    rules: tuple[str, ...]
    first_words: str
    event_type: str | None = None  # the labelled event type (label 1 items of the corpus)
    event_tag: str | None = None  # the matcher's first event tag, when flagged
    event_tags: tuple[str, ...] = ()  # every event tag found, the first first, when flagged
    model: str | None = None  # the model's probability and top n-grams, for misses


@dataclass(frozen=True, slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, item: Item) -> Counts:
        key = ("tp" if item.flagged else "fn") if item.label else ("fp" if item.flagged else "tn")
        return replace(self, **{key: getattr(self, key) + 1})


@dataclass(frozen=True, slots=True)
class EvalReport:
    overall: Counts
    by_lang: dict[str, Counts]
    items: tuple[Item, ...]  # every item, in input order
    borderline: Counts  # the borderline items, counted apart

    @property
    def event_typed(self) -> tuple[Item, ...]:
        """Flagged, non-borderline label-1 items that carry an ``event_type``."""
        return tuple(i for i in self.items if i.flagged and i.label and i.event_type
                     and not i.borderline)

    @property
    def event_accuracy(self) -> float | None:
        """The fraction of ``event_typed`` whose matcher event tag is their event type."""
        typed = self.event_typed
        if not typed:
            return None
        return sum(_typed_right(i) for i in typed) / len(typed)

    @property
    def event_among(self) -> float | None:
        """The fraction of ``event_typed`` whose event type is among the tags found, first or
        not: what a better choice among the tags could reach without new words."""
        typed = self.event_typed
        if not typed:
            return None
        return sum(i.event_type in {_alias(t) for t in i.event_tags} for i in typed) / len(typed)

    @property
    def event_by_type(self) -> dict[str, tuple[int, int]]:
        """Each labelled event type: how many ``event_typed`` items have it, how many of them
        are tagged right."""
        out: dict[str, tuple[int, int]] = {}
        for i in self.event_typed:
            n, right = out.get(i.event_type or "", (0, 0))
            out[i.event_type or ""] = (n + 1, right + _typed_right(i))
        return dict(sorted(out.items()))

    @property
    def mistyped(self) -> tuple[Item, ...]:
        """The ``event_typed`` items whose first event tag is not their event type."""
        return tuple(i for i in self.event_typed if not _typed_right(i))

    @property
    def false_positives(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if not i.borderline and i.flagged and not i.label)

    @property
    def false_negatives(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if not i.borderline and not i.flagged and i.label)

    @property
    def borderline_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.borderline)


def _alias(tag: str) -> str:
    return EVENT_ALIASES.get(tag, tag)


def _typed_right(item: Item) -> bool:
    return item.event_tag is not None and _alias(item.event_tag) == item.event_type


def to_document(item: dict[str, Any]) -> Document:
    """The Document an item stands for: without a title, its first line is the title."""
    text = str(item.get("text") or "")
    title = item.get("title")
    if title is None:
        stripped = text.lstrip()
        head, _, rest = stripped.partition("\n")
        if len(head) <= MAX_TITLE:
            title, text = head.strip(), rest
        else:
            title = ""
    return Document(title=str(title), body=text, lang=str(item.get("lang") or ""),
                    url=str(item.get("url") or ""))


def _first_words(item: dict[str, Any], n: int = 12) -> str:
    text = " ".join(str(item.get("title") or "").split() + str(item.get("text") or "").split())
    ws = text.split()
    return " ".join(ws[:n]) + (" ..." if len(ws) > n else "")


def evaluate(matcher: Matcher, items: Iterable[dict[str, Any]],
             describe: Callable[[Document], str] | None = None) -> EvalReport:
    """Run every enabled rule on every item and count hits and misses; ``describe`` (default:
    the matcher's second opinion, if any) says what the model made of each miss."""
    results = []
    overall, border = Counts(), Counts()
    by_lang: dict[str, Counts] = {}
    for number, raw in enumerate(items, 1):
        doc = to_document(raw)
        matches = matcher.find_matches(doc)
        label = 1 if raw.get("label") in (1, True, "1") else 0
        events = matcher.find_events(doc) if matches else ()
        if describe is None and matcher.second_opinion is not None:
            describe = opinion_text(matcher)
        why = describe(doc) if describe is not None and bool(matches) != bool(label) else None
        item = Item(id=str(raw.get("id") or number), lang=str(raw.get("lang") or "und"),
                    label=label, flagged=bool(matches), borderline=bool(raw.get("borderline")),
                    rules=tuple(m.rule for m in matches), first_words=_first_words(raw),
                    event_type=str(raw["event_type"]) if raw.get("event_type") else None,
                    event_tag=events[0] if events else None, event_tags=events, model=why)
        results.append(item)
        if item.borderline:
            border = border.add(item)
        else:
            overall = overall.add(item)
            by_lang[item.lang] = by_lang.get(item.lang, Counts()).add(item)
    return EvalReport(overall, dict(sorted(by_lang.items())), tuple(results), border)


def opinion_text(matcher: Matcher, model: Model | None = None) -> Callable[[Document], str]:
    """A ``describe`` for ``evaluate``: what ``model`` (default: the second opinion's) makes of
    a story, with the features that weighed most; "" without a model."""
    def describe(doc: Document) -> str:
        opinion = matcher.opinion(doc, model)
        return opinion.describe() if opinion is not None else ""
    return describe


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _figures(c: Counts) -> dict[str, Any]:
    return {"n": c.n, "precision": _round(c.precision), "recall": _round(c.recall),
            "f1": _round(c.f1)}


def report_to_json(report: EvalReport) -> dict[str, Any]:
    """The ``--json`` object: headline figures, per language, the misses; borderline apart."""
    return {
        **_figures(report.overall),
        "by_lang": {lang: _figures(c) for lang, c in report.by_lang.items()},
        "false_positives": [i.id for i in report.false_positives],
        "false_negatives": [i.id for i in report.false_negatives],
        "event_type": {"n": len(report.event_typed), "accuracy": _round(report.event_accuracy),
                       "among": _round(report.event_among),
                       "by_type": {t: {"n": n, "right": right}
                                   for t, (n, right) in report.event_by_type.items()},
                       "mistyped": [i.id for i in report.mistyped]},
        "borderline": {**_figures(report.borderline),
                       "false_positives": [i.id for i in report.borderline_items
                                           if i.flagged and not i.label],
                       "false_negatives": [i.id for i in report.borderline_items
                                           if not i.flagged and i.label]},
    }


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def format_report(report: EvalReport) -> str:
    """The report for people: a table of figures, then the misses with their first words."""
    def row(name: str, c: Counts) -> str:
        return (f"{name:<12}{c.n:>5}{c.tp:>5}{c.fp:>5}{c.fn:>5}  {_fmt(c.precision):>9}"
                f"  {_fmt(c.recall):>9}  {_fmt(c.f1):>9}")

    lines = [f"{'':<12}{'n':>5}{'tp':>5}{'fp':>5}{'fn':>5}  {'precision':>9}  {'recall':>9}"
             f"  {'f1':>9}", row("overall", report.overall)]
    lines += [row("  " + lang, c) for lang, c in report.by_lang.items()]
    lines.append(row("borderline", report.borderline) + "  (not in the figures above)")
    if report.event_typed:
        lines.append(f"event type right on {_fmt(report.event_accuracy)} of the "
                     f"{len(report.event_typed)} flagged stories labelled with one "
                     f"(among the tags found on {_fmt(report.event_among)})")
        lines.append("  by type (right/labelled): " + ", ".join(
            f"{t} {right}/{n}" for t, (n, right) in report.event_by_type.items()))

    def listing(title: str, items: tuple[Item, ...]) -> None:
        lines.append("")
        lines.append(f"{title} ({len(items)})" + (":" if items else ""))
        for i in items:
            lines.append(f"  {i.id:<10} {i.lang:<4} {','.join(i.rules) or '-':<20} "
                         f"{i.first_words}")
            if i.model:
                lines.append(f"  {'':<10} {i.model}")

    listing("False positives", report.false_positives)
    listing("False negatives", report.false_negatives)
    listing("Borderline misses", tuple(i for i in report.borderline_items
                                       if i.flagged != bool(i.label)))
    lines.append("")
    lines.append(f"Mistyped events ({len(report.mistyped)})" + (":" if report.mistyped else ""))
    for i in report.mistyped:
        found = ",".join(i.event_tags) or "-"
        lines.append(f"  {i.id:<10} {i.lang:<4} {i.event_type} -> {found:<30} {i.first_words}")
    return "\n".join(lines)
