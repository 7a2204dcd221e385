"""Commands for operators: `monitor status` and `monitor db backup|check|vacuum|prune`.

Each parses, calls one function of health or dbcare, and prints the outcome (data on stdout,
logs on stderr). dbcare is imported by the commands that use it, to keep `monitor --help` quick.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pwd
from pathlib import Path

from monitor.cli.commands import Commands
from monitor.cli.context import Context
from monitor.cli.progress import progress_bar
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.service import health


def _config(ctx: Context) -> Config:
    """The config, once we know this user may write the database."""
    config = ctx.config
    problem = owner_problem(config.database, os.geteuid())
    if problem:
        raise MonitorError(problem)
    return config


def owner_problem(database: Path, euid: int) -> str | None:
    """Root working on the service user's database would leave root-owned -wal and -shm files
    beside it, which the daemon then cannot open: refuse, and say how to run it instead."""
    try:
        owner = database.stat().st_uid
    except OSError:
        return None
    if euid != 0 or owner == 0:
        return None
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = str(owner)
    return (f"{database} belongs to {name}: run this command as that user "
            f"(sudo -u {name} monitor ...), so that SQLite's files keep their owner")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.1f}s" if value < 10 else f"{value:.0f}s"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def render_status(status: health.Status) -> str:
    """The human-readable report of `monitor status`."""
    lines = [f"monitor: {status.status}"]
    lines += [f"  ! {reason}" for reason in status.reasons]
    facts = status.facts
    if facts is not None:
        lines.append(f"  last poll:  {facts.last_poll or 'never'}")
        lines.append(f"  feeds:      {facts.feeds_polled} polled recently, "
                     f"{len(facts.failing)} failing")
        for f in facts.failing:
            name = f" ({f.name})" if f.name else ""
            lines.append(f"    failing since {f.failing_since or '?'}: {f.url}{name}, "
                         f"{f.error_count} errors, last: {f.last_error or '-'}")
        lines.append(f"  alerts:     {facts.pending_alerts} pending, {facts.sending_alerts} "
                     f"sending (oldest {facts.oldest_pending or '-'}), "
                     f"{facts.failed_alerts_last_day} failed in the last day")
        lat = facts.latency
        lines.append("  latency over the alerts delivered in the last day (median / 95th percentile):")
        for label, s in (("published -> detected ", lat.published_to_detected),
                         ("detected  -> delivered", lat.detected_to_delivered),
                         ("published -> delivered", lat.published_to_delivered)):
            lines.append(f"    {label}  {_seconds(s.median)} / {_seconds(s.p95)}  ({s.count} alerts)")
        lines.append(f"  clippings:  {facts.clippings} ({facts.flagged} flagged)")
        lines.append(f"  database:   {facts.database}, {_megabytes(facts.database_bytes)}, "
                     f"schema version {facts.schema_version}")
    return "\n".join(lines)


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    try:
        status = health.check(_config(ctx))
    except MonitorError as e:  # no valid config: nothing can run, so the monitor is down
        checked = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        status = health.Status(health.DOWN, (f"cannot check: {e}",), None, checked)
    if args.json:
        print(json.dumps(status.as_dict(), ensure_ascii=False))
    else:
        print(render_status(status))
    return status.exit_code


def cmd_backup(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.store import maintenance as dbcare

    config = _config(ctx)
    result = dbcare.backup(config.database, Path(args.file), overwrite=args.force)
    print(f"{result.target}: {_megabytes(result.bytes)} copied from {config.database} in "
          f"{result.seconds:.1f}s (check: {result.check})")
    return 0


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.store import maintenance as dbcare

    config = _config(ctx)
    problems = dbcare.check(config.database)
    for problem in problems:
        print(problem)
    print(f"{config.database}: {'ok' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


def cmd_vacuum(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.store import maintenance as dbcare

    config = _config(ctx)
    before, after = dbcare.vacuum(config.database)
    print(f"{config.database}: {_megabytes(before)} -> {_megabytes(after)}")
    return 0


def cmd_prune(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.store import maintenance as dbcare

    config = _config(ctx)
    days = args.days if args.days is not None else config.data.retention_days
    if days <= 0:
        print("retention_days is 0 (keep every clipping): nothing to delete; pass --days N")
        return 0
    with progress_bar("pruning", "clippings") as progress:
        result = dbcare.prune(config.database, retention_days=days,
                              keep_flagged=config.data.keep_flagged, dry_run=args.dry_run,
                              progress=progress)
    verb = "would be deleted" if args.dry_run else "deleted"
    print(f"{result.clippings} clippings first seen before {result.cutoff} {verb}"
          + ("" if args.dry_run else f" ({result.matches} matches, {result.alerts} alerts)"))
    return 0


def register(commands: Commands) -> None:
    p = commands.add("status", cmd_status, "the monitor's health: last poll, failing feeds, "
                     "pending and failed alerts, alert latency, database; exit 0 healthy, "
                     "1 degraded, 2 down", "monitor --config /etc/monitor/config.toml status --json")
    p.add_argument("--json", action="store_true", help="one JSON object")

    _, actions = commands.group("db", "care of the database: backup, check, vacuum, prune",
                                "monitor db backup /var/backups/monitor-$(date +%F).db")
    p = actions.add("backup", cmd_backup, "copy the database into FILE with SQLite's online "
                    "backup (safe while the daemon runs); the copy is checked, then renamed into "
                    "place", "monitor db backup /var/backups/monitor.db")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    actions.add("check", cmd_check, "SQLite's integrity and foreign-key checks; exit 1 on a "
                "problem", "monitor db check")
    actions.add("vacuum", cmd_vacuum, "rebuild the database file without its free space (the "
                "daemon's writes wait meanwhile: best run while it is stopped)",
                "monitor db vacuum")
    p = actions.add("prune", cmd_prune, "apply the retention now: delete the clippings older "
                    "than [data] retention_days that no rule flagged (unless keep_flagged = "
                    "false) and nobody marked (the daemon does it daily)",
                    "monitor db prune --days 180 --dry-run")
    p.add_argument("--days", type=int, metavar="N", help="instead of [data] retention_days")
    p.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
