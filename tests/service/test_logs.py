"""Logs: one line per event on stderr, readable text by default, JSON with --log-format json or
[log] format, levels, journald "<N>" priorities when stderr is the journal's stream, and never
a secret, even from a library that logs a webhook URL with its token."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import TextIO

import pytest
from support.feedserver import FeedServer, rss
from support.helpers import Result, default_rules_section, monitor, run_cli, write_config
from support.servers import SMTPServer, WebhookReceiver

from monitor.config import parse_config
from support.feedserver import RAID
from monitor.service.logs import LineFormatter, Redactor, one_line, priority, secrets_of

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S")


def feeds(server: FeedServer) -> list[str]:
    good = server.put("/feed.xml", rss("Piracy Daily", [{**RAID, "link": server.url("/raid")}]),
                      "application/rss+xml")
    server.put("/gone.xml", "gone", "text/plain", status=500)
    return [good, server.url("/gone.xml")]


def stderr_lines(result: Result) -> list[str]:
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines, "the run logged nothing"
    return lines


def test_text_by_default_one_line_per_event(tmp_path: Path, feed_server: FeedServer) -> None:
    config = write_config(tmp_path, feeds(feed_server), fetch_pages=False)
    lines = stderr_lines(monitor(config, "run", "--once"))
    assert all(TEXT_LINE.match(line) for line in lines), lines
    assert any(" INFO feed http" in line and ": updated," in line for line in lines)
    assert any(" WARNING feed http" in line and "gone.xml: error: HTTP 500" in line for line in lines)


def test_json_from_the_command_line_or_the_config(tmp_path: Path, feed_server: FeedServer) -> None:
    urls = feeds(feed_server)
    config = write_config(tmp_path, urls, fetch_pages=False)
    for n, args in enumerate((("--log-format", "json", "run", "--once"),
                              ("run", "--log-format", "json", "--once"))):
        # A changed feed each time, so that its poll logs at info (a 304 is only debug).
        feed_server.put("/feed.xml", rss("Piracy Daily", [
            {**RAID, "link": feed_server.url("/raid")},
            {**RAID, "title": f"{RAID['title']} ({n})", "link": feed_server.url(f"/raid-{n}")}]),
            "application/rss+xml")
        result = monitor(config, *args)
        entries = [json.loads(line) for line in stderr_lines(result)]
        assert all(set(e) >= {"time", "level", "logger", "message"} for e in entries)
        assert all(e["time"].endswith("Z") for e in entries)
        levels = {e["level"] for e in entries}
        assert {"info", "warning"} <= levels, levels
        assert any("gone.xml: error: HTTP 500" in e["message"] for e in entries)
        assert not result.stdout.startswith("{")  # the summary stays plain text on stdout

    config = write_config(tmp_path, urls, fetch_pages=False, extra='\n[log]\nformat = "json"\n')
    entries = [json.loads(line) for line in stderr_lines(monitor(config, "run", "--once"))]
    assert entries and all(e["logger"] for e in entries)
    # The command line wins over the file.
    lines = stderr_lines(monitor(config, "--log-format", "text", "run", "--once"))
    assert all(TEXT_LINE.match(line) for line in lines), lines


def test_level_from_the_config(tmp_path: Path, feed_server: FeedServer) -> None:
    config = write_config(tmp_path, feeds(feed_server), fetch_pages=False,
                          extra='\n[log]\nlevel = "warning"\n')
    lines = stderr_lines(monitor(config, "run", "--once"))
    assert lines and all(" WARNING " in line for line in lines), lines


def test_journald_priorities_when_stderr_is_the_journal_stream(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """systemd sets $JOURNAL_STREAM to the device:inode of the stream it connected to stderr;
    here that stream is a file the test made, and the test plays the journal."""
    config = write_config(tmp_path, feeds(feed_server), fetch_pages=False)
    log = tmp_path / "journal"
    with log.open("w") as stream:
        st = os.fstat(stream.fileno())
        result = monitor_to(stream, config, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    assert result.returncode == 0
    lines = log.read_text().splitlines()
    assert lines and all(re.match(r"^<[0-7]>", line) for line in lines), lines
    assert any(line.startswith("<6>INFO feed http") for line in lines), lines
    assert any(line.startswith("<4>WARNING feed http") for line in lines), lines
    # The journal stamps entries itself: no timestamp in the line.
    assert not any(re.match(r"^<\d>\d{4}-", line) for line in lines)

    # The same variable with another stream behind stderr (a redirect): no prefixes.
    other = tmp_path / "redirected"
    with other.open("w") as stream:
        assert monitor_to(stream, config, JOURNAL_STREAM="1:1").returncode == 0
    text = other.read_text()
    assert text and all(TEXT_LINE.match(line) for line in text.splitlines()), text


def monitor_to(stream: TextIO, config: Path, **env: str) -> Result:
    """`monitor run --once` with its stderr on ``stream``, a real file with a device and inode
    (as the journal's stream is), and ``env`` added to the environment."""
    return run_cli(["--config", str(config), "run", "--once"], env=env, stderr=stream)


def test_no_secret_in_the_logs_of_a_run_with_secrets(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver,
        smtp_server: SMTPServer) -> None:
    secrets = {"token": "tok-5f1c2a9e7b", "bearer": "bearer-0d8e4c1a77",
               "password": "smtp-pw-3b9f1e6d", "credential": "cred-8a2d7c4f10"}
    webhook_receiver.respond(500, body="internal error")  # failed deliveries get logged
    smtp_server.credentials["monitor@example.org"] = "another-password"  # the login fails
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "monitor-webhook-secret").write_text(secrets["credential"] + "\n")
    url = feed_server.put("/feed.xml", rss("Piracy Daily", [{**RAID, "link": feed_server.url("/raid")}]),
                          "application/rss+xml")
    config = tmp_path / "config.toml"
    config.write_text(f"""
[monitor]
database = "monitor.db"
[fetch]
allow_private_networks = true
fetch_pages = false
[[feeds]]
url = "{url}"
[[notifiers]]
name = "webhook"
type = "webhook"
url = "{webhook_receiver.url}?token={secrets['token']}"
headers = {{ Authorization = "Bearer {secrets['bearer']}" }}
[[notifiers]]
name = "email"
type = "email"
host = "127.0.0.1"
port = {smtp_server.port}
security = "none"
from = "monitor@example.org"
to = ["analyst@example.org"]
username = "monitor@example.org"
password_env = "MONITOR_TEST_SMTP_PASSWORD"
""" + default_rules_section(), encoding="utf-8")
    env = {"MONITOR_TEST_SMTP_PASSWORD": secrets["password"],
           "CREDENTIALS_DIRECTORY": str(credentials)}
    outputs = []
    for log_format in ("text", "json"):
        result = monitor(config, "-v", "--log-format", log_format, "run", "--once", env=env)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    requests = webhook_receiver.wait_for(2)
    assert requests[0].headers["authorization"] == f"Bearer {secrets['bearer']}"  # sent, not logged
    assert "alert" in outputs[0] and "login" in outputs[0]  # the failures were logged
    for output in outputs:
        for name, secret in secrets.items():
            assert secret not in output, f"the {name} leaked into the logs"
        # httpx logs every request's URL at debug level: there, the token was masked.
        assert "[redacted]" in output


def test_formatter_escapes_control_characters_and_redacts() -> None:
    redactor = Redactor()
    redactor.add(["hunter22", "abc"])  # "abc" is too short to mask without mangling words
    record = logging.LogRecord("monitor", logging.WARNING, __file__, 1,
                               "title %s\nFAKE 2025-01-01 00:00:00 ERROR forged, pw=%s",
                               ("Raid\r\x1b[31m", "hunter22"), None)
    line = LineFormatter("text", redactor=redactor).format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "hunter22" not in line and "[redacted]" in line and "\\n" in line
    entry = json.loads(LineFormatter("json", redactor=redactor).format(record))
    assert entry["level"] == "warning" and "hunter22" not in entry["message"]
    journal = LineFormatter("text", journald=True, redactor=redactor).format(record)
    assert journal.startswith("<4>WARNING title")
    assert one_line("a\nb\tc") == "a\\nb\tc"


@pytest.mark.parametrize("level, expected", [(logging.DEBUG, 7), (logging.INFO, 6),
                                             (logging.WARNING, 4), (logging.ERROR, 3),
                                             (logging.CRITICAL, 2)])
def test_syslog_priorities(level: int, expected: int) -> None:
    assert priority(level) == expected


def test_secrets_of_a_config(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-a-file-77\n")
    text = """
[[notifiers]]
name = "hook"
type = "webhook"
url = "https://user:url-password-1@hooks.example.org/x?key=query-secret-2&plain=1"
headers = { "X-Api-Key" = "header-secret-3", "Content-Language" = "en-GB-oxendict" }
[[notifiers]]
name = "mail"
type = "email"
host = "smtp.example.org"
from = "a@example.org"
to = ["b@example.org"]
username = "a@example.org"
password_env = "PW_VAR"
"""
    config = parse_config(text, tmp_path / "config.toml")
    found = secrets_of(config, {"PW_VAR": "env-secret-4", "CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert {"url-password-1", "query-secret-2", "header-secret-3", "env-secret-4",
            "from-a-file-77"} <= found
    assert "en-GB-oxendict" not in found and "1" not in found


def test_notify_test_masks_the_webhook_token(tmp_path: Path,
                                             webhook_receiver: WebhookReceiver) -> None:
    """Every command reads the config through the one CLI context, which registers its secrets:
    `notify test` at debug level logs the request's URL (httpx does), token masked."""
    secret = "tok-notify-6e2b91c4d7"
    config = write_config(tmp_path, [], webhook_url=f"{webhook_receiver.url}?token={secret}")
    result = monitor(config, "-v", "notify", "test", "webhook")
    assert result.returncode == 0, result.stderr
    [request] = webhook_receiver.wait_for(1)
    assert request.path.endswith(f"?token={secret}")  # sent with the token...
    assert secret not in result.stderr and secret not in result.stdout  # ...never shown
    assert "[redacted]" in result.stderr  # the URL was logged, masked
