"""`monitor pages ...`: watched pages, sources without a feed. `test` shows the links a page
would give now (to get a selector right before saving it); `add` follows a page. Listing,
enable and disable are `monitor feeds`' (a page is a feed of kind "page")."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from monitor.cli.commands import Commands
from monitor.cli.context import Context
from monitor.cli.feeds import interval_arg, refuse_followed
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.parse.listing import Listing, compile_pattern, compile_selector, empty_reason
from monitor.service import eventloop


async def _fetch(config: Config, url: str, selector: str, pattern: str) -> tuple[str, Listing]:
    from monitor.fetch.client import make_client
    from monitor.pipeline.discover import fetch_listing

    async with make_client(config.fetch) as client:
        return await fetch_listing(client, url, config.fetch, selector=selector, pattern=pattern)


def _listing(ctx: Context, args: argparse.Namespace) -> Listing:
    """The page's links now; MonitorError (with the reason) when it gives none."""
    if not args.url.startswith(("http://", "https://")):
        raise MonitorError(f"expected an http:// or https:// URL, got {args.url!r}")
    if args.selector:  # a bad selector or pattern is refused before fetching
        compile_selector(args.selector)
    compile_pattern(args.pattern or "")
    _, listing = eventloop.run(_fetch(ctx.config, args.url, args.selector or "", args.pattern or ""))
    if not listing.links:
        raise MonitorError(f"{args.url}: {empty_reason(listing, args.selector or '', args.pattern or '')}")
    return listing


def cmd_test(ctx: Context, args: argparse.Namespace) -> int:
    listing = _listing(ctx, args)
    for link in listing.links:
        if args.json:
            print(json.dumps({"url": link.url, "title": link.title}, ensure_ascii=False))
        else:
            print(f"{link.url}  {link.title}")
    more = " (more were left: narrow the selector or the pattern)" if listing.truncated else ""
    print(f"{len(listing.links)} links would become stories{more}; the first poll of a page "
          "stores those it lists as backlog, later polls alert on the new ones", file=sys.stderr)
    return 0


def cmd_add(ctx: Context, args: argparse.Namespace) -> int:
    interval = interval_arg(args.interval)
    with ctx.store() as store:
        refuse_followed(ctx.config, store, args.url)
    listing = _listing(ctx, args)
    with ctx.store() as store:
        store.add_feed(args.url, name=args.name or "", interval=interval,
                       now=dt.datetime.now(dt.timezone.utc), title=listing.title, kind="page",
                       selector=args.selector or "", pattern=args.pattern or "")
    print(f"added the page {args.url}: {listing.title or 'untitled'}, {len(listing.links)} "
          "links (stored as backlog on the first poll); a running daemon polls it within a "
          "minute", file=sys.stderr)
    print(json.dumps({"url": args.url, "title": listing.title, "links": len(listing.links),
                      "selector": args.selector or "", "pattern": args.pattern or ""},
                     ensure_ascii=False))
    return 0


def _page_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")
    p.add_argument("--selector", metavar="CSS", help="the region listing the items, such as "
                   '"ul.news-list" (default: the page\'s main content)')
    p.add_argument("--pattern", metavar="P", help='what an item\'s URL must match: a glob '
                   '("/press/*" on the path, else on the whole URL) or "re:" and a regular '
                   "expression; it also lets links to other sites in")


def register(commands: Commands) -> None:
    _, sub = commands.group("pages", "watched pages: sources without a feed whose new links are "
                            "stories (listed by `monitor feeds`, kind page)",
                            "monitor pages test https://police.example/press-office/releases "
                            "--selector 'ul.press-list' --pattern '/press-office/releases/*'")
    t = sub.add("test", cmd_test, "print the links a page gives now, one per line (URL and "
                "text), as the daemon would take them: to get a selector right before saving it",
                "monitor pages test https://police.example/press --selector 'ul.press-list' --json")
    _page_arguments(t)
    t.add_argument("--json", action="store_true", help="one JSON object per line")
    a = sub.add("add", cmd_add, "follow a page (its links are read now, and it must give some)",
                "monitor pages add https://police.example/press --selector 'ul.press-list'")
    _page_arguments(a)
    a.add_argument("--name", help="shown in listings (default: the page's title)")
    a.add_argument("--interval", help='this page\'s poll interval, such as "30m"')
