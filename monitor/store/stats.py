"""`monitor stats`: clippings per day, source and rule, the flagged rate, feeds with
errors, alerts by status. One JSON object with --json. SQL on the Store's connection."""

from __future__ import annotations

from typing import Any

from monitor.store.database import Store


def _pairs(store: Store, sql: str, params: list[Any] | None = None) -> dict[str, int]:
    return {str(k): int(v) for k, v in store.db.execute(sql, params or []).fetchall()}


def stats(store: Store, *, days: int = 14) -> dict[str, Any]:
    total = store.count("clippings")
    flagged = int(store.db.execute("select count(*) from clippings where flagged = 1")
                  .fetchone()[0])
    day = "substr(coalesce(published, date, created_at), 1, 10)"
    return {
        "clippings": total,
        "flagged": flagged,
        "flagged_rate": round(flagged / total, 4) if total else None,
        "stories": store.count("stories"),
        "per_day": _pairs(store, f"select {day} as d, count(*) from clippings group by d "
                                 f"order by d desc limit ?", [days]),
        "per_source": _pairs(store, "select coalesce(nullif(source, ''), '(none)') as s, "
                                    "count(*) as n from clippings group by s order by n desc, s"),
        "per_rule": _pairs(store, "select rule, count(*) as n from matches group by rule "
                                  "order by n desc, rule"),
        "feeds_with_errors": [
            {"url": r["url"], "name": r["name"], "error_count": r["error_count"],
             "last_error": r["last_error"], "last_checked": r["last_checked"]}
            for r in store.db.query("select * from feeds where error_count > 0 or "
                                    "last_status = 'error' order by error_count desc, url")],
        "alerts": {status: 0 for status in ("sent", "pending", "failed", "grouped")}
        | _pairs(store, "select status, count(*) from alerts group by status"),
        "marks": _pairs(store, "select label, count(*) from marks group by label"),
        "pages_changed": _pairs(store, "select state, count(*) from rechecks group by state"),
    }


def format_stats(s: dict[str, Any]) -> str:
    rate = "n/a" if s["flagged_rate"] is None else f"{s['flagged_rate']:.1%}"
    lines = [f"{s['clippings']} clippings in {s['stories']} stories, {s['flagged']} flagged "
             f"({rate})", "", "Per day (newest first):"]
    lines += [f"  {d}  {n:>6}" for d, n in s["per_day"].items()] or ["  (none)"]
    lines += ["", "Per source:"]
    lines += [f"  {n:>6}  {name}" for name, n in s["per_source"].items()] or ["  (none)"]
    lines += ["", "Per rule:"]
    lines += [f"  {n:>6}  {name}" for name, n in s["per_rule"].items()] or ["  (none)"]
    a = s["alerts"]
    lines += ["", "Alerts: " + ", ".join(f"{n} {status}" for status, n in a.items())]
    errors = s["feeds_with_errors"]
    lines += ["", f"Feeds with errors ({len(errors)})" + (":" if errors else "")]
    lines += [f"  {f['error_count']:>4} × {f['name'] or f['url']}: {f['last_error']}"
              for f in errors]
    if s["marks"]:
        lines += ["", "Marks: " + ", ".join(f"{n} {k}" for k, n in s["marks"].items())]
    if s["pages_changed"]:
        lines += ["Flagged pages re-checked: " + ", ".join(f"{n} {k}"
                                                      for k, n in s["pages_changed"].items())]
    return "\n".join(lines)
