"""What the pipeline reports as it works: polls, fetch times, errors, deliveries.

The pipeline calls an ``Events``; the daemon passes one that feeds its metrics
(service.metrics.PrometheusEvents), anything else gets ``NO_EVENTS``. So the pipeline counts
without knowing who listens, and `run --once` or a test pays nothing for counters nobody reads.
"""

from __future__ import annotations

from typing import Protocol


class Events(Protocol):
    def fetched(self, kind: str, seconds: float) -> None:
        """A feed (``kind`` "feed") or a page ("page") fetched in ``seconds``."""

    def polled(self, outcome: str, *, new: int = 0, flagged: int = 0) -> None:
        """A poll ended "updated" (with ``new`` stories stored, ``flagged`` of them matched)
        or "not_modified"."""

    def poll_failed(self, error: Exception) -> None:
        """A poll ended with ``error`` (a FetchError or a ParseError)."""

    def error(self, kind: str) -> None:
        """Something other than a poll failed: "page" (a story's page not used) or
        "unexpected" (a bug, logged with its traceback)."""

    def delivered(self, notifier: str, result: str) -> None:
        """An alert or a digest handed to ``notifier``: "sent", "retry" (a transient failure)
        or "failed" (permanent)."""


class NoEvents:
    """Reports go nowhere."""

    def fetched(self, kind: str, seconds: float) -> None:
        pass

    def polled(self, outcome: str, *, new: int = 0, flagged: int = 0) -> None:
        pass

    def poll_failed(self, error: Exception) -> None:
        pass

    def error(self, kind: str) -> None:
        pass

    def delivered(self, notifier: str, result: str) -> None:
        pass


NO_EVENTS: Events = NoEvents()
