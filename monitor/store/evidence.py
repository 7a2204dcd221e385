"""Evidence: enforcement stories get edited or pulled, so the raw page of every
clipping is kept (gzip-compressed) with its SHA-256 and fetch time; a flagged story's page is
fetched again at ``evidence_rechecks`` after the first fetch, and a new version (changed text,
or a page gone) is kept beside the old. ``write_case_file`` makes the folder of
`monitor evidence ID DIR`: the clipping, each raw page and a manifest of hashes.

SQL on the Store's connection, as in monitor.store.archive.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.errors import MonitorError
from monitor.models import DueRecheck
from monitor.parse.page import compress, sha256
from monitor.safetext import escape
from monitor.store.base import immediate, insert_row
from monitor.store.database import Store
from monitor.store.files import write_private

GONE_STATUSES = (404, 410, 451)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _add_snapshot(store: Store, clipping_id: str, *, url: str, status: int, content: bytes,
                  content_type: str, text: str | None, change: str, now: dt.datetime,
                  packed: tuple[bytes, str] | None = None) -> None:
    """``packed``: the content compressed and its SHA-256, when done already (in a worker:
    monitor.analysis)."""
    compressed, digest = packed or (compress(content), sha256(content))
    insert_row(store.db, "snapshots", {
        "clipping_id": clipping_id, "url": url, "fetched_at": _iso(now), "status": status,
        "sha256": digest, "size": len(content), "content_type": content_type,
        "raw": compressed, "change": change,
        "text_sha256": sha256(text.encode("utf-8")) if text is not None else None,
    })


def keep_page(store: Store, settings: Any, clipping_id: str, page: Any, *, flagged: bool,
              now: dt.datetime, packed: tuple[bytes, str] | None = None) -> None:
    """The first version of a story's page; a flagged story's page is scheduled for re-checks."""
    body = store.db.execute("select body from clippings where id = ?", [clipping_id]).fetchone()
    _add_snapshot(store, clipping_id, url=page.url, status=page.status, content=page.content,
                  content_type=page.headers.get("content-type", ""),
                  text=body[0] if body else None, change="first", now=now, packed=packed)
    if flagged and settings.rechecks:
        store.db.table("rechecks").insert({
            "clipping_id": clipping_id, "checks": 0, "state": "unchanged",
            "next_check": _iso(now + dt.timedelta(seconds=settings.rechecks[0])),
        }, replace=True)


def due_rechecks(store: Store, *, now: dt.datetime, feed_url: str | None = None,
                 limit: int = 20) -> list[DueRecheck]:
    """Flagged stories whose page is due for a re-check (of one feed, if given), oldest first."""
    sql = ("select r.clipping_id, r.checks, c.link, c.url, c.feed_url from rechecks r "
           "join clippings c on c.id = r.clipping_id where r.next_check is not null "
           "and r.next_check <= ?")
    params: list[Any] = [_iso(now)]
    if feed_url is not None:
        sql += " and c.feed_url = ?"
        params.append(feed_url)
    # The plain cursor, not sqlite-utils' query(), which wraps each statement in a savepoint
    # (three statements, not one): this lookup is made on every poll.
    rows = store.db.conn.execute(sql + " order by r.next_check limit ?", [*params, limit])
    return [DueRecheck(clipping_id=clipping_id, url=link or url, checks=checks or 0)
            for clipping_id, checks, link, url, _ in rows]


def record_recheck(store: Store, rechecks: tuple[float, ...], clipping_id: str, *,
                   now: dt.datetime, page: Any = None, text: str | None = None,
                   error: str | None = None) -> str:
    """Record one re-check: ``page`` (a FetchResult, any status) and its extracted article text
    (None when extraction failed), or ``error`` when it could not be fetched at all (nothing is
    concluded then). Returns the page's state: unchanged, changed, gone or error."""
    with immediate(store.db):
        first = store.db.execute("select min(fetched_at) from snapshots where clipping_id = ?",
                                 [clipping_id]).fetchone()[0]
        row = store.db.execute("select checks from rechecks where clipping_id = ?",
                               [clipping_id]).fetchone()
        checks = (row[0] if row else 0) + 1
        start = dt.datetime.fromisoformat(first) if first else now
        next_check = (_iso(start + dt.timedelta(seconds=rechecks[checks]))
                      if checks < len(rechecks) else None)
        state = "error"
        if page is not None:
            last = list(store.db.query(
                "select sha256, text_sha256, change, status from snapshots where clipping_id = ? "
                "order by id desc limit 1", [clipping_id]))
            previous = last[0] if last else None
            if page.status in GONE_STATUSES:
                state = "gone"
            elif previous is None or previous["change"] == "gone":
                state = "changed"
            elif text is not None and previous["text_sha256"]:
                state = ("unchanged" if sha256(text.encode("utf-8")) == previous["text_sha256"]
                         else "changed")
            else:
                state = "unchanged" if sha256(page.content) == previous["sha256"] else "changed"
            if state != "unchanged" and not (state == "gone" and previous
                                             and previous["change"] == "gone"):
                _add_snapshot(store, clipping_id, url=page.url, status=page.status,
                              content=page.content,
                              content_type=page.headers.get("content-type", ""), text=text,
                              change=state, now=now)
        current = store.db.execute("select state, changed_at from rechecks where clipping_id = ?",
                                   [clipping_id]).fetchone()
        new_state = current[0] if current else "unchanged"
        changed_at = current[1] if current else None
        if state in ("changed", "gone"):
            new_state, changed_at = state, _iso(now)
        store.db.table("rechecks").upsert({
            "clipping_id": clipping_id, "checks": checks, "next_check": next_check,
            "state": new_state, "changed_at": changed_at, "last_checked": _iso(now),
            "last_error": error}, pk="clipping_id")
    return state


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One version of a story's page as kept."""

    id: int
    url: str
    fetched_at: str  # ISO time, as stored
    status: int
    sha256: str  # of the page's bytes
    size: int
    content_type: str
    raw: bytes  # gzip; empty for a page gone
    change: str  # "first", "changed" or "gone"


def snapshots(store: Store, clipping_id: str) -> list[Snapshot]:
    """The versions kept of a story's page, oldest first."""
    return [Snapshot(id=r["id"], url=r["url"], fetched_at=r["fetched_at"], status=r["status"],
                     sha256=r["sha256"], size=r["size"], content_type=r["content_type"] or "",
                     raw=r["raw"] or b"", change=r["change"])
            for r in store.db.query("select * from snapshots where clipping_id = ? order by id",
                                    [clipping_id])]


def write_case_file(store: Store, clipping_id: str, folder: Path) -> dict[str, Any]:
    """The clipping, every raw page kept and a manifest with hashes, in ``folder``."""
    stored = store.clipping(clipping_id)
    if stored is None:
        raise MonitorError(f"no clipping with id {clipping_id!r} (see `monitor list`)")
    folder.mkdir(parents=True, exist_ok=True)
    clip_name = f"{clipping_id}.txt"
    clip_bytes = stored.text.encode("utf-8")
    # Exactly as stored (the hashes vouch for it), 0600, never through a planted link.
    write_private(folder / clip_name, clip_bytes)
    files = [{"file": clip_name, "kind": "clipping", "sha256": sha256(clip_bytes),
              "size": len(clip_bytes)}]
    for n, snap in enumerate(snapshots(store, clipping_id), 1):
        raw = gzip.decompress(snap.raw) if snap.raw else b""
        if sha256(raw) != snap.sha256:
            raise MonitorError(f"snapshot {snap.id} of {clipping_id}: the stored page does "
                               "not match its SHA-256; the database is damaged")
        name = f"page-{n}-{snap.fetched_at[:19].replace(':', '')}.html"
        write_private(folder / name, raw)
        files.append({"file": name, "kind": "page", "url": snap.url,
                      "fetched_at": snap.fetched_at, "http_status": snap.status,
                      "content_type": snap.content_type, "change": snap.change,
                      "sha256": snap.sha256, "size": snap.size})
    check = store.db.execute("select state, checks, changed_at, last_checked from rechecks "
                             "where clipping_id = ?", [clipping_id]).fetchone()
    manifest = {
        "clipping_id": clipping_id, "url": stored.clipping.url, "title": stored.clipping.title,
        "source": stored.clipping.source, "first_seen": stored.created_at,
        "page_state": check[0] if check else None, "rechecks": check[1] if check else 0,
        "changed_at": check[2] if check else None, "last_checked": check[3] if check else None,
        "written_at": _iso(dt.datetime.now(dt.timezone.utc)), "written_by": f"monitor {__version__}",
        "files": files,
    }
    # escape(): the title's bidi overrides and controls as JSON escapes, the same string parsed.
    text = escape(json.dumps(manifest, indent=2, ensure_ascii=False)) + "\n"
    write_private(folder / "manifest.json", text.encode("utf-8"))
    return manifest
