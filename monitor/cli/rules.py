"""Commands about rules: `monitor explain ID`, `monitor rules test`, `monitor rules eval` (issue 3).

Thin adapters: they read the store or a file, call the matcher or the evaluation, and print.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from monitor.config import Config, load_config
from monitor.errors import MonitorError
from monitor.match.evaluate import evaluate, format_report, report_to_json
from monitor.match.matcher import Clause, Explanation, compile_rules, document, matcher_for
from monitor.models import Document, MatchedTerm, RuleConfig
from monitor.store.database import Store, StoredClipping

OPEN, CLOSE = "«", "»"


def _config(args: argparse.Namespace) -> Config:
    return load_config(Path(args.config) if args.config else None)


def document_of(stored: StoredClipping) -> Document:
    c = stored.clipping
    return document(c.title, c.body, source=c.source, url=c.url)


def mark_terms(text: str, terms: list[MatchedTerm]) -> str:
    """``text`` with each matched span wrapped in « »; overlapping spans are merged."""
    spans = sorted((t.start, t.end) for t in terms if 0 <= t.start < t.end <= len(text))
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, last = [], 0
    for start, end in merged:
        out += [text[last:start], OPEN, text[start:end], CLOSE]
        last = end
    return "".join(out + [text[last:]])


def _clause_terms(clause: Clause) -> Iterator[MatchedTerm]:
    if clause.matched:
        yield from clause.terms
        for child in clause.clauses:
            yield from _clause_terms(child)


def format_clauses(clause: Clause, depth: int = 1) -> list[str]:
    found = sorted({t.text for t in clause.terms})
    terms = f"   [{', '.join(found[:8])}{', …' if len(found) > 8 else ''}]" if found else ""
    query = clause.query if len(clause.query) <= 100 else clause.query[:99] + "…"
    if clause.veto is None:
        mark = "✓" if clause.matched else "✗"
    else:  # what a NOT / NOT NEAR vetoes: say whether the veto held, not whether it "matched"
        mark = "⊘ veto held, blocked:" if clause.veto else "○ veto did not hold:"
    lines = [f"{'  ' * depth}{mark} {query}{terms}"]
    for child in clause.clauses:
        lines += format_clauses(child, depth + 1)
    return lines


def format_explanation(stored: StoredClipping, explanations: tuple[Explanation, ...]) -> str:
    fired = [e for e in explanations if e.fired]
    terms = [t for e in fired for t in _clause_terms(e.clause)]
    c = stored.clipping
    lines = [f"# {mark_terms(c.title, [t for t in terms if t.field == 'title'])}",
             f"{c.source} · {c.date.isoformat() if c.date else 'no date'} · {c.url}", ""]
    lines += [mark_terms(c.body, [t for t in terms if t.field == "body"]), ""]
    for e in explanations:
        state = "fired" if e.fired else ("disabled" if not e.enabled else "did not fire")
        lines.append(f"rule {e.rule}: {state} (score {e.score:g}, min_score {e.min_score:g})"
                     + (f" tags: {', '.join(e.tags)}" if e.fired and e.tags else ""))
        lines += format_clauses(e.clause)
    return "\n".join(lines) + "\n"


def cmd_explain(args: argparse.Namespace) -> int:
    config = _config(args)
    matcher = matcher_for(config)
    store = Store(config.database)
    try:
        stored = store.clipping(args.id)
    finally:
        store.close()
    if stored is None:
        raise MonitorError(f"no clipping with id {args.id!r} (see `monitor list`)")
    explanations = matcher.explain(document_of(stored))
    if args.json:
        print(json.dumps({"id": stored.id, "title": stored.clipping.title,
                          "rules": [dataclasses.asdict(e) for e in explanations]}, ensure_ascii=False))
    else:
        sys.stdout.write(format_explanation(stored, explanations))
    return 0


def cmd_rules_test(args: argparse.Namespace) -> int:
    config = _config(args)
    if (args.query is None) == (args.rule is None):
        raise MonitorError("give either a QUERY or --rule NAME")
    if args.rule is not None:
        rules = [r for r in config.rules if r.name == args.rule]
        if not rules:
            known = ", ".join(r.name for r in config.rules) or "none"
            raise MonitorError(f"no rule named {args.rule!r} (configured: {known})")
        rule = dataclasses.replace(rules[0], enabled=True)
    else:
        rule = RuleConfig(name="query", query=args.query)
    matcher = compile_rules([rule], config.terms, config.entities)
    store = Store(config.database)
    shown = 0
    try:
        for stored in store.clippings():
            matches = matcher.find_matches(document_of(stored))
            if not matches:
                continue
            m = matches[0]
            c = stored.clipping
            if args.json:
                print(json.dumps({"id": stored.id, "score": m.score, "title": c.title,
                                  "source": c.source, "date": c.date.isoformat() if c.date else None,
                                  "terms": sorted({t.text for t in m.terms}), "tags": list(m.tags)},
                                 ensure_ascii=False))
            else:
                if shown == 0:
                    print(f"{'id':16}  {'score':>5}  {'date':10}  {'source':20}  title")
                date = c.date.isoformat() if c.date else ""
                print(f"{stored.id:16}  {m.score:5g}  {date:10}  {c.source[:20]:20}  {c.title}")
            shown += 1
            if args.limit and shown >= args.limit:
                break
    finally:
        store.close()
    print(f"{shown} stored clippings match", file=sys.stderr)
    return 0


def read_items(path: Path) -> list[dict[str, Any]]:
    """JSON lines with at least `text` and `label`; a bad line is an error naming its number."""
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise MonitorError(f"{path}: cannot read: {e}") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as e:
            raise MonitorError(f"{path}:{n}: not JSON: {e}") from e
        if not isinstance(item, dict) or "text" not in item or item.get("label") not in (0, 1):
            raise MonitorError(f"{path}:{n}: expected an object with `text` and `label` (0 or 1)")
        items.append(item)
    if not items:
        raise MonitorError(f"{path}: no items")
    return items


def cmd_rules_eval(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.feedback:
        return _eval_feedback(args, config)
    if args.file is None:
        raise MonitorError("give a FILE of labelled JSON lines, or --feedback")
    report = evaluate(matcher_for(config), read_items(Path(args.file)))
    if args.json:
        print(json.dumps(report_to_json(report), ensure_ascii=False))
    else:
        sys.stdout.write(format_report(report).rstrip("\n") + "\n")
    return 0


def _eval_feedback(args: argparse.Namespace, config: Config) -> int:
    """Issue 6: the same figures on the analysts' marks (monitor.feedback), plus each rule's."""
    from monitor.store.marks import evaluate_feedback, feedback_json, format_feedback

    if args.file is not None:
        raise MonitorError("give a FILE or --feedback, not both")
    store = Store(config.database)
    try:
        report, rules = evaluate_feedback(store, matcher_for(config),
                                          [r.name for r in config.rules if r.enabled])
    finally:
        store.close()
    if args.json:
        print(json.dumps(feedback_json(report, rules), ensure_ascii=False))
    else:
        sys.stdout.write(format_feedback(report, rules).rstrip("\n") + "\n")
    return 0


def register(command: Any) -> None:
    p = command("explain", cmd_explain, "show a stored clipping with the matched terms marked « » "
                "and, for every rule, which of its clauses held", "monitor explain 34fcc89c45c3ecef")
    p.add_argument("id", help="the clipping's id (see `monitor list`)")
    p.add_argument("--json", action="store_true", help="one JSON object: every rule's clause tree")

    rules = command("rules", lambda args: (rules.print_help(), 2)[1],
                    "try rules on stored clippings or on a labelled file", "monitor rules eval dev.jsonl")
    sub = rules.add_subparsers(dest="rules_command", metavar="SUBCOMMAND")
    p = command("test", cmd_rules_test, "list the stored clippings that a query (or a configured "
                "rule) would match, best first by date", 'monitor rules test \'"pirate IPTV" AND '
                "(seized OR raid*)'", parent=sub)
    p.add_argument("query", nargs="?", help="a query in the rule language; $lists of [terms] work")
    p.add_argument("--rule", metavar="NAME", help="test a configured rule instead")
    p.add_argument("--limit", type=int, metavar="N", help="at most N clippings")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p = command("eval", cmd_rules_eval, "precision, recall and F1 of the configured rules on "
                "labelled JSON lines (`text`, `label` 1/0; optional `title`, `lang`, `id`, "
                "`borderline`)", "monitor rules eval ../shared/eval-dev/articles.jsonl --json",
                parent=sub)
    p.add_argument("file", metavar="FILE", nargs="?")
    p.add_argument("--feedback", action="store_true",
                   help="instead of a FILE, the clippings analysts marked with `monitor mark` "
                        "(relevant = 1), with each rule's precision and recall")
    p.add_argument("--json", action="store_true", help="one JSON object with the figures")
