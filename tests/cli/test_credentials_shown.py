"""A feed URL with user:password@ (a paywalled or private feed): the password is in no log
line, nor in what `monitor feeds` and `monitor status` print, text or JSON."""

from __future__ import annotations

import json
from pathlib import Path

from support.feedserver import FeedServer, rss
from support.helpers import monitor, write_config

PASSWORD = "feed-pw-8c1d7e"


def test_feed_passwords_are_masked_everywhere(tmp_path: Path, feed_server: FeedServer) -> None:
    good = feed_server.put("/feed.xml", rss("Private feed", []), "application/rss+xml")
    with_password = good.replace("http://", f"http://reader:{PASSWORD}@")
    missing = feed_server.url("/gone.xml").replace("http://", f"http://reader:{PASSWORD}@")
    config = write_config(tmp_path, [with_password, missing], fetch_pages=False)
    outputs = [monitor(config, "-v", "run", "--once")]
    assert outputs[0].code == 0, outputs[0].stderr
    for command in (["feeds"], ["feeds", "--json"], ["status"], ["status", "--json"],
                    ["-v", "feeds", "disable", missing], ["feeds", "export"]):
        outputs.append(monitor(config, *command))
    printed = "".join(done.stdout + done.stderr for done in outputs[:-1])
    assert PASSWORD not in printed
    assert "reader:***@127.0.0.1" in printed
    listed = [json.loads(line) for line in outputs[2].stdout.splitlines()]
    assert {r["url"].split("@")[0] for r in listed} == {"http://reader:***"}
    status = json.loads(outputs[4].stdout)
    assert [f["url"] for f in status["facts"]["failing"]] == [
        missing.replace(PASSWORD, "***")]
    # The OPML export is the one place the URL is given whole: it is for re-importing.
    assert PASSWORD in outputs[-1].stdout
