"""Benchmark of the polling engine, measured in one run on this machine, against a local feed
server (bench/feedserver.py, 127.0.0.1 only). Prints:

1. a cycle where every feed answers 304, for 1,000 and 10,000 feeds: feeds per second and peak
   resident memory, beside a naive sequential `feedparser.parse(url, etag=...)` loop. The
   cycle is timed in a runtime already open, as in the running daemon; `run --once` (the
   whole command, start-up included) is timed too;
2. a cold cycle with ITEMS new items on each of COLD feeds, page fetching on: articles per
   second end to end (`monitor run --once`'s cycle: fetch, parse, page fetch, extraction in two
   worker processes, matching, grouping into stories, evidence, storing), its two workers
   started and warm before the clock starts, against bare `trafilatura.extract` on the same
   pages in two warm worker processes (with the options the monitor uses: the same work; and
   with default options, which skip the metadata and markdown the monitor needs), and a naive
   sequential `feedparser.parse` + `trafilatura.extract` loop.

Beside the rates, the CPU time per feed or per article of each process (the monitor's, its
extraction workers', the feed server's), from /proc: the 2 cores are shared with whatever
else runs, which moves every wall-clock rate, and the CPU split shows what bounds a cycle.
Every measurement runs in a fresh child process (so peak memory is the cycle's own); the
monitor logs as the daemon does (text, level info) to a pipe.

    python bench/run.py                       # 1,000 and 10,000 feeds; cold: 1,000 feeds x 20
                                              # (about 35 minutes here)
    python bench/run.py --sizes 1000 --cold-feeds 20     # a quick look (about 1 minute)
    python bench/run.py --profile             # pyinstrument profiles in bench/out/ (.[bench])
    python bench/run.py --https --cold-feeds 0           # the 304 cycles over https (aiohttp over TLS)
    python bench/run.py --loop both --no-baselines       # the monitor's cycles on asyncio's loop
                                                         # and on uvloop's, one after the other
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
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

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

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def tree_cpu(pid: int) -> float:
    """CPU time of every process below ``pid`` (not its own): the live ones' user + system
    time, plus, through each one's cutime/cstime, their children that have exited. The
    extraction workers are children of the forkserver and are replaced every few hundred
    pages, so counting them by pid would lose the replaced ones."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                stats[int(entry.name)] = fields
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, list(children.get(pid, []))
    while todo:
        child = todo.pop()
        fields = stats[child]
        total += sum(int(fields[i]) for i in (11, 12, 13, 14))
        todo += children.get(child, [])
    return total / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


WARM_PAGE = ("<html><head><title>Warm-up</title></head><body><article><h1>Warm-up</h1>"
             + "<p>The workers import and warm trafilatura on this page before the clock starts, "
               "as the bare extraction's workers do on their first pages.</p>" * 8
             + "</article></body></html>")


def child_cycle(config_path: str, mode: str) -> dict[str, float]:
    """One cycle of `monitor run --once`'s code. ``once``: run_once() itself, start-up
    included (store, client, rules, worker processes). ``warm``: the cycle in a runtime already
    open, its extraction workers started and warm, as in the running daemon (and as the bare
    extraction below, which warms its workers before its clock starts)."""
    sys.path.insert(0, str(REPO))
    from monitor.service import logs
    from monitor.config import load_config
    from monitor.pipeline.cycle import open_runtime, run_cycle, run_once
    from monitor.parse.extract import extract_article
    from monitor.pipeline.update import CycleReport
    from monitor.pipeline.workers import ExtractionPool

    config = load_config(Path(config_path))
    logs.start("text")  # the daemon's logging, at its default level (info), to stderr
    logs.configure(config)
    profile = os.environ.get("BENCH_PROFILE")
    from monitor.service import eventloop
    use_uvloop = {"asyncio": False, "uvloop": True}.get(os.environ.get("BENCH_LOOP", "auto"))
    profiler: Any = None
    save: Callable[[], object] = lambda: None  # writes the profile to its file
    if profile and profile.endswith(".pstats"):  # CPU time of the main thread, by function
        import cProfile
        profiler = cProfile.Profile(time.thread_time)
        profiler.start, profiler.stop = profiler.enable, profiler.disable
        save = lambda: profiler.dump_stats(profile)  # noqa: E731
    elif profile:
        from pyinstrument import Profiler
        profiler = Profiler(async_mode="enabled")
        save = lambda: Path(profile).write_text(  # noqa: E731
            profiler.output_text(unicode=True, show_all=False), encoding="utf-8")

    async def warm_cycle() -> tuple[CycleReport, float, float, float, float]:
        report = CycleReport()
        opened = time.perf_counter()
        async with open_runtime(config) as runtime:
            pool = runtime.pipeline.executor
            if isinstance(pool, ExtractionPool):
                await asyncio.gather(*(pool.run(extract_article, WARM_PAGE, "")
                                       for _ in range(8)))
            start_up = time.perf_counter() - opened
            cpu0, workers0 = self_cpu(), tree_cpu(os.getpid())
            if profiler is not None:
                profiler.start()
            started = time.perf_counter()
            await run_cycle(runtime, config, report)
            elapsed = time.perf_counter() - started
            if profiler is not None:
                profiler.stop()
            worker_cpu = tree_cpu(os.getpid()) - workers0
            main_cpu = self_cpu() - cpu0
        return report, elapsed, main_cpu, worker_cpu, start_up

    if mode == "warm":
        report, elapsed, main_cpu, worker_cpu, start_up = eventloop.run(warm_cycle(), use_uvloop=use_uvloop)
    else:
        if profiler is not None:
            profiler.start()
        cpu0 = self_cpu()
        started = time.perf_counter()
        report = eventloop.run(run_once(config), use_uvloop=use_uvloop)
        elapsed = time.perf_counter() - started
        main_cpu, worker_cpu, start_up = self_cpu() - cpu0, 0.0, 0.0
        if profiler is not None:
            profiler.stop()
    save()
    return {"seconds": elapsed, "polled": report.feeds_polled, "not_modified": report.not_modified,
            "new": report.new_clippings, "errors": len(report.errors), "peak_mb": peak_mb(),
            "main_cpu": main_cpu, "worker_cpu": worker_cpu, "start_up": start_up,
            "error_list": report.errors[:5]}


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

    from monitor.parse.extract import DATE_PARAMS
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
        list(pool.map(func, pages[:8]))  # workers started and warm
        workers = list(pool._processes)
        cpu0 = sum(cpu_seconds(w) for w in workers)
        started = time.perf_counter()
        extracted = sum(pool.map(func, pages, chunksize=8))
        elapsed = time.perf_counter() - started
        worker_cpu = sum(cpu_seconds(w) for w in workers) - cpu0
    return {"seconds": elapsed, "new": extracted, "pages": len(pages), "peak_mb": peak_mb(),
            "worker_cpu": worker_cpu}


def run_child(*args: str, profile: Path | None = None, loop: str = "auto") -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(REPO), BENCH_LOOP=loop)
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
    parser.add_argument("--cold-feeds", type=int, default=1000,
                        help="feeds of the cold cycle (0: no cold cycle)")
    parser.add_argument("--https", action="store_true",
                        help="the feed server on https: the monitor fetches through aiohttp over TLS")
    parser.add_argument("--items", type=int, default=20, help="new items per feed, cold cycle")
    parser.add_argument("--concurrency", type=int, default=20,
                        help="[fetch] concurrency (default: the shipped default)")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profiles in bench/out/")
    parser.add_argument("--cpu-profile", action="store_true",
                        help="instead, cProfile's CPU time of the main thread, by function"
                             " (bench/out/*.pstats: python -m pstats FILE)")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop", "both"), default="auto",
                        help="the monitor's event loop (auto: the monitor's own choice, uvloop when"
                             " installed); both: each cycle timed on asyncio's, then on uvloop's")
    parser.add_argument("--repeat", type=int, default=1,
                        help="each 304 cycle timed this many times (with --loop both: alternating)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="the monitor's cycles only: no naive loop, no bare extraction")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = {"cycle": lambda: child_cycle(rest[0], rest[1]),
                  "naive304": lambda: child_naive_304(rest[0], int(rest[1])),
                  "naivecold": lambda: child_naive_cold(rest[0], int(rest[1])),
                  "bare": lambda: child_bare(rest[0], int(rest[1]), int(rest[2]), rest[3])}[kind]()
        print(json.dumps(result))
        return

    OUT.mkdir(exist_ok=True)
    suffix = ".pstats" if args.cpu_profile else ".txt" if args.profile else ""
    command = [sys.executable, str(BENCH / "feedserver.py"), "--items", str(args.items)]
    if PAGES.is_dir():
        command += ["--pages", str(PAGES)]
    certificates = tempfile.TemporaryDirectory()
    if args.https:
        command += ["--tls", *make_certificate(Path(certificates.name))]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        base = f"{'https' if args.https else 'http'}://127.0.0.1:{port}"

        def set_round(r: int) -> None:
            urllib.request.urlopen(f"{base}/round/{r}", timeout=10).read()

        print(f"monitor benchmark: {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f}), "
              f"Python {sys.version.split()[0]}, "
              f"pages: {'the 240 real pages of ../shared/corpora' if PAGES.is_dir() else 'generated'}")
        print(f"[fetch] concurrency = per_host = {args.concurrency} (every feed is on one host)")
        print("transport: https through aiohttp (HTTP/1.1 over TLS)\n" if args.https
              else "transport: plain http through aiohttp\n")
        print("1. every feed answers 304")
        print("   cycle: in a runtime already open, as in the running daemon; run --once: the "
              "whole command,\n   start-up included. CPU: the monitor's process and the feed "
              "server's, per feed.")
        loops = ["asyncio", "uvloop"] if args.loop == "both" else [args.loop]
        print(f"   event loop: {', '.join(loops)}"
              + (" (each cycle on asyncio's loop, then on uvloop's)" if len(loops) > 1 else ""))
        for size in [int(s) for s in args.sizes.split(",")]:
            set_round(0)
            with tempfile.TemporaryDirectory() as tmp:
                config = write_config(Path(tmp), base, size, fetch_pages=False,
                                      concurrency=args.concurrency)
                first = run_child("cycle", str(config), "once")  # the first poll: 200s, etags
                assert first["polled"] == size and first["errors"] == 0, first
                hots = []
                for loop in loops * args.repeat:
                    profile = (OUT / f"profile-304-{size}{'-' + loop if len(loops) > 1 else ''}"
                                     f"{suffix}" if suffix else None)
                    server0 = cpu_seconds(server.pid)
                    hot = run_child("cycle", str(config), "warm", profile=profile, loop=loop)
                    hots.append((loop, hot, cpu_seconds(server.pid) - server0))
                    assert hot["not_modified"] == size, hot
                once = run_child("cycle", str(config), "once", loop=loops[-1])
                assert once["not_modified"] == size, once
            naive = run_child("naive304", base, str(size)) if not args.no_baselines else None
            assert naive is None or naive["not_modified"] == size, naive
            for i, (loop, hot, server_cpu) in enumerate(hots):
                rate = size / hot["seconds"]
                label = f" ({loop})" if len(loops) > 1 else ""
                line = f"   {size:>6} feeds{label}: cycle {rate:6.0f} feeds/s"
                if i == len(hots) - 1:
                    line += (f", run --once {size / once['seconds']:6.0f} feeds/s, peak RSS"
                             f" {max(hot['peak_mb'], once['peak_mb']):4.0f} MB")
                if naive is not None and i == len(hots) - 1:
                    naive_rate = size / naive["seconds"]
                    line += (f" | naive sequential {naive_rate:5.0f} feeds/s,"
                             f" {naive['peak_mb']:3.0f} MB | x{rate / naive_rate:.1f}")
                print(line)
                print(f"   {'':>6}         CPU per feed: monitor {1e6 * hot['main_cpu'] / size:4.0f} us,"
                      f" feed server {1e6 * server_cpu / size:4.0f} us")

        feeds, items = args.cold_feeds, args.items
        if not feeds:
            return
        print(f"\n2. cold cycle: {items} new items on each of {feeds} feeds ({feeds * items} articles),"
              " pages fetched and extracted")
        set_round(1)
        colds = {}
        for loop in loops:
            with tempfile.TemporaryDirectory() as tmp:
                config = write_config(Path(tmp), base, feeds, fetch_pages=True,
                                      concurrency=args.concurrency)
                profile = (OUT / f"profile-cold-{feeds}{'-' + loop if len(loops) > 1 else ''}"
                                 f"{suffix}" if suffix else None)
                server0 = cpu_seconds(server.pid)
                cold = run_child("cycle", str(config), "warm", profile=profile, loop=loop)
                colds[loop] = cold, cpu_seconds(server.pid) - server0
        for loop, (cold, server_cpu) in colds.items():
            rate = cold["new"] / cold["seconds"]
            n = max(1, cold["new"])
            label = f" ({loop})" if len(loops) > 1 else ""
            print(f"   monitor cycle{label}: {rate:6.1f} articles/s ({cold['new']} clippings in "
                  f"{cold['seconds']:.0f}s, {cold['errors']} errors, peak RSS {cold['peak_mb']:.0f} MB;"
                  f" start-up before it {cold['start_up']:.1f}s)")
            print(f"      CPU per article: extraction workers {1e3 * cold['worker_cpu'] / n:5.1f} ms, "
                  f"the monitor's main process {1e3 * cold['main_cpu'] / n:5.1f} ms, "
                  f"feed server {1e3 * server_cpu / n:4.1f} ms")
            for error in cold["error_list"]:
                print(f"      error: {error}")
        if not args.no_baselines:
            bare_same = run_child("bare", base, str(feeds), str(items), "monitor")
            bare_default = run_child("bare", base, str(feeds), str(items), "default")
            naive = run_child("naivecold", base, str(feeds))
            for label, bare in (("the monitor's options (the same work)", bare_same),
                                ("default options (no metadata, plain text)", bare_default)):
                bare_rate = bare["pages"] / bare["seconds"]
                print(f"   bare trafilatura.extract, 2 processes, {label}: {bare_rate:6.1f} pages/s,"
                      f" {1e3 * bare['worker_cpu'] / bare['pages']:5.1f} ms CPU per page"
                      f" -> monitor at {100 * rate / bare_rate:.0f}% of it")
            naive_rate = naive["new"] / naive["seconds"]
            print(f"   naive sequential loop:   {naive_rate:6.1f} articles/s -> monitor x{rate / naive_rate:.1f}")
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
              " (the 2 cores are shared: other processes slow every figure above)")
        if suffix:
            print(f"\nprofiles: {OUT}/")
    finally:
        server.terminate()
        server.wait()
        certificates.cleanup()


def make_certificate(folder: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 from a certificate authority made here (trustme, a test
    dependency), which every child trusts through SSL_CERT_FILE (aiohttp, urllib, feedparser)."""
    try:
        import trustme
    except ImportError:
        raise SystemExit("--https needs trustme: pip install -e '.[test]'") from None
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    os.environ["SSL_CERT_FILE"] = str(folder / "ca.pem")
    return str(folder / "server.pem"), str(folder / "server.pem")


if __name__ == "__main__":
    main()
