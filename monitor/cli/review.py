"""Commands to review the catch: `monitor search`, `monitor mark`, `monitor stats`,
`monitor evidence ID DIR`, `monitor serve`. Each reads the store, calls one function and prints
(JSON lines on stdout with --json, notes on stderr). Datasette is imported by `serve` alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from monitor.cli.commands import Commands
from monitor.cli.context import ID_HELP, Context, install_command
from monitor.errors import MonitorError
from monitor.models import short_id
from monitor.store import evidence
from monitor.store import marks as feedback
from monitor.store.search import SORTS, count_matches, search, since_cutoff
from monitor.store.stats import format_stats, stats


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def cmd_search(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.store() as store:
        since = since_cutoff(args.since, _now()) if args.since else None
        hits = search(store, args.query, flagged=args.flagged, since=since, source=args.source,
                      rule=args.rule, sort=args.sort, limit=args.limit)
        total = len(hits)
        if total >= args.limit:  # perhaps more than were shown: the true count
            total = count_matches(store, args.query, flagged=args.flagged, since=since,
                                  source=args.source, rule=args.rule)
    for hit in hits:
        if args.json:
            print(json.dumps(hit.as_json(), ensure_ascii=False))
        else:
            mark = "*" if hit.flagged else " "
            print(f"{mark} {short_id(hit.id)}  {hit.date or '':10}  {hit.source[:20]:20}  {hit.title}")
            print(f"    {hit.snippet}")
    print(f"showing {len(hits)} of {total} clippings found" if len(hits) < total
          else f"{total} clippings found", file=sys.stderr)
    return 0


def cmd_mark(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.store() as store:
        clipping_id = store.resolve_clipping(args.id)
        row = feedback.mark(store, clipping_id, args.label, args.note or "", now=_now())
    if args.json:
        print(json.dumps(row.as_json(), ensure_ascii=False))
    else:
        print(f"{short_id(clipping_id)}: marked {row.label}"
              + (f" ({row.note})" if row.note else ""))
    return 0


def cmd_stats(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.store() as store:
        figures = stats(store, days=args.days)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(format_stats(figures))
    return 0


def cmd_evidence(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.store() as store:
        clipping_id = store.resolve_clipping(args.id)
        manifest = evidence.write_case_file(store, clipping_id, Path(args.dir))
    if args.json:
        print(json.dumps(manifest, ensure_ascii=False))
    else:
        pages = sum(f["kind"] == "page" for f in manifest["files"])
        state = manifest["page_state"] or "not re-checked"
        print(f"{short_id(clipping_id)}: the clipping, {pages} version{'s' if pages != 1 else ''} of its page "
              f"({state}) and manifest.json written to {args.dir}")
    return 0


WEB_EXTRA = ("datasette", "datasette_render_markdown", "uvicorn")


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    import importlib.util

    missing = [name for name in WEB_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise MonitorError(f"the review site needs the web extra ({', '.join(missing)} missing): "
                           f"{install_command('web')}")
    from monitor.review.site import serve

    serve(ctx.config.database, ctx.config.review, host=args.host, port=args.port)
    return 0


def _on_one_clipping(p: argparse.ArgumentParser, printed: str) -> argparse.ArgumentParser:
    """A command about one clipping: its id first, and --json to print ``printed``."""
    p.add_argument("id", help=ID_HELP)
    p.add_argument("--json", action="store_true", help=f"print {printed} as one JSON object")
    return p


def register(commands: Commands) -> None:
    p = commands.add("search", cmd_search, "full-text search of the stored clippings (title, body, "
                "source, tags), best first, with the matched words marked « »",
                'monitor search \'"pirate IPTV" AND (raid OR arrest*)\' --flagged --since 7d')
    p.add_argument("query", metavar="QUERY", help="SQLite FTS5 syntax: words, \"a phrase\", "
                   "prefix*, AND/OR/NOT, NEAR(a b, 5), title:word")
    p.add_argument("--flagged", action="store_true", help="only clippings a rule flagged")
    p.add_argument("--since", metavar="WHEN", help="published since: 7d, 12h, or 2026-11-01")
    p.add_argument("--source", metavar="NAME", help="only this source (any case)")
    p.add_argument("--rule", metavar="NAME", help="only clippings this rule flagged")
    p.add_argument("--sort", choices=SORTS, default="best", help="best first (default) or newest")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (default 20)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = _on_one_clipping(commands.add(
        "mark", cmd_mark, "record whether a clipping was relevant (feedback for the rules: "
        "`monitor rules eval --feedback`)",
        "monitor mark 34fcc89c irrelevant --note 'a study, not an action'"), "the mark")
    p.add_argument("label", choices=feedback.LABELS)
    p.add_argument("--note", metavar="TEXT", help="why")

    p = _on_one_clipping(commands.add(
        "evidence", cmd_evidence, "write a case file: the clipping, every version of its page "
        "kept, and manifest.json with SHA-256 hashes and fetch times",
        "monitor evidence 34fcc89c case-2026-041/"), "the manifest")
    p.add_argument("dir", metavar="DIR", help="folder to write (created if needed)")

    p = commands.add("stats", cmd_stats, "clippings per day, source and rule, the flagged rate, "
                "feeds with errors, alerts sent, pending and failed", "monitor stats --json")
    p.add_argument("--days", type=int, default=14, metavar="N", help="days listed (default 14)")
    p.add_argument("--json", action="store_true", help="one JSON object")

    p = commands.add("serve", cmd_serve, "the review site: the database in Datasette, with search, "
                "facets, canned queries and buttons to mark clippings (needs the web extra: "
                "`pip install -e '.[web]'` in a checkout)",
                "monitor serve --port 8001")
    p.add_argument("--host", help="address to listen on (default: [review] host, 127.0.0.1); "
                   "any but loopback needs [review] password_env or password_file")
    p.add_argument("--port", type=int, help="port (default: [review] port, 8001)")
