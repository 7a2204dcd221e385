"""Command line: parses arguments, gives the command the shared context, and turns MonitorError
into a message and an exit code (the only place that happens). Logs go to stderr; data to stdout.

``main(argv)`` returns the exit code and leaves the process as it found it (logging handlers,
open databases), so that it can be called again in the same process, as the tests do."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from monitor import __version__
from monitor.cli import admin, alerts, feeds, pages, review, rules
from monitor.cli.commands import Commands
from monitor.cli.context import ID_HELP, Context
from monitor.cli.output import safe_output
from monitor.cli.progress import progress_bar
from monitor.errors import AmbiguousId, MonitorError
from monitor.models import short_id
from monitor.safetext import mask_credentials
from monitor.service import logs

if TYPE_CHECKING:
    from monitor.store.database import StoredClipping

log = logging.getLogger("monitor")

EPILOG = """\
examples:
  monitor run                      poll the feeds of ./config.toml until stopped
  monitor run --once               one cycle now, then a one-line summary
  monitor --config /etc/monitor/config.toml check-config
  monitor list --flagged --limit 20
  monitor list --json | jq .title
  monitor show 34fcc89c
  monitor export clippings/
  monitor import seeds/*.txt
  monitor search '"pirate IPTV" AND raid*' --flagged --since 7d
  monitor serve                    the review site on http://127.0.0.1:8001/monitor
  monitor alerts --failed          alerts that could not be delivered, with the reason
  monitor notify test email        send a sample alert through the notifier named "email"

The configuration is --config PATH, else $MONITOR_CONFIG, else ./config.toml.
"""


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.parse.listing import check_pages
    from monitor.pipeline.cycle import run_once
    from monitor.preflight import ConfigProblems, check_environment
    from monitor.service import eventloop
    from monitor.service.daemon import run_forever

    check_pages(ctx.config)  # a page's selector that cannot work refuses the start

    # Before the database is opened: a missing secret would otherwise fail its first alert
    # for good, long after the start looked fine.
    try:
        warnings = check_environment(ctx.config)
    except ConfigProblems as e:
        for problem in e.problems:
            print(f"monitor: error: {problem}", file=sys.stderr)
        print("monitor: not started (`monitor check-config` checks the configuration)",
              file=sys.stderr)
        return 1
    for problem in warnings:
        log.warning("%s", problem)
    if args.once:
        # Alone on the database, as the daemon is: two cycles at once would poll the same
        # feeds and store the same stories twice over.
        with ctx.writer("monitor run --once"), progress_bar("polling", "feeds") as progress:
            report = eventloop.run(run_once(ctx.config, progress))
        print(report.summary())
        return 0
    eventloop.run(run_forever(ctx.config))
    return 0


def cmd_check_config(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.match.matcher import matcher_for
    from monitor.parse.listing import check_pages
    from monitor.preflight import config_problems

    if args.defaults:
        from monitor.config import describe

        print("\n".join(describe()))
        return 0
    config = ctx.config
    matcher_for(config)
    check_pages(config)
    problems = config_problems(config, os.environ, os.environ.get("CREDENTIALS_DIRECTORY"))
    for problem in problems:
        print(f"monitor: {problem.severity}: {problem}", file=sys.stderr)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    if errors:
        print(f"{config.path}: {_count(errors, 'error')}, {_count(warnings, 'warning')}",
              file=sys.stderr)
        return 1
    warned = f", {_count(warnings, 'warning')}" if warnings else ""
    print(f"{config.path}: OK ({len(config.feeds)} feeds, {len(config.rules)} rules, "
          f"{sum(n.enabled for n in config.notifiers)} of {len(config.notifiers)} notifiers "
          f"enabled{warned})")
    return 0


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _as_json(stored: StoredClipping) -> dict[str, object]:
    c = stored.clipping
    return {"id": stored.id, "url": c.url, "title": c.title, "source": c.source,
            "date": c.date.isoformat() if c.date else None, "author": c.author,
            "flagged": stored.flagged, "rules": list(stored.rules), "tags": list(c.tags),
            "origin": stored.origin, "created_at": stored.created_at}


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    listed = 0
    with ctx.store() as store:
        for listed, stored in enumerate(store.clippings(flagged=args.flagged, limit=args.limit), 1):
            if args.json:
                print(json.dumps(_as_json(stored), ensure_ascii=False))
            else:
                c = stored.clipping
                mark = "*" if stored.flagged else " "
                date = c.date.isoformat() if c.date else "          "
                print(f"{mark} {short_id(stored.id)}  {date}  {c.source[:20]:20}  {c.title}")
    if not listed:  # on stderr: stdout stays empty, as a script reading --json expects
        hint = ("no flagged stories yet (`monitor list` shows every story)" if args.flagged
                else "no stories yet: run `monitor run --once` to poll the feeds now")
        print(f"monitor: {hint}", file=sys.stderr)
    return 0


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.store() as store:
        stored = store.clipping(store.resolve_clipping(args.id))
    if stored is None:  # deleted (retention) between the two statements
        raise MonitorError(f"no clipping with id {args.id!r} (see `monitor list`)")
    sys.stdout.write(stored.text)
    return 0


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    """Oldest first, so that the numbering follows the order stories arrived in."""
    import datetime as dt

    from monitor.review.export import export
    from monitor.store.search import since_cutoff

    since = since_cutoff(args.since, dt.datetime.now(dt.timezone.utc)) if args.since else None
    with ctx.store() as store, progress_bar("exporting", "clippings") as progress:
        written, already, where = export(store, Path(args.dir), fmt=args.format,
                                         flagged=args.flagged, since=since, rule=args.rule,
                                         progress=progress)
    print(f"{written} clippings written to {where} ({already} already there)", file=sys.stderr)
    return 0


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.pipeline.importer import import_files

    paths = [Path(p) for p in args.paths]
    files = [f for p in paths for f in (sorted(p.glob("*.txt")) if p.is_dir() else [p])]
    # Alone on the database: it stores and groups stories as a poll does, and a poll of the
    # daemon storing the same story at the same moment would make one of the two fail.
    with ctx.writer("monitor import"), progress_bar("importing", "files") as progress:
        result = import_files(ctx.config, files, alert=args.alert, progress=progress)
    for path, error in result.errors:
        print(f"{path}: {error}", file=sys.stderr)
    print(f"{result.added} clippings imported ({result.flagged} flagged), "
          f"{result.skipped} already known, {len(result.errors)} errors", file=sys.stderr)
    return 1 if result.errors else 0


def register(commands: Commands) -> None:
    p = commands.add("run", cmd_run, "run the daemon in the foreground (as systemd expects)",
                     "monitor run --once")
    p.add_argument("--once", action="store_true",
                   help="one whole cycle now: poll every enabled feed, try every pending alert, "
                        "print a summary and exit")
    p.add_argument("--log-format", choices=logs.FORMATS, default=argparse.SUPPRESS,
                   help="as `monitor --log-format`: text or json")
    p = commands.add("check-config", cmd_check_config, "check the configuration, the rules, "
                     "the notifiers' secrets and their routes, then exit (0: valid, warnings "
                     "printed; 1: an error)", "monitor --config /etc/monitor/config.toml check-config")
    p.add_argument("--defaults", action="store_true",
                   help="print every setting with its default and meaning instead (reads no file)")
    p = commands.add("list", cmd_list, "list stored clippings, newest first (* = flagged)",
                     "monitor list --flagged --limit 20 --json")
    p.add_argument("--flagged", action="store_true", help="only clippings that a rule flagged")
    p.add_argument("--limit", type=int, metavar="N", help="at most N clippings")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p = commands.add("show", cmd_show, "print one clipping exactly as stored",
                     "monitor show 34fcc89c")
    p.add_argument("id", help=ID_HELP)
    p = commands.add("export", cmd_export, "write the stored clippings into DIR: one clipping "
                     "file per story (NNN_<id>.txt), or DIR/clippings.jsonl, or DIR/clippings.csv; "
                     "what is already there is kept, only new stories are added",
                     "monitor export clippings/ --flagged --since 7d --format jsonl")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--flagged", action="store_true", help="only flagged clippings")
    p.add_argument("--since", metavar="WHEN", help="published since: 7d, 12h, or 2026-11-01")
    p.add_argument("--rule", metavar="NAME", help="only clippings this rule flagged")
    p.add_argument("--format", choices=("clipping", "jsonl", "csv"), default="clipping",
                   help="clipping files (default; `monitor import` reads them back), JSON lines "
                        "or CSV")
    p = commands.add("import", cmd_import, "read clipping files (or folders of them) into the "
                     "database and match them like any story", "monitor import seeds/")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--alert", action="store_true",
                   help="also queue alerts for flagged imports (off: importing an archive "
                        "should not page anyone)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Watch news feeds for piracy-enforcement stories, keep every story as a "
                    "clipping in SQLite, and send alerts by email and webhook.")
    parser.add_argument("--config", metavar="PATH",
                        help="configuration file (default: $MONITOR_CONFIG or ./config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--log-format", choices=logs.FORMATS,
                        help="log lines on stderr: text (default) or json; overrides [log] format")
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    commands = Commands(parser, top=True)
    # Each area's commands live together in one module; this order is --help's.
    register(commands)
    rules.register(commands)
    alerts.register(commands)
    feeds.register(commands)
    pages.register(commands)
    admin.register(commands)
    review.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; returns its exit code."""
    root = logging.getLogger()
    handlers, level, secrets = root.handlers[:], root.level, set(logs.REDACTOR.secrets)
    noisy = {name: logging.getLogger(name).level for name in logs.NOISY}
    try:
        with safe_output():
            return _main(argv)
    finally:
        # Logging as it was: the handler that logs.start installed writes to this call's
        # stderr, and the secrets this config named are no business of the next call's.
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in noisy.items():
            logging.getLogger(name).setLevel(was)
        logs.REDACTOR.secrets = secrets


def _main(argv: Sequence[str] | None) -> int:
    """main() without its setup and restore: parse, run the command, map errors to codes."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version (0) and usage errors (2), printed already
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    logs.start(args.log_format, args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    ctx = Context(args.config)
    try:
        return int(args.func(ctx, args))
    except AmbiguousId as e:  # a usage error: the user gave too few digits
        print(f"monitor: error: {e}", file=sys.stderr)
        for clipping_id, title in e.candidates:
            print(f"  {clipping_id}  {title}", file=sys.stderr)
        return 2
    except MonitorError as e:
        # A feed's URL in the message may carry its user:password@.
        print(f"monitor: error: {mask_credentials(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
