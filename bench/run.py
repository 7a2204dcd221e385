"""Benchmark of the polling engine, measured in one run on this machine, against a local feed
server (bench/feedserver.py, 127.0.0.1 only). Prints:

1. a cycle where every feed answers 304, for 1,000 and 10,000 feeds: feeds per second and peak
   resident memory of the process, beside a naive sequential `feedparser.parse(url, etag=...)`
   loop;
2. a cold cycle with ITEMS new items on each of COLD feeds, page fetching on: articles per
   second end to end (`monitor run --once`'s code: fetch, parse, page fetch, extraction in two
   worker processes, matching, storing), against bare `trafilatura.extract` on the same pages in
   two worker processes (with default options, and with the options the monitor uses), and a
   naive sequential `feedparser.parse` + `trafilatura.extract` loop.

Every measurement runs in a fresh child process (so peak memory is the cycle's own).

    python bench/run.py                       # 1,000 and 10,000 feeds; cold: 100 feeds x 20
                                              # (about 10 minutes here)
    python bench/run.py --sizes 1000 --cold-feeds 1000   # the full cold cycle (about 30 min)
    python bench/run.py --profile             # pyinstrument profiles in bench/out/ (.[bench])
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PAGES = REPO.parent / "shared" / "corpora" / "pages" / "trafilatura"
OUT = BENCH / "out"
RULES_MARKER = "# === Rules"


def write_config(folder: Path, base: str, feeds: int, *, fetch_pages: bool, concurrency: int) -> Path:
    rules = (REPO / "config.toml").read_text(encoding="utf-8")
    rules = rules[rules.index(RULES_MARKER):]
    lines = ["[monitor]", 'database = "bench.db"', 'interval = "15m"', "",
             "[fetch]", "allow_private_networks = true", "timeout = 30", "total_timeout = 120",
             f"fetch_pages = {'true' if fetch_pages else 'false'}",
             # every feed is on one host here: the per-host limit is the global one
             f"concurrency = {concurrency}", f"per_host = {concurrency}", ""]
    for n in range(feeds):
        lines += ["[[feeds]]", f'url = "{base}/feed/{n}.xml"', ""]
    for name in ("webhook", "email"):  # the default rule names them; no alert is sent here
        lines += ["[[notifiers]]", f'name = "{name}"', 'type = "webhook"', "enabled = false",
                  'url = "http://127.0.0.1:9/unused"', ""]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n" + rules, encoding="utf-8")
    return path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- children: each prints one JSON object ------------------------------------------------------

def child_cycle(config_path: str) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    import logging

    from monitor.config import load_config
    from monitor.daemon import run_once

    logging.basicConfig(level=logging.WARNING)
    config = load_config(Path(config_path))
    profile = os.environ.get("BENCH_PROFILE")
    profiler = None
    if profile:
        from pyinstrument import Profiler
        profiler = Profiler(async_mode="enabled")
        profiler.start()
    started = time.perf_counter()
    report = asyncio.run(run_once(config))
    elapsed = time.perf_counter() - started
    if profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, show_all=False), encoding="utf-8")
    return {"seconds": elapsed, "polled": report.feeds_polled, "not_modified": report.not_modified,
            "new": report.new_clippings, "errors": len(report.errors), "peak_mb": peak_mb()}


def child_naive_304(base: str, feeds: int) -> dict[str, float]:
    import feedparser

    urls = [f"{base}/feed/{n}.xml" for n in range(feeds)]
    etags = {url: feedparser.parse(url).get("etag") for url in urls}  # not timed: first poll
    started = time.perf_counter()
    not_modified = sum(feedparser.parse(url, etag=etags[url]).get("status") == 304 for url in urls)
    return {"seconds": time.perf_counter() - started, "polled": feeds,
            "not_modified": not_modified, "peak_mb": peak_mb()}


def child_naive_cold(base: str, feeds: int) -> dict[str, float]:
    import feedparser
    sys.path.insert(0, str(REPO))

    started = time.perf_counter()
    articles = 0
    for n in range(feeds):
        for entry in feedparser.parse(f"{base}/feed/{n}.xml").entries:
            html = urllib.request.urlopen(entry.link, timeout=30).read()
            # the same extraction work as the monitor's (metadata, markdown), one page at a time
            if _extract_monitor_options((entry.link, html)):
                articles += 1
    return {"seconds": time.perf_counter() - started, "new": articles, "peak_mb": peak_mb()}


def _extract_default(page: tuple[str, bytes]) -> bool:
    import trafilatura
    return trafilatura.extract(page[1], url=page[0]) is not None


def _extract_monitor_options(page: tuple[str, bytes]) -> bool:
    import trafilatura

    from monitor.extract import DATE_PARAMS
    return trafilatura.extract(
        page[1], url=page[0], with_metadata=True, include_links=True, include_images=True,
        include_formatting=True, include_comments=False, output_format="markdown",
        date_extraction_params=DATE_PARAMS) is not None


def child_bare(base: str, feeds: int, items: int, options: str) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    pages = []
    for n in range(feeds):  # downloaded first, not timed: the baseline is extraction alone
        for j in range(items):
            url = f"{base}/page/{n}/{j}.html"
            pages.append((url, urllib.request.urlopen(url, timeout=30).read()))
    func = _extract_default if options == "default" else _extract_monitor_options
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(func, pages[:4]))  # workers started and warm
        started = time.perf_counter()
        extracted = sum(pool.map(func, pages, chunksize=8))
        elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "new": extracted, "pages": len(pages), "peak_mb": peak_mb()}


def run_child(*args: str, profile: Path | None = None) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if profile:
        env["BENCH_PROFILE"] = str(profile)
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", *args],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the benchmark -----------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="feed counts of the 304 cycle")
    parser.add_argument("--cold-feeds", type=int, default=100)
    parser.add_argument("--items", type=int, default=20, help="new items per feed, cold cycle")
    parser.add_argument("--concurrency", type=int, default=20,
                        help="[fetch] concurrency (default: the shipped default)")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profiles in bench/out/")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = {"cycle": lambda: child_cycle(rest[0]),
                  "naive304": lambda: child_naive_304(rest[0], int(rest[1])),
                  "naivecold": lambda: child_naive_cold(rest[0], int(rest[1])),
                  "bare": lambda: child_bare(rest[0], int(rest[1]), int(rest[2]), rest[3])}[kind]()
        print(json.dumps(result))
        return

    OUT.mkdir(exist_ok=True)
    command = [sys.executable, str(BENCH / "feedserver.py"), "--items", str(args.items)]
    if PAGES.is_dir():
        command += ["--pages", str(PAGES)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"

        def set_round(r: int) -> None:
            urllib.request.urlopen(f"{base}/round/{r}", timeout=10).read()

        print(f"monitor benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
              f"pages: {'the 240 real pages of ../shared/corpora' if PAGES.is_dir() else 'generated'}")
        print(f"[fetch] concurrency = per_host = {args.concurrency} (every feed is on one host)\n")
        print("1. every feed answers 304")
        for size in [int(s) for s in args.sizes.split(",")]:
            set_round(0)
            with tempfile.TemporaryDirectory() as tmp:
                config = write_config(Path(tmp), base, size, fetch_pages=False,
                                      concurrency=args.concurrency)
                warm = run_child("cycle", str(config))
                assert warm["polled"] == size and warm["errors"] == 0, warm
                profile = OUT / f"profile-304-{size}.txt" if args.profile else None
                hot = run_child("cycle", str(config), profile=profile)
                assert hot["not_modified"] == size, hot
            naive = run_child("naive304", base, str(size))
            assert naive["not_modified"] == size, naive
            rate, naive_rate = size / hot["seconds"], size / naive["seconds"]
            print(f"   {size:>6} feeds: monitor {rate:7.0f} feeds/s, peak RSS {hot['peak_mb']:5.0f} MB"
                  f" | naive sequential {naive_rate:5.0f} feeds/s, peak RSS {naive['peak_mb']:4.0f} MB"
                  f" | x{rate / naive_rate:.1f}")

        feeds, items = args.cold_feeds, args.items
        print(f"\n2. cold cycle: {items} new items on each of {feeds} feeds ({feeds * items} articles)")
        set_round(1)
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), base, feeds, fetch_pages=True,
                                  concurrency=args.concurrency)
            profile = OUT / f"profile-cold-{feeds}.txt" if args.profile else None
            cold = run_child("cycle", str(config), profile=profile)
        bare_default = run_child("bare", base, str(feeds), str(items), "default")
        bare_same = run_child("bare", base, str(feeds), str(items), "monitor")
        naive = run_child("naivecold", base, str(feeds))
        rate = cold["new"] / cold["seconds"]
        print(f"   monitor run --once:      {rate:6.1f} articles/s ({cold['new']} clippings in "
              f"{cold['seconds']:.0f}s, {cold['errors']} errors, peak RSS {cold['peak_mb']:.0f} MB)")
        for label, bare in (("default options", bare_default), ("the monitor's options", bare_same)):
            bare_rate = bare["pages"] / bare["seconds"]
            print(f"   bare trafilatura.extract, 2 processes, {label}: {bare_rate:6.1f} pages/s"
                  f" -> monitor at {100 * rate / bare_rate:.0f}% of it")
        naive_rate = naive["new"] / naive["seconds"]
        print(f"   naive sequential loop:   {naive_rate:6.1f} articles/s -> monitor x{rate / naive_rate:.1f}")
        if args.profile:
            print(f"\nprofiles: {OUT}/")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
