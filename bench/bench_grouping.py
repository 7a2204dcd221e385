"""One story per event (issue 6): pairwise precision and recall of the grouping on our own test
set (tests/data/stories/articles.jsonl: events reported by several outlets, reworded or
syndicated, and different events worded alike), beside simpler methods, and its cost.

    python bench/bench_grouping.py [--window 72h]

Each method sees the articles in publication order and puts each one in the story of the most
similar earlier article it accepts, else a new story (as monitor.archive does). Pairwise: over
every pair of articles, precision = pairs put together that report one event / pairs put
together; recall = pairs put together / pairs that report one event. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trafilatura.deduplication import Simhash, content_fingerprint  # noqa: E402

from monitor.config import parse_duration  # noqa: E402
from monitor.grouping import (compare, containment, pairwise_scores, resemblance,  # noqa: E402
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


def store_cost(stored: int) -> None:
    """Time to store one more clipping, grouping included, beside the same without grouping
    (Store.add_story alone), with ``stored`` clippings of the last days already there."""
    import random
    import tempfile

    from monitor import archive
    from monitor.clipping import make_clipping
    from monitor.store import Store

    rng = random.Random(6)
    # A stream of distinct stories: the test set's words in lower case, each story with names
    # of its own and two of ten names every story of the field repeats (ACE, IPTV, Europol...).
    vocabulary = [w for w in (w.strip('.,;:"()').lower() for w in
                              DATA.read_text(encoding="utf-8").split()) if w.isalpha()]
    settings = archive.StorySettings(window=dt.timedelta(hours=72), update_window=None)
    common = ["ACE", "IPTV", "Europol", "LaLiga", "DAZN", "Sky", "Arcom", "MPA", "BREIN", "Netflix"]

    def name() -> str:
        return "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)).title()

    def clipping(i: int) -> object:
        names = [name() for _ in range(5)] + rng.sample(common, 2)
        words = [rng.choice(vocabulary) for _ in range(300)]
        for n in names:
            words.insert(rng.randrange(1, len(words)), n)
        title = " ".join([names[0]] + [rng.choice(vocabulary) for _ in range(8)])
        return make_clipping(title=title, body=" ".join(words), source="s",
                             url=f"https://x.test/{i}")

    def add(store: Store, i: int, grouped: bool) -> None:
        c = clipping(i)
        now = BASE + dt.timedelta(minutes=i)
        story = dict(clipping_id=f"{i:016x}", clipping=c, text="x", origin="feed",
                     fingerprint="", feed_url="f", guid=None, canonical=c.url, published=now,
                     matches=[], alerts={}, now=now)
        if grouped:
            archive.record_story(store, settings, at=now, **story)
        else:
            store.add_story(**story)

    timings = {}
    for grouped in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            store = Store(Path(folder) / "bench.db")
            for i in range(stored):
                add(store, i, grouped)
            started = time.perf_counter()
            for i in range(stored, stored + 50):
                add(store, i, grouped)
            timings[grouped] = (time.perf_counter() - started) / 50 * 1000
            if grouped:
                joined = stored + 50 - store.count("stories")
            store.close()
    print(f"storing one clipping with {stored} stored: {timings[True]:.1f} ms with grouping, "
          f"{timings[False]:.1f} ms without (ratio {timings[True] / timings[False]:.1f}); "
          f"{joined} of these {stored + 50} distinct made-up stories were wrongly joined to another")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", default="72h", help="story_window (default 72h)")
    parser.add_argument("--stored", type=int, default=2000,
                        help="clippings already stored for the cost of one more (default 2000)")
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
          f"pair (the store compares a new clipping with those of the last 14 days)")
    store_cost(args.stored)
    print("\nour stories:")
    by_story: dict[str, list[str]] = {}
    for article_id, story in found.items():
        by_story.setdefault(story, []).append(article_id)
    for members in by_story.values():
        print("  " + ", ".join(members))


if __name__ == "__main__":
    main()
