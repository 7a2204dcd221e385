"""Delivery of the alert outbox: per notifier, its digests and its pending alerts.

deliver(notifiers):
    for each notifier, all at once (a slow receiver holds only its own notifier's pass):
        retry its digests whose backoff has passed (all of them when forced)
        digest notifier: when the schedule says so, gather what waits into a digest, send it
        else, more than flood_limit alerts within flood_window: gather them into one digest
            (at most one per flood_window while the flood lasts; the rest wait for the next)
        else, send each pending alert whose backoff has passed (each one when forced)
    a transient failure ends that notifier's pass (its receiver is down: the next alerts wait
    their turn rather than hammer it); a Retry-After holds for all of its pending alerts, and
    even a forced pass (`monitor run --once`, a start) honours it.

Before it is sent, each alert or digest is claimed in the database (status 'sending', one
statement: of two processes, one wins), so two processes on one database never send it both.
Each send has a deadline of its own (the notifier's ``timeout``, for the whole exchange: a
receiver trickling its answer a byte at a time fails at it, and is retried with backoff).
Each delivery is written to the database right after the receiver accepted it. Only if the
process dies between the two is it sent again, once its claim has lapsed (CLAIM_MARGIN after
the notifier's timeout, twice), with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from monitor.store import archive
from monitor.units import parse_cadence
from monitor.config import NotifierConfig, ReviewConfig
from monitor.errors import NotifyError
from monitor.models import Alert, Digest
from monitor.pipeline.events import NO_EVENTS, Events
from monitor.store.database import Store

log = logging.getLogger("monitor")

BACKOFF_FIRST = 30.0  # seconds before the first retry
BACKOFF_MAX = 3600.0
JITTER = 0.2  # each backoff is spread over +-20 %, so retries of many alerts do not bunch up
RETRY_AFTER_MAX = 86400.0
# A claim lasts twice the notifier's timeout (a request's connect, then its answer) plus this
# margin for the event loop's other work; apprise names no timeout and gets SEND_DEFAULT.
CLAIM_MARGIN = 10.0
SEND_DEFAULT = 60.0


class Report(Protocol):
    """What a delivery pass counts (pipeline.CycleReport)."""

    alerts_sent: int
    alerts_failed: int
    errors: list[str]


class Sender(Protocol):
    name: str

    async def send(self, alert: Alert) -> None: ...

    async def send_digest(self, digest: Digest) -> None: ...


def retry_delay(attempts: int, retry_after: float | None,
                rand: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds until the next try after ``attempts`` failed ones: exponential backoff (30 s
    doubling to 1 h) with jitter; a receiver's Retry-After wins, as asked (1 s to 1 day)."""
    if retry_after is not None:
        return min(max(retry_after, 1.0), RETRY_AFTER_MAX)
    base: float = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts))
    return base * rand(1.0 - JITTER, 1.0 + JITTER)


def claim_seconds(cfg: NotifierConfig | None) -> float:
    """How long a claim on one send holds: longer than any send of this notifier should last,
    since once it lapses another process may send the same alert again."""
    timeout = getattr(cfg, "timeout", None) or SEND_DEFAULT
    return 2 * float(timeout) + CLAIM_MARGIN


class Outbox:
    def __init__(self, store: Store, notifiers: Mapping[str, Sender],
                 configs: Mapping[str, NotifierConfig], clock: Callable[[], dt.datetime],
                 update_window: dt.timedelta | None = None, events: Events = NO_EVENTS,
                 review: ReviewConfig | None = None) -> None:
        self.store = store
        self.review = review  # [review]: each alert links to its story's page there
        self.notifiers = notifiers
        self.configs = configs
        self.clock = clock
        self.update_window = update_window  # story_update_window; None: no update alerts
        self.events = events

    async def deliver(self, report: Any, *, force: bool = False) -> None:
        for kind, key, who in self.store.release_expired_claims(now=self.clock()):
            log.warning("%s %s: the claim of process %s lapsed before it was marked sent; it "
                        "goes again with the same key", kind, key, who.split("-", 1)[0])
        # The notifiers' passes run side by side: each waits only on its own receiver. The
        # database calls between two sends are synchronous, so the passes never interleave
        # inside one.
        passes = await asyncio.gather(
            *(self._notifier(notifier, self.configs.get(name), report, force)
              for name, notifier in self.notifiers.items()), return_exceptions=True)
        failures = [p for p in passes if isinstance(p, BaseException)]
        if failures:  # a bug: raised once every other pass is done
            raise failures[0]
        for name, count in self.store.pending_by_notifier().items():
            if name not in self.notifiers:
                log.warning("%d alerts for notifier %r kept pending: it is not configured or "
                            "not enabled", count, name)

    async def _notifier(self, notifier: Sender, cfg: NotifierConfig | None, report: Any,
                        force: bool) -> None:
        name = notifier.name
        now = self.clock()
        for digest in self.store.due_digests(name, now=now, force=force):
            if not await self._send(notifier, digest, report):
                return
        digest_id, hold = self._gather(name, cfg, now)
        fresh = self.store.digest(digest_id) if digest_id is not None else None
        if fresh is not None and not await self._send(notifier, fresh, report):
            return
        if hold or (cfg is not None and cfg.delivery.digest):
            return  # a digest notifier, or a flood: nothing goes on its own
        for alert in self.store.due_alerts(name, now=now, force=force):
            if not await self._send(notifier, alert, report):
                return

    def _gather(self, name: str, cfg: NotifierConfig | None,
                now: dt.datetime) -> tuple[int | None, bool]:
        """Make a digest of what waits when the schedule or flood control calls for one.
        Returns its id (or None) and whether the alerts that wait must keep waiting: during a
        flood, at most one digest per flood_window goes out, and nothing one by one."""
        if cfg is None or not self.store.waiting_alerts(name):
            return None, False
        delivery = cfg.delivery
        if delivery.digest:
            oldest = self.store.oldest_waiting(name)
            last = self.store.last_digest_at(name)
            anchor = max(oldest, last) if oldest and last else oldest
            if anchor is None or not parse_cadence(delivery.digest).is_due(anchor, now):
                return None, True
            reason = "schedule"
        else:
            since = now - dt.timedelta(seconds=delivery.flood_window)
            last = self.store.last_digest_at(name)
            if last is not None and last > since:
                return None, True  # a flood digest went out within the window: the rest wait
            # The alerts of the window: those already sent one by one, and those waiting now.
            if (self.store.sent_alone_since(name, since) + self.store.waiting_alerts(name)
                    <= delivery.flood_limit):
                return None, False
            reason = "flood"
        count = self.store.waiting_alerts(name)
        digest_id = self.store.create_digest(name, reason=reason, now=now)
        if digest_id is not None:
            log.info("notifier %s: %d alerts gathered into digest %d (%s)", name, count,
                     digest_id, reason)
        return digest_id, True

    def _failed(self, name: str, e: NotifyError, attempts: int, what: str, alerts: int,
                report: Any) -> tuple[dt.datetime, dt.datetime | None]:
        """(next attempt, Retry-After deadline) of a failed send, counted and logged once."""
        now = self.clock()
        delay = retry_delay(attempts, e.retry_after)
        until = now + dt.timedelta(seconds=delay) if e.retry_after is not None else None
        if until is not None:
            self.store.defer_notifier(name, until)
        next_attempt = now + dt.timedelta(seconds=delay)
        report.alerts_failed += alerts
        self.events.delivered(name, "failed" if e.permanent else "retry")
        report.errors.append(f"{what}: {e}")
        log.warning("%s via %s: %s%s", what, name, e, " (permanent, not retried)" if e.permanent
                    else f" (retry at {next_attempt:%H:%M:%S})")
        return next_attempt, until

    def _claim_until(self, name: str) -> dt.datetime:
        return self.clock() + dt.timedelta(seconds=claim_seconds(self.configs.get(name)))

    def _linked(self, item: Alert | Digest) -> Alert | Digest:
        """The alert (or each of the digest's) with its story's page on the review site."""
        review = self.review
        if review is None or not review.base_url:
            return item

        def link(alert: Alert) -> Alert:
            return replace(alert, review_url=review.story_page(alert.story_id, alert.clipping_id))

        if isinstance(item, Digest):
            return replace(item, alerts=tuple(link(a) for a in item.alerts))
        return link(item)

    async def _send(self, notifier: Sender, item: Alert | Digest, report: Any) -> bool:
        """Send one alert or digest, claimed first so that no other process sends it too.
        True if the pass may go on with this notifier's next one."""
        claim: Callable[..., bool]
        mark_failed: Callable[..., None]
        mark_sent: Callable[..., None]
        item = self._linked(item)
        if isinstance(item, Digest):
            what, alerts = f"digest {item.key} ({len(item.alerts)} alerts)", item.alerts
            claim, mark_failed = self.store.claim_digest, self.store.mark_digest_failed_attempt
            mark_sent = self.store.mark_digest_sent
        else:
            what, alerts = f"alert {item.key}", (item,)
            claim, mark_failed = self.store.claim_alert, self.store.mark_failed_attempt
            mark_sent = self.store.mark_sent
        if not claim(item.id, until=self._claim_until(notifier.name)):
            log.debug("%s: claimed by another process, left to it", what)
            return True
        try:
            if isinstance(item, Digest):
                await notifier.send_digest(item)
            else:
                await notifier.send(item)
        except NotifyError as e:
            next_attempt, until = self._failed(notifier.name, e, item.attempts, what,
                                               len(alerts), report)
            mark_failed(item.id, error=str(e), permanent=e.permanent, next_attempt=next_attempt,
                        retry_after_until=until)
            return e.permanent
        mark_sent(item.id, now=self.clock())
        # Clippings that joined a story while its alert was being sent go as an update: else
        # they would count as covered by an alert that never showed them.
        for alert in alerts:
            archive.release_uncovered(self.store, alert, now=self.clock(),
                                      update_window=self.update_window)
        report.alerts_sent += len(alerts)
        self.events.delivered(notifier.name, "sent")
        if isinstance(item, Digest) and hasattr(report, "digests_sent"):
            report.digests_sent += 1
        log.info("%s sent via %s", what, notifier.name)
        return True
