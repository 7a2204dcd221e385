"""Commands of the alert outbox: `monitor alerts`, `monitor alerts retry ID`,
`monitor notify test NAME`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from monitor.cli.commands import Commands
from monitor.cli.context import Context
from monitor.clipping import make_clipping
from monitor.errors import MonitorError, NotifyError, StoreError, UnknownId
from monitor.models import SHORT_ID, Alert, AlertRow, Digest, Match, MatchedTerm, short_id
from monitor.service import eventloop

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store.database import Store

# sending: claimed by a process that is sending it; grouped: folded into its story's alert
STATUSES = ("pending", "sending", "failed", "sent", "grouped")


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when else None


def _row_json(r: AlertRow) -> dict[str, Any]:
    return {"id": r.id, "key": r.key, "notifier": r.notifier, "status": r.status,
            "attempts": r.attempts, "last_error": r.last_error,
            "created_at": _iso(r.created_at), "sent_at": _iso(r.sent_at),
            "next_attempt": _iso(r.next_attempt) if r.status == "pending" else None,
            "retry_after_until": _iso(r.retry_after_until) if r.status == "pending" else None,
            "digest_id": r.digest_id, "rules": list(r.rules), "clipping_id": r.clipping_id,
            "title": r.title, "source": r.source, "url": r.link,
            "claimed_until": _iso(r.claimed_until) if r.status == "sending" else None,
            "claimed_by_pid": r.claimed_by_pid if r.status == "sending" else None}


def cmd_alerts(ctx: Context, args: argparse.Namespace) -> int:
    status = args.status or ("pending" if args.pending else "failed" if args.failed else None)
    with ctx.store() as store:
        rows = store.alert_rows(status=status, limit=args.limit)
    for r in rows:
        if args.json:
            print(json.dumps(_row_json(r), ensure_ascii=False))
            continue
        when = (_iso(r.sent_at) if r.status == "sent" else _iso(r.created_at) or "")
        when = (when or "")[:16]
        tries = f"{r.attempts} tr{'y' if r.attempts == 1 else 'ies'}"
        line = (f"{r.id:>6}  {r.status:<7}  {tries:<9}  {r.notifier[:16]:<16}  "
                f"{when.replace('T', ' '):<16}  {short_id(r.clipping_id or ''):<{SHORT_ID}}  "
                f"{r.title or ''}")
        if r.digest_id is not None:
            line += f"  [digest {r.digest_id}]"
        if r.status != "sent" and r.last_error:
            line += f"\n        last error: {r.last_error}"
        if r.status == "pending" and r.next_attempt:
            line += f"\n        next try: {_iso(r.next_attempt)}"
        if r.status == "sending":
            line += (f"\n        being sent by process {r.claimed_by_pid or '?'}, claimed until "
                     f"{_iso(r.claimed_until)}")
        print(line)
    if not args.json:
        print(f"{len(rows)} alerts" + (f" {status}" if status else ""), file=sys.stderr)
    return 0


def _alerts_named(store: Store, refs: list[str]) -> list[tuple[str, AlertRow | None]]:
    """Each ref's alerts: an alert's number or key, else a clipping (its id, a prefix of it or
    its URL) whose alerts not sent yet are meant; (ref, None) when nothing answers. Every ref
    is resolved before any alert is touched, so an ambiguous one changes nothing."""
    found: list[tuple[str, AlertRow | None]] = []
    for ref in refs:
        row = store.find_alert(ref)
        if row is not None:
            found.append((ref, row))
            continue
        try:
            clipping_id = store.resolve_clipping(ref)
        except UnknownId:
            found.append((ref, None))
            continue
        rows = store.alert_rows(clipping_id=clipping_id, newest_first=False)
        unsent = [r for r in rows if r.status != "sent"]
        found += [(ref, r) for r in unsent or rows] or [(ref, None)]
    return found


def cmd_retry(ctx: Context, args: argparse.Namespace) -> int:
    problems = 0
    with ctx.store() as store:
        for ref, row in _alerts_named(store, args.ids):
            if row is None:
                print(f"monitor: error: no alert {ref!r} (see `monitor alerts`)", file=sys.stderr)
                problems += 1
                continue
            if row.status == "sent":
                print(f"monitor: error: alert {row.id} was sent at {_iso(row.sent_at)}; it is "
                      "not sent twice", file=sys.stderr)
                problems += 1
                continue
            try:
                was = store.retry_alert(row.id, now=dt.datetime.now(dt.timezone.utc))
            except StoreError as e:  # being sent by another process: left to it
                print(f"monitor: error: {e}", file=sys.stderr)
                problems += 1
                continue
            if args.json:
                print(json.dumps({"id": row.id, "key": row.key, "was": was,
                                  "status": "pending"}))
            else:
                print(f"alert {row.id} ({row.key}): queued again (was {was}); the daemon "
                      "sends it within a minute, or now with `monitor run --once`")
    return 1 if problems else 0


def sample_alert(notifier: str, now: dt.datetime) -> Alert:
    """A made-up alert that looks like a real one, for `monitor notify test`."""
    title = "TEST: Police shut down a pirate IPTV service and arrest three suspects"
    body = ("This is a test alert sent by `monitor notify test`. Nothing happened.\n\n"
            "Police have shut down a pirate IPTV service that sold illegal streams of football "
            "matches, and arrested three suspects.")
    clipping = make_clipping(title=title, standfirst="A sample alert", source="monitor",
                             url="https://example.org/monitor-test-alert", date=now.date(),
                             author="monitor", body=body, tags=("monitor",))
    terms = tuple(MatchedTerm(t, "title", title.index(t), title.index(t) + len(t))
                  for t in ("shut down", "pirate", "IPTV"))
    return Alert(id=0, key=f"test-{now:%Y%m%dT%H%M%S}-{notifier}", notifier=notifier,
                 clipping_id="0000000000000000", clipping=clipping,
                 matches=(Match("piracy-enforcement", 9.0, terms, ("takedown",)),),
                 origin="feed", created_at=now)


async def _send_test(config: Config, name: str, digest: bool) -> str:
    from monitor.fetch.client import make_client
    from monitor.notify import build_notifier

    cfg = next((n for n in config.notifiers if n.name == name), None)
    if cfg is None:
        names = ", ".join(n.name for n in config.notifiers) or "none"
        raise MonitorError(f"no notifier named {name!r} (configured: {names})")
    now = dt.datetime.now(dt.timezone.utc)
    alert = sample_alert(name, now)
    alert = replace(alert, review_url=config.review.story_page(None, alert.clipping_id))
    async with make_client(config.fetch) as client:
        notifier = build_notifier(cfg, client)
        if digest:
            alerts = tuple(replace(alert, id=i, key=f"{alert.key}-{i}") for i in range(3))
            sample = Digest(id=0, key=f"test-digest-{now:%Y%m%dT%H%M%S}-{name}", notifier=name,
                            alerts=alerts, reason="schedule", created_at=now)
            await notifier.send_digest(sample)
            return sample.key
        await notifier.send(alert)
    return alert.key


def cmd_notify_test(ctx: Context, args: argparse.Namespace) -> int:
    try:
        key = eventloop.run(_send_test(ctx.config, args.name, args.digest))
    except NotifyError as e:
        kind = "permanent: fix the notifier" if e.permanent else "transient: would be retried"
        if args.json:
            print(json.dumps({"notifier": args.name, "delivered": False, "error": str(e),
                              "permanent": e.permanent}))
            return 1
        raise MonitorError(f"notifier {args.name}: not delivered ({kind}): {e}") from e
    if args.json:
        print(json.dumps({"notifier": args.name, "delivered": True, "key": key}))
    else:
        print(f"notifier {args.name}: sample {'digest' if args.digest else 'alert'} delivered "
              f"(key {key})")
    return 0


def register(commands: Commands) -> None:
    p, actions = commands.group("alerts", "list the alert outbox, newest first: pending, failed "
                                "and sent alerts with their tries and last error",
                                "monitor alerts --failed --json", func=cmd_alerts)
    p.add_argument("--status", choices=STATUSES, help="only alerts with this status")
    p.add_argument("--pending", action="store_true", help="same as --status pending")
    p.add_argument("--failed", action="store_true", help="same as --status failed")
    p.add_argument("--limit", type=int, metavar="N", help="at most N alerts")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    r = actions.add("retry", cmd_retry, "queue failed (or pending) alerts again now, by number or "
                    "key; a sent alert is never sent twice", "monitor alerts retry 42")
    r.add_argument("ids", nargs="+", metavar="ID", help="alert number or key (see `monitor "
                   "alerts`), or a clipping (its id, 6 or more of its first hex digits, or its "
                   "URL): that clipping's alerts not sent yet")
    r.add_argument("--json", action="store_true", help="one JSON object per alert")

    _, tools = commands.group("notify", "notifier tools: `monitor notify test NAME`",
                              "monitor notify test webhook")
    t = tools.add("test", cmd_notify_test, "send a sample alert through one notifier (enabled or "
                  "not) and report the result; nothing is stored", "monitor notify test email")
    t.add_argument("name", metavar="NAME", help="the notifier's name in the configuration")
    t.add_argument("--digest", action="store_true", help="send a sample digest of three alerts")
    t.add_argument("--json", action="store_true", help="print the result as one JSON object")
