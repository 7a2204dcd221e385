"""Stories written straight into a real SQLite database through the Store, at chosen times, for
tests of what reads the database afterwards (status, latency, retention, metrics)."""

from __future__ import annotations

import datetime as dt
import hashlib

from monitor import clipping as clippings
from monitor.models import Match, NewStory
from monitor.store.database import Store

UTC = dt.timezone.utc


def now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


def add_story(store: Store, name: str, *, seen: dt.datetime, flagged: bool = False,
              published: dt.datetime | None = None, notifiers: tuple[str, ...] = ("webhook",),
              feed_url: str = "http://127.0.0.1:9/feed.xml") -> str:
    """A stored story first seen at ``seen``; flagged ones get a match and one alert per notifier.
    Returns its clipping id."""
    key = hashlib.sha256(name.encode()).hexdigest()[:16]
    url = f"http://127.0.0.1:9/{name}"
    clipping = clippings.make_clipping(title=f"Story {name}", source="Test", url=url,
                                       date=(published or seen).date(), body=f"Body of {name}.")
    matches = (Match(rule="piracy-enforcement", score=1.0, terms=()),) if flagged else ()
    alerts = {n: ("piracy-enforcement",) for n in notifiers} if flagged else {}
    store.add_story(NewStory(clipping_id=key, clipping=clipping, text=clippings.render(clipping),
                             origin="feed", fingerprint=key, feed_url=feed_url, guid=url,
                             canonical=url, published=published, matches=matches,
                             alerts=alerts), now=seen)
    return key


def alert_ids(store: Store, clipping_id: str) -> list[int]:
    return [r.id for r in store.alerts() if r.clipping_id == clipping_id]
