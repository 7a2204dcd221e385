"""Short ids, git-style: every command taking a clipping's id takes a unique prefix of 6 or more
hex digits, or the article's URL; an ambiguous prefix lists the candidates and exits 2;
listings show 8 digits, --json the whole id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.helpers import monitor, write_config
from support.stories import add_story, now

from monitor.store.database import Store

# The ids of these two stories (the head of the SHA-256 of their names) share 6 hex digits.
TWINS = ("story-2418", "story-3211")
PREFIX = "b6b262"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path, [])
    with Store(tmp_path / "monitor.db") as store:
        for name in TWINS:
            add_story(store, name, seen=now(), flagged=True)
        add_story(store, "solo", seen=now(), flagged=True)
    return path


def ids(config: Path) -> dict[str, str]:
    """Title -> full id, from `monitor list --json`."""
    return {json.loads(line)["title"]: json.loads(line)["id"]
            for line in monitor(config, "list", "--json").stdout.splitlines()}


def test_the_twins_share_a_prefix(config: Path) -> None:
    full = ids(config)
    a, b = full["Story story-2418"], full["Story story-3211"]
    assert a.startswith(PREFIX) and b.startswith(PREFIX) and a[:8] != b[:8]


def test_listings_print_eight_digits_and_json_the_whole_id(config: Path) -> None:
    full = ids(config)
    assert all(len(i) == 16 for i in full.values())
    listed = monitor(config, "list").stdout
    for title, clipping_id in full.items():
        line = next(x for x in listed.splitlines() if x.endswith(title))
        assert line.split()[1] == clipping_id[:8]
        assert clipping_id not in listed
    search = monitor(config, "search", "solo").stdout
    assert search.split()[1] == full["Story solo"][:8]
    alerts = monitor(config, "alerts").stdout.splitlines()
    assert sorted(line.split()[-3] for line in alerts if line.split()[0].isdigit()) == sorted(
        i[:8] for i in full.values())


def test_show_by_prefix_url_or_whole_id(config: Path) -> None:
    solo = ids(config)["Story solo"]
    whole = monitor(config, "show", solo)
    assert whole.returncode == 0 and "Story solo" in whole.stdout
    for ref in (solo[:6], solo[:8].upper(), "http://127.0.0.1:9/solo",
                "HTTP://127.0.0.1:9/solo?utm_source=mail#top"):
        shown = monitor(config, "show", ref)
        assert (shown.returncode, shown.stdout) == (0, whole.stdout), ref


def test_an_ambiguous_prefix_lists_the_candidates_and_exits_2(config: Path) -> None:
    full = ids(config)
    for args in (("show", PREFIX), ("explain", PREFIX), ("mark", PREFIX, "relevant"),
                 ("evidence", PREFIX, "case"), ("alerts", "retry", PREFIX)):
        done = monitor(config, *args)
        assert done.returncode == 2, args
        assert done.stdout == ""
        assert f"'{PREFIX}' names 2 clippings; give more of the id" in done.stderr
        for name in TWINS:
            assert f"  {full['Story ' + name]}  Story {name}" in done.stderr
    assert monitor(config, "rules", "eval", "--feedback").returncode == 1  # nothing was marked


def test_too_short_unknown_and_not_hex(config: Path) -> None:
    for ref, reason in (("b6b26", "give at least 6 hex digits"),
                        ("zzzzzzzz", "give at least 6 hex digits"),
                        ("0000000000", "no clipping with id '0000000000' (see `monitor list`)"),
                        ("http://127.0.0.1:9/nowhere", "no clipping of the article")):
        done = monitor(config, "show", ref)
        assert done.returncode == 1 and reason in done.stderr, (ref, done.stderr)


def test_explain_mark_and_evidence_by_prefix(config: Path, tmp_path: Path) -> None:
    full = ids(config)
    twin = full["Story story-3211"]
    explained = monitor(config, "explain", twin[:7], "--json")
    assert explained.returncode == 0 and json.loads(explained.stdout)["id"] == twin
    marked = monitor(config, "mark", twin[:8], "irrelevant", "--note", "a twin", "--json")
    assert marked.returncode == 0
    assert json.loads(marked.stdout)["clipping_id"] == twin
    said = monitor(config, "mark", "http://127.0.0.1:9/solo", "relevant")
    assert said.stdout == f"{full['Story solo'][:8]}: marked relevant\n"
    evidence = monitor(config, "evidence", twin[:8], str(tmp_path / "case"))
    assert evidence.returncode == 0
    assert (tmp_path / "case" / f"{twin}.txt").read_text(encoding="utf-8").startswith(
        "# Story story-3211\n")
    feedback = monitor(config, "rules", "eval", "--feedback", "--json")
    assert feedback.returncode == 0
    figures = json.loads(feedback.stdout)
    # The rules, run now on these made-up texts, flag neither: the relevant one is missed.
    assert (figures["n"], figures["false_negatives"]) == (2, [full["Story solo"]])


def test_acknowledged_is_no_verdict(config: Path) -> None:
    full = ids(config)
    solo, twin = full["Story solo"], full["Story story-2418"]
    assert monitor(config, "mark", solo, "relevant").returncode == 0
    kept = monitor(config, "mark", solo, "acknowledged", "--json")
    assert json.loads(kept.stdout)["label"] == "relevant"  # a verdict implies it was seen
    seen = monitor(config, "mark", twin[:8], "acknowledged", "--json")
    assert json.loads(seen.stdout)["label"] == "acknowledged"
    report = json.loads(monitor(config, "rules", "eval", "--feedback", "--json").stdout)
    assert (report["n"], report["false_negatives"]) == (1, [solo])


def test_alerts_retry_by_clipping(config: Path) -> None:
    solo = ids(config)["Story solo"]
    done = monitor(config, "alerts", "retry", solo[:8], "--json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert (row["key"], row["was"], row["status"]) == (f"{solo}-webhook", "pending", "pending")
    missing = monitor(config, "alerts", "retry", "0123456789")
    assert missing.returncode == 1 and "no alert '0123456789'" in missing.stderr
