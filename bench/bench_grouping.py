"""One story per event: pairwise precision and recall of the grouping on our own test
set (tests/data/stories/articles.jsonl: events reported by several outlets, reworded or
syndicated, and different events worded alike), beside simpler methods, and its cost.

    python bench/bench_grouping.py [--window 72h] [--stored 2000 20000]

Each method sees the articles in publication order and puts each one in the story of the most
similar earlier article it accepts, else a new story (as monitor.archive does). Pairwise: over
every pair of articles, precision = pairs put together that report one event / pairs put
together; recall = pairs put together / pairs that report one event. Prints, never asserts.

Then the alerts: the set stored with the default rules of config.toml routed to two notifiers,
a delivery pass (each notifier's due alerts marked sent) every 6 hours of the set's time, so
that the items of one poll arrive together as on a first poll or `run --once`; a flagged
event (an article of it routed to a notifier) is left without an alert when no article of it
has an alert row sent or pending for that notifier (folded into another event's alert, or
never sent as an update). The figure must be 0.

Then the cost of grouping in the store (monitor.archive): the time to store one more clipping
with 2,000 and 20,000 made-up stories stored, without grouping, with grouping through the index,
and comparing with every clipping of 14 days as before the index (about 6 minutes here); and
whether the index chooses the story that comparing with every clipping chooses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trafilatura.deduplication import Simhash, content_fingerprint  # noqa: E402

from monitor.config import parse_duration  # noqa: E402
from monitor.decide.grouping import (compare, containment, pairwise_scores, resemblance,  # noqa: E402
                              signature)

DATA = ROOT / "tests" / "data" / "stories" / "articles.jsonl"
BASE = dt.datetime(2026, 11, 2, 8, tzinfo=dt.timezone.utc)


def group(articles: list[dict], similar: Callable[[dict, dict], float | None]) -> dict[str, str]:
    """Greedy assignment: ``similar(a, b)`` is a score when a joins b's story, else None."""
    story: dict[str, str] = {}
    seen: list[dict] = []
    for a in articles:
        scored = [(s, b) for b in seen if (s := similar(a, b)) is not None]
        story[a["id"]] = story[max(scored, key=lambda x: x[0])[1]["id"]] if scored else a["id"]
        seen.append(a)
    return story


class Scale:
    """Stores filled with made-up distinct stories, one a minute (20,000: two weeks), to time
    storing one more clipping and to bury the story set under them.

    The stories: the test set's words in lower case, each story with names of its own and two
    of ten names every story of the field repeats (ACE, IPTV, Europol...)."""

    COMMON = ("ACE", "IPTV", "Europol", "LaLiga", "DAZN", "Sky", "Arcom", "MPA", "BREIN", "Netflix")

    def __init__(self) -> None:
        from monitor.store import archive

        self.vocabulary = [w for w in (w.strip('.,;:"()').lower() for w in
                                       DATA.read_text(encoding="utf-8").split()) if w.isalpha()]
        self.settings = archive.StorySettings(window=dt.timedelta(hours=72), update_window=None)

    def made_up(self, i: int) -> object:
        import random

        from monitor.clipping import make_clipping

        rng = random.Random(i)

        def name() -> str:
            return "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou")
                           for _ in range(3)).title()

        names = [name() for _ in range(5)] + rng.sample(self.COMMON, 2)
        words = [rng.choice(self.vocabulary) for _ in range(300)]
        for n in names:
            words.insert(rng.randrange(1, len(words)), n)
        title = " ".join([names[0]] + [rng.choice(self.vocabulary) for _ in range(8)])
        return make_clipping(title=title, body=" ".join(words), source="s",
                             url=f"https://x.test/{i}")

    def add(self, store: object, i: int, clipping: object, at: dt.datetime,
            grouped: bool) -> None:
        from monitor.models import NewStory
        from monitor.store import archive

        story = NewStory(clipping_id=f"{i:016x}", clipping=clipping, text="x", origin="feed",
                         fingerprint="", feed_url="f", guid=None, canonical=clipping.url,
                         published=at)
        if grouped:
            archive.record_story(store, self.settings, story, now=at, at=at)
        else:
            store.add_story(story, now=at)

    def fill(self, store: object, start: int, stop: int, grouped: bool) -> float:
        """Store made-up stories start..stop-1; milliseconds per story."""
        started = time.perf_counter()
        for i in range(start, stop):
            self.add(store, i, self.made_up(i), BASE + dt.timedelta(minutes=i), grouped)
        return (time.perf_counter() - started) / max(1, stop - start) * 1000


def story_set(store: object, settings: object, articles: list[dict], window: dt.timedelta,
              start: dt.datetime, first: int) -> tuple[float, float, int, dict[str, str]]:
    """Store the story set through the index (record_story) in publication order from
    ``start``: pairwise precision and recall of its stories, and for how many articles the
    index chose the story that the exhaustive scan would have chosen at the same point; and
    the story of each article."""
    from monitor.clipping import make_clipping
    from monitor.models import NewStory
    from monitor.store import archive

    truth, found, agree = {}, {}, 0
    for n, a in enumerate(articles):
        at = start + dt.timedelta(hours=a["hours"])
        c = make_clipping(title=a["title"], source=a["source"], body=a["body"],
                          url=f"https://example.org/{a['id']}")
        sig = signature(c.title, c.body, at)
        agree += archive.find_story(store, sig, window) == archive.scan_story(store, sig, window)
        key = f"{first + n:016x}"
        archive.record_story(store, settings, NewStory(
            clipping_id=key, clipping=c, text="x", origin="feed", fingerprint="", feed_url="f",
            guid=None, canonical=c.url, published=at), now=at, at=at)
        truth[a["id"]] = a["event"]
        found[a["id"]] = str(store.story_of(key))
    p, r = pairwise_scores(truth, found)
    return p, r, agree, found


def flagged_without_alert(articles: list[dict], update_window: str = "",
                          passes: dt.timedelta | None = dt.timedelta(hours=6)
                          ) -> tuple[int, int, int]:
    """The set through the store with the default rules (see the module's docstring): flagged
    (event, notifier) pairs, how many of them have no alert sent or pending, and the alerts
    sent. Prints the events left without one. ``update_window``: story_update_window, when
    not the default; ``passes``: the time between delivery passes, None: one pass once the
    whole set is stored (one poll that finds every item, as `run --once` on new feeds)."""
    import tempfile

    from monitor.clipping import make_clipping
    from monitor.config import load_config
    from monitor.match.matcher import document, matcher_for
    from monitor.models import NewStory
    from monitor.pipeline.update import route_alerts
    from monitor.store import archive
    from monitor.store.database import Store

    with tempfile.TemporaryDirectory() as folder:
        rules = (ROOT / "config.toml").read_text(encoding="utf-8")
        config_path = Path(folder) / "config.toml"
        rules = rules.replace('database = "', f'database = "{folder}/', 1)
        if update_window:
            rules = re.sub(r'(?m)^story_update_window = .*$',
                           f'story_update_window = "{update_window}"', rules, count=1)
        config_path.write_text(rules, encoding="utf-8")
        config = load_config(config_path)
        matcher = matcher_for(config)
        notifiers = {"email", "webhook"}
        settings = archive.settings_of(config)
        store = Store(Path(folder) / "alerts.db")
        routed: dict[str, set[tuple[str, str]]] = {}  # article -> (event, notifier)
        delivered = BASE - dt.timedelta(days=1)

        def deliver(now: dt.datetime) -> None:
            for notifier in sorted(notifiers):
                for alert in store.due_alerts(notifier, now=now, force=True):
                    store.mark_sent(alert.id, now=now)
                    archive.release_uncovered(store, alert, now=now,
                                              update_window=settings.update_window)

        for n, a in enumerate(articles):
            at = BASE + dt.timedelta(hours=a["hours"])
            if passes is not None and at - delivered >= passes:
                deliver(delivered := at)
            c = make_clipping(title=a["title"], source=a["source"], body=a["body"],
                              url=f"https://example.org/{a['id']}")
            matches = matcher.find_matches(document(a["title"], a["body"], source=a["source"]))
            alerts = route_alerts(matches, config, notifiers)
            routed[f"{n:016x}"] = {(a["event"], notifier) for notifier in alerts}
            archive.record_story(store, settings, NewStory(
                clipping_id=f"{n:016x}", clipping=c, text="x", origin="feed", fingerprint="",
                feed_url="f", guid=None, canonical=c.url, published=at,
                matches=tuple(matches), alerts=alerts), now=at, at=at)
        deliver(at + dt.timedelta(days=30))
        flagged = {pair for pairs in routed.values() for pair in pairs}
        alerted = {(event, r["notifier"]) for r in store.db.query(
            "select clipping_id, notifier from alerts where status in ('sent', 'pending')")
            for event, notifier in routed[r["clipping_id"]] if notifier == r["notifier"]}
        sent = store.db.execute("select count(*) from alerts where status = 'sent'").fetchone()[0]
        store.close()
    missing = sorted(flagged - alerted)
    for event, notifier in missing:
        print(f"  flagged event {event} has no alert for {notifier}")
    return len(flagged), len(missing), sent


def store_cost(stored: int, articles: list[dict], window: dt.timedelta, rounds: int = 5,
               batch: int = 20, more: int = 50) -> dict[str, float]:
    """Time to store one more clipping with ``stored`` made-up clippings already there: without
    grouping (Store.add_story alone), with grouping through the index (find_story), and with the
    exhaustive comparison it replaced (scan_story, on the same store). Batches of the three are
    interleaved, so that the load of the machine weighs on them alike; medians. Then whether the
    index chooses the scan's story on ``more`` made-up stories, and the story set stored after
    them, scored as on its own."""
    import statistics
    import tempfile

    from monitor.store import archive
    from monitor.store.database import Store

    scale = Scale()
    times: dict[str, list[float]] = {"plain": [], "index": [], "scan": []}
    with tempfile.TemporaryDirectory() as folder:
        plain = Store(Path(folder) / "plain.db")
        store = Store(Path(folder) / "grouped.db")
        scale.fill(plain, 0, stored, grouped=False)
        filling = scale.fill(store, 0, stored, grouped=True)
        n = stored
        for r in range(rounds):
            times["plain"].append(scale.fill(plain, stored + r * batch,
                                             stored + (r + 1) * batch, grouped=False))
            times["index"].append(scale.fill(store, n, n + batch, grouped=True))
            find_story = archive.find_story
            archive.find_story = archive.scan_story  # the grouping before the index, timed alike
            try:
                times["scan"].append(scale.fill(store, n + batch, n + 2 * batch, grouped=True))
            finally:
                archive.find_story = find_story
            n += 2 * batch
        plain.close()
        joined = n - store.count("stories")
        agree = 0
        for i in range(n, n + more):
            c = scale.made_up(i)
            at = BASE + dt.timedelta(minutes=i)
            sig = signature(c.title, c.body, at)
            by_scan = archive.scan_story(store, sig, window)
            agree += archive.find_story(store, sig, window) == by_scan
            scale.add(store, i, c, at, grouped=True)
        n += more
        # The story set, published after the made-up stories.
        p, r, same, _ = story_set(store, scale.settings, articles, window,
                               BASE + dt.timedelta(minutes=n), n)
        keys, terms = store.count("signature_keys"), store.count("signature_terms")
        total = store.count("signatures")
        store.close()
    ms = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nwith {stored:,} made-up distinct stories stored (one a minute):")
    print(f"  storing one more clipping (median of {rounds} interleaved batches of {batch}): "
          f"{ms['plain']:.1f} ms without grouping; with grouping {ms['index']:.1f} ms through "
          f"the index (ratio {ms['index'] / ms['plain']:.1f}), {ms['scan']:.1f} ms comparing "
          f"with every clipping of 14 days (ratio {ms['scan'] / ms['plain']:.1f})")
    print(f"  storing the first {stored:,} with grouping: {filling:.1f} ms each "
          f"({filling * stored / 1000:.0f} s); index rows per clipping: {keys / total:.0f} keys, "
          f"{terms / total:.0f} words")
    print(f"  {joined} of the {n - more:,} made-up stories joined another; on {more} more, the "
          f"index chose the exhaustive comparison's story for {agree}")
    print(f"  the story set stored after them: precision {p:.3f}, recall {r:.3f}; the index "
          f"chose the exhaustive comparison's story for {same} of {len(articles)} articles")
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", default="72h", help="story_window (default 72h)")
    parser.add_argument("--stored", type=int, nargs="*", default=[2000, 20000],
                        help="clippings already stored for the cost of one more "
                             "(default: 2000 20000)")
    args = parser.parse_args()
    window = dt.timedelta(seconds=parse_duration(args.window))
    articles = sorted((json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()
                       if line.strip()), key=lambda a: a["hours"])
    truth = {a["id"]: a["event"] for a in articles}
    events = len(set(truth.values()))
    pairs = sum(1 for i, x in enumerate(articles) for y in articles[i + 1:]
                if x["event"] == y["event"])

    started = time.perf_counter()
    for a in articles:
        a["sig"] = signature(a["title"], a["body"], BASE + dt.timedelta(hours=a["hours"]))
    sig_ms = (time.perf_counter() - started) * 1000 / len(articles)
    for a in articles:
        a["simhash"] = Simhash(existing_hash=content_fingerprint(f"{a['title']} {a['body']}"))

    def ours(a: dict, b: dict) -> float | None:
        v = compare(a["sig"], b["sig"], window)
        return (v.reason == "syndicated") * 10 + v.title + v.specifics if v.same else None

    def shingles_only(a: dict, b: dict) -> float | None:
        j = resemblance(a["sig"].sketch, b["sig"].sketch)
        c = containment(a["sig"].sketch, a["sig"].shingles, b["sig"].sketch, b["sig"].shingles)
        return j if j >= 0.5 or c >= 0.8 else None

    def simhash(threshold: float) -> Callable[[dict, dict], float | None]:
        def similar(a: dict, b: dict) -> float | None:
            s = a["simhash"].similarity(b["simhash"])
            return s if s >= threshold else None
        return similar

    started = time.perf_counter()
    found = group(articles, ours)
    compare_us = ((time.perf_counter() - started) * 1e6
                  / (len(articles) * (len(articles) - 1) / 2))
    methods = [("ours: shingle sketch + headline names + window", found),
               ("shingle sketch only (near-duplicates)", group(articles, shingles_only))]
    methods += [(f"trafilatura fingerprint (SimHash), similarity >= {t}",
                 group(articles, simhash(t))) for t in (0.95, 0.9, 0.85, 0.8, 0.75, 0.7)]

    print(f"{len(articles)} articles, {events} events, {pairs} pairs that report one event; "
          f"story_window {args.window}\n")
    print(f"{'method':<58}{'precision':>10}{'recall':>8}{'stories':>9}")
    for name, stories in methods:
        p, r = pairwise_scores(truth, stories)
        print(f"{name:<58}{p:>10.3f}{r:>8.3f}{len(set(stories.values())):>9}")
    print(f"\ncost: signature {sig_ms:.2f} ms per clipping; comparison {compare_us:.1f} µs per "
          f"pair")
    import tempfile

    from monitor.store import archive
    from monitor.store.database import Store

    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "set.db")
        settings = archive.StorySettings(window=window, update_window=None)
        p, r, agree, in_store = story_set(store, settings, articles, window, BASE, 0)
        store.close()
    print(f"ours through the store (monitor.archive, candidates through its index): precision "
          f"{p:.3f}, recall {r:.3f}; the exhaustive comparison's story for {agree} of "
          f"{len(articles)} articles")
    for update_window, passes, when in (
            ("", dt.timedelta(hours=6), "a delivery pass every 6 hours"),
            ("off", dt.timedelta(hours=6), "every 6 hours, updates off"),
            ("", None, "one poll, then one delivery pass")):
        flagged, missing, sent = flagged_without_alert(articles, update_window, passes)
        print(f"alerts with the default rules, {when}: {flagged} flagged (event, notifier) "
              f"pairs, {sent} alerts sent; flagged events without an alert: {missing}")
    costs = {stored: store_cost(stored, articles, window) for stored in args.stored}
    if len(costs) > 1:
        low, high = min(costs), max(costs)
        print(f"\nstoring one clipping with {high:,} stored against {low:,}: "
              f"x{costs[high]['index'] / costs[low]['index']:.2f} through the index, "
              f"x{costs[high]['scan'] / costs[low]['scan']:.2f} comparing with every clipping, "
              f"x{costs[high]['plain'] / costs[low]['plain']:.2f} without grouping")
    print("\nour stories (through the store), those of more than one article:")
    by_story: dict[str, list[str]] = {}
    for article_id, story in in_store.items():
        by_story.setdefault(story, []).append(article_id)
    for members in by_story.values():
        if len(members) > 1:
            print("  " + ", ".join(members))


if __name__ == "__main__":
    main()
