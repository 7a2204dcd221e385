"""The small things an analyst meets every day: an empty listing says what to do, counts are
the true totals whatever --limit, a 304 is no news at info level, and `monitor serve` without
its extra names the install command that works here."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest
from support.feedserver import FeedServer
from support.helpers import REPO, monitor, run_cli, write_config
from support.review_helpers import publish

from monitor.clipping import filename, make_clipping, render
from monitor.cli.context import install_command


def test_list_on_an_empty_database_says_how_to_fill_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    for args in ([], ["--json"]):
        empty = monitor(config, "list", *args)
        assert (empty.code, empty.stdout) == (0, "")
        assert "no stories yet: run `monitor run --once`" in empty.stderr
    flagged = monitor(config, "list", "--flagged", "--json")
    assert flagged.stdout == "" and "no flagged stories yet" in flagged.stderr


def _clippings(folder: Path, count: int) -> Path:
    folder.mkdir()
    for n in range(count):
        clipping = make_clipping(
            title=f"Police raid pirate IPTV ring number {n}", source="Piracy Daily",
            url=f"https://news.example.org/raid-{n}", date=dt.date(2026, 11, 1 + n),
            body=f"Police raided a pirate IPTV ring, the {n}th this year, and seized servers.")
        (folder / filename(f"{n:016x}", n)).write_text(render(clipping), encoding="utf-8")
    return folder


def test_counts_are_the_true_totals_whatever_the_limit(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    assert monitor(config, "import", str(_clippings(tmp_path / "in", 5))).code == 0
    limited = monitor(config, "rules", "test", "pirate AND raid*", "--limit", "3", "--json")
    assert limited.code == 0, limited.stderr
    assert len(limited.stdout.splitlines()) == 3
    assert "showing 3 of 5 stored clippings that match" in limited.stderr
    everything = monitor(config, "rules", "test", "pirate AND raid*")
    assert "5 stored clippings match" in everything.stderr and "showing" not in everything.stderr
    found = monitor(config, "search", "pirate", "--limit", "2", "--json")
    assert found.code == 0, found.stderr
    assert len(found.stdout.splitlines()) == 2
    assert "showing 2 of 5 clippings found" in found.stderr
    exact = monitor(config, "search", "pirate", "--limit", "5")
    assert "5 clippings found" in exact.stderr and "showing" not in exact.stderr


def test_a_304_is_logged_at_debug_only(tmp_path: Path, feed_server: FeedServer) -> None:
    feed = publish(feed_server, "/a.xml", ["s1"])
    config = write_config(tmp_path, [feed])
    assert monitor(config, "run", "--once").code == 0
    again = monitor(config, "run", "--once")
    assert "1 not modified" in again.stdout, again.stdout
    assert "not_modified" not in again.stderr
    loud = run_cli(["-v", "--config", str(config), "run", "--once"])
    assert f"DEBUG feed {feed}: not_modified" in loud.stderr


def test_serve_without_the_web_extra_names_the_install_command_that_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = install_command("web")
    # From this checkout: an editable install of the checkout's own folder.
    assert command.startswith("pip install -e ") and f"{REPO}[web]" in command
    config = write_config(tmp_path, [])
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the extra were not installed
    refused = monitor(config, "serve")
    assert refused.code == 1
    assert refused.stderr == ("monitor: error: the review site needs the web extra (uvicorn "
                              f"missing): {command}\n")


def test_rules_test_json_stays_one_object_per_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    monitor(config, "import", str(_clippings(tmp_path / "in", 2)))
    result = monitor(config, "rules", "test", "pirate", "--limit", "1", "--json")
    assert [set(json.loads(line)) >= {"id", "score", "title"}
            for line in result.stdout.splitlines()] == [True]
