"""Command line: parses arguments, calls one function, turns MonitorError into a message
and an exit code (the only place that happens). Logs go to stderr; data to stdout."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any
from pathlib import Path

from monitor import __version__
from monitor.service import logs
from monitor.config import Config, describe, load_config
from monitor.errors import ClippingError, MonitorError
from monitor.store.database import Store, StoredClipping

log = logging.getLogger("monitor")

EPILOG = """\
examples:
  monitor run                      poll the feeds of ./config.toml until stopped
  monitor run --once               one cycle now, then a one-line summary
  monitor --config /etc/monitor/config.toml check-config
  monitor list --flagged --limit 20
  monitor list --json | jq .title
  monitor show 34fcc89c45c3ecef
  monitor export clippings/
  monitor import seeds/*.txt
  monitor search '"pirate IPTV" AND raid*' --flagged --since 7d
  monitor serve                    the review site on http://127.0.0.1:8001/monitor
  monitor alerts --failed          alerts that could not be delivered, with the reason
  monitor notify test email        send a sample alert through the notifier named "email"

The configuration is --config PATH, else $MONITOR_CONFIG, else ./config.toml.
"""


def _config(args: argparse.Namespace) -> Config:
    config = load_config(Path(args.config) if args.config else None)
    logs.configure(config)  # [log], and the secrets no log line may show
    return config


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.pipeline.cycle import run_once
    from monitor.service.daemon import run_forever

    config = _config(args)
    if args.once:
        report = asyncio.run(run_once(config))
        print(report.summary())
        return 0
    asyncio.run(run_forever(config))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from monitor.match.matcher import matcher_for

    if args.defaults:
        print("\n".join(describe()))
        return 0
    config = _config(args)
    matcher_for(config)
    print(f"{config.path}: OK ({len(config.feeds)} feeds, {len(config.rules)} rules, "
          f"{sum(n.enabled for n in config.notifiers)} of {len(config.notifiers)} notifiers enabled)")
    return 0


def _as_json(stored: StoredClipping) -> dict[str, object]:
    c = stored.clipping
    return {"id": stored.id, "url": c.url, "title": c.title, "source": c.source,
            "date": c.date.isoformat() if c.date else None, "author": c.author,
            "flagged": stored.flagged, "rules": list(stored.rules), "tags": list(c.tags),
            "origin": stored.origin, "created_at": stored.created_at}


def cmd_list(args: argparse.Namespace) -> int:
    store = Store(_config(args).database)
    try:
        for stored in store.clippings(flagged=args.flagged, limit=args.limit):
            if args.json:
                print(json.dumps(_as_json(stored), ensure_ascii=False))
            else:
                c = stored.clipping
                mark = "*" if stored.flagged else " "
                date = c.date.isoformat() if c.date else "          "
                print(f"{mark} {stored.id}  {date}  {c.source[:20]:20}  {c.title}")
    finally:
        store.close()
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = Store(_config(args).database)
    try:
        stored = store.clipping(args.id)
    finally:
        store.close()
    if stored is None:
        raise MonitorError(f"no clipping with id {args.id!r} (see `monitor list`)")
    sys.stdout.write(stored.text)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Issue 6: formats and filters, in monitor.exporting (oldest first, so that the numbering
    follows the order stories arrived in)."""
    import datetime as dt

    from monitor.review.export import export
    from monitor.store.search import since_cutoff

    store = Store(_config(args).database)
    try:
        since = since_cutoff(args.since, dt.datetime.now(dt.timezone.utc)) if args.since else None
        written, already, where = export(store, Path(args.dir), fmt=args.format,
                                         flagged=args.flagged, since=since, rule=args.rule)
    finally:
        store.close()
    print(f"{written} clippings written to {where} ({already} already there)", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from monitor.pipeline.importer import import_files

    config = _config(args)
    paths = [Path(p) for p in args.paths]
    files = [f for p in paths for f in (sorted(p.glob("*.txt")) if p.is_dir() else [p])]
    result = import_files(config, files, alert=args.alert)
    for path, error in result.errors:
        print(f"{path}: {error}", file=sys.stderr)
    print(f"{result.added} clippings imported ({result.flagged} flagged), "
          f"{result.skipped} already known, {len(result.errors)} errors", file=sys.stderr)
    return 1 if result.errors else 0


# Modules that add commands: each has ``register(command)``, where ``command(name, func, help,
# example)`` returns the subcommand's parser (see build_parser). One line per area keeps the
# commands of each stage beside that stage.
COMMAND_MODULES: list[str] = [
    "monitor.cli.rules", "monitor.cli.alerts", "monitor.cli.feeds", "monitor.cli.admin",
    "monitor.cli.review",
]

CommandAdder = Callable[..., argparse.ArgumentParser]


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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str,  # noqa: A002
                example: str, parent: Any = None) -> argparse.ArgumentParser:
        """A subcommand whose --help ends with an example; ``parent`` nests it (`rules eval`)."""
        p = (parent or sub).add_parser(name, help=help, description=help,
                                       epilog=f"example:\n  {example}",
                                       formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = command("run", cmd_run, "run the daemon in the foreground (as systemd expects)",
                "monitor run --once")
    p.add_argument("--once", action="store_true",
                   help="one whole cycle now: poll every enabled feed, try every pending alert, "
                        "print a summary and exit")
    p.add_argument("--log-format", choices=logs.FORMATS, default=argparse.SUPPRESS,
                   help="as `monitor --log-format`: text or json")
    p = command("check-config", cmd_check_config, "check the configuration and the rules, then "
                "exit (0: valid)", "monitor --config /etc/monitor/config.toml check-config")
    p.add_argument("--defaults", action="store_true",
                   help="print every setting with its default and meaning instead (reads no file)")
    p = command("list", cmd_list, "list stored clippings, newest first (* = flagged)",
                "monitor list --flagged --limit 20 --json")
    p.add_argument("--flagged", action="store_true", help="only clippings that a rule flagged")
    p.add_argument("--limit", type=int, metavar="N", help="at most N clippings")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p = command("show", cmd_show, "print one clipping exactly as stored", "monitor show 34fcc89c45c3ecef")
    p.add_argument("id", help="the clipping's 16-hex-digit id (see `monitor list`)")
    p = command("export", cmd_export, "write the stored clippings into DIR: one clipping file "
                "per story (NNN_<id>.txt), or DIR/clippings.jsonl, or DIR/clippings.csv; what is "
                "already there is kept, only new stories are added",
                "monitor export clippings/ --flagged --since 7d --format jsonl")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--flagged", action="store_true", help="only flagged clippings")
    p.add_argument("--since", metavar="WHEN", help="published since: 7d, 12h, or 2026-11-01")
    p.add_argument("--rule", metavar="NAME", help="only clippings this rule flagged")
    p.add_argument("--format", choices=("clipping", "jsonl", "csv"), default="clipping",
                   help="clipping files (default; `monitor import` reads them back), JSON lines "
                        "or CSV")
    p = command("import", cmd_import, "read clipping files (or folders of them) into the database "
                "and match them like any story", "monitor import seeds/")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--alert", action="store_true",
                   help="also queue alerts for flagged imports (off: importing an archive "
                        "should not page anyone)")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.start(args.log_format, args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except (MonitorError, ClippingError) as e:
        print(f"monitor: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
