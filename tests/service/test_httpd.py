"""The optional [http] listener of `monitor run`: /healthz gives the `monitor status` verdict,
/metrics the Prometheus text format with polls, errors by kind, fetch latency, clippings,
matches per rule, deliveries per notifier and the outbox depth."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

from support.fakesystemd import start_daemon, stop_daemon
from support.waiting import wait_until
from support.feedserver import FeedServer, rss
from support.helpers import write_config
from prometheus_client.parser import text_string_to_metric_families
from support.servers import WebhookReceiver

from support.feedserver import RAID
from monitor.config import parse_config
from monitor.errors import ConfigError

WEATHER = {"title": "Sunny spells and light winds", "summary": "The weather for the weekend."}


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_healthz_and_metrics(tmp_path: Path, feed_server: FeedServer,
                             webhook_receiver: WebhookReceiver) -> None:
    good = feed_server.put("/feed.xml", rss("Piracy Daily", [
        {**RAID, "link": feed_server.url("/raid")}, {**WEATHER, "link": feed_server.url("/sun")}]),
        "application/rss+xml")
    feed_server.put("/broken.xml", "server trouble", "text/plain", status=503)
    config = write_config(tmp_path, [good, feed_server.url("/broken.xml")], fetch_pages=False,
                          interval="1h", webhook_url=webhook_receiver.url,
                          extra="\n[http]\nenabled = true\nport = 0\n")
    log = tmp_path / "daemon.log"
    process = start_daemon(config, log, {})
    try:
        assert wait_until(lambda: "http: listening on" in log.read_text(), 30), log.read_text()
        base = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text()).group(1)
        webhook_receiver.wait_for(1, timeout=30)
        assert wait_until(lambda: "sent via webhook" in log.read_text(), 30), log.read_text()
        assert wait_until(lambda: "broken.xml: error: HTTP 503" in log.read_text(), 30), log.read_text()

        # Poll records reach the database within a second (they are written in batches).
        assert wait_until(lambda: json.loads(get(base + "/healthz")[2])["status"] != "down", 10)
        code, content_type, body = get(base + "/healthz")
        report = json.loads(body)
        # One feed of two answers 503 and never worked: failing from its first poll, so
        # degraded (still 200: the monitor polls and alerts), with its verdict.
        assert (code, report["status"]) == (200, "degraded"), body
        assert report["reasons"] == ["1 of 2 feeds failing: 1 failing since their first poll"]
        assert content_type == "application/json"

        code, content_type, body = get(base + "/metrics")
        assert code == 200 and content_type.startswith("text/plain"), content_type
        found = samples(body)
        assert found[("monitor_polls_total", (("outcome", "updated"),))] == 1
        assert found[("monitor_polls_total", (("outcome", "error"),))] == 1
        assert found[("monitor_errors_total", (("kind", "feed_http"),))] == 1
        assert found[("monitor_fetch_duration_seconds_count", (("kind", "feed"),))] == 1
        assert found[("monitor_clippings_new_total", (("flagged", "true"),))] == 1
        assert found[("monitor_clippings_new_total", (("flagged", "false"),))] == 1
        assert found[("monitor_clippings", (("flagged", "true"),))] == 1
        assert found[("monitor_clippings", (("flagged", "false"),))] == 1
        assert found[("monitor_matches", (("rule", "piracy-enforcement"),))] == 1
        assert found[("monitor_deliveries_total", (("notifier", "webhook"), ("result", "sent")))] == 1
        assert found[("monitor_alerts", (("notifier", "webhook"), ("status", "sent")))] == 1
        assert found[("monitor_outbox_depth", ())] == 0
        assert found[("monitor_health", ())] == 1  # degraded, as /healthz said
        assert found[("monitor_feeds_failing", ())] == 1
        assert found[("process_resident_memory_bytes", ())] > 0

        code, _, _ = get(base + "/nothing")
        assert code == 404
    finally:
        assert stop_daemon(process) == 0, log.read_text()

    # The same database under a daemon with no feed to poll, so that the last poll ages past
    # stale_after (1 s): 503 and "down".
    config = write_config(tmp_path, [], extra='\n[http]\nenabled = true\nport = 0\n'
                          '\n[status]\nstale_after = "1s"\n')
    process = start_daemon(config, log, {})
    try:
        assert wait_until(lambda: "http: listening on" in log.read_text(), 30), log.read_text()
        base = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text()).group(1)
        assert wait_until(lambda: get(base + "/healthz")[0] == 503, 20)
        assert json.loads(get(base + "/healthz")[2])["status"] == "down"
        assert samples(get(base + "/metrics")[2])[("monitor_health", ())] == 2
    finally:
        assert stop_daemon(process) == 0, log.read_text()


def test_http_listener_is_loopback_only(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "192.0.2.10", "example.org"):
        try:
            parse_config(f'[http]\nenabled = true\nhost = "{host}"\n', tmp_path / "c.toml")
        except ConfigError as e:
            assert e.key == "http.host" and "loopback" in str(e)
        else:
            raise AssertionError(f"{host} accepted")
    assert parse_config('[http]\nhost = "::1"\n', tmp_path / "c.toml").http.host == "::1"


def test_a_busy_port_is_logged_and_the_daemon_goes_on(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.put("/feed.xml", rss("Quiet feed", [{**WEATHER, "link": feed_server.url("/sun")}]),
                          "application/rss+xml")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path, [url], fetch_pages=False, interval="1h",
                              extra=f"\n[http]\nenabled = true\nport = {port}\n")
        log = tmp_path / "daemon.log"
        process = start_daemon(config, log, {})
        try:
            assert wait_until(lambda: ": updated," in log.read_text(), 30), log.read_text()
            assert f"http: cannot listen on 127.0.0.1:{port}" in log.read_text()
            assert process.poll() is None
        finally:
            assert stop_daemon(process) == 0, log.read_text()
