"""What the command line prints of hostile feed text reaches a terminal: no escape sequence
(clear screen, OSC 52 clipboard write, OSC 8 link), no bidi override, no line separator, in
any listing; `--json` lines still parse back to the stored strings."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from support.feedserver import FeedServer
from support.helpers import monitor, write_config
from support.hostile_text import (CLEAR, CLIPBOARD, CSI, LINK, LS, NEL, RLO, UNSAFE,
                                  publish_hostile)

from monitor.cli.output import SafeStream
from monitor.service.logs import LineFormatter, Redactor


@pytest.fixture
def hostile(tmp_path: Path, feed_server: FeedServer, refused_port: int) -> tuple[Path, str]:
    """A config whose one feed is hostile, polled once, its alert failing to reach a webhook
    that refuses connections; and the stored clipping's id."""
    config = write_config(tmp_path, [publish_hostile(feed_server)], fetch_pages=False,
                          webhook_url=f"http://127.0.0.1:{refused_port}/hook")
    done = monitor(config, "run", "--once")
    assert done.code == 0, done.stderr
    assert not UNSAFE.search(done.stderr), done.stderr  # the daemon's log lines included
    [line] = monitor(config, "list", "--json").stdout.splitlines()
    return config, json.loads(line)["id"]


@pytest.mark.parametrize("command", [
    ["list"], ["list", "--flagged"], ["show", "{id}"], ["feeds"], ["search", "pirate"],
    ["explain", "{id}"], ["alerts"], ["status"], ["stats"], ["export", "--help"],
])
def test_no_unsafe_character_reaches_the_terminal(hostile: tuple[Path, str],
                                                  command: list[str]) -> None:
    config, clipping_id = hostile
    done = monitor(config, *(part.format(id=clipping_id) for part in command))
    assert not UNSAFE.search(done.stdout), done.stdout
    assert not UNSAFE.search(done.stderr), done.stderr


def test_the_terminal_sees_where_the_override_was(hostile: tuple[Path, str]) -> None:
    config, clipping_id = hostile
    listed = monitor(config, "list").stdout
    assert "\\u202egnp.exe" in listed
    shown = monitor(config, "show", clipping_id).stdout
    assert "next\\u2028forged line" in shown
    assert len(listed.splitlines()) == 1


@pytest.mark.parametrize("command", [["list", "--json"], ["search", "pirate", "--json"],
                                     ["feeds", "--json"], ["alerts", "--json"],
                                     ["explain", "{id}", "--json"], ["status", "--json"]])
def test_json_lines_parse_back_to_the_stored_strings(hostile: tuple[Path, str],
                                                     command: list[str]) -> None:
    config, clipping_id = hostile
    done = monitor(config, *(part.format(id=clipping_id) for part in command))
    assert not UNSAFE.search(done.stdout)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records
    if command[0] in ("list", "search", "explain", "alerts"):
        assert RLO in records[0]["title"]


@pytest.mark.parametrize("text", [CLEAR, CLIPBOARD, LINK, CSI + "31m", "a" + LS + "b",
                                  "a" + NEL + "b", "\r" + "overwritten"])
def test_the_stream_escapes_every_control(text: str) -> None:
    out = io.StringIO()
    stream = SafeStream(out)
    assert stream.write(f"title {text}\n") == len(text) + 7
    written = out.getvalue()
    assert not UNSAFE.search(written) and written.endswith("\n")
    # JSON's own escape: a JSON string holding the text reads back the same.
    assert json.loads(through_stream(json.dumps(text, ensure_ascii=False))) == text


def through_stream(text: str) -> str:
    out = io.StringIO()
    SafeStream(out).write(text)
    return out.getvalue()


@pytest.mark.parametrize("kind", ["text", "json"])
def test_one_log_record_is_one_line(kind: str) -> None:
    record = logging.LogRecord("monitor", logging.INFO, __file__, 1, "story %s: %s", (
        "title" + LS + "2026-12-01 INFO forged" + NEL + "again\u2029x", RLO + CLEAR), None)
    line = LineFormatter(kind, redactor=Redactor()).format(record)
    assert len(line.splitlines()) == 1
    assert not UNSAFE.search(line), line
    if kind == "json":
        assert json.loads(line)["message"].endswith(RLO + CLEAR)
