"""`monitor export DIR`: the stored clippings as clipping files (NNN_<id>.txt, like the
seed), JSON lines (DIR/clippings.jsonl) or CSV (DIR/clippings.csv), filtered by --flagged,
--since and --rule. Every format adds only stories not yet in DIR, so exporting into the same
folder again (from cron, say) adds what is new and leaves the rest alone.

The text comes from the network: terminal controls and bidi overrides are escaped (safetext) in
every format, CSV cells cannot start a formula, and the files are created 0600, never through a
symbolic link (store.files).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from monitor import clipping as clippings
from monitor.models import ClippingRecord, Progress, no_progress
from monitor.safetext import csv_cell, escape
from monitor.store.files import open_private
from monitor.store.search import export_rows
from monitor.store.database import Store

FORMATS = ("clipping", "jsonl", "csv")
FIELDS = ("id", "story_id", "url", "title", "standfirst", "source", "date", "author", "lang",
          "flagged", "rules", "tags", "origin", "published", "created_at", "mark", "body")


def rows(store: Store, *, flagged: bool = False, since: str | None = None,
         rule: str | None = None) -> Iterator[ClippingRecord]:
    """The clippings to export, oldest first (the order they arrived, as files are numbered)."""
    return export_rows(store, flagged=flagged, since=since, rule=rule)


def record(r: ClippingRecord) -> dict[str, Any]:
    return {"id": r.id, "story_id": r.story_id, "url": r.url, "title": r.title,
            "standfirst": r.standfirst, "source": r.source, "date": r.date,
            "author": r.author, "lang": r.lang, "flagged": r.flagged,
            "rules": list(r.rules), "tags": list(r.tags),
            "origin": r.origin, "published": r.published, "created_at": r.created_at,
            "mark": r.mark, "body": r.body}


def _clipping_files(folder: Path, found: Iterator[ClippingRecord]) -> tuple[int, int]:
    existing = {p.stem.split("_", 1)[-1] for p in folder.glob("[0-9]*_*.txt")}
    numbers = [int(p.stem.split("_", 1)[0]) for p in folder.glob("[0-9]*_*.txt")
               if p.stem.split("_", 1)[0].isdigit()]
    n = max(numbers, default=-1) + 1
    written = 0
    for r in found:
        if r.id in existing:
            continue
        # "x": a file (or a link) already under the next number is never overwritten.
        with open_private(folder / clippings.filename(r.id, n), "x", encoding="utf-8") as out:
            out.write(escape(r.text))
        existing.add(r.id)
        n += 1
        written += 1
    return written, len(existing) - written


def _jsonl(path: Path, found: Iterator[ClippingRecord]) -> tuple[int, int]:
    existing: set[str] = set()
    if path.exists() or path.is_symlink():
        with open_private(path, "r", encoding="utf-8") as f:
            for line in f.read().splitlines():
                if line.strip():
                    existing.add(json.loads(line)["id"])
    written = 0
    with open_private(path, "a", encoding="utf-8") as out:
        for r in found:
            if r.id not in existing:
                # json.dumps leaves C1 controls, bidi overrides and U+2028 raw with
                # ensure_ascii=False; escaped the JSON way, a parser reads the same string.
                out.write(escape(json.dumps(record(r), ensure_ascii=False)) + "\n")
                existing.add(r.id)
                written += 1
    return written, len(existing) - written


def _csv(path: Path, found: Iterator[ClippingRecord]) -> tuple[int, int]:
    existing: set[str] = set()
    new_file = not path.is_symlink() and (not path.exists() or path.stat().st_size == 0)
    # utf-8-sig: a new file starts with a byte-order mark, without which spreadsheet programs
    # read UTF-8 as their local code page; reading skips it, appending writes none.
    if not new_file:
        with open_private(path, "r", newline="", encoding="utf-8-sig") as f:
            existing = {row["id"] for row in csv.DictReader(f)}
    written = 0
    with open_private(path, "a", newline="", encoding="utf-8-sig") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        for r in found:
            if r.id in existing:
                continue
            rec = record(r)
            rec["rules"] = " ".join(rec["rules"])
            rec["tags"] = "; ".join(rec["tags"])  # a cell, not markdown: no [[wiki links]]
            writer.writerow({k: csv_cell(v) if isinstance(v, str) else v for k, v in rec.items()})
            existing.add(r.id)
            written += 1
    return written, len(existing) - written


def _counted(found: Iterator[ClippingRecord], progress: Progress) -> Iterator[ClippingRecord]:
    done = 0
    for r in found:
        yield r
        done += 1
        progress(done, None)


def export(store: Store, folder: Path, *, fmt: str = "clipping", flagged: bool = False,
           since: str | None = None, rule: str | None = None,
           progress: Progress = no_progress) -> tuple[int, int, Path]:
    """Write what is new; (written, already there, where). ``progress`` hears of each
    clipping looked at."""
    folder.mkdir(parents=True, exist_ok=True)
    found = _counted(rows(store, flagged=flagged, since=since, rule=rule), progress)
    if fmt == "jsonl":
        path = folder / "clippings.jsonl"
        return (*_jsonl(path, found), path)
    if fmt == "csv":
        path = folder / "clippings.csv"
        return (*_csv(path, found), path)
    return (*_clipping_files(folder, found), folder)
