"""The review site: `monitor serve` opens the database read-only in Datasette, with
titles and descriptions, canned queries for the analysts' questions, facets, the FTS search
box and clippings rendered as markdown (datasette-render-markdown). With plugin.py (the
analysts' marks) and guard.py (Host allow-list, password, security headers), the only modules
importing datasette and uvicorn: the optional extra `monitor[web]`.

Read-only twice over: Datasette opens a mutable file with `?mode=ro`, and ReadOnlyDatabase
never opens the write connection it would use for writes. Not `immutable`: the daemon keeps
writing, and SQLite trusts an immutable file never to change. The one write, a mark, goes
through the store like `monitor mark` (plugin.py).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from monitor.config import REVIEW_DATABASE, ReviewConfig
from monitor.errors import MonitorError, NotifyError
from monitor.notify.credentials import read_secret_file

DATABASE = REVIEW_DATABASE  # the database's name in every URL: /monitor/clippings, /monitor/story?id=1
_MARK = "(select k.label from marks k where k.clipping_id = c.id) as mark"

_DAY = "substr(coalesce(c.published, c.created_at), 1, 10)"
_WEEK_AGO = "strftime('%Y-%m-%dT%H:%M:%S', 'now', '-7 days')"
_STORY_LINK = f"'[' || replace(replace(s.title, '[', '('), ']', ')') || '](/{DATABASE}/story?id=' || s.id || ')'"

QUERIES: dict[str, dict[str, Any]] = {
    "flagged_this_week": {
        "title": "Flagged this week",
        "description": "Stories flagged by a rule and reported in the last 7 days, newest first: "
                       "one row per story (an event), with every outlet that reported it.",
        "sql": f"""select s.id as story_id, {_STORY_LINK} as story_markdown,
  (select group_concat(source, ', ') from (select distinct c2.source from clippings c2
     where c2.story_id = s.id order by c2.created_at)) as sources,
  s.clippings, (select group_concat(distinct m.rule) from matches m join clippings c3
     on c3.id = m.clipping_id where c3.story_id = s.id) as rules,
  max(coalesce(c.published, c.created_at)) as last_reported
from stories s join clippings c on c.story_id = s.id
where s.flagged = 1
group by s.id
having max(coalesce(c.published, c.created_at)) >= {_WEEK_AGO}
order by last_reported desc""",
    },
    "story": {
        "title": "A story and its sources",
        "description": "Every clipping of one story (one event), first reported first: the "
                       "outlet, a link to its article, whether its page changed since, and "
                       "the clipping itself.",
        "sql": f"""select c.source, c.date, '[' || c.source || ' — article](' || c.link || ')' as link_markdown,
  coalesce((select r.state from rechecks r where r.clipping_id = c.id), '') as page_state,
  c.id as clipping_id, {_MARK}, c.text as clipping_markdown
from clippings c where c.story_id = :id
order by c.created_at, c.id""",
    },
    "clipping": {
        "title": "A clipping",
        "description": "One clipping (id: the whole id; `monitor show` takes its first 8 "
                       "digits): its mark, with buttons to change it, its story and the "
                       "clipping itself.",
        "sql": f"""select c.id as clipping_id, c.title, c.source, c.date,
  '[' || c.source || ' — article](' || c.link || ')' as link_markdown, {_MARK},
  coalesce((select k.note from marks k where k.clipping_id = c.id), '') as note,
  case when c.story_id is null then '' else
    '[the story and its other sources](/{DATABASE}/story?id=' || c.story_id || ')' end
    as story_markdown,
  c.text as clipping_markdown
from clippings c where c.id = :id""",
    },
    "by_rule": {
        "title": "By rule",
        "description": "How many clippings and stories each rule flagged, and the latest.",
        "sql": """select m.rule, count(distinct c.id) as clippings,
  count(distinct c.story_id) as stories, max(coalesce(c.published, c.created_at)) as latest
from matches m join clippings c on c.id = m.clipping_id
group by m.rule order by clippings desc, m.rule""",
    },
    "by_source": {
        "title": "By source",
        "description": "Clippings per outlet, how many were flagged, and the latest.",
        "sql": """select c.source, count(*) as clippings, sum(c.flagged) as flagged,
  round(100.0 * sum(c.flagged) / count(*), 1) as flagged_percent,
  max(coalesce(c.published, c.created_at)) as latest
from clippings c group by c.source order by clippings desc, c.source""",
    },
    "feed_health": {
        "title": "Feed health",
        "description": "Every feed polled: its last status and error, errors in a row, and "
                       "when it last worked; feeds in trouble first.",
        "sql": """select url, name, last_status, error_count, last_error, last_checked,
  last_success, retry_after_until
from feeds order by error_count desc, last_status = 'error' desc, url""",
    },
    "pending_or_failed_alerts": {
        "title": "Pending or failed alerts",
        "description": "Alerts not delivered yet or given up on, newest first, with the "
                       "last error (`monitor alerts retry ID` queues a failed one again).",
        "sql": """select a.id, a.status, a.notifier, a.attempts, a.last_error, a.next_attempt,
  a.not_before, a.is_update, c.title, c.source, a.story_id, a.created_at
from alerts a left join clippings c on c.id = a.clipping_id
where a.status in ('pending', 'sending', 'failed') order by a.id desc""",
    },
    "changed_pages": {
        "title": "Pages changed or pulled",
        "description": "Flagged stories whose page changed or disappeared after it was "
                       "first kept; every version is in snapshots (`monitor evidence ID DIR`).",
        "sql": """select r.clipping_id, r.state, r.changed_at, r.checks, c.title, c.source, c.link,
  (select count(*) from snapshots p where p.clipping_id = r.clipping_id) as versions
from rechecks r join clippings c on c.id = r.clipping_id
where r.state in ('changed', 'gone') order by r.changed_at desc""",
    },
}

TABLES: dict[str, dict[str, Any]] = {
    "clippings": {
        "title": "Clippings",
        "description": "Every story the monitor kept, one per article. Search with the box "
                       "(FTS5: words, \"phrases\", prefix*, AND/OR/NOT).",
        "sort_desc": "created_at",
        "facets": ["source", "lang", "flagged", {"date": "published"}],
        "columns": {
            "id": "16 hex digits: the head of the SHA-256 of the canonical URL",
            "url": "canonical URL (tracking parameters removed)",
            "link": "the article's URL as the feed gave it",
            "body": "the article, markdown",
            "text": "the whole clipping document (the seed's format)",
            "tags": "entities found, event types, and the source",
            "origin": "page (article fetched), feed (feed text) or file (imported)",
            "flagged": "1 when a rule fired",
            "story_id": "the story (one per event) it belongs to",
            "lang": "language guessed from its common words",
            "backlog": "1: flagged on a feed's first poll but too old to alert",
            "fingerprint": "trafilatura's content fingerprint (SimHash)",
        },
    },
    "review": {
        "title": "Review",
        "description": "One row per clipping with its rules, language, day, story, the "
                       "analyst's mark and the state of its page: facet away.",
        "sort_desc": "created_at",
        "facets": ["source", {"array": "rules"}, "lang", "day", "mark", "page_state"],
    },
    "stories": {
        "title": "Stories",
        "description": "One per event: the clippings of different outlets about it. A story's "
                       "page links to its clippings; the canned query `story` shows them.",
        "label_column": "title",
        "sort_desc": "updated_at",
        "facets": ["flagged", "sources"],
        "columns": {"title": "the first clipping's title", "sources": "distinct outlets",
                    "clippings": "clippings in the story"},
    },
    "matches": {
        "title": "Matches",
        "description": "Each rule that fired on a clipping: score, terms and their offsets.",
        "facets": ["rule"],
    },
    "marks": {"title": "Analysts' marks", "description": "relevant, irrelevant or "
              "acknowledged, with a note: the buttons of the `review` table and the story "
              "pages, or `monitor mark ID relevant --note ...`", "facets": ["label"]},
    "alerts": {"title": "Alert outbox", "description": "One per story and notifier; grouped: "
               "folded into an earlier alert of the same story.", "facets": ["status", "notifier"]},
    "feeds": {"title": "Feeds", "description": "Polling state of every feed."},
    "snapshots": {"title": "Evidence: raw pages", "description": "Every version of each "
                  "story's page, gzip-compressed, with its SHA-256 and fetch time.",
                  "facets": ["change"]},
    "rechecks": {"title": "Evidence: re-checks", "description": "Re-checks of flagged "
                 "stories' pages; state unchanged, changed or gone.", "facets": ["state"]},
    "signatures": {"hidden": True},
    "signature_keys": {"hidden": True},
    "signature_terms": {"hidden": True},
    "outlet_marks": {"hidden": True},
    "digests": {"title": "Digests", "description": "Alerts sent together as one message."},
}


def metadata() -> dict[str, Any]:
    return {
        "title": "monitor: review the catch",
        "description": "Clippings of piracy-enforcement stories, one story per event, with "
                       "search, facets and the analysts' questions as canned queries. Read-only, "
                       "but for the analysts' marks.",
        "databases": {DATABASE: {
            "title": "Clippings database",
            "tables": TABLES,
            "queries": QUERIES,
            "plugins": {"datasette-render-markdown": {"columns": ["body", "text"],
                                                      "patterns": ["*_markdown"]}},
        }},
    }


def make_app(database: Path, review: ReviewConfig | None = None, *,
             password: str | None = None) -> Any:
    """The Datasette ASGI app over ``database``, read-only but for the marks, behind the
    gate: the names of ``review`` (base_url, host) and, with ``password``, asking for it."""
    review = review or ReviewConfig()
    try:
        from datasette.app import Datasette
        from datasette.database import Database
        from datasette.plugins import pm

        from monitor.review import plugin
        from monitor.review.guard import Guard, allowed_hosts
    except ImportError as e:
        raise MonitorError("the review site needs the web extra: pip install 'monitor[web]' "
                           f"({e})") from e
    if not database.exists():
        raise MonitorError(f"no database at {database}: run the monitor first")

    class ReadOnlyDatabase(Database):  # type: ignore[misc]
        def connect(self, write: bool = False) -> Any:
            return super().connect(write=False)  # never the writable connection

    ds = Datasette(metadata=metadata(), settings={"default_page_size": 50,
                                                 "sql_time_limit_ms": 3000})
    ds.add_database(ReadOnlyDatabase(ds, path=str(database), is_mutable=True), name=DATABASE)
    if not pm.is_registered(plugin):
        pm.register(plugin, name="monitor-review")
    return Guard(ds.app(), hosts=allowed_hosts(review.base_url, review.host), password=password)


def site_password(review: ReviewConfig) -> str | None:
    """The password [review] names (password_env or password_file), or None when none is."""
    if review.password_env:
        value = os.environ.get(review.password_env, "")
        if not value:
            raise MonitorError(f"[review] password_env: the environment variable "
                               f"{review.password_env} is not set or empty")
        return value
    if review.password_file:
        try:
            return read_secret_file(review.password_file, "[review] password_file", "review")
        except NotifyError as e:
            raise MonitorError(str(e)) from e
    return None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(database: Path, review: ReviewConfig, *, host: str | None = None,
          port: int | None = None) -> None:
    """Serve the site until stopped. Off loopback only with a password, refused before
    anything listens: the site shows every clipping and takes marks."""
    host = host or review.host
    port = port or review.port
    password = site_password(review)
    if password is None and not is_loopback(host):
        raise MonitorError(f"not serving on {host}: the review site listens on any address but "
                           "loopback only with a password; set [review] password_env or "
                           "password_file (or serve on 127.0.0.1 behind your own proxy)")
    from dataclasses import replace

    app = make_app(database, replace(review, host=host), password=password)
    import uvicorn

    locked = "password required" if password else "no password"
    print(f"review site: http://{'[' + host + ']' if ':' in host else host}:{port}/{DATABASE} "
          f"({locked}; Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
