"""Metrics: the only module importing prometheus_client.

Counters and histograms of this process (polls, errors by kind, fetch latency, new clippings,
deliveries per notifier), fed by the pipeline through ``PrometheusEvents`` (its
pipeline.events.Events, passed in by the daemon); plus gauges read from the database at each
scrape (clippings, matches per rule, alerts per notifier and status, outbox depth, health), so
totals survive restarts and include `run --once` runs. ``exposition()`` renders the registry in
the Prometheus text format for the /metrics endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from monitor.service import health
from monitor.config import Config
from monitor.errors import BrokenListing, FeedError, FetchError, ParseError, StoreError
from monitor.store.health import label_counts

log = logging.getLogger("monitor")

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # memory, CPU, open files, start time of the daemon

POLLS = Counter("monitor_polls", "Feed polls by outcome (updated, not_modified, error)",
                ["outcome"], registry=REGISTRY)
ERRORS = Counter("monitor_errors", "Errors by kind: feed_http, feed_transport, feed_parse, "
                 "page_broken, page, delivery, unexpected", ["kind"], registry=REGISTRY)
FETCH_SECONDS = Histogram("monitor_fetch_duration_seconds", "Time to fetch a feed or a page",
                          ["kind"], registry=REGISTRY,
                          buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60))
CLIPPINGS_NEW = Counter("monitor_clippings_new", "New clippings stored by this process",
                        ["flagged"], registry=REGISTRY)
DELIVERIES = Counter("monitor_deliveries", "Delivery attempts per notifier and result "
                     "(sent, retry, failed)", ["notifier", "result"], registry=REGISTRY)


def error_kind(error: Exception) -> str:
    if isinstance(error, FetchError):
        return "feed_http" if getattr(error, "status", None) else "feed_transport"
    if isinstance(error, BrokenListing):  # a watched page's layout changed: an alert of its own
        return "page_broken"
    if isinstance(error, ParseError):
        return "feed_parse"
    if isinstance(error, FeedError):
        return "feed_transport"
    return "unexpected"


# -- what the pipeline reports ----------------------------------------------------------------

class PrometheusEvents:
    """The pipeline's events (pipeline.events.Events) counted in this process's registry."""

    def fetched(self, kind: str, seconds: float) -> None:
        FETCH_SECONDS.labels(kind).observe(seconds)

    def polled(self, outcome: str, *, new: int = 0, flagged: int = 0) -> None:
        POLLS.labels(outcome).inc()
        if new - flagged > 0:
            CLIPPINGS_NEW.labels("false").inc(new - flagged)
        if flagged:
            CLIPPINGS_NEW.labels("true").inc(flagged)

    def poll_failed(self, error: Exception) -> None:
        POLLS.labels("error").inc()
        ERRORS.labels(error_kind(error)).inc()

    def error(self, kind: str) -> None:
        ERRORS.labels(kind).inc()

    def delivered(self, notifier: str, result: str) -> None:
        DELIVERIES.labels(notifier, result).inc()
        if result != "sent":
            ERRORS.labels("delivery").inc()


# -- gauges read from the database ----------------------------------------------------------

class DatabaseCollector(Collector):
    """Reads the database (read-only) at each scrape. ``config`` is a callable so that a
    reloaded configuration is picked up."""

    def __init__(self, config: Callable[[], Config]) -> None:
        self.config = config

    def collect(self) -> Iterator[Metric]:
        config = self.config()
        status = health.check(config)
        verdict = GaugeMetricFamily("monitor_health", "0 healthy, 1 degraded, 2 down "
                                    "(as `monitor status`)")
        verdict.add_metric([], status.exit_code)
        yield verdict
        facts = status.facts
        if facts is None:
            return
        last = health.parse_time(facts.last_poll)
        gauges = {
            "monitor_last_poll_timestamp_seconds": ("Time of the latest poll",
                                                    last.timestamp() if last else 0),
            "monitor_feeds_failing": ("Live feeds whose last poll failed", len(facts.failing)),
            "monitor_outbox_depth": ("Alerts pending delivery", facts.pending_alerts),
            "monitor_database_bytes": ("Size of the database and its WAL", facts.database_bytes),
        }
        for name, (text, value) in gauges.items():
            g = GaugeMetricFamily(name, text)
            g.add_metric([], value)
            yield g
        clippings = GaugeMetricFamily("monitor_clippings", "Stored clippings", labels=["flagged"])
        clippings.add_metric(["true"], facts.flagged)
        clippings.add_metric(["false"], facts.clippings - facts.flagged)
        yield clippings
        try:
            yield from self._per_label(config)
        except StoreError as e:
            log.warning("metrics: cannot read the database: %s", e)

    def _per_label(self, config: Config) -> Iterator[Metric]:
        counts = label_counts(config.database)
        matches = GaugeMetricFamily("monitor_matches", "Stored matches per rule",
                                    labels=["rule"])
        for rule, count in counts.matches_by_rule:
            matches.add_metric([rule], count)
        alerts = GaugeMetricFamily("monitor_alerts", "Alerts per notifier and status "
                                   "(pending, sent, failed)", labels=["notifier", "status"])
        for notifier, state, count in counts.alerts_by_notifier_status:
            alerts.add_metric([notifier, state], count)
        yield matches
        yield alerts


_database_collector: DatabaseCollector | None = None


def watch_database(config: Callable[[], Config]) -> None:
    """Add the database gauges to the registry (once per process; later calls re-point it)."""
    global _database_collector
    if _database_collector is None:
        _database_collector = DatabaseCollector(config)
        REGISTRY.register(_database_collector)
    else:
        _database_collector.config = config


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The registry in the format the scraper asked for (Prometheus text by default)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(REGISTRY), content_type
