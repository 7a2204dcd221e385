"""Store stage: the schema and its migrations (sqlite-utils Migrations), and opening a database.

Each migration's function name is recorded in the databases it ran on: never rename one, add a
new migration instead. The store's parts (feeds, stories, outbox) all read these tables.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from monitor.errors import StoreError
from monitor.store.files import create_private
from monitor.store.signatures import decode_signature, index_rows, write_index_rows

migrations = Migrations("monitor")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("feeds").create({
        "url": str, "name": str, "title": str, "etag": str, "last_modified": str,
        "last_status": str, "last_error": str, "error_count": int, "last_checked": str,
        "last_success": str, "retry_after_until": str,
    }, pk="url")
    db.table("entries").create({
        "id": int, "feed_url": str, "guid": str, "url": str, "clipping_id": str, "first_seen": str,
    }, pk="id")
    db.table("entries").create_index(["url"])
    db.table("entries").create_index(["guid"])
    db.table("clippings").create({
        "id": str, "url": str, "link": str, "title": str, "standfirst": str, "source": str,
        "date": str, "author": str, "body": str, "tags": str, "text": str, "origin": str,
        "fingerprint": str, "feed_url": str, "published": str, "flagged": int, "created_at": str,
    }, pk="id", not_null={"text"})
    db.table("clippings").create_index(["created_at"])
    db.table("matches").create({
        "id": int, "clipping_id": str, "rule": str, "score": float, "terms": str, "tags": str,
        "created_at": str,
    }, pk="id", foreign_keys=[("clipping_id", "clippings", "id")])
    db.table("matches").create_index(["clipping_id", "rule"], unique=True)
    db.table("alerts").create({
        "id": int, "key": str, "clipping_id": str, "notifier": str, "rules": str, "status": str,
        "attempts": int, "last_error": str, "next_attempt": str, "created_at": str, "sent_at": str,
    }, pk="id", foreign_keys=[("clipping_id", "clippings", "id")])
    db.table("alerts").create_index(["key"], unique=True)
    db.table("alerts").create_index(["status"])


@migrations()
def m_issue4_outbox(db: sqlite_utils.Database) -> None:
    """Digests (several alerts sent as one message), a receiver's Retry-After kept apart
    from our own backoff, and the backlog flag of stories not alerted on a feed's first poll."""
    db.table("digests").create({
        "id": int, "key": str, "notifier": str, "reason": str, "status": str, "attempts": int,
        "last_error": str, "next_attempt": str, "retry_after_until": str, "created_at": str,
        "sent_at": str,
    }, pk="id")
    db.table("digests").create_index(["key"], unique=True)
    db.table("digests").create_index(["notifier", "status"])
    db.table("alerts").add_column("digest_id", int)
    db.table("alerts").add_column("retry_after_until", str)
    db.table("alerts").create_index(["notifier", "created_at"])
    db.table("clippings").add_column("backlog", int, not_null_default=0)


@migrations()
def m_issue5_feed_schedule(db: sqlite_utils.Database) -> None:
    """Each feed's timing, backoff and health survive a restart; feeds added by command
    (`monitor feeds add`, OPML import) live here, beside the config's."""
    for column, kind in (
        ("next_check", str), ("interval", float), ("failing_since", str), ("missing_since", str),
        ("median_gap", float), ("newest_entry", str), ("status", str), ("disabled_reason", str),
        ("moved_to", str), ("body_hash", str), ("last_http_status", int),
        # who added the feed: "config" (config.toml) or "command"; the settings of a command feed
        ("origin", str), ("enabled", int), ("interval_setting", float), ("added_at", str),
    ):
        db.table("feeds").add_column(column, kind)
    db.execute("update feeds set origin = 'config' where origin is null")


@migrations()
def m_issue7_service(db: sqlite_utils.Database) -> None:
    """Health and latency. feeds.failing_since comes from m_issue5_feed_schedule and is
    kept by record_poll. alerts.published_at, the story's publication time (the feed's, else the
    page's date), is kept by a trigger, so it holds whichever code path writes alerts.
    The view alert_latency names the three times of an alert: published, detected (the poll
    that stored the story wrote the alert: created_at) and delivered (sent_at)."""
    db.table("alerts").add_column("published_at", str)
    publication = "(select coalesce(c.published, c.date) from clippings c where c.id = {})"
    db.execute(f"update alerts set published_at = {publication.format('alerts.clipping_id')}")
    db.execute(f"""
        create trigger alerts_published_at after insert on alerts
        begin
            update alerts set published_at = {publication.format('new.clipping_id')}
            where id = new.id;
        end""")
    db.execute("""
        create view alert_latency as
        select id, key, clipping_id, notifier, status, published_at,
               created_at as detected_at, sent_at as delivered_at
        from alerts""")
    db.table("alerts").create_index(["sent_at"])


# FTS5 stems English words and folds accents, like the rules fold them ("demantele"
# finds "démantelé"); porter leaves words of other languages mostly whole.
FTS_COLUMNS = ("title", "body", "source", "tags")
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"


@migrations()
def m_issue6_review(db: sqlite_utils.Database) -> None:
    """Full-text search over clippings (FTS5, kept in step by triggers), stories (one
    per event) with each clipping's grouping signature, the analysts' marks, raw pages kept as
    evidence with their re-checks, and the story fields of alerts."""
    db.table("stories").create({
        "id": int, "title": str, "first_clipping_id": str, "created_at": str, "updated_at": str,
        "clippings": int, "sources": int, "flagged": int,
    }, pk="id")
    # Plain ALTER TABLE: sqlite-utils would rebuild the table to add the foreign key.
    db.execute("ALTER TABLE clippings ADD COLUMN story_id INTEGER REFERENCES stories(id)")
    db.execute("ALTER TABLE clippings ADD COLUMN lang TEXT")
    db.table("clippings").create_index(["story_id"])
    db.table("clippings").enable_fts(list(FTS_COLUMNS), create_triggers=True, tokenize=FTS_TOKENIZE)
    db.table("signatures").create({
        "clipping_id": str, "story_id": int, "at": str, "sketch": str, "shingles": int,
        "title_terms": str, "specifics": str,
    }, pk="clipping_id", foreign_keys=[("clipping_id", "clippings", "id")])
    db.table("signatures").create_index(["at"])
    db.table("marks").create({
        "clipping_id": str, "label": str, "note": str, "marked_at": str,
    }, pk="clipping_id", foreign_keys=[("clipping_id", "clippings", "id")])
    db.table("snapshots").create({
        "id": int, "clipping_id": str, "url": str, "fetched_at": str, "status": int,
        "sha256": str, "size": int, "content_type": str, "raw": bytes, "change": str,
        "text_sha256": str,
    }, pk="id", foreign_keys=[("clipping_id", "clippings", "id")])
    db.table("snapshots").create_index(["clipping_id", "fetched_at"])
    db.table("rechecks").create({
        "clipping_id": str, "checks": int, "next_check": str, "state": str, "changed_at": str,
        "last_checked": str, "last_error": str,
    }, pk="clipping_id", foreign_keys=[("clipping_id", "clippings", "id")])
    db.table("rechecks").create_index(["next_check"])
    db.execute("ALTER TABLE alerts ADD COLUMN story_id INTEGER REFERENCES stories(id)")
    db.table("alerts").add_column("grouped_into", int)  # an alert folded into another of its story
    db.table("alerts").add_column("is_update", int, not_null_default=0)
    db.table("alerts").add_column("not_before", str)  # an update waits for story_update_window
    # One row per clipping for the review site: its rules as a JSON array (an array facet),
    # its day, language, story, mark and the state of its page.
    db.create_view("review", """
        select c.id, c.story_id, substr(coalesce(c.published, c.created_at), 1, 10) as day,
               c.source, c.lang, c.title, c.flagged,
               (select json_group_array(m.rule) from matches m where m.clipping_id = c.id) as rules,
               (select k.label from marks k where k.clipping_id = c.id) as mark,
               (select r.state from rechecks r where r.clipping_id = c.id) as page_state,
               c.link, c.created_at
        from clippings c""")


@migrations()
def m_issue6_grouping_index(db: sqlite_utils.Database) -> None:
    """The cost of grouping: the keys and words each clipping's signature is found
    under (monitor.decide.grouping.sketch_keys and index_terms), so that a new clipping is compared
    with the few stored ones sharing one instead of every one of the last 14 days; filled from
    the signatures already stored. ``at``: the signature's time, in seconds since the epoch.
    No foreign key: one to clippings would make retention keep every clipping, and rows whose
    signature is gone are never read (monitor.store.archive joins them to signatures)."""
    db.execute("CREATE TABLE signature_keys (key INTEGER NOT NULL, at INTEGER NOT NULL, "
               "clipping_id TEXT NOT NULL, PRIMARY KEY (key, at, clipping_id)) WITHOUT ROWID")
    db.execute("CREATE TABLE signature_terms (term TEXT NOT NULL, at INTEGER NOT NULL, "
               "clipping_id TEXT NOT NULL, PRIMARY KEY (term, at, clipping_id)) WITHOUT ROWID")
    keys: list[tuple[int, int, str]] = []
    terms: list[tuple[str, int, str]] = []

    def write() -> None:
        write_index_rows(db.conn, keys, terms)
        keys.clear()
        terms.clear()

    for row in db.query("SELECT * FROM signatures"):
        new_keys, new_terms = index_rows(row["clipping_id"], decode_signature(row))
        keys.extend(new_keys)
        terms.extend(new_terms)
        if len(keys) + len(terms) > 50_000:
            write()
    write()


@migrations()
def m_outbox_claims(db: sqlite_utils.Database) -> None:
    """An alert or digest is claimed before it is sent (status 'sending'): ``claimed_until``,
    the claim's deadline, after which a claim left by a dead process is released;
    ``claimed_by``, the claiming process (its pid, a dash, a random part). Two processes on one
    database then never send one alert at once (monitor.store.outbox)."""
    for table in ("alerts", "digests"):
        db.table(table).add_column("claimed_until", str)
        db.table(table).add_column("claimed_by", str)


@migrations()
def m_worker_health(db: sqlite_utils.Database) -> None:
    """Failures made visible: why a story's page was fetched but not used (the extraction
    failed, or killed its worker twice), and the state of the daemon's parts that no feed row
    shows (``components``: the extraction pool, ``ok`` or ``failing``, since when and why),
    which `monitor status` reads."""
    db.table("clippings").add_column("extract_error", str)
    db.table("components").create({
        "name": str, "state": str, "detail": str, "since": str, "updated_at": str,
    }, pk="name")


@migrations()
def m_grouping_outlet_marks(db: sqlite_utils.Database) -> None:
    """An outlet's boilerplate: each clipping's line hashes and names under its source, so
    that the lines and names an outlet repeats on its pages are left out of the grouping
    signature (monitor.store.archive.outlet_boilerplate). mark: "" once per clipping, "l" and a
    line's hash, or "t" and a name. No foreign key, as signature_keys."""
    db.execute("CREATE TABLE outlet_marks (source TEXT NOT NULL, mark TEXT NOT NULL, "
               "at INTEGER NOT NULL, clipping_id TEXT NOT NULL, "
               "PRIMARY KEY (source, mark, at, clipping_id)) WITHOUT ROWID")


@migrations()
def m_watched_pages(db: sqlite_utils.Database) -> None:
    """Sources without feeds: a feed added by command may be a watched page (``kind`` "page",
    `monitor pages add`) with the CSS ``selector`` of its item list and the ``pattern`` its
    items' URLs match. The rest of a page's state is a feed's (its status may be "broken")."""
    db.table("feeds").add_column("kind", str)
    db.table("feeds").add_column("selector", str)
    db.table("feeds").add_column("pattern", str)


@migrations()
def m_match_watches(db: sqlite_utils.Database) -> None:
    """Watchlists: the [[watch]] names paired with a rule that the story named, as a JSON
    array per match; the alert's title carries them."""
    db.table("matches").add_column("watches", str)



@migrations()
def m_fts_on_text_updates(db: sqlite_utils.Database) -> None:
    """The full-text index re-indexes a clipping only when its indexed text changes: the
    trigger sqlite-utils made fired on every update, so giving a new clipping its story and
    language re-indexed its whole body (the costliest statement of storing a story)."""
    columns = ", ".join(f'"{c}"' for c in FTS_COLUMNS)
    old = ", ".join(f'old."{c}"' for c in FTS_COLUMNS)
    new = ", ".join(f'new."{c}"' for c in FTS_COLUMNS)
    db.execute('DROP TRIGGER IF EXISTS "clippings_au"')
    db.execute(f"""CREATE TRIGGER "clippings_au" AFTER UPDATE OF {columns} ON "clippings" BEGIN
  INSERT INTO "clippings_fts" ("clippings_fts", rowid, {columns}) VALUES('delete', old.rowid, {old});
  INSERT INTO "clippings_fts" (rowid, {columns}) VALUES (new.rowid, {new});
END""")


SCHEMA_VERSION = len(migrations._migrations)


def open_database(path: Path) -> sqlite_utils.Database:
    """The database at ``path``, created or migrated to SCHEMA_VERSION, in WAL mode (analysts
    read while the daemon writes). StoreError when it cannot be opened."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 before SQLite opens it (which would follow the umask): it holds what the
        # analysts collect; SQLite gives the -wal and -shm files the same mode.
        create_private(path)
        conn = sqlite3.connect(str(path), timeout=30)
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 30000")
        migrations.apply(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except (sqlite3.Error, OSError) as e:
        raise StoreError(f"cannot open the database {path}: {e}") from e
    return db
