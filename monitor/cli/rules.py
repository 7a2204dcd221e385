"""Commands about rules: `monitor explain ID`, `monitor rules test`, `monitor rules eval`,
`monitor rules train` (the learned model).

Thin adapters: they read the store or a file, call the matcher or the evaluation, and print.
The matcher is imported by the commands, to keep `monitor --help` quick.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.cli.commands import Commands
from monitor.cli.context import ID_HELP, Context
from monitor.errors import MonitorError
from monitor.config import RuleConfig
from monitor.models import SHORT_ID, Document, MatchedTerm, short_id

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.match.matcher import Clause, Explanation, WatchHit
    from monitor.match.model import Model, Opinion
    from monitor.store.database import StoredClipping

OPEN, CLOSE = "«", "»"


def document_of(stored: StoredClipping) -> Document:
    from monitor.match.matcher import document

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


def _model(config: Config) -> Model:
    """The configured weights (or the shipped ones), enabled or not: explanations show them."""
    from monitor.match.model import Model

    w = config.model.weights
    return Model.load(config.path.parent / w if w else None)


def format_watches(watches: tuple[WatchHit, ...],
                   explanations: tuple[Explanation, ...]) -> list[str]:
    """One line per [[watch]] the story names: the names found, and whether a paired rule
    fired (then its alerts carry "[Watch: NAME]") or not (then it alerts on no account)."""
    lines = []
    for hit in watches:
        found = ", ".join(dict.fromkeys(t.text for t in hit.terms))
        fired = [e.rule for e in explanations if hit.name in e.watches]
        outcome = (f"fired with {', '.join(fired)}: alerts as [Watch: {hit.name}]" if fired
                   else "no paired rule fired: no alert")
        lines.append(f"watch {hit.name}: named ({found}); {outcome}")
    return lines


def format_explanation(stored: StoredClipping, explanations: tuple[Explanation, ...],
                       opinion: Opinion | None = None,
                       watches: tuple[WatchHit, ...] = ()) -> str:
    fired = [e for e in explanations if e.fired]
    terms = [t for e in fired for t in _clause_terms(e.clause)]
    c = stored.clipping
    lines = [f"# {mark_terms(c.title, [t for t in terms if t.field == 'title'])}",
             f"{c.source} · {c.date.isoformat() if c.date else 'no date'} · {c.url}", ""]
    lines += [mark_terms(c.body, [t for t in terms if t.field == "body"]), ""]
    for e in explanations:
        state = "fired" if e.fired else ("disabled" if not e.enabled else "did not fire")
        lines.append(f"rule {e.rule}: {state} (score {e.score:g}, min_score {e.min_score:g})"
                     + (f" tags: {', '.join(e.tags)}" if e.fired and e.tags else "")
                     + (f" watch: {', '.join(e.watches)}" if e.watches else ""))
        lines += format_clauses(e.clause)
    lines += format_watches(watches, explanations)
    if opinion is not None:
        lines.append(opinion.describe())
    return "\n".join(lines) + "\n"


def cmd_explain(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.match.matcher import matcher_for

    config = ctx.config
    matcher = matcher_for(config)
    with ctx.store() as store:
        stored = store.clipping(store.resolve_clipping(args.id))
    if stored is None:  # deleted (retention) between the two statements
        raise MonitorError(f"no clipping with id {args.id!r} (see `monitor list`)")
    doc = document_of(stored)
    explanations = matcher.explain(doc)
    watches = matcher.find_watches(doc)
    opinion = matcher.opinion(doc, _model(config))
    assert opinion is not None  # a model was given
    if args.json:
        print(json.dumps({"id": stored.id, "title": stored.clipping.title,
                          "rules": [dataclasses.asdict(e) for e in explanations],
                          "watches": [dataclasses.asdict(w) for w in watches],
                          "model": {**dataclasses.asdict(opinion),
                                    "enabled": config.model.enabled}}, ensure_ascii=False))
    else:
        sys.stdout.write(format_explanation(stored, explanations, opinion, watches))
    return 0


def cmd_rules_test(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.match.matcher import compile_rules

    config = ctx.config
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
    shown = found = 0
    with ctx.store() as store:
        for stored in store.clippings():
            matches = matcher.find_matches(document_of(stored))
            if not matches:
                continue
            found += 1  # every match counted, so that the total is true whatever --limit
            if args.limit and shown >= args.limit:
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
                    print(f"{'id':{SHORT_ID}}  {'score':>5}  {'date':10}  {'source':20}  title")
                date = c.date.isoformat() if c.date else ""
                print(f"{short_id(stored.id):{SHORT_ID}}  {m.score:5g}  {date:10}  {c.source[:20]:20}  {c.title}")
            shown += 1
    print(f"showing {shown} of {found} stored clippings that match" if shown < found
          else f"{found} stored clippings match", file=sys.stderr)
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


def read_all(names: list[str]) -> list[dict[str, Any]]:
    """The items of every FILE, a directory standing for its *.jsonl files in name order."""
    items: list[dict[str, Any]] = []
    for name in names:
        path = Path(name)
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise MonitorError(f"{path}: no .jsonl file in this directory")
        for f in files:
            items += read_items(f)
    return items


def cmd_rules_eval(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.match.evaluate import (evaluate, format_report, opinion_text, report_to_json,
                                        select_split)
    from monitor.match.matcher import matcher_for

    config = ctx.config
    if args.feedback:
        return _eval_feedback(ctx, args)
    if not args.file:
        raise MonitorError("give a FILE of labelled JSON lines, or --feedback")
    items = read_all(args.file)
    if args.split:
        items = select_split(items, args.split)
    matcher = matcher_for(config)
    report = evaluate(matcher, items, opinion_text(matcher, _model(config)))
    if args.json:
        print(json.dumps(report_to_json(report), ensure_ascii=False))
    else:
        sys.stdout.write(format_report(report).rstrip("\n") + "\n")
    return 0


def _eval_feedback(ctx: Context, args: argparse.Namespace) -> int:
    """The same figures on the analysts' marks (`monitor mark`), plus each rule's."""
    from monitor.match.matcher import matcher_for
    from monitor.store.marks import evaluate_feedback, feedback_json, format_feedback

    if args.file:
        raise MonitorError("give a FILE or --feedback, not both")
    config = ctx.config
    with ctx.store() as store:
        report, rules = evaluate_feedback(store, matcher_for(config),
                                          [r.name for r in config.rules if r.enabled])
    if args.json:
        print(json.dumps(feedback_json(report, rules), ensure_ascii=False))
    else:
        sys.stdout.write(format_feedback(report, rules).rstrip("\n") + "\n")
    return 0


def cmd_rules_train(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.match.matcher import compile_rules
    from monitor.match.train import format_training, train

    config = ctx.config
    default = Path(__file__).resolve().parents[2] / "bench" / "corpus"
    if not args.file and not default.is_dir():
        raise MonitorError("give the labelled FILES: the default, bench/corpus, is only in a "
                           "source checkout")
    corpus = read_all(args.file or [str(default)])
    extra: list[dict[str, Any]] = []
    if args.feedback:
        from monitor.store.marks import marked_items

        with ctx.store() as store:
            extra = marked_items(store)
    # the rules alone: thresholds are chosen for the model's say on the rules' own verdict
    rules_only = compile_rules(config.rules, config.terms, config.entities)
    result = train(rules_only, corpus, Path(args.output), extra)
    sys.stdout.write(format_training(result, Path(args.output)).rstrip("\n") + "\n")
    return 0


def register(commands: Commands) -> None:
    p = commands.add("explain", cmd_explain, "show a stored clipping with the matched terms marked « » "
                "and, for every rule, which of its clauses held", "monitor explain 34fcc89c")
    p.add_argument("id", help=ID_HELP)
    p.add_argument("--json", action="store_true", help="one JSON object: every rule's clause tree")

    _, sub = commands.group("rules", "try rules on stored clippings or on a labelled file",
                            "monitor rules eval dev.jsonl")
    p = sub.add("test", cmd_rules_test, "list the stored clippings that a query (or a configured "
                "rule) would match, best first by date", 'monitor rules test \'"pirate IPTV" AND '
                "(seized OR raid*)'")
    p.add_argument("query", nargs="?", help="a query in the rule language; $lists of [terms] work")
    p.add_argument("--rule", metavar="NAME", help="test a configured rule instead")
    p.add_argument("--limit", type=int, metavar="N", help="at most N clippings")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p = sub.add("eval", cmd_rules_eval, "precision, recall and F1 of the configured rules on "
                "labelled JSON lines (`text`, `label` 1/0; optional `title`, `lang`, `id`, "
                "`borderline`)", "monitor rules eval ../shared/eval-dev/articles.jsonl --json")
    p.add_argument("file", metavar="FILE", nargs="*",
                   help="JSON lines files, or directories of .jsonl files")
    p.add_argument("--split", choices=("tuning", "validation"),
                   help="only the items of that part (by the SHA-256 of their `event`)")
    p.add_argument("--feedback", action="store_true",
                   help="instead of a FILE, the clippings analysts marked with `monitor mark` "
                        "(relevant = 1), with each rule's precision and recall")
    p.add_argument("--json", action="store_true", help="one JSON object with the figures")
    p = sub.add("train", cmd_rules_train, "train the learned model on the tuning part of "
                "labelled files (default: bench/corpus), print validation figures, write the "
                "weights (needs pip install 'monitor[train]')",
                "monitor rules train bench/corpus --output model.json.gz")
    p.add_argument("file", metavar="FILE", nargs="*",
                   help="JSON lines files with `event`, or directories of .jsonl files")
    p.add_argument("--feedback", action="store_true",
                   help="also train on the clippings analysts marked (relevant = 1)")
    p.add_argument("--output", required=True, metavar="PATH", help="the weights file to write")
