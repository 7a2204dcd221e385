"""Exports and imports: clipping files read back by `monitor import` without
duplicates, JSON lines and CSV, filters, and exporting twice adding only what is new."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from support.feedserver import FeedServer
from support.helpers import monitor
from support.review_helpers import ARTICLES, publish, review_config


def run(config: Path, *args: str) -> str:
    done = monitor(config, *args)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_round_trips(tmp_path: Path, feed_server: FeedServer) -> None:
    feed = publish(feed_server, "/a.xml", ["e1-a", "e1-c", "e4-a", "s1"])
    first = tmp_path / "first"
    first.mkdir()
    config = review_config(first, [feed])
    run(config, "run", "--once")
    out = tmp_path / "out"
    assert "4 clippings written" in run(config, "export", str(out))
    files = sorted(out.glob("*.txt"))
    assert [f.name[:4] for f in files] == ["000_", "001_", "002_", "003_"]
    # Exporting again adds nothing; a new story adds one file, numbered on.
    assert "0 clippings written" in run(config, "export", str(out))
    publish(feed_server, "/a.xml", ["e1-a", "e1-c", "e4-a", "s1", "e5-a"])
    run(config, "run", "--once")
    assert "1 clippings written" in run(config, "export", str(out))
    assert sorted(f.name[:4] for f in out.glob("*.txt"))[-1] == "004_"
    # Into a fresh database: the same ids and texts, and importing again makes no duplicate.
    second = tmp_path / "second"
    second.mkdir()
    other = review_config(second, [])
    assert "5 clippings imported" in run(other, "import", str(out))
    assert "0 clippings imported (0 flagged), 5 already known" in run(other, "import", str(out))
    listed = {json.loads(line)["id"] for line in
              monitor(config, "list", "--json").stdout.splitlines()}
    imported = {json.loads(line)["id"] for line in
                monitor(other, "list", "--json").stdout.splitlines()}
    assert listed == imported
    for path in out.glob("*.txt"):
        shown = monitor(other, "show", path.stem.split("_", 1)[1]).stdout
        assert shown == path.read_text(encoding="utf-8")
    # The imported clippings are grouped like any: the syndicated copy joins its original.
    assert "4 stories" in monitor(other, "stats").stdout
    # Back into the database they came from: nothing new.
    assert "0 clippings imported (0 flagged), 5 already known" in run(config, "import", str(out))


def test_jsonl_and_csv_with_filters(tmp_path: Path, feed_server: FeedServer) -> None:
    feed = publish(feed_server, "/a.xml", ["e1-a", "e4-a", "s1"])
    config = review_config(tmp_path, [feed])
    run(config, "run", "--once")
    out = tmp_path / "out"
    assert "2 clippings written" in run(config, "export", str(out), "--format", "jsonl",
                                        "--flagged", "--since", "7d")
    records = [json.loads(line) for line in (out / "clippings.jsonl").read_text().splitlines()]
    assert {r["title"] for r in records} == {ARTICLES["e1-a"]["title"], ARTICLES["e4-a"]["title"]}
    assert all(r["flagged"] and r["rules"] and r["body"] and r["story_id"] for r in records)
    assert {r["lang"] for r in records} == {"en", "fr"}
    # Then everything: only the one not yet there is added.
    assert "1 clippings written" in run(config, "export", str(out), "--format", "jsonl")
    assert len((out / "clippings.jsonl").read_text().splitlines()) == 3
    assert "0 clippings written" in run(config, "export", str(out), "--format", "jsonl",
                                        "--rule", "no-such-rule")
    run(config, "export", str(out), "--format", "csv", "--rule", "piracy-enforcement")
    run(config, "export", str(out), "--format", "csv")
    # One byte-order mark at the start (spreadsheet programs then read UTF-8), none appended.
    raw = (out / "clippings.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,") and raw.count(b"\xef\xbb\xbf") == 1
    with (out / "clippings.csv").open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and len({r["id"] for r in rows}) == 3
    e1 = next(r for r in rows if r["title"] == ARTICLES["e1-a"]["title"])
    assert "\n\n" in e1["body"] and "piracy-enforcement" in e1["rules"].split()
    # Tags as a plain list in a cell; the clipping files keep their [[wiki links]].
    tags = next(r["tags"] for r in records if r["title"] == ARTICLES["e1-a"]["title"])
    assert len(tags) >= 2 and e1["tags"] == "; ".join(tags) and "[[" not in e1["tags"]
    bad = monitor(config, "export", str(out), "--since", "yesterday")
    assert bad.returncode == 1 and "--since" in bad.stderr
