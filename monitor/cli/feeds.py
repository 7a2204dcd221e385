"""`monitor feeds ...`: list the feeds and their health, add one (with discovery), import and
export OPML, enable and disable. Discovery's HTTP client is imported only by `feeds add`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.cli.commands import Commands
from monitor.cli.context import Context
from monitor.cli.progress import progress_bar
from monitor.config import Config
from monitor.units import parse_duration
from monitor.decide.schedule import feed_status
from monitor.errors import MonitorError
from monitor.models import FeedRow
from monitor.safetext import mask_credentials
from monitor.parse.opml import OpmlFeed, parse_opml, render_opml
from monitor.store.feedset import FeedInfo, feed_set, find_feed, interval_of
from monitor.store.files import write_private
from monitor.service import eventloop

if TYPE_CHECKING:
    from monitor.models import Progress
    from monitor.pipeline.discover import Checked, Discovered
    from monitor.store.database import Store


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat(timespec="seconds") if when else None


def _duration(seconds: float | None) -> str:
    if not seconds:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0 or seconds >= 10 * size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def feed_record(info: FeedInfo, row: FeedRow | None, config: Config,
                now: dt.datetime) -> dict[str, Any]:
    """One feed as `monitor feeds --json` prints it."""
    state = info.state
    status, reason = feed_status(state, enabled=info.enabled, now=now)
    if status in ("error", "blocked", "broken") and row:
        reason = row.last_error or ""
    # A feed's user:password@ is masked in everything shown (its URL, errors, a redirect).
    return {
        "name": info.feed.name, "url": mask_credentials(info.feed.url), "kind": info.feed.kind,
        "selector": info.feed.selector or None, "pattern": info.feed.pattern or None,
        "origin": info.origin,
        "enabled": info.enabled, "status": status, "reason": mask_credentials(reason),
        "interval": interval_of(info.feed, config),
        "current_interval": state.interval if state and state.interval else None,
        "last_poll": _iso(row.last_checked) if row else None,
        "last_status": row.last_status if row else None,
        "last_error": mask_credentials(row.last_error) if row and row.last_error else None,
        "errors": state.error_count if state else 0,
        "next_poll": _iso(state.next_check) if state and info.active else None,
        "moved_to": mask_credentials(state.moved_to) if state and state.moved_to else None,
        "title": row.title if row else None,
    }


def cmd_feeds(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config
    with ctx.store() as store:
        rows = store.feed_rows()
        now = _now()
        records = [feed_record(info, rows.get(info.feed.url), config, now)
                   for info in feed_set(config, store)]
    if args.json:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
        return 0
    print(f"{'KIND':6} {'STATUS':9} {'ON':3} {'INTERVAL':8} {'LAST POLL':20} {'LAST':12} "
          f"{'ERR':>3} {'NEXT POLL':20} NAME / URL")
    for r in records:
        shown_interval = _duration(r["current_interval"] or r["interval"])
        print(f"{r['kind']:6} {r['status']:9} {'yes' if r['enabled'] else 'no':3} {shown_interval:8} "
              f"{(r['last_poll'] or '-')[:19]:20} {(r['last_status'] or '-'):12} {r['errors']:>3} "
              f"{(r['next_poll'] or '-')[:19]:20} {r['name'] or r['title'] or ''} <{r['url']}>")
        if r["reason"]:
            print(f"{'':16} {r['reason']}")
        if r["moved_to"]:
            print(f"{'':16} moved permanently to {r['moved_to']}")
    return 0


async def _discover(config: Config, url: str) -> Discovered:
    from monitor.fetch.client import make_client
    from monitor.pipeline.discover import discover

    async with make_client(config.fetch) as client:
        return await discover(client, url, config.fetch)


def interval_arg(value: str | None) -> float | None:
    """An `add` command's --interval in seconds; None: the configured default."""
    if not value:
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise MonitorError(f"--interval: {e}") from None


def refuse_followed(config: Config, store: Store, url: str) -> None:
    """A MonitorError when ``url`` is followed already, by config.toml or by command."""
    existing = find_feed(config, store, url)
    if existing is not None:
        where = "config.toml" if existing.origin == "config" else "the database"
        raise MonitorError(f"{url} is already followed (in {where})")


def cmd_add(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config
    interval = interval_arg(args.interval)
    found = eventloop.run(_discover(config, args.url))
    with ctx.store() as store:
        refuse_followed(config, store, found.url)
        store.add_feed(found.url, name=args.name or "", interval=interval, now=_now(),
                       title=found.title)
    via = f" (announced by {found.via})" if found.via else ""
    print(f"added {mask_credentials(found.url)}{via}: {found.title or 'untitled'}, {found.entries} entries; "
          "a running daemon polls it within a minute", file=sys.stderr)
    print(json.dumps({"url": mask_credentials(found.url), "title": found.title, "via": found.via,
                      "entries": found.entries}, ensure_ascii=False))
    return 0


async def _check(config: Config, urls: list[str], progress: Progress) -> list[Checked]:
    from monitor.fetch.client import make_client
    from monitor.pipeline.discover import check_feeds

    async with make_client(config.fetch) as client:
        return await check_feeds(client, urls, config.fetch, progress)


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    """Each new feed of the file is checked as `feeds add` checks one (unless --no-check): a
    404 or a page that announces no feed is reported with its reason and not followed."""
    from monitor.pipeline.discover import Checked

    config = ctx.config
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        raise MonitorError(f"{args.file}: {e}") from e
    feeds = parse_opml(data)
    added = known = refused = failed = 0
    with ctx.store() as store:
        followed = {info.feed.url for info in feed_set(config, store)}
    new: dict[str, OpmlFeed] = {}
    for feed in feeds:
        if not feed.url.startswith(("http://", "https://")):
            print(f"{args.file}: skipped {feed.url!r}: not an http(s) URL", file=sys.stderr)
            refused += 1
        elif feed.url in followed or feed.url in new:
            known += 1
        else:
            new[feed.url] = feed
    if args.check and new:
        with progress_bar("checking", "feeds") as progress:
            checked = eventloop.run(_check(config, list(new), progress))
    else:
        checked = [Checked(url) for url in new]
    with ctx.store() as store:
        now = _now()
        for feed, check in zip(new.values(), checked):
            if check.error is not None:
                print(f"{args.file}: not followed: {feed.url}: {check.error}", file=sys.stderr)
                failed += 1
                continue
            # the feed found: the URL itself, or the feed its page announces
            url = check.found.url if check.found else feed.url
            title = check.found.title if check.found else ""
            if url in followed or not store.add_feed(url, name=feed.title, now=now, title=title):
                known += 1
            else:
                followed.add(url)
                added += 1
    print(f"{added} feeds imported, {known} already followed, {refused} skipped"
          + (f", {failed} failed the check" if args.check else " (not checked: --no-check)"),
          file=sys.stderr)
    return 1 if failed else 0


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config
    with ctx.store() as store:
        rows = store.feed_rows()
        # A watched page is no feed a reader could subscribe to: left out.
        feeds = [OpmlFeed(url=i.feed.url,
                          title=i.feed.name or (row.title if (row := rows.get(i.feed.url)) else ""))
                 for i in feed_set(config, store) if i.feed.kind != "page"]
    text = render_opml(feeds)
    if args.file and args.file != "-":
        # 0600, never through a link: the URLs may carry their user:password@.
        write_private(Path(args.file), text.encode("utf-8"))
        print(f"{len(feeds)} feeds written to {args.file}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _set_enabled(ctx: Context, args: argparse.Namespace, enabled: bool) -> int:
    config = ctx.config
    with ctx.store() as store:
        info = find_feed(config, store, args.url)
        if info is None:
            raise MonitorError(f"no feed {args.url!r} (see `monitor feeds`)")
        if info.origin == "config" and not enabled:
            raise MonitorError(f"{args.url} is defined in {config.path}: set enabled = false "
                               "in its [[feeds]] table there")
        if info.origin == "config" and not info.enabled:
            raise MonitorError(f"{args.url} is disabled in {config.path}: set enabled = true "
                               "in its [[feeds]] table there")
        store.set_feed_enabled(args.url, enabled)
    print(f"{mask_credentials(args.url)}: {'enabled' if enabled else 'disabled'}; a running daemon follows "
          "within a minute", file=sys.stderr)
    return 0


def cmd_enable(ctx: Context, args: argparse.Namespace) -> int:
    return _set_enabled(ctx, args, True)


def cmd_disable(ctx: Context, args: argparse.Namespace) -> int:
    return _set_enabled(ctx, args, False)


def register(commands: Commands) -> None:
    p, sub = commands.group("feeds", "list the feeds, watched pages and saved searches' feeds "
                            "(config.toml and added by command) with their kind and health: "
                            "status (ok, new, error, blocked, broken, silent, disabled), "
                            "interval, last and next poll, consecutive errors",
                            "monitor feeds --json", func=cmd_feeds)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    a = sub.add("add", cmd_add, "follow a feed; a site's page is enough, its feed is found "
                'through <link rel="alternate">', "monitor feeds add https://torrentfreak.com/")
    a.add_argument("url", metavar="URL")
    a.add_argument("--name", help="shown in listings (default: the feed's title)")
    a.add_argument("--interval", help='this feed\'s poll interval, such as "30m"')
    i = sub.add("import", cmd_import, "follow every feed of an OPML file (as feed readers "
                "export), each checked as `feeds add` checks one; those that fail are reported "
                "with the reason and not followed (exit 1)",
                "monitor feeds import subscriptions.opml")
    i.add_argument("file", metavar="FILE.opml")
    i.add_argument("--no-check", dest="check", action="store_false",
                   help="follow the listed URLs as they are, without fetching them")
    e = sub.add("export", cmd_export, "write every feed as OPML 2.0 (to stdout, or FILE)",
                "monitor feeds export feeds.opml")
    e.add_argument("file", metavar="FILE", nargs="?")
    for name, func, what in (("enable", cmd_enable, "poll a feed again (also clears a disable "
                              "the monitor decided, such as after a 410 Gone)"),
                             ("disable", cmd_disable, "stop polling a feed added by command")):
        x = sub.add(name, func, what, f"monitor feeds {name} https://example.org/feed/")
        x.add_argument("url", metavar="URL")
