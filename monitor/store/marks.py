"""Analyst feedback: `monitor mark ID relevant|irrelevant|acknowledged [--note]` (the review
site's buttons write the same records), and how the configured rules do on the marks
(`monitor rules eval --feedback`). "acknowledged" says seen, without a verdict: the
evaluation leaves it out.

The marked clippings are evaluated exactly as `rules eval` evaluates a labelled file
(monitor.evaluate: relevant = label 1), so the figures and the JSON are the same, with each
rule's own figures added under ``by_rule``. The rules are run as configured now, on the
stored text, so a rule being tuned is judged on what analysts said about past stories.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from monitor.errors import MonitorError
from monitor.match.evaluate import Counts, EvalReport, Item, _figures, evaluate, format_report, report_to_json
from monitor.match.matcher import Matcher
from monitor.store.database import Store

VERDICTS = ("relevant", "irrelevant")
LABELS = (*VERDICTS, "acknowledged")


@dataclass(frozen=True, slots=True)
class Mark:
    """An analyst's mark on a clipping, as stored."""

    clipping_id: str
    label: str  # one of LABELS
    note: str
    marked_at: str  # ISO time in UTC, to the second

    def as_json(self) -> dict[str, str]:
        return {"clipping_id": self.clipping_id, "label": self.label, "note": self.note,
                "marked_at": self.marked_at}


def mark(store: Store, clipping_id: str, label: str, note: str = "", *,
         now: dt.datetime) -> Mark:
    """Record (or replace) the analyst's mark on a clipping; the mark as stored. A verdict
    implies the clipping was seen: acknowledging one already judged keeps the verdict."""
    if label not in LABELS:
        raise MonitorError(f"expected {', '.join(LABELS[:-1])} or {LABELS[-1]}, got {label!r}")
    if store.clipping(clipping_id) is None:
        raise MonitorError(f"no clipping with id {clipping_id!r} (see `monitor list`)")
    stored = Mark(clipping_id=clipping_id, label=label, note=note,
                  marked_at=now.astimezone(dt.timezone.utc).isoformat(timespec="seconds"))
    with store.batch():
        if label not in VERDICTS:
            kept = current_mark(store, clipping_id)
            if kept is not None and kept.label in VERDICTS:
                return kept
        store.db.table("marks").upsert(stored.as_json(), pk="clipping_id")
    return stored


def current_mark(store: Store, clipping_id: str) -> Mark | None:
    rows = list(store.db.query("select clipping_id, label, note, marked_at from marks "
                               "where clipping_id = ?", [clipping_id]))
    return Mark(**{k: v or "" for k, v in rows[0].items()}) if rows else None


def marked_items(store: Store) -> list[dict[str, Any]]:
    """The marked clippings as `rules eval` items (relevant = label 1)."""
    rows = store.db.query(
        "select c.id, c.title, c.body, c.source, c.link, c.lang, k.label from marks k "
        "join clippings c on c.id = k.clipping_id where k.label in (?, ?) "
        "order by k.marked_at, c.id", list(VERDICTS))
    return [{"id": r["id"], "title": r["title"] or "", "text": r["body"] or "",
             "lang": r["lang"] or "und", "url": r["link"] or "",
             "label": 1 if r["label"] == "relevant" else 0} for r in rows]


def by_rule(report: EvalReport, rules: list[str]) -> dict[str, Counts]:
    """Each rule's counts: an item counts as flagged by the rule when that rule fired."""
    counts: dict[str, Counts] = {}
    for rule in rules:
        c = Counts()
        for item in report.items:
            if not item.borderline:
                c = c.add(Item(id=item.id, lang=item.lang, label=item.label,
                               flagged=rule in item.rules, borderline=False, rules=item.rules,
                               first_words=item.first_words))
        counts[rule] = c
    return counts


def evaluate_feedback(store: Store, matcher: Matcher, rules: list[str]) -> tuple[EvalReport,
                                                                               dict[str, Counts]]:
    items = marked_items(store)
    if not items:
        raise MonitorError("no marked clippings yet: mark some with `monitor mark ID relevant` "
                           "or `monitor mark ID irrelevant`")
    report = evaluate(matcher, items)
    return report, by_rule(report, rules)


def feedback_json(report: EvalReport, rules: dict[str, Counts]) -> dict[str, Any]:
    """`rules eval --json`'s object, plus ``by_rule``: each rule's figures on the marks."""
    return {**report_to_json(report), "by_rule": {r: _figures(c) for r, c in rules.items()}}


def format_feedback(report: EvalReport, rules: dict[str, Counts]) -> str:
    def fmt(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = [format_report(report), "", "By rule (on the analysts' marks):",
             f"  {'rule':<28}{'tp':>5}{'fp':>5}{'fn':>5}  {'precision':>9}  {'recall':>9}"]
    for name, c in rules.items():
        lines.append(f"  {name[:28]:<28}{c.tp:>5}{c.fp:>5}{c.fn:>5}  {fmt(c.precision):>9}"
                     f"  {fmt(c.recall):>9}")
    return "\n".join(lines)
