"""What an extraction worker costs per page, and what it finds, against bare trafilatura.

On the 240 real pages of ../shared/corpora/pages/trafilatura (upstream's expected snippets in
expected.json), in one run:

1. CPU per page of bare `trafilatura.extract` with default options, of `extract_article`, and
   of the whole `analyse_page` (extraction, language, grouping signature, gzip, SHA-256), with
   the feed giving the title and date ("typical": the page's byline is still looked for) or
   nothing ("feed gives nothing"),
   and of each part; with --before REF, the same for the code of git ref REF (say `main`) in a
   second process, page by page in turn with this tree's, so that both see the same load;
2. precision, recall and F1 against the snippets (monitor.parse.quality): the markdown read as
   text ("reader": links as their text, images, emphasis and escapes left out, white space
   squeezed) and, stricter, only links reduced to their text ("links");
3. the breakdown: what each trafilatura option costs and does to those figures, each piece of
   the metadata, the serialisation, the fingerprint, the signature, gzip levels, SHA-256 and
   the language guess.

Every figure is CPU time (time.process_time in the process doing the work), the parts of one
page measured one after the other in a rotating order; the machine's load average is printed.

    python bench/bench_extract.py                    # this tree (about 3 minutes here)
    python bench/bench_extract.py --before main      # and main's code beside it, page by page
                                                     # (about 5 minutes)
    python bench/bench_extract.py --no-breakdown --rounds 2
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PAGES = REPO.parent / "shared" / "corpora" / "pages" / "trafilatura"


def load_pages(folder: Path) -> list[dict[str, Any]]:
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    pages = []
    for name in sorted(expected):
        e = expected[name]
        meta = e.get("source_metadata") or {}
        if ARGS.limit and len(pages) >= ARGS.limit:
            break
        pages.append({"name": name, "url": e["url"] or f"https://example.org/{name}",
                      "content": (folder / name).read_bytes(), "title": meta.get("title") or "",
                      "with": e["must_contain"], "without": e["must_not_contain"]})
    return pages


# --- the child: one process per side, answering one page at a time -----------------------------

def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    try:
        result = fn()
    except Exception as e:  # an ExtractError is a result (no article), as in the workers
        result = e
    return time.process_time() - start, result


def child(root: str, folder: str) -> None:
    sys.path.insert(0, root)
    import inspect

    import trafilatura

    from monitor.clipping import make_clipping
    from monitor.decide.grouping import signature
    from monitor.fetch.body import page_text
    from monitor.models import FetchResult
    from monitor.parse.extract import extract_article
    from monitor.parse.language import guess_language
    from monitor.parse.page import compress
    from monitor.pipeline.analysis import UNSET, analyse_page

    told = "date" in inspect.signature(analyse_page).parameters  # can skip the date and author
    print(f"{root}: {sys.modules['monitor'].__file__}", file=sys.stderr)
    pages = load_pages(Path(folder))
    results = [FetchResult(url=p["url"], status=200, content=p["content"],
                           headers={"content-type": "text/html"}) for p in pages]

    def page_tasks(i: int) -> dict[str, Callable[[], Any]]:
        p, page = pages[i], results[i]
        typical: Callable[[], Any] = (
            (lambda: analyse_page(page, p["title"], False)) if told
            else (lambda: analyse_page(page, p["title"])))
        return {
            "bare": lambda: trafilatura.extract(p["content"], url=p["url"]),
            "extract_article": lambda: extract_article(page_text(page), page.url),
            "analyse_page typical": typical,
            "analyse_page feed gives nothing": lambda: analyse_page(page, ""),
        }

    def parts(i: int, article: Any) -> dict[str, float]:
        p, page = pages[i], results[i]
        clip = make_clipping(title=p["title"] or article.title, body=article.body)
        tasks = {"signature": lambda: signature(clip.title, clip.body, UNSET),
                 "language": lambda: guess_language(f"{clip.title}\n{clip.body}"),
                 "gzip": lambda: compress(page.content),
                 "sha256": lambda: hashlib.sha256(page.content).hexdigest()}
        return {k: _timed(f)[0] for k, f in tasks.items()}

    out, inp = sys.stdout.buffer, sys.stdin.buffer
    while True:
        try:
            command, i, turn = pickle.load(inp)
        except EOFError:
            return
        if command == "page":
            tasks = page_tasks(i)
            names = list(tasks)
            names = names[turn % len(names):] + names[:turn % len(names)]
            cpu, texts = {}, {}
            for name in names:
                cpu[name], result = _timed(tasks[name])
                if name == "bare":
                    texts[name] = result if isinstance(result, str) else None
                elif name == "extract_article":
                    texts[name] = None if isinstance(result, Exception) else result.body
                    if not isinstance(result, Exception):
                        cpu.update(parts(i, result))
            pickle.dump((cpu, texts), out)
        else:
            pickle.dump(breakdown(pages[i], results[i], turn), out)
        out.flush()


def breakdown(p: dict[str, Any], page: Any, turn: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Each option's cost and output on one page (this tree's code)."""
    import trafilatura
    from trafilatura import metadata as tm
    from trafilatura.deduplication import content_fingerprint
    from trafilatura.utils import load_html
    from trafilatura.xml import xmltotxt

    from monitor.fetch.body import page_text
    from monitor.parse.byline import find_author
    from monitor.parse.extract import DATE_PARAMS, complexity_problem, fingerprint

    text, url = page_text(page), p["url"]
    base = {"include_comments": False}
    ladder: dict[str, dict[str, Any]] = {
        "options: none (no comments, plain text)": base,
        "+ formatting (markdown)": {**base, "output_format": "markdown"},
        "+ formatting + links": {**base, "output_format": "markdown", "include_links": True},
        "+ formatting + images": {**base, "output_format": "markdown", "include_images": True},
        "+ formatting + links + images": {**base, "output_format": "markdown",
                                          "include_links": True, "include_images": True},
        "+ all + metadata, monitor's date params": {
            **base, "output_format": "markdown", "include_links": True, "include_images": True,
            "with_metadata": True, "date_extraction_params": DATE_PARAMS},
        "+ all + metadata, htmldate's defaults": {
            **base, "output_format": "markdown", "include_links": True, "include_images": True,
            "with_metadata": True},
    }
    tasks: dict[str, Callable[[], Any]] = {
        name: (lambda kw=kw: _serialised(trafilatura.bare_extraction(text, url=url, **kw), kw,
                                         xmltotxt))
        for name, kw in ladder.items()}
    tree = load_html(text)
    doc = trafilatura.bare_extraction(text, url=url, include_comments=False,
                                      output_format="markdown", include_links=True,
                                      include_images=True)
    body = doc.body if doc is not None else None
    raw = doc.raw_text if doc is not None else ""
    tasks.update({
        "parse (load_html)": lambda: load_html(text),
        "metadata kept (meta, JSON-LD, title, url, site)": lambda: (
            tm.extract_meta_json(tree, tm.examine_meta(tree)), tm.extract_title(tree),
            tm.extract_url(tree, url), tm.extract_sitename(tree)),
        "metadata: author past the meta tags": lambda: tm.extract_author(tree),
        "metadata: the same, monitor's find_author": lambda: find_author(tree),
        "metadata: date (htmldate, monitor's params)": lambda: tm.find_date(tree, url=url,
                                                                            **DATE_PARAMS),
        "metadata: categories and tags": lambda: (tm.extract_catstags("category", tree),
                                                  tm.extract_catstags("tag", tree)),
        "metadata: licence": lambda: tm.extract_license(tree),
        "deepcopy of the body": lambda: copy.deepcopy(body),
        "serialisation (xmltotxt, markdown)": lambda: xmltotxt(body, True),
        "content_fingerprint (trafilatura's)": lambda: content_fingerprint(raw),
        "fingerprint (the monitor's, the same hex)": lambda: fingerprint(raw),
        "complexity_problem": lambda: complexity_problem(text),
    })
    for level in (1, 3, 6, 9):
        tasks[f"gzip level {level}"] = (
            lambda level=level: len(gzip.compress(page.content, compresslevel=level, mtime=0)))
    names = list(tasks)
    names = names[turn % len(names):] + names[:turn % len(names)]
    cpu, outputs = {}, {}
    for name in names:
        cpu[name], result = _timed(tasks[name])
        if name in ladder:
            outputs[name] = result if isinstance(result, str) else None
        elif name.startswith("gzip"):
            outputs[name] = result
    return cpu, outputs


def _serialised(doc: Any, kw: dict[str, Any], xmltotxt: Any) -> str | None:
    if doc is None or doc.body is None:
        return None
    return str(xmltotxt(doc.body, kw.get("output_format") == "markdown"))


# --- the driver -------------------------------------------------------------------------------

class Side:
    def __init__(self, label: str, root: Path) -> None:
        self.label = label
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", str(root), "--pages", str(ARGS.pages)]
            + (["--limit", str(ARGS.limit)] if ARGS.limit else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)})

    def ask(self, command: str, i: int, turn: int) -> Any:
        assert self.proc.stdin and self.proc.stdout
        pickle.dump((command, i, turn), self.proc.stdin)
        self.proc.stdin.flush()
        return pickle.load(self.proc.stdout)

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait()


def _scores(pages: list[dict[str, Any]], texts: list[str | None], reading: str) -> str:
    from monitor.parse.quality import SnippetScore, score

    total = SnippetScore(0, 0, 0, 0)
    for p, t in zip(pages, texts):
        total += score(t, p["with"], p["without"], reading)
    return f"P {total.precision:.3f} R {total.recall:.3f} F1 {total.f1:.3f}"


def main() -> None:
    pages = load_pages(ARGS.pages)
    n = len(pages)
    sides = [Side("this tree", REPO)]
    tmp = None
    if ARGS.before:
        tmp = tempfile.TemporaryDirectory()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ARGS.before, "monitor"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp.name], input=archive, check=True)
        sides.insert(0, Side(f"{ARGS.before}", Path(tmp.name)))
    print(f"bench_extract: {n} pages of {ARGS.pages.name}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    for side in sides:  # imports, trafilatura's caches: not timed
        for i in range(min(8, n)):
            side.ask("page", i, i)
    cpu: dict[str, dict[str, float]] = {s.label: {} for s in sides}
    texts: dict[str, dict[str, list[str | None]]] = {s.label: {} for s in sides}
    started = time.perf_counter()
    for r in range(ARGS.rounds):
        for i in range(n):
            turn = r * n + i
            order = sides if turn % 2 == 0 else sides[::-1]  # page by page, in turn
            for side in order:
                page_cpu, page_texts = side.ask("page", i, turn)
                for k, v in page_cpu.items():
                    cpu[side.label][k] = cpu[side.label].get(k, 0.0) + v
                if r == 0:
                    for k, t in page_texts.items():
                        texts[side.label].setdefault(k, []).append(t)
    wall = time.perf_counter() - started
    print(f"   {ARGS.rounds} round(s), {wall:.0f} s wall; load average now "
          f"{os.getloadavg()[0]:.2f}")
    runs = n * ARGS.rounds
    for side in sides:
        c = cpu[side.label]
        bare = c["bare"] / runs
        print(f"\n== {side.label}: CPU per page (ms), and as a multiple of bare trafilatura's")
        for k, v in c.items():
            per = v / runs
            print(f"   {k:34s} {1e3 * per:7.2f} ms   x{per / bare:5.2f}")
        print("   quality against the snippets (reader: markdown read as text; links: only the "
              "links reduced to their text)")
        for k in ("bare", "extract_article"):
            reading = "plain" if k == "bare" else "markdown"
            print(f"   {k:17s} reader {_scores(pages, texts[side.label][k], reading)}   "
                  f"links {_scores(pages, texts[side.label][k], 'links')}")
    if len(sides) == 2:
        a, b = (cpu[s.label] for s in sides)
        print(f"\n== {sides[1].label} against {sides[0].label}, CPU per page")
        for k in a:
            if k in b and a[k]:
                print(f"   {k:34s} {1e3 * a[k] / runs:7.2f} -> {1e3 * b[k] / runs:7.2f} ms"
                      f"  ({b[k] / a[k]:.2f}x)")
    for side in sides:
        side.close()
    if tmp:
        tmp.cleanup()
    if ARGS.breakdown:
        print_breakdown(pages)


def print_breakdown(pages: list[dict[str, Any]]) -> None:
    side = Side("breakdown", REPO)
    n = len(pages)
    for i in range(min(8, n)):
        side.ask("breakdown", i, i)
    cpu: dict[str, float] = {}
    outputs: dict[str, list[Any]] = {}
    for i in range(n):
        page_cpu, page_out = side.ask("breakdown", i, i)
        for k, v in page_cpu.items():
            cpu[k] = cpu.get(k, 0.0) + v
        for k, v in page_out.items():
            outputs.setdefault(k, []).append(v)
    side.close()
    print(f"\n== breakdown (this tree), CPU per page; load average {os.getloadavg()[0]:.2f}")
    base = cpu["options: none (no comments, plain text)"]
    for k, v in cpu.items():
        line = f"   {k:48s} {1e3 * v / n:7.2f} ms"
        if k in outputs and not k.startswith("gzip"):
            reading = "plain" if k.startswith("options: none") else "markdown"
            line += (f"  x{v / base:4.2f} of none   reader {_scores(pages, outputs[k], reading)}"
                     f"  links {_scores(pages, outputs[k], 'links')}")
        print(line)
    raw = sum(len(p["content"]) for p in pages)
    for level in (1, 3, 6, 9):
        size = sum(outputs[f"gzip level {level}"])
        print(f"   gzip level {level}: {100 * size / raw:5.2f}% of the pages' {raw / 1e6:.1f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=Path, default=PAGES)
    parser.add_argument("--before", help="a git ref whose monitor/ to measure beside this tree")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=int, help="the first N pages only (a quick look)")
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    ARGS = parser.parse_args()
    if ARGS.child:
        child(ARGS.child, str(ARGS.pages))
    else:
        sys.path.insert(0, str(REPO))
        main()
