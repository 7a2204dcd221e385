"""Analyst feedback: `monitor mark`, and `monitor rules eval --feedback` giving the
figures and JSON of `rules eval` on the marks, with each rule's own; and `monitor stats`."""

from __future__ import annotations

import json
from pathlib import Path

from support.feedserver import FeedServer
from support.helpers import monitor
from support.review_helpers import ARTICLES, publish, review_config

from monitor.cli.rules import read_items


def ids_by_title(config: Path) -> dict[str, str]:
    return {json.loads(line)["title"]: json.loads(line)["id"]
            for line in monitor(config, "list", "--json").stdout.splitlines()}


def test_marks_and_the_rules_on_them(tmp_path: Path, feed_server: FeedServer) -> None:
    feed = publish(feed_server, "/a.xml", ["e1-a", "e2-a", "s1", "s3"])
    config = review_config(tmp_path, [feed], fetch_pages=False)
    assert monitor(config, "run", "--once").returncode == 0
    ids = ids_by_title(config)
    flagged = {json.loads(line)["title"] for line in
               monitor(config, "list", "--flagged", "--json").stdout.splitlines()}
    assert flagged == {ARTICLES["e1-a"]["title"], ARTICLES["e2-a"]["title"]}
    no_marks = monitor(config, "rules", "eval", "--feedback")
    assert no_marks.returncode == 1 and "no marked clippings" in no_marks.stderr
    # The analyst: e1 relevant (flagged: tp), e2 irrelevant (flagged: fp), the study s3
    # relevant (not flagged: fn), prices s1 irrelevant (tn).
    for article_id, label in (("e1-a", "relevant"), ("e2-a", "irrelevant"),
                              ("s3", "relevant"), ("s1", "irrelevant")):
        done = monitor(config, "mark", ids[ARTICLES[article_id]["title"]], label, "--note",
                       f"checked {article_id}", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["label"] == label
    # A mark changes when marked again.
    monitor(config, "mark", ids[ARTICLES["s1"]["title"]], "irrelevant")
    report = monitor(config, "rules", "eval", "--feedback", "--json")
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)
    assert (figures["n"], figures["precision"], figures["recall"]) == (4, 0.5, 0.5)
    assert figures["by_rule"]["piracy-enforcement"] == {"n": 4, "precision": 0.5,
                                                        "recall": 0.5, "f1": 0.5}
    assert figures["false_negatives"] == [ids[ARTICLES["s3"]["title"]]]
    assert figures["false_positives"] == [ids[ARTICLES["e2-a"]["title"]]]
    # The same figures and shape as `rules eval` on the same items as a labelled file.
    monitor(config, "export", str(tmp_path / "out"), "--format", "jsonl")
    labels = {ARTICLES[i]["title"]: int(label == "relevant") for i, label in (
        ("e1-a", "relevant"), ("e2-a", "irrelevant"), ("s3", "relevant"), ("s1", "irrelevant"))}
    items = tmp_path / "items.jsonl"
    with items.open("w", encoding="utf-8") as out:
        for line in (tmp_path / "out" / "clippings.jsonl").read_text().splitlines():
            r = json.loads(line)
            out.write(json.dumps({"id": r["id"], "title": r["title"], "text": r["body"],
                                  "lang": r["lang"], "label": labels[r["title"]]}) + "\n")
    assert len(read_items(items)) == 4
    from_file = json.loads(monitor(config, "rules", "eval", str(items), "--json").stdout)
    assert {k: v for k, v in figures.items() if k != "by_rule"} == {
        **from_file, "false_positives": figures["false_positives"],
        "false_negatives": figures["false_negatives"]}
    assert sorted(from_file["false_positives"]) == sorted(figures["false_positives"])
    text = monitor(config, "rules", "eval", "--feedback")
    assert "By rule (on the analysts' marks):" in text.stdout and "piracy-enforcement" in text.stdout
    bad = monitor(config, "mark", "0" * 16, "relevant")
    assert bad.returncode == 1 and "no clipping with id" in bad.stderr
    wrong = monitor(config, "mark", ids[ARTICLES["s1"]["title"]], "maybe")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
    both = monitor(config, "rules", "eval", str(items), "--feedback")
    assert both.returncode == 1 and "not both" in both.stderr


def test_stats(tmp_path: Path, feed_server: FeedServer) -> None:
    feed = publish(feed_server, "/a.xml", ["e1-a", "e1-c", "s1"])
    broken = feed_server.put("/broken.xml", "not a feed at all", "text/plain")
    config = review_config(tmp_path, [feed, broken], fetch_pages=False)
    monitor(config, "run", "--once")
    done = monitor(config, "stats", "--json")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    s = json.loads(line)
    assert (s["clippings"], s["flagged"], s["stories"]) == (3, 2, 2)
    assert s["flagged_rate"] == round(2 / 3, 4)
    assert sum(s["per_day"].values()) == 3 and s["per_rule"] == {"actor-action": 2, "piracy-enforcement": 2}
    assert [f["url"] for f in s["feeds_with_errors"]] == [broken]
    assert s["alerts"] == {"sent": 0, "pending": 0, "failed": 0, "grouped": 0}
    text = monitor(config, "stats").stdout
    assert "3 clippings in 2 stories, 2 flagged (66.7%)" in text and "Feeds with errors (1)" in text
