"""Data care: online backup, integrity check, vacuum and retention of the SQLite database.

Whole-database operations with the standard library's sqlite3, each on its own connection, so
they run beside the daemon (WAL mode: readers never block its writes; a writer waits its turn
through busy_timeout). Kept apart from Store, which holds the statements of the stages.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from monitor.store.archive import CANDIDATE_AGE
from monitor.errors import StoreError
from monitor.models import Progress, no_progress
from monitor.store.files import create_private

BUSY_MS = 30_000
PRUNE_BATCH = 500  # clippings per transaction: the daemon's writes slip in between batches
# Tables whose rows go with a clipping when it is deleted; rows of any other table that refers
# to a clipping (analysts' marks, story groups...) keep it.
# A clipping's own rows, deleted with it: its matches and alerts, and what the review derives
# from it (its grouping signature, its kept pages and their re-checks).
OWNED = ("matches", "alerts", "signatures", "snapshots", "rechecks")
# The grouping's index rows (no foreign key): never read once older than the grouping looks back.
GROUPING_INDEX = ("signature_keys", "signature_terms", "outlet_marks")
MARK_TABLES = ("feedback", "marks")


def _connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise StoreError(f"no database at {path}")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_MS / 1000, isolation_level=None)
        conn.execute(f"pragma busy_timeout = {BUSY_MS}")
    except sqlite3.Error as e:
        raise StoreError(f"cannot open the database {path}: {e}") from e
    return conn


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


@dataclass(frozen=True, slots=True)
class BackupResult:
    target: Path
    bytes: int
    seconds: float
    check: str


def backup(source: Path, target: Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the database with SQLite's online backup API into ``target``, atomically.

    One backup step copies every page inside one read transaction: a consistent snapshot,
    taken while the daemon goes on writing to the WAL. The copy is written beside the target
    and renamed into place only once complete and checked, in rollback-journal mode so it is
    one self-contained file."""
    if target.exists() and not overwrite:
        raise StoreError(f"{target} exists; choose another name or pass --force")
    if target.resolve() == source.resolve():
        raise StoreError("the backup cannot replace the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    started = time.monotonic()
    src = _connect(source)
    try:
        partial.unlink(missing_ok=True)
        create_private(partial)  # 0600 like the database, whatever the umask
        dst = sqlite3.connect(str(partial), isolation_level=None)
        try:
            src.backup(dst, pages=-1)
            dst.execute("pragma journal_mode = delete")
            verdict = dst.execute("pragma quick_check").fetchone()[0]
        finally:
            dst.close()
        if verdict != "ok":
            raise StoreError(f"the copy failed its check: {verdict}")
        os.replace(partial, target)
    except sqlite3.Error as e:
        raise StoreError(f"backup of {source} failed: {e}") from e
    finally:
        src.close()
        partial.unlink(missing_ok=True)
    return BackupResult(target, target.stat().st_size, time.monotonic() - started, verdict)


def check(path: Path) -> list[str]:
    """SQLite's integrity check and foreign-key check: an empty list when all is well."""
    conn = _connect(path)
    try:
        problems = [row[0] for row in conn.execute("pragma integrity_check") if row[0] != "ok"]
        for table, rowid, parent, _ in conn.execute("pragma foreign_key_check"):
            problems.append(f"{table} row {rowid}: refers to a missing {parent} row")
    except sqlite3.Error as e:
        raise StoreError(f"cannot check {path}: {e}") from e
    finally:
        conn.close()
    return problems


def vacuum(path: Path) -> tuple[int, int]:
    """Rebuild the file without its free pages; (bytes before, bytes after). The daemon's
    writes wait while it runs (up to busy_timeout)."""
    before = size_of(path)
    conn = _connect(path)
    try:
        conn.execute("vacuum")
        conn.execute("pragma wal_checkpoint(truncate)")
    except sqlite3.Error as e:
        raise StoreError(f"vacuum of {path} failed: {e}") from e
    finally:
        conn.close()
    return before, size_of(path)


@dataclass(frozen=True, slots=True)
class PruneResult:
    clippings: int
    matches: int
    alerts: int
    cutoff: str


def _keepers(conn: sqlite3.Connection) -> list[str]:
    """SQL conditions that keep a clipping ``c``: something other than its own matches and
    alerts refers to it, or someone marked it (the feedback column or table of another issue,
    used only when it exists)."""
    conditions = []
    tables = [r[0] for r in conn.execute(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")]
    for table in tables:
        if table in OWNED or table == "clippings":
            continue
        columns = {r[1] for r in conn.execute(f"pragma table_info([{table}])")}
        references = [r[3] for r in conn.execute(f"pragma foreign_key_list([{table}])")
                      if r[2] == "clippings"]
        if table in MARK_TABLES and "clipping_id" in columns:
            references.append("clipping_id")
        for column in dict.fromkeys(references):
            conditions.append(f"not exists (select 1 from [{table}] k where k.[{column}] = c.id)")
    clipping_columns = {r[1] for r in conn.execute("pragma table_info(clippings)")}
    if "marked" in clipping_columns:
        conditions.append("coalesce(c.marked, '') in ('', 0)")
    return conditions


def prune(path: Path, *, retention_days: int, keep_flagged: bool = True,
          now: dt.datetime | None = None, dry_run: bool = False,
          stop: threading.Event | None = None,
          progress: Progress = no_progress) -> PruneResult:
    """Delete the clippings first seen more than ``retention_days`` ago that no rule flagged
    (flagged ones too when ``keep_flagged`` is false) and nobody marked, with their matches and
    alerts; never one with an alert still pending or being sent. The story's entries (its URL
    and guid) stay, so a story still in its feed is never stored or alerted again. ``stop`` ends it between
    two batches (the daemon is shutting down). ``progress`` hears of each batch deleted."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = (now - dt.timedelta(days=retention_days)).isoformat(timespec="seconds")
    if retention_days <= 0:
        return PruneResult(0, 0, 0, cutoff)
    conn = _connect(path)
    totals = {"clippings": 0, "matches": 0, "alerts": 0}
    try:
        conn.execute("pragma foreign_keys = on")  # a reference this code missed stops it
        conditions = ["c.created_at < ?", "not exists (select 1 from alerts a where "
                      "a.clipping_id = c.id and a.status in ('pending', 'sending'))", *_keepers(conn)]
        if keep_flagged:
            conditions.append("c.flagged = 0")
        select = f"select c.id from clippings c where {' and '.join(conditions)}"
        present = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        count = conn.execute(f"select count(*) from ({select})", [cutoff]).fetchone()[0]
        if dry_run:
            return PruneResult(count, 0, 0, cutoff)
        progress(0, count)
        while True:
            conn.execute("begin immediate")
            try:
                ids = [r[0] for r in conn.execute(f"{select} limit {PRUNE_BATCH}", [cutoff])]
                if ids:
                    marks = ",".join("?" * len(ids))
                    for table in OWNED:
                        if table not in present:
                            continue
                        deleted = conn.execute(
                            f"delete from {table} where clipping_id in ({marks})", ids).rowcount
                        if table in totals:
                            totals[table] += deleted
                    totals["clippings"] += conn.execute(
                        f"delete from clippings where id in ({marks})", ids).rowcount
                conn.execute("commit")
            except BaseException:
                conn.execute("rollback")
                raise
            progress(totals["clippings"], max(count, totals["clippings"]))
            if len(ids) < PRUNE_BATCH or (stop is not None and stop.is_set()):
                break
        # Index rows older than both the cutoff and the grouping's look-back are never read again.
        stale = int(min(now - dt.timedelta(days=retention_days), now - CANDIDATE_AGE).timestamp())
        for table in GROUPING_INDEX:
            if table in present:
                with conn:
                    conn.execute(f"delete from {table} where at < ?", [stale])
    except sqlite3.Error as e:
        raise StoreError(f"retention on {path} failed: {e}") from e
    finally:
        conn.close()
    return PruneResult(totals["clippings"], totals["matches"], totals["alerts"], cutoff)
